"""The in-memory hybrid index and the answer pipeline: fuse BM25 and dense evidence per
article, then quote the sentences that answer, or abstain.

A ``CorpusIndex`` is immutable: adding or removing an article builds a new one, so a question
being answered in a worker thread always sees one consistent library while an import runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.bm25 import LexicalIndex
from retrieval.config import RetrievalConfig
from retrieval.fusion import convex, reciprocal_rank
from retrieval.lexical import tokenize
from retrieval.sentences import detect_language
from retrieval.types import Answer, Citation, IndexedArticle


@dataclass(frozen=True, slots=True)
class RankedArticles:
    """Per-article evidence for one question, best first (indices into the index's articles)."""

    order: np.ndarray
    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    sentence_dense: np.ndarray  # cosine of every sentence in the library
    terms: list[str]


class CorpusIndex:
    def __init__(
        self,
        articles: Sequence[IndexedArticle],
        config: RetrievalConfig,
        *,
        dim: int,
        _tokens: dict[int, list[list[str]]] | None = None,
    ) -> None:
        self.config = config
        self.dim = dim
        self.articles = tuple(articles)
        tokens = dict(_tokens or {})
        for a in self.articles:
            if a.info.id not in tokens:
                title = a.info.title or ""
                # The title's terms count for every chunk: a headline is the article's summary.
                tokens[a.info.id] = [tokenize(f"{title} {c.text}") for c in a.chunks]
        self._tokens = {a.info.id: tokens[a.info.id] for a in self.articles}
        self.lexical = LexicalIndex(
            [t for a in self.articles for t in self._tokens[a.info.id]], k1=config.bm25_k1, b=config.bm25_b
        )
        self.chunk_vectors = _stack([a.chunk_vectors for a in self.articles], dim)
        self.sentence_vectors = _stack([a.sentence_vectors for a in self.articles], dim)
        self.chunk_offsets = _offsets([len(a.chunks) for a in self.articles])
        self.sentence_offsets = _offsets([len(a.sentences) for a in self.articles])
        languages = np.array([a.info.lang for a in self.articles])
        self._language_rows = [np.flatnonzero(languages == lang) for lang in sorted(set(languages.tolist()))]

    def __len__(self) -> int:
        return len(self.articles)

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_vectors)

    def with_articles(self, added: Sequence[IndexedArticle]) -> CorpusIndex:
        ids = {a.info.id for a in added}
        kept = [a for a in self.articles if a.info.id not in ids]
        return CorpusIndex([*kept, *added], self.config, dim=self.dim, _tokens=self._tokens)

    def without_article(self, article_id: int) -> CorpusIndex:
        return self.without_articles({article_id})

    def without_articles(self, article_ids: set[int]) -> CorpusIndex:
        kept = [a for a in self.articles if a.info.id not in article_ids]
        return CorpusIndex(kept, self.config, dim=self.dim, _tokens=self._tokens)

    def with_config(self, config: RetrievalConfig) -> CorpusIndex:
        """The same articles under other tunables (evaluation compares configurations this way)."""
        return CorpusIndex(self.articles, config, dim=self.dim, _tokens=self._tokens)

    def rank(self, question: str, query_vector: np.ndarray) -> RankedArticles:
        """Score every article densely (best chunk and best sentence, language bias removed) and
        lexically (its best chunk's scaled BM25), then fuse the two as the config says."""
        cfg = self.config
        terms = tokenize(question)
        chunk_dense = self.chunk_vectors @ query_vector
        sentence_dense = self.sentence_vectors @ query_vector
        best_chunk = np.maximum.reduceat(chunk_dense, self.chunk_offsets[:-1])
        best_sentence = np.maximum.reduceat(sentence_dense, self.sentence_offsets[:-1])
        dense = cfg.chunk_weight * best_chunk + (1 - cfg.chunk_weight) * best_sentence
        if cfg.language_prior_articles:
            dense = dense - self._language_baseline(dense)
        lexical = np.maximum.reduceat(self.lexical.scaled_scores(terms), self.chunk_offsets[:-1])
        if cfg.fusion == "rrf":
            fused = reciprocal_rank([dense, lexical], k=cfg.rrf_k)
        elif cfg.fusion == "dense":
            fused = dense
        elif cfg.fusion == "bm25":
            fused = lexical
        else:
            fused = convex(dense, lexical, cfg.bm25_weight)
        order = np.argsort(-fused, kind="stable")
        return RankedArticles(order, fused, dense, lexical, sentence_dense, terms)

    def _language_baseline(self, dense: np.ndarray) -> np.ndarray:
        """Each article's expected cosine for this query given the article's language.

        e5 scores a question higher against any text in its own language, so an English question
        ranks unrelated English articles above the Indonesian one that answers it. Subtracting
        the query's mean cosine per article language removes that bias. The mean is shrunk
        towards the overall mean by ``language_prior_articles`` pseudo-articles, so a language
        with few articles in the library is barely corrected (its mean would mostly be noise).
        """
        overall = float(dense.mean())
        k = self.config.language_prior_articles
        baseline = np.empty_like(dense)
        for rows in self._language_rows:
            baseline[rows] = (float(dense[rows].sum()) + k * overall) / (len(rows) + k)
        return baseline

    def answer(self, question: str, query_vector: np.ndarray) -> Answer:
        """Quote the 1-3 sentences that best answer ``question``, or abstain saying why."""
        if not self.articles:
            return Answer(question, (), (), True, "the library is empty: add an article first")
        cfg = self.config
        ranked = self.rank(question, query_vector)
        refs = tuple(self.articles[i].info.ref for i in ranked.order[: max(cfg.ranked_articles, 1)])
        candidates = self._score_sentences(ranked)
        if not candidates or candidates[0][0] < self._evidence_bar(question, candidates[0][1]):
            return Answer(question, (), refs, True, self._abstain_reason(ranked))
        best = candidates[0][0]
        chosen: list[tuple[float, int, int]] = []
        seen_texts: set[str] = set()
        for score, article_index, sentence_index in candidates:
            if len(chosen) == cfg.max_sentences or score < best - cfg.sentence_margin:
                break
            text = self.articles[article_index].sentences[sentence_index].text
            if text in seen_texts:
                continue
            seen_texts.add(text)
            chosen.append((score, article_index, sentence_index))
        citations = tuple(
            Citation(
                text=self.articles[a].sentences[s].text,
                score=score,
                article=self.articles[a].info,
                sentence_index=s,
            )
            for score, a, s in chosen
        )
        return Answer(question, citations, refs, False, None)

    def _evidence_bar(self, question: str, article_index: int) -> float:
        """The evidence an answer needs: cross-lingual cosines run lower, so their bar is lower."""
        asked_in = detect_language(question)
        quoted_in = self.articles[article_index].info.lang
        same = asked_in in ("und", quoted_in)
        return self.config.min_evidence if same else self.config.min_evidence_cross_lingual

    def _score_sentences(self, ranked: RankedArticles) -> list[tuple[float, int, int]]:
        """(evidence score, article index, sentence index) for sentences of the top articles."""
        cfg = self.config
        idf = self._idf(ranked.terms)
        total_idf = sum(idf.values())
        top_fused = float(ranked.fused[ranked.order[0]])
        scored = []
        for article_index in ranked.order[: cfg.answer_articles]:
            article = self.articles[article_index]
            prior = cfg.article_prior_weight * (float(ranked.fused[article_index]) - top_fused)
            first = self.sentence_offsets[article_index]
            for s, sentence in enumerate(article.sentences):
                overlap = 0.0
                if total_idf > 0:
                    present = set(tokenize(sentence.text))
                    overlap = sum(w for t, w in idf.items() if t in present) / total_idf
                evidence = float(ranked.sentence_dense[first + s]) + cfg.sentence_lexical_weight * overlap
                scored.append((evidence + prior, evidence, int(article_index), s))
        scored.sort(key=lambda x: -x[0])
        return [(evidence, a, s) for _, evidence, a, s in scored]

    def _idf(self, terms: list[str]) -> dict[str, float]:
        return {t: self.lexical.idf(t) for t in dict.fromkeys(self.lexical.known_terms(terms))}

    def _abstain_reason(self, ranked: RankedArticles) -> str:
        known = set(self.lexical.known_terms(ranked.terms))
        missing = [t for t in dict.fromkeys(ranked.terms) if t not in known]
        if missing:
            shown = ", ".join(f"“{t}”" for t in missing[:5])
            return f"nothing in the library mentions {shown}"
        return "nothing in the library answers this closely enough to quote"


def _stack(blocks: list[np.ndarray], dim: int) -> np.ndarray:
    if not blocks:
        return np.zeros((0, dim), np.float32)
    return np.ascontiguousarray(np.vstack(blocks), dtype=np.float32)


def _offsets(counts: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
