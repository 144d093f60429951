"""From a ranked library to a reply: the answer's steps as small functions, side by side.

    evidence (CorpusIndex.evidence) -> rank (CorpusIndex.rank) -> score_sentences
    -> supported? (abstention) -> reread_in_context -> choose_quotes -> Answer

The index (``retrieval/corpus.py``) owns the vectors and postings; everything here reads it and
decides what to quote, so tuning and evaluation change only this half.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from retrieval.abstention import adjusted_evidence, standout
from retrieval.answer_kinds import can_answer, expected_answer
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex, QueryEvidence, RankedArticles
from retrieval.lexical import specific_words, tokenize
from retrieval.types import Answer, Citation

PassageEncoder = Callable[[list[str]], np.ndarray]
"""Texts -> their normalized e5 passage vectors (the model's ``encode_passages``)."""

EMPTY_LIBRARY = "the library has no articles yet"

# Quote candidates re-read in their article's context, and how much of the lead they are read
# after when the article has no title (``reread_in_context``). Fixed, not tuned: they bound the
# cost (one encoder call of at most 5 short texts, 3.3 on average on dev; on the 45k library
# p50/p95 +65/+104 ms, and +38/+82 ms with 3 candidates and 12 words). In sample, 3-8
# candidates and 8-16 words or the whole lead score within one question of each other; out of
# fold, 3 and 12 gave TyDi answer-in-quotes .84, FacQA .86, and 5 and 16 gave .87, .85.
CONTEXT_CANDIDATES = 5
CONTEXT_WORDS = 16
# A re-read sentence is cut at this many words: 99.5% of sentences are shorter (dev and the 45k
# corpus), and the few run-on ones (up to 370 words) would otherwise cost up to 5 texts of 512
# tokens in one answer.
CONTEXT_SENTENCE_WORDS = 80


class Candidate(NamedTuple):
    """A sentence that may be quoted: ``score`` is what the quote margin compares, ``rank_key``
    adds its article's standing and orders the candidates."""

    rank_key: float
    score: float
    article: int  # the article's slot in the index
    sentence: int


class Strongest(NamedTuple):
    """The sentence the abstention rule weighs: its evidence (cosine), where it is."""

    evidence: float
    article: int
    sentence: int


def answer(
    index: CorpusIndex,
    question: str,
    query_vector: np.ndarray,
    encode_passages: PassageEncoder | None = None,
) -> Answer:
    """Quote the 1-3 sentences that best answer ``question``, or abstain saying why.
    ``encode_passages`` (the model's passage encoder) lets the best candidate sentences be
    re-scored in their article's context (``RetrievalConfig.context_weight``)."""
    if not index.articles:
        return Answer(question, (), (), True, EMPTY_LIBRARY)
    return answer_from(index, index.evidence(question, query_vector), encode_passages=encode_passages)


def answer_from(
    index: CorpusIndex,
    evidence: QueryEvidence,
    config: RetrievalConfig | None = None,
    encode_passages: PassageEncoder | None = None,
) -> Answer:
    """The answer ``evidence`` supports under ``config`` (default: the index's own)."""
    cfg = config or index.config
    question = evidence.question
    if not index.articles:
        return Answer(question, (), (), True, EMPTY_LIBRARY)
    ranked = index.rank(evidence, cfg)
    refs = tuple(index.article_at(i).info.ref for i in ranked.order[: max(cfg.ranked_articles, 1)])
    candidates, strongest = score_sentences(index, ranked, cfg)
    if strongest is None or not supported(index, strongest, ranked, cfg):
        return Answer(question, (), refs, True, abstain_reason(index, ranked))
    if encode_passages is not None and cfg.context_weight and evidence.query_vector is not None:
        candidates = reread_in_context(index, candidates, evidence, cfg, encode_passages)
    return Answer(question, choose_quotes(index, candidates, cfg), refs, False, None)


def score_sentences(
    index: CorpusIndex, ranked: RankedArticles, cfg: RetrievalConfig
) -> tuple[list[Candidate], Strongest | None]:
    """The sentences of the top articles as quote candidates, best first; and the sentence the
    abstention rule weighs, None if there is no sentence.

    A candidate ranks by its e5 cosine plus its article's standing. A sentence that can hold
    the kind of answer asked for (``retrieval/answer_kinds.py``) gets ``answer_kind_weight``
    for its place among the quotes, but not as evidence: a date in a sentence does not make
    the library any likelier to answer the question (measured: as evidence it lowers the
    share of unanswerable questions caught from 57% to 54%)."""
    top_fused = float(ranked.fused[ranked.order[0]])
    question = ranked.evidence.question
    kind = expected_answer(question) if cfg.answer_kind_weight else None
    candidates: list[Candidate] = []
    strongest: tuple[float, float, int, int] | None = None  # (evidence + prior, evidence, a, s)
    for article_index in ranked.order[: cfg.answer_articles]:
        article = index.article_at(article_index)
        prior = cfg.article_prior_weight * (float(ranked.fused[article_index]) - top_fused)
        first = index.sentence_offsets[article_index]
        for s in range(article.sentence_count):
            evidence = float(ranked.evidence.sentence_dense[first + s])
            if strongest is None or evidence + prior > strongest[0]:
                strongest = (evidence + prior, evidence, int(article_index), s)
            score = evidence
            if kind is not None and can_answer(kind, question, article.sentence_text(s)):
                score += cfg.answer_kind_weight
            candidates.append(Candidate(score + prior, score, int(article_index), s))
    candidates.sort(key=lambda c: -c.rank_key)
    return candidates, None if strongest is None else Strongest(*strongest[1:])


def reread_in_context(
    index: CorpusIndex,
    candidates: list[Candidate],
    evidence: QueryEvidence,
    cfg: RetrievalConfig,
    encode_passages: PassageEncoder,
) -> list[Candidate]:
    """Re-score the best few candidates as read after their article's headline.

    A sentence embedded alone loses the subject its article names elsewhere ("Luas pulau ini
    menjangkau hingga 14km2" never says which island), so for "Berapa luas Pulau
    Inaccessible?" e5 prefers the lead that names the island but not its area (0.905 against
    0.834). Read after the article's title, or after its lead's first ``CONTEXT_WORDS``
    words when it has none, the candidate gets its subject back; its score moves by
    ``context_weight`` x (in-context cosine - own cosine). Leads are not re-read. (Dev's
    passages have no titles, so the lead is what was measured; a headline names the subject
    at least as well as a lead's opening words, which in news often start with a dateline.)
    Costs one encoder call of at most ``CONTEXT_CANDIDATES`` short texts per answer."""
    query = np.asarray(evidence.query_vector, np.float32)
    top = [c for c in candidates[:CONTEXT_CANDIDATES] if c.sentence > 0]
    if not top:
        return candidates
    texts = []
    for c in top:
        article = index.article_at(c.article)
        heading = article.info.title or " ".join(article.sentence_text(0).split()[:CONTEXT_WORDS])
        sentence = " ".join(article.sentence_text(c.sentence).split()[:CONTEXT_SENTENCE_WORDS])
        texts.append(f"{heading} {sentence}")
    in_context = np.asarray(encode_passages(texts), np.float32) @ query
    moved = {}
    for c, cosine in zip(top, in_context.tolist(), strict=True):
        own = float(evidence.sentence_dense[index.sentence_offsets[c.article] + c.sentence])
        shift = cfg.context_weight * (cosine - own)
        moved[(c.article, c.sentence)] = c._replace(rank_key=c.rank_key + shift, score=c.score + shift)
    rescored = [moved.get((c.article, c.sentence), c) for c in candidates]
    rescored.sort(key=lambda c: -c.rank_key)
    return rescored


def choose_quotes(
    index: CorpusIndex, candidates: list[Candidate], cfg: RetrievalConfig
) -> tuple[Citation, ...]:
    """Up to ``max_sentences`` candidates within ``sentence_margin`` of the best, each text once."""
    best = candidates[0].score
    chosen: list[Candidate] = []
    seen_texts: set[str] = set()
    for candidate in candidates:
        if len(chosen) == cfg.max_sentences or candidate.score < best - cfg.sentence_margin:
            break
        text = index.article_at(candidate.article).sentence_text(candidate.sentence)
        if text in seen_texts:
            continue
        seen_texts.add(text)
        chosen.append(candidate)
    return tuple(
        Citation(
            text=index.article_at(c.article).sentence_text(c.sentence),
            score=c.score,
            article=index.article_at(c.article).info,
            sentence_index=c.sentence,
        )
        for c in chosen
    )


def supported(index: CorpusIndex, best: Strongest, ranked: RankedArticles, cfg: RetrievalConfig) -> bool:
    """Whether the best sentence's evidence, with how far its article stands out from the
    library for this question, clears the abstention rule (``retrieval/abstention.py``)."""
    evidence, lift = _abstention_signals(index, best, ranked, cfg)
    return cfg.abstention.answers(evidence, lift)


def _abstention_signals(
    index: CorpusIndex, best: Strongest, ranked: RankedArticles, cfg: RetrievalConfig
) -> tuple[float, float | None]:
    """(adjusted evidence, standout). The standout is measured on the score that ranks the
    articles (dense plus the question's BM25 weight x scaled BM25 under convex fusion): an
    article its words also single out stands further from the crowd than one only e5 finds.
    Other fusions (the ``eval --compare`` baselines) keep the dense score's standout: an RRF
    or BM25-only score has no crowd of cosines to be measured against."""
    asked_in = ranked.evidence.lang  # detected once, in ``evidence``
    cross_lingual = asked_in not in ("und", index.article_at(best.article).info.lang)
    scores = ranked.fused if cfg.fusion == "convex" else ranked.dense
    lift = standout(scores, index.language_rows, min_articles=cfg.abstention.min_articles)
    return adjusted_evidence(best.evidence, cross_lingual), lift


def abstention_signals(
    index: CorpusIndex, evidence: QueryEvidence, config: RetrievalConfig | None = None
) -> tuple[float, float | None] | None:
    """(adjusted evidence, standout) the abstention rule weighs for this question, or None
    when there is no sentence to quote at all; the tuner fits the rule on these."""
    cfg = config or index.config
    if not index.articles:
        return None
    ranked = index.rank(evidence, cfg)
    _, strongest = score_sentences(index, ranked, cfg)
    if strongest is None:
        return None
    return _abstention_signals(index, strongest, ranked, cfg)


def abstain_reason(index: CorpusIndex, ranked: RankedArticles) -> str:
    """Why nothing is quoted: the names and figures of the question no article holds any word
    of (see ``specific_words``; "North Korea" is not blamed on a library that says "Korea
    Utara", nor common words, which another language or form may hold), else that nothing
    answers closely enough.

    A name is only blamed when every article is in the question's language: across
    languages names are translated (Japan / Jepang, United States / Amerika Serikat; 39% of
    the names in FLORES' English sentences share no word with the Indonesian translation),
    so "nothing mentions “Japan”" would be false of an article saying "Jepang". Figures are
    written alike in every language and are always checked. A name made only of stopwords
    ("AS", "IT") has no terms to look for and is never blamed."""
    one_language = index.languages == (ranked.evidence.lang,)
    missing = [
        words
        for words in specific_words(ranked.evidence.question)
        if (terms := tokenize(words))
        and (one_language or any(ch.isdigit() for ch in words))
        and not index.lexical.known_terms(terms)
    ]
    if missing:
        shown = ", ".join(f"“{words}”" for words in missing[:5])
        return f"nothing in the library mentions {shown}"
    return "nothing in the library answers this closely enough to quote"
