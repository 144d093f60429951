"""Rank fusion functions: small, pure, side by side (after txtai's hybrid.py)."""

from __future__ import annotations

import numpy as np


def reciprocal_rank(scores: list[np.ndarray], k: int = 60) -> np.ndarray:
    """RRF over the same candidates: sum of 1 / (k + rank), rank 1 = best in each list."""
    fused = np.zeros(len(scores[0]), np.float64)
    for s in scores:
        ranks = np.empty(len(s), np.int64)
        ranks[np.argsort(-s, kind="stable")] = np.arange(1, len(s) + 1)
        fused += 1.0 / (k + ranks)
    return fused


def convex(dense: np.ndarray, lexical: np.ndarray, lexical_weight: float) -> np.ndarray:
    """Dense cosine plus a weighted lexical score already scaled to [0, 1].

    Adding to the raw cosine (rather than min-max normalizing it per query) keeps the fused
    score comparable across questions, which is what the abstention threshold needs.
    """
    return dense + lexical_weight * lexical
