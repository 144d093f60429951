"""The index is built incrementally (articles added batch by batch, some removed) yet answers
exactly as an index built from scratch over the same articles; and the cross-validated tuner
keeps its promises (twins in one fold, every question answered out of fold)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from tests_support import DATA

from cli import run_tuning
from library import Library
from retrieval.answer import answer
from retrieval.corpus import CorpusIndex
from retrieval.errors import NotEnoughData
from retrieval.evaluation import LabelledQuestion, abstention_split
from retrieval.tuning import (
    LEXICAL_GRID,
    RANKING_GRID,
    SENTENCE_GRID,
    cross_validate,
    cross_validate_abstention,
    fold_of,
)

RECORDS = [json.loads(line) for line in (DATA / "dev_slice_questions.jsonl").read_text("utf-8").splitlines()]
QUESTIONS = [LabelledQuestion.from_record(r) for r in RECORDS]
PAIRS = {str(r["id"]): str(r["pair_id"]) for r in RECORDS if r.get("pair_id")}


def _answers(index: CorpusIndex, vectors: np.ndarray) -> list[tuple[object, ...]]:
    out = []
    for q, v in zip(QUESTIONS, vectors, strict=True):
        a = answer(index, q.question, v)
        out.append(
            (a.articles, tuple((c.article.ref, c.sentence_index, round(c.score, 6)) for c in a.citations))
        )
    return out


@pytest.mark.slow
async def test_incremental_index_answers_like_a_fresh_build(library: Library) -> None:
    await library.import_jsonl(DATA / "dev_slice_corpus.jsonl", batch_size=7)
    stored = library.index.articles
    for ref in [stored[0].info.ref, stored[10].info.ref, stored[40].info.ref]:
        await library.delete(ref)
    incremental = library.index
    fresh = CorpusIndex(incremental.articles, incremental.config, dim=incremental.dim)
    assert len(fresh) == len(incremental) > 70
    vectors = library.encoder.encode_queries([q.question for q in QUESTIONS])
    assert _answers(incremental, vectors) == _answers(fresh, vectors)


def test_folds_keep_twins_together_and_spread_every_group() -> None:
    folds = fold_of(QUESTIONS, PAIRS, 3)
    by_pair: dict[str, set[int]] = {}
    for q, f in zip(QUESTIONS, folds, strict=True):
        if q.id in PAIRS:
            by_pair.setdefault(PAIRS[q.id], set()).add(f)
    assert by_pair and all(len(f) == 1 for f in by_pair.values())
    for group in {q.group for q in QUESTIONS}:
        counts = Counter(f for q, f in zip(QUESTIONS, folds, strict=True) if q.group == group)
        assert max(counts.values()) - min(counts.get(k, 0) for k in range(3)) <= 2, (group, counts)


def test_small_groups_are_dealt_over_every_fold_and_too_few_questions_are_refused() -> None:
    """Groups of one or two questions each (a user's own file): the deal goes on across groups,
    so no fold is left empty; fewer questions (twins counting once) than folds is refused."""
    small = [
        LabelledQuestion(f"q{i}", f"question {i}", "a1", group, (), False)
        for i, group in enumerate(["x en→en", "y id→id", "y id→id", "z en→id", "w id→id"])
    ]
    assert sorted(Counter(fold_of(small, {}, 3)).values()) == [1, 2, 2]
    with pytest.raises(NotEnoughData, match="3 folds need at least 3 questions"):
        fold_of(small[:2], {}, 3)
    with pytest.raises(NotEnoughData, match="there are 2"):
        fold_of(small[:3], {"q1": "p", "q2": "p"}, 3)


@pytest.mark.slow
async def test_cross_validation_answers_every_question_out_of_fold(library: Library) -> None:
    await library.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    index = library.index
    vectors = library.encoder.encode_queries([q.question for q in QUESTIONS])
    items = [(q, index.evidence(q.question, v)) for q, v in zip(QUESTIONS, vectors, strict=True)]
    seen = []
    result = cross_validate(index, items, PAIRS, folds=2, on_fold=seen.append)
    assert [c.fold for c in seen] == [0, 1]
    assert sum(c.questions for c in seen) == len(QUESTIONS)
    overall = result.out_of_fold[-1]
    assert overall.group == "overall" and overall.n == len(QUESTIONS)
    assert overall.recall_at_5 >= 0.8
    for name, value in result.chosen.items():
        assert value in {**RANKING_GRID, **LEXICAL_GRID, **SENTENCE_GRID}[name]


@pytest.mark.slow
async def test_abstention_is_fitted_in_folds_and_abstains_more_without_the_gold(library: Library) -> None:
    await library.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    vectors = library.encoder.encode_queries([q.question for q in QUESTIONS])
    removals = [abstention_split(RECORDS, seed) for seed in (0, 1)]
    result = cross_validate_abstention(
        library.index, list(zip(QUESTIONS, vectors, strict=True)), removals, folds=2
    )
    assert len(result.per_seed) == 2
    assert result.unanswerable > result.answerable
    assert 0.0 < result.chosen.bar < 1.0
    # the bar without a crowd, out of fold over one-article libraries of the slice
    assert 0.0 <= result.alone_answerable < 0.2 < result.alone_unanswerable <= 1.0

    report = run_tuning(library, RECORDS, folds=2)  # what `newsbot tune` prints
    assert "| **all** |" in report and "### out-of-fold scores" in report
    assert "| **mean** |" in report and "Fitted on every question: weight" in report
    assert "in one-article libraries, it abstains on" in report

    # Gold articles nearly all missing (the wrong --db): "not measured", never an IndexError.
    held = QUESTIONS[0].gold_article
    scarce = [r | {"article_id": r["article_id"] if r["article_id"] == held else "missing"} for r in RECORDS]
    assert "Not measured, the rule is not refitted: " in run_tuning(library, scarce, 2)


def test_vectors_already_in_one_matrix_are_not_copied_again() -> None:
    from retrieval.corpus import _stack

    matrix = np.arange(12, dtype=np.float32).reshape(6, 2).copy()  # owns its data, as the store's does
    tiled = [matrix[0:2], matrix[2:2], matrix[2:6]]
    assert _stack(tiled, 2) is matrix
    shuffled = [matrix[2:6], matrix[0:2]]
    stacked = _stack(shuffled, 2)
    assert stacked is not matrix and stacked.tolist() == [*matrix[2:6].tolist(), *matrix[0:2].tolist()]
    assert _stack([matrix[0:2]], 2).tolist() == matrix[0:2].tolist()


def test_added_rows_fill_blocks_in_place_and_branches_never_overwrite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrieval.corpus import _BlockWriter, _VectorRows

    monkeypatch.setattr(_BlockWriter, "BLOCK_ROWS", 8)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 3)).astype(np.float32)
    batches = [rng.standard_normal((n, 3)).astype(np.float32) for n in (3, 4, 2, 11, 1)]
    rows, snapshots = _VectorRows(base), []
    for batch in batches:
        rows, stored = rows.appended(batch)
        assert np.array_equal(stored, batch)
        snapshots.append(rows)
    everything = np.vstack([base, *batches])
    query = rng.standard_normal(3).astype(np.float32)
    np.testing.assert_allclose(rows.dot(query), everything @ query, rtol=1e-6)
    assert [len(b) for b in rows.tail] == [7, 2, 11, 1]  # 3+4 share a block; 11 gets one of its own
    # A branch from an older snapshot gets its own block; the newer snapshots keep their rows.
    branch, _ = snapshots[0].appended(np.full((2, 3), 9.0, np.float32))
    np.testing.assert_allclose(snapshots[1].dot(query), np.vstack([base, *batches[:2]]) @ query, rtol=1e-6)
    np.testing.assert_allclose(rows.dot(query), everything @ query, rtol=1e-6)
    assert branch.dot(query)[-2:].tolist() == pytest.approx([9.0 * query.sum()] * 2)
