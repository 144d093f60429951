"""Libraries as users meet them, built from labelled questions: what ``newsbot eval`` asks.

A labelled question asked of the whole dev library says how well the bot ranks; it says little
about what a family chat with eight articles sees, or a newsroom asking about a story the
library only brushes. Three scenarios, each a list of ``Asked`` (one question, one library):

- *small*: libraries of 1-16 articles: the gold articles of a few questions plus long real
  news articles as neighbours, asked those questions (answerable) and as many others whose
  answer no article of the library holds (absent).
- *removed*: the whole library without every article holding the answer of a random half of the
  questions (gold article, ``answer_doc_ids``, a Belebele passage's other-language copy).
- *near*: libraries holding articles on the question's subject but not its answer: the
  articles closest to the gold one (by e5 vectors) that share a content word with the question
  and hold none of its answers, with long news neighbours around them. Only span questions
  (FacQA, TyDi): their answers can be checked absent by string; a Belebele answer is an
  annotator's paraphrase, and a passage that does not hold its words may still say it.

Everything is deterministic for a seed. Which article "holds" a question's answer is decided
by the labels (gold, ``answer_doc_ids``) and, for span answers, by the answer's text itself
(``answer_doc_ids`` leaves out answers under 4 characters).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.corpus import CorpusIndex
from retrieval.evaluation import LabelledQuestion
from retrieval.lexical import tokenize

SMALL_SIZES = (1, 2, 4, 8, 16)
NEAR_SIZE = 8
NEAR_ARTICLES = 3  # articles on the question's subject in a near-topic library
NEAR_CANDIDATES = 20  # closest articles to the gold one looked at for those
NEIGHBOUR_MIN_SENTENCES = 5  # a neighbour is a real news article, not a one-paragraph passage
MAX_HOLDERS = 10  # a question more articles answer ("2005") is never made absent
_BELEBELE_COPY = re.compile(r"^(belebele-p\d+)-(id|en)$")


@dataclass(frozen=True, slots=True)
class LibraryArticle:
    """What the scenarios need to know of a stored article."""

    ref: str
    text: str
    sentences: int
    vector: np.ndarray  # a unit vector for the whole article (its chunks' mean), for "near"


@dataclass(frozen=True, slots=True)
class Asked:
    """One question asked of one library: ``library`` lists its refs, or is None for the whole
    library without ``removed``."""

    scenario: str  # "small", "removed" or "near"
    size: int  # articles in the library
    library: tuple[str, ...] | None
    removed: frozenset[str]
    question: LabelledQuestion
    answerable: bool


def answer_holders(
    questions: Sequence[LabelledQuestion], articles: Sequence[LibraryArticle]
) -> dict[str, frozenset[str]]:
    """Per question id, every article of the library that holds its answer: the gold article,
    its labelled ``answer_doc_ids``, the other-language copy of a Belebele passage, and any
    article whose text holds a span answer (case-folded)."""
    refs = {a.ref for a in articles}
    texts = [(a.ref, a.text.casefold()) for a in articles]
    holders: dict[str, frozenset[str]] = {}
    for q in questions:
        held = {q.gold_article, *q.answer_doc_ids}
        if match := _BELEBELE_COPY.match(q.gold_article):
            held |= {f"{match.group(1)}-{lang}" for lang in ("id", "en")}
        if q.is_span:
            answers = [a.casefold().strip() for a in q.answers if a.strip()]
            held |= {ref for ref, text in texts if any(a in text for a in answers)}
        holders[q.id] = frozenset(held & refs)
    return holders


def neighbour_pool(articles: Sequence[LibraryArticle], holders: Mapping[str, frozenset[str]]) -> list[str]:
    """Long articles that hold no labelled question's answer: the real news a small library
    surrounds its few answering articles with."""
    holding = set().union(*holders.values()) if holders else set()
    return sorted(a.ref for a in articles if a.sentences >= NEIGHBOUR_MIN_SENTENCES and a.ref not in holding)


def small_libraries(
    questions: Sequence[LabelledQuestion],
    holders: Mapping[str, frozenset[str]],
    pool: Sequence[str],
    *,
    sizes: Sequence[int] = SMALL_SIZES,
    libraries_per_size: int = 40,
    seed: int = 0,
) -> list[Asked]:
    """Libraries of each size: ``max(1, size // 4)`` questions' gold articles (questions sharing
    one come with it), the rest drawn from ``pool``; each asked the questions its gold articles
    answer, and as many questions none of its articles holds the answer of. A library drawn
    twice is asked once."""
    rng = random.Random(seed)
    by_gold: dict[str, list[LabelledQuestion]] = {}
    for q in questions:
        if q.gold_article in holders.get(q.id, ()):  # the gold article is in the library
            by_gold.setdefault(q.gold_article, []).append(q)
    golds = sorted(by_gold)
    asked: list[Asked] = []
    built: set[tuple[str, ...]] = set()
    for size in sizes:
        for _ in range(libraries_per_size):
            chosen = rng.sample(golds, min(max(1, size // 4), len(golds), size))
            fill = rng.sample(list(pool), min(size - len(chosen), len(pool)))
            library = tuple(sorted({*chosen, *fill}))
            if library in built:  # a small collection repeats itself: ask each library once
                continue
            built.add(library)
            present = set(library)
            answerable = [q for q in questions if q.gold_article in present]
            absent = [q for q in questions if not holders.get(q.id, frozenset()) & present]
            absent = rng.sample(absent, min(len(answerable), len(absent)))
            asked += [Asked("small", len(library), library, frozenset(), q, True) for q in answerable]
            asked += [Asked("small", len(library), library, frozenset(), q, False) for q in absent]
    return asked


def removed_gold(
    questions: Sequence[LabelledQuestion],
    holders: Mapping[str, frozenset[str]],
    library_size: int,
    *,
    seed: int = 0,
) -> list[Asked]:
    """The whole library without every holder of a random half of the questions (twins and
    questions over one article go together; questions more than ``MAX_HOLDERS`` articles answer
    always stay): those are asked as absent, the questions whose gold article stays as
    answerable, and any other question (its gold article went with another's) not at all."""
    rng = random.Random(seed)
    removable = sorted(
        {
            q.gold_article
            for q in questions
            if q.gold_article in holders.get(q.id, ()) and len(holders[q.id]) <= MAX_HOLDERS
        }
    )
    chosen = set(rng.sample(removable, len(removable) // 2))
    removed = frozenset().union(*(holders[q.id] for q in questions if q.gold_article in chosen))
    asked = []
    size = library_size - len(removed)
    for q in questions:
        held = holders.get(q.id, frozenset())
        if q.gold_article in chosen and held <= removed:
            asked.append(Asked("removed", size, None, removed, q, False))
        elif q.gold_article in held and q.gold_article not in removed:
            asked.append(Asked("removed", size, None, removed, q, True))
    return asked


def near_topics(
    questions: Sequence[LabelledQuestion],
    holders: Mapping[str, frozenset[str]],
    articles: Sequence[LibraryArticle],
    pool: Sequence[str],
    *,
    size: int = NEAR_SIZE,
    seed: int = 0,
) -> list[Asked]:
    """Per span question, a library of the ``NEAR_ARTICLES`` articles closest to its gold one
    (cosine of the articles' mean vectors, among the ``NEAR_CANDIDATES`` closest) that share one
    of its content words and hold none of its answers, plus neighbours from ``pool``; asked that
    question, which it cannot answer. Questions with no such article are left out."""
    rng = random.Random(seed)
    by_ref = {a.ref: a for a in articles}
    refs = [a.ref for a in articles]
    matrix = np.stack([a.vector for a in articles]) if articles else np.zeros((0, 1), np.float32)
    asked = []
    for q in questions:
        gold = by_ref.get(q.gold_article)
        if gold is None or not q.is_span:
            continue
        held = holders.get(q.id, frozenset())
        terms = set(tokenize(q.question))
        closest = np.argsort(-(matrix @ gold.vector), kind="stable")[: NEAR_CANDIDATES + 1]
        near = [
            refs[i]
            for i in closest.tolist()
            if refs[i] not in held and terms & set(tokenize(by_ref[refs[i]].text))
        ][:NEAR_ARTICLES]
        if not near:
            continue
        fill = [r for r in rng.sample(list(pool), min(size, len(pool))) if r not in held and r not in near]
        library = tuple(sorted({*near, *fill[: size - len(near)]}))
        asked.append(Asked("near", len(library), library, frozenset(), q, False))
    return asked


def library_articles(index: CorpusIndex) -> list[LibraryArticle]:
    """The index's articles as the scenarios see them (a unit mean vector per article)."""
    found = []
    for article in index.articles:
        mean = np.asarray(article.chunk_vectors, np.float64).mean(0) if article.chunk_count else None
        vector = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32) if mean is not None else None
        found.append(
            LibraryArticle(
                article.info.ref,
                article.text,
                article.sentence_count,
                vector if vector is not None else np.zeros(index.dim, np.float32),
            )
        )
    return found


class LibraryViews:
    """The index of each scenario's library, built once and shared by every question asked of
    it (a small library is a few articles: cheap; the whole library less some is a snapshot)."""

    def __init__(self, index: CorpusIndex) -> None:
        self._index = index
        self._by_ref = {a.info.ref: a for a in index.articles}
        self._views: dict[tuple[tuple[str, ...] | None, frozenset[str]], CorpusIndex] = {}

    def of(self, asked: Asked) -> CorpusIndex:
        key = (asked.library, asked.removed)
        view = self._views.get(key)
        if view is None:
            if asked.library is not None:
                view = CorpusIndex(
                    [self._by_ref[r] for r in asked.library], self._index.config, dim=self._index.dim
                )
            else:
                gone = {self._by_ref[r].info.id for r in asked.removed if r in self._by_ref}
                view = self._index.without_articles(gone)
            if len(self._views) > 512:  # small libraries are asked together; keep memory bounded
                self._views.clear()
            self._views[key] = view
        return view
