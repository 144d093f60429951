"""Cleaned article -> language, sentences, chunks: everything but the vectors."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from dataclasses import replace
from urllib.parse import unquote, unquote_plus, urlsplit

import idna

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


# -- links: one form per article ----------------------------------------------------------------
# ``canonical_url`` gives a link the form httpx 0.28's URL parser gives it (as it did when it was
# written on ``httpx.URL``), without importing httpx into the core: RFC 3986 dot segments
# dropped, WHATWG percent-encode sets, IDNA hosts in their xn-- form (the ``idna`` package, as
# httpx uses), default ports dropped. Stored links were made this way, so duplicates of them
# must still be found; tests/test_fetch.py checks the two agree on generated URLs.

# Query parameters that only say how a reader arrived (campaign, click and share ids): compared
# lower-case, as whole names or, for the second set, as prefixes ("utm_source", "utm_medium", ...).
_TRACKING_PARAMS = frozenset(
    """fbclid gclid gclsrc dclid gbraid wbraid msclkid twclid ttclid yclid li_fat_id igshid igsh
    mc_cid mc_eid _ga _gl _hsenc _hsmi mkt_tok oly_anon_id oly_enc_id vero_id vero_conv rb_clickid
    s_cid ref_src ref_url xtor smid ocid ncid sr_share pk_campaign pk_kwd pk_source pk_medium
    pk_content""".split()
)
_TRACKING_PREFIXES = ("utm_", "mtm_")  # not "at_": "at_time=5" is content, as is "cmp"
_MAX_URL_LENGTH = 65536  # httpx's limit: a longer "link" is left as it is
_URL = re.compile(
    r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*):)?(?://(?P<authority>[^/?#]*))?"
    r"(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?"
)
_AUTHORITY = re.compile(r"(?:(?P<userinfo>.*)@)?(?P<host>\[.*\]|[^:@]*):?(?P<port>.*)?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_ESCAPED = re.compile("%[A-Fa-f0-9]{2}")
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def _printable_but(excluded: str) -> str:
    return "".join(chr(i) for i in range(0x20, 0x7F) if chr(i) not in excluded)


# WHATWG's percent-encode sets, as the characters left as they are.
_FRAGMENT_SAFE = _printable_but(' "<>`')
_QUERY_SAFE = _printable_but(' "#<>')
_PATH_SAFE = _printable_but(' "#<>?`{}')
_HOST_SAFE = "!$&'()*+,;=" + '"`{}%|\\'
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """``url`` as stored and compared for duplicates: one form for links to the same article.

    Lower-case scheme and host, no default port, no user:password, no fragment unless it is a hash
    route ("#/news/123", "#!/news/123": it names the page of a single-page site), no tracking
    parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``, ...); the other query parameters stay
    as they were, in their order. Anything that is not an http(s) URL with a host comes back
    stripped but otherwise unchanged (never raises), so it can be applied to any user input.
    """
    url = url.strip()
    if len(url) > _MAX_URL_LENGTH or _has_control(url):
        return url
    whole = _URL.match(url)
    assert whole is not None  # every part is optional
    scheme, authority = (whole["scheme"] or "").lower(), whole["authority"]
    if scheme not in _DEFAULT_PORTS or authority is None:
        return url
    parts = _AUTHORITY.match(authority)
    assert parts is not None
    try:
        host, port = _encoded_host(parts["host"]), _port(parts["port"], scheme)
        path = _quoted(_without_dot_segments(whole["path"]), _PATH_SAFE) if whole["path"] else "/"
        query = "&".join(
            part
            for part in _quoted(whole["query"] or "", _QUERY_SAFE).split("&")
            if part and not _is_tracking(unquote_plus(part.partition("=")[0]).lower())
        )
        route = unquote(_quoted(whole["fragment"] or "", _FRAGMENT_SAFE))
    except ValueError:  # an invalid host, port or IP address; a lone surrogate
        return url
    if not host or (route.startswith(("/", "!")) and _has_control(route)):
        return url
    netloc = (f"[{host}]" if ":" in host else host) + ("" if port is None else f":{port}")
    fragment = f"#{_quoted(route, _FRAGMENT_SAFE)}" if route.startswith(("/", "!")) else ""
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "") + fragment


def _has_control(text: str) -> bool:
    return any(char.isascii() and not char.isprintable() for char in text)


def _is_tracking(name: str) -> bool:
    return name in _TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def _encoded_host(host: str) -> str:
    """The host as a URL holds it; ValueError for an invalid IP address or IDNA name."""
    if not host:
        return ""
    if _IPV4_STYLE.fullmatch(host):
        ipaddress.IPv4Address(host)
        return host
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])
        return host[1:-1]
    if host.isascii():
        return _quoted(host.lower(), _HOST_SAFE)
    return idna.encode(host.lower()).decode("ascii")  # idna.IDNAError is a ValueError


def _port(port: str | None, scheme: str) -> int | None:
    if not port:
        return None
    number = int(port)  # ValueError for a port that is not a number
    return None if number == _DEFAULT_PORTS[scheme] else number


def _without_dot_segments(path: str) -> str:
    """RFC 3986's remove_dot_segments: "/a/./b/../c" -> "/a/c"."""
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept and kept != [""]:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    return "/".join(kept)


def _quoted(text: str, safe: str) -> str:
    """``text`` percent-encoded (as UTF-8) except for unreserved and ``safe`` characters; escapes
    already in it (``%2F``) are kept as they are."""
    kept = _UNRESERVED + safe
    out, at = [], 0
    for escape in _ESCAPED.finditer(text):
        out += [_encoded(text[at : escape.start()], kept), escape[0]]
        at = escape.end()
    out.append(_encoded(text[at:], kept))
    return "".join(out)


def _encoded(text: str, kept: str) -> str:
    return "".join(char if char in kept else "".join(f"%{b:02X}" for b in char.encode()) for char in text)


def content_hash(text: str) -> str:
    """Hash of the text with case and whitespace folded, so a re-pasted copy is a duplicate."""
    folded = " ".join(text.casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def prepare_article(
    cleaned: CleanedArticle, config: RetrievalConfig, *, lang: str | None = None
) -> PreparedArticle:
    """Split into sentences and chunks; a known ``lang`` (see ``normalize_language``) overrides
    detection (e.g. from a JSONL field), an unknown one is ignored. The link is stored in its
    ``canonical_url`` form, and one that is not http(s) is dropped (``web_link``), whichever way
    it came (an archive, front matter, a page's tags, a fetch)."""
    language = normalize_language(lang) or detect_language(cleaned.text)
    sentences = split_sentences(cleaned.text, language)
    if not sentences:
        raise ArticleRejected("empty", "no sentences left after cleaning")
    chunks = chunk_sentences(sentences, max_chars=config.chunk_chars, overlap=config.chunk_overlap_sentences)
    return PreparedArticle(
        text=cleaned.text,
        meta=replace(cleaned.meta, url=web_link(canonical_url(url) if (url := cleaned.meta.url) else None)),
        lang=language,
        sentences=sentences,
        chunks=chunks,
        content_hash=content_hash(cleaned.text),
    )
