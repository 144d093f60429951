"""Answering from an index of the whole library held in memory (the SQLite backend's way).

Every article's vectors and BM25 postings are read at start (from the saved snapshot beside the
database where it is current, the rest from the store), and the index is kept current: this
process's adds and deletes go in as they happen (``publish``, ``forget``), other processes' on
``refresh``. Each answer runs against the index snapshot current when it began, so readers never
wait for writers. The index is saved beside the database at close when enough has changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from pathlib import Path

import numpy as np

from index import snapshot
from index.backend import LibraryStore, RunsCpu
from index.store import NewArticle
from retrieval.answer import answer, prepared_question
from retrieval.bm25 import LexicalIndex
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex, IndexState
from retrieval.encoder import Encoder
from retrieval.questions import has_content
from retrieval.types import Answer, ArticleInfo, IndexedArticle

log = logging.getLogger("newsbot.library")


class InMemoryAnswerer:
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
        cpu: RunsCpu,
        *,
        snapshot_dir: Path | None,
        unsaved: int = 0,
        data_version: int = 0,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.index = index
        self.snapshot_dir = snapshot_dir
        self._cpu = cpu
        # Articles added or removed since the saved snapshot of the index (all of them if none).
        self.unsaved = unsaved
        self._data_version = data_version  # the database as of the index (see ``refresh``)
        self._snapshot_lock = asyncio.Lock()  # one snapshot written at a time

    @classmethod
    async def open(
        cls,
        store: LibraryStore,
        encoder: Awaitable[Encoder],
        config: RetrievalConfig,
        cpu: RunsCpu,
        *,
        snapshot_dir: Path | None,
    ) -> InMemoryAnswerer:
        """The index of ``store``'s library: the saved snapshot's slots that are still current,
        and the rest read from the store. The model may load meanwhile (``encoder``): its
        dimension is needed only for an empty library."""
        saved = None
        if snapshot_dir is not None:
            saved = await asyncio.to_thread(
                snapshot.load,
                snapshot_dir,
                k1=config.bm25_k1,
                b=config.bm25_b,
                term_candidates=LexicalIndex.TERM_CANDIDATES,
            )
        known = {} if saved is None else _live_hashes(saved)
        data_version = await store.data_version()  # before reading: a later change is seen
        current, unknown = await store.load_library(known)
        index, unsaved = await asyncio.to_thread(_assemble, saved, current, unknown, config)
        ready = await encoder
        if index is None:
            index = CorpusIndex([], config, dim=ready.identity.dim)
        return cls(
            store, ready, index, cpu, snapshot_dir=snapshot_dir, unsaved=unsaved, data_version=data_version
        )

    async def answer(self, query: str) -> Answer:
        return await self._cpu(self._answer, self.index, query)

    def _answer(self, index: CorpusIndex, query: str) -> Answer:
        if not len(index) or not has_content(query):
            return answer(index, query, np.zeros(index.dim, np.float32))
        text = prepared_question(index, query)
        vector = self.encoder.encode_queries([text])[0]
        return answer(index, text, vector, self.encoder.encode_passages, asked=query)

    async def refresh(self) -> tuple[int, int]:
        """Costs one cheap query when nothing changed; our own writes never count (SQLite's
        ``data_version`` only moves for other connections' commits)."""
        version = await self.store.data_version()
        if version == self._data_version:
            return 0, 0
        self._data_version = version
        stored = await self.store.article_hashes()
        held = {a.info.id: a.info.content_hash for a in self.index.articles}
        removed = {i for i, h in held.items() if stored.get(i) != h}
        loaded = await self.store.load_articles([i for i, h in stored.items() if held.get(i) != h])
        if removed or loaded:
            index = self.index
            self.index = await self._cpu(lambda: index.without_articles(removed).with_articles(loaded))
            self.unsaved += len(removed) + len(loaded)
        return len(loaded), len(removed)

    async def publish(self, infos: list[ArticleInfo], new: list[NewArticle]) -> None:
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
        self.index = await self._cpu(self.index.with_articles, indexed)
        self.unsaved += len(indexed)

    async def forget(self, article_id: int) -> None:
        self.index = await self._cpu(self.index.without_article, article_id)
        self.unsaved += 1

    async def whole_index(self) -> CorpusIndex:
        return self.index

    async def close(self) -> None:
        """Saves the index when enough changed since the saved copy (only start-up speed is lost
        if that fails: the database has everything)."""
        try:
            enough = max(self.SNAPSHOT_MIN_CHANGES, self.SNAPSHOT_MIN_SHARE * len(self.index))
            if self.unsaved >= enough and len(self.index):
                await self.save_snapshot()
        except OSError as error:
            log.warning("could not save the index beside the database: %s", error)

    async def save_snapshot(self) -> None:
        """Save the index beside the database, so the next start maps it instead of rebuilding.

        The index is immutable, so adds and deletes go on while it is written (a large library
        takes seconds); the changes they make still count as unsaved afterwards."""
        folder = self.snapshot_dir
        if folder is None:
            return
        async with self._snapshot_lock:
            index, pending = self.index, self.unsaved
            await self._cpu(lambda: snapshot.save(folder, index.state()))
            self.unsaved -= pending


def _live_hashes(state: IndexState) -> dict[int, str]:
    """Article id -> content hash of the articles a saved index holds."""
    ids = state.article_ids[state.alive].tolist()
    hashes = [h for h, alive in zip(state.content_hashes, state.alive.tolist(), strict=True) if alive]
    return dict(zip(ids, hashes, strict=True))


def _assemble(
    saved: IndexState | None,
    current: Mapping[int, tuple[ArticleInfo, str]],
    unknown: list[IndexedArticle],
    config: RetrievalConfig,
) -> tuple[CorpusIndex | None, int]:
    """(The index of the database's articles, how many of them the saved index lacked or held
    stale): the saved index with its stale slots dropped and the rest read from the store, or,
    with nothing saved, a build from the store alone (None for an empty library)."""
    if saved is None:
        if not unknown:
            return None, 0
        return CorpusIndex(unknown, config, dim=unknown[0].chunk_vectors.shape[1]), len(unknown)
    index = CorpusIndex.restore(saved, current, config)
    stale = int(saved.alive.sum()) - len(index)
    return index.with_articles(unknown), stale + len(unknown)


def whole_library(
    current: Mapping[int, tuple[ArticleInfo, str]], articles: list[IndexedArticle], config: RetrievalConfig
) -> CorpusIndex | None:
    """An index of ``articles`` (a store's ``load_library({})``), None for an empty library."""
    return _assemble(None, current, articles, config)[0]
