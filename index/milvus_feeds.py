"""Followed feeds in a library in Milvus: ``FeedStore`` (``index/feeds.py``) with the SQLite
store's meaning, on the library's ``MilvusStore`` client, so every process on every machine that
shares the library shares its feeds.

Two collections, made at first use (a library made before feeds were kept in Milvus has none):
``{prefix}_feeds`` holds two kinds of rows, a feed's *follow* row (its id, URL and interval:
written when it is followed, deleted when it is unfollowed) and its *poll* row (its schedule,
validators, health and title: what polls write); ``{prefix}_feed_items`` holds every item a
feed brought, keyed by (the follow, the link).

Why these choices:
- Feed ids. Milvus has no counter (SQLite's AUTOINCREMENT), and a shared one would need a
  coordinator. A feed's id is drawn from its URL's hash, so every process gives a URL the same
  id, and it has 4 digits (``f4821``: as easy to type in ``/unfollow f4821`` as ``f3``). An id
  that another feed holds is passed over for the URL's next draw (5 digits after 8 draws, and
  so on: the ids never run out). Two processes following two feeds with one id at the same
  moment each see the other's row and both draw again (claim, then check, as
  ``index/milvus.py`` claims an article's keys).
- Milvus has no conditional write (SQLite's ``WHERE EXISTS (SELECT 1 FROM feeds ...)``): a poll
  that read a feed just before another process unfollowed it would bring the feed back if it
  rewrote the follow row. So polls never write that row: their rows are keyed by the follow's
  *generation*, a random token of each follow, and what is written for a generation unfollowed
  meanwhile lands in rows nothing reads. Following the URL again starts a new generation, with
  no items.
- A feed's ``articles`` counts its stored items whose article still has its row in the library:
  what SQLite's ``ON DELETE SET NULL`` gives, read when feeds are listed (a feed's items are few
  next to the library's articles).
- Unfollowing deletes the follow row first (the feed is unfollowed from then on), then its poll
  row and items; a kill in between leaves rows of a dead generation, which nothing reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from index.feeds import DUPLICATE, FEED_REF, STORED, UNREACHABLE, UNREACHABLE_ATTEMPTS
from index.milvus import (
    CONSISTENCY,
    IDS_PER_QUERY,
    MilvusStore,
    batches,
    clip,
    in_filter,
    mapping_errors,
    quiet,
    quoted,
)
from retrieval.feeds import FeedInfo, FeedNotFound, iso

T = TypeVar("T")
_FOLLOW, _POLL = "follow", "poll"
_DRAWS_PER_WIDTH = 8
_TEXT_BYTES = 8192  # a title or an error message, clipped; a validator longer than this is not kept
_FEED_FIELDS = [
    "pk",
    "kind",
    "generation",
    "id",
    "added",
    "url",
    "interval_minutes",
    "title",
    "added_at",
    "next_poll_at",
    "last_success_at",
    "last_error_at",
    "last_error",
    "etag",
    "last_modified",
    "failures",
]
_ITEM_FIELDS = ["pk", "generation", "link", "article_id", "outcome", "attempts", "seen_at"]


@mapping_errors
async def _in_thread(store: MilvusStore, read_or_write: Callable[[], T]) -> T:
    """``read_or_write()`` off the event loop, pymilvus's errors mapped as the store maps them."""
    return await asyncio.to_thread(read_or_write)


def feed_ids(url: str) -> Iterator[int]:
    """The ids a feed at ``url`` may take, in the order they are tried (see the module docstring)."""
    for draw in itertools.count():
        low = 10 ** (3 + draw // _DRAWS_PER_WIDTH)
        yield low + int(_hash(f"{draw}:{url}"), 16) % (9 * low)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class MilvusFeedStore:
    """``FeedStore`` in the collections beside a ``MilvusStore``'s (see the module docstring)."""

    def __init__(self, store: MilvusStore) -> None:
        self._store = store
        self.client = store.client
        self.feeds = f"{store.prefix}_feeds"
        self.items = f"{store.prefix}_feed_items"
        self._ready = False

    async def _run(self, work: Callable[[], T], *, writes: bool = False) -> T:
        """``work`` in a thread, the collections made first if missing; a write holds the
        store's write lock (milvus-lite's engine takes one writer at a time)."""
        if not self._ready:
            async with self._store.write_lock:
                await _in_thread(self._store, self._create_collections)
            self._ready = True
        if not writes:
            return await _in_thread(self._store, work)
        async with self._store.write_lock:
            return await _in_thread(self._store, work)

    def _create_collections(self) -> None:
        from pymilvus import DataType, MilvusClient

        existing = set(self.client.list_collections())
        if self.feeds not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
            s.add_field("kind", DataType.VARCHAR, max_length=8)
            s.add_field("generation", DataType.VARCHAR, max_length=32)
            s.add_field("id", DataType.INT64)
            s.add_field("added", DataType.INT64)  # microseconds since the epoch: the order of following
            s.add_field("url", DataType.VARCHAR, max_length=65535, nullable=True)
            s.add_field("interval_minutes", DataType.DOUBLE, nullable=True)
            for name in ("title", "last_error", "etag", "last_modified"):
                s.add_field(name, DataType.VARCHAR, max_length=_TEXT_BYTES, nullable=True)
            for name in ("added_at", "next_poll_at", "last_success_at", "last_error_at"):
                s.add_field(name, DataType.VARCHAR, max_length=32, nullable=True)
            s.add_field("failures", DataType.INT64)
            s.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
            self._create(self.feeds, s)
        if self.items not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=72)
            s.add_field("generation", DataType.VARCHAR, max_length=32)
            s.add_field("link", DataType.VARCHAR, max_length=65535)
            s.add_field("article_id", DataType.INT64, nullable=True)
            s.add_field("outcome", DataType.VARCHAR, max_length=16)
            s.add_field("attempts", DataType.INT64)
            s.add_field("seen_at", DataType.VARCHAR, max_length=32)
            s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
            self._create(self.items, s)
        for name in (self.feeds, self.items):
            if "Loaded" not in str(self.client.get_load_state(name).get("state")):
                self.client.load_collection(name)  # milvus-lite reopens its collections released

    def _create(self, name: str, schema: Any) -> None:
        params = self.client.prepare_index_params()
        params.add_index("v", index_type="FLAT", metric_type="L2")
        try:
            with quiet("grpc._server"):
                self.client.create_collection(
                    name, schema=schema, index_params=params, consistency_level=CONSISTENCY
                )
        except Exception:  # another process created it a moment ago
            if not self.client.has_collection(name):
                raise

    # -- reading ------------------------------------------------------------------------------

    def _follows(self, where: str = "") -> list[dict]:
        condition = f"kind == {quoted(_FOLLOW)}" + (f" and ({where})" if where else "")
        return list(self._store.scan(self.feeds, condition, _FEED_FIELDS))

    def _follow(self, feed_id: int) -> dict | None:
        """The follow row of feed ``feed_id``; None once it is unfollowed."""
        rows = self._follows(f"id == {int(feed_id)}")
        return min(rows, key=lambda r: (r["added"], r["pk"])) if rows else None

    def _polls(self, follows: Sequence[Mapping[str, Any]]) -> dict[str, dict]:
        """The poll rows of these follows, by generation."""
        pks = [f"{_POLL}:{f['generation']}" for f in follows]
        polls: dict[str, dict] = {}
        for part in batches(pks, IDS_PER_QUERY):
            rows = self._store.query(self.feeds, in_filter("pk", part), _FEED_FIELDS)
            polls.update((r["generation"], r) for r in rows)
        return polls

    def _info(self, follow: Mapping[str, Any], poll: Mapping[str, Any]) -> FeedInfo:
        generation = quoted(follow["generation"])
        stored = [
            int(r["article_id"])
            for r in self._store.scan(
                self.items,
                f"generation == {generation} and outcome == {quoted(STORED)} and article_id is not null",
                ["article_id"],
            )
        ]
        in_library: set[int] = set()  # a deleted article no longer counts
        for part in batches(sorted(set(stored)), IDS_PER_QUERY):
            in_library |= {
                int(r["id"]) for r in self._store.query(self._store.articles, in_filter("id", part), ["id"])
            }
        return FeedInfo(
            id=int(follow["id"]),
            url=follow["url"],
            title=poll.get("title"),
            interval_minutes=follow.get("interval_minutes"),
            added_at=follow["added_at"],
            next_poll_at=poll.get("next_poll_at") or follow["added_at"],
            last_success_at=poll.get("last_success_at"),
            last_error_at=poll.get("last_error_at"),
            last_error=poll.get("last_error"),
            failures=int(poll.get("failures") or 0),
            articles=sum(article_id in in_library for article_id in stored),
            items_seen=self._store.count(self.items, f"generation == {generation}"),
        )

    def _infos(self, follows: Sequence[Mapping[str, Any]]) -> list[FeedInfo]:
        polls = self._polls(follows)
        return [self._info(f, polls.get(f["generation"], {})) for f in follows]

    def _items(self, generation: str, links: Sequence[str]) -> dict[str, dict]:
        """This follow's items among ``links``, by link."""
        pks = [_item_pk(generation, link) for link in dict.fromkeys(links)]
        found: dict[str, dict] = {}
        for part in batches(pks, IDS_PER_QUERY):
            rows = self._store.query(self.items, in_filter("pk", part), _ITEM_FIELDS)
            found.update((r["link"], r) for r in rows)
        return found

    async def find(self, key: str) -> FeedInfo:
        """The feed with this URL, ref (``f4821``) or id (``4821``); ``FeedNotFound`` otherwise."""
        key = key.strip()
        number = FEED_REF.fullmatch(key)

        def read() -> FeedInfo:
            follows = sorted(self._follows(), key=lambda r: (r["added"], r["pk"]))
            by_url = [f for f in follows if f["url"] == key]
            by_id = [f for f in follows if number and int(f["id"]) == int(number[1])]
            if not (by_url or by_id):
                raise FeedNotFound(f"no followed feed is {key!r}: /feeds (or newsbot feeds list) shows them")
            return self._infos([(by_url or by_id)[0]])[0]

        return await self._run(read)

    async def all(self) -> list[FeedInfo]:
        def read() -> list[FeedInfo]:
            return self._infos(sorted(self._follows(), key=lambda r: (r["added"], r["id"])))

        return await self._run(read)

    async def due(self, now: str) -> list[FeedInfo]:
        """The feeds whose next poll is at or before ``now``, the most overdue first (what a
        feed's next poll is lives in its poll row: the feeds are few, the times compared here)."""

        def read() -> list[FeedInfo]:
            follows = self._follows()
            polls = self._polls(follows)

            def next_poll_at(follow: Mapping[str, Any]) -> str:
                return str(polls.get(follow["generation"], {}).get("next_poll_at") or follow["added_at"])

            due = [f for f in follows if next_poll_at(f) <= now]
            due.sort(key=lambda f: (next_poll_at(f), f["added"], f["id"]))  # then as followed
            return [self._info(f, polls.get(f["generation"], {})) for f in due]

        return await self._run(read)

    async def validators(self, feed_id: int) -> tuple[str | None, str | None]:
        def read() -> tuple[str | None, str | None]:
            follow = self._follow(feed_id)
            poll = self._polls([follow]).get(follow["generation"], {}) if follow else {}
            return poll.get("etag"), poll.get("last_modified")

        return await self._run(read)

    # -- writing ------------------------------------------------------------------------------

    async def add(self, url: str, title: str | None, interval_minutes: float | None) -> tuple[FeedInfo, bool]:
        def follow() -> tuple[FeedInfo, bool]:
            pk = f"{_FOLLOW}:{_hash(url)}"
            if existing := self._follows(f"pk == {quoted(pk)}"):
                return self._infos(existing)[0], False
            taken = {int(r["id"]) for r in self._follows()}
            for feed_id in feed_ids(url):
                if feed_id in taken:
                    continue
                generation = uuid.uuid4().hex
                now = datetime.now(UTC)
                poll = _feed_row(
                    f"{_POLL}:{generation}",
                    _POLL,
                    generation,
                    feed_id,
                    title=clip(title, _TEXT_BYTES),
                    next_poll_at=iso(now),  # due at once
                )
                followed = _feed_row(
                    pk,
                    _FOLLOW,
                    generation,
                    feed_id,
                    url=url,
                    interval_minutes=interval_minutes,
                    added_at=iso(now),
                    added=int(now.timestamp() * 1_000_000),
                )
                self._store.write(self.feeds, [poll], upsert=True)
                self._store.write(self.feeds, [followed], upsert=True)  # followed from here on
                if self._follows(f"id == {feed_id} and pk != {quoted(pk)}"):  # the id was taken meanwhile
                    self.client.delete(self.feeds, ids=[pk, poll["pk"]])
                    taken.add(feed_id)
                    continue
                return self._info(followed, poll), True
            raise AssertionError("feed_ids never ends")

        return await self._run(follow, writes=True)

    async def remove(self, feed_id: int) -> None:
        def remove() -> None:
            for follow in self._follows(f"id == {int(feed_id)}"):
                self.client.delete(self.feeds, ids=[follow["pk"]])  # unfollowed from here on
                self.client.delete(self.feeds, ids=[f"{_POLL}:{follow['generation']}"])
                self.client.delete(self.items, filter=f"generation == {quoted(follow['generation'])}")

        await self._run(remove, writes=True)

    async def new_links(self, feed_id: int, links: Sequence[str]) -> list[str]:
        def select() -> list[str]:
            follow = self._follow(feed_id)
            if follow is None:  # unfollowed meanwhile: its items went with it
                return list(links)
            generation = follow["generation"]
            items = self._items(generation, links)
            stored: dict[str, int] = {}
            for part in batches(list(dict.fromkeys(links)), IDS_PER_QUERY):
                where = in_filter("url", part)
                for row in self._store.query(self._store.articles, where, ["id", "url"]):
                    stored.setdefault(row["url"], int(row["id"]))
            seen_at = iso(datetime.now(UTC))
            duplicates = [
                _item_row(generation, link, stored[link], DUPLICATE, attempts=1, seen_at=seen_at)
                for link in stored
                if link not in items
            ]
            self._store.write(self.items, duplicates, upsert=True)
            items.update((row["link"], row) for row in duplicates)
            known = {
                link
                for link, row in items.items()
                if row["outcome"] != UNREACHABLE or row["attempts"] >= UNREACHABLE_ATTEMPTS
            }
            return [link for link in links if link not in known]

        return await self._run(select, writes=True)

    async def record_item(self, feed_id: int, link: str, outcome: str, article_id: int | None) -> None:
        def record() -> None:
            follow = self._follow(feed_id)
            if follow is None:  # unfollowed meanwhile: nothing
                return
            generation = follow["generation"]
            before = self._items(generation, [link]).get(link)
            row = _item_row(
                generation,
                link,
                article_id,
                outcome,
                attempts=int(before["attempts"]) + 1 if before else 1,
                seen_at=before["seen_at"] if before else iso(datetime.now(UTC)),
            )
            self._store.write(self.items, [row], upsert=True)

        await self._run(record, writes=True)

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
        def success(poll: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "last_success_at": now,
                "next_poll_at": next_poll_at,
                "title": clip(title, _TEXT_BYTES) if title is not None else poll.get("title"),
                "etag": _kept(etag),
                "last_modified": _kept(last_modified),
                "failures": 0,
                "last_error": None,
            }

        await self._run(lambda: self._update_poll(feed_id, success), writes=True)

    async def record_failure(self, feed_id: int, *, now: str, next_poll_at: str, error: str) -> None:
        def failure(poll: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "last_error_at": now,
                "last_error": clip(error, _TEXT_BYTES),
                "next_poll_at": next_poll_at,
                "failures": int(poll.get("failures") or 0) + 1,
            }

        await self._run(lambda: self._update_poll(feed_id, failure), writes=True)

    def _update_poll(self, feed_id: int, change: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        """Rewrite the feed's poll row with ``change(row)``; nothing for a feed unfollowed meanwhile."""
        follow = self._follow(feed_id)
        if follow is None:
            return
        generation = follow["generation"]
        poll = self._polls([follow]).get(generation) or _feed_row(
            f"{_POLL}:{generation}", _POLL, generation, feed_id
        )
        self._store.write(self.feeds, [{**poll, **change(poll), "v": [0.0, 0.0]}], upsert=True)


def _feed_row(pk: str, kind: str, generation: str, feed_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_FEED_FIELDS)
    row.update(pk=pk, kind=kind, generation=generation, id=feed_id, added=0, failures=0, v=[0.0, 0.0])
    row.update(values)
    return row


def _item_pk(generation: str, link: str) -> str:
    return f"{generation}:{_hash(link)}"


def _item_row(
    generation: str, link: str, article_id: int | None, outcome: str, *, attempts: int, seen_at: str
) -> dict[str, Any]:
    return {
        "pk": _item_pk(generation, link),
        "generation": generation,
        "link": link,
        "article_id": article_id,
        "outcome": outcome,
        "attempts": attempts,
        "seen_at": seen_at,
        "v": [0.0, 0.0],
    }


def _kept(validator: str | None) -> str | None:
    """A validator as it is kept: whole, or not at all (a cut one would never match)."""
    return validator if validator is None or len(validator.encode("utf-8")) <= _TEXT_BYTES else None
