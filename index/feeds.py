"""The followed feeds' SQL (tables ``feeds`` and ``feed_items``, made by ``store.MIGRATIONS``).

It runs on the library's own connection (``Store``) and writes the way the store does: one
``BEGIN IMMEDIATE`` transaction per change, after the store's integrity check, with SQLite's
errors about the file mapped to ``DatabaseUnavailable``. Feed logic (fetching, parsing, when to
poll) is ``feeds.py``'s; here is only what is stored and how it is found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.backend import LibraryStore
from index.errors import mapping_errors
from index.store import Store
from retrieval.errors import NewsbotError
from retrieval.feeds import FeedInfo, FeedNotFound

# What became of a feed item: its article was stored; the library had it already (same link or
# text); it was refused (not an article, too large, ...; the reason is in the log); its page could
# not be reached (tried again by later polls, ``UNREACHABLE_ATTEMPTS`` times in all).
STORED, DUPLICATE, REFUSED, UNREACHABLE = "stored", "duplicate", "refused", "unreachable"
UNREACHABLE_ATTEMPTS = 3
_FEED_REF = re.compile(r"[fF]?([0-9]{1,18})")
_FEED_COLUMNS = (
    "f.id, f.url, f.title, f.interval_minutes, f.added_at, f.next_poll_at, f.last_success_at,"
    " f.last_error_at, f.last_error, f.failures,"
    f" (SELECT count(*) FROM feed_items i WHERE i.feed_id = f.id AND i.outcome = '{STORED}'"
    " AND i.article_id IS NOT NULL),"
    " (SELECT count(*) FROM feed_items i WHERE i.feed_id = f.id)"
)


class FeedsUnsupported(NewsbotError):
    """Feed state lives in the SQLite library; a library in Milvus keeps none yet."""


def keeps_feeds(store: LibraryStore) -> bool:
    """Whether ``store`` can hold followed feeds: a SQLite library (Milvus keeps no feed state yet)."""
    return isinstance(store, Store)


class FeedStore:
    def __init__(self, store: LibraryStore) -> None:
        if not isinstance(store, Store):  # keeps_feeds, spelled out so the type narrows
            raise FeedsUnsupported(
                f"following feeds needs the SQLite library (NEWSBOT_INDEX=sqlite); the library at "
                f"{store.location} is in Milvus, which keeps no feed state yet"
            )
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
        """Follow ``url`` (due at once); (the feed, whether it is new). A feed followed already
        is left as it was."""
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
        """The feed with this URL, ref (``f3``) or id (``3``); ``FeedNotFound`` otherwise."""
        key = key.strip()
        number = _FEED_REF.fullmatch(key)
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
        """Stop following; the articles the feed brought stay in the library."""
        await self._write([("DELETE FROM feeds WHERE id = ?", (feed_id,))])

    @mapping_errors
    async def all(self) -> list[FeedInfo]:
        async with self._db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds f ORDER BY f.id") as cur:
            return [_feed(row) async for row in cur]

    @mapping_errors
    async def due(self, now: str) -> list[FeedInfo]:
        """The feeds whose next poll is at or before ``now`` (an ISO time), the most overdue first."""
        async with self._db.execute(
            f"SELECT {_FEED_COLUMNS} FROM feeds f WHERE f.next_poll_at <= ? ORDER BY f.next_poll_at, f.id",
            (now,),
        ) as cur:
            return [_feed(row) async for row in cur]

    @mapping_errors
    async def validators(self, feed_id: int) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) of the feed's last complete read, for a conditional request."""
        async with self._db.execute("SELECT etag, last_modified FROM feeds WHERE id = ?", (feed_id,)) as cur:
            row = await cur.fetchone()
        return (row[0], row[1]) if row else (None, None)

    @mapping_errors
    async def new_links(self, feed_id: int, links: Sequence[str]) -> list[str]:
        """Of ``links`` (in their order), those to fetch: not an item of this feed already (but
        for a page that could not be reached, a few times), and
        not the link of a stored article (those are recorded as the feed's items here, so the
        next poll does not ask again). One transaction, whatever the number of links."""
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
        """A poll that read the feed (or was told it is unchanged): the error and the failure
        count are cleared; ``title`` None keeps the stored one."""
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
