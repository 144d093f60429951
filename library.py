"""The async face of newsbot's core, shared by the CLI and the Telegram bot.

It owns the store (``index/backend.py``: SQLite or Milvus, the same calls), the encoder and
the store's answerer (``Answerer``: SQLite's answers from an index of the whole library in
memory, Milvus's from the candidates Milvus finds per question), and keeps blocking CPU work
(cleaning, embedding, index building, scoring) off the event loop in a thread pool of its own,
so an admin's import never freezes answers in other chats. The pool has one thread per core:
the load test measured that more threads (asyncio's default pool has cores + 4) only
oversubscribe the CPU and make the event loop wait longer (longest stall ~50-70 ms -> ~15 ms).
Writers are serialized by a lock; readers never wait for them: each answer runs against the
index (or the candidates) current when it began. Adding articles is ``ingest.py``'s flow, run in this pool
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

from feeds import Feeds
from index.backend import Answerer, LibraryStore, open_store
from index.feeds import feed_store
from index.in_memory import InMemoryAnswerer
from index.store import LibraryStats
from ingest import ImportSummary, Ingest
from jsonl import Shard
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.corpus import CorpusIndex
from retrieval.encoder import Encoder, load_encoder
from retrieval.errors import BadQuestion, LibraryUnavailable, ModelNotLoaded
from retrieval.prepare import lone_surrogate
from retrieval.types import Answer, ArticleInfo
from settings import Settings

T = TypeVar("T")
log = logging.getLogger("newsbot.library")


class Library:
    def __init__(
        self,
        store: LibraryStore,
        encoder: Encoder,
        answerer: Answerer,
        settings: Settings,
        config: RetrievalConfig,
        cpu: ThreadPoolExecutor,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.answerer = answerer
        self.settings = settings
        self.config = config
        self._write_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._cpu = cpu
        self._ingest = Ingest(
            store,
            encoder,
            settings,
            config,
            cpu=self._cpu_bound,
            write_lock=self._write_lock,
            publish=answerer.publish,
        )
        self._feeds: Feeds | None = None

    @property
    def feeds(self) -> Feeds:
        """The followed feeds, kept beside the library (SQLite or Milvus); their items' pages
        come in through the same ``add_url`` as /add URL."""
        if self._feeds is None:
            self._feeds = Feeds(
                feed_store(self.store), self.settings, cpu=self._cpu_bound, add_page=self._ingest.add_url
            )
        return self._feeds

    @classmethod
    async def open(
        cls, settings: Settings, *, encoder: Encoder | None = None, config: RetrievalConfig = DEFAULT_CONFIG
    ) -> Library:
        # The model loads in one thread while the library is read in others: start-up is the
        # slower of the two, not their sum (the model's dimension is not needed for a library
        # that already has vectors; a mismatched model is still refused before anything is served).
        if encoder is None:
            loading: asyncio.Future[Encoder] = asyncio.ensure_future(asyncio.to_thread(_load_model, settings))
        else:
            loading = asyncio.get_running_loop().create_future()
            loading.set_result(encoder)
        store = await open_store(settings)
        cpu = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="newsbot-cpu")
        try:
            answerer = await store.answerer(loading, config, functools.partial(_run_in, cpu))
            ready = await loading
            await store.check_encoder(ready.identity)  # after the reading: one connection, in turn
            if unchecked := await store.count_without_near_keys():
                log.warning(
                    "%s articles were stored without a date reading or a check for copies (before"
                    " newsbot kept them, or copied from Milvus): run `newsbot backfill` once",
                    f"{unchecked:,}",
                )
        except BaseException:
            loading.cancel()  # a thread loading the model runs on; its result is not awaited
            await store.close()
            cpu.shutdown(wait=False, cancel_futures=True)
            raise
        return cls(store, ready, answerer, settings, config, cpu)

    async def close(self) -> None:
        self.stop_watching()
        try:
            await self.answerer.close()
        finally:
            await self.store.close()
            self._cpu.shutdown(wait=False, cancel_futures=True)

    async def refresh(self) -> tuple[int, int]:
        """Take in what other processes changed in the library (an admin's ``newsbot import``
        while the bot runs): (articles added, articles removed). Costs one cheap query when
        nothing changed; our own writes never count. (Answers from Milvus's candidates see other
        processes' changes at once: there is nothing held to take them in.)"""
        async with self._write_lock:
            return await self.answerer.refresh()

    def watch(self, every: float) -> None:
        """Call ``refresh`` every ``every`` seconds until ``stop_watching`` or ``close``."""
        self.stop_watching()

        async def loop() -> None:
            unavailable = False  # said once per outage, not every ``every`` seconds
            while True:
                await asyncio.sleep(every)
                try:
                    added, removed = await self.refresh()
                except LibraryUnavailable as error:  # SQLite's answers go on from the index in memory
                    if not unavailable:
                        log.warning("the library's storage is unavailable: %s", error)
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

    async def _cpu_bound(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await _run_in(self._cpu, fn, *args, **kwargs)

    @property
    def index(self) -> CorpusIndex:
        """The index of the whole library held in memory (SQLite); a library in Milvus holds
        none (``whole_index`` reads one)."""
        if not isinstance(self.answerer, InMemoryAnswerer):  # not answers_from_whole_index: narrowed
            raise TypeError("a library in Milvus holds no index in memory: use `await whole_index()`")
        return self.answerer.index

    @property
    def answers_from_whole_index(self) -> bool:
        """Whether answers come from an index of every article (SQLite), or from the candidates
        the store finds for each question (Milvus), which ``eval`` then scores apart."""
        return isinstance(self.answerer, InMemoryAnswerer)

    async def whole_index(self) -> CorpusIndex:
        """Every article with its vectors as one index, for what needs them all (``eval``,
        ``tune``, ``bench``): the index held in memory, or, in Milvus, one read for the occasion."""
        return await self.answerer.whole_index()

    async def save_snapshot(self) -> None:
        """Save the in-memory index beside the database (nothing for a library in Milvus)."""
        if isinstance(self.answerer, InMemoryAnswerer):
            await self.answerer.save_snapshot()

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
        answer = await self.answerer.answer(query)
        took = (time.perf_counter() - started) * 1000
        log.info(
            "answered in=%s took_ms=%.0f abstained=%s reason_kind=%s quotes=%d caveat=%s",
            asked_in or "-",
            took,
            answer.abstained,
            answer.reason_kind or "-",
            len(answer.citations),
            answer.caveat or "-",
        )
        log.debug("question (in=%s, follow-up: %s): %r", asked_in or "-", context is not None, question)
        return replace(answer, question=question, took_ms=took)

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

    # -- reading and deleting -------------------------------------------------------------------

    async def delete(self, ref: str) -> ArticleInfo:
        async with self._write_lock:
            info = await self.store.delete(ref)
            await self.answerer.forget(info.id)
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


async def _run_in(pool: ThreadPoolExecutor, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args, **kwargs))
