"""``newsbot feeds add|list|remove|poll`` in process, on a real SQLite file and on a milvus-lite
file, against a local feed site on 127.0.0.1 under the test allow-list."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from feed_site import FeedSite, Resource, rss

import cli
from index.milvus import MilvusStore
from index.milvus_feeds import feed_ids


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedSite]:
    with FeedSite() as served:
        monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_HOSTS", served.host)
        yield served


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("backend", ["sqlite", "milvus"])
def test_feeds_add_list_poll_and_remove(
    backend: str,
    tmp_path: Path,
    site: FeedSite,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    library = ["--db", str(tmp_path / "news.sqlite3")]  # Milvus: the environment names it
    url = site.put("/rss.xml", Resource(rss("Test Desk", site.put_articles("/news", 2)), etag='"v1"'))
    ref = "f1"
    if backend == "milvus":  # a library made before feeds were kept in Milvus: it gets them at first use
        uri = str(tmp_path / "news.db")
        monkeypatch.setenv("NEWSBOT_INDEX", "milvus")
        monkeypatch.setenv("NEWSBOT_MILVUS_URI", uri)
        asyncio.run(made_without_feeds(uri))
        assert run(capsys, "feeds", "list")[1] == "no feeds are followed; newsbot feeds add URL follows one\n"
        ref, library = f"f{next(feed_ids(url))}", []
    status, out, _ = run(capsys, "feeds", "add", url, "--every", "30", *library)
    assert status == 0 and out == (
        f"following {ref}: Test Desk (2 items now); newsbot feeds poll (or the running bot) takes them in\n"
    )
    status, out, _ = run(capsys, *library, "feeds", "poll")
    assert status == 0 and out.startswith(
        f"{ref}: 2 stored, 0 already in the library, 0 refused, 0 seen before\n"
    )
    assert re.search(r"\n  stored \w+: Story 0 \[", out) and re.search(r"\n  stored \w+: Story 1 \[", out)
    assert run(capsys, *library, "feeds", "poll")[1] == "no feed is due\n"
    assert run(capsys, *library, "feeds", "poll", "--all")[1] == f"{ref}: unchanged\n"  # a 304

    status, out, _ = run(capsys, *library, "feeds", "list")
    first, second = out.splitlines()
    assert first == f"{ref}  Test Desk  {url}"
    assert second.startswith("    2 articles from 2 items, every 30 min; last read 20")
    status, out, _ = run(capsys, *library, "feeds", "remove", url)
    assert status == 0 and out == f"stopped following {ref}: Test Desk (2 articles stay)\n"
    assert run(capsys, *library, "list")[1].count("Story") == 2
    assert run(capsys, *library, "feeds", "list")[1].startswith("no feeds are followed")


async def made_without_feeds(uri: str) -> None:
    """A library in Milvus as one made before feeds were kept there: its own collections only."""
    store = await MilvusStore.open(uri)
    try:
        assert not store.client.has_collection("newsbot_feeds")
    finally:
        await store.close()


def test_feeds_mistakes_get_one_line_and_change_nothing(
    tmp_path: Path, site: FeedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.sqlite3"
    page = site.put("/", Resource(b"<html><body><p>Front page</p></body></html>", "text/html"))
    status, _, err = run(capsys, "--db", str(db), "feeds", "add", page)
    assert status == 2 and err == f"newsbot: {page} is a web page, not an RSS or Atom feed\n"
    status, out, _ = run(capsys, "--db", str(db), "feeds", "list")
    assert status == 0 and out == "no feeds are followed; newsbot feeds add URL follows one\n"
    status, _, err = run(capsys, "--db", str(db), "feeds", "remove", "f3")
    assert status == 2 and err.startswith("newsbot: no followed feed is 'f3'")
    missing = tmp_path / "none.sqlite3"
    status, _, err = run(capsys, "--db", str(missing), "feeds", "remove", "f1")
    assert status == 2 and "there is no database" in err and not missing.exists()
