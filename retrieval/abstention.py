"""When to say "nothing in the library answers this": the abstention rule and its signals.

e5 cosines of a question against unrelated text sit in a narrow band (about 0.80-0.88), so the best
sentence's cosine alone cannot tell "the library has the answer" from "the library has something
on a nearby topic". Three more signals help:

- the *standout*: how far the best article stands out from the other articles of its language
  for this query, in standard deviations, beyond what the best of that many unrelated articles
  reaches by chance (measured on the score that ranks the articles, dense plus the question's
  BM25 share: an article that e5 *and* the question's words single out stands further from the
  crowd). A library too small to have a crowd has none, and its own bar.
- the *support*: the share of the question's content (its terms, weighed by how specific they
  are) that the first quote, read with its article's title, lead and previous sentence, holds
  (``retrieval/grounding.py``). "How many people died in the Bandung earthquake?" finds a
  flood's "Two people died" close in e5's space, but the quote holds neither "Bandung" nor
  "earthquake". Across languages only names, figures and cognates can match, so support there
  has its own weight.
- what is *missing*: the information of the most specific term the quote leaves unsupported
  (same language only).
- what is *absent*: the information of the most specific term ("Persetasi", "Bekasi", a year)
  that none of the articles ranked first supports at all, not even in a sentence far from the
  quote (same language only). When the article holding the answer is gone from a big library,
  its siblings on the same story still rank first and are quoted, but the name or figure the
  question turns on is often nowhere in them. Only terms at least ``absent_from`` rare count:
  "earthquake" is easily said otherwise.
- the *specificity*: how far the best sentence stands above the next best sentences of its own
  article (the mean of ``SPECIFICITY_NEIGHBOURS``). A sentence that answers usually says
  something its neighbours do not; an article on the question's subject but not its fact scores
  its sentences alike (a flood report's every sentence is about the flood). Weighed only in a
  small library (in a big one sibling passages blur it) and in the question's language (weighed
  across languages too, it declined no more absent questions out of fold on dev).

The rule answers when ``evidence + weight x standout + support terms - missing and absent terms
+ specificity term`` clears a bar; ``fit_rule`` chooses the weights and the bars on the libraries users meet
(``retrieval/scenarios.py``), inside folds, in ``newsbot tune``. Whatever the score, a question
with three terms at least 4.5 rare that no article ranked first holds is declined
(``AbstentionRule.absent_terms``). The history of the rule and the
signals measured without gain are in docs/quality-history.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from retrieval.errors import NotEnoughData
from retrieval.grounding import MAX_INFORMATION

CROSS_LINGUAL_ALLOWANCE = 0.03
"""Added to the evidence of a sentence in another language than the question: e5's cross-lingual
cosines run about 0.03 lower (the gap between the two bars the first abstention rule used)."""

SPECIFICITY_NEIGHBOURS = 3
"""The best sentence's specificity is measured against the mean of this many next best sentences
of its article. Out of fold on dev (seeds 0-2, the rule refitted each time, compared where 3% of
the answerable questions are declined; the specificity then weighed in every language), absent
questions declined in small libraries / near topics: 1 neighbour 84% / 40%, 2: 86% / 38%, 3:
86% / 38%, 5: 84% / 36%."""

UNMEASURED_SPECIFICITY = 0.05
"""The specificity counted for a sentence that is its article's only one (no neighbours to stand
above): the median specificity of answerable dev questions in small libraries (0.051), so a
one-sentence article is judged like a typical answering one. Counted as 0, the fit gives the
specificity little weight (out of fold, near topics declined 22% instead of 42%)."""

ABSENT_FROM_MIN = 4.0
"""The least information (8 minus the Zipf frequency) a term must carry for its absence from the
articles ranked first to count (``Weights.absent_from`` is fitted among values from here up):
only such terms are looked up, which keeps the check cheap."""

MAX_FALSE_ABSTENTION = 0.02
"""Share of answerable training questions a fitted bar may refuse: 2% rather than the 3% target,
because a bar set on training folds refuses more on new questions. Out of fold on dev (seeds
0-2), with the absent term and the specificity in the rule, 2.25% refused 3.0% of the
answerable questions in small libraries and 4.7% in the whole library; 2% refuses 3.0% and
3.6% (1.75%: 2.3% and 3.8%, catching 84% and 55% of the absent ones against 89% and 54%)."""


TENTATIVE_SHARE = 0.05
"""Share of answerable training questions, beyond those the bar declines, whose answer is marked
tentative ("the library may not answer this; the closest it holds:"): a product choice, one
answer in twenty to a question the library does answer, made so the answers that clear the bar
narrowly say so. Out of fold on dev (scenario seeds 0-2) it marks 3.8% of the answers small
libraries give to answerable questions (the whole library without the answers: 4.6%) and half
(49.5%) of those they give to questions they cannot answer (docs/quality-history.md, session 12)."""


@dataclass(frozen=True, slots=True)
class Signals:
    """What the abstention rule weighs for one question (``retrieval/answer.py`` measures it).

    ``support`` is the share of the question's content (its terms weighed by how specific they
    are, ``retrieval/grounding.py``) that the first quote, read with its article's title, lead
    and previous sentence, supports; ``missing`` is the information of the most specific term it
    leaves unsupported, over ``MAX_INFORMATION`` (0 when none is). ``cross_lingual``: the first
    quote is in another language than the question, where words rarely match and only names,
    figures and cognates can support it. ``absent``: the information of each of the question's
    terms that no article ranked first supports (only terms at least ``ABSENT_FROM_MIN`` rare
    are looked up); ``specificity``: the best sentence's cosine over the mean of the next
    ``SPECIFICITY_NEIGHBOURS`` of its article (None when the article has one sentence; across
    languages it is not weighed, and counts as ``UNMEASURED_SPECIFICITY``)."""

    evidence: float
    standout: float | None
    support: float = 0.0
    missing: float = 0.0
    cross_lingual: bool = False
    absent: tuple[float, ...] = ()
    specificity: float | None = None

    def most_absent(self, rarer_than: float) -> float:
        """The information of the most specific absent term at least ``rarer_than`` rare, over
        ``MAX_INFORMATION`` (0 when there is none)."""
        return max((i for i in self.absent if i >= rarer_than), default=0.0) / MAX_INFORMATION


@dataclass(frozen=True, slots=True)
class Weights:
    """One side of the rule: answer iff ``evidence + standout x standout + support term -
    missing term - absent term + specificity x specificity >= bar``, where the support term is
    ``support`` (``cross_lingual_support`` across languages) x the quote's support, the missing
    term ``missing`` x the most specific term the quote leaves unsupported, and the absent term
    ``absent`` x the most specific term at least ``absent_from`` rare that the articles ranked
    first leave unsupported (informations over ``MAX_INFORMATION``; both same language only:
    across languages a term's absence says little)."""

    bar: float
    support: float = 0.0
    cross_lingual_support: float = 0.0
    missing: float = 0.0
    standout: float = 0.0
    absent: float = 0.0
    absent_from: float = ABSENT_FROM_MIN
    specificity: float = 0.0
    # How far above the bar an answer is still tentative (``TENTATIVE_SHARE``); 0: never.
    tentative: float = 0.0

    def score(self, signals: Signals) -> float:
        """Everything but the bar."""
        support = self.cross_lingual_support if signals.cross_lingual else self.support
        missing = 0.0 if signals.cross_lingual else self.missing
        absent = 0.0 if signals.cross_lingual or not self.absent else self.absent
        lift = self.standout * (signals.standout or 0.0)
        specific = signals.specificity
        if specific is None or signals.cross_lingual:
            specific = UNMEASURED_SPECIFICITY
        return (
            signals.evidence
            + lift
            + support * signals.support
            - missing * signals.missing
            - absent * signals.most_absent(self.absent_from)
            + self.specificity * specific
        )


@dataclass(frozen=True, slots=True)
class AbstentionRule:
    """Two sides, each fitted where it applies: ``crowd`` for a library with at least
    ``min_articles`` articles in some language (a newsroom's, where the standout can be
    measured), ``small`` for one without (a family chat's handful: no standout, and the support
    carries more of the decision, as the evidence of an unrelated article's best sentence is
    as high as in a big library but what it supports is far less).

    The values come from ``fit_rule`` (``newsbot tune``) over the dev questions asked of the
    libraries users meet (``retrieval/scenarios.py``: small libraries, the whole library without
    their answers, near topics), split seeds 0-2; README "Quality" gives the out-of-fold
    figures. The ``tentative`` margins are fitted with them (session 12: the margin under which a
    further ``TENTATIVE_SHARE`` of the answerable questions fall, on every question of seeds 0-2).
    ``min_articles`` is not tuned: a z-score over fewer articles is mostly noise.
    """

    crowd: Weights = Weights(
        bar=0.8442,
        support=0.02,
        cross_lingual_support=0.02,
        standout=0.02,
        absent=0.08,
        absent_from=4.0,
        tentative=0.0108,
    )
    small: Weights = Weights(
        bar=0.9030, support=0.16, cross_lingual_support=0.04, missing=0.02, specificity=1.6, tentative=0.0178
    )
    min_articles: int = 20
    # A question holding ``absent_terms`` terms at least ``absent_information`` rare that no
    # article ranked first supports in any form is about something the library does not hold,
    # however close e5 rates its best sentence (a near topic's article on the same subject, an
    # unrelated article's sentence). Chosen out of fold on the scenarios (seeds 0-2, session 11):
    # every fold's training questions chose 3 and 4.5 from 2-4 terms x 4.0-6.0 (the most absent
    # questions declined with no more answerable ones), and on the held-out folds it declined
    # small 88.7% -> 89.2%, removed 54.2% -> 54.4%, near 40.0% -> 41.8% of the absent questions and
    # no more answerable ones. None: never (``NEVER_ABSTAIN``).
    absent_terms: int | None = 3
    absent_information: float = 4.5

    def side(self, signals: Signals) -> Weights:
        return self.small if signals.standout is None else self.crowd

    def margin(self, signals: Signals) -> float:
        """How far the question clears the bar (negative: abstain); comparable across questions."""
        side = self.side(signals)
        return side.score(signals) - side.bar

    def answers(self, signals: Signals) -> bool:
        return not self.about_something_else(signals) and self.margin(signals) >= 0.0

    def tentative(self, signals: Signals) -> bool:
        """Whether an answer clears the bar by less than its side's ``Weights.tentative``."""
        return self.answers(signals) and self.margin(signals) < self.side(signals).tentative

    def about_something_else(self, signals: Signals) -> bool:
        """Whether the question holds ``absent_terms`` rare terms the articles ranked first lack."""
        if self.absent_terms is None:
            return False
        return sum(i >= self.absent_information for i in signals.absent) >= self.absent_terms


DEFAULT_RULE = AbstentionRule()
NEVER_ABSTAIN = AbstentionRule(Weights(bar=float("-inf")), Weights(bar=float("-inf")), absent_terms=None)
"""Quotes every question (the tuner's sentence stages, which judge only what is quoted)."""


def adjusted_evidence(best_evidence: float, cross_lingual: bool) -> float:
    """The best sentence's evidence (its cosine, plus any lexical bonus the config gives) on one
    scale for every language pair: a sentence quoted across languages gets the allowance back."""
    return best_evidence + (CROSS_LINGUAL_ALLOWANCE if cross_lingual else 0.0)


def standout(
    article_scores: np.ndarray, language_rows: Sequence[np.ndarray], *, min_articles: int = 20
) -> float | None:
    """How far the best article stands out, for the language where it stands out most; None when
    no language has ``min_articles`` articles (or all its scores are equal).

    Per language: ``(best - mean) / std`` of that language's article scores, minus
    ``sqrt(2 ln n)``, about where the best of n unrelated articles lands by chance (the expected
    maximum of n standard normal draws). Without that correction a smaller library would look
    like one whose best hit stands out less, and the rule would abstain more on it.
    Per language, because e5 scores every text in the question's language higher: pooled, an
    English question's best Indonesian answer would be measured against English noise. A per-
    language constant added to the scores (the index's language baseline) changes nothing here.
    """
    best: float | None = None
    for rows in language_rows:
        if len(rows) < min_articles:
            continue
        scores = np.asarray(article_scores, np.float64)[rows]
        spread = float(scores.std())
        if spread <= 0.0:
            continue
        z = (float(scores.max()) - float(scores.mean())) / spread - math.sqrt(2.0 * math.log(len(rows)))
        best = z if best is None else max(best, z)
    return best


CROWD_GRID: dict[str, tuple[float, ...]] = {
    "support": (0.0, 0.02, 0.04, 0.06, 0.08, 0.12),
    "cross_lingual_support": (0.0, 0.02, 0.04, 0.06, 0.08, 0.12),
    "standout": (0.0, 0.01, 0.02, 0.03),
    "missing": (0.0, 0.02, 0.04),
    "absent": (0.0, 0.04, 0.08, 0.12, 0.2),
    "absent_from": (ABSENT_FROM_MIN, 4.5, 5.0),
}
SMALL_GRID: dict[str, tuple[float, ...]] = {
    "support": (0.0, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24),
    "cross_lingual_support": (0.0, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24),
    "missing": (0.0, 0.02, 0.04, 0.08),
    "specificity": (0.0, 0.4, 0.7, 1.0, 1.3, 1.6, 2.0),
}
"""The values ``fit_rule`` tries on each side: coarse on purpose (dev is a few hundred questions).
The crowd side has no specificity and the small side no absent term: measured out of fold on
dev, each chose 0 or lost there (specificity in a big library: 47% -> 44% of the absent
questions declined at 3% of the answerable; absent terms in a small library: weight 0 in every
fold, its support and missing terms already see every article)."""


def fit_rule(
    signals: Sequence[Signals],
    answerable: Sequence[bool],
    groups: Sequence[str],
    *,
    max_false_abstention: float = MAX_FALSE_ABSTENTION,
    tentative_share: float = TENTATIVE_SHARE,
    base: AbstentionRule = DEFAULT_RULE,
    grids: tuple[dict[str, tuple[float, ...]], dict[str, tuple[float, ...]]] = (CROWD_GRID, SMALL_GRID),
) -> AbstentionRule:
    """The rule that declines the most questions without an answer while declining at most
    ``max_false_abstention`` of the answerable ones, on each side (``AbstentionRule``) apart.

    For each combination of weights in a side's grid, its bar is set at that share of the
    side's answerable questions (``bar_for``); the combination kept declines the largest share of
    the side's unanswerable questions averaged over ``groups`` (each kind of library counts the
    same, however many questions it has). Ties keep the first combination in grid order (the
    simpler one). The kept combination's answers are tentative up to the score that a further
    ``tentative_share`` of the answerable questions falls under. A side with no question keeps
    ``base``'s weights. ``NotEnoughData`` when there are no unanswerable questions, or a side has
    questions but no answerable one."""
    table = _Table.of(signals, answerable, groups)
    if not (~table.answerable).any() or not table.answerable.any():
        raise NotEnoughData("fitting the abstention rule needs both answerable and unanswerable questions")
    sides = []
    for crowd, grid, kept in ((True, grids[0], base.crowd), (False, grids[1], base.small)):
        on_side = table.crowd == crowd
        if not on_side.any():
            sides.append(kept)
            continue
        sides.append(table.fitted_side(on_side, grid, max_false_abstention, tentative_share))
    return replace(base, crowd=sides[0], small=sides[1])


@dataclass(frozen=True, slots=True)
class _Table:
    """Labelled signals as columns, for trying many weights at once."""

    signals: tuple[Signals, ...]
    crowd: np.ndarray
    answerable: np.ndarray
    groups: np.ndarray

    @classmethod
    def of(cls, signals: Sequence[Signals], answerable: Sequence[bool], groups: Sequence[str]) -> _Table:
        return cls(
            tuple(signals),
            np.array([s.standout is not None for s in signals], bool),
            np.asarray(answerable, bool),
            np.asarray(groups, object),
        )

    def fitted_side(
        self,
        on_side: np.ndarray,
        grid: dict[str, tuple[float, ...]],
        share: float,
        tentative_share: float = 0.0,
    ) -> Weights:
        if not (self.answerable & on_side).any():
            raise NotEnoughData(
                "no answerable question to set a bar by (are their gold articles in the library?)"
            )
        picked = [s for s, keep in zip(self.signals, on_side, strict=True) if keep]
        answerable, groups = self.answerable[on_side], self.groups[on_side]
        unanswerable_groups = sorted(set(groups[~answerable].tolist()))
        columns = _Columns.of(picked, grid.get("absent_from", (ABSENT_FROM_MIN,)))
        best: tuple[float, Weights] | None = None
        names = list(grid)
        for values in itertools.product(*grid.values()):
            weights = Weights(bar=0.0, **dict(zip(names, values, strict=True)))
            scores = columns.scores(weights)
            weights = replace(weights, bar=bar_for(scores[answerable], share))
            declined = scores < weights.bar
            value = (
                float(np.mean([declined[(groups == g) & ~answerable].mean() for g in unanswerable_groups]))
                if unanswerable_groups
                else 0.0
            )
            if best is None or value > best[0] + 1e-12:
                best = (value, weights)
        assert best is not None
        chosen = best[1]
        if not tentative_share:
            return chosen
        scores = columns.scores(chosen)[answerable]
        return replace(chosen, tentative=max(0.0, bar_for(scores, share + tentative_share) - chosen.bar))


@dataclass(frozen=True, slots=True)
class _Columns:
    evidence: np.ndarray
    standout: np.ndarray  # 0 where there is no crowd
    support: np.ndarray
    missing: np.ndarray
    cross_lingual: np.ndarray
    specificity: np.ndarray  # UNMEASURED_SPECIFICITY where it is not measured
    absent: dict[float, np.ndarray]  # per ``absent_from``: the most specific absent term

    @classmethod
    def of(cls, signals: Sequence[Signals], thresholds: Sequence[float] = ()) -> _Columns:
        return cls(
            np.array([s.evidence for s in signals], np.float64),
            np.array([s.standout or 0.0 for s in signals], np.float64),
            np.array([s.support for s in signals], np.float64),
            np.array([s.missing for s in signals], np.float64),
            np.array([s.cross_lingual for s in signals], bool),
            np.array(
                [
                    UNMEASURED_SPECIFICITY if s.specificity is None or s.cross_lingual else s.specificity
                    for s in signals
                ],
                np.float64,
            ),
            {t: np.array([s.most_absent(t) for s in signals], np.float64) for t in thresholds},
        )

    def scores(self, w: Weights) -> np.ndarray:
        """``Weights.score`` of every row."""
        support = np.where(self.cross_lingual, w.cross_lingual_support, w.support)
        missing = np.where(self.cross_lingual, 0.0, w.missing)
        score = self.evidence + w.standout * self.standout + support * self.support - missing * self.missing
        if w.absent:
            score = score - np.where(self.cross_lingual, 0.0, w.absent) * self.absent[w.absent_from]
        return score + w.specificity * self.specificity


def bar_for(scores: np.ndarray, share: float = MAX_FALSE_ABSTENTION) -> float:
    """The largest bar that leaves at most ``share`` of these answerable scores below it."""
    if not len(scores):
        raise NotEnoughData(
            "no answerable question to set a bar by (are their gold articles in the library?)"
        )
    sample = np.sort(np.asarray(scores, np.float64))
    return float(sample[int(np.floor(share * len(sample)))])
