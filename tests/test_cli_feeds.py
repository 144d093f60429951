"""``newsbot feeds add|list|remove|poll`` in process, on a real SQLite file, against a local
feed site on 127.0.0.1 under the test allow-list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feed_site import FeedSite, Resource, rss

import cli


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedSite]:
    with FeedSite() as served:
        monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_HOSTS", served.host)
        yield served


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_feeds_add_list_poll_and_remove(
    tmp_path: Path, site: FeedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "news.sqlite3")
    url = site.put("/rss.xml", Resource(rss("Test Desk", site.put_articles("/news", 2)), etag='"v1"'))
    status, out, _ = run(capsys, "feeds", "add", url, "--every", "30", "--db", db)
    assert status == 0 and out == (
        "following f1: Test Desk (2 items now); newsbot feeds poll (or the running bot) takes them in\n"
    )
    status, out, _ = run(capsys, "--db", db, "feeds", "poll")
    assert status == 0 and out.startswith(
        "f1: 2 stored, 0 already in the library, 0 refused, 0 seen before\n"
    )
    assert "  stored a1: Story 0 [" in out and "  stored a2: Story 1 [" in out
    assert run(capsys, "--db", db, "feeds", "poll")[1] == "no feed is due\n"
    assert run(capsys, "--db", db, "feeds", "poll", "--all")[1] == "f1: unchanged\n"  # a 304

    status, out, _ = run(capsys, "--db", db, "feeds", "list")
    first, second = out.splitlines()
    assert first == f"f1  Test Desk  {url}"
    assert second.startswith("    2 articles from 2 items, every 30 min; last read 20")
    status, out, _ = run(capsys, "--db", db, "feeds", "remove", url)
    assert status == 0 and out == "stopped following f1: Test Desk (2 articles stay)\n"
    assert run(capsys, "--db", db, "list")[1].count("Story") == 2


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
