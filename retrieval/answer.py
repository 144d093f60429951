"""From a ranked library to a reply: the answer's steps as small functions, side by side.

    evidence (CorpusIndex.evidence) -> rank (CorpusIndex.rank) -> by date and story
    (``for_quotes``) -> score_sentences -> supported? (abstention) -> reread_in_context
    -> choose_quotes -> Answer

The index (``retrieval/corpus.py``) owns the vectors and postings; everything here reads it and
decides what to quote, so tuning and evaluation change only this half.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from retrieval.abstention import ABSENT_FROM_MIN, SPECIFICITY_NEIGHBOURS, Signals, adjusted_evidence, standout
from retrieval.answer_kinds import can_answer, expected_answer
from retrieval.citations import named_words
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex, QueryEvidence, RankedArticles
from retrieval.dates import newest_first, prefer_period, published_day, question_period, without_recency_words
from retrieval.grounding import (
    MAX_INFORMATION,
    QuestionTerms,
    TextTerms,
    information,
    question_terms,
    support,
    text_terms,
    translations,
    written_alike,
)
from retrieval.lexical import specific_words, tokenize
from retrieval.near_duplicates import COPIES_WINDOW, fold_copies
from retrieval.questions import canonical_question, has_content
from retrieval.types import Answer, ArticleInfo, Citation

PassageEncoder = Callable[[list[str]], np.ndarray]
"""Texts -> their normalized e5 passage vectors (the model's ``encode_passages``)."""

EMPTY_LIBRARY = "the library has no articles yet"
NOT_CLOSE_ENOUGH = "nothing in the library answers this closely enough to quote"
NO_CONTENT = "the question has no word or figure to look for"
_WORD = re.compile(r"\w+")
_DASH = re.compile(r"[-‐‑–—]")

# Quote candidates whose support of the question is weighed (``order_by_support``): the first
# few are where the first quote comes from.
SUPPORT_CANDIDATES = 8
# The articles ranked first, read whole when a decline names what the library lacks.
MISSING_CHECK_ARTICLES = 10
# A single word of the question is named as missing only if it is at least this rare in the
# question's language (zipf 3.5: "bitcoin", "Bekasi" in English; not "earthquake" at 4.15).
NAMEABLE_INFORMATION = 4.5

# Quote candidates re-read in their article's context, and how much of the lead they are read
# after when the article has no title (``reread_in_context``). Fixed, not tuned: they bound the
# cost (one encoder call of at most 5 short texts, 3.3 on average on dev; on the 45k library
# p50/p95 +65/+104 ms, and +38/+82 ms with 3 candidates and 12 words). In sample, 3-8
# candidates and 8-16 words or the whole lead score within one question of each other; out of
# fold, 3 and 12 gave TyDi answer-in-quotes .84, FacQA .86, and 5 and 16 gave .87, .85. Of 5,
# the fifth never became the first quote (323 dev questions in the dev library and in the 10k
# library: 0 of 646), and 4 quote the same first sentences on dev (FacQA/TyDi first quote .768/
# .743 either way) in 0.87 of the p95 time at 10k articles; 3 lose TyDi's .743 -> .714.
CONTEXT_CANDIDATES = 4
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
    *,
    asked: str | None = None,
) -> Answer:
    """Quote the 1-3 sentences that best answer ``question``, or abstain saying why.
    ``question`` is the text ``query_vector`` embeds, in its canonical form
    (``canonical_question``); ``asked`` the question as typed, which the answer shows and an
    abstention's reason quotes from. ``encode_passages`` (the model's passage encoder) lets the
    best candidate sentences be re-scored in their article's context."""
    if unanswerable := _unanswerable(index, asked or question):  # before any scoring
        return unanswerable
    evidence = index.evidence(question, query_vector, asked=asked)
    return answer_from(index, evidence, encode_passages=encode_passages)


def _unanswerable(index: CorpusIndex, shown: str) -> Answer | None:
    """The abstention whatever the library holds: it is empty (first: then that is the reason,
    whatever was asked), or the question has no word or figure to look for."""
    if not index.articles:
        return _declined(shown, (), EMPTY_LIBRARY, "empty_library")
    if not has_content(shown):
        return _declined(shown, (), NO_CONTENT, "no_content")
    return None


def prepared_question(index: CorpusIndex, question: str) -> str:
    """``question`` as the pipeline embeds and reads it for this library (``canonical_question``
    with the library's letter case), without the words that only ask for recent news
    ("terbaru", "hari ini": ``find`` reads them from the question as asked)."""
    return canonical_question(without_recency_words(question), index.written_form)


def answer_from(
    index: CorpusIndex,
    evidence: QueryEvidence,
    config: RetrievalConfig | None = None,
    encode_passages: PassageEncoder | None = None,
) -> Answer:
    """The answer ``evidence`` supports under ``config`` (default: the index's own)."""
    cfg = config or index.config
    shown = evidence.asked or evidence.question
    if unanswerable := _unanswerable(index, shown):
        return unanswerable
    found = find(index, evidence, cfg, encode_passages)
    if found is None or not cfg.abstention.answers(found.signals):
        return decline(index, evidence, found)
    return quoted_answer(index, evidence, found, cfg)


def quoted_answer(index: CorpusIndex, evidence: QueryEvidence, found: Found, cfg: RetrievalConfig) -> Answer:
    """The quotes, with what the question names that the library never mentions and whether the
    rule let them through narrowly: it may answer "How many people died in the Bandung
    earthquake?" from a flood's "Two people died", and the reader should learn that no article
    says "Bandung" before reading it (as a search engine shows "Missing: bandung"). Declining on
    that alone would cost more than it catches: out of fold on dev, 11% of the answers small
    libraries give to answerable questions name something their article writes otherwise or not
    at all (a full name, "Olympic" for "Olimpiade", the date a question was written on), against
    38% of the answers to questions the library cannot answer (docs/quality-history.md, session
    12)."""
    shown = evidence.asked or evidence.question
    missing = missing_from_library(index, evidence, found)
    quotes = choose_quotes(index, found, cfg)
    tentative = cfg.abstention.tentative(found.signals)
    return Answer(shown, quotes, found.refs, False, None, missing=missing, tentative=tentative)


@dataclass(frozen=True, slots=True)
class Found:
    """What the library offers for one question before the rule decides: the ranked articles,
    the quote candidates best first, the question's content terms and the signals the
    abstention rule weighs."""

    ranked: RankedArticles
    refs: tuple[str, ...]
    candidates: list[Candidate]
    terms: QuestionTerms
    signals: Signals
    # The other copies of each quoted story, by the slot of the article its quotes come from.
    copies: dict[int, tuple[ArticleInfo, ...]] = field(default_factory=dict)


def for_quotes(
    index: CorpusIndex, ranked: RankedArticles, stories: int
) -> tuple[RankedArticles, list[int], dict[int, tuple[ArticleInfo, ...]]]:
    """The ranking quotes come from, the slots quoted and each one's copies: the articles a
    question asking for recent news or naming a period prefers first (``dates.prefer_period``:
    the newest of those that answer about as well; only those of the period when it names
    one), then the best article of each of the first ``stories`` stories, each story's other
    copies aside as its "also in" (``near_duplicates.fold_copies``)."""
    question = ranked.evidence.asked or ranked.evidence.question
    if (period := question_period(question)) is not None:
        days = [published_day(index.article_at(int(s)).info) for s in ranked.order[:COPIES_WINDOW]]
        if (dated := prefer_period(ranked.order, ranked.fused, days, period)) is not None:
            ranked = RankedArticles(dated.order, dated.fused, ranked.dense, ranked.evidence)
            if period.has_window:  # a day or a period named: quotes from its articles only
                stories = min(stories, dated.preferred)
    infos = [index.article_at(int(s)).info for s in ranked.order[: max(COPIES_WINDOW, stories)]]
    folded = fold_copies(ranked.order, infos, stories)
    return ranked, list(folded.slots), folded.copies


def find(
    index: CorpusIndex,
    evidence: QueryEvidence,
    cfg: RetrievalConfig,
    encode_passages: PassageEncoder | None = None,
) -> Found | None:
    """Rank, score the sentences, re-read the best in context and order them by what they
    support; None when the library has no sentence to quote."""
    ranked = index.rank(evidence, cfg)
    quoting, slots, copies = for_quotes(index, ranked, cfg.answer_articles)
    refs = tuple(index.article_at(i).info.ref for i in quoting.order[: max(cfg.ranked_articles, 1)])
    candidates, strongest = score_sentences(index, quoting, cfg, slots)
    if strongest is None or not candidates:
        return None
    if encode_passages is not None and cfg.context_weight and evidence.query_vector is not None:
        candidates = reread_in_context(index, candidates, evidence, cfg, encode_passages)
    terms = question_terms(evidence.question, evidence.lang)
    # The support the rule weighs is the best candidate's by e5 (in context), before the order
    # by support: that order would hand every question, answered or not, the candidate that
    # supports it most, and the signal would no longer tell the two apart (out of fold, unknown
    # questions declined in small libraries 87% -> 82% when it was measured after).
    best = candidates[0]
    grounding = support(terms, context_terms(index, best))
    cross_lingual = evidence.lang not in ("und", index.article_at(best.article).info.lang)
    candidates = order_by_support(index, candidates, terms, cfg)
    evidence_, lift = _evidence_and_standout(index, strongest, ranked, cfg)
    signals = Signals(
        evidence_,
        lift,
        grounding.share,
        grounding.missing / MAX_INFORMATION,
        cross_lingual,
        absent=absent_from_top(index, terms, ranked),
        specificity=specificity(index, strongest, ranked.evidence),
    )
    return Found(ranked, refs, candidates, terms, signals, copies)


def absent_from_top(index: CorpusIndex, terms: QuestionTerms, ranked: RankedArticles) -> tuple[float, ...]:
    """The information of each of the question's terms (at least ``ABSENT_FROM_MIN`` rare) that
    none of the ``MISSING_CHECK_ARTICLES`` articles ranked first supports in any form. The terms
    are the canonical question's, so letter case never matters; most questions find every such
    term written alike in those articles."""
    rare = [(t, w) for t, w in zip(terms.terms, terms.weights, strict=True) if w >= ABSENT_FROM_MIN]
    if not rare:
        return ()
    articles = [index.article_at(int(slot)) for slot in ranked.order[:MISSING_CHECK_ARTICLES]]
    vocabularies = [_vocabulary(a.info.title, a.text) for a in articles]
    written = frozenset().union(*(v.terms for v in vocabularies))
    return tuple(w for t, w in rare if t not in written and not any(v.supports(t) for v in vocabularies))


@lru_cache(maxsize=1024)
def _vocabulary(title: str | None, text: str) -> TextTerms:
    """An article's terms (``CorpusIndex.article_terms``) and their keys, kept for the articles
    asked about most: tokenizing the 10 articles ranked first and keying their terms is nearly
    all of the absent check's time. On dev's library, 200 questions, a loaded 2-core machine:
    p50 / p95 0.15 / 0.6 ms once their articles were seen, 2.2 / 44 ms the first time."""
    return TextTerms.of(tokenize(f"{title or ''} {text}"))


def specificity(index: CorpusIndex, strongest: Strongest, evidence: QueryEvidence) -> float | None:
    """The strongest sentence's ``sentence_specificity`` among its article's sentences."""
    first = index.sentence_offsets[strongest.article]
    count = index.article_at(strongest.article).sentence_count
    return sentence_specificity(evidence.sentence_dense[first : first + count], strongest.sentence)


def sentence_specificity(cosines: np.ndarray, sentence: int) -> float | None:
    """How far sentence ``sentence``'s cosine stands above the mean of the next
    ``SPECIFICITY_NEIGHBOURS`` best of its article's ``cosines``; None when it is the only one."""
    others = np.delete(np.asarray(cosines, np.float64), sentence)
    if not len(others):
        return None
    return float(cosines[sentence] - np.sort(others)[-SPECIFICITY_NEIGHBOURS:].mean())


def score_sentences(
    index: CorpusIndex, ranked: RankedArticles, cfg: RetrievalConfig, slots: list[int] | None = None
) -> tuple[list[Candidate], Strongest | None]:
    """The sentences of the top articles (``slots``, default the first ``answer_articles``
    ranked) as quote candidates, best first; and the sentence the abstention rule weighs, None
    if there is no sentence.

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
    for article_index in ranked.order[: cfg.answer_articles] if slots is None else slots:
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


def order_by_support(
    index: CorpusIndex, candidates: list[Candidate], terms: QuestionTerms, cfg: RetrievalConfig
) -> list[Candidate]:
    """The best ``SUPPORT_CANDIDATES`` candidates moved by ``quote_support_weight`` x the share
    of the question's content each supports with the sentence before it (which may name what it
    says "it" of), leaving out what its article's title already says: a headline names the
    subject for every sentence under it, so of two sentences e5 scores alike, the one that holds
    what is asked beyond the subject comes first
    ("Two people died" under "Floods swamp East Jakarta" for "how many people died in the
    Jakarta floods", before the lead's water levels)."""
    if not cfg.quote_support_weight or not terms.terms:
        return candidates
    beyond_title: dict[int, QuestionTerms] = {}
    moved = {}
    for c in candidates[:SUPPORT_CANDIDATES]:
        if c.article not in beyond_title:
            title = TextTerms.of(tokenize(index.article_at(c.article).info.title or ""))
            beyond_title[c.article] = terms.without(t for t in terms.terms if title.supports(t))
        asked = beyond_title[c.article]
        article = index.article_at(c.article)
        read = [
            article.sentence_text(c.sentence),
            article.sentence_text(c.sentence - 1) if c.sentence else "",
        ]
        share = support(asked, text_terms(read)).share if asked.terms else 1.0
        bonus = cfg.quote_support_weight * share
        moved[(c.article, c.sentence)] = c._replace(rank_key=c.rank_key + bonus, score=c.score + bonus)
    rescored = [moved.get((c.article, c.sentence), c) for c in candidates]
    rescored.sort(key=lambda c: -c.rank_key)
    return rescored


def context_terms(index: CorpusIndex, candidate: Candidate) -> list[str]:
    """The terms a quote is read with: its own, its article's title's, the previous sentence's
    and the lead's: a quote need not repeat the subject its article names, but what it adds must
    be its own or its neighbour's."""
    article = index.article_at(candidate.article)
    texts = [article.sentence_text(candidate.sentence), article.info.title or ""]
    if candidate.sentence > 0:
        texts.append(article.sentence_text(candidate.sentence - 1))
        if candidate.sentence > 1:
            texts.append(article.sentence_text(0))
    return text_terms(texts)


def choose_quotes(index: CorpusIndex, found: Found, cfg: RetrievalConfig) -> tuple[Citation, ...]:
    """The first candidate, then up to ``max_sentences - 1`` more within ``sentence_margin`` of
    it, each only if it supports at least ``added_support`` more of the question's content than
    the quotes before it (None: no such test), and each text once."""
    candidates = found.candidates
    best = candidates[0].score
    chosen: list[Candidate] = []
    seen_texts: set[str] = set()
    supported: list[str] = []
    share = 0.0
    for candidate in candidates:
        if len(chosen) == cfg.max_sentences or candidate.score < best - cfg.sentence_margin:
            break
        text = index.article_at(candidate.article).sentence_text(candidate.sentence)
        if text in seen_texts:
            continue
        if cfg.added_support is not None and found.terms.terms:
            with_it = support(found.terms, supported + context_terms(index, candidate)).share
            if chosen and with_it - share < cfg.added_support:
                continue
            share = with_it
            supported += context_terms(index, candidate)
        seen_texts.add(text)
        chosen.append(candidate)
    citations = [
        Citation(
            text=index.article_at(c.article).sentence_text(c.sentence),
            score=c.score,
            article=index.article_at(c.article).info,
            sentence_index=c.sentence,
            also_in=found.copies.get(c.article, ()),
        )
        for c in chosen
    ]
    return tuple(later_first(citations))


def later_first(citations: list[Citation]) -> list[Citation]:
    """Quotes from articles of different dates, the later first (an earlier and a later death
    toll: the later one leads, and each shows its date); as they were when any is undated or
    all share one day."""
    days = [published_day(c.article) for c in citations]
    if None in days or len(set(days)) < 2:
        return citations
    return [citations[k] for k in newest_first(days)]


def _evidence_and_standout(
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
    index: CorpusIndex,
    evidence: QueryEvidence,
    config: RetrievalConfig | None = None,
    encode_passages: PassageEncoder | None = None,
) -> Signals | None:
    """The signals the abstention rule weighs for this question, or None when there is no
    sentence to quote at all; the tuner fits the rule on these."""
    cfg = config or index.config
    if not index.articles:
        return None
    found = find(index, evidence, cfg, encode_passages)
    return None if found is None else found.signals


def decline(index: CorpusIndex, evidence: QueryEvidence, found: Found | None) -> Answer:
    """The abstention, naming what the library lacks when it can be named truly."""
    refs = () if found is None else found.refs
    asked = evidence.asked or evidence.question
    missing = missing_from_library(index, evidence, found)
    if missing:
        named = named_words(missing)
        return _declined(asked, refs, f"nothing in the library mentions {named}", "not_mentioned", missing)
    return _declined(asked, refs, NOT_CLOSE_ENOUGH, "not_close_enough")


def _declined(
    question: str, refs: tuple[str, ...], reason: str, kind: str, missing: tuple[str, ...] = ()
) -> Answer:
    return Answer(question, (), refs, True, reason, reason_kind=kind, missing=missing)


def missing_from_library(index: CorpusIndex, evidence: QueryEvidence, found: Found | None) -> tuple[str, ...]:
    """The question's names, figures and rare words (as the question writes them) of which
    nothing in the library holds the word, its stem, a close spelling or its name in another
    language ("Japan" is not blamed on a library that says "Jepang", "earthquakes" not on one
    that says "earthquake").

    Every term is looked up among the library's words and, with stems, spellings and
    translated names, in the articles ranked first (all of a small library's). Across
    languages only what is written alike is blamed: figures, one-word names ("Bekasi",
    "Bitcoin"), names CLDR translates and rare words another language writes as they are
    (``written_alike``: a lowercase "bandung" in an English question); a name of several words
    ("United Nations" is "PBB" in Indonesian) or a rare common word ("sourdough" may be "roti
    asam") only when every article is in the question's language. Common words (information below
    ``NAMEABLE_INFORMATION``) never are, nor a name made only of stopwords ("AS", "IT")."""
    one_language = index.languages == (evidence.lang,)
    candidates = [(words, terms) for words, terms, alike in _nameable(evidence) if alike or one_language]
    if not candidates:
        return ()
    slots = found.ranked.order if found else index.live_slots()
    nearby = [index.article_at(int(slot)) for slot in slots[:MISSING_CHECK_ARTICLES]]

    def held(term: str) -> bool:
        # The lexicon settles most terms; an article's own terms are read (and kept) only after.
        return (
            bool(index.lexical.known_terms([term]))
            or any(_vocabulary(a.info.title, a.text).supports(term) for a in nearby)
            or _translated_known(index, term)
        )

    missing: list[str] = []
    blamed: set[str] = set()
    for words, terms in candidates:
        if not blamed.issuperset(terms) and not any(held(t) for t in terms):
            missing.append(words)
            blamed.update(terms)
    return tuple(missing)


def _nameable(evidence: QueryEvidence) -> list[tuple[str, list[str], bool]]:
    """(words as written, their terms, whether they are written alike across languages) the
    question may be declined for lacking: its names and figures (``specific_words``), then its
    single words rare enough to name (information at least ``NAMEABLE_INFORMATION`` in the
    question's language), including those inside a name ("Jayapura" of "Wali Kota Jayapura")."""
    found: list[tuple[str, list[str], bool]] = []
    asked = evidence.asked or evidence.question
    for words in specific_words(asked):
        terms = tokenize(words)
        if terms:
            alike = (
                len(terms) == 1 or any(ch.isdigit() for ch in words) or all(translations(t) for t in terms)
            )
            found.append((words, terms, alike))
        # Names joined by a dash ("Jakarta-Bandung", a route) are names each.
        for part in _DASH.split(words) if _DASH.search(words) else ():
            if part[:1].isupper() and len(part_terms := tokenize(part)) == 1:
                found.append((part, part_terms, True))
    for match in _WORD.finditer(asked):
        terms = tokenize(match.group(0))
        if terms and information(terms[0], evidence.lang) >= NAMEABLE_INFORMATION:
            word = match.group(0)
            alike = (
                any(ch.isdigit() for ch in word)
                or bool(translations(terms[0]))
                or word[:1].isupper()
                or written_alike(terms[0], evidence.lang)
            )
            found.append((word, terms, alike))
    return found


def _translated_known(index: CorpusIndex, term: str) -> bool:
    """Whether the library holds ``term``'s name in another language (CLDR)."""
    return bool(index.lexical.known_terms(list(translations(term))))
