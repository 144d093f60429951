"""Small frozen types that flow through the pipeline (article in -> cited answer out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class ArticleMeta:
    """What we know about an article besides its text; every field may be unknown."""

    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None  # ISO 8601 date (or date-time) when it could be parsed
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CleanedArticle:
    """Article text with site boilerplate removed, plus the metadata found on the way."""

    text: str
    meta: ArticleMeta = field(default_factory=ArticleMeta)


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    """One sentence: ``text == article_text[start:end]`` always holds (offsets are code points)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """A window of whole sentences, ``sentences[first:last]`` (``last`` exclusive)."""

    first: int
    last: int
    text: str


@dataclass(frozen=True, slots=True)
class PreparedArticle:
    """Everything needed to store an article at once: cleaned text, language, sentences, chunks."""

    text: str
    meta: ArticleMeta
    lang: str
    sentences: tuple[SentenceSpan, ...]
    chunks: tuple[ChunkSpan, ...]
    content_hash: str


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """A stored article as a citation needs it."""

    id: int
    ref: str
    title: str | None
    outlet: str | None
    author: str | None
    published: str | None
    url: str | None
    lang: str
    sentence_count: int = 0
    added_at: str | None = None
    content_hash: str | None = None  # of the normalized text (dedup, and snapshot validity)
    copy_of: int | None = None  # a syndicated copy: the id of its story's first article
    source: str | None = None  # an archive's own field for where the article came from

    def as_json(self) -> dict[str, str | None]:
        return {
            "ref": self.ref,
            "title": self.title,
            "outlet": self.outlet,
            "published": self.published,
            "url": self.url,
            "lang": self.lang,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """One quoted sentence, verbatim, with where it came from."""

    text: str
    score: float
    article: ArticleInfo
    sentence_index: int
    # The other stored copies of the quoted story (``retrieval/near_duplicates.py``): cited as
    # "also in", never quoted again.
    also_in: tuple[ArticleInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one question: cited sentences, or an abstention with its reason."""

    question: str
    citations: tuple[Citation, ...]
    articles: tuple[str, ...]  # refs of the ranked articles, best first
    abstained: bool
    reason: str | None
    took_ms: float = 0.0
    # Why it abstained, for callers that word it themselves (the bot, in the user's language):
    # "empty_library", "no_content" (no word or figure of two characters or more),
    # "not_mentioned" (``missing`` names the question's words no article holds, as the question
    # wrote them), "not_close_enough".
    reason_kind: str | None = None
    # The question's names, figures and rare words no article holds in any form, as the question
    # wrote them: an abstention's reason, or, on an answer, what the reply says the library lacks
    # before its quotes (they are the closest it holds, not about that).
    missing: tuple[str, ...] = ()
    # An answer that cleared the abstention rule's bar narrowly (``AbstentionRule.tentative``):
    # the reply says the library may not answer the question before its quotes.
    tentative: bool = False

    @property
    def caveat(self) -> str | None:
        """What the reply says before its quotes, if anything: "missing" (the question names what
        no article mentions, ``missing``) before "unsure" (``tentative``); None for a plain answer
        or an abstention."""
        if self.abstained:
            return None
        if self.missing:
            return "missing"
        return "unsure" if self.tentative else None

    def as_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "reason": self.reason,
            "answer": [
                {
                    "text": c.text,
                    "score": round(c.score, 4),
                    "article": c.article.as_json(),
                    "sentence_index": c.sentence_index,
                    "also_in": [a.as_json() for a in c.also_in],
                }
                for c in self.citations
            ],
            "missing": list(self.missing),
            "tentative": self.tentative,
            "articles": list(self.articles),
            "took_ms": round(self.took_ms, 1),
        }


@dataclass(frozen=True, slots=True, eq=False)
class IndexedArticle:
    """A stored article with its vectors, as the in-memory index consumes it.

    Sentences and chunks are held as offsets, not objects: at 45k articles the library has ~460k
    sentences, and an object plus a copied text per sentence and per chunk cost more memory than
    the article texts themselves. Texts are sliced from ``text`` when a sentence is quoted.
    Rows of ``sentence_vectors`` and ``chunk_vectors`` follow the rows of the bounds.
    """

    info: ArticleInfo
    text: str
    sentence_bounds: np.ndarray  # (n, 2) int32: start, end code-point offsets into ``text``
    chunk_bounds: np.ndarray  # (m, 2) int32: first, last (exclusive) sentence of each chunk
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray

    @classmethod
    def from_spans(
        cls,
        info: ArticleInfo,
        text: str,
        sentences: Sequence[tuple[int, int]],
        chunks: Sequence[tuple[int, int]],
        sentence_vectors: np.ndarray,
        chunk_vectors: np.ndarray,
    ) -> IndexedArticle:
        """From (start, end) sentence and (first, last) chunk pairs, or the span types."""
        return cls(
            info,
            text,
            _bounds([(s[0], s[1]) for s in sentences]),
            _bounds([(c[0], c[1]) for c in chunks]),
            sentence_vectors,
            chunk_vectors,
        )

    @property
    def sentence_count(self) -> int:
        return len(self.sentence_bounds)

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_bounds)

    def sentence_text(self, index: int) -> str:
        start, end = self.sentence_bounds[index].tolist()
        return self.text[start:end]

    def sentence_texts(self) -> list[str]:
        return [self.text[start:end] for start, end in self.sentence_bounds.tolist()]

    def chunk_texts(self) -> list[str]:
        """Each chunk's sentences joined by one space, as the chunker made them."""
        sentences = self.sentence_texts()
        return [" ".join(sentences[first:last]) for first, last in self.chunk_bounds.tolist()]


def _bounds(pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    return np.array(pairs, dtype=np.int32).reshape(len(pairs), 2)
