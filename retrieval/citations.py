"""An answer's sources, numbered as the CLI and the bot both show them: each quote ends with its
article's number ("[2]"), and the articles follow in the order of their first quote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.types import ArticleInfo, Citation


@dataclass(frozen=True, slots=True)
class NumberedSources:
    sources: tuple[tuple[int, ArticleInfo], ...]  # each cited article once, numbered from 1
    numbers: tuple[int, ...]  # the number of each citation's article, in citation order


def number_sources(citations: Sequence[Citation]) -> NumberedSources:
    """Number the articles ``citations`` quote, 1, 2, … in the order of their first quote."""
    numbers: dict[str, int] = {}
    articles: list[tuple[int, ArticleInfo]] = []
    for citation in citations:
        ref = citation.article.ref
        if ref not in numbers:
            numbers[ref] = len(numbers) + 1
            articles.append((numbers[ref], citation.article))
    return NumberedSources(tuple(articles), tuple(numbers[c.article.ref] for c in citations))
