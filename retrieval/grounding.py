"""Whether a text says what a question asks about: the question's terms, weighed by how
specific they are, and which of them a quote, an article or the library supports.

e5 scores a sentence on a nearby topic almost as high as one that answers ("How many people died
in the Bandung earthquake?" against a Jakarta flood's "Two people died"), so cosines alone cannot
tell an answer from a neighbour. The question's specific words can: "Bandung" and "earthquake"
are what it is about, and the flood article holds neither. Each content term of the question
(``lexical.tokenize``: stopwords and question words out) weighs its information in the question's
language, from wordfreq's frequency lists: a word wordfreq has rarely seen ("Bekasi", "Persetasi")
weighs most, "people" little. A text supports a term when it holds the term itself, a word of the
same Snowball stem ("diluncurkan"/"peluncuran", "died"/"dies"), the term spelled within a small
edit distance ("Shilla"/"Silla"; Indonesian names in the old spelling, "Tjipto"/"Cipto"), or the
same name or number in another language (CLDR's territory, language, month and weekday names
through Babel: "Japan"/"Jepang", "North Korea"/"Korea Utara"; numbers through num2words:
"three"/"tiga"/"3"). Words of the two languages rarely share a stem otherwise, so an English
question is supported by an Indonesian text mostly through its names and figures; the abstention
rule weighs support across languages separately (``retrieval/abstention.py``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from babel import Locale
from num2words import num2words
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import extractOne
from wordfreq import zipf_frequency

from retrieval.lexical import tokenize

LANGUAGES = ("en", "id")  # the languages whose stems, names and number words are known
MAX_INFORMATION = 8.0  # a term wordfreq has never seen (zipf 0) weighs this much
MIN_INFORMATION = 0.5  # the most common content words still count a little
# Spellings this close (normalized Levenshtein similarity) are one word, for words this long.
FUZZY_SIMILARITY = 0.8
FUZZY_MIN_LENGTH = 5
# Indonesian's spelling before 1972 (Van Ophuijsen, Soewandi), kept in many names.
_OLD_SPELLING = (("oe", "u"), ("tj", "c"), ("dj", "j"), ("nj", "ny"), ("sj", "sy"), ("ch", "kh"))
_DIGITS = re.compile(r"^\d+(?:[.,]\d+)*$")
# Words that frame a question rather than say what it is about ("according to the passage,
# which of the following statements …", "menurut kutipan tersebut, berikut ini …", "apa nama
# …"): no answer holds them, so they are not asked of a text.
QUESTION_FRAME = frozenset(
    """
    according passage article text following statement statements describes describe true false
    mentioned based best likely many much name named called
    kutipan bacaan teks artikel berikut menurut berdasarkan pernyataan benar salah nama sajakah
    disebutkan dimaksud disebut bernama
    """.split()
)


@dataclass(frozen=True, slots=True)
class QuestionTerms:
    """A question's distinct content terms, with the information each carries."""

    terms: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.weights)

    def without(self, terms: Iterable[str]) -> QuestionTerms:
        """These terms with some left out (what a headline already says, say)."""
        dropped = set(terms)
        kept = [(t, w) for t, w in zip(self.terms, self.weights, strict=True) if t not in dropped]
        return QuestionTerms(tuple(t for t, _ in kept), tuple(w for _, w in kept))


@dataclass(frozen=True, slots=True)
class Support:
    """How much of a question a text supports: the share of its terms' weight, and the weight
    of the most specific term left unsupported (0 when none is)."""

    share: float
    missing: float
    unsupported: tuple[str, ...]


def question_terms(question: str, lang: str) -> QuestionTerms:
    """The content terms of ``question`` (asked in ``lang``), each weighed by its information."""
    terms = tuple(t for t in dict.fromkeys(tokenize(question)) if t not in QUESTION_FRAME)
    return QuestionTerms(terms, tuple(information(t, lang) for t in terms))


@lru_cache(maxsize=100_000)
def information(term: str, lang: str) -> float:
    """How specific ``term`` is in ``lang``: 8 minus its Zipf frequency (log10 of its uses per
    billion words), within [``MIN_INFORMATION``, ``MAX_INFORMATION``]. A figure weighs like a
    rare word: "2005" is common as a string, not as what a question asks about."""
    if _DIGITS.match(term):
        return MAX_INFORMATION - 2.0
    zipf = zipf_frequency(term, lang if lang in LANGUAGES else "en")
    return min(MAX_INFORMATION, max(MIN_INFORMATION, MAX_INFORMATION - zipf))


def support(question: QuestionTerms, text_terms: Iterable[str]) -> Support:
    """How much of ``question`` a text whose terms are ``text_terms`` supports."""
    vocabulary = TextTerms.of(text_terms)
    if not question.terms:
        return Support(1.0, 0.0, ())
    found = 0.0
    missing = 0.0
    unsupported = []
    for term, weight in zip(question.terms, question.weights, strict=True):
        if vocabulary.supports(term):
            found += weight
        else:
            missing = max(missing, weight)
            unsupported.append(term)
    return Support(found / question.total if question.total else 1.0, missing, tuple(unsupported))


@dataclass(frozen=True, slots=True)
class TextTerms:
    """A text's terms and the keys its terms can be met by (stems, names, numbers)."""

    terms: frozenset[str]
    keys: frozenset[str]
    long_terms: tuple[str, ...]  # the candidates for a fuzzy match

    @classmethod
    def of(cls, terms: Iterable[str]) -> TextTerms:
        distinct = frozenset(terms)
        keys = frozenset(k for t in distinct for k in _keys(t))
        return cls(distinct, keys, tuple(sorted(t for t in distinct if len(t) >= FUZZY_MIN_LENGTH)))

    def supports(self, term: str) -> bool:
        if term in self.terms or not _keys(term).isdisjoint(self.keys):
            return True
        if len(term) < FUZZY_MIN_LENGTH or not self.long_terms:
            return False
        return (
            extractOne(
                term, self.long_terms, scorer=Levenshtein.normalized_similarity, score_cutoff=FUZZY_SIMILARITY
            )
            is not None
        )


def text_terms(texts: Sequence[str]) -> list[str]:
    """The terms of several texts (a quote, its article's title and lead) together."""
    return [t for text in texts for t in tokenize(text)]


@lru_cache(maxsize=200_000)
def _keys(term: str) -> frozenset[str]:
    """The keys under which ``term`` meets its other forms: its stems in each known language,
    its old-spelling form, the names and numbers it can be in another language."""
    keys = {f"stem:{_stem(term, lang)}" for lang in LANGUAGES}
    modern = _modern_spelling(term)
    if modern != term:
        keys.add(f"stem:{modern}")
    keys |= _LOCALIZED.get(term, frozenset())
    return frozenset(keys)


_STEMMERS = {lang: snowballstemmer.stemmer({"en": "english", "id": "indonesian"}[lang]) for lang in LANGUAGES}


def _stem(term: str, lang: str) -> str:
    return str(_STEMMERS[lang].stemWord(term))


def _modern_spelling(term: str) -> str:
    for old, new in _OLD_SPELLING:
        term = term.replace(old, new)
    return term


def _localized_names() -> dict[str, frozenset[str]]:
    """Term -> keys of the names and numbers it is a word of, in any known language: "Jepang"
    and "Japan" get the key of territory JP. Of a name of several words, only the words no other
    name of its language holds get its key: "Utara" and "North" name no one country, and
    "Selatan" would otherwise meet "Prancis" through "Wilayah Selatan Prancis"."""
    table: dict[str, set[str]] = {}

    def add(key: str, name: str) -> None:
        for term in tokenize(name):
            table.setdefault(term, set()).add(key)

    for lang in LANGUAGES:
        locale = Locale(lang)
        named = [
            (f"{kind}:{code}", tokenize(name))
            for kind, names in (("territory", locale.territories), ("language", locale.languages))
            for code, name in names.items()
        ]
        holders = Counter(term for _, terms in named for term in set(terms))
        for key, terms in named:
            for term in terms:
                if len(terms) == 1 or holders[term] == 1:
                    table.setdefault(term, set()).add(key)
        for context in ("format", "stand-alone"):
            for number, name in locale.months[context]["wide"].items():
                add(f"month:{number}", name)
            for number, name in locale.days[context]["wide"].items():
                add(f"day:{number}", name)
        for number in [*range(0, 21), *range(30, 100, 10), 100, 1000, 10**6, 10**9]:
            words = tokenize(num2words(number, lang=lang))
            if words:
                table.setdefault(words[-1], set()).add(f"number:{number}")
            table.setdefault(str(number), set()).add(f"number:{number}")
    return {term: frozenset(keys) for term, keys in table.items()}


_LOCALIZED = _localized_names()
_BY_KEY: dict[str, set[str]] = {}
for _named, _name_keys in _LOCALIZED.items():
    for _name_key in _name_keys:
        _BY_KEY.setdefault(_name_key, set()).add(_named)


def translations(term: str) -> frozenset[str]:
    """The other words naming what ``term`` names in a known language ("japan" -> "jepang",
    "tiga" -> "three", "3"); empty for a word that is no country, language, month, weekday or
    number."""
    keys = _LOCALIZED.get(term, frozenset())
    return frozenset(t for key in keys for t in _BY_KEY.get(key, ())) - {term}


WRITTEN_ALIKE_ZIPF = 3.0
"""The Zipf frequency (log10 uses per billion words) from which wordfreq's list of another known
language shows a word as that language writes it too: "bandung" (Indonesian 5.4), "mrt" (3.9),
"smartphone" (4.6) are; "sourdough" (0), "amerika" in English (2.4), "olimpiade" (1.0) are not."""


def written_alike(term: str, lang: str) -> bool:
    """Whether ``term`` of a ``lang`` question is written the same in another known language, so
    that a library in that language lacking it lacks what it names (a lowercase "bandung" in an
    English question is the city an Indonesian article would write "Bandung"). The question's
    own language must know the word too: "banjir" in a short Indonesian question taken for
    English is Indonesian's word for flood, not a name English writes alike."""
    home = lang if lang in LANGUAGES else "en"
    if zipf_frequency(term, home) <= 0.0:
        return False
    return any(zipf_frequency(term, other) >= WRITTEN_ALIKE_ZIPF for other in LANGUAGES if other != home)


def localized_name(term: str) -> str | None:
    """``term`` as CLDR writes it when it is a one-word country or language name in a known
    language ("peru" -> "Peru", "jepang" -> "Jepang"), else None."""
    return _ONE_WORD_NAMES.get(term)


def _one_word_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for lang in LANGUAGES:
        locale = Locale(lang)
        for table in (locale.territories, locale.languages):
            for name in table.values():
                if len(name.split()) == 1 and name[:1].isupper() and (terms := tokenize(name)):
                    names.setdefault(terms[0], name)
    return names


_ONE_WORD_NAMES = _one_word_names()
