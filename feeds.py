"""Followed feeds: follow, unfollow, list, and poll (the bot's job and ``newsbot feeds poll``).

A poll of one feed:

    fetch.py: fetch_feed     the feed's bytes, conditional (ETag / Last-Modified: unchanged = one 304)
    retrieval/feeds.py       parse (feedparser, in the library's thread pool), each item's link
    index/feeds.py           which links are new: not an item of the feed yet, not a stored article
    ingest.py: add_url       each new item's page, as /add URL does it, the feed's metadata filling gaps
    index/feeds.py           what became of each item; the feed's health and its next due time

At most ``NEWSBOT_FEED_ITEMS_PER_POLL`` new items are fetched per poll: the rest wait for the next
one, which is due at once (the feed's validators are kept only once every item was taken in, so
the next read is a full one). A failed poll is retried with backoff (``retrieval/feeds.py``); its
error stays visible in ``/feeds`` and ``newsbot feeds list`` until a poll succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fetch import FetchedFeed, fetch_feed
from index.backend import RunsCpu
from index.feeds import DUPLICATE, REFUSED, STORED, UNREACHABLE, FeedStore
from retrieval.errors import ArticleRejected, NewsbotError
from retrieval.feeds import (
    FeedInfo,
    FeedNotFound,
    FeedRejected,
    ParsedFeed,
    iso,
    next_poll,
    next_retry,
    parse_feed,
)
from retrieval.prepare import canonical_url
from retrieval.types import ArticleInfo, ArticleMeta
from settings import Settings

log = logging.getLogger("newsbot.feeds")


class AddPage(Protocol):
    """``Ingest.add_url``: fetch, clean, prepare, refuse duplicates, embed, store, publish."""

    def __call__(self, url: str, *, known: ArticleMeta | None = None) -> Awaitable[ArticleInfo]: ...


@dataclass(frozen=True, slots=True)
class Followed:
    """The answer to a follow: the feed as stored, whether it is new, and its items now."""

    feed: FeedInfo
    new: bool
    items: int


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll of one feed did."""

    feed: FeedInfo  # as it was before the poll
    unchanged: bool = False  # the server said 304
    stored: tuple[ArticleInfo, ...] = ()
    duplicates: int = 0  # new items whose page the library had already (same link or text)
    refused: int = 0  # new items whose page is no article (too short, not text, ...)
    retry: int = 0  # new items whose page could not be reached: tried by the next polls (3 times in all)
    known: int = 0  # items seen before or already stored: not fetched
    left: int = 0  # new items not fetched (over the per-poll limit, or the bot is stopping): next poll
    error: str | None = None  # the poll failed (the feed is retried with backoff)


class Feeds:
    """The feeds the library follows. Without ``add_page`` (the CLI's ``feeds add|list|remove``,
    which load no model) everything but polling works."""

    def __init__(
        self,
        store: FeedStore,
        settings: Settings,
        *,
        cpu: RunsCpu,
        add_page: AddPage | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._settings = settings
        self._cpu = cpu
        self._add_page = add_page
        self._clock = clock
        self._polling = asyncio.Lock()  # one pass at a time (a slow pass makes the next tick wait)

    async def follow(self, url: str, *, every_minutes: float | None = None) -> Followed:
        """Follow the feed at ``url`` after reading it once: a page or bytes that are not a feed
        are refused (``FeedRejected``; a page's own feeds are named), and so is a link that
        cannot be fetched (``ArticleRejected``, as for /add URL). Its items are taken in by the
        next poll, due at once."""
        if every_minutes is not None and every_minutes < 1:
            raise FeedRejected("bad_input", "a feed is read at most once a minute: give 1 or more minutes")
        url = canonical_url(url)
        fetched = await self._fetch(url)
        assert fetched.body is not None  # no validators were sent
        parsed = await self._parse(fetched)
        feed, new = await self._store.add(url, parsed.title, every_minutes)
        log.info(
            "%s feed %s %s: %d items",
            "followed" if new else "already followed",
            feed.ref,
            url,
            len(parsed.items),
        )
        return Followed(feed, new, len(parsed.items))

    async def unfollow(self, key: str) -> FeedInfo:
        """Stop following the feed with this URL, ref (``f3``) or id; its articles stay."""
        try:
            feed = await self._store.find(key)
        except FeedNotFound:
            feed = await self._store.find(canonical_url(key))  # as ``follow`` stored it
        await self._store.remove(feed.id)
        log.info("unfollowed feed %s %s", feed.ref, feed.url)
        return feed

    async def all(self) -> list[FeedInfo]:
        return await self._store.all()

    async def poll_due(
        self, *, everything: bool = False, keep_going: Callable[[], bool] = lambda: True
    ) -> list[PollReport]:
        """Poll every feed that is due (``everything``: every feed), one after another, while
        ``keep_going()`` (the bot stops between two items, never in one). A pass already running
        (the previous tick's) is not joined: this one returns nothing."""
        if self._polling.locked():
            return []
        async with self._polling:
            feeds = await (self._store.all() if everything else self._store.due(iso(self._clock())))
            reports = []
            for feed in feeds:
                if not keep_going():
                    break
                try:
                    reports.append(await self.poll(feed, keep_going))
                except NewsbotError as error:  # the database, not the feed: the next pass tries again
                    log.warning("could not poll feed %s: %s", feed.ref, error)
                    reports.append(PollReport(feed, error=str(error)))
            return reports

    async def poll(self, feed: FeedInfo, keep_going: Callable[[], bool] = lambda: True) -> PollReport:
        """Read one feed and take in its new items (see the module's docstring)."""
        if self._add_page is None:
            raise RuntimeError("polling needs the library's ingest (Feeds(..., add_page=...))")
        now = self._clock()
        interval = timedelta(minutes=feed.interval_minutes or self._settings.feed_interval_minutes)
        etag, modified = await self._store.validators(feed.id)
        try:
            fetched = await self._fetch(feed.url, etag=etag, last_modified=modified)
            if fetched.body is None:
                await self._store.record_success(
                    feed.id,
                    now=iso(now),
                    next_poll_at=iso(next_poll(now, interval)),
                    title=None,
                    etag=fetched.etag or etag,
                    last_modified=fetched.last_modified or modified,
                )
                log.info("feed %s unchanged (304)", feed.ref)
                return PollReport(feed, unchanged=True)
            parsed = await self._parse(fetched)
        except (ArticleRejected, FeedRejected) as error:
            return await self._failed(feed, now, interval, error)
        report = await self._take_in(feed, parsed, keep_going)
        # Validators are kept only when nothing is waiting: a 304 would hide the items left over
        # (due again at once: the next pass continues) and the pages to try again.
        complete = report.left == 0 and report.retry == 0
        await self._store.record_success(
            feed.id,
            now=iso(now),
            next_poll_at=iso(now if report.left else next_poll(now, interval)),
            title=parsed.title,
            etag=fetched.etag if complete else None,
            last_modified=fetched.last_modified if complete else None,
        )
        log.info(
            "polled feed %s: %d stored, %d duplicates, %d refused, %d to retry, %d known, %d left",
            feed.ref,
            len(report.stored),
            report.duplicates,
            report.refused,
            report.retry,
            report.known,
            report.left,
        )
        return report

    async def _take_in(
        self, feed: FeedInfo, parsed: ParsedFeed, keep_going: Callable[[], bool]
    ) -> PollReport:
        assert self._add_page is not None
        new = await self._store.new_links(feed.id, [item.link for item in parsed.items])
        limit = self._settings.feed_items_per_poll
        meta = {item.link: item.meta for item in parsed.items}
        stored: list[ArticleInfo] = []
        duplicates = refused = retry = taken = 0
        for link in new[:limit]:
            if not keep_going():  # the bot is stopping: the rest waits for the next start
                break
            taken += 1
            try:
                info = await self._add_page(link, known=meta[link])
            except ArticleRejected as rejected:
                outcome = {"duplicate": DUPLICATE, "unreachable": UNREACHABLE}.get(rejected.reason, REFUSED)
                duplicates += outcome == DUPLICATE
                refused += outcome == REFUSED
                retry += outcome == UNREACHABLE  # the page may be back by the next poll
                await self._store.record_item(feed.id, link, outcome, None)
                log.debug("feed %s item %s: %s", feed.ref, link, rejected)
                continue
            stored.append(info)
            await self._store.record_item(feed.id, link, STORED, info.id)
        return PollReport(
            feed,
            stored=tuple(stored),
            duplicates=duplicates,
            refused=refused,
            retry=retry,
            known=len(parsed.items) - len(new),
            left=len(new) - taken,
        )

    async def _failed(
        self, feed: FeedInfo, now: datetime, interval: timedelta, error: NewsbotError
    ) -> PollReport:
        failures = feed.failures + 1
        retry_at = next_retry(now, interval, failures)
        await self._store.record_failure(feed.id, now=iso(now), next_poll_at=iso(retry_at), error=str(error))
        log.warning("feed %s failed (%d in a row; next try %s): %s", feed.ref, failures, iso(retry_at), error)
        return PollReport(feed, error=str(error))

    async def _fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedFeed:
        return await fetch_feed(
            url,
            etag=etag,
            last_modified=last_modified,
            max_bytes=self._settings.max_upload_bytes,
            timeout=self._settings.fetch_timeout,
            allow_private=self._settings.allow_private_hosts,
        )

    async def _parse(self, fetched: FetchedFeed) -> ParsedFeed:
        assert fetched.body is not None
        return await self._cpu(
            parse_feed, fetched.body, url=fetched.final_url, content_type=fetched.content_type
        )
