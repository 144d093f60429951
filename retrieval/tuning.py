"""Choose the retrieval tunables by cross-validation over labelled questions, and report how the
chosen values do on the questions they were not chosen on.

Dev has only 323 questions; picking the best of many configurations on all of them would report
a score that the next, unseen set of questions will not reproduce. So each fold's values are
chosen on the other folds only, and the figures reported are out-of-fold. The grids are small
and coarse on purpose: few, named values generalize; a fine grid would fit dev's noise.

Three stages, each a small grid: first the ranking (how dense and BM25 evidence are mixed), scored
by MRR@10 averaged over the question groups so that no group (en→id above all) is sacrificed to
the largest one; then, under that, the BM25 weight per question language and query length, on
the same score; then, with that ranking, the choice of sentences to quote, scored by how often
the quotes hold the gold answer and come from the gold article.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.abstention import AbstentionRule, bar_for, fit_rule
from retrieval.answer import PassageEncoder, abstention_signals, answer_from
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
SENTENCE_GRID: Mapping[str, Sequence[float | int | None]] = {
    "sentence_margin": (0.015, 0.03, 0.045, 0.06),
    "article_prior_weight": (0.25, 0.5, 1.0, 2.0),
    "answer_kind_weight": (0.0, 0.01, 0.02, 0.03),
    "context_weight": (0.0, 0.25, 0.5, 0.75),
}


NEVER_ABSTAIN = AbstentionRule(weight=0.0, bar=float("-inf"), bar_without_crowd=float("-inf"))


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
    """Gold answer inside the quotes (span questions) plus quotes from the gold article (all),
    each averaged over groups; an abstention counts as a miss."""
    inside: dict[str, list[bool]] = defaultdict(list)
    gold: dict[str, list[bool]] = defaultdict(list)
    for q, ev in items:
        answer = answer_from(index, ev, replace(config, abstention=NEVER_ABSTAIN), encode_passages)
        gold[q.group].append(any(c.article.ref == q.gold_article for c in answer.citations))
        if q.is_span and q.answers:
            inside[q.group].append(answer_in_citations(q.answers, answer))
    return _macro_mean(inside) + _macro_mean(gold)


def _macro_mean(by_group: Mapping[str, Sequence[float]]) -> float:
    """The mean of the groups' means: every group counts the same, whatever its size."""
    return sum(sum(v) / len(v) for v in by_group.values()) / len(by_group) if by_group else 0.0


def choose(
    index: CorpusIndex,
    base: RetrievalConfig,
    items: Sequence[tuple[LabelledQuestion, QueryEvidence]],
    encode_passages: PassageEncoder | None = None,
) -> RetrievalConfig:
    """The best ranking values, then the best sentence values under them. Ties keep the first
    value in grid order (the grids list the simpler or the current value first)."""
    config = _best(base, RANKING_GRID, lambda c: ranking_objective(index, c, items))
    config = _best(config, LEXICAL_GRID, lambda c: ranking_objective(index, c, items))
    return _best(config, SENTENCE_GRID, lambda c: sentence_objective(index, c, items, encode_passages))


class MemoizedPassages:
    """A passage encoder that embeds each text once: the sentence stage answers every question
    under every grid point, and re-reads the same candidates in context again and again."""

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
        encode_passages = MemoizedPassages(encode_passages)
    assignment = fold_of([q for q, _ in items], pair_ids, folds)
    answers: list[tuple[LabelledQuestion, Answer]] = []
    choices = []
    tuned = list(dict.fromkeys([*RANKING_GRID, *LEXICAL_GRID, *SENTENCE_GRID]))
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


@dataclass(frozen=True, slots=True)
class AbstentionValidation:
    """Out-of-fold abstention, per split seed: (share abstained on questions whose gold article
    was removed, share abstained on the answerable ones)."""

    per_seed: tuple[tuple[float, float], ...]
    answerable_by_group: dict[str, float]  # pooled over seeds
    chosen: AbstentionRule  # fitted on every question of every seed: what the config holds
    # The bar without a crowd, out of fold in one-article libraries: share abstained on with
    # the gold article alone, and on Belebele questions with one other article alone.
    alone_answerable: float
    alone_unanswerable: float

    @property
    def unanswerable(self) -> float:
        return sum(u for u, _ in self.per_seed) / len(self.per_seed)

    @property
    def answerable(self) -> float:
        return sum(a for _, a in self.per_seed) / len(self.per_seed)


def cross_validate_abstention(
    index: CorpusIndex,
    questions: Sequence[tuple[LabelledQuestion, np.ndarray]],
    removals: Sequence[set[str]],
    *,
    folds: int = 5,
    base: AbstentionRule | None = None,
) -> AbstentionValidation:
    """Fit the abstention rule's weight and bar inside folds and measure it out of fold.

    For each removal (the gold articles of a random half of the Belebele questions, one set per
    split seed) the questions are asked of the index without those articles; the rule is fitted
    on the other folds' questions and judged on the held-out fold. Folds are grouped by gold
    article, so twins and questions over the same passage never straddle a fold."""
    base = base or index.config.abstention
    alone, elsewhere = _asked_alone(index, questions)
    per_seed = []
    rows_all: list[tuple[float, float, bool]] = []
    by_group: dict[str, list[bool]] = defaultdict(list)
    for removed in removals:
        reduced = index.without_articles({a.info.id for a in index.articles if a.info.ref in removed})
        rows: list[tuple[LabelledQuestion, float, float, bool]] = []
        for q, vector in questions:
            signals = abstention_signals(reduced, reduced.evidence(q.question, vector))
            if signals is not None:
                lift = np.nan if signals[1] is None else signals[1]
                rows.append((q, signals[0], lift, q.gold_article not in removed))
        rows_all += [(e, s, y) for _, e, s, y in rows]
        fold_of_article = _article_folds({q.gold_article for q, *_ in rows}, folds)
        abstained: list[tuple[bool, bool]] = []
        for k in range(folds):
            train = [r for r in rows if fold_of_article[r[0].gold_article] != k]
            train_alone = np.array([alone[q.id] for q, *_ in train if q.id in alone])
            rule = fit_rule(*_columns(train), evidence_alone=train_alone, base=base)
            for q, evidence, lift, answerable in (r for r in rows if fold_of_article[r[0].gold_article] == k):
                said_no = not rule.answers(evidence, None if np.isnan(lift) else lift)
                abstained.append((said_no, answerable))
                if answerable:
                    by_group[q.group].append(said_no)
        on_removed = [a for a, ok in abstained if not ok]
        on_present = [a for a, ok in abstained if ok]
        per_seed.append((sum(on_removed) / len(on_removed), sum(on_present) / len(on_present)))
    chosen = fit_rule(
        np.array([r[0] for r in rows_all]),
        np.array([r[1] for r in rows_all]),
        np.array([r[2] for r in rows_all], bool),
        evidence_alone=np.array(list(alone.values())),
        base=base,
    )
    # The bar without a crowd, out of fold: each fold's bar is fitted on the other folds'
    # answerable questions asked of their gold article alone.
    gold_of = {q.id: q.gold_article for q, _ in questions}
    fold_of_article = _article_folds(set(gold_of.values()), folds)
    refused: dict[bool, list[bool]] = {True: [], False: []}  # by answerable
    for k in range(folds):
        bar = bar_for(np.array([e for q_id, e in alone.items() if fold_of_article[gold_of[q_id]] != k]))
        for answerable, asked in ((True, alone), (False, elsewhere)):
            refused[answerable] += [
                e < bar for q_id, e in asked.items() if fold_of_article[gold_of[q_id]] == k
            ]
    return AbstentionValidation(
        tuple(per_seed),
        {g: sum(v) / len(v) for g, v in sorted(by_group.items())},
        chosen,
        alone_answerable=_share(refused[True]),
        alone_unanswerable=_share(refused[False]),
    )


def _article_folds(articles: set[str], folds: int) -> dict[str, int]:
    """A fold per gold article, dealt after a fixed shuffle: questions over one article (twins,
    several questions on one passage) never straddle a fold."""
    order = sorted(articles)
    random.Random(0).shuffle(order)
    return {a: i % folds for i, a in enumerate(order)}


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def _asked_alone(
    index: CorpusIndex, questions: Sequence[tuple[LabelledQuestion, np.ndarray]]
) -> tuple[dict[str, float], dict[str, float]]:
    """The evidence of each question in a library of one article, as a family chat's small
    library would weigh it (no crowd, so the evidence alone): with its gold article (answerable),
    and, for Belebele questions (whose passage no other one answers), with one other article
    chosen at random (unanswerable). Keyed by question id."""
    by_ref = {a.info.ref: a for a in index.articles}
    refs = sorted(by_ref)
    rng = random.Random(0)

    def evidence(ref: str, question: str, vector: np.ndarray) -> float | None:
        single = CorpusIndex([by_ref[ref]], index.config, dim=index.dim)
        signals = abstention_signals(single, single.evidence(question, vector))
        return None if signals is None else signals[0]

    alone: dict[str, float] = {}
    elsewhere: dict[str, float] = {}
    for q, vector in questions:
        if q.gold_article in by_ref and (e := evidence(q.gold_article, q.question, vector)) is not None:
            alone[q.id] = e
        if q.source == "belebele" and len(refs) > 1:
            other = rng.choice([r for r in refs if r != q.gold_article])
            if (e := evidence(other, q.question, vector)) is not None:
                elsewhere[q.id] = e
    return alone, elsewhere


def _columns(rows: Sequence[tuple[LabelledQuestion, float, float, bool]]) -> tuple[np.ndarray, ...]:
    return (
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows], bool),
    )
