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

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})  # an upload with one of these is a web page
# <meta charset="windows-1252"> and <meta http-equiv="Content-Type" content="text/html; charset=...">
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def decode_upload(data: bytes, filename: str | None) -> str:
    """Decode an uploaded file as text: UTF-8 (with or without BOM) or UTF-16 with a BOM; an HTML
    file (.html, .htm, .xhtml) without a BOM may name another charset in a ``<meta>`` tag.

    Anything else is refused rather than guessed at, with a message fit to show the user.
    """
    shown = f"{filename} " if filename else "the file "
    if not data.strip():
        raise ArticleRejected("empty", f"{shown}is empty")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise ArticleRejected("binary", f"{shown}is {kind}, not text: send it as .txt, .md or .html")
    declared = None
    if Path(filename or "").suffix.lower() in HTML_SUFFIXES and not data.startswith(codecs.BOM_UTF8):
        declared = meta_charset(data)
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        elif b"\x00" in data:
            raise ArticleRejected("binary", f"{shown}is binary, not text")
        else:
            text = data.decode(declared or "utf-8-sig")
    except UnicodeDecodeError:
        if declared and declared != "utf-8":
            raise ArticleRejected(
                "bad_input",
                f"{shown}is not {declared} text, the charset its <meta> tag names:"
                " save it as UTF-8 and send it again",
            ) from None
        raise ArticleRejected(
            "bad_input", f"{shown}is not UTF-8 text: save it as UTF-8 and send it again"
        ) from None
    if looks_binary(text):
        raise ArticleRejected("binary", f"{shown}is binary, not text")
    if not text.strip():
        raise ArticleRejected("empty", f"{shown}is empty")
    return text


def meta_charset(page: bytes) -> str | None:
    """The charset an HTML document names in a ``<meta>`` tag in its first 4 KB, as a Python codec
    name; None if it names none or one Python does not know.

    A UTF-16 or UTF-32 label is read as UTF-8, as browsers do: bytes in which the ASCII
    ``<meta`` could be found are not UTF-16. Codecs that are not text encodings ("base64") are
    not charsets.
    """
    match = _META_CHARSET.search(page[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match[1].decode("ascii")).name
        if name.startswith(("utf-16", "utf-32")):
            return "utf-8"
        b"x".decode(name)
    except (LookupError, UnicodeError):
        return None
    return name


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
