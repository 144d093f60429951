"""Language detection, sentence splitting and chunking over cleaned article text.

Sentences are what the bot quotes, so every span is exact: ``text[s.start:s.end] == s.text``.
pysbd does the hard part (quotes, decimals, English abbreviations); it has no Indonesian rules, so
its splits after Indonesian titles and abbreviations ("Jl.", "Kol.", "dll.") are merged back here.
Two things pysbd cannot know about scraped news are handled after it: paragraphs a scraper glued
together with ", " ("... Alexander McQueen., Event tersebut ...") are split again, and leftovers
with no letter or digit (the '", :,"' of dropped links) are not sentences.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import pysbd
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from pysbd.lang.common.standard import Standard
from pysbd.languages import LANGUAGE_CODES

from retrieval.types import ChunkSpan, SentenceSpan

# Languages a news article is plausibly written in. Malay is left out on purpose: langid confuses
# it with Indonesian on short news text, and for our tokenizer the two behave the same.
_LANGUAGES = (
    "id", "en", "de", "fr", "es", "pt", "it", "nl", "sv", "no", "da", "fi", "pl", "cs",
    "sk", "hu", "ro", "bg", "el", "ru", "uk", "sr", "hr", "tr", "ar", "fa", "he", "hi", "bn",
    "ur", "ta", "th", "vi", "tl", "zh", "ja", "ko", "ca",
)  # fmt: skip
_MIN_LETTERS = 20  # below this langid guesses; say "und" instead
_LANGID_SAMPLE = 20_000  # characters; more changes nothing but the time taken

# Every line break ends a paragraph, and no sentence crosses one.
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")
# pysbd is roughly quadratic in the length of its input, so long paragraphs are cut into pieces
# at a likely sentence end near this size before segmenting.
_MAX_PIECE = 2_000
_LIKELY_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
_FALLBACK_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tokens after which a sentence never ends: titles, ranks, address parts ("Jl. Sudirman No. 5").
_ALWAYS_JOIN = _words(
    """Dr. dr. Drs. Dra. Prof. Ir. H. Hj. KH. K.H. Ust. Moh. Muh. Mhd. Bpk. Bp. Ny. Tn. Nn. Sdr. sdr.
    Sdri. sdri. Yth. yth. a.n. u.p. u.b. s.d. a.l. Jl. Jln. Gg. No. no. Kav. Kec. Kab. Kel. Prov.
    Kp. Ds. RT. RW. Rp. Pk. pk. Pkl. pkl. Hlm. hlm. Hal. hal. Tgl. tgl. Vol. vol. Kol. Letkol.
    Mayjen. Brigjen. Irjen. Jend. Jen. Pol. Inf. Kapt. Laks. Marsda. Komjen. AKBP. Kompol. Ipda.
    Iptu. Aiptu. Bripka. Serka. Serma. Lettu. Letda. Mr. Mrs. Ms. St. Mt. vs. Vs. Gub. Wagub. Kadis.
    Kapolda. Kapolres."""
)
# Tokens that end a sentence unless the next one visibly continues it (lowercase, digit, comma):
# "PT Telkom Indonesia Tbk. naik 2 persen" vs "... saham PT Telkom Indonesia Tbk. Harga ...".
# Compared lowercased.
_JOIN_IF_CONTINUED = _words(
    """dll. dsb. dst. dkk. tbk. s.h. m.h. m.si. s.si. s.sos. m.sos. s.e. m.e. m.m. s.t. m.t. s.kom.
    m.kom. s.pd. m.pd. s.ag. m.ag. s.ip. m.kes. s.ked. s.psi. s.farm. lc. m.a. ma. ph.d. phd. sp.
    b.a. ba. m.sc. msc. b.sc. bsc. mba. sj. s.j. ofm. svd. jr. sr. inc. ltd. llc. plc. co. corp.
    etc. al. dpl. mdpl."""
)
# The same, written without dots ("SH.", "MSi."), as degrees often are in Indonesian.
_DOTLESS = frozenset(token.replace(".", "") for token in _JOIN_IF_CONTINUED)
# pysbd's English abbreviations ("Calif.", "Sen."): the ", " rule below must not split after them in
# English. Not used for other languages: "ia" (he, she) and "kan" are Indonesian words, not Iowa, Kansas.
_ENGLISH_ABBREVIATIONS = frozenset(f"{a}." for a in Standard.Abbreviation.ABBREVIATIONS)
# ".", "!" or "?", closing quotes, then the ", " a scraper joined two paragraphs with. A match starts
# only where a run of stops does, or a run of 200k dots would take quadratic time.
_GLUED_END = re.compile(r"(?<![.!?])([.!?]+)([\"'”’»]*), (?=\S)")
_DOTTED = re.compile(r"(?:[^\W\d_]{1,4}\.){2,}")  # U.S., Ph.D., S.H.I.E.L.D., a.n.
_INITIAL = re.compile(r"[^\W\d_]\.")  # John F., Kennedy
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]»]*$")
_OPENERS = "\"'“‘([«"
_CLOSERS = "”’)]}»,;:"


@functools.cache
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(_LANGUAGES)
    return identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``'s language, or ``"und"`` when there is too little text to tell.

    Malay is reported as ``"id"`` (see ``_LANGUAGES``). Loads the langid model on first use.
    """
    sample = text[:_LANGID_SAMPLE]
    if sum(ch.isalpha() for ch in sample) < _MIN_LETTERS:
        return "und"
    lang, _confidence = _identifier().classify(sample)
    return str(lang)


def split_sentences(text: str, lang: str) -> tuple[SentenceSpan, ...]:
    """Split cleaned article text into sentences with exact code-point offsets.

    Never raises and never drops a letter or digit: every one lies in exactly one span, and every
    span has one. Outside the spans lie only whitespace, the ", " between glued paragraphs, and
    punctuation left alone by them or at a paragraph's start ('", :,"'); punctuation pysbd splits
    off after a sentence (a closing quote) stays with that sentence.
    Line breaks always end a sentence. ``lang`` picks pysbd's rules where it has them, English
    otherwise (plus the Indonesian merges above).
    """
    spans: list[SentenceSpan] = []
    for para_start, para_end in _paragraphs(text):
        ends: list[int] = []
        for piece_start, piece_end in _pieces(text, para_start, para_end):
            ends.extend(_segment(text, piece_start, piece_end, lang))
        start = para_start
        bounds: list[tuple[int, int]] = []
        for end in ends:
            s, e = _strip(text, start, end)
            if s < e:
                bounds.append((s, e))
            start = end
        for merged_start, merged_end in _merge(text, _leading_dots(text, bounds)):
            for s, e in _unglue(text, merged_start, merged_end, lang):
                if any(ch.isalnum() for ch in text[s:e]):
                    spans.append(SentenceSpan(s, e, text[s:e]))
    return tuple(spans)


def chunk_sentences(
    sentences: Sequence[SentenceSpan], *, max_chars: int = 800, overlap: int = 1
) -> tuple[ChunkSpan, ...]:
    """Windows of whole sentences of up to ``max_chars`` (joined by one space).

    Consecutive chunks share ``overlap`` sentences where that still leaves room for a new one
    (fewer, down to none, next to very long sentences), so no chunk lies wholly inside its
    predecessor; a sentence longer than ``max_chars`` is a chunk of its own.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, not {max_chars}")
    if overlap < 0:
        raise ValueError(f"overlap cannot be negative, not {overlap}")
    n = len(sentences)

    def fill(first: int) -> int:
        last, size = first + 1, len(sentences[first].text)
        while last < n and size + 1 + len(sentences[last].text) <= max_chars:
            size += 1 + len(sentences[last].text)
            last += 1
        return last

    chunks: list[ChunkSpan] = []
    first = 0
    while first < n:
        last = fill(first)
        while chunks and last <= chunks[-1].last:  # too much overlap left no room: shrink it
            first += 1
            last = fill(first)
        chunks.append(ChunkSpan(first, last, " ".join(s.text for s in sentences[first:last])))
        if last == n:
            break
        first = max(last - overlap, first + 1)
    return tuple(chunks)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return [(s, e) for s, e in bounds if not text[s:e].isspace() and s < e]


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut [start, end) into pieces of at most about ``_MAX_PIECE`` characters."""
    pieces = []
    while end - start > _MAX_PIECE:
        window_start, window_end = start + _MAX_PIECE // 2, start + _MAX_PIECE
        cut = None
        for match in _LIKELY_END.finditer(text, window_start, window_end):
            cut = match.end()
        if cut is None:
            space = text.rfind(" ", window_start, window_end)
            cut = space + 1 if space > 0 else window_end
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _segment(text: str, start: int, end: int, lang: str) -> list[int]:
    """End offsets (absolute) of the sentences in text[start:end]; the last is always ``end``."""
    piece = text[start:end]
    try:
        found = _pysbd_sentences(piece, lang)
    except Exception:  # pysbd's regex pipeline has failed on odd input before; fall back
        found = None
    ends = _align(piece, found) if found is not None else None
    if ends is None:
        ends = [m.end() for m in _FALLBACK_END.finditer(piece)]
    offsets = [start + e for e in ends if 0 < e < len(piece)]
    offsets.append(end)
    return offsets


def _pysbd_sentences(piece: str, lang: str) -> list[str]:
    # A fresh Segmenter per call: it keeps per-call state, and building one costs nothing.
    # Its processor is used directly because Segmenter.segment() locates sentences with a
    # quadratic scan that silently drops any sentence pysbd has altered.
    segmenter = pysbd.Segmenter(language=lang if lang in LANGUAGE_CODES else "en", clean=False)
    return [str(s) for s in segmenter.processor(piece).process()]


def _align(piece: str, sentences: list[str]) -> list[int] | None:
    """Where each pysbd sentence ends in ``piece``, or None if pysbd changed the text."""
    ends, cursor = [], 0
    for sentence in sentences:
        sentence = sentence.strip()
        if not sentence:
            continue
        at = piece.find(sentence, cursor)
        if at < 0:
            return None
        cursor = at + len(sentence)
        ends.append(cursor)
    return ends


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _leading_dots(text: str, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """pysbd cuts "the .mobi domain" after the dot ("the ." | "mobi domain"): a dot with a space
    before it and a word right after it starts that word (".mobi", ".NET"), so it moves over."""
    moved: list[tuple[int, int]] = []
    for start, end in bounds:
        if moved and start == moved[-1][1] and text[start - 1] == "." and text[start].isalnum():
            before_start, _ = moved[-1]
            if start - 1 == before_start or text[start - 2].isspace():
                s, e = _strip(text, before_start, start - 1)
                if s < e:
                    moved[-1] = (s, e)
                else:
                    moved.pop()
                start -= 1
        moved.append((start, end))
    return moved


def _merge(text: str, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in bounds:
        # only the tail of the sentence so far matters; slicing all of it would be quadratic
        if merged and _joins(text[max(merged[-1][0], merged[-1][1] - 64) : merged[-1][1]], text[start:end]):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _joins(previous: str, following: str) -> bool:
    """True if the boundary between two pysbd sentences is not a real sentence end."""
    token = previous.rsplit(None, 1)[-1].lstrip(_OPENERS)
    head = following[0]
    if head == "." and following[1:2].isalnum():  # ".mobi", ".NET": a new sentence only after an end
        return _SENTENCE_END.search(previous) is None
    continued = head.islower() or head.isdigit() or head in _CLOSERS
    if token in _ALWAYS_JOIN:
        return True
    if continued and _abbreviation(token, "", postpositive=True):
        return True
    if head in _CLOSERS or not any(ch.isalnum() for ch in following):
        return True  # a stray closing quote or bracket belongs to the sentence before
    # '"Benarkah?" tanya dia.' : the reporting clause continues the quoted question
    return head.islower() and previous[-1] in "\"'”’?!"


def _unglue(text: str, start: int, end: int, lang: str) -> list[tuple[int, int]]:
    """[start, end) cut where a scraper glued two paragraphs with ", " after a sentence's end."""
    sentence = text[start:end]  # sliced so that a sentence may start with the ", " it is cut at
    bounds, cut = [], 0
    for match in _GLUED_END.finditer(sentence):
        if _glued(sentence, match, lang):
            bounds.append(_strip(text, start + cut, start + match.end(2)))
            cut = match.end()
    bounds.append((start + cut, end))
    return [(s, e) for s, e in bounds if s < e]


def _glued(text: str, match: re.Match[str], lang: str) -> bool:
    """Whether ``match`` (of ``_GLUED_END``) ends a sentence: in written text ".," follows only an
    abbreviation ("Apple Inc., Google"), and "!," or "?," a title ("Yahoo!, Google", which English
    news names often enough that English is not split there)."""
    run, quoted, following = match[1], bool(match[2]), text[match.end() : match.end() + 64]
    if run.count(".") > 1 or text[match.start() - 1 : match.start()] == "…":
        return False  # an ellipsis trails off: "bercanda..., saya"
    if "." not in run and lang == "en":
        return False
    head = following[0]
    if head in _CLOSERS:
        return False
    if head.islower() and (quoted or run != "." or lang == "en"):
        # '"Laugh!", acara ini', 'Calif., to': the sentence goes on. After a bare "." in other
        # languages it is a new sentence whose subject, a link, was dropped ("., dibekali baterai").
        return False
    if quoted:
        return True  # '"... saya.", Sebagai' : the quote closed the sentence
    if run[-1] == "." and _abbreviation(_last_word(text, match.start()) + ".", lang):
        return False
    return not _abbreviation(following.split(None, 1)[0].rstrip(",;:"), lang, postpositive=True)


def _last_word(text: str, end: int) -> str:
    """The word before ``end``, as far back as a space or comma ("musik,itu." -> "itu")."""
    start, limit = end, max(0, end - 64)
    while start > limit and not text[start - 1].isspace() and text[start - 1] != ",":
        start -= 1
    return text[start:end].lstrip(_OPENERS)


def _abbreviation(token: str, lang: str, *, postpositive: bool = False) -> bool:
    """Whether ``token`` (ending in ".") is an abbreviation a sentence may go on after.

    ``postpositive`` asks only about those that follow a name ("Co., Ltd.", "BA., Drs."): a
    sentence may well begin with "Dr." or "Jl."."""
    if not token.endswith(".") or token == ".":
        return False
    lowered = token.lower()
    if lowered in _JOIN_IF_CONTINUED or lowered[:-1] in _DOTLESS or _DOTTED.fullmatch(token):
        return True
    if lang == "en" and lowered.rsplit("-", 1)[-1] in _ENGLISH_ABBREVIATIONS:
        return True  # "Calif.", "Sen.", and "R-Kan."
    return not postpositive and (token in _ALWAYS_JOIN or _INITIAL.fullmatch(token) is not None)
