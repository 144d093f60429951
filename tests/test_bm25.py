"""The scalable BM25 index gives exactly ``rank_bm25.BM25Okapi``'s scores over the whole corpus,
stays exact as chunks are added and removed, and finds every chunk that holds a query term."""

from __future__ import annotations

import inspect
import random
import re
from importlib.metadata import version

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from tests_support import SEED

from retrieval.bm25 import CandidateOkapi, LexicalIndex
from retrieval.lexical import tokenize

K1, B = 0.9, 0.4


def _corpus() -> list[list[str]]:
    """Real text in chunks of uneven length, with terms in over half the chunks (negative idf)."""
    words = tokenize(SEED.read_text(encoding="utf-8"))
    rng = random.Random(7)
    chunks = []
    for _ in range(60):
        start = rng.randrange(len(words) - 40)
        chunk = words[start : start + rng.randrange(5, 40)]
        chunks.append([*chunk, "umum"] if rng.random() < 0.7 else chunk)
    return chunks


QUERIES = [
    ["surat", "xi", "jinping"],
    ["korea", "utara", "umum"],
    ["umum"],
    ["perdagangan", "persen", "china", "china"],
    ["tidakada", "xi"],
]


def _reference(chunks: list[list[str]], query: list[str]) -> np.ndarray:
    return np.asarray(BM25Okapi(chunks, k1=K1, b=B).get_scores(query))


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_bm25okapi_over_the_whole_corpus(query: list[str]) -> None:
    chunks = _corpus()
    index = LexicalIndex.build(chunks, k1=K1, b=B)
    rows = np.arange(len(chunks))
    np.testing.assert_allclose(index.scores(query, rows), _reference(chunks, query), rtol=1e-12, atol=1e-12)


def test_candidates_hold_every_chunk_with_a_positive_score() -> None:
    chunks = _corpus()
    index = LexicalIndex.build(chunks, k1=K1, b=B)
    for query in QUERIES:
        reference = _reference(chunks, query)
        assert set(np.flatnonzero(reference != 0)) <= set(index.candidates(query).tolist())


def test_added_and_removed_chunks_keep_scores_exact() -> None:
    chunks = _corpus()
    first, later = chunks[:40], chunks[40:]
    index = LexicalIndex.build(first, k1=K1, b=B)
    for i in range(0, len(later), 2):  # small batches: most go to the tail, some trigger a merge
        index = index.with_chunks(later[i : i + 2])
    removed = [3, 17, 41, 59]
    index = index.without_rows(removed)
    kept = [c for i, c in enumerate(chunks) if i not in removed]
    kept_rows = np.array([i for i in range(len(chunks)) if i not in removed])
    assert len(index) == len(kept)
    for query in QUERIES:
        np.testing.assert_allclose(
            index.scores(query, kept_rows), _reference(kept, query), rtol=1e-12, atol=1e-12
        )
        assert not set(removed) & set(index.candidates(query).tolist())


def test_a_common_term_contributes_its_highest_impact_chunks() -> None:
    class Capped(LexicalIndex):
        TERM_CANDIDATES = 10

    chunks = [["umum"] * (1 + i % 3) + ["isi"] * (i % 7) + [f"w{i}"] for i in range(50)]
    candidates = Capped.build(chunks, k1=K1, b=B).candidates(["umum"])
    assert len(candidates) == 10
    reference = _reference(chunks, ["umum"])
    assert reference[candidates].min() >= np.sort(reference)[-10] - 1e-12


def test_idf_matches_rank_bm25_including_the_epsilon_floor() -> None:
    chunks = _corpus()
    index = LexicalIndex.build(chunks, k1=K1, b=B)
    reference = BM25Okapi(chunks, k1=K1, b=B)
    for term in ["umum", "xi", "korea", "surat"]:
        assert index.idf(term) == pytest.approx(reference.idf[term], abs=1e-12)
    assert index.idf("tidakada") == 0.0


def test_an_index_restored_from_its_state_scores_and_grows_like_the_original() -> None:
    """The saved form (``state``/``from_state``, tail folded in, capped terms kept) loses nothing:
    the state round-trips exactly, scores stay exact, and it keeps taking adds and removals."""

    class Capped(LexicalIndex):
        TERM_CANDIDATES = 10

    chunks = _corpus()
    index = Capped.build(chunks[:40], k1=K1, b=B).with_chunks(chunks[40:42]).without_rows([5])
    assert index._tail_chunks  # the state must fold a live tail
    state = index.state()
    assert state.top_rows.shape[0] > 0  # "umum" is held by more than 10 chunks
    restored = Capped.from_state(state)
    again = restored.state()
    for field in ("starts", "rows", "tfs", "top_terms", "top_rows", "lengths", "alive", "df"):
        np.testing.assert_array_equal(getattr(again, field), getattr(state, field))
    assert again.terms == state.terms
    rows = np.array([i for i in range(42) if i != 5])
    for query in QUERIES:
        np.testing.assert_array_equal(restored.scores(query, rows), index.scores(query, rows))
        assert set(restored.candidates(query).tolist()) <= set(rows.tolist())
    grown = restored.with_chunks(chunks[42:]).without_rows([7])
    kept_rows = np.array([i for i in range(len(chunks)) if i not in (5, 7)])
    kept = [chunks[i] for i in kept_rows]
    for query in QUERIES:
        np.testing.assert_allclose(
            grown.scores(query, kept_rows), _reference(kept, query), rtol=1e-12, atol=1e-12
        )


def test_the_seam_sets_what_rank_bm25_scoring_reads() -> None:
    """``CandidateOkapi`` skips ``BM25Okapi.__init__``: a rank_bm25 whose scoring read another
    attribute would score with a missing or stale one. Re-check the seam before moving the pin."""
    assert version("rank-bm25") == "0.2.2"
    read = set(re.findall(r"self\.(\w+)", inspect.getsource(BM25Okapi.get_batch_scores)))
    assert read == CandidateOkapi.READ_BY_SCORING
    scorer = CandidateOkapi([{"a": 1}], np.array([1.0]), idf={"a": 0.5}, avgdl=1.0, k1=K1, b=B)
    assert all(hasattr(scorer, name) for name in read)
