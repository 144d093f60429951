"""The abstention rule and its signals, on plain arrays (no model, no SQLite)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from retrieval.abstention import (
    CROSS_LINGUAL_ALLOWANCE,
    DEFAULT_RULE,
    NEVER_ABSTAIN,
    UNMEASURED_SPECIFICITY,
    AbstentionRule,
    Signals,
    Weights,
    adjusted_evidence,
    bar_for,
    fit_rule,
    standout,
)
from retrieval.answer import sentence_specificity
from retrieval.errors import NotEnoughData
from retrieval.grounding import MAX_INFORMATION


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


def test_rule_weighs_standout_and_support_against_evidence() -> None:
    rule = AbstentionRule(crowd=Weights(bar=0.84, standout=0.02, support=0.05, missing=0.04))
    assert rule.margin(Signals(0.82, 1.5)) == pytest.approx(0.82 + 0.03 - 0.84)
    assert rule.answers(Signals(0.82, 1.5))
    assert not rule.answers(Signals(0.86, -1.5))  # a high cosine from an article that stands out from nothing
    grounded = Signals(0.80, 1.0, support=0.8, missing=0.25)
    assert rule.margin(grounded) == pytest.approx(0.80 + 0.02 + 0.05 * 0.8 - 0.04 * 0.25 - 0.84)


def test_across_languages_support_has_its_own_weight_and_nothing_is_missing() -> None:
    """An English question over an Indonesian quote shares only names and figures with it: its
    support weighs ``cross_lingual_support``, and a term it lacks says little."""
    weights = Weights(bar=0.84, support=0.1, cross_lingual_support=0.02, missing=0.5)
    rule = AbstentionRule(crowd=weights)
    same = Signals(0.82, 0.0, support=0.5, missing=1.0)
    across = replace(same, cross_lingual=True)
    assert rule.margin(same) == pytest.approx(0.82 + 0.05 - 0.5 - 0.84)
    assert rule.margin(across) == pytest.approx(0.82 + 0.01 - 0.84)


def test_without_a_crowd_the_small_side_applies() -> None:
    """No standout can be measured in a library of a few articles: its own bar and weights."""
    rule = AbstentionRule(crowd=Weights(bar=0.9, standout=0.5), small=Weights(bar=0.8, support=0.1))
    assert rule.margin(Signals(0.79, None, support=0.2)) == pytest.approx(0.79 + 0.02 - 0.8)
    assert rule.margin(Signals(0.79, 0.1, support=0.2)) == pytest.approx(0.79 + 0.05 - 0.9)


def test_a_term_absent_from_the_top_articles_counts_only_when_rare_enough_and_in_one_language() -> None:
    """ "Persetasi" (information 8) absent from every article ranked first weighs against
    answering; a commoner absent term (4.2) only when ``absent_from`` lets it; across languages
    nothing does (the Indonesian article may say it otherwise)."""
    rule = AbstentionRule(crowd=Weights(bar=0.84, absent=0.2, absent_from=4.5))
    rare = Signals(0.85, 0.0, absent=(4.2, 8.0))
    common = Signals(0.85, 0.0, absent=(4.2,))
    assert rule.margin(rare) == pytest.approx(0.85 - 0.2 * 8.0 / MAX_INFORMATION - 0.84)
    assert rule.margin(common) == pytest.approx(0.85 - 0.84)
    assert rule.margin(replace(rare, cross_lingual=True)) == pytest.approx(0.85 - 0.84)
    lower = AbstentionRule(crowd=Weights(bar=0.84, absent=0.2, absent_from=4.0))
    assert lower.margin(common) == pytest.approx(0.85 - 0.2 * 4.2 / MAX_INFORMATION - 0.84)


def test_three_rare_terms_no_top_article_holds_decline_however_high_the_evidence() -> None:
    """Three terms at least 4.5 rare that no article ranked first holds: the question is about
    something else, in either side and across languages, whatever the margin; two do not
    decide it, nor do commoner ones; the tuner's ``NEVER_ABSTAIN`` never declines."""
    rule = AbstentionRule(crowd=Weights(bar=0.84), small=Weights(bar=0.84))
    elsewhere = Signals(0.95, None, support=1.0, absent=(4.6, 5.0, 8.0))
    assert rule.margin(elsewhere) > 0.1 and not rule.answers(elsewhere)
    assert not rule.answers(replace(elsewhere, standout=2.0, cross_lingual=True))
    assert rule.answers(replace(elsewhere, absent=(5.0, 8.0)))
    assert rule.answers(replace(elsewhere, absent=(4.2, 4.4, 5.0, 8.0)))
    assert NEVER_ABSTAIN.answers(elsewhere)


def test_a_sentence_that_stands_above_its_article_counts_and_a_lone_one_counts_as_typical() -> None:
    rule = AbstentionRule(small=Weights(bar=0.8, specificity=1.0))
    assert rule.margin(Signals(0.78, None, specificity=0.06)) == pytest.approx(0.78 + 0.06 - 0.8)
    assert rule.margin(Signals(0.78, None)) == pytest.approx(0.78 + UNMEASURED_SPECIFICITY - 0.8)


def test_specificity_is_the_lead_over_the_next_best_sentences_of_the_article() -> None:
    """A sentence standing above its article's next three (a far weaker fifth does not count),
    one level with them, and an article of one sentence, which has nothing to stand above."""
    assert sentence_specificity(np.array([0.80, 0.90, 0.80, 0.82, 0.50]), 1) == pytest.approx(
        0.9 - (0.80 + 0.80 + 0.82) / 3
    )
    assert sentence_specificity(np.array([0.85, 0.85, 0.85]), 0) == pytest.approx(0.0)
    assert sentence_specificity(np.array([0.88]), 0) is None


def test_fit_rule_weighs_specificity_where_it_tells_absent_questions_apart() -> None:
    """Small libraries whose absent questions find an on-topic article scoring every sentence
    alike (specificity near 0) and whose answerable ones find a sentence standing out."""
    rng = np.random.default_rng(3)
    n = 2000
    answerable = rng.random(n) < 0.5
    evidence = rng.normal(0.85, 0.01, n)
    specific = np.clip(rng.normal(0.05, 0.015, n) - 0.04 * ~answerable, 0, None)
    signals = [Signals(float(e), None, specificity=float(s)) for e, s in zip(evidence, specific, strict=True)]
    rule = fit_rule(signals, answerable, ["near"] * n, max_false_abstention=0.05)
    assert rule.small.specificity > 0
    declined = ~np.array([rule.answers(s) for s in signals])
    assert declined[~answerable].mean() > 0.5 and declined[answerable].mean() <= 0.05


def labelled(n: int, seed: int) -> tuple[list[Signals], np.ndarray, list[str]]:
    """Questions in two kinds of library: with a crowd ("removed") and without ("small"). Absent
    ones have lower evidence, and far lower support; their standout is noise."""
    rng = np.random.default_rng(seed)
    answerable = rng.random(n) < 0.5
    crowd = rng.random(n) < 0.5
    evidence = rng.normal(0.85, 0.02, n) - 0.015 * ~answerable
    support = np.clip(rng.normal(0.7, 0.15, n) - 0.5 * ~answerable, 0, 1)
    signals = [
        Signals(float(e), float(z) if c else None, float(s))
        for e, z, s, c in zip(evidence, rng.normal(0, 1, n), support, crowd, strict=True)
    ]
    return signals, answerable, ["removed" if c else "small" for c in crowd]


def test_fit_rule_finds_the_support_weight_and_keeps_false_abstention_under_the_target() -> None:
    signals, answerable, groups = labelled(3000, seed=6)
    rule = fit_rule(signals, answerable, groups, max_false_abstention=0.05)
    assert rule.crowd.support > 0 and rule.small.support > 0
    declined = ~np.array([rule.answers(s) for s in signals])
    for group in ("removed", "small"):
        in_group = np.array([g == group for g in groups])
        assert declined[answerable & in_group].mean() <= 0.05
    evidence_only = fit_rule(
        signals, answerable, groups, max_false_abstention=0.05, grids=(NO_SUPPORT, NO_SUPPORT)
    )
    declined_alone = ~np.array([evidence_only.answers(s) for s in signals])
    assert declined[~answerable].mean() > declined_alone[~answerable].mean() + 0.2
    assert rule.min_articles == DEFAULT_RULE.min_articles


NO_SUPPORT: dict[str, tuple[float, ...]] = {"support": (0.0,)}


def test_answers_that_clear_the_bar_narrowly_are_tentative_for_the_share_asked() -> None:
    """Fitted with a 5% bar and 10% more tentative, about 10% of the answerable questions get a
    tentative answer on each side, and far more of the unanswerable ones that are answered."""
    signals, answerable, groups = labelled(3000, seed=6)
    rule = fit_rule(signals, answerable, groups, max_false_abstention=0.05, tentative_share=0.10)
    plain = fit_rule(signals, answerable, groups, max_false_abstention=0.05, tentative_share=0.0)
    assert (
        replace(rule.crowd, tentative=0.0) == plain.crowd
        and replace(rule.small, tentative=0.0) == plain.small
    )
    assert rule.crowd.tentative > 0 and rule.small.tentative > 0 and plain.small.tentative == 0
    tentative = np.array([rule.tentative(s) for s in signals])
    answered = np.array([rule.answers(s) for s in signals])
    assert not (tentative & ~answered).any()  # a declined question is not an answer at all
    for group in ("removed", "small"):
        in_group = np.array([g == group for g in groups])
        assert 0.08 <= tentative[answerable & in_group].mean() <= 0.12
        assert tentative[~answerable & answered & in_group].mean() > 0.3
    signal = next(s for s, t in zip(signals, tentative, strict=True) if t)
    assert 0.0 <= rule.margin(signal) < rule.side(signal).tentative
    assert not rule.tentative(replace(signal, evidence=signal.evidence + 1.0))


def test_no_bar_without_answerable_questions() -> None:
    """A fold whose other folds hold no gold article (a wrong --db) is not measurable, said so."""
    with pytest.raises(NotEnoughData, match="no answerable question"):
        bar_for(np.array([]))


def test_fit_rule_needs_both_kinds_of_question() -> None:
    signals, _, groups = labelled(50, seed=9)
    with pytest.raises(NotEnoughData, match="both"):
        fit_rule(signals, np.ones(50, bool), groups)
