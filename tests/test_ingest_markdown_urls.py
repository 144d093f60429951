"""Adding articles end to end (real model, real SQLite, a real HTTP server): a Markdown file with
front matter or a heading, and a link that differs from a stored one only by tracking parameters."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import OpenLibrary

from library import Library
from retrieval.errors import DuplicateArticle

FRONT_MATTER_MD = """---
title: "Airport expansion approved"
date: 2024-03-04
author: Jane Roe
---

The regional council approved the airport expansion on Monday after a two-year debate.

Construction of the new terminal will start next spring, officials said.
"""

HEADING_MD = """# Valley flood warning stays in place until the river falls
The weather service kept its *flood warning* for the [river valley](https://weather.example/valley)
in place on Tuesday.

## What residents should do
- Move cars to higher ground before the night
- Keep emergency kits ready, the **mayor** said
"""
MARKUP = re.compile(r"[#*_]|\]\(|^title:|^date:", re.M)


async def test_markdown_front_matter_is_stored_as_metadata(library: Library) -> None:
    info = await library.add_upload(FRONT_MATTER_MD.encode(), "fm.md")
    assert (info.title, info.published, info.author) == (
        "Airport expansion approved",
        "2024-03-04",
        "Jane Roe",
    )
    _, text = await library.article(info.ref)
    assert text.split("\n\n") == [
        "The regional council approved the airport expansion on Monday after a two-year debate.",
        "Construction of the new terminal will start next spring, officials said.",
    ]


async def test_markdown_heading_is_the_title_and_no_markup_is_stored(library: Library) -> None:
    info = await library.add_upload(HEADING_MD.encode(), "flood.md")
    assert info.title == "Valley flood warning stays in place until the river falls"
    _, text = await library.article(info.ref)
    assert "Valley flood warning" not in text and "What residents should do" not in text
    assert not MARKUP.search(text)
    assert text.split("\n\n") == [
        "The weather service kept its flood warning for the river valley in place on Tuesday.",
        "Move cars to higher ground before the night",
        "Keep emergency kits ready, the mayor said",
    ]


@pytest_asyncio.fixture(loop_scope="function")
async def flood_site() -> AsyncIterator[str]:
    """A page whose text changes on every request (a live ticker), so only its URL is the same."""
    counter = itertools.count(1)

    async def flood(_request: web.Request) -> web.Response:
        body = f"""<html><head><title>River flood closes the valley road</title></head><body><article>
        <h1>River flood closes the valley road</h1>
        <p>The river burst its banks on Tuesday night and closed the valley road for two days.</p>
        <p>Engineers said the water level had risen faster than at any time since 1998.</p>
        <p>Live update number {next(counter)}: the road is still closed to all traffic this morning.</p>
        </article></body></html>"""
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/news/flood.html", flood)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_link_with_tracking_parameters_is_a_duplicate(
    open_library: OpenLibrary, flood_site: str
) -> None:
    library = await open_library(NEWSBOT_ALLOW_PRIVATE_HOSTS=flood_site)
    page = f"http://{flood_site}/news/flood.html"
    first = await library.add_url(page)
    with pytest.raises(DuplicateArticle, match=f"already in the library as {first.ref}"):
        await library.add_url(f"{page}?utm_source=x")
    with pytest.raises(DuplicateArticle):
        await library.add_url(f"{page}?fbclid=abc123#comments")
    assert (await library.stats()).articles == 1


async def test_link_is_stored_without_tracking_parameters(open_library: OpenLibrary, flood_site: str) -> None:
    library = await open_library(NEWSBOT_ALLOW_PRIVATE_HOSTS=flood_site)
    page = f"http://{flood_site}/news/flood.html"
    first = await library.add_url(f"{page}?utm_source=newsletter&utm_medium=email#top")
    assert first.url == page
    with pytest.raises(DuplicateArticle, match=f"already in the library as {first.ref}"):
        await library.add_url(page)
