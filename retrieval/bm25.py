"""Okapi BM25 over chunks that scales: exact ``rank_bm25`` scores for a candidate set, with
corpus-wide statistics, and new chunks searchable without rebuilding the index.

``rank_bm25.BM25Okapi`` scores every document of its corpus in Python for every query and must be
rebuilt from scratch to add one (measured on 100k chunks: 217 ms per query, 4.4 s per rebuild).
Here the postings live in compact numpy arrays (one sorted run per term, CSR style) in a large
*base* segment plus a small *tail* segment that takes new chunks; when the tail outgrows a share
of the base the two are merged. A query gathers candidates (every chunk holding a rare query
term, the highest-impact chunks of each common term, and any chunks the caller names, such as the
dense retriever's best) and has ``rank_bm25`` score just those, with the idf, average length and
epsilon floor of the whole corpus. A candidate's score is therefore exactly the score
``BM25Okapi`` would give it over the whole corpus (``tests/test_bm25.py`` checks this).

Snapshots are immutable; ``with_chunks`` and ``without_rows`` return new ones that share the base
segment, so readers in other threads never see a half-applied change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

EPSILON = 0.25  # rank_bm25's default floor for negative idf, as a share of the average idf


class CandidateOkapi(BM25Okapi):
    """The one seam to ``rank_bm25`` (pinned to rank-bm25==0.2.2 in pyproject.toml): its Okapi
    scoring code (``get_batch_scores``) run over a query's candidate chunks, with the statistics
    of the whole corpus.

    ``BM25Okapi.__init__`` counts the documents it is given and derives idf and the average
    length from them; over candidates those would depend on which chunks were candidates. So
    its ``__init__`` is not called, and this one sets, under rank_bm25's names, what 0.2.2's
    ``get_batch_scores`` reads (``READ_BY_SCORING``; tests/test_bm25.py checks that list against
    its source, and the scores against ``BM25Okapi`` over the whole corpus):

    - ``doc_freqs``: per candidate, term -> count (the query's terms are all that is read)
    - ``doc_len``: tokens per candidate
    - ``idf``: each query term's idf over the whole corpus, floored as BM25Okapi floors it
      (``LexicalIndex.idf``)
    - ``avgdl``: the average chunk length over the whole corpus
    - ``k1``, ``b``: BM25's parameters

    ``corpus_size`` and ``epsilon`` are set as ``BM25Okapi`` would (nothing here reads them).
    """

    READ_BY_SCORING = frozenset({"doc_freqs", "doc_len", "idf", "avgdl", "k1", "b"})

    def __init__(
        self,
        doc_freqs: list[dict[str, int]],
        doc_len: np.ndarray,
        *,
        idf: dict[str, float],
        avgdl: float,
        k1: float,
        b: float,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.epsilon = EPSILON
        self.corpus_size = len(doc_freqs)
        self.doc_freqs = doc_freqs
        self.doc_len = doc_len
        self.avgdl = avgdl
        self.idf = idf


@dataclass(frozen=True, slots=True)
class _Segment:
    """Postings of some chunks: for term id ``t``, ``rows[starts[t]:starts[t + 1]]`` are the
    global row numbers of the chunks holding it (ascending) and ``tfs`` their term counts.
    ``top`` lists, for terms held by more than ``cap`` chunks, the ``cap`` rows where the term
    weighs most (highest tf for the length), so common terms need not be scanned whole."""

    starts: np.ndarray
    rows: np.ndarray
    tfs: np.ndarray
    top: dict[int, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.rows)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        if term_id + 1 >= len(self.starts):
            return _EMPTY_INT, _EMPTY_INT
        a, b = self.starts[term_id], self.starts[term_id + 1]
        return self.rows[a:b], self.tfs[a:b]

    def term_of_posting(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.starts) - 1, dtype=np.int64), np.diff(self.starts))

    @classmethod
    def from_chunks(
        cls,
        chunks: Sequence[_EncodedChunk],
        vocabulary_size: int,
        lengths: np.ndarray,
        params: _Params,
    ) -> _Segment:
        rows = np.repeat(np.array([c.row for c in chunks], np.int64), [len(c.term_ids) for c in chunks])
        terms = np.concatenate([c.term_ids for c in chunks]) if chunks else _EMPTY_INT
        tfs = np.concatenate([c.counts for c in chunks]) if chunks else _EMPTY_INT
        return cls.from_postings(terms, rows, tfs, vocabulary_size, lengths, params)

    @classmethod
    def from_postings(
        cls,
        terms: np.ndarray,
        rows: np.ndarray,
        tfs: np.ndarray,
        vocabulary_size: int,
        lengths: np.ndarray,
        params: _Params,
    ) -> _Segment:
        cap, k1, b = params.term_candidates, params.k1, params.b
        # Callers pass postings in ascending row order within each term (chunks in row order, or
        # a sorted base followed by a sorted tail of newer rows), so a stable sort by term alone
        # orders them by (term, row); on a base + tail it is a merge of two runs, O(n).
        order = np.argsort(terms, kind="stable")
        terms, rows, tfs = terms[order], rows[order], tfs[order].astype(np.int32)
        starts = np.searchsorted(terms, np.arange(vocabulary_size + 1)).astype(np.int64)
        top: dict[int, np.ndarray] = {}
        long_terms = np.flatnonzero(np.diff(starts) > cap)
        if len(long_terms):
            avgdl = float(lengths[rows].mean())
            for t in long_terms.tolist():
                held, counts = rows[starts[t] : starts[t + 1]], tfs[starts[t] : starts[t + 1]]
                weight = counts / (counts + k1 * (1 - b + b * lengths[held] / avgdl))
                top[t] = np.sort(held[np.argsort(-weight, kind="stable")[:cap]])
        return cls(starts, rows, tfs, top)


@dataclass(frozen=True, slots=True)
class _Params:
    k1: float
    b: float
    term_candidates: int


@dataclass(frozen=True, slots=True)
class _EncodedChunk:
    row: int
    term_ids: np.ndarray
    counts: np.ndarray


_EMPTY_INT = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class LexicalState:
    """A ``LexicalIndex`` as plain arrays, its tail folded into the base: what is saved beside
    the database so that a restart maps the postings back instead of re-tokenizing every chunk.
    ``top_rows[i]`` are the top-impact rows of term ``top_terms[i]``."""

    k1: float
    b: float
    term_candidates: int
    terms: list[str]  # the vocabulary, by term id
    starts: np.ndarray
    rows: np.ndarray
    tfs: np.ndarray
    top_terms: np.ndarray
    top_rows: np.ndarray
    lengths: np.ndarray
    alive: np.ndarray
    df: np.ndarray


class Vocabulary:
    """Term → id, append-only and shared by every snapshot (an id never changes meaning)."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        self._ids: dict[str, int] = {t: i for i, t in enumerate(terms)}

    def terms(self) -> list[str]:
        return list(self._ids)  # dicts keep insertion order, which is id order

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, term: str) -> int | None:
        return self._ids.get(term)

    def encode(self, tokens: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, counts) of one chunk's tokens, adding unseen terms."""
        counted = Counter(tokens)
        ids = np.fromiter((self._ids.setdefault(t, len(self._ids)) for t in counted), np.int64, len(counted))
        return ids, np.fromiter(counted.values(), np.int64, len(counted))


class LexicalIndex:
    """BM25 over chunks numbered by global row; rows can be added and removed."""

    # A term held by more than this many chunks contributes only its highest-impact chunks as
    # candidates (they still get exact scores; the others can only matter through rarer terms
    # or the caller's candidates). 2,000 keeps a query's scoring in the low milliseconds.
    TERM_CANDIDATES = 2000
    # The tail is merged into the base when it holds more than this share of the postings.
    TAIL_SHARE = 0.10

    def __init__(
        self,
        *,
        params: _Params,
        vocabulary: Vocabulary,
        base: _Segment,
        tail: _Segment,
        tail_chunks: tuple[_EncodedChunk, ...],
        lengths: np.ndarray,
        alive: np.ndarray,
        df: np.ndarray,
    ) -> None:
        self._params = params
        self._vocabulary = vocabulary
        self._base, self._tail, self._tail_chunks = base, tail, tail_chunks
        self._lengths = lengths  # tokens per row (dead rows keep theirs; they are never scored)
        self._alive = alive
        self._df = df  # chunks holding each term, live rows only
        self._size = int(alive.sum())
        self._avgdl = float(lengths[alive].sum() / self._size) if self._size else 0.0
        self._average_idf = self._mean_idf()

    @classmethod
    def build(cls, tokenized_chunks: Sequence[Sequence[str]], *, k1: float, b: float) -> LexicalIndex:
        vocabulary = Vocabulary()
        chunks = [
            _EncodedChunk(row, *vocabulary.encode(tokens)) for row, tokens in enumerate(tokenized_chunks)
        ]
        lengths = np.array([float(c.counts.sum()) for c in chunks], np.float64)
        params = _Params(k1, b, cls.TERM_CANDIDATES)
        base = _Segment.from_chunks(chunks, len(vocabulary), lengths, params)
        empty = _Segment.from_chunks([], 0, lengths, params)
        return cls(
            params=params,
            vocabulary=vocabulary,
            base=base,
            tail=empty,
            tail_chunks=(),
            lengths=lengths,
            alive=np.ones(len(chunks), bool),
            df=np.diff(base.starts),
        )

    @classmethod
    def from_state(cls, state: LexicalState) -> LexicalIndex:
        params = _Params(state.k1, state.b, state.term_candidates)
        top = dict(zip(state.top_terms.tolist(), state.top_rows, strict=True))
        base = _Segment(state.starts, state.rows, state.tfs, top)
        return cls(
            params=params,
            vocabulary=Vocabulary(state.terms),
            base=base,
            tail=_Segment.from_chunks([], 0, state.lengths, params),
            tail_chunks=(),
            lengths=state.lengths,
            alive=state.alive,
            df=state.df,
        )

    def state(self) -> LexicalState:
        base = self._folded() if self._tail_chunks else self._base
        cap = self._params.term_candidates
        top_terms = np.array(sorted(base.top), np.int64)
        top_rows = np.array([base.top[t] for t in top_terms.tolist()], np.int64).reshape(len(top_terms), cap)
        return LexicalState(
            k1=self._params.k1,
            b=self._params.b,
            term_candidates=cap,
            # Terms a later snapshot added to the shared vocabulary hold no rows here.
            terms=self._vocabulary.terms()[: len(self._df)],
            starts=base.starts[: len(self._df) + 1],
            rows=base.rows,
            tfs=base.tfs,
            top_terms=top_terms,
            top_rows=top_rows,
            lengths=self._lengths,
            alive=self._alive,
            df=self._df,
        )

    def __len__(self) -> int:
        """Live chunks."""
        return self._size

    @property
    def rows(self) -> int:
        """Rows ever numbered (live or removed) since the index was built."""
        return len(self._lengths)

    def with_chunks(self, tokenized_chunks: Sequence[Sequence[str]]) -> LexicalIndex:
        """A snapshot with these chunks added as rows ``self.rows``, ``self.rows + 1``, …"""
        first = self.rows
        added = [
            _EncodedChunk(first + i, *self._vocabulary.encode(tokens))
            for i, tokens in enumerate(tokenized_chunks)
        ]
        lengths = np.concatenate([self._lengths, [float(c.counts.sum()) for c in added]])
        alive = np.concatenate([self._alive, np.ones(len(added), bool)])
        df = np.zeros(len(self._vocabulary), np.int64)
        df[: len(self._df)] = self._df
        for chunk in added:
            df[chunk.term_ids] += 1
        tail_chunks = self._tail_chunks + tuple(added)
        vocabulary_size, params = len(self._vocabulary), self._params
        tail = _Segment.from_chunks(tail_chunks, vocabulary_size, lengths, params)
        grown = self._evolve(tail=tail, tail_chunks=tail_chunks, lengths=lengths, alive=alive, df=df)
        if sum(len(c.term_ids) for c in tail_chunks) > self.TAIL_SHARE * max(self._base.size, 1):
            # Fold the tail into a new base: O(postings), once per TAIL_SHARE of growth.
            empty = _Segment.from_chunks([], 0, lengths, params)
            return grown._evolve(base=grown._folded(), tail=empty, tail_chunks=())
        return grown

    def _folded(self) -> _Segment:
        """Base and tail postings of the live rows as one segment."""
        segments = (self._base, self._tail)
        terms = np.concatenate([segment.term_of_posting() for segment in segments])
        rows = np.concatenate([segment.rows for segment in segments])
        tfs = np.concatenate([segment.tfs for segment in segments])
        keep = self._alive[rows]
        return _Segment.from_postings(
            terms[keep], rows[keep], tfs[keep], len(self._vocabulary), self._lengths, self._params
        )

    def without_rows(self, rows: Iterable[int]) -> LexicalIndex:
        """A snapshot where these rows no longer exist (their terms leave the statistics)."""
        removed = np.array(sorted(set(rows)), dtype=np.int64)
        removed = removed[self._alive[removed]] if len(removed) else removed
        alive = self._alive.copy()
        alive[removed] = False
        df = self._df.copy()
        for segment in (self._base, self._tail):
            hit = np.isin(segment.rows, removed)
            if hit.any():
                np.subtract.at(df, segment.term_of_posting()[hit], 1)
        tail_chunks = tuple(c for c in self._tail_chunks if alive[c.row])
        return self._evolve(tail_chunks=tail_chunks, alive=alive, df=df)

    def _evolve(self, **changes: Any) -> LexicalIndex:
        """A new snapshot: this one's parts, with ``changes`` in place of some."""
        parts: dict[str, Any] = {
            "params": self._params,
            "vocabulary": self._vocabulary,
            "base": self._base,
            "tail": self._tail,
            "tail_chunks": self._tail_chunks,
            "lengths": self._lengths,
            "alive": self._alive,
            "df": self._df,
        }
        return LexicalIndex(**{**parts, **changes})

    def with_corpus_statistics(self, df: Mapping[str, int], size: int, avgdl: float) -> LexicalIndex:
        """These chunks scored as part of a larger corpus (Milvus's, whose candidates they are):
        ``df`` gives the corpus's document frequency of the terms a caller will ask about (other
        terms keep the count among these chunks), ``size`` its number of chunks and ``avgdl``
        their mean length. Scores, ``idf``, ``upper_bound`` and ``known_terms`` then agree with
        an index of the whole corpus."""
        return _CorpusStatistics(self, df, size, avgdl)

    # -- statistics ----------------------------------------------------------------------------

    def _mean_idf(self) -> float:
        """rank_bm25's ``average_idf``: the mean raw idf over every term in the corpus."""
        present = self._df[self._df > 0].astype(np.float64)
        if not len(present):
            return 0.0
        return float(np.mean(np.log(self._size - present + 0.5) - np.log(present + 0.5)))

    def idf(self, term: str) -> float:
        """Okapi idf of ``term`` as ``BM25Okapi`` computes it (negative values floored at epsilon
        x the mean idf); 0 for a term no live chunk holds."""
        df = self._df_of(term)
        if not df:
            return 0.0
        raw = float(np.log(self._size - df + 0.5) - np.log(df + 0.5))
        return raw if raw >= 0 else EPSILON * self._average_idf

    def known_terms(self, query_terms: Sequence[str]) -> list[str]:
        """The query terms some live chunk holds."""
        return [t for t in query_terms if self._df_of(t) > 0]

    def holders(self, term: str, limit: int) -> np.ndarray:
        """Up to ``limit`` live rows holding ``term``, the oldest first."""
        term_id = self._vocabulary.get(term)
        if term_id is None:
            return _EMPTY_INT
        found = []
        for segment in (self._base, self._tail):
            rows = segment.postings(term_id)[0]
            found.append(rows[self._alive[rows]][:limit])
        return np.concatenate(found)[:limit]

    def _df_of(self, term: str) -> int:
        term_id = self._vocabulary.get(term)
        return int(self._df[term_id]) if term_id is not None and term_id < len(self._df) else 0

    # -- scoring -------------------------------------------------------------------------------

    def candidates(self, query_terms: Sequence[str], extra_rows: np.ndarray | None = None) -> np.ndarray:
        """Live rows worth scoring: all holders of each query term, or for a term held by more
        than ``TERM_CANDIDATES`` chunks its highest-impact ones; plus ``extra_rows``."""
        found = [] if extra_rows is None else [np.asarray(extra_rows, dtype=np.int64)]
        for term in dict.fromkeys(query_terms):
            term_id = self._vocabulary.get(term)
            if term_id is None:
                continue
            for segment in (self._base, self._tail):
                top = segment.top.get(term_id)
                found.append(top if top is not None else segment.postings(term_id)[0])
        if not found:
            return _EMPTY_INT
        rows = np.unique(np.concatenate(found))
        return rows[self._alive[rows]]

    def scores(self, query_terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """Exact Okapi BM25 of each of ``rows`` for ``query_terms``, corpus-wide statistics, by
        ``rank_bm25``'s own scoring code."""
        if not len(rows) or not self._size or not query_terms:
            return np.zeros(len(rows), np.float64)
        doc_freqs: list[dict[str, int]] = [{} for _ in range(len(rows))]
        for term in dict.fromkeys(query_terms):
            term_id = self._vocabulary.get(term)
            if term_id is None:
                continue
            for segment in (self._base, self._tail):
                holders, tfs = segment.postings(term_id)
                if not len(holders):
                    continue
                at = np.searchsorted(holders, rows).clip(max=len(holders) - 1)
                hit = np.flatnonzero(holders[at] == rows)
                for i, tf in zip(hit.tolist(), tfs[at[hit]].tolist(), strict=True):
                    doc_freqs[i][term] = tf
        idf = {t: self.idf(t) for t in query_terms}
        scorer = CandidateOkapi(
            doc_freqs, self._lengths[rows], idf=idf, avgdl=self._avgdl, k1=self._params.k1, b=self._params.b
        )
        return np.asarray(scorer.get_batch_scores(list(query_terms), list(range(len(rows)))), np.float64)

    def upper_bound(self, query_terms: Sequence[str]) -> float:
        """The score a chunk would get by saturating every query term: sum of idf x (k1 + 1)."""
        return sum(self.idf(t) * (self._params.k1 + 1) for t in query_terms)

    def scaled_scores(
        self, query_terms: Sequence[str], extra_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 / upper bound in [0, 1]) for the query's candidate rows."""
        rows = self.candidates(query_terms, extra_rows)
        bound = self.upper_bound(query_terms)
        if bound <= 0 or not len(rows):
            return rows, np.zeros(len(rows), np.float64)
        return rows, np.clip(self.scores(query_terms, rows) / bound, 0.0, 1.0)


class _CorpusStatistics(LexicalIndex):
    """A ``LexicalIndex`` whose statistics are those of a larger corpus (``with_corpus_statistics``);
    changing it (``with_chunks``, ``without_rows``) gives a plain index of its own chunks again."""

    def __init__(self, index: LexicalIndex, df: Mapping[str, int], size: int, avgdl: float) -> None:
        super().__init__(
            params=index._params,
            vocabulary=index._vocabulary,
            base=index._base,
            tail=index._tail,
            tail_chunks=index._tail_chunks,
            lengths=index._lengths,
            alive=index._alive,
            df=index._df,
        )
        self._corpus_df = dict(df)
        # The epsilon floor of negative idf keeps these chunks' mean idf (an approximation: it
        # only matters for a term held by over half the corpus's chunks).
        self._size = max(int(size), 1)
        self._avgdl = float(avgdl) if avgdl > 0 else self._avgdl

    def _df_of(self, term: str) -> int:
        if term in self._corpus_df:
            return int(self._corpus_df[term])
        return super()._df_of(term)
