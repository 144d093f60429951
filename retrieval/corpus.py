"""The in-memory hybrid index: every article's chunk and sentence vectors and BM25 postings, and
the per-article evidence for a question, fused into a ranking (the answer is
``retrieval/answer.py``'s).

A ``CorpusIndex`` is immutable: adding or removing an article builds a new one, so a question
being answered in a worker thread always sees one consistent library while an import runs.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from wordfreq import zipf_frequency

from retrieval.abstention import CROSS_LINGUAL_ALLOWANCE
from retrieval.bm25 import LexicalIndex, LexicalState
from retrieval.config import RetrievalConfig
from retrieval.fusion import convex, reciprocal_rank
from retrieval.lexical import STOPWORDS, TOKENIZER_VERSION, fold, tokenize
from retrieval.sentences import detect_language
from retrieval.types import ArticleInfo, IndexedArticle

_WORD = re.compile(r"\w+")
RARE_ZIPF = 3.0  # a word used less than once per million words in English and in Indonesian

# The metadata of a restored slot whose article has left the database (the slot is dead).
_GONE = ArticleInfo(id=-1, ref="", title=None, outlet=None, author=None, published=None, url=None, lang="und")


@dataclass(frozen=True, slots=True)
class QueryEvidence:
    """What the index knows about one question before any fusion tunable is applied; the
    tuner computes it once per question and then tries many configurations on it."""

    question: str  # as the pipeline reads it (``retrieval/questions.py``: one text per typing)
    terms: list[str]
    best_chunk: np.ndarray  # per article: cosine of its best chunk
    best_sentence: np.ndarray  # per article: cosine of its best sentence
    lexical: np.ndarray  # per article: its best chunk's BM25 score over this query's upper bound
    sentence_dense: np.ndarray  # cosine of every sentence in the library
    query_vector: np.ndarray | None = None  # the question's e5 vector (quotes are re-scored with it)
    lang: str = "und"  # the question's language (``detect_language``)
    known_terms: int = 0  # distinct query terms some live chunk holds
    dense_seconds: float = 0.0  # time spent on each signal (the benchmark reports them)
    lexical_seconds: float = 0.0
    asked: str | None = None  # the question as typed, when it differs (answers show this one)


@dataclass(frozen=True, slots=True)
class RankedArticles:
    """Per-article evidence for one question, best first (indices into the index's articles)."""

    order: np.ndarray
    fused: np.ndarray
    dense: np.ndarray
    evidence: QueryEvidence


class _BlockWriter:
    """Owns the buffers a chain of index snapshots appends rows to: fixed-size blocks, filled in
    place, so adding rows never copies earlier ones (growing one buffer by copying would, at
    45k articles, briefly hold ~2 GB of vectors twice). ``version`` counts appends; only the
    snapshot made by the latest append may write into the open block, so an older snapshot's
    rows are never overwritten (appending from it, as evaluation's branches do, starts a new
    writer)."""

    BLOCK_ROWS = 16_384  # 24 MB of 384-d float32 rows

    def __init__(self) -> None:
        self.open_block: np.ndarray | None = None
        self.used = 0  # rows of the open block in use
        self.version = 0
        self.lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _VectorRows:
    """One kind of the index's vectors (chunks or sentences) in parts: ``base``, the rows the
    index was built with (at start-up, memory-mapped from the snapshot file beside the database),
    then ``tail``, views of the rows added since, block by block. Adding never copies or writes
    the base, so a mapped base stays a read-only file mapping."""

    base: np.ndarray
    tail: tuple[np.ndarray, ...] = ()
    writer: _BlockWriter = field(default_factory=_BlockWriter)
    version: int = 0  # the writer's version this snapshot was made at

    def __len__(self) -> int:
        return len(self.base) + sum(len(block) for block in self.tail)

    def blocks(self) -> tuple[np.ndarray, ...]:
        """The rows in order."""
        return (self.base, *self.tail)

    def dot(self, vector: np.ndarray) -> np.ndarray:
        """Each row's dot product with ``vector``."""
        return np.concatenate([block @ vector for block in self.blocks()])

    def appended(self, rows: np.ndarray) -> tuple[_VectorRows, np.ndarray]:
        """(these rows with ``rows`` after them, ``rows`` as stored: a view the caller keeps)."""
        writer, n = self.writer, len(rows)
        if not n:
            return self, rows
        with writer.lock:
            if writer.version != self.version:  # a branch: leave the newer snapshots' rows alone
                writer = _BlockWriter()
            block = writer.open_block
            if block is not None and writer.used + n <= len(block) and self.tail:
                start, writer.used = writer.used, writer.used + n
                block[start : writer.used] = rows
                tail = (*self.tail[:-1], block[: writer.used])
            else:
                block = np.empty((max(_BlockWriter.BLOCK_ROWS, n), rows.shape[1]), np.float32)
                block[:n] = rows
                start, writer.open_block, writer.used = 0, block, n
                tail = (*self.tail, block[:n])
            writer.version += 1
            return _VectorRows(self.base, tail, writer, writer.version), block[start : start + n]


@dataclass(frozen=True, slots=True)
class IndexState:
    """A ``CorpusIndex`` as arrays, without article texts or metadata (the database has those):
    what ``index/snapshot.py`` saves beside the database so that a restart maps the library back
    instead of reading every vector row from SQLite and re-tokenizing every chunk.

    Slot ``i`` is article ``article_ids[i]``; it owns sentence rows
    ``sentence_offsets[i]:sentence_offsets[i + 1]`` (likewise chunks). Vectors come as blocks that
    follow one another (the saved file is their concatenation)."""

    article_ids: np.ndarray
    content_hashes: tuple[str, ...]  # a slot whose article's hash differs now is stale
    alive: np.ndarray
    sentence_offsets: np.ndarray
    chunk_offsets: np.ndarray
    sentence_bounds: np.ndarray
    chunk_bounds: np.ndarray
    sentence_vectors: tuple[np.ndarray, ...]
    chunk_vectors: tuple[np.ndarray, ...]
    lexical: LexicalState


class CorpusIndex:
    """Articles live in *slots*, numbered in the order they were added; removing one only marks
    its slot dead (its rows stay until a compaction), so adding and removing never rebuild the
    whole index. Vectors and BM25 rows follow slot order: slot ``i`` owns chunk rows
    ``chunk_offsets[i]:chunk_offsets[i + 1]`` and likewise for sentences."""

    # Rebuild from the live articles when this share of the slots is dead.
    DEAD_SHARE = 0.3
    # The chunks of this many densely best articles are always BM25-scored, whatever their terms.
    DENSE_CANDIDATES = 100
    # Chunks read to learn how the library writes a word (``written_form``): enough to outvote
    # a headline's capitals, few enough to cost well under a millisecond a word.
    WRITTEN_FORM_CHUNKS = 8

    def __init__(self, articles: Sequence[IndexedArticle], config: RetrievalConfig, *, dim: int) -> None:
        self.config = config
        self.dim = dim
        self._slots = tuple(articles)
        self._alive = np.ones(len(self._slots), bool)
        title_chunks = [_chunk_terms(a) for a in self._slots]
        self.lexical = LexicalIndex.build(
            [t for chunks in title_chunks for t in chunks], k1=config.bm25_k1, b=config.bm25_b
        )
        self._chunk_rows = _VectorRows(_stack([a.chunk_vectors for a in self._slots], dim))
        self._sentence_rows = _VectorRows(_stack([a.sentence_vectors for a in self._slots], dim))
        self._slots = _as_views(self._slots, self._chunk_rows.base, self._sentence_rows.base, 0, 0)
        self._derive()

    @classmethod
    def restore(
        cls,
        state: IndexState,
        current: Mapping[int, tuple[ArticleInfo, str]],
        config: RetrievalConfig,
    ) -> CorpusIndex:
        """The index ``state`` describes, with each slot's metadata and text taken from
        ``current`` (the database now). A slot whose article is no longer in ``current`` (or is
        there with other content: same id, other hash) is dead; adding what ``current`` has
        beyond the state is the caller's part (``with_articles``)."""
        index = object.__new__(cls)
        index.config = config
        index.dim = state.chunk_vectors[0].shape[1]
        index.lexical = LexicalIndex.from_state(state.lexical)
        index._chunk_rows = _VectorRows(_concatenated(state.chunk_vectors))
        index._sentence_rows = _VectorRows(_concatenated(state.sentence_vectors))
        chunk_vectors, sentence_vectors = index._chunk_rows.base, index._sentence_rows.base
        slots: list[IndexedArticle] = []
        alive = state.alive.copy()
        for slot, article_id in enumerate(state.article_ids.tolist()):
            s0, s1 = state.sentence_offsets[slot : slot + 2]
            c0, c1 = state.chunk_offsets[slot : slot + 2]
            info, text = current.get(article_id, (_GONE, ""))
            if not alive[slot] or info.content_hash != state.content_hashes[slot]:
                info, text, alive[slot] = _GONE, "", False
            slots.append(
                IndexedArticle(
                    info,
                    text,
                    state.sentence_bounds[s0:s1],
                    state.chunk_bounds[c0:c1],
                    sentence_vectors[s0:s1],
                    chunk_vectors[c0:c1],
                )
            )
        index._slots = tuple(slots)
        index._alive = alive
        index._derive()
        gone = [
            int(state.chunk_offsets[slot]) + i
            for slot in np.flatnonzero(state.alive & ~alive).tolist()
            for i in range(int(state.chunk_offsets[slot + 1] - state.chunk_offsets[slot]))
        ]
        if gone:
            index = index._successor(lexical=index.lexical.without_rows(gone))
        if (~alive).sum() > cls.DEAD_SHARE * len(alive):
            return CorpusIndex(index.articles, config, dim=index.dim)
        return index

    def state(self) -> IndexState:
        return IndexState(
            article_ids=np.array([a.info.id for a in self._slots], np.int64),
            content_hashes=tuple(a.info.content_hash or "" for a in self._slots),
            alive=self._alive.copy(),
            sentence_offsets=self.sentence_offsets,
            chunk_offsets=self.chunk_offsets,
            sentence_bounds=_bounds([a.sentence_bounds for a in self._slots]),
            chunk_bounds=_bounds([a.chunk_bounds for a in self._slots]),
            sentence_vectors=self._sentence_rows.blocks(),
            chunk_vectors=self._chunk_rows.blocks(),
            lexical=self.lexical.state(),
        )

    def _derive(self) -> None:
        """Everything that follows from the slots and their liveness."""
        chunk_counts = [a.chunk_count for a in self._slots]
        self.chunk_offsets = _offsets(chunk_counts)
        self.sentence_offsets = _offsets([a.sentence_count for a in self._slots])
        self._chunk_slot = np.repeat(np.arange(len(self._slots), dtype=np.int64), chunk_counts)
        self._live = np.flatnonzero(self._alive)
        self.articles = tuple(self._slots[i] for i in self._live)
        self._slot_of = {a.info.id: i for i, a in enumerate(self._slots) if self._alive[i]}
        languages = np.array([a.info.lang for a in self._slots])
        self._languages = tuple(sorted(set(languages[self._live].tolist())))
        self._language_rows = [self._live[languages[self._live] == lang] for lang in self._languages]

    def _successor(self, **changes: object) -> CorpusIndex:
        """A new snapshot sharing everything with this one but ``changes`` (and what follows)."""
        successor = object.__new__(CorpusIndex)
        successor.__dict__.update(self.__dict__)
        successor.__dict__.update(changes)
        successor._derive()
        return successor

    def __len__(self) -> int:
        return len(self.articles)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages of the live articles, sorted."""
        return self._languages

    @property
    def language_rows(self) -> list[np.ndarray]:
        """Per language of ``languages``, the slots of its live articles."""
        return self._language_rows

    def article_at(self, slot: int) -> IndexedArticle:
        return self._slots[slot]

    def written_form(self, term: str) -> str | None:
        """How the library usually writes ``term`` (a folded BM25 term), read from
        ``WRITTEN_FORM_CHUNKS`` chunks holding it and their titles (``written_form_of``). The
        canonical question's letter case comes from here."""
        passages = []
        for row in self.lexical.holders(term, self.WRITTEN_FORM_CHUNKS).tolist():
            slot = int(self._chunk_slot[row])
            article = self._slots[slot]
            first, last = article.chunk_bounds[row - self.chunk_offsets[slot]].tolist()
            start, end = int(article.sentence_bounds[first][0]), int(article.sentence_bounds[last - 1][1])
            passages += [article.info.title or "", article.text[start:end]]
        return written_form_of(term, passages)

    def with_articles(self, added: Sequence[IndexedArticle]) -> CorpusIndex:
        """A snapshot with ``added`` searchable (replacing any stored under the same ids); costs
        the added articles' rows, not the library's."""
        replaced = {a.info.id for a in added} & set(self._slot_of)
        base = self.without_articles(replaced) if replaced else self
        if not added:
            return base
        chunk_rows, chunk_vectors = base._chunk_rows.appended(
            _stack([a.chunk_vectors for a in added], self.dim)
        )
        sentence_rows, sentence_vectors = base._sentence_rows.appended(
            _stack([a.sentence_vectors for a in added], self.dim)
        )
        lexical = base.lexical.with_chunks([t for a in added for t in _chunk_terms(a)])
        views = _as_views(added, chunk_vectors, sentence_vectors, 0, 0)
        return base._successor(
            _slots=base._slots + views,
            _alive=np.concatenate([base._alive, np.ones(len(added), bool)]),
            lexical=lexical,
            _chunk_rows=chunk_rows,
            _sentence_rows=sentence_rows,
        )

    def without_article(self, article_id: int) -> CorpusIndex:
        return self.without_articles({article_id})

    def without_articles(self, article_ids: set[int]) -> CorpusIndex:
        slots = [self._slot_of[i] for i in article_ids if i in self._slot_of]
        if not slots:
            return self
        alive = self._alive.copy()
        alive[slots] = False
        if (~alive).sum() > self.DEAD_SHARE * len(alive):
            return CorpusIndex([self._slots[i] for i in np.flatnonzero(alive)], self.config, dim=self.dim)
        rows = [r for s in slots for r in range(self.chunk_offsets[s], self.chunk_offsets[s + 1])]
        return self._successor(_alive=alive, lexical=self.lexical.without_rows(rows))

    def with_config(self, config: RetrievalConfig) -> CorpusIndex:
        """The same articles under other tunables (evaluation compares configurations this way)."""
        if (config.bm25_k1, config.bm25_b) != (self.config.bm25_k1, self.config.bm25_b):
            return CorpusIndex(self.articles, config, dim=self.dim)
        return self._successor(config=config)

    def live_slots(self) -> np.ndarray:
        """The slots of the live articles, in slot order."""
        return self._live

    def article_terms(self, slot: int) -> list[str]:
        """The BM25 terms of an article's title and text (the grounding reads them)."""
        article = self._slots[slot]
        return tokenize(f"{article.info.title or ''} {article.text}")

    def evidence(self, question: str, query_vector: np.ndarray, *, asked: str | None = None) -> QueryEvidence:
        """Score every article densely (its best chunk and its best sentence) and lexically (its
        best chunk's scaled BM25); no tunable but BM25's own k1 and b is involved yet.

        BM25 is computed for candidate chunks only (see ``LexicalIndex.candidates``), always
        including those of the ``DENSE_CANDIDATES`` densely best articles, so every article that
        can reach the top of the fused ranking has its exact BM25 score."""
        started = time.perf_counter()
        dead = ~self._alive
        chunk_dense = self._chunk_rows.dot(query_vector)
        sentence_dense = self._sentence_rows.dot(query_vector)
        best_chunk = _best_per_slot(chunk_dense, self.chunk_offsets, dead)
        best_sentence = _best_per_slot(sentence_dense, self.sentence_offsets, dead)
        dense_done = time.perf_counter()
        terms = tokenize(question)
        lexical = np.zeros(len(self._slots), np.float64)
        if terms and len(self._live):
            k = min(self.DENSE_CANDIDATES, len(self._live))
            live_dense = (best_chunk + best_sentence)[self._live]
            dense_best = self._live[np.argpartition(-live_dense, k - 1)[:k]]
            extra = np.concatenate(
                [np.arange(self.chunk_offsets[i], self.chunk_offsets[i + 1]) for i in dense_best]
            ).astype(np.int64)
            rows, scaled = self.lexical.scaled_scores(terms, extra)
            np.maximum.at(lexical, self._chunk_slot[rows], scaled)
        return QueryEvidence(
            question,
            terms,
            best_chunk,
            best_sentence,
            lexical,
            sentence_dense,
            query_vector=query_vector,
            lang=detect_language(question),
            known_terms=len(set(self.lexical.known_terms(terms))),
            dense_seconds=dense_done - started,
            lexical_seconds=time.perf_counter() - dense_done,
            asked=asked if asked != question else None,
        )

    def rank(self, evidence: QueryEvidence, config: RetrievalConfig | None = None) -> RankedArticles:
        """Fuse the dense and lexical evidence per article as the config says, best first.

        The dense score mixes best chunk and best sentence and has the language bias removed
        (see ``_language_baseline``)."""
        cfg = config or self.config
        dense = cfg.chunk_weight * evidence.best_chunk + (1 - cfg.chunk_weight) * evidence.best_sentence
        if cfg.language_prior_articles:
            dense = dense - self._language_baseline(dense, cfg.language_prior_articles, evidence.lang)
        lexical = evidence.lexical
        if cfg.fusion == "rrf":
            fused = reciprocal_rank([dense, lexical], k=cfg.rrf_k)
        elif cfg.fusion == "dense":
            fused = dense
        elif cfg.fusion == "bm25":
            fused = lexical
        else:
            fused = convex(dense, lexical, cfg.lexical_weight_for(evidence.lang, evidence.known_terms))
        order = self._live[np.argsort(-fused[self._live], kind="stable")]
        return RankedArticles(order, fused, dense, evidence)

    def _language_baseline(self, dense: np.ndarray, prior_articles: int, question_lang: str) -> np.ndarray:
        """Each article's expected cosine for this query given the article's language.

        e5 scores a question higher against any text in its own language, so an English question
        ranks unrelated English articles above the Indonesian one that answers it. Subtracting
        the query's mean cosine per article language removes that bias. The mean is shrunk by
        ``prior_articles`` pseudo-articles towards what is expected before seeing any: the
        overall mean, plus ``CROSS_LINGUAL_ALLOWANCE`` for the question's own language (less for
        the others, so the expectations still average to the overall mean). A library with
        thousands of articles per language is corrected by its own means; a family chat's dozen
        articles, whose means are mostly noise, still gets the known same-language lift removed
        (in dev questions over libraries of 8-40 random articles, half English: English
        questions over Indonesian articles ranked them first .95 -> .99 of the time at 16
        articles, .93 -> .97 at 40, and English over English .997 -> .991, 1.0 -> .988).
        """
        overall = float(dense[self._live].mean())
        same = self._languages.index(question_lang) if question_lang in self._languages else None
        same_share = 0.0 if same is None else len(self._language_rows[same]) / len(self._live)
        baseline = np.zeros_like(dense)
        for i, rows in enumerate(self._language_rows):
            expected = overall + CROSS_LINGUAL_ALLOWANCE * ((i == same) - same_share)
            baseline[rows] = (float(dense[rows].sum()) + prior_articles * expected) / (
                len(rows) + prior_articles
            )
        return baseline


def written_form_of(term: str, passages: Iterable[str]) -> str | None:
    """The most frequent spelling of ``term`` (a folded BM25 term) in ``passages``, counting only
    words inside a sentence (a sentence's first word is capitalized whatever it is), lower case
    on a tie; a word found only first in a sentence is taken as written there if it is rare (a
    name), else None, as when no passage holds it."""
    forms: Counter[str] = Counter()
    starting: Counter[str] = Counter()
    for text in passages:
        for match in _WORD.finditer(text):
            if fold(match.group(0)) == term:
                before = text[: match.start()].rstrip()
                at_start = not before or before[-1] in '.!?\n"“”:'
                (starting if at_start else forms)[match.group(0)] += 1
    if not forms:
        # Only ever first in a sentence: a rare word is a name ("Luno memiliki …"), a common
        # one just starts the sentence ("Luas pulau ini …").
        rare = max(zipf_frequency(term, lang) for lang in ("en", "id")) < RARE_ZIPF
        return starting.most_common(1)[0][0] if starting and rare else None
    most = max(forms.values())
    tied = [form for form, count in forms.items() if count == most]
    return next((form for form in tied if form.islower()), tied[0])


def _stack(blocks: list[np.ndarray], dim: int) -> np.ndarray:
    """The blocks as one float32 matrix. When they already tile one matrix in order (the store
    loads the library that way) that matrix is used as it is: no second copy of every vector."""
    if not blocks:
        return np.zeros((0, dim), np.float32)
    base = blocks[0].base
    if (
        isinstance(base, np.ndarray)
        and base.dtype == np.float32
        and base.ndim == 2
        and base.flags.c_contiguous
    ):
        at = base.__array_interface__["data"][0]
        for block in blocks:
            if not len(block):  # numpy may point an empty view anywhere in its base
                continue
            if block.base is not base or block.__array_interface__["data"][0] != at:
                break
            at += block.nbytes
        else:
            if at == base.__array_interface__["data"][0] + base.nbytes:
                return base
    return np.ascontiguousarray(np.vstack(blocks), dtype=np.float32)


def _concatenated(blocks: tuple[np.ndarray, ...]) -> np.ndarray:
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _bounds(per_slot: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(per_slot) if per_slot else np.zeros((0, 2), np.int32)


def _as_views(
    articles: Sequence[IndexedArticle],
    chunk_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    chunk_row: int,
    sentence_row: int,
) -> tuple[IndexedArticle, ...]:
    """The articles with their vectors as views into the index's matrices (rows from the given
    ones on), so the library's vectors are held once, not once per article and once stacked."""
    viewed = []
    for a in articles:
        chunks, sentences = a.chunk_count, a.sentence_count
        viewed.append(
            replace(
                a,
                chunk_vectors=chunk_vectors[chunk_row : chunk_row + chunks],
                sentence_vectors=sentence_vectors[sentence_row : sentence_row + sentences],
            )
        )
        chunk_row, sentence_row = chunk_row + chunks, sentence_row + sentences
    return tuple(viewed)


def _best_per_slot(scores: np.ndarray, offsets: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """The best score among each slot's rows; -inf for dead slots and slots without rows."""
    best = np.full(len(offsets) - 1, -np.inf)
    has_rows = np.diff(offsets) > 0
    if len(scores):
        best[has_rows] = np.maximum.reduceat(scores, offsets[:-1][has_rows])
    best[dead] = -np.inf
    return best


CHUNK_TERMS_VERSION = 1
"""Bump when ``_chunk_terms`` gives a chunk other terms (say, without its title's)."""


def lexical_fingerprint() -> str:
    """Changes whenever the terms a chunk gets could change: the tokenizer's version, its
    stopwords, or ``_chunk_terms``'s version. A saved index with another fingerprint holds stale
    postings and is rebuilt; an edited comment no longer discards it."""
    versions = f"tokenize {TOKENIZER_VERSION}; chunks {CHUNK_TERMS_VERSION}; stopwords "
    return hashlib.sha256((versions + " ".join(sorted(STOPWORDS))).encode()).hexdigest()[:16]


def _chunk_terms(article: IndexedArticle) -> list[list[str]]:
    """BM25 terms of each chunk; the title's terms count for every chunk, as a headline is the
    article's summary."""
    title = article.info.title or ""
    return [tokenize(f"{title} {text}") for text in article.chunk_texts()]


def _offsets(counts: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
