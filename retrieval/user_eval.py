"""Ask the scenarios' questions (``retrieval/scenarios.py``) and report what users saw: what
``newsbot eval`` prints and what ``newsbot tune`` fits the abstention rule on, out of fold.

Every question is asked the way the bot asks it: put in its canonical form for its library
(``answer.prepared_question``), embedded, ranked, its candidates re-read in context. What the
rule decides is kept apart (``Outcome.signals``) from what would be quoted (``Outcome.quoted``),
so a rule fitted on some folds can be judged on the others without asking again.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.abstention import AbstentionRule, Signals, fit_rule
from retrieval.answer import PassageEncoder, decline, find, prepared_question, quoted_answer
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex
from retrieval.errors import NotEnoughData
from retrieval.evaluation import LabelledQuestion, UserView, user_view
from retrieval.scenarios import (
    Asked,
    LibraryViews,
    answer_holders,
    library_articles,
    near_topics,
    neighbour_pool,
    removed_gold,
    small_libraries,
)
from retrieval.types import Answer

SCENARIOS = ("small", "removed", "near")
FOLDS = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """One question asked of one library, before the rule decides: what the rule would weigh
    (None: the library had no sentence to quote), the answer if it lets the question through,
    and the decline if not."""

    asked: Asked
    signals: Signals | None
    quoted: Answer
    declined: Answer

    def under(self, rule: AbstentionRule) -> Answer:
        """The reply under ``rule``."""
        if self.signals is None or not rule.answers(self.signals):
            return self.declined
        return replace(self.quoted, tentative=rule.tentative(self.signals))


def scenarios(index: CorpusIndex, questions: Sequence[LabelledQuestion], *, seed: int = 0) -> list[Asked]:
    """Every scenario's questions for this library and these labelled questions."""
    articles = library_articles(index)
    holders = answer_holders(questions, articles)
    pool = neighbour_pool(articles, holders)
    return [
        *small_libraries(questions, holders, pool, seed=seed),
        *removed_gold(questions, holders, len(articles), seed=seed),
        *near_topics(questions, holders, articles, pool, seed=seed),
    ]


def ask_all(
    index: CorpusIndex,
    asked: Sequence[Asked],
    encode_queries: Callable[[list[str]], np.ndarray],
    encode_passages: PassageEncoder | None,
    config: RetrievalConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome]:
    """Ask each question of its library under ``config`` (default: the index's own tunables);
    each library is built once (``LibraryViews``)."""
    cfg = config or index.config
    views = LibraryViews(index.with_config(cfg))
    outcomes = []
    for n, case in enumerate(asked, start=1):
        view = views.of(case)
        text = prepared_question(view, case.question.question)
        vector = encode_queries([text])[0]
        evidence = view.evidence(text, vector, asked=case.question.question)
        found = find(view, evidence, cfg, encode_passages)
        declined = decline(view, evidence, found)
        if found is None:
            outcomes.append(Outcome(case, None, declined, declined))
        else:
            quoted = quoted_answer(view, evidence, found, cfg)
            outcomes.append(Outcome(case, found.signals, quoted, declined))
        if progress:
            progress(n, len(asked))
    return outcomes


def report(outcomes: Sequence[Outcome], rule: AbstentionRule | Sequence[AbstentionRule]) -> list[UserView]:
    """A row per scenario and question group, then per scenario overall; ``rule`` is one rule
    for every outcome or one per outcome (out of fold)."""
    rules = [rule] * len(outcomes) if isinstance(rule, AbstentionRule) else list(rule)
    by_key: dict[tuple[str, str], list[tuple[LabelledQuestion, bool, Answer]]] = defaultdict(list)
    for outcome, r in zip(outcomes, rules, strict=True):
        case = outcome.asked
        triple = (case.question, case.answerable, outcome.under(r))
        by_key[(case.scenario, case.question.group)].append(triple)
        by_key[(case.scenario, "overall")].append(triple)
    order = {s: i for i, s in enumerate(SCENARIOS)}
    keys = sorted(by_key, key=lambda k: (order.get(k[0], 9), k[1] == "overall", k[1]))
    return [user_view(scenario, group, by_key[(scenario, group)]) for scenario, group in keys]


@dataclass(frozen=True, slots=True)
class RuleValidation:
    """The abstention rule fitted inside folds (grouped by gold article) and judged out of
    fold, and the rule fitted on every question (what the config should hold)."""

    per_fold: tuple[AbstentionRule, ...]
    out_of_fold: tuple[UserView, ...]
    chosen: AbstentionRule


def cross_validate_rule(
    outcomes: Sequence[Outcome], base: AbstentionRule, *, folds: int = FOLDS
) -> RuleValidation:
    """Fit the rule on the outcomes of all but one fold of gold articles, decide the held-out
    fold's with it; every question (in every library it was asked of) is decided by a rule
    fitted without its article."""
    usable = [o for o in outcomes if o.signals is not None]
    fold_of = _article_folds({o.asked.question.gold_article for o in outcomes}, folds)
    per_fold = []
    rules: list[AbstentionRule] = [base] * len(outcomes)
    for k in range(folds):
        train = [o for o in usable if fold_of[o.asked.question.gold_article] != k]
        rule = _fit(train, base)
        per_fold.append(rule)
        for i, o in enumerate(outcomes):
            if fold_of[o.asked.question.gold_article] == k:
                rules[i] = rule
    return RuleValidation(tuple(per_fold), tuple(report(outcomes, rules)), _fit(usable, base))


def _fit(outcomes: Sequence[Outcome], base: AbstentionRule) -> AbstentionRule:
    if not outcomes:
        raise NotEnoughData("no question had a sentence to quote")
    signals = [o.signals for o in outcomes if o.signals is not None]
    return fit_rule(
        signals,
        [o.asked.answerable for o in outcomes],
        [o.asked.scenario for o in outcomes],
        base=base,
    )


def _article_folds(articles: set[str], folds: int) -> dict[str, int]:
    """A fold per gold article, dealt after a fixed shuffle: questions over one article (twins,
    several questions on one passage) never straddle a fold."""
    order = sorted(articles)
    random.Random(0).shuffle(order)
    return {a: i % folds for i, a in enumerate(order)}


def rule_table(validation: RuleValidation) -> str:
    """The rules fitted per fold and on everything, as a Markdown table: a row per side."""
    names = [
        "bar",
        "support",
        "cross_lingual_support",
        "missing",
        "standout",
        "absent",
        "absent_from",
        "specificity",
        "tentative",
    ]
    lines = ["| fold | side | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 2)]
    folds = [(str(k), rule) for k, rule in enumerate(validation.per_fold)] + [("**all**", validation.chosen)]
    for fold, rule in folds:
        for side in ("crowd", "small"):
            weights = getattr(rule, side)
            values = " | ".join(f"{getattr(weights, n):.4g}" for n in names)
            lines.append(f"| {fold} | {side} | {values} |")
    return "\n".join(lines)
