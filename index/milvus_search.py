"""Answering from a library in Milvus: Milvus finds the candidates, ``retrieval/`` answers.

    question -> written forms (Milvus: passages holding each word) -> canonical question
    -> embed -> dense ANN per language + BM25 (Milvus) -> candidate articles whole (Milvus)
    -> CandidateIndex (candidates + the library's sample) -> retrieval.answer.answer

The sample (``LibrarySample``: a few hundred articles per language with their vectors, and the
articles per language) is read once and again when the library has grown or shrunk by
``RESAMPLE_SHARE``; everything else is read per question, so every process sees every other
process's imports at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

import numpy as np

from index.milvus import ChunkHit, MilvusStore
from retrieval.answer import PassageEncoder, answer
from retrieval.candidates import CandidateIndex, LibrarySample, counted_terms
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.corpus import CorpusIndex, written_form_of
from retrieval.lexical import tokenize
from retrieval.questions import canonical_question, has_content
from retrieval.reports import Encoder
from retrieval.types import Answer

SAMPLE_ARTICLES = 1000  # the sample's target size (of the whole library, all languages)
CANDIDATES = 50  # chunks per search (dense per language, sentences per language, BM25)
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
    """Answers questions over a ``MilvusStore`` with the embedded pipeline's code."""

    def __init__(
        self,
        store: MilvusStore,
        encoder: Encoder,
        config: RetrievalConfig = DEFAULT_CONFIG,
        *,
        candidates: int = CANDIDATES,
        sample_articles: int = SAMPLE_ARTICLES,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.config = config
        self.candidates = candidates
        self.sample_articles = sample_articles
        self._sample: LibrarySample | None = None
        self._sample_lock = asyncio.Lock()

    async def library_sample(self) -> LibrarySample:
        """The sample, read again when the library's size has moved by ``RESAMPLE_SHARE``."""
        async with self._sample_lock:
            sizes = await self.store.language_sizes()
            total = sum(sizes.values())
            held = self._sample
            if held is None or abs(total - sum(held.sizes.values())) > RESAMPLE_SHARE * max(total, 1):
                articles = await self.store.sample(self.sample_articles)
                stats = await self.store.stats()
                self._sample = await asyncio.to_thread(
                    LibrarySample.of, sizes, stats.chunks, articles, self.config, dim=self.store.dim
                )
            else:
                self._sample = LibrarySample(sizes, held.chunks, held.chunk_length, held.index)
            return self._sample

    async def canonical(self, question: str) -> str:
        """``canonical_question`` with the letter case the whole library writes each word in."""
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
            vector = (await asyncio.to_thread(self.encoder.encode_queries, [text]))[0]
        embedded = time.perf_counter()
        hits = await self.store.search(vector, tokenize(text), k=self.candidates, languages=library.sizes)
        best: dict[int, float] = {}
        for hit in hits:
            best[hit.article_id] = max(best.get(hit.article_id, float("-inf")), hit.score)
        articles = await self.store.load_articles(list(best))
        term_df = await self.store.term_frequencies(counted_terms(text, question))
        searched = time.perf_counter()
        index = await asyncio.to_thread(CandidateIndex.over, library, articles, term_df)
        built = time.perf_counter()
        seconds = {
            "canonical": canonical_done - started,
            "embed": embedded - canonical_done,
            "milvus": searched - embedded,
            "index": built - searched,
        }
        return Candidates(text, vector, hits, index, seconds)

    async def ask(self, question: str) -> Answer:
        """The answer to ``question``, as ``Library.ask`` gives it over an embedded library."""
        started = time.perf_counter()
        question = " ".join(question.split())
        if not has_content(question):
            empty = CorpusIndex([], self.config, dim=self.store.dim)
            return answer(empty, question, np.zeros(self.store.dim, np.float32))
        read = await self.read(question)
        passages: PassageEncoder = self.encoder.encode_passages
        reply = await asyncio.to_thread(answer, read.index, read.text, read.vector, passages, asked=question)
        return _timed(reply, started)


def _timed(reply: Answer, started: float) -> Answer:
    return replace(reply, took_ms=(time.perf_counter() - started) * 1000)
