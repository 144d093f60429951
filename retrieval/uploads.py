"""Uploaded bytes to text, refusing rather than guessing.

An upload is UTF-8 (with or without a BOM) or UTF-16 with a BOM; an HTML file may name another
charset in a ``<meta>`` tag, as a page fetched by URL may (``fetch.py`` reads the same tag with
``meta_charset``). Files that are really PDFs, images, archives or Office documents are named as
such, so the person sending one learns what to send instead.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from retrieval.errors import ArticleRejected

_MAGIC = (
    (b"%PDF", "a PDF"),
    (b"PK\x03\x04", "a ZIP archive (or a Word/OpenDocument file)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old Word/Excel file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"RIFF", "a media file"),
    (b"OggS", "a media file"),
    (b"ID3", "an MP3 file"),
)

NOT_UTF8 = "is not UTF-8 text: save it as UTF-8 and send it again"
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})  # an upload with one of these is a web page
# <meta charset="windows-1252"> and <meta http-equiv="Content-Type" content="text/html; charset=...">
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def decode_upload(data: bytes, filename: str | None) -> str:
    """Decode an uploaded file as text: UTF-8 (with or without BOM) or UTF-16 with a BOM; an HTML
    file (.html, .htm, .xhtml) that is not UTF-8 may be in the charset its ``<meta>`` tag names.

    UTF-8 comes first even when the tag names another charset: bytes that decode as UTF-8 are
    UTF-8 in practice, and pages re-saved by an editor keep a stale tag (a Latin-1 reading of
    them would turn "café" into "cafÃ©"). Anything else is refused rather than guessed at, with a
    message fit to show the user.
    """
    shown = f"{filename} " if filename else "the file "
    if not data.strip():
        raise ArticleRejected("empty", f"{shown}is empty")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise ArticleRejected("binary", f"{shown}is {kind}, not text: send it as .txt, .md or .html")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArticleRejected("bad_input", f"{shown}{NOT_UTF8}") from None
    elif b"\x00" in data:
        raise ArticleRejected("binary", f"{shown}is binary, not text")
    else:
        text = _utf8_or_declared(data, shown, is_html=Path(filename or "").suffix.lower() in HTML_SUFFIXES)
    if looks_binary(text):
        raise ArticleRejected("binary", f"{shown}is binary, not text")
    if not text.strip():
        raise ArticleRejected("empty", f"{shown}is empty")
    return text


def _utf8_or_declared(data: bytes, shown: str, *, is_html: bool) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = meta_charset(data) if is_html else None
    if declared is None or declared == "utf-8":
        raise ArticleRejected("bad_input", f"{shown}{NOT_UTF8}")
    try:
        return data.decode(declared)
    except UnicodeDecodeError:
        raise ArticleRejected(
            "bad_input",
            f"{shown}is neither UTF-8 nor {declared}, the charset its <meta> tag names:"
            " save it as UTF-8 and send it again",
        ) from None


def meta_charset(page: bytes) -> str | None:
    """The charset an HTML document names in a ``<meta>`` tag in its first 4 KB, as a Python codec
    name; None if it names none or one Python does not know.

    Labels are read as browsers read them (the WHATWG Encoding Standard): a UTF-16 or UTF-32
    label as UTF-8 (bytes in which the ASCII ``<meta`` could be found are not UTF-16), and
    "iso-8859-1", "latin1" and "ascii" as Windows-1252, whose curly quotes and dashes (0x80-0x9F)
    pages labelled Latin-1 use. Codecs that are not text encodings ("base64") are not charsets.
    """
    match = _META_CHARSET.search(page[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match[1].decode("ascii")).name
        if name.startswith(("utf-16", "utf-32")):
            return "utf-8"
        if name in _READ_AS_WINDOWS_1252:
            return "cp1252"
        b"x".decode(name)
    except (LookupError, UnicodeError):
        return None
    return name


_READ_AS_WINDOWS_1252 = frozenset({"iso8859-1", "ascii"})  # Python's names for those labels


def looks_binary(text: str) -> bool:
    """Decoded text that is mostly NULs, control characters or replacement characters: a binary
    file that happened to decode."""
    if "\x00" in text:
        return True
    sample = text[:100_000]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd" or (unicodedata.category(ch) in {"Cc", "Cs"} and ch not in "\t\n\r\f\v")
    )
    return bad >= 3 and bad > 0.05 * len(sample)
