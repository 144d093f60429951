"""The async face of newsbot's core, shared by the CLI and the Telegram bot.

It owns the store (``index/backend.py``: SQLite or Milvus, the same calls), the encoder and
the in-memory index, and keeps blocking CPU work (cleaning, embedding, index building, scoring)
off the event loop in a thread pool of its own, so an admin's import never freezes answers in
other chats. The pool has one thread per core: the load test measured that more threads
(asyncio's default pool has cores + 4) only oversubscribe the CPU and make the event loop wait
longer (longest stall ~50-70 ms -> ~15 ms).
Writers are serialized by a lock; readers never wait for them: each answer runs against the
index snapshot current when it began. Adding articles is ``ingest.py``'s flow, run in this pool
and under this lock; what is here is the lifecycle (open, close, refresh, watch, snapshot),
asking, and the calls to add, delete and count.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from feeds import Feeds
from index import snapshot
from index.backend import LibraryStore, open_store
from index.feeds import FeedStore, keeps_feeds
from index.store import LibraryStats, NewArticle
from ingest import ImportSummary, Ingest
from jsonl import Shard
from retrieval.answer import answer, prepared_question
from retrieval.bm25 import LexicalIndex
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.corpus import CorpusIndex, IndexState
from retrieval.encoder import Encoder, load_encoder
from retrieval.errors import BadQuestion, LibraryUnavailable, ModelNotLoaded
from retrieval.prepare import lone_surrogate
from retrieval.questions import has_content
from retrieval.types import Answer, ArticleInfo, IndexedArticle
from settings import Settings

T = TypeVar("T")
log = logging.getLogger("newsbot.library")


class Library:
    # The index is saved beside the database at close when this many articles (and this share
    # of the library) were added or removed since the saved copy: a few changes are cheaper to
    # re-read from SQLite at the next start than to rewrite every vector.
    SNAPSHOT_MIN_CHANGES = 200
    SNAPSHOT_MIN_SHARE = 0.05

    def __init__(
        self,
        store: LibraryStore,
        encoder: Encoder,
        index: CorpusIndex,
        settings: Settings,
        *,
        unsaved: int = 0,
        data_version: int = 0,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self._index = index
        self._write_lock = asyncio.Lock()
        self._snapshot_lock = asyncio.Lock()  # one snapshot written at a time
        # Articles added or removed since the saved snapshot of the index (all of them if none).
        self._unsaved = unsaved
        self._data_version = data_version  # the database as of the index (see ``refresh``)
        self._watcher: asyncio.Task[None] | None = None
        self._cpu = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="newsbot-cpu")
        self._ingest = Ingest(
            store,
            encoder,
            settings,
            index.config,
            cpu=self._cpu_bound,
            write_lock=self._write_lock,
            publish=self._publish,
        )
        self._feeds: Feeds | None = None

    @property
    def follows_feeds(self) -> bool:
        """Whether this library can follow feeds (``index.feeds.keeps_feeds``)."""
        return keeps_feeds(self.store)

    @property
    def feeds(self) -> Feeds:
        """The followed feeds; their items' pages come in through the same ``add_url`` as /add
        URL. ``FeedsUnsupported`` (a clear message) for a library in Milvus."""
        if self._feeds is None:
            self._feeds = Feeds(
                FeedStore(self.store), self.settings, cpu=self._cpu_bound, add_page=self._ingest.add_url
            )
        return self._feeds

    @classmethod
    async def open(
        cls, settings: Settings, *, encoder: Encoder | None = None, config: RetrievalConfig = DEFAULT_CONFIG
    ) -> Library:
        # The model loads in one thread while the library loads in others: start-up is the
        # slower of the two, not their sum (the model's dimension is not needed for a library
        # that already has vectors; a mismatched model is still refused before anything is served).
        loading = asyncio.ensure_future(asyncio.to_thread(_load_model, settings)) if encoder is None else None
        store = await open_store(settings)
        try:
            saved = None
            if store.snapshot_dir is not None:
                saved = await asyncio.to_thread(
                    snapshot.load,
                    store.snapshot_dir,
                    k1=config.bm25_k1,
                    b=config.bm25_b,
                    term_candidates=LexicalIndex.TERM_CANDIDATES,
                )
            known = {} if saved is None else _live_hashes(saved)
            data_version = await store.data_version()  # before reading: a later change is seen
            current, unknown = await store.load_library(known)
            building = asyncio.ensure_future(asyncio.to_thread(_assemble, saved, current, unknown, config))
            if loading is not None:
                encoder = await loading
            assert encoder is not None
            await store.check_encoder(encoder.identity)
            index, unsaved = await building
            if index is None:
                index = CorpusIndex([], config, dim=encoder.identity.dim)
            if unchecked := await store.count_without_near_keys():
                log.warning(
                    "%s articles were stored without a date reading or a check for copies (before"
                    " newsbot kept them, or copied from Milvus): run `newsbot backfill` once",
                    f"{unchecked:,}",
                )
        except BaseException:
            await store.close()
            raise
        return cls(store, encoder, index, settings, unsaved=unsaved, data_version=data_version)

    async def close(self) -> None:
        self.stop_watching()
        try:
            enough = max(self.SNAPSHOT_MIN_CHANGES, self.SNAPSHOT_MIN_SHARE * len(self._index))
            if self._unsaved >= enough and len(self._index) and self.store.snapshot_dir is not None:
                await self.save_snapshot()
        except OSError as error:  # only start-up speed is lost: the database has everything
            log.warning("could not save the index beside the database: %s", error)
        finally:
            await self.store.close()
            self._cpu.shutdown(wait=False, cancel_futures=True)

    async def refresh(self) -> tuple[int, int]:
        """Take in what other processes changed in the database (an admin's ``newsbot import``
        while the bot runs): (articles added, articles removed). Costs one cheap query when
        nothing changed; our own writes never count (SQLite's ``data_version`` only moves for
        other connections' commits)."""
        version = await self.store.data_version()
        if version == self._data_version:
            return 0, 0
        async with self._write_lock:
            self._data_version = version
            stored = await self.store.article_hashes()
            held = {a.info.id: a.info.content_hash for a in self._index.articles}
            removed = {i for i, h in held.items() if stored.get(i) != h}
            loaded = await self.store.load_articles([i for i, h in stored.items() if held.get(i) != h])
            if removed or loaded:
                index = self._index
                self._index = await self._cpu_bound(
                    lambda: index.without_articles(removed).with_articles(loaded)
                )
                self._unsaved += len(removed) + len(loaded)
        return len(loaded), len(removed)

    def watch(self, every: float) -> None:
        """Call ``refresh`` every ``every`` seconds until ``stop_watching`` or ``close``."""
        self.stop_watching()

        async def loop() -> None:
            unavailable = False  # said once per outage, not every ``every`` seconds
            while True:
                await asyncio.sleep(every)
                try:
                    added, removed = await self.refresh()
                except LibraryUnavailable as error:  # answers go on from the index in memory
                    if not unavailable:
                        log.warning("the library's storage is unavailable (answering from memory): %s", error)
                    unavailable = True
                    continue
                except Exception:
                    log.exception("could not take in changes made by another process")
                    continue
                if unavailable:
                    log.info("the library's storage is available again")
                    unavailable = False
                if added or removed:
                    log.info("took in %d added and %d removed articles from the database", added, removed)

        self._watcher = asyncio.create_task(loop(), name="newsbot-refresh")

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def save_snapshot(self) -> None:
        """Save the index beside the database, so the next start maps it instead of rebuilding.

        The index is immutable, so adds and deletes go on while it is written (a large library
        takes seconds); the changes they make still count as unsaved afterwards."""
        folder = self.store.snapshot_dir
        if folder is None:  # the backend keeps no copy of the index (Milvus: read at each start)
            return
        async with self._snapshot_lock:
            index, pending = self._index, self._unsaved
            await self._cpu_bound(lambda: snapshot.save(folder, index.state()))
            self._unsaved -= pending

    async def _cpu_bound(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu, functools.partial(fn, *args, **kwargs))

    @property
    def index(self) -> CorpusIndex:
        return self._index

    # -- asking -------------------------------------------------------------------------------

    async def ask(self, question: str, *, context: str | None = None, asked_in: str | None = None) -> Answer:
        """Answer ``question``; ``context`` is the earlier question of a follow-up. ``asked_in``
        (a chat type: ``private``, ``group``, ...; ``inline``) is for the log line each answer
        gets, which never holds the question (DEBUG does: it may be private)."""
        started = time.perf_counter()
        question = " ".join(question.split())
        if not question:
            raise BadQuestion("empty", "ask a question, e.g. “what did Xi's letter say?”")
        for text in (question, context or ""):
            if surrogate := lone_surrogate(text):  # undecodable bytes on a command line, or JSON's "\ud800"
                raise BadQuestion(
                    "not_text", f"the question holds {surrogate}, which is not text: type it as UTF-8"
                )
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise BadQuestion(
                "too_long",
                f"that question is {len(question):,} characters long; please keep it under {limit:,}",
                length=len(question),
                limit=limit,
            )
        query = f"{context.strip()} {question}" if context else question
        index = self._index
        answer = await self._cpu_bound(self._answer, index, query)
        took = (time.perf_counter() - started) * 1000
        log.info(
            "answered in=%s took_ms=%.0f abstained=%s reason_kind=%s quotes=%d",
            asked_in or "-",
            took,
            answer.abstained,
            answer.reason_kind or "-",
            len(answer.citations),
        )
        log.debug("question (in=%s, follow-up: %s): %r", asked_in or "-", context is not None, question)
        return replace(answer, question=question, took_ms=took)

    def _answer(self, index: CorpusIndex, query: str) -> Answer:
        if not len(index) or not has_content(query):
            return answer(index, query, np.zeros(index.dim, np.float32))
        text = prepared_question(index, query)
        vector = self.encoder.encode_queries([text])[0]
        return answer(index, text, vector, self.encoder.encode_passages, asked=query)

    # -- adding (ingest.py: clean, prepare, duplicate policy, embed, store) --------------------

    async def add_text(
        self,
        raw: str,
        *,
        url: str | None = None,
        is_html: bool = False,
        markdown: bool = False,
        title: str | None = None,
    ) -> ArticleInfo:
        """``title``, the user's, wins over any the text gives (see ``clean_text``)."""
        return await self._ingest.add_text(raw, url=url, is_html=is_html, markdown=markdown, title=title)

    async def add_upload(self, data: bytes, filename: str | None, *, title: str | None = None) -> ArticleInfo:
        return await self._ingest.add_upload(data, filename, title=title)

    async def add_url(self, url: str) -> ArticleInfo:
        return await self._ingest.add_url(url)

    async def import_jsonl(
        self,
        path: Path,
        *,
        batch_size: int = 32,
        on_progress: Callable[[int, int], None] | None = None,
        shard: Shard | None = None,
    ) -> ImportSummary:
        """See ``Ingest.import_jsonl``."""
        return await self._ingest.import_jsonl(
            path, batch_size=batch_size, on_progress=on_progress, shard=shard
        )

    @property
    def last_publish_seconds(self) -> float:
        """Seconds from an article's embeddings to it being answerable (store + publish), last add."""
        return self._ingest.last_publish_seconds

    async def _publish(self, infos: list[ArticleInfo], new: list[NewArticle]) -> None:
        indexed = [
            IndexedArticle.from_spans(
                info,
                n.prepared.text,
                [(s.start, s.end) for s in n.prepared.sentences],
                [(c.first, c.last) for c in n.prepared.chunks],
                n.sentence_vectors,
                n.chunk_vectors,
            )
            for info, n in zip(infos, new, strict=True)
        ]
        self._index = await self._cpu_bound(self._index.with_articles, indexed)
        self._unsaved += len(indexed)

    # -- reading and deleting -------------------------------------------------------------------

    async def delete(self, ref: str) -> ArticleInfo:
        async with self._write_lock:
            info = await self.store.delete(ref)
            self._index = await self._cpu_bound(self._index.without_article, info.id)
            self._unsaved += 1
        log.info("deleted ref=%s title=%r", info.ref, info.title)
        return info

    async def article(self, ref: str) -> tuple[ArticleInfo, str]:
        return await self.store.article(ref)

    async def recent(
        self, limit: int = 10, *, since: str | None = None, until: str | None = None
    ) -> list[ArticleInfo]:
        """The newest articles by publication date, those dated from ``since`` to ``until``."""
        return await self.store.recent(limit, since=since, until=until)

    async def stats(self) -> LibraryStats:
        return await self.store.stats()


def _load_model(settings: Settings) -> Encoder:
    """The configured encoder, or ``ModelNotLoaded`` saying why in one line."""
    try:
        return load_encoder(
            settings.model,
            settings.model_cache,
            threads=settings.encoder_threads,
            backend=settings.encoder_backend,
        )
    except (OSError, ValueError, ImportError, RuntimeError) as error:  # not our own bugs
        model = settings.model
        if isinstance(error, OSError) and model != "bundled" and not Path(model).expanduser().exists():
            why = "no such folder, and no such model in the local Hugging Face cache"
            why += " (newsbot never downloads one)"
        else:
            why = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelNotLoaded(f"could not load the model {model} (NEWSBOT_MODEL): {why}") from error


def _live_hashes(state: IndexState) -> dict[int, str]:
    """Article id -> content hash of the articles a saved index holds."""
    ids = state.article_ids[state.alive].tolist()
    hashes = [h for h, alive in zip(state.content_hashes, state.alive.tolist(), strict=True) if alive]
    return dict(zip(ids, hashes, strict=True))


def _assemble(
    saved: IndexState | None,
    current: dict[int, tuple[ArticleInfo, str]],
    unknown: list[IndexedArticle],
    config: RetrievalConfig,
) -> tuple[CorpusIndex | None, int]:
    """(The index of the database's articles, how many of them the saved index lacked or held
    stale): the saved index with its stale slots dropped and the rest read from SQLite, or, with
    nothing saved, a build from SQLite alone (None for an empty library)."""
    if saved is None:
        if not unknown:
            return None, 0
        return CorpusIndex(unknown, config, dim=unknown[0].chunk_vectors.shape[1]), len(unknown)
    index = CorpusIndex.restore(saved, current, config)
    stale = int(saved.alive.sum()) - len(index)
    return index.with_articles(unknown), stale + len(unknown)
