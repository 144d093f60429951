"""Okapi BM25 over chunks with ``rank_bm25``, plus a per-query upper bound to scale scores.

``rank_bm25`` divides by the corpus size, so an empty corpus is never handed to it.
"""

from __future__ import annotations

import numpy as np
from rank_bm25 import BM25Okapi


class LexicalIndex:
    """Exact Okapi BM25 scores of every chunk, and the same scaled to [0, 1] per query."""

    def __init__(self, tokenized_chunks: list[list[str]], *, k1: float, b: float) -> None:
        self._size = len(tokenized_chunks)
        self._k1 = k1
        self._bm25 = BM25Okapi(tokenized_chunks, k1=k1, b=b) if tokenized_chunks else None

    def __len__(self) -> int:
        return self._size

    def scores(self, query_terms: list[str]) -> np.ndarray:
        if self._bm25 is None or not query_terms:
            return np.zeros(self._size, np.float64)
        return np.asarray(self._bm25.get_scores(query_terms), np.float64)

    def upper_bound(self, query_terms: list[str]) -> float:
        """The score a chunk would get by saturating every query term: sum of idf x (k1 + 1)."""
        if self._bm25 is None:
            return 0.0
        return sum(self.idf(t) * (self._k1 + 1) for t in query_terms)

    def scaled_scores(self, query_terms: list[str]) -> np.ndarray:
        bound = self.upper_bound(query_terms)
        if bound <= 0:
            return np.zeros(self._size, np.float64)
        return np.clip(self.scores(query_terms) / bound, 0.0, 1.0)

    def idf(self, term: str) -> float:
        """Okapi idf of ``term`` (0 for unknown terms; rank_bm25 floors negative ones)."""
        if self._bm25 is None:
            return 0.0
        return max(float(self._bm25.idf.get(term, 0.0)), 0.0)

    def known_terms(self, query_terms: list[str]) -> list[str]:
        if self._bm25 is None:
            return []
        return [t for t in query_terms if t in self._bm25.idf]
