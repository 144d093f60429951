"""Answering from a library in Milvus: Milvus finds the candidates, ``retrieval/`` answers.

    question -> written forms (Milvus: passages holding each word) -> canonical question
    -> embed -> dense ANN per language + BM25 (Milvus) -> candidate articles whole (Milvus)
    -> CandidateIndex (candidates + the library's sample) -> retrieval.answer.answer

No process holds the library's vectors: everything but the sample is read per question, so each
answer sees every other process's imports and deletions at once. The sample (``LibrarySample``:
about ``sample_articles`` articles with their vectors, and the articles per language) stands in
for the rest of the library in the per-language baseline and the standout. It is kept while the
library is unchanged (one small query per question: ``data_version``), checked against the
library when it changed (deleted articles leave it) and drawn again when the library has grown
or shrunk by ``RESAMPLE_SHARE``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from index.backend import RunsCpu, in_a_thread
from index.in_memory import whole_library
from index.milvus import ChunkHit, MilvusStore
from index.store import NewArticle
from retrieval.answer import answer
from retrieval.candidates import CandidateIndex, LibrarySample, counted_terms
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.corpus import CorpusIndex, written_form_of
from retrieval.dates import without_recency_words
from retrieval.encoder import Encoder
from retrieval.lexical import tokenize
from retrieval.questions import canonical_question, has_content
from retrieval.types import Answer, ArticleInfo, IndexedArticle

RESAMPLE_SHARE = 0.05


@dataclass(slots=True)
class Candidates:
    """One question's reading of the library: the canonical text, its vector, the hits and the
    index over them (the benchmark compares these with the embedded index's)."""

    text: str
    vector: np.ndarray
    hits: list[ChunkHit]
    index: CorpusIndex
    seconds: dict[str, float] = field(default_factory=dict)


class MilvusAnswerer:
    """Answers questions over a ``MilvusStore`` with the embedded pipeline's code: ``candidates``
    chunks from each search (``NEWSBOT_MILVUS_CANDIDATES``), a sample of ``sample_articles``
    (``NEWSBOT_MILVUS_SAMPLE``)."""

    def __init__(
        self,
        store: MilvusStore,
        encoder: Encoder,
        config: RetrievalConfig = DEFAULT_CONFIG,
        cpu: RunsCpu | None = None,
        *,
        candidates: int = 50,
        sample_articles: int = 1000,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.config = config
        self.candidates = candidates
        self.sample_articles = sample_articles
        self._cpu = cpu or in_a_thread
        self._sample: LibrarySample | None = None
        self._seen_version: int | None = None  # the library's ``data_version`` as of the sample
        self._own_changes = False  # this process added or deleted since the sample was checked
        self._sample_lock = asyncio.Lock()

    # -- the library's sample -----------------------------------------------------------------

    async def library_sample(self) -> LibrarySample:
        """The sample, as of the library now: unchanged (one small query) unless the library
        changed since; then the articles per language are read again, deleted articles leave
        the sample, and it is drawn again when the library has grown or shrunk by
        ``RESAMPLE_SHARE``."""
        async with self._sample_lock:
            version = await self.store.data_version()
            held = self._sample
            if held is not None and version == self._seen_version and not self._own_changes:
                return held
            self._seen_version, self._own_changes = version, False
            sizes = await self.store.language_sizes()
            total = sum(sizes.values())
            if held is None or abs(total - sum(held.sizes.values())) > RESAMPLE_SHARE * max(total, 1):
                articles = await self.store.sample(self.sample_articles)
                chunks = await self.store.chunk_count()
                self._sample = await self._cpu(
                    LibrarySample.of, sizes, chunks, articles, self.config, dim=self.store.dim
                )
            else:
                sampled = [a.info.id for a in held.index.articles]
                gone = set(sampled) - await self.store.stored_ids(sampled)
                index = await self._cpu(held.index.without_articles, gone) if gone else held.index
                self._sample = LibrarySample(sizes, held.chunks, held.chunk_length, index)
            return self._sample

    # -- one question -------------------------------------------------------------------------

    async def canonical(self, question: str) -> str:
        """``prepared_question``: the question without the words that only ask for recent news,
        with the letter case the library writes each word in (read from passages Milvus finds
        holding it, as ``CorpusIndex.written_form`` reads its own)."""
        question = without_recency_words(question)
        terms = tokenize(question)
        passages = await self.store.term_passages(terms, CorpusIndex.WRITTEN_FORM_CHUNKS)
        forms = {t: written_form_of(t, passages.get(t, [])) for t in terms}
        return canonical_question(question, lambda term: forms.get(term))

    async def read(self, question: str, *, vector: np.ndarray | None = None) -> Candidates:
        """The candidate index for ``question`` (``vector``: its embedding, when already known)."""
        started = time.perf_counter()
        library = await self.library_sample()
        text = await self.canonical(question)
        canonical_done = time.perf_counter()
        if vector is None:
            vector = (await self._cpu(self.encoder.encode_queries, [text]))[0]
        embedded = time.perf_counter()
        (hits, articles), term_df = await asyncio.gather(
            self._found(text, vector, library.sizes),
            self.store.term_frequencies(counted_terms(text, question)),  # meanwhile: needs no hit
        )
        searched = time.perf_counter()
        index = await self._cpu(CandidateIndex.over, library, articles, term_df)
        built = time.perf_counter()
        seconds = {
            "canonical": canonical_done - started,
            "embed": embedded - canonical_done,
            "milvus": searched - embedded,
            "index": built - searched,
        }
        return Candidates(text, vector, hits, index, seconds)

    async def _found(
        self, text: str, vector: np.ndarray, languages: Iterable[str]
    ) -> tuple[list[ChunkHit], list[IndexedArticle]]:
        """The hits of Milvus's searches and their articles, whole."""
        hits = await self.store.search(vector, tokenize(text), k=self.candidates, languages=languages)
        return hits, await self.store.load_articles(list(dict.fromkeys(h.article_id for h in hits)))

    async def answer(self, query: str) -> Answer:
        """The answer to ``query``, as the in-memory index would give it (``InMemoryAnswerer``)."""
        library = await self.library_sample()
        if not sum(library.sizes.values()) or not has_content(query):  # declined before any search
            return answer(library.index, query, np.zeros(self.store.dim, np.float32))
        read = await self.read(query)
        return await self._cpu(
            answer, read.index, read.text, read.vector, self.encoder.encode_passages, asked=query
        )

    # -- the library's changes ----------------------------------------------------------------

    async def refresh(self) -> tuple[int, int]:
        """Nothing to take in (each answer reads the library as it is); the sample is brought up
        to date here, off the next question's path, when the library changed."""
        if self._sample is not None:
            await self.library_sample()
        return 0, 0

    async def publish(self, infos: list[ArticleInfo], new: list[NewArticle]) -> None:
        self._own_changes = True  # found by the next question's search; the sample is checked

    async def forget(self, article_id: int) -> None:
        async with self._sample_lock:
            held = self._sample
            if held is not None and article_id in {a.info.id for a in held.index.articles}:
                index = await self._cpu(held.index.without_article, article_id)
                self._sample = LibrarySample(held.sizes, held.chunks, held.chunk_length, index)
            self._own_changes = True

    async def whole_index(self) -> CorpusIndex:
        """Every article read from Milvus with its vectors (seconds to minutes: for ``eval``,
        ``tune`` and ``bench``, never for answering)."""
        current, articles = await self.store.load_library({})
        index = await self._cpu(whole_library, current, articles, self.config)
        return index if index is not None else CorpusIndex([], self.config, dim=self.store.dim)

    async def close(self) -> None:
        """Nothing is held that the library does not have."""
