"""Publication dates: found for every article that gives one, and the periods questions ask about.

An article's date comes, first found first, from its metadata (a page's own date, which
trafilatura reads with htmldate; a front matter's or a feed's; an archive line's ``published``,
in any form dateparser reads in Indonesian or English: "Senin, 18 September 2019 10:00 WIB"),
then from a date line in its header (``retrieval/cleaning.py``), then from its body: Indonesian
news date what they report in the byline form "Rabu (18/9/2019)", and the latest such date in
the text, its weekday checked against the calendar, is the day of the news (a story is published
on or just after the last day it reports).

A question asks for recent news ("latest", "terbaru", "today", "hari ini", "kemarin", "this
week", "minggu ini") or names a period ("September 2019", "18/9/2019", "2019"): ``question_period``
reads it, and ``prefer_period`` moves the articles it prefers ahead of the others that answer
the question about as well. The relative words are dropped from the text that is embedded and
grounded (``without_recency_words``): "terbaru" is no content a quote must hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

import dateparser
import numpy as np

from retrieval.types import ArticleInfo, CleanedArticle

# Weekday names in the byline form "Rabu (18/9/2019)", by ``date.weekday()``.
_WEEKDAYS = {
    **dict.fromkeys(("senin", "monday"), 0),
    **dict.fromkeys(("selasa", "tuesday"), 1),
    **dict.fromkeys(("rabu", "wednesday"), 2),
    **dict.fromkeys(("kamis", "thursday"), 3),
    **dict.fromkeys(("jumat", "jum'at", "friday"), 4),
    **dict.fromkeys(("sabtu", "saturday"), 5),
    **dict.fromkeys(("minggu", "ahad", "sunday"), 6),
}
# Month names and abbreviations in Indonesian (old spellings too) and English.
MONTHS = {
    **dict.fromkeys(("januari", "january", "jan"), 1),
    **dict.fromkeys(("februari", "pebruari", "february", "feb"), 2),
    **dict.fromkeys(("maret", "march", "mar"), 3),
    **dict.fromkeys(("april", "apr"), 4),
    **dict.fromkeys(("mei", "may"), 5),
    **dict.fromkeys(("juni", "june", "jun"), 6),
    **dict.fromkeys(("juli", "july", "jul"), 7),
    **dict.fromkeys(("agustus", "august", "agu", "agt", "ags", "aug"), 8),
    **dict.fromkeys(("september", "sept", "sep"), 9),
    **dict.fromkeys(("oktober", "october", "okt", "oct"), 10),
    **dict.fromkeys(("november", "nopember", "nov", "nop"), 11),
    **dict.fromkeys(("desember", "december", "des", "dec"), 12),
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
# "Rabu (18/9/2019)" (most outlets), "Rabu, 18 September 2019" and "Rabu 18 September 2019" (Tempo).
_BYLINE_DATE = re.compile(
    rf"\b({_WEEKDAY})\s*,?\s*(?:\(\s*(\d{{1,2}})\s*/\s*(\d{{1,2}})\s*/\s*(\d{{4}}|\d{{2}})\s*\)"
    rf"|(\d{{1,2}})\s+({_MONTH})\s+(\d{{4}})\b)",
    re.IGNORECASE,
)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
# The oldest and newest dates taken for a publication date (a "1/1/0001" or a year 2999 is not one).
_EARLIEST = date(1900, 1, 1)
_FUTURE_SLACK = timedelta(days=2)  # time zones: a story dated tomorrow in Jakarta


def parse_published(value: str | None, *, today: date | None = None) -> str | None:
    """An ISO date (``2019-09-18``, or a date-time with its offset when the value has a time)
    for a metadata value in any form dateparser reads in Indonesian or English; None when it
    reads no plausible publication date (before 1900, or after ``today``)."""
    if not value or not value.strip():
        return None
    value = " ".join(value.split())
    if _ISO.fullmatch(value):
        day = _day(value)
        return value.replace(" ", "T") if day is not None and _plausible(day, today) else None
    parsed = dateparser.parse(
        value,
        languages=["id", "en"],
        settings={
            "DATE_ORDER": "DMY",
            "PREFER_DAY_OF_MONTH": "first",
            "REQUIRE_PARTS": ["day", "month", "year"],
        },
    )
    if parsed is None or not _plausible(parsed.date(), today):
        return None
    if (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0) and not re.search(r"\d[:.]\d\d", value):
        return parsed.date().isoformat()
    return parsed.isoformat()


def date_in_text(text: str, *, today: date | None = None) -> str | None:
    """The latest byline date ("Rabu (18/9/2019)", "Rabu, 18 September 2019") in ``text`` whose
    weekday is the calendar's, as an ISO date; None when the text has none."""
    found: list[date] = []
    for match in _BYLINE_DATE.finditer(text):
        weekday, d, m, y, named_d, named_m, named_y = match.groups()
        if d is None:
            d, m, y = named_d, str(MONTHS[named_m.lower()]), named_y
        year = int(y) + (2000 if len(y) == 2 else 0)
        try:
            day = date(year, int(m), int(d))
        except ValueError:
            continue
        if day.weekday() == _WEEKDAYS[weekday.lower()] and _plausible(day, today):
            found.append(day)
    return max(found).isoformat() if found else None


def publication_date(published: str | None, text: str, *, today: date | None = None) -> str | None:
    """An article's publication date: its metadata's (``published``) in ISO form, else the
    byline's in ``text``; None when neither reads as a date."""
    return parse_published(published, today=today) or date_in_text(text, today=today)


def with_publication_date(article: CleanedArticle, *, today: date | None = None) -> CleanedArticle:
    """``article`` with its ``publication_date`` (ingest; ``backfill.py`` for older articles)."""
    published = publication_date(article.meta.published, article.text, today=today)
    if published == article.meta.published:
        return article
    return replace(article, meta=replace(article.meta, published=published))


def published_day(info: ArticleInfo) -> date | None:
    """The day ``info`` was published (its ISO date's date part), None when unknown."""
    return _day(info.published) if info.published else None


def _day(iso: str) -> date | None:
    try:
        return date.fromisoformat(iso[:10])
    except ValueError:
        return None


def _plausible(day: date, today: date | None) -> bool:
    return _EARLIEST <= day <= (today or date.today()) + _FUTURE_SLACK


# --- the periods questions ask about --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """What a question asks about time: the newest first (``latest``), and/or the days from
    ``start`` to ``end`` (both included; None: open)."""

    latest: bool = False
    start: date | None = None
    end: date | None = None

    def holds(self, day: date | None) -> bool:
        """Whether ``day`` falls in the window (an unknown day never does)."""
        if day is None:
            return False
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    @property
    def has_window(self) -> bool:
        return self.start is not None or self.end is not None


# Relative words, each with the window it means (days back from today, None: no window).
# They ask for recent news and say nothing about the story, so they are left out of the text
# that is embedded and grounded. "terakhir", "sekarang", "saat ini", "now" are not here: they
# mostly ask for the last or current holder of something ("jabatan terakhir", "presiden
# Indonesia sekarang"), which the article says, not its date.
_RELATIVE: dict[str, str] = {
    "most recent": "latest",
    "latest": "latest",
    "newest": "latest",
    "paling baru": "latest",
    "terbaru": "latest",
    "terkini": "latest",
    "today": "today",
    "hari ini": "today",
    "yesterday": "yesterday",
    "kemarin": "yesterday",
    "this week": "week",
    "minggu ini": "week",
    "pekan ini": "week",
    "last week": "last_week",
    "minggu lalu": "last_week",
    "pekan lalu": "last_week",
    "this month": "month",
    "bulan ini": "month",
}
_RELATIVE_WORDS = re.compile(
    r"\b("
    + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(_RELATIVE, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_NAMED_DAY = re.compile(
    rf"\b(\d{{1,2}})\s+({_MONTH})\.?\s+((?:19|20)\d\d)\b|\b({_MONTH})\.?\s+(\d{{1,2}}),?\s+((?:19|20)\d\d)\b"
    r"|\b(\d{1,2})/(\d{1,2})/((?:19|20)\d\d)\b|\b((?:19|20)\d\d)-(\d{2})-(\d{2})\b",
    re.IGNORECASE,
)
_NAMED_MONTH = re.compile(rf"\b({_MONTH})\.?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_NAMED_YEAR = re.compile(r"(?<![\d/.,-])\b((?:19|20)\d\d)\b(?![\d/.,-]\d)")


def question_period(question: str, *, today: date | None = None) -> Period | None:
    """The period ``question`` asks about, or None: a relative word (the latest, today,
    yesterday, this or last week, this month: windows ending ``today``), else the first named
    day, month or year."""
    today = today or date.today()
    if match := _RELATIVE_WORDS.search(question):
        kind = _RELATIVE[" ".join(match.group(1).lower().split())]
        monday = today - timedelta(days=today.weekday())
        return {
            "latest": Period(latest=True),
            "today": Period(True, today, today),
            "yesterday": Period(True, today - timedelta(days=1), today - timedelta(days=1)),
            "week": Period(True, monday, today),
            "last_week": Period(True, monday - timedelta(days=7), monday - timedelta(days=1)),
            "month": Period(True, today.replace(day=1), today),
        }[kind]
    if match := _NAMED_DAY.search(question):
        day = _named_day(match)
        if day is not None:
            return Period(start=day, end=day)
    if match := _NAMED_MONTH.search(question):
        year, month = int(match.group(2)), MONTHS[match.group(1).lower()]
        following = date(year + month // 12, month % 12 + 1, 1)
        return Period(start=date(year, month, 1), end=following - timedelta(days=1))
    if match := _NAMED_YEAR.search(question):
        year = int(match.group(1))
        return Period(start=date(year, 1, 1), end=date(year, 12, 31))
    return None


def period_of_text(text: str, *, today: date | None = None) -> Period | None:
    """A period typed as a filter (``/sources 2019-09``, ``newsbot list --date kemarin``): what
    ``question_period`` reads, also a bare ``YYYY-MM``; None when it names none."""
    if match := re.fullmatch(r"\s*((?:19|20)\d\d)-(\d{1,2})\s*", text):
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            following = date(year + month // 12, month % 12 + 1, 1)
            return Period(start=date(year, month, 1), end=following - timedelta(days=1))
        return None
    return question_period(text, today=today)


def without_recency_words(question: str) -> str:
    """``question`` without its relative time words ("latest", "hari ini"), or as it was when
    nothing else would be left."""
    stripped = " ".join(_RELATIVE_WORDS.sub(" ", question).split())
    return stripped if re.search(r"\w\w", stripped) else question


def _named_day(match: re.Match[str]) -> date | None:
    g = match.groups()
    try:
        if g[0]:
            return date(int(g[2]), MONTHS[g[1].lower()], int(g[0]))
        if g[3]:
            return date(int(g[5]), MONTHS[g[3].lower()], int(g[4]))
        if g[6]:
            return date(int(g[8]), int(g[7]), int(g[6]))
        return date(int(g[9]), int(g[10]), int(g[11]))
    except ValueError:
        return None


# --- ranking by date -------------------------------------------------------------------------

# Articles whose fused score is within this of the best compete on their date (``prefer_period``),
# among the first ``DATED_WINDOW`` ranked: the newest of the articles that answer about as well,
# not the newest article that mentions the subject.
DATE_MARGIN = 0.05
DATED_WINDOW = 20
# For "the latest", each older preferred article starts this much behind the next newer one,
# so the newest one's sentences lead unless an older one's answer is clearly better.
LATEST_STEP = 0.01


@dataclass(frozen=True, slots=True)
class DatedRanking:
    """A ranking with the articles a period prefers first: ``order`` (slots, best first), the
    ``fused`` scores that agree with it, and how many of the first are ``preferred``."""

    order: np.ndarray
    fused: np.ndarray
    preferred: int


def prefer_period(
    order: np.ndarray, fused: np.ndarray, days: list[date | None], period: Period
) -> DatedRanking | None:
    """The ranking with the articles ``period`` prefers first among those that answer about
    as well as the best, or None when it prefers none of them.

    ``order`` ranks article slots best first by ``fused`` (indexed by slot); ``days[k]`` is the
    publication day of ``order[k]``, for the first ``DATED_WINDOW``. Preferred: those published
    within the period's window (when it has one), newest first when it asks for the latest.
    They take the best score, ``LATEST_STEP`` apart in their new order when the newest is asked
    for (a hair apart otherwise), and the rest of the close ones fall below them by the margin,
    so quotes come from the preferred articles first."""
    top = float(fused[order[0]])
    close = [k for k in range(min(len(order), DATED_WINDOW)) if float(fused[order[k]]) >= top - DATE_MARGIN]
    preferred = [k for k in close if (period.holds(days[k]) if period.has_window else days[k] is not None)]
    if not preferred:
        return None
    if period.latest:
        preferred.sort(key=lambda k: days[k] or date.min, reverse=True)
    rest = [k for k in close if k not in preferred]
    head = [int(order[k]) for k in preferred + rest]
    adjusted = fused.copy()
    step = LATEST_STEP if period.latest else 1e-4
    for place, k in enumerate(preferred):
        adjusted[order[k]] = top - step * place
    for k in rest:
        adjusted[order[k]] = float(fused[order[k]]) - DATE_MARGIN
    # ``order`` is best first, so the close ones are its first ``len(close)``
    return DatedRanking(
        np.concatenate([np.array(head, order.dtype), order[len(close) :]]), adjusted, len(preferred)
    )


def newest_first(days: list[date | None]) -> list[int]:
    """The positions of ``days`` with the dated ones newest first, the undated after them, each
    group in its own order (a stable sort), for quotes from differently dated articles."""
    dated = [(d, k) for k, d in enumerate(days) if d is not None]
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return [k for _, k in dated] + [k for k, d in enumerate(days) if d is None]
