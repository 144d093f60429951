"""Answering from candidates: a small ``CorpusIndex`` of the articles a search engine found for
one question (Milvus: dense ANN and BM25), which the unchanged answer pipeline
(``retrieval/answer.py``) reads as if it were the whole library.

Three things the pipeline reads are properties of the whole library, not of the candidates:

- the per-language mean cosine it subtracts (``CorpusIndex._language_baseline``), and the crowd
  the best article must stand out from (``abstention.standout``: a z-score per language over
  every article's score, corrected by ``sqrt(2 ln n)``). Both come here from a fixed uniform
  sample of the library's articles, held in memory with its vectors, standing in for the
  articles that are not candidates: each sampled article counts for ``(n - candidates) / sample``
  articles of its language (``LibrarySample``).
- BM25's statistics (idf, average chunk length, the terms the library knows at all, which the
  lexical weight and "nothing in the library mentions ..." read): the engine's document
  frequencies of the question's terms (``bm25.LexicalIndex.with_corpus_statistics``).
- how the library writes a word (the canonical question): the caller reads passages holding
  it from the engine (``corpus.written_form_of``).

Everything else (fusion, sentence choice, re-reading in context, abstention) runs as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.abstention import CROSS_LINGUAL_ALLOWANCE
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex
from retrieval.grounding import translations
from retrieval.lexical import specific_words, tokenize
from retrieval.types import IndexedArticle


@dataclass(frozen=True, slots=True)
class LibrarySample:
    """What a candidate index needs to know of the whole library: its articles per language
    (``sizes``), its number of chunks and their mean BM25 length, and a uniform sample of its
    articles as an index (a few hundred per language estimate a mean and a spread to about a
    thousandth of a cosine). Built once, shared by every question until the library changes."""

    sizes: Mapping[str, int]
    chunks: int
    chunk_length: float
    index: CorpusIndex

    @classmethod
    def of(
        cls,
        sizes: Mapping[str, int],
        chunks: int,
        articles: Sequence[IndexedArticle],
        config: RetrievalConfig,
        *,
        dim: int,
    ) -> LibrarySample:
        index = CorpusIndex(articles, config, dim=dim)
        lengths = [len(tokenize(f"{a.info.title or ''} {t}")) for a in articles for t in a.chunk_texts()]
        return cls(dict(sizes), chunks, float(np.mean(lengths)) if lengths else 0.0, index)


def counted_terms(question: str, asked: str | None = None) -> list[str]:
    """The terms whose library-wide document frequency the pipeline may read for this question:
    its own, the typed question's, and their names in other languages (``translations``, read
    when a decline names what the library lacks)."""
    terms = tokenize(question) + tokenize(asked or "")
    for words in specific_words(asked or question):
        terms += tokenize(words)
    for term in list(dict.fromkeys(terms)):
        terms += list(translations(term))
    return list(dict.fromkeys(terms))


class CandidateIndex(CorpusIndex):
    """The candidates of one question and the library's sample as one ``CorpusIndex``, with the
    whole library's language baseline, crowd and BM25 statistics (see the module docstring).
    Built per question (``over``); adding to it or removing from it gives a plain
    ``CorpusIndex``."""

    _sizes: dict[str, int]
    _weights: np.ndarray
    _crowd: list[np.ndarray]

    @classmethod
    def over(
        cls, library: LibrarySample, candidates: Sequence[IndexedArticle], term_df: Mapping[str, int]
    ) -> CandidateIndex:
        """``library``'s sample with ``candidates`` added (costing the candidates' rows only; a
        candidate the sample holds as it is now is not added again)."""
        held = {a.info.id: a.info for a in library.index.articles}
        plain = library.index.with_articles([a for a in candidates if held.get(a.info.id) != a.info])
        index = object.__new__(cls)
        index.__dict__.update(plain.__dict__)
        index._sizes = dict(library.sizes)
        index.lexical = plain.lexical.with_corpus_statistics(term_df, library.chunks, library.chunk_length)
        index._weights = index._population_weights({a.info.id for a in candidates})
        index._crowd = index._crowd_rows()
        return index

    def _population_weights(self, candidates: set[int]) -> np.ndarray:
        """How many library articles each live slot stands for: a candidate itself; a sampled
        article ``(n - candidates) / sampled`` of its language."""
        langs = np.array([a.info.lang for a in self.articles])
        weights = np.ones(len(self.articles))
        is_sample = np.array([a.info.id not in candidates for a in self.articles], bool)
        for lang in set(langs.tolist()):
            here = langs == lang
            size = max(self._sizes.get(lang, 0), int(here.sum()))
            sampled = here & is_sample
            rest = size - int((here & ~is_sample).sum())
            if sampled.any():
                weights[sampled] = rest / int(sampled.sum())
        return weights

    def _crowd_rows(self) -> list[np.ndarray]:
        """Per language of ``languages``, its slots repeated so that each stands for as many
        articles as its weight: ``standout`` then measures mean, spread and ``sqrt(2 ln n)``
        over (an estimate of) the whole language's articles."""
        slots = self.live_slots()
        langs = np.array([a.info.lang for a in self.articles])
        rows = []
        for lang in self.languages:
            here = np.flatnonzero(langs == lang)
            counts = _whole(self._weights[here])
            rows.append(np.repeat(slots[here], counts))
        return rows

    @property
    def languages(self) -> tuple[str, ...]:
        """The library's languages (not only the candidates')."""
        return tuple(sorted(set(self._sizes) | set(super().languages)))

    @property
    def language_rows(self) -> list[np.ndarray]:
        return self._crowd

    def _language_baseline(self, dense: np.ndarray, prior_articles: int, question_lang: str) -> np.ndarray:
        """``CorpusIndex._language_baseline`` over the population the slots stand for."""
        slots = self.live_slots()
        langs = np.array([a.info.lang for a in self.articles])
        values, weights = dense[slots], self._weights
        total = float(weights.sum())
        overall = float((values * weights).sum() / total)
        same_size = float(weights[langs == question_lang].sum())
        same_share = same_size / total
        baseline = np.zeros_like(dense)
        for lang in set(langs.tolist()):
            here = langs == lang
            expected = overall + CROSS_LINGUAL_ALLOWANCE * ((lang == question_lang) - same_share)
            size = float(weights[here].sum())
            mean_sum = float((values[here] * weights[here]).sum())
            baseline[slots[here]] = (mean_sum + prior_articles * expected) / (size + prior_articles)
        return baseline


def _whole(weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to round(sum of ``weights``), each the floor of its weight or one
    more (largest remainders first)."""
    floors = np.floor(weights).astype(np.int64)
    extra = round(float(weights.sum())) - int(floors.sum())
    if extra > 0:
        order = np.argsort(-(weights - floors), kind="stable")[:extra]
        floors[order] += 1
    return floors
