"""The abstention rule and its signals, on plain arrays (no model, no SQLite)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from retrieval.abstention import (
    CROSS_LINGUAL_ALLOWANCE,
    DEFAULT_RULE,
    AbstentionRule,
    adjusted_evidence,
    bar_for,
    fit_rule,
    standout,
)
from retrieval.errors import NotEnoughData


def rows(*sizes: int) -> list[np.ndarray]:
    """Language rows for consecutive blocks of articles, as ``CorpusIndex`` keeps them."""
    starts = np.cumsum([0, *sizes])
    return [np.arange(a, b) for a, b in itertools.pairwise(starts)]


def test_standout_is_the_best_articles_z_score_beyond_chance() -> None:
    scores = np.random.default_rng(0).normal(0.80, 0.01, 50)
    scores[7] = 0.90
    z = (scores.max() - scores.mean()) / scores.std()
    assert standout(scores, rows(50)) == pytest.approx(z - math.sqrt(2 * math.log(50)))


def test_unrelated_articles_do_not_stand_out_whatever_the_library_size() -> None:
    """The sqrt(2 ln n) correction keeps pure noise near 0 from 30 to 30,000 articles."""
    rng = np.random.default_rng(1)
    for n in (30, 300, 3000, 30000):
        values = [standout(rng.normal(0.8, 0.01, n), rows(n)) for _ in range(20)]
        assert all(v is not None for v in values)
        assert -1.2 < float(np.median(np.array(values, float))) < 0.6, n


def test_small_libraries_have_no_standout() -> None:
    assert standout(np.array([0.9]), rows(1)) is None
    assert standout(np.linspace(0.7, 0.9, 19), rows(19)) is None
    assert standout(np.linspace(0.7, 0.9, 20), rows(20)) is not None
    assert standout(np.linspace(0.7, 0.9, 20), rows(20), min_articles=21) is None


def test_equal_scores_have_no_standout() -> None:
    assert standout(np.full(40, 0.8), rows(40)) is None


def test_standout_is_measured_within_each_language() -> None:
    rng = np.random.default_rng(2)
    indonesian = rng.normal(0.78, 0.01, 100)
    english = rng.normal(0.84, 0.01, 100)  # the question's language: every score higher
    indonesian[3] = 0.83  # the answer: below every English article, far above its own language
    scores = np.concatenate([indonesian, english])
    alone = standout(indonesian, rows(100))
    assert standout(scores, rows(100, 100)) == pytest.approx(alone)
    pooled = standout(scores, [np.arange(200)])
    assert pooled is not None and alone is not None and pooled < alone


def test_a_per_language_shift_changes_nothing() -> None:
    """The index subtracts a per-language baseline from the dense scores; standout must not care."""
    scores = np.random.default_rng(3).normal(0.8, 0.01, 60)
    shifted = scores + np.repeat([0.05, -0.02], 30)
    assert standout(shifted, rows(30, 30)) == pytest.approx(standout(scores, rows(30, 30)))


def test_languages_too_small_to_measure_are_skipped() -> None:
    rng = np.random.default_rng(4)
    big = rng.normal(0.8, 0.01, 40)
    tiny = np.array([0.95, 0.70, 0.70])  # would stand out hugely, but three articles are no crowd
    assert standout(np.concatenate([big, tiny]), rows(40, 3)) == pytest.approx(standout(big, rows(40)))


def test_only_the_given_rows_count() -> None:
    """Removed articles keep their slots in the index; their scores must be ignored."""
    scores = np.random.default_rng(5).normal(0.8, 0.01, 30)
    live = [np.delete(np.arange(30), 4)]
    dead_high = scores.copy()
    dead_high[4] = 5.0
    assert standout(dead_high, live) == pytest.approx(standout(scores, live))


def test_cross_lingual_evidence_gets_its_allowance_back() -> None:
    assert adjusted_evidence(0.81, cross_lingual=True) == pytest.approx(0.81 + CROSS_LINGUAL_ALLOWANCE)
    assert adjusted_evidence(0.81, cross_lingual=False) == 0.81


def test_rule_weighs_standout_against_evidence() -> None:
    rule = AbstentionRule(weight=0.02, bar=0.84)
    assert rule.margin(0.82, 1.5) == pytest.approx(0.82 + 0.03 - 0.84)
    assert rule.answers(0.82, 1.5)
    assert not rule.answers(0.86, -1.5)  # a high cosine from an article that stands out from nothing


def test_without_a_crowd_the_rule_is_the_plain_evidence_bar() -> None:
    """One-article libraries: the seed article's weakest answer ("when did Xi meet Biden", 0.847)
    is answered and its most tempting absent topic ("what is the price of bitcoin", 0.812) is not;
    a small library's answer at 0.836 ("what did the governor of Jakarta say?") is quoted, which
    the bar meant for a crowd (0.845) refused."""
    assert DEFAULT_RULE.margin(0.85, None) == pytest.approx(0.85 - DEFAULT_RULE.bar_without_crowd)
    assert DEFAULT_RULE.answers(0.847, None)
    assert DEFAULT_RULE.answers(0.836, None)
    assert not DEFAULT_RULE.answers(0.812, None)
    assert DEFAULT_RULE.bar_without_crowd < DEFAULT_RULE.bar


def synthetic(n: int, weight: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Questions whose answerability depends on evidence + weight * standout, with noise."""
    rng = np.random.default_rng(seed)
    evidence = rng.normal(0.85, 0.03, n)
    standouts = rng.normal(1.0, 1.5, n)
    latent = evidence + weight * standouts + rng.normal(0, 0.01, n)
    return evidence, standouts, latent > np.median(latent)


def test_fit_rule_recovers_the_weight_and_keeps_false_abstention_under_the_target() -> None:
    evidence, standouts, answerable = synthetic(4000, 0.02, seed=6)
    rule = fit_rule(evidence, standouts, answerable, max_false_abstention=0.05)
    assert rule.weight == pytest.approx(0.02, rel=0.15)
    abstained = ~np.array([rule.answers(e, z) for e, z in zip(evidence, standouts, strict=True)])
    assert abstained[answerable].mean() <= 0.05
    assert abstained[~answerable].mean() > 0.6
    assert rule.min_articles == DEFAULT_RULE.min_articles
    alone = ~np.array([rule.answers(e, None) for e in evidence])
    assert 0.04 <= alone[answerable].mean() <= 0.05  # the evidence-only bar, at the same quantile


def test_the_bar_without_a_crowd_is_fitted_where_it_applies() -> None:
    """Given the evidence of answerable questions each asked of its gold article alone (a small
    library), the evidence-only bar is that sample's quantile, not the big library's."""
    evidence, standouts, answerable = synthetic(4000, 0.02, seed=6)
    alone = np.random.default_rng(10).normal(0.80, 0.01, 1000)
    rule = fit_rule(evidence, standouts, answerable, evidence_alone=alone, max_false_abstention=0.05)
    big_library = fit_rule(evidence, standouts, answerable, max_false_abstention=0.05)
    assert rule.bar_without_crowd == bar_for(alone, 0.05) == pytest.approx(0.8 - 1.645 * 0.01, abs=0.002)
    assert (alone < rule.bar_without_crowd).mean() <= 0.05
    assert (rule.weight, rule.bar) == (big_library.weight, big_library.bar)
    assert abs(rule.bar_without_crowd - big_library.bar_without_crowd) > 0.01


def test_no_bar_without_answerable_questions() -> None:
    """A fold whose other folds hold no gold article (a wrong --db) is not measurable, said so."""
    with pytest.raises(NotEnoughData, match="no answerable question"):
        bar_for(np.array([]))
    evidence, standouts, answerable = synthetic(200, 0.02, seed=11)
    with pytest.raises(NotEnoughData, match="no answerable question"):
        fit_rule(evidence, standouts, answerable, evidence_alone=np.array([]))


def test_fit_rule_gives_no_weight_to_a_useless_standout() -> None:
    evidence, _, answerable = synthetic(4000, 0.0, seed=7)
    noise = np.random.default_rng(8).normal(1.0, 1.5, 4000)
    assert abs(fit_rule(evidence, noise, answerable).weight) < 0.002


def test_fit_rule_needs_both_kinds_of_question() -> None:
    evidence, standouts, _ = synthetic(50, 0.02, seed=9)
    with pytest.raises(NotEnoughData, match="both"):
        fit_rule(evidence, standouts, np.ones(50, bool))
