"""An answer's sources, numbered as the CLI and the bot both show them: each quote ends with its
article's number ("[2]"), and the articles follow in the order of their first quote, each with
its date and the other outlets that carried the same story ("also in: Kompas, Tempo")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.types import ArticleInfo, Citation


@dataclass(frozen=True, slots=True)
class NumberedSources:
    sources: tuple[tuple[int, ArticleInfo], ...]  # each cited article once, numbered from 1
    numbers: tuple[int, ...]  # the number of each citation's article, in citation order
    also_in: tuple[tuple[ArticleInfo, ...], ...] = ()  # per source: the story's other copies


def also_in_names(copies: Sequence[ArticleInfo]) -> str:
    """ "Kompas, Tempo (a12)": each copy by its outlet (else its title, else its ref), once."""
    names = [info.outlet or info.title or info.ref for info in copies]
    return ", ".join(dict.fromkeys(names))


def number_sources(citations: Sequence[Citation]) -> NumberedSources:
    """Number the articles ``citations`` quote, 1, 2, … in the order of their first quote."""
    numbers: dict[str, int] = {}
    articles: list[tuple[int, ArticleInfo]] = []
    copies: list[tuple[ArticleInfo, ...]] = []
    for citation in citations:
        ref = citation.article.ref
        if ref not in numbers:
            numbers[ref] = len(numbers) + 1
            articles.append((numbers[ref], citation.article))
            copies.append(citation.also_in)
    return NumberedSources(tuple(articles), tuple(numbers[c.article.ref] for c in citations), tuple(copies))


def named_words(words: Sequence[str]) -> str:
    """ "“Bandung”, “2022”": what a reply says the library lacks, at most five, as the question
    wrote them."""
    return ", ".join(f"“{w}”" for w in words[:5])
