"""What kind of answer a question asks for, and whether a sentence can hold one.

"Kapan Perang Barito berakhir?" asks for a date; of two sentences about the war, the one that
holds a date is the likelier answer even when the other names the war more closely (e5 scores a
sentence that names the subject well above the one that answers: "Pulau Inaccessible adalah …"
0.905 against "Luas pulau ini menjangkau hingga 14km2" 0.834 for "Berapa luas Pulau
Inaccessible?"). Classic factoid QA starts from this expected answer type; here it is a small
bonus in sentence selection, for Indonesian and English question words only, and a sentence is
only checked for the *form* of an answer (a year, a number, a name, a report of what was said),
never for its content.

"What did Xi's letter say?" asks for what was said: a news lead names the letter and its sender
("Xi Jinping diketahui mengirim sebuah surat kepada ... Kim Jong Un") and e5 scores it above the
sentence reporting what the letter holds ("surat yang dikirimkan presiden Xi ... berisikan
ajakan kerjasama ...": 0.840 against 0.833), so a sentence that reports speech or a text's
content (a reporting verb, or a quotation) is the likelier answer. Dev has no such question
(its kinds are measured there; this one only on the tests' articles).
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerKind(Enum):
    TIME = "time"
    NUMBER = "number"
    NAME = "name"  # a person or a place: both come as capitalized names
    STATEMENT = "statement"  # what someone said, wrote, asked or promised, or what a text holds


# The order matters: "tahun berapa" asks for a time, not a number.
_QUESTION_WORDS: tuple[tuple[AnswerKind, re.Pattern[str]], ...] = (
    (
        AnswerKind.TIME,
        re.compile(
            r"\b(kapan\w*|bilamana|(pada )?(tahun|tanggal|bulan|abad)( ke)? berapa\w*|when|what year|"
            r"which year|what date|in what century)\b",
            re.IGNORECASE,
        ),
    ),
    (
        AnswerKind.NUMBER,
        re.compile(r"\b(berapa\w*|how (many|much|long|old|far|big|large|tall|high))\b", re.IGNORECASE),
    ),
    (
        AnswerKind.NAME,
        re.compile(
            r"\b(siapa\w*|who|whom|whose|di ?mana\w*|ke ?mana\w*|dari ?mana\w*|where|"
            r"(negara|kota|provinsi|pulau|daerah) (apa|mana)\w*|which (country|city|province|island))\b",
            re.IGNORECASE,
        ),
    ),
    (
        AnswerKind.STATEMENT,
        re.compile(
            r"\bwhat (did|does|do|has|have|had|will|would)\b.{0,80}?\b(say|write|contain|state|tell|"
            r"announce|propose|promise|pledge|demand|ask|urge|call for|warn|claim|offer)\b|"
            r"\bwhat (was|is|were|are) (written )?in\b|"
            r"\bapa (saja )?(isi|kata|pesan|ucapan|pernyataan|tuntutan|janji|usul\w*|permintaan|ajakan)\b|"
            r"\bapa (saja )?yang (di)?(kata|sampai|tulis|nyata|minta|usul|janji|umum|tuntut|seru)\w*",
            re.IGNORECASE,
        ),
    ),
)

# Month and day names count only capitalized, as dates write them: lower-case "may", "march" or
# "minggu" (week) are a verb, a walk and a duration far more often than a date.
_MONTHS = (
    "Januari Februari Maret April Mei Juni Juli Agustus September Oktober November Desember "
    "January February March May June July August October December "
    "Jan Feb Mar Apr Jun Jul Aug Agu Agt Sep Sept Okt Oct Nov Des Dec"
).split()
_DAYS = "Senin Selasa Rabu Kamis Jumat Sabtu Minggu Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_YEAR = r"\b(1\d{3}|20\d{2})\b"
_DAY_SLASH_MONTH = r"\b\d{1,2}/\d{1,2}(/\d{2,4})?\b"  # "Sabtu (26/11)", "7/9/2019"
_TIME = re.compile(
    rf"{_YEAR}|{_DAY_SLASH_MONTH}|\b(?i:abad|century|centuries)\b|"
    rf"\b({'|'.join(_MONTHS)}|{'|'.join(_DAYS.split())})\b"
)
_NUMBER = re.compile(
    r"\d|\b(satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh|sebelas|belas|puluh\w*|"
    r"ratus\w*|ribu\w*|juta\w*|miliar|triliun|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"eleven|twelve|dozens?|hundreds?|thousands?|millions?|billions?)\b",
    re.IGNORECASE,
)
# A sentence reporting what was said or written: a reporting verb (its common Indonesian forms:
# "kata Xi", "ujarnya", "mengatakan", "berisikan") or a quotation.
_REPORTED = re.compile(
    r"[“”«»\"]|\b(kata\w*|ujar\w*|ucap\w*|tutur\w*|mengatakan|menyatakan|menyebut\w*|menegaskan|"
    r"menyampaikan|mengungkapkan|menjelaskan|menulis\w*|berisi\w*|memuat|mengajak|meminta|mendesak|"
    r"menyerukan|berjanji|menjanjikan|mengusulkan|mengumumkan|mengaku|menurut\w*|said|says|told|tells|"
    r"stated?|states|wrote|writes|written|announced?|urged?|called for|calls for|asked|promised|"
    r"pledged|warned|claimed|according to|contains|contained|reads)\b",
    re.IGNORECASE,
)
# What a date writes with digits (a year, "27 September 1957", "7/9"): a count asked with
# "berapa" / "how many" is not a date's digits, unless it asks how long ("1947–1991").
_DURATION = re.compile(r"\b(berapa\w* lama\w*|how long)\b", re.IGNORECASE)
_DATES = re.compile(rf"{_YEAR}|{_DAY_SLASH_MONTH}|\b\d{{1,2}} (?:{'|'.join(_MONTHS)})\b")
_CAPITALIZED = re.compile(r"(?<![\w.])[A-Z][\w'’-]+")
_WORD = re.compile(r"\w+")


def expected_answer(question: str) -> AnswerKind | None:
    """The kind of answer ``question`` asks for, or None (what/why/how questions, or a language
    whose question words are not listed)."""
    for kind, words in _QUESTION_WORDS:
        if words.search(question):
            return kind
    return None


def can_answer(kind: AnswerKind, question: str, sentence: str) -> bool:
    """Whether ``sentence`` holds something of ``kind``: a year, month, weekday or century for
    TIME; a digit or number word for NUMBER (a date's digits only when the question asks how
    long); for NAME, a capitalized word past the sentence's first that the question does not
    already contain (the subject it asks about is not the answer); for STATEMENT, a reporting
    verb or a quotation."""
    if kind is AnswerKind.STATEMENT:
        return _REPORTED.search(sentence) is not None
    if kind is AnswerKind.TIME:
        return _TIME.search(sentence) is not None
    if kind is AnswerKind.NUMBER:
        counted = sentence if _DURATION.search(question) else _DATES.sub(" ", sentence)
        return _NUMBER.search(counted) is not None
    asked = {w.casefold() for w in _WORD.findall(question)}
    names = [m.group(0) for m in _CAPITALIZED.finditer(sentence) if m.start() > 0]
    return any(name.casefold() not in asked for name in names)
