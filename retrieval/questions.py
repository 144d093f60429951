"""A question as the pipeline reads it: one canonical text for every way of typing it.

Whether the bot answers must not depend on how a question was typed: a trailing "?", "!" or
".", extra spaces, or letter case ("what is the capital of peru" and "What is the capital of
Peru?"). e5 is sensitive to all of them: without its question mark "what is the capital of
Peru" scored the seed article's sentences under the bar and with it over (dev: dropping every
question's "?" costs MRR@10 .909 -> .872, lower-casing every question .909 -> .879). So every
question is rewritten into one canonical form before anything reads it: spaces collapsed, the
end punctuation replaced by one "?", and each word in the case the library writes it
("xi" -> "Xi", "kpk" -> "KPK"; a word the library does not hold is written in lower case, a
country, language, month or weekday name capitalized as CLDR writes it), the first letter
upper case. A question that is already typed well mostly keeps its form (dev: 7 of 323
questions rank their gold article differently; in sample MRR@10 en→id .841 -> .833, facqa
.863 -> .856).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from retrieval.grounding import localized_name
from retrieval.lexical import STOPWORDS, fold

_SPACES = re.compile(r"\s+")
_END = re.compile(r"[\s?!.。？！…]+$")
_WORD = re.compile(r"\w+", re.UNICODE)

WrittenForm = Callable[[str], str | None]
"""A folded term -> how the library usually writes it ("xi" -> "Xi"), None if it holds none."""


def has_content(question: str) -> bool:
    """Whether ``question`` holds a word or a figure of two characters or more: "-", "?!?!" or
    "%s%s%n {0}" ask nothing (single letters and digits alone are format codes, not questions)."""
    return any(len(word) > 1 for word in _WORD.findall(question))


def canonical_question(question: str, written_form: WrittenForm) -> str:
    """The one text every typing of ``question`` becomes (see the module docstring)."""
    text = _END.sub("", _SPACES.sub(" ", unicodedata.normalize("NFC", question)).strip())
    pieces, last = [], 0
    for number, match in enumerate(_WORD.finditer(text)):
        word = match.group(0)
        pieces.append(text[last : match.start()])
        pieces.append(_cased(word, written_form, first=number == 0))
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces) + "?"


def _cased(word: str, written_form: WrittenForm, *, first: bool) -> str:
    """``word`` in the case its library (or CLDR) writes it, keeping the accents as typed."""
    lower = word.lower()
    term = fold(word)
    form = None if term in STOPWORDS else written_form(term) or localized_name(term)
    cased = lower
    if form is not None and len(form) == len(word):
        if form.isupper() and len(form) > 1:
            cased = word.upper()
        elif form[:1].isupper():
            cased = lower[:1].upper() + lower[1:]
    return cased[:1].upper() + cased[1:] if first else cased
