"""Cleaned article -> language, sentences, chunks: everything but the vectors."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from urllib.parse import urlsplit

from retrieval.config import RetrievalConfig
from retrieval.errors import ArticleRejected
from retrieval.sentences import chunk_sentences, detect_language, split_sentences
from retrieval.types import CleanedArticle, PreparedArticle

# ISO 639-1: every two-letter language code.
_ISO_639_1 = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
    dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id
    ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu
    lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu
    rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr
    ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()
)
# Other spellings archives use for a language, casefolded: names, three-letter codes, withdrawn codes.
_LANGUAGE_ALIASES = {
    "english": "en",
    "eng": "en",
    "inggris": "en",
    "bahasa inggris": "en",
    "indonesian": "id",
    "indonesia": "id",
    "bahasa indonesia": "id",
    "bahasa": "id",
    "ind": "id",
    "in": "id",
    "iw": "he",
    "ji": "yi",
    "jw": "jv",
}
_SUBTAG = re.compile(r"[-_]")


def normalize_language(value: object) -> str | None:
    """The ISO 639-1 code a given language means, or None when it is missing or unknown.

    ``en``, ``EN``, ``en-US``, ``en_GB``, ``English`` -> ``en``; ``id``, ``ind``, ``Indonesian``,
    ``Bahasa Indonesia`` -> ``id``; any other ISO 639-1 code (with or without a region) is kept.
    Anything else (``xx``, ``und``, ``français``, a number) is None, so the caller detects the
    language from the text, as when none is given: one article must not start a language of its
    own ("english" beside "en") in the per-language statistics."""
    if not isinstance(value, str):
        return None
    folded = " ".join(value.casefold().split())
    primary = _SUBTAG.split(folded, maxsplit=1)[0]
    for candidate in (folded, primary):
        if candidate in _LANGUAGE_ALIASES:
            return _LANGUAGE_ALIASES[candidate]
        if candidate in _ISO_639_1:
            return candidate
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text``, escaped (``\\ud800``), or None. JSON's ``"\\ud800"``
    and undecodable bytes in a command line (Python's surrogateescape) make them; no encoding
    takes them, so text holding one can be neither stored, printed nor tokenized."""
    found = _SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found[0]):04x}"


# Bidi controls (Unicode's Bidi_Control property): they reorder what is shown after them.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSEEN = {
    "Cc": "a control character",
    "Cs": "a lone surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cf": "an invisible format character",
}


def external_id(value: object) -> str | None:
    """An id given from outside (an archive's "id", a question's "article_id") as a ref: a
    string, stripped and NFC-normalized (the composed and decomposed "café" are one ref), or an
    integer; None for anything else (a boolean, a float, a blank).

    Raises ValueError ("cannot hold U+0000 (a control character)") for a string holding a
    character no one could type or see in a ref: controls (NUL, newline, tab), line and
    paragraph separators, bidi controls and other invisible format characters (the zero-width
    joiners that some scripts and emoji need are kept), lone surrogates."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    ref = unicodedata.normalize("NFC", str(value).strip())
    for char in ref:
        kind = "a bidi control" if char in _BIDI_CONTROLS else _UNSEEN.get(unicodedata.category(char))
        if kind is not None and char not in "\u200c\u200d":
            raise ValueError(f"cannot hold U+{ord(char):04X} ({kind})")
    return ref or None


def web_link(url: str | None) -> str | None:
    """``url`` if it is an http(s) link with a host, else None: an article's link is shown and
    followed, so ``javascript:``, ``file:`` or ``data:`` are never stored as one."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1" and the like
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def content_hash(text: str) -> str:
    """Hash of the text with case and whitespace folded, so a re-pasted copy is a duplicate."""
    folded = " ".join(text.casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def prepare_article(
    cleaned: CleanedArticle, config: RetrievalConfig, *, lang: str | None = None
) -> PreparedArticle:
    """Split into sentences and chunks; a known ``lang`` (see ``normalize_language``) overrides
    detection (e.g. from a JSONL field), an unknown one is ignored. A link that is not http(s)
    is dropped (``web_link``), whichever way it came (an archive, front matter, a page's tags)."""
    language = normalize_language(lang) or detect_language(cleaned.text)
    sentences = split_sentences(cleaned.text, language)
    if not sentences:
        raise ArticleRejected("empty", "no sentences left after cleaning")
    chunks = chunk_sentences(sentences, max_chars=config.chunk_chars, overlap=config.chunk_overlap_sentences)
    return PreparedArticle(
        text=cleaned.text,
        meta=replace(cleaned.meta, url=web_link(cleaned.meta.url)),
        lang=language,
        sentences=sentences,
        chunks=chunks,
        content_hash=content_hash(cleaned.text),
    )
