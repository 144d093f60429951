"""The followed feeds' storage: one ``FeedStore`` interface, and SQLite's (tables ``feeds`` and
``feed_items``, made by ``store.MIGRATIONS``); Milvus's is ``index/milvus_feeds.py``.
``feed_store(store)`` gives the one that keeps a library's feeds, so no caller asks which backend
holds it.

SQLite's runs on the library's own connection (``Store``) and writes the way the store does: one
``BEGIN IMMEDIATE`` transaction per change, after the store's integrity check, with SQLite's
errors about the file mapped to ``DatabaseUnavailable``. Feed logic (fetching, parsing, when to
poll) is ``feeds.py``'s; here is only what is stored and how it is found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Protocol

from index.backend import LibraryStore
from index.errors import mapping_errors
from index.store import Store
from retrieval.feeds import FeedInfo, FeedNotFound

# What became of a feed item: its article was stored; the library had it already (same link or
# text); it was refused (not an article, too large, ...; the reason is in the log); its page could
# not be reached (tried again by later polls, ``UNREACHABLE_ATTEMPTS`` times in all).
STORED, DUPLICATE, REFUSED, UNREACHABLE = "stored", "duplicate", "refused", "unreachable"
UNREACHABLE_ATTEMPTS = 3
FEED_REF = re.compile(r"[fF]?([0-9]{1,18})")  # how a command names a feed besides its URL: f3 or 3
_FEED_COLUMNS = (
    "f.id, f.url, f.title, f.interval_minutes, f.added_at, f.next_poll_at, f.last_success_at,"
    " f.last_error_at, f.last_error, f.failures,"
    f" (SELECT count(*) FROM feed_items i WHERE i.feed_id = f.id AND i.outcome = '{STORED}'"
    " AND i.article_id IS NOT NULL),"
    " (SELECT count(*) FROM feed_items i WHERE i.feed_id = f.id)"
)


class FeedStore(Protocol):
    """What is kept of the followed feeds, whichever backend holds the library: the same calls
    and the same meaning in SQLite and Milvus (``tests/test_feeds.py`` runs on both). A feed's
    ``articles`` counts the stored articles it brought that are still in the library; writes
    for a feed that was unfollowed meanwhile do nothing. Each method is a coroutine (declared
    as returning an ``Awaitable``, so that methods wrapped by an error-mapping decorator match)."""

    def add(
        self, url: str, title: str | None, interval_minutes: float | None
    ) -> Awaitable[tuple[FeedInfo, bool]]:
        """Follow ``url`` (due at once); (the feed, whether it is new). A feed followed already
        is left as it was."""
        ...

    def find(self, key: str) -> Awaitable[FeedInfo]:
        """The feed with this URL, ref (``f3``) or id (``3``); ``FeedNotFound`` otherwise."""
        ...

    def remove(self, feed_id: int) -> Awaitable[None]:
        """Stop following, its items with it; the articles the feed brought stay in the library."""
        ...

    def all(self) -> Awaitable[list[FeedInfo]]:
        """Every followed feed, in the order they were followed."""
        ...

    def due(self, now: str) -> Awaitable[list[FeedInfo]]:
        """The feeds whose next poll is at or before ``now`` (an ISO time), the most overdue first."""
        ...

    def validators(self, feed_id: int) -> Awaitable[tuple[str | None, str | None]]:
        """(ETag, Last-Modified) of the feed's last complete read, for a conditional request."""
        ...

    def new_links(self, feed_id: int, links: Sequence[str]) -> Awaitable[list[str]]:
        """Of ``links`` (in their order), those to fetch: not an item of this feed already (but
        for a page that could not be reached, ``UNREACHABLE_ATTEMPTS`` times), and not the link
        of a stored article (those are recorded as the feed's items, so the next poll does not
        ask again)."""
        ...

    def record_item(self, feed_id: int, link: str, outcome: str, article_id: int | None) -> Awaitable[None]:
        """What became of one item (``STORED`` with its article's id, ``DUPLICATE``, ...)."""
        ...

    def record_success(
        self,
        feed_id: int,
        *,
        now: str,
        next_poll_at: str,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> Awaitable[None]:
        """A poll that read the feed (or was told it is unchanged): the error and the failure
        count are cleared; ``title`` None keeps the stored one."""
        ...

    def record_failure(self, feed_id: int, *, now: str, next_poll_at: str, error: str) -> Awaitable[None]:
        """A failed poll: its error kept, one more failure in a row, the next try at ``next_poll_at``."""
        ...


def feed_store(store: LibraryStore) -> FeedStore:
    """The feed store of the library in ``store``: in the same SQLite file, or in the same Milvus."""
    if isinstance(store, Store):
        return SqliteFeedStore(store)
    from index.milvus import MilvusStore  # pymilvus is imported only when it is used

    if isinstance(store, MilvusStore):
        from index.milvus_feeds import MilvusFeedStore

        return MilvusFeedStore(store)
    raise TypeError(f"no feed store for a library kept in {type(store).__name__}")


async def copy_follows(source: LibraryStore, target: LibraryStore) -> int:
    """Follow in ``target`` every feed ``source`` follows, with its title and interval
    (``newsbot migrate``), in the order they were followed; how many ``target`` did not follow
    yet. A feed's items are not copied: its first poll in ``target`` records the items whose
    link is an article ``target`` holds (copied with the library) without fetching them."""
    into = feed_store(target)
    followed = 0
    for feed in await feed_store(source).all():
        _, new = await into.add(feed.url, feed.title, feed.interval_minutes)
        followed += new
    return followed


class SqliteFeedStore:
    """``FeedStore`` in the library's SQLite file."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._db = store._db  # the same connection: the store's transactions and ours never overlap
        self.path: Path = store.path

    async def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """The statements in one transaction: all of them, or (on any error or a kill) none."""
        async with self._store.writing():
            for sql, parameters in statements:
                await self._db.execute(sql, parameters)

    @mapping_errors
    async def add(self, url: str, title: str | None, interval_minutes: float | None) -> tuple[FeedInfo, bool]:
        await self._write(
            [
                (
                    "INSERT INTO feeds (url, title, interval_minutes) VALUES (?, ?, ?)"
                    " ON CONFLICT (url) DO NOTHING",
                    (url, title, interval_minutes),
                )
            ]
        )
        async with self._db.execute("SELECT changes()") as cur:
            row = await cur.fetchone()
        return await self.find(url), bool(row and row[0])

    @mapping_errors
    async def find(self, key: str) -> FeedInfo:
        key = key.strip()
        number = FEED_REF.fullmatch(key)
        async with self._db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds f WHERE f.url = ? OR f.id = ?"
            " ORDER BY f.url = ? DESC LIMIT 1",
            (key, int(number[1]) if number else None, key),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise FeedNotFound(f"no followed feed is {key!r}: /feeds (or newsbot feeds list) shows them")
        return _feed(row)

    @mapping_errors
    async def remove(self, feed_id: int) -> None:
        await self._write([("DELETE FROM feeds WHERE id = ?", (feed_id,))])  # items: ON DELETE CASCADE

    @mapping_errors
    async def all(self) -> list[FeedInfo]:
        async with self._db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds f ORDER BY f.id") as cur:
            return [_feed(row) async for row in cur]

    @mapping_errors
    async def due(self, now: str) -> list[FeedInfo]:
        async with self._db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds f WHERE f.next_poll_at <= ? ORDER BY f.next_poll_at, f.id",
            (now,),
        ) as cur:
            return [_feed(row) async for row in cur]

    @mapping_errors
    async def validators(self, feed_id: int) -> tuple[str | None, str | None]:
        async with self._db.execute("SELECT etag, last_modified FROM feeds WHERE id = ?", (feed_id,)) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else (None, None)

    @mapping_errors
    async def new_links(self, feed_id: int, links: Sequence[str]) -> list[str]:
        """One transaction, whatever the number of links."""
        listed = json.dumps(list(links))
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO feed_items (feed_id, link, article_id, outcome)"
                    f" SELECT ?1, a.url, a.id, '{DUPLICATE}' FROM articles a"
                    " WHERE a.url IN (SELECT value FROM json_each(?2))"
                    " AND EXISTS (SELECT 1 FROM feeds WHERE id = ?1)",  # unfollowed meanwhile: nothing
                    (feed_id, listed),
                )
            ]
        )
        async with self._db.execute(
            "SELECT value FROM json_each(?) WHERE value NOT IN"
            " (SELECT link FROM feed_items WHERE feed_id = ? AND (outcome != ? OR attempts >= ?))"
            " ORDER BY key",
            (listed, feed_id, UNREACHABLE, UNREACHABLE_ATTEMPTS),
        ) as cur:
            return [link async for (link,) in cur]

    @mapping_errors
    async def record_item(self, feed_id: int, link: str, outcome: str, article_id: int | None) -> None:
        await self._write(
            [
                (
                    "INSERT INTO feed_items (feed_id, link, article_id, outcome) SELECT ?1, ?2, ?3, ?4"
                    " WHERE EXISTS (SELECT 1 FROM feeds WHERE id = ?1)"  # unfollowed meanwhile: nothing
                    " ON CONFLICT (feed_id, link) DO UPDATE SET article_id = excluded.article_id,"
                    " outcome = excluded.outcome, attempts = attempts + 1",
                    (feed_id, link, article_id, outcome),
                )
            ]
        )

    @mapping_errors
    async def record_success(
        self,
        feed_id: int,
        *,
        now: str,
        next_poll_at: str,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> None:
        await self._write(
            [
                (
                    "UPDATE feeds SET last_success_at = ?, next_poll_at = ?, title = coalesce(?, title),"
                    " etag = ?, last_modified = ?, failures = 0, last_error = NULL WHERE id = ?",
                    (now, next_poll_at, title, etag, last_modified, feed_id),
                )
            ]
        )

    @mapping_errors
    async def record_failure(self, feed_id: int, *, now: str, next_poll_at: str, error: str) -> None:
        await self._write(
            [
                (
                    "UPDATE feeds SET last_error_at = ?, last_error = ?, next_poll_at = ?,"
                    " failures = failures + 1 WHERE id = ?",
                    (now, error, next_poll_at, feed_id),
                )
            ]
        )


def _feed(row: Sequence[Any]) -> FeedInfo:
    return FeedInfo(
        id=row[0],
        url=row[1],
        title=row[2],
        interval_minutes=row[3],
        added_at=row[4],
        next_poll_at=row[5],
        last_success_at=row[6],
        last_error_at=row[7],
        last_error=row[8],
        failures=row[9],
        articles=row[10],
        items_seen=row[11],
    )
