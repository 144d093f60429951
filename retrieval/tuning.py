"""Choose the retrieval tunables by cross-validation over labelled questions, and report how the
chosen values do on the questions they were not chosen on.

Dev has only 323 questions; picking the best of many configurations on all of them would report
a score that the next, unseen set of questions will not reproduce. So each fold's values are
chosen on the other folds only, and the figures reported are out-of-fold. The grids are small
and coarse on purpose: few, named values generalize; a fine grid would fit dev's noise.

Four stages, each a small grid: first the ranking (how dense and BM25 evidence are mixed), scored
by MRR@10 averaged over the question groups so that no group (en→id above all) is sacrificed to
the largest one; then, under that, the BM25 weight per question language and query length, on
the same score; then, with that ranking, which sentence is quoted first, scored by how often the
first quote holds the gold answer and comes from the gold article; then how many quotes follow
it. The abstention rule is fitted apart, on the libraries users meet (``retrieval/user_eval.py``).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.abstention import NEVER_ABSTAIN
from retrieval.answer import PassageEncoder, answer_from, choose_quotes, find
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex, QueryEvidence
from retrieval.errors import NotEnoughData
from retrieval.evaluation import GroupScores, LabelledQuestion, answer_in_citations, rank_of, score
from retrieval.types import Answer

RANKING_GRID: Mapping[str, Sequence[float | int | None]] = {
    "bm25_weight": (0.0, 0.05, 0.10, 0.15, 0.20, 0.30),
    "chunk_weight": (0.25, 0.5, 0.75, 1.0),
    "language_prior_articles": (0, 20, 200),
}
# Then, with chunk_weight and language_prior_articles as chosen, the BM25 weight again, with a
# weight of its own for English questions and a scaling by query length (a second, small grid
# rather than a product with the first, which would be 18x its size).
LEXICAL_GRID: Mapping[str, Sequence[float | int | None]] = {
    "bm25_weight": (0.0, 0.05, 0.10, 0.15, 0.20, 0.30),
    "english_bm25_weight": (None, 0.0, 0.05, 0.10, 0.15),
    "bm25_terms_exponent": (0.0, 0.5, 1.0),
}
# Which sentence is quoted first: scored by the first quote alone.
SENTENCE_GRID: Mapping[str, Sequence[float | int | None]] = {
    "article_prior_weight": (0.25, 0.5, 1.0, 2.0),
    "answer_kind_weight": (0.0, 0.01, 0.02, 0.03),
    "context_weight": (0.0, 0.25, 0.5, 0.75),
    "quote_support_weight": (0.0, 0.04, 0.08, 0.16),
}
# Then how many follow it: scored by the answer inside any quote, among the choices that quote
# at most ``MAX_MEAN_QUOTES`` sentences per answer on average.
QUOTE_GRID: Mapping[str, Sequence[float | int | None]] = {
    "max_sentences": (1, 2, 3),
    "sentence_margin": (0.015, 0.03, 0.045, 0.06),
    "added_support": (None, 0.0, 0.05, 0.1),
}
MAX_MEAN_QUOTES = 1.8


@dataclass(frozen=True, slots=True)
class FoldChoice:
    fold: int
    questions: int
    values: dict[str, float | int | None]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    folds: tuple[FoldChoice, ...]
    out_of_fold: tuple[GroupScores, ...]
    chosen: dict[str, float | int | None]  # chosen on every question: what the config should hold


def grid(space: Mapping[str, Sequence[float | int | None]]) -> list[dict[str, float | int | None]]:
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*space.values())]


def fold_of(questions: Sequence[LabelledQuestion], pair_ids: Mapping[str, str], folds: int) -> list[int]:
    """A fold per question: twins (same ``pair_id``) share one, and every group is spread evenly
    over the folds (units are dealt round-robin after a fixed shuffle within each group, the deal
    going on where the previous group's ended, so that small groups do not all start in fold 0).

    ``NotEnoughData`` when there are fewer units than folds: a fold would hold no question."""
    units_by_group: dict[str, list[str]] = defaultdict(list)
    for q in questions:
        unit = pair_ids.get(q.id) or q.id
        if unit not in units_by_group[q.group]:
            units_by_group[q.group].append(unit)
    fold_of_unit: dict[str, int] = {}
    rng = random.Random(0)
    dealt = 0
    for group in sorted(units_by_group):
        units = [u for u in units_by_group[group] if u not in fold_of_unit]
        rng.shuffle(units)
        for unit in units:
            fold_of_unit[unit] = dealt % folds
            dealt += 1
    if dealt < folds:
        raise NotEnoughData(
            f"{folds} folds need at least {folds} questions (twins count once); there are {dealt}"
        )
    return [fold_of_unit[pair_ids.get(q.id) or q.id] for q in questions]


def ranking_objective(
    index: CorpusIndex, config: RetrievalConfig, items: Sequence[tuple[LabelledQuestion, QueryEvidence]]
) -> float:
    """MRR@10 averaged over groups (macro), so each kind of question counts the same."""
    by_group: dict[str, list[float]] = defaultdict(list)
    for q, ev in items:
        order = index.rank(ev, config).order[:10]
        refs = [index.article_at(i).info.ref for i in order]
        r = rank_of(q.gold_article, refs)
        by_group[q.group].append(1 / r if r else 0.0)
    return _macro_mean(by_group)


def sentence_objective(
    index: CorpusIndex,
    config: RetrievalConfig,
    items: Sequence[tuple[LabelledQuestion, QueryEvidence]],
    encode_passages: PassageEncoder | None = None,
) -> float:
    """The gold answer inside the first quote (span questions) plus the first quote from the
    gold article (all), each averaged over groups; an abstention counts as a miss."""
    first = replace(config, abstention=NEVER_ABSTAIN, max_sentences=1)
    inside: dict[str, list[bool]] = defaultdict(list)
    gold: dict[str, list[bool]] = defaultdict(list)
    for q, ev in items:
        answer = answer_from(index, ev, first, encode_passages)
        gold[q.group].append(any(c.article.ref == q.gold_article for c in answer.citations))
        if q.is_span and q.answers:
            inside[q.group].append(answer_in_citations(q.answers, answer))
    return _macro_mean(inside) + _macro_mean(gold)


def _best_quotes(
    index: CorpusIndex,
    base: RetrievalConfig,
    items: Sequence[tuple[LabelledQuestion, QueryEvidence]],
    encode_passages: PassageEncoder | None = None,
) -> RetrievalConfig:
    """The ``QUOTE_GRID`` values that hold the gold answer inside some quote most often
    (averaged over groups) while quoting at most ``MAX_MEAN_QUOTES`` sentences per answer; the
    candidates are found once per question (what follows the first quote changes nothing
    before it)."""
    never = replace(base, abstention=NEVER_ABSTAIN)
    found = [(q, find(index, ev, never, encode_passages)) for q, ev in items]
    best_config, best_value = base, float("-inf")
    for values in grid(QUOTE_GRID):
        config = replace(base, **values)  # type: ignore[arg-type]
        inside: dict[str, list[bool]] = defaultdict(list)
        quotes = []
        for q, f in found:
            if f is None:
                continue
            citations = choose_quotes(index, f, config)
            quotes.append(len(citations))
            if q.is_span and q.answers:
                inside[q.group].append(
                    answer_in_citations(q.answers, Answer(q.question, citations, (), False, None))
                )
        value = _macro_mean(inside) if quotes and np.mean(quotes) <= MAX_MEAN_QUOTES else float("-inf")
        if value > best_value + 1e-9:
            best_config, best_value = config, value
    return best_config


def _macro_mean(by_group: Mapping[str, Sequence[float]]) -> float:
    """The mean of the groups' means: every group counts the same, whatever its size."""
    return sum(sum(v) / len(v) for v in by_group.values()) / len(by_group) if by_group else 0.0


def choose(
    index: CorpusIndex,
    base: RetrievalConfig,
    items: Sequence[tuple[LabelledQuestion, QueryEvidence]],
    encode_passages: PassageEncoder | None = None,
) -> RetrievalConfig:
    """The best ranking values, then the first quote's, then how many quotes follow it. Ties
    keep the first value in grid order (the grids list the simpler or the current value first)."""
    config = _best(base, RANKING_GRID, lambda c: ranking_objective(index, c, items))
    config = _best(config, LEXICAL_GRID, lambda c: ranking_objective(index, c, items))
    config = _best(config, SENTENCE_GRID, lambda c: sentence_objective(index, c, items, encode_passages))
    return _best_quotes(index, config, items, encode_passages)


class Memoized:
    """An encoder (of passages or queries) that embeds each text once: the sentence stage answers
    every question under every grid point and re-reads the same candidates in context again and
    again; the scenarios ask the same question of many libraries."""

    def __init__(self, encode: PassageEncoder) -> None:
        self._encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, np.asarray(self._encode(missing)), strict=True))
        return np.stack([self._vectors[t] for t in texts])


def _best(
    base: RetrievalConfig,
    space: Mapping[str, Sequence[float | int | None]],
    objective: Callable[[RetrievalConfig], float],
) -> RetrievalConfig:
    best_config, best_value = base, float("-inf")
    for values in grid(space):
        candidate = replace(base, **values)  # type: ignore[arg-type]
        value = objective(candidate)
        if value > best_value + 1e-9:
            best_config, best_value = candidate, value
    return best_config


def cross_validate(
    index: CorpusIndex,
    items: Sequence[tuple[LabelledQuestion, QueryEvidence]],
    pair_ids: Mapping[str, str],
    *,
    folds: int = 5,
    on_fold: Callable[[FoldChoice], None] | None = None,
    encode_passages: PassageEncoder | None = None,
) -> CrossValidation:
    """Choose on k-1 folds, answer the k-th with that choice; every question is answered once
    by values chosen without it. ``encode_passages`` (memoized here) is the model's, for the
    quotes re-read in context; without it ``context_weight`` changes nothing."""
    if encode_passages is not None:
        encode_passages = Memoized(encode_passages)
    assignment = fold_of([q for q, _ in items], pair_ids, folds)
    answers: list[tuple[LabelledQuestion, Answer]] = []
    choices = []
    tuned = list(dict.fromkeys([*RANKING_GRID, *LEXICAL_GRID, *SENTENCE_GRID, *QUOTE_GRID]))
    for k in range(folds):
        train = [item for item, f in zip(items, assignment, strict=True) if f != k]
        test = [item for item, f in zip(items, assignment, strict=True) if f == k]
        config = choose(index, index.config, train, encode_passages)
        choice = FoldChoice(k, len(test), {name: getattr(config, name) for name in tuned})
        choices.append(choice)
        if on_fold:
            on_fold(choice)
        answers += [(q, answer_from(index, ev, config, encode_passages)) for q, ev in test]
    final = choose(index, index.config, items, encode_passages)
    return CrossValidation(
        tuple(choices), tuple(score(answers)), {name: getattr(final, name) for name in tuned}
    )
