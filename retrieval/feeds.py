"""RSS and Atom feeds: what a feed's bytes hold (feedparser reads every version and dialect), and
when to read a feed next. Pure functions over bytes and times; fetching and storing are
``feeds.py``'s.

A feed item becomes an article by its link: the page is fetched and cleaned like ``/add URL``,
and what the feed says of it (title, author, date) fills only what the page lacks.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.etree
import lxml.html

from retrieval.errors import NewsbotError
from retrieval.prepare import canonical_url, web_link
from retrieval.types import ArticleMeta

# A failing feed is retried after a minute, then after twice as long each time, up to this (or its
# interval, when that is longer): a feed that is down for a day costs a dozen requests, not 96.
RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=6)
# Each due time moves by up to this share of the interval, either way, so feeds followed together
# (or polled by many bots from one server) do not stay in step.
JITTER = 0.1
# The feed types a web page names in <link rel="alternate">.
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
_MAILBOX = re.compile(r"\S+@\S+(?:\s*\((?P<name>[^()]+)\))?")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)


class FeedRejected(NewsbotError):
    """A URL that does not give a feed; nothing was followed. ``reason``: ``web_page`` (HTML; the
    feeds it names are in ``feed_links``) or ``not_feed`` (anything else that is not RSS/Atom)."""

    def __init__(self, reason: str, message: str, feed_links: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason
        self.feed_links = feed_links


class FeedNotFound(NewsbotError):
    """No followed feed has the given id or URL."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed: the page it links to (``canonical_url`` form: the key it is known by)
    and what the feed says of it (``meta.url`` is None: the page's own address wins)."""

    link: str
    meta: ArticleMeta


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    items: tuple[FeedItem, ...]  # in the feed's order, each link once
    without_link: int  # entries with no http(s) link: nothing to fetch
    damaged: bool  # feedparser had to recover from broken XML (what it read is still used)


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """A followed feed as stored, with how it fared (times are ISO 8601 UTC strings)."""

    id: int
    url: str
    title: str | None
    interval_minutes: float | None  # None: the default (NEWSBOT_FEED_INTERVAL_MINUTES)
    added_at: str
    next_poll_at: str
    last_success_at: str | None
    last_error_at: str | None
    last_error: str | None  # the latest poll's error; None once a poll succeeds
    failures: int  # polls failed in a row
    articles: int  # stored articles that came from this feed (deleted ones do not count)
    items_seen: int  # items taken in or skipped so far (each fetched at most once)

    @property
    def ref(self) -> str:
        """How commands name the feed besides its URL: ``f3``."""
        return f"f{self.id}"


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """The feed in ``body`` (fetched from ``url``), or ``FeedRejected`` saying what it is instead.

    Broken XML that feedparser can still read (an undefined entity, a missing close tag: common
    in the wild) is kept, with ``damaged`` set; bytes with no feed in them are refused."""
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # Item texts are never read (each page is fetched): no cleaning or link resolving in them,
    # a sixth of feedparser's time on a big feed.
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.get("version") and not parsed.entries:
        if _HTML_START.match(body[:4096]) or "html" in content_type.lower():
            links = feed_links(body, url)
            named = (
                f"; it names {'a feed' if len(links) == 1 else 'feeds'}: {', '.join(links)}" if links else ""
            )
            raise FeedRejected("web_page", f"{url} is a web page, not an RSS or Atom feed{named}", links)
        raise FeedRejected("not_feed", f"{url} does not hold an RSS or Atom feed (read as {_what(parsed)})")
    items: dict[str, FeedItem] = {}
    without_link = 0
    for entry in parsed.entries:
        link = _entry_link(entry)
        if link is None:
            without_link += 1
        elif link not in items:
            items[link] = FeedItem(link, _entry_meta(entry))
    title = _text(parsed.feed.get("title"))
    return ParsedFeed(title, tuple(items.values()), without_link, bool(parsed.get("bozo")))


def feed_links(html: bytes, base_url: str) -> tuple[str, ...]:
    """The feeds a web page names (``<link rel="alternate" type="application/rss+xml">``), absolute."""
    try:
        document = lxml.html.document_fromstring(html, base_url=base_url)
    except (ValueError, lxml.etree.ParserError):
        return ()
    found = []
    for element in document.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = (element.get("type") or "").lower().strip()
        href = (element.get("href") or "").strip()
        if "alternate" in rel and kind in _FEED_TYPES and href:
            link = web_link(urljoin(base_url, href))
            if link is not None and link not in found:
                found.append(link)
    return tuple(found[:3])


def next_poll(now: datetime, interval: timedelta, *, rng: random.Random | None = None) -> datetime:
    """When a feed polled at ``now`` is due again: ``interval`` later, give or take ``JITTER``."""
    return now + _jittered(interval, rng)


def next_retry(
    now: datetime, interval: timedelta, failures: int, *, rng: random.Random | None = None
) -> datetime:
    """When a feed whose last ``failures`` polls failed is tried again: ``RETRY_FIRST``, doubled for
    each failure after the first, never later than ``RETRY_LONGEST`` (or the feed's own interval
    when that is longer)."""
    longest = max(RETRY_LONGEST, interval)
    delay = min(RETRY_FIRST * 2 ** min(max(failures, 1) - 1, 30), longest)
    return now + _jittered(delay, rng)


def iso(moment: datetime) -> str:
    """``moment`` as the store keeps times: UTC, to the second, sortable as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jittered(delay: timedelta, rng: random.Random | None) -> timedelta:
    share = (rng or random).uniform(-JITTER, JITTER)
    return delay * (1 + share)


def _entry_link(entry: Any) -> str | None:
    """The page an entry is about: its link, else a guid that is a web address (RSS's permalink)."""
    candidates = [entry.get("link")]
    candidates += [link.get("href") for link in entry.get("links", []) if link.get("rel") == "alternate"]
    candidates.append(entry.get("id"))
    for candidate in candidates:
        if isinstance(candidate, str) and (link := web_link(candidate.strip())) is not None:
            return canonical_url(link)
    return None


def _entry_meta(entry: Any) -> ArticleMeta:
    # RSS's <author> is "desk@x.example (Name)" or a bare address (feedparser's author_detail
    # splits the first badly); Atom's is a name.
    author = _text(entry.get("author")) or _text((entry.get("author_detail") or {}).get("name"))
    if author and (named := _MAILBOX.fullmatch(author)):
        author = _text(named["name"])
    return ArticleMeta(title=_text(entry.get("title")), author=author, published=_entry_date(entry))


def _entry_date(entry: Any) -> str | None:
    """The entry's publication (else update) date as ISO 8601, with the offset the feed wrote
    when it wrote one (feedparser's own parse keeps UTC only)."""
    for raw_key, parsed_key in (("published", "published_parsed"), ("updated", "updated_parsed")):
        raw = entry.get(raw_key)
        if isinstance(raw, str) and (stamp := _written_date(raw.strip())) is not None:
            return stamp
        parsed = entry.get(parsed_key)
        if parsed is not None:
            year, month, day, hour, minute, second = parsed[:6]
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            return moment.isoformat().replace("+00:00", "Z")
    return None


def _written_date(raw: str) -> str | None:
    """An RFC 822 (RSS) or RFC 3339 (Atom) date as ISO 8601 with its own offset; None otherwise."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    tidy = " ".join(value.split())
    return tidy or None


def _what(parsed: Any) -> str:
    problem = re.sub(r"^<unknown>:\d+:\d+: ", "", str(parsed.get("bozo_exception") or ""))
    return f"XML with an error: {problem}" if problem else "XML without feed elements"
