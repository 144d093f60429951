"""The index is built incrementally (articles added batch by batch, some removed) yet answers
exactly as an index built from scratch over the same articles; and the cross-validated tuner
keeps its promises (twins in one fold, every question answered out of fold)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from tests_support import DATA

from library import Library
from retrieval.answer import answer
from retrieval.corpus import CorpusIndex
from retrieval.errors import NotEnoughData
from retrieval.evaluation import LabelledQuestion
from retrieval.reports import tuning_report, whole_library_items
from retrieval.tuning import (
    LEXICAL_GRID,
    QUOTE_GRID,
    RANKING_GRID,
    SENTENCE_GRID,
    Memoized,
    cross_validate,
    fold_of,
)
from retrieval.user_eval import ask_all, cross_validate_rule, scenarios

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
    items = whole_library_items(index, QUESTIONS, library.encoder)
    seen = []
    result = cross_validate(index, items, PAIRS, folds=2, on_fold=seen.append)
    assert [c.fold for c in seen] == [0, 1]
    assert sum(c.questions for c in seen) == len(QUESTIONS)
    overall = result.out_of_fold[-1]
    assert overall.group == "overall" and overall.n == len(QUESTIONS)
    assert overall.recall_at_5 >= 0.8
    for name, value in result.chosen.items():
        assert value in {**RANKING_GRID, **LEXICAL_GRID, **SENTENCE_GRID, **QUOTE_GRID}[name]


@pytest.mark.slow
async def test_abstention_is_fitted_in_folds_on_the_libraries_users_meet(library: Library) -> None:
    await library.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    index = library.index
    asked = scenarios(index, QUESTIONS, seed=0)
    assert {a.scenario for a in asked} == {"small", "removed", "near"}
    queries = Memoized(library.encoder.encode_queries)
    outcomes = ask_all(index, asked, queries, Memoized(library.encoder.encode_passages))
    result = cross_validate_rule(outcomes, index.config.abstention, folds=2)
    assert len(result.per_fold) == 2
    rows = {(r.scenario, r.group): r for r in result.out_of_fold}
    small = rows[("small", "overall")]
    assert small.answerable and small.absent
    assert small.absent_declined > small.answerable_declined
    assert 0.0 < result.chosen.crowd.bar < 1.0 and 0.0 < result.chosen.small.bar < 1.0

    report = tuning_report(index, library.encoder, RECORDS, folds=2, seeds=(0,))  # `newsbot tune`
    assert "| **all** |" in report and "### out-of-fold scores" in report
    assert "### what users see, the rule out of fold" in report and "| near | overall |" in report

    # Gold articles nearly all missing (the wrong --db): "not measured", never an IndexError.
    held = QUESTIONS[0].gold_article
    scarce = [r | {"article_id": r["article_id"] if r["article_id"] == held else "missing"} for r in RECORDS]
    scarce_report = tuning_report(index, library.encoder, scarce, folds=2, seeds=(0,))
    assert "Not measured, the rule is not refitted: " in scarce_report
