"""Numbering an answer's sources, shared by the CLI (``cli.format_answer``) and the bot
(``handlers/format.py``)."""

from __future__ import annotations

from retrieval.citations import number_sources
from retrieval.types import ArticleInfo, Citation


def info(article_id: int, ref: str) -> ArticleInfo:
    return ArticleInfo(article_id, ref, f"Title {ref}", None, None, None, None, "en")


def test_articles_are_numbered_by_their_first_quote_and_each_quote_carries_its_number() -> None:
    a7, a2, a9 = info(7, "a7"), info(2, "a2"), info(9, "a9")
    quoted = [a7, a2, a7, a9, a2]
    citations = [Citation(f"Sentence {i}.", 0.5, article, i) for i, article in enumerate(quoted)]
    numbered = number_sources(citations)
    assert numbered.sources == ((1, a7), (2, a2), (3, a9))
    assert numbered.numbers == (1, 2, 1, 3, 2)


def test_no_citations_no_sources() -> None:
    assert number_sources([]).sources == () and number_sources([]).numbers == ()
