"""When to say "nothing in the library answers this": the abstention rule and its two signals.

e5 cosines of a question against unrelated text sit in a narrow band (about 0.80-0.88), so the best
sentence's cosine alone cannot tell "the library has the answer" from "the library has something
on a nearby topic". A second, per-question signal helps: how far the best article *stands out*
from the other articles of its language for this query, in standard deviations, beyond what the
best of that many unrelated articles reaches by chance. An answering article usually stands well
clear of the crowd; when the answer is missing, the best hit is merely the top of the crowd.
The score measured is the one that ranks the articles (dense plus the question's BM25 share,
``CorpusIndex.rank``): an article that e5 *and* the question's words single out stands further
from the crowd than one that e5 alone prefers.

The rule answers when ``evidence + weight x standout >= bar``. A library too small to have a crowd
(fewer than ``min_articles`` articles in every language: a family chat's handful of articles) has
no standout to measure, so there the rule is a plain evidence bar, ``bar_without_crowd``, fitted
the same way on the evidence alone. (It used to be ``bar`` with the standout counted as 0, which
is stricter than an evidence-only fit by 0.008: answerable questions over a few articles that
score 0.834-0.840 were refused.)

Where the numbers come from (issue 4; the evaluation scripts were scratch work, the fitting is
``fit_rule``): on the dev set the gold articles of half the Belebele questions are removed
(``abstention_split`` seeds 0-4), then ``fit_rule`` is refitted inside 5 folds grouped by gold
article. Out of fold, averaged over the 5 splits, the rule with the standout of the dense score
alone abstained on 57% of the questions whose gold article is gone (46-61% by split) at 3.0% of
the answerable ones; the evidence bar alone, refitted the same way, manages 48% at 2.9%.
Measuring the standout on the fused score instead (no new tunable) catches more: at the same
2.5% training quantile 63% at 3.6% on seeds 0-4, and over split seeds 0-19 (a scratch
experiment, same folds and fitting) 63% at 3.1% against 56% at 2.9%; compared at equal answerable
abstention (3%) it gains 6-7 points over seeds 0-19, within English and within Indonesian
questions alike, and wins on about 70% of the seeds, not all. To stay within 3% the bar is now
set at the 2.25% quantile (``fit_rule``): 59% (47-69% by split) at 3.0% on seeds 0-4, 58% at 2.6%
over seeds 0-19. Part of the gain is a shift: English questions (their BM25 weight is lower, and
over Indonesian passages their words rarely match) are abstained on more (13% -> 17% of the
answerable ones), Indonesian ones less (1.6% -> 1.2%). With the language baseline's informed
prior and ``language_prior_articles`` 200 (session 5) the refit rule reaches 60% (52-68% by
split) at 2.8% on seeds 0-4.
The issue's target (80% at <= 3%) is not reached. No other signal tried (margins, gaps, fused
score level, lexical and name coverage (the question's capitalized words found in the top
article; in the top 2-5 articles, +2 points over split seeds 0-19 with a weight that changes sign
between folds), unknown terms, hubness, agreement of the dense and BM25 top articles, a
per-question null from the k-th best article or sentence, the best sentence against the rest of
its article, separate rules per question language) added to these two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.errors import NotEnoughData

CROSS_LINGUAL_ALLOWANCE = 0.03
"""Added to the evidence of a sentence in another language than the question: e5's cross-lingual
cosines run about 0.03 lower (the gap between the two bars the first abstention rule used)."""

MAX_FALSE_ABSTENTION = 0.0225
"""Share of answerable training questions a fitted bar may refuse: 2.25% rather than the 3%
target, because a bar set on training folds lets a little more through on new questions."""


@dataclass(frozen=True, slots=True)
class AbstentionRule:
    """Answer iff ``evidence + weight * standout >= bar`` (standout 0 when it cannot be measured).

    ``weight`` and ``bar`` come from ``fit_rule`` over dev splits 0-4 pooled (``newsbot tune``'s
    "Fitted on every question"), with the standout measured on the fused ranking score and the
    retrieval tunables of ``RetrievalConfig`` (chunk_weight 0.75, language_prior_articles 200,
    article_prior_weight 1.0, the BM25 weights: the evidence's and the standout's scale depend on
    them, so refit when they change; with language_prior_articles 20 it was weight 0.0280, bar
    0.841). The 25 fold fits (5 splits x 5 folds) ranged 0.013-0.065 in weight and 0.84-0.86 in
    bar, so only the first two digits of the weight mean anything. With the dense score's
    standout and the 2.5% quantile the same fit gave weight 0.0216, bar 0.835.
    ``bar_without_crowd`` is the same quantile of the evidence alone, fitted where it applies:
    each answerable dev question asked of its gold article alone (``newsbot tune``). Fitted on
    the whole library instead (0.833), it refused 10% of the answerable questions in simulated
    libraries of 1-16 dev articles: there the best sentence has no sibling passages lifting it,
    and that evidence hardly depends on the library's size (its 2.25% quantile is 0.819 at 1, 4,
    8 and 16 articles). Out of fold in one-article libraries 0.819 refuses 2.8% of the
    answerable questions and 93% of the Belebele ones asked of another article; in the 1-16
    article simulation, 2% of the answerable and 76% of such unanswerable questions (90% at one
    article), and 39% of questions whose library holds articles sharing their names but not
    the answer (57% with 0.833). Both bars lie below the seed article's weakest answer (0.847,
    "when did Xi meet Biden") and above its most tempting absent topic (0.812). ``min_articles``
    is not tuned: a z-score over fewer articles is mostly noise.
    """

    weight: float = 0.0270
    bar: float = 0.845
    bar_without_crowd: float = 0.819
    min_articles: int = 20

    def margin(self, evidence: float, standout: float | None) -> float:
        """How far the question clears the bar (negative: abstain); comparable across questions."""
        if standout is None:
            return evidence - self.bar_without_crowd
        return evidence + self.weight * standout - self.bar

    def answers(self, evidence: float, standout: float | None) -> bool:
        return self.margin(evidence, standout) >= 0.0


DEFAULT_RULE = AbstentionRule()


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


def fit_rule(
    evidence: np.ndarray,
    standouts: np.ndarray,
    answerable: np.ndarray,
    *,
    evidence_alone: np.ndarray | None = None,
    max_false_abstention: float = MAX_FALSE_ABSTENTION,
    base: AbstentionRule = DEFAULT_RULE,
) -> AbstentionRule:
    """Refit ``weight``, ``bar`` and ``bar_without_crowd`` on labelled questions (``standouts``
    may hold NaN for None).

    The weight is the direction of an L2-regularized logistic regression of "answerable" on
    standardized (evidence, standout); the bar is the largest that leaves at most
    ``max_false_abstention`` of the answerable questions below it, and ``bar_without_crowd``
    likewise for the evidence alone: the evidence of ``evidence_alone`` when given (answerable
    questions each asked of its gold article alone, the small libraries where that bar applies),
    else of the answerable questions here. 2.25% rather than the 3%
    target because a bar set on training folds lets a little more through on new questions
    (at 2.5% the held-out folds of split seeds 0-4 lost 3.6% of their answerable questions).
    """
    x = np.column_stack([evidence, np.nan_to_num(np.asarray(standouts, np.float64))]).astype(np.float64)
    y = np.asarray(answerable, bool)
    if y.all() or not y.any():
        raise NotEnoughData("fitting the abstention rule needs both answerable and unanswerable questions")
    mean, spread = x.mean(0), x.std(0)
    spread[spread == 0] = 1.0
    coef = _logistic((x - mean) / spread, y.astype(np.float64))
    if coef[0] <= 0:
        raise NotEnoughData(
            "in these questions higher evidence does not mean answerable: nothing to calibrate"
        )
    weight = float(coef[1] / spread[1]) / float(coef[0] / spread[0])
    bar = bar_for(x[y, 0] + weight * x[y, 1], max_false_abstention)
    alone = x[y, 0] if evidence_alone is None else evidence_alone
    return AbstentionRule(weight, bar, bar_for(alone, max_false_abstention), base.min_articles)


def bar_for(scores: np.ndarray, share: float = MAX_FALSE_ABSTENTION) -> float:
    """The largest bar that leaves at most ``share`` of these answerable scores below it."""
    if not len(scores):
        raise NotEnoughData(
            "no answerable question to set a bar by (are their gold articles in the library?)"
        )
    sample = np.sort(np.asarray(scores, np.float64))
    return float(sample[int(np.floor(share * len(sample)))])


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Slopes of a logistic regression with intercept (Newton's method; the intercept is not
    penalized). Small and exact enough for two features and a few thousand rows."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (y - p) - penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if float(np.abs(step).max()) < 1e-10:
            break
    return beta[1:]
