"""Cleaned article -> language, sentences, chunks: everything but the vectors."""

from __future__ import annotations

import hashlib

from retrieval.config import RetrievalConfig
from retrieval.errors import ArticleRejected
from retrieval.sentences import chunk_sentences, detect_language, split_sentences
from retrieval.types import CleanedArticle, PreparedArticle


def content_hash(text: str) -> str:
    """Hash of the text with case and whitespace folded, so a re-pasted copy is a duplicate."""
    folded = " ".join(text.casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def prepare_article(
    cleaned: CleanedArticle, config: RetrievalConfig, *, lang: str | None = None
) -> PreparedArticle:
    """Split into sentences and chunks; ``lang`` overrides detection (e.g. from a JSONL field)."""
    language = lang or detect_language(cleaned.text)
    sentences = split_sentences(cleaned.text, language)
    if not sentences:
        raise ArticleRejected("empty", "no sentences left after cleaning")
    chunks = chunk_sentences(sentences, max_chars=config.chunk_chars, overlap=config.chunk_overlap_sentences)
    return PreparedArticle(
        text=cleaned.text,
        meta=cleaned.meta,
        lang=language,
        sentences=sentences,
        chunks=chunks,
        content_hash=content_hash(cleaned.text),
    )
