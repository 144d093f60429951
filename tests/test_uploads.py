"""Uploaded bytes to text (``retrieval/uploads.py``): charsets read as browsers read them."""

from __future__ import annotations

import codecs

import pytest

from retrieval.errors import ArticleRejected
from retrieval.uploads import decode_upload, meta_charset

STALE_TAG = (
    "<html><head><meta charset='iso-8859-1'></head><body><p>Le café “a rouvert” lundi.</p></body></html>"
)


def test_utf8_bytes_win_over_a_stale_meta_tag() -> None:
    """An editor re-saved the page as UTF-8 and kept its old tag: a Latin-1 reading would store
    "cafÃ©"; the bytes are UTF-8, so they are read as UTF-8."""
    assert decode_upload(STALE_TAG.encode("utf-8"), "page.html") == STALE_TAG


def test_a_latin1_label_is_read_as_windows_1252_like_a_browser() -> None:
    """Pages labelled ISO-8859-1 use Windows-1252's curly quotes (0x93, 0x94): read as Latin-1
    they become invisible control characters and the quotes vanish."""
    assert decode_upload(STALE_TAG.encode("cp1252"), "page.html") == STALE_TAG
    for label in (b"iso-8859-1", b"latin1", b"ISO_8859-1", b"us-ascii"):
        assert meta_charset(b"<meta charset=" + label + b">") == "cp1252"


def test_bytes_in_neither_utf8_nor_the_named_charset_are_refused_naming_both() -> None:
    page = b"<meta charset=utf-8><p>x</p>" + b"\xff\xfe\xfd"  # invalid UTF-8 and says UTF-8
    with pytest.raises(ArticleRejected, match="not UTF-8 text"):
        decode_upload(page, "page.html")
    big5 = b"<meta charset=big5><p>\xff\xff</p>"  # 0xFF is neither UTF-8 nor Big5
    with pytest.raises(ArticleRejected, match="neither UTF-8 nor big5, the charset its <meta> tag names"):
        decode_upload(big5, "page.html")


@pytest.mark.parametrize(
    "data",
    [
        "Harga naik. Café dibuka.".encode(),
        "\ufeffHarga naik. Café dibuka.".encode(),
        "Harga naik. Café dibuka.".encode("utf-16"),  # with BOM, platform order
        b"\xfe\xff" + "Harga naik. Café dibuka.".encode("utf-16-be"),
        b"\xff\xfe" + "Harga naik. Café dibuka.".encode("utf-16-le"),
    ],
)
def test_decode_upload_accepts_utf8_and_utf16_with_bom(data: bytes) -> None:
    assert decode_upload(data, "a.txt").lstrip("\ufeff") == "Harga naik. Café dibuka."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "binary"),
        (b"GIF89a\x01\x00", "binary"),
        (b"plain text\x00with a NUL", "binary"),
        ("Harga naik. Café dibuka.".encode("latin-1"), "bad_input"),
        ("Harga naik.".encode("utf-16-le"), "binary"),  # UTF-16 without a BOM: NUL bytes
    ],
)
def test_decode_upload_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(ArticleRejected) as caught:
        decode_upload(data, "upload.txt")
    assert caught.value.reason == reason
    assert "upload.txt" in str(caught.value)


def test_decode_upload_message_says_not_utf8() -> None:
    with pytest.raises(ArticleRejected, match="not UTF-8 text"):
        decode_upload("Café".encode("cp1252"), None)


CP1252_PAGE = (
    "<html><head><meta charset='windows-1252'><title>Café</title></head>"
    "<body><p>The café “reopened” on Monday.</p></body></html>"
)
EQUIV_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    "</head><body><p>Le café a rouvert lundi.</p></body></html>"
)


@pytest.mark.parametrize(
    ("page", "charset", "filename"),
    [
        (CP1252_PAGE, "cp1252", "page.html"),
        (EQUIV_PAGE, "latin-1", "page.HTM"),
        (EQUIV_PAGE, "latin-1", "page.xhtml"),
        ("<meta charset=gbk><p>北京</p>", "gbk", "page.html"),
        ("<meta charset=utf-8><p>Café</p>", "utf-8", "page.html"),
    ],
)
def test_decode_upload_honours_the_meta_charset_of_html(page: str, charset: str, filename: str) -> None:
    assert decode_upload(page.encode(charset), filename) == page


@pytest.mark.parametrize("filename", ["page.txt", "page.md", None])
def test_decode_upload_ignores_a_meta_charset_outside_html(filename: str | None) -> None:
    with pytest.raises(ArticleRejected, match="not UTF-8 text") as caught:
        decode_upload(CP1252_PAGE.encode("cp1252"), filename)
    assert caught.value.reason == "bad_input"


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        ("<meta charset=utf-8><p>Café</p>".encode("latin-1"), "bad_input", "not UTF-8 text"),
        ("<meta charset=nonsense><p>Café</p>".encode("latin-1"), "bad_input", "not UTF-8 text"),
        ("<meta charset=base64><p>Café</p>".encode("latin-1"), "bad_input", "not UTF-8 text"),
        ("<p>no charset: Café</p>".encode("latin-1"), "bad_input", "not UTF-8 text"),
        (b"<meta charset=latin-1><p>\x00\x00</p>", "binary", "binary"),
        (b"<meta charset=latin-1>" + bytes(range(1, 32)) * 20, "binary", "binary"),
    ],
)
def test_decode_upload_html_rejections(data: bytes, reason: str, message: str) -> None:
    with pytest.raises(ArticleRejected, match=message) as caught:
        decode_upload(data, "page.html")
    assert caught.value.reason == reason


def test_a_bom_wins_over_the_meta_charset() -> None:
    page = "<meta charset=windows-1252><p>Café “open”</p>"
    assert decode_upload(codecs.BOM_UTF8 + page.encode(), "page.html") == page
    assert decode_upload(page.encode("utf-16"), "page.html") == page


@pytest.mark.parametrize(
    ("head", "charset"),
    [
        (b"<meta charset=windows-1252>", "cp1252"),
        (b'<META CHARSET="ISO-8859-1">', "cp1252"),  # as browsers read a Latin-1 label
        (b'<meta http-equiv="content-type" content="text/html; charset=gb2312">', "gb2312"),
        (b"<meta charset='utf-16le'>", "utf-8"),  # as browsers read it: ASCII "<meta" is not UTF-16
        (b"<meta charset=nonsense>", None),
        (b"<meta charset=rot13>", None),  # a Python codec, not a charset
        (b"<meta name=description content='no charset here'>", None),
        (b" " * 4096 + b"<meta charset=cp1252>", None),  # only the head is read
    ],
)
def test_meta_charset(head: bytes, charset: str | None) -> None:
    assert meta_charset(b"<html><head>" + head + b"</head><body></body></html>") == charset
