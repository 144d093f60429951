"""Every tunable of retrieval in one place, with where its value came from.

Values marked *cross-validated* were chosen by ``newsbot tune`` (5-fold cross-validation over the
dev questions, grids in ``retrieval/tuning.py``): every fold chose the same value or the one next
to it, and the README reports the out-of-fold scores. Change them only by re-running the tuner,
together with the eval table in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.abstention import DEFAULT_RULE, AbstentionRule

TYPICAL_QUESTION_TERMS = 4
"""Known terms of a typical question (dev's median is 5, TyDi's 3): the query length at which
``bm25_terms_exponent`` leaves ``bm25_weight`` as it is."""


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    # Chunking: ~800 characters of whole sentences fits e5's 512-token window with room to spare
    # and matches the chunk size the reference figures in the issues were measured with.
    chunk_chars: int = 800
    chunk_overlap_sentences: int = 1

    # Okapi BM25 (rank_bm25 parameters). k1=0.9, b=0.4 are Anserini's defaults for news, and
    # the dev README's BM25 reference uses them.
    bm25_k1: float = 0.9
    bm25_b: float = 0.4

    # Fusion: "convex" adds ``bm25_weight`` x (BM25 score / its upper bound for this query) to
    # the dense cosine; "rrf" is reciprocal rank fusion with constant ``rrf_k``; "dense" and
    # "bm25" use one signal alone (the baselines ``newsbot eval --compare`` reports).
    # bm25_weight is *cross-validated* (4 of 5 folds chose 0.10, one 0.15); convex fusion beat
    # RRF (k 10-60), min-max and z-score normalized fusion on dev's MRR@10 in every variant tried.
    fusion: str = "convex"
    bm25_weight: float = 0.10
    rrf_k: int = 60
    # English questions get a BM25 weight of their own (None: ``bm25_weight``): over this library
    # most are asked of Indonesian text, where their words match only English distractors and
    # names. And the weight grows as (known query terms / TYPICAL_QUESTION_TERMS) ** exponent:
    # the lexical score is the share of the query's attainable BM25 a chunk reaches, and a high
    # share of two or three words (a short question) is far weaker evidence than one of ten.
    # Both *cross-validated* in a second ranking stage (``LEXICAL_GRID``): every fold chose 0.05
    # for English questions; 4 folds chose exponent 1.0, one 0.5 (with bm25_weight 0.15 there).
    # Out of fold (MRR@10): facqa .855 -> .865 (R@5 .94 -> .95, BM25 alone's), belebele id .927
    # -> .953, en→id .819 -> .832, tydi .942 -> .943; en→en .962 -> .955 (R@5 unchanged). The
    # cost is abstention: 61% -> 57% of unanswerable questions at the same ~3% (see AbstentionRule).
    english_bm25_weight: float | None = 0.05
    bm25_terms_exponent: float = 1.0

    # An article's dense score mixes its best chunk cosine and its best sentence cosine (a short
    # factual sentence can match a question far better than the chunk that dilutes it); the
    # query's mean cosine per article language is subtracted, shrunk by
    # ``language_prior_articles`` pseudo-articles towards the overall mean plus e5's known lift
    # for the question's own language (``CorpusIndex._language_baseline``; 0 turns the
    # correction off). Both *cross-validated*: every fold chose 0.75, and 200 in 4 folds of 5
    # (one 20; before the shrink target knew the same-language lift, 4 folds chose 20; 1000,
    # tried once, lost out of fold).
    # The correction lifts en→id R@5 from .67 to .89.
    chunk_weight: float = 0.75
    language_prior_articles: int = 200

    # Answer selection: sentences of the best ``answer_articles`` articles compete; up to
    # ``max_sentences`` are quoted, each within ``sentence_margin`` of the best; a sentence's
    # score is its cosine plus ``article_prior_weight`` x its article's fused score minus the
    # best article's. Both *cross-validated* (margin: every fold 0.06; prior: 4 folds 1.0, one
    # 2.0). The margin grid stops at 0.06: wider margins always win on "answer inside
    # the quotes" only by quoting 3 sentences. (Before quotes were re-read in context, the
    # prior's stage picked 2.0 in 4 folds and it was held at 1.0, where the abstention rule,
    # which weighs the strongest sentence with its prior, catches more.) An idf-weighted
    # share of the question's terms in the sentence (also with the lead's and the previous
    # sentence's terms counted as its own) was a tunable until the tuner kept choosing 0 for it
    # (4 folds of 5, every time), so it is gone.
    answer_articles: int = 3
    max_sentences: int = 3
    sentence_margin: float = 0.03
    article_prior_weight: float = 1.0
    # A sentence that can hold the kind of answer the question asks for (a date for "kapan" /
    # "when", a number for "berapa" / "how many", a name for "siapa" / "who" / "di mana") gets
    # this much on top of its score when quotes are chosen (not as abstention evidence; see
    # ``retrieval/answer_kinds.py``). *Cross-validated*: 4 folds chose 0.02, one 0.03.
    # Out of fold, the gold answer inside the quotes: FacQA .84 -> .86, TyDi .79 -> .80;
    # quotes from the gold article en→id .77 -> .79; ranking and abstention unchanged.
    answer_kind_weight: float = 0.03
    # The best quote candidates are re-read in context (after the start of their article's
    # lead, ``retrieval.answer.reread_in_context``), and their score moves by this weight x (in-context
    # cosine - own cosine). *Cross-validated*: 3 folds chose 0.5, two 0.75 (with 3 candidates
    # re-read instead of 5: 4 folds 0.5, one 0.25). Out of fold, the gold answer inside the
    # quotes: TyDi .80 -> .87, FacQA .86 -> .85; quotes from the gold article .88 -> .87
    # overall (en→en .87 -> .90, en→id .77 -> .74); abstention unchanged (decided before). A
    # constant bonus for every non-lead sentence, the control, does not do this (in sample TyDi
    # .84 -> .83-.86 and FacQA down to .75).
    context_weight: float = 0.5
    # The answer first: the best few candidates move by this weight x the share of the
    # question's content they support (``answer.order_by_support``), and a quote after the
    # first is added only when it supports at least ``added_support`` more of it (None: any
    # candidate within the margin is added).
    quote_support_weight: float = 0.08
    added_support: float | None = None

    # Abstention: answer only if the best sentence's evidence (cross-lingual ones get 0.03 back),
    # plus a weight x how far the best article's fused score stands out from the rest of the
    # library for this question, clears a bar. The weight and bar were fitted inside 5-fold
    # cross-validation on dev; see ``AbstentionRule`` for where the numbers come from and what
    # they reach. They depend on the fusion weights above: refit them (``newsbot tune``) when
    # those change.
    abstention: AbstentionRule = DEFAULT_RULE

    # How many ranked article refs an answer lists (the eval contract asks for at least 10).
    ranked_articles: int = 10

    def lexical_weight_for(self, question_lang: str, known_terms: int) -> float:
        """The convex fusion's BM25 weight for a question in ``question_lang`` with this many
        distinct terms the library knows."""
        weight = self.bm25_weight
        if question_lang == "en" and self.english_bm25_weight is not None:
            weight = self.english_bm25_weight
        return weight * (max(known_terms, 1) / TYPICAL_QUESTION_TERMS) ** self.bm25_terms_exponent


DEFAULT_CONFIG = RetrievalConfig()
