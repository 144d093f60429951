"""How much BM25 counts in the fused ranking depends on the question: its language and how many
of its terms the library knows (plain arrays and a tiny index; no model, no SQLite)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from retrieval.abstention import standout
from retrieval.answer import abstention_signals
from retrieval.config import DEFAULT_CONFIG, TYPICAL_QUESTION_TERMS
from retrieval.corpus import CorpusIndex, QueryEvidence
from retrieval.types import ArticleInfo, IndexedArticle

CONFIG = replace(DEFAULT_CONFIG, bm25_weight=0.10, english_bm25_weight=0.05, bm25_terms_exponent=1.0)


def _article(i: int, text: str) -> IndexedArticle:
    vector = np.zeros((1, 4), np.float32)
    vector[0, i % 4] = 1.0
    info = ArticleInfo(i, f"a{i}", None, None, None, None, None, "id", 1)
    return IndexedArticle.from_spans(info, text, [(0, len(text))], [(0, 1)], vector, vector.copy())


def _index() -> CorpusIndex:
    return CorpusIndex([_article(0, "dense favourite"), _article(1, "lexical favourite")], CONFIG, dim=4)


def _evidence(lang: str, known_terms: int) -> QueryEvidence:
    """Article 0 is 0.03 ahead on cosine, article 1 0.4 ahead on scaled BM25."""
    return QueryEvidence(
        question="q",
        terms=["t"] * known_terms,
        best_chunk=np.array([0.83, 0.80]),
        best_sentence=np.array([0.83, 0.80]),
        lexical=np.array([0.0, 0.4]),
        sentence_dense=np.array([0.83, 0.80]),
        lang=lang,
        known_terms=known_terms,
    )


def test_the_weight_grows_with_the_known_terms_of_the_question() -> None:
    assert CONFIG.lexical_weight_for("id", TYPICAL_QUESTION_TERMS) == pytest.approx(0.10)
    assert CONFIG.lexical_weight_for("id", 8) == pytest.approx(0.20)
    assert CONFIG.lexical_weight_for("id", 2) == pytest.approx(0.05)
    assert CONFIG.lexical_weight_for("id", 0) == CONFIG.lexical_weight_for("id", 1)
    flat = replace(CONFIG, bm25_terms_exponent=0.0)
    assert flat.lexical_weight_for("id", 2) == flat.lexical_weight_for("id", 20) == pytest.approx(0.10)


def test_english_questions_have_a_weight_of_their_own() -> None:
    assert CONFIG.lexical_weight_for("en", TYPICAL_QUESTION_TERMS) == pytest.approx(0.05)
    assert CONFIG.lexical_weight_for("und", TYPICAL_QUESTION_TERMS) == pytest.approx(0.10)
    shared = replace(CONFIG, english_bm25_weight=None)
    assert shared.lexical_weight_for("en", TYPICAL_QUESTION_TERMS) == pytest.approx(0.10)


def test_bm25_decides_a_long_indonesian_question_but_not_a_short_or_english_one() -> None:
    index = _index()
    questions = [("id", 8), ("id", 2), ("en", 4)]
    assert [int(index.rank(_evidence(lang, n)).order[0]) for lang, n in questions] == [1, 0, 0]
    # With one weight for every question (the old fusion) all three would go the same way.
    flat = replace(CONFIG, english_bm25_weight=None, bm25_terms_exponent=0.0)
    assert [int(index.rank(_evidence(lang, n), flat).order[0]) for lang, n in questions] == [1, 1, 1]


def test_evidence_records_the_questions_language_and_known_terms() -> None:
    index = _index()
    vector = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    evidence = index.evidence("Siapakah yang memimpin rapat kabinet lexical kemarin sore?", vector)
    assert evidence.lang == "id"
    assert evidence.known_terms == 1  # only "lexical" is in the library


def test_the_abstention_standout_is_measured_on_the_fused_ranking_score() -> None:
    """An article that the question's words single out as well stands further from the crowd than
    its cosine alone says; baselines ranked by another fusion keep the dense standout."""
    n = 30
    index = CorpusIndex([_article(i, f"artikel {i}") for i in range(n)], CONFIG, dim=4)
    rng = np.random.default_rng(0)
    cosines = rng.normal(0.80, 0.01, n)
    cosines[0] = 0.83  # ahead on cosine ...
    lexical = np.zeros(n)
    lexical[0] = 1.0  # ... and the only article holding the question's terms
    evidence = QueryEvidence("q", ["t"] * 8, cosines, cosines, lexical, cosines, lang="id", known_terms=8)
    ranked = index.rank(evidence)
    every = [np.arange(n)]
    fused, dense = standout(ranked.fused, every), standout(ranked.dense, every)
    assert fused is not None and dense is not None and fused > dense
    signals = abstention_signals(index, evidence)
    assert signals is not None and signals.standout == pytest.approx(fused)
    baseline = abstention_signals(index, evidence, replace(CONFIG, fusion="dense"))
    assert baseline is not None and baseline.standout == pytest.approx(dense)
