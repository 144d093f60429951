"""``newsbot backfill``: a library stored before dates and copies were kept gets both, once,
resumably; with the real model and real SQLite files. The old library is made as an upgrade
leaves one: schema version 4's columns empty, no MinHash band keys, dates as their metadata gave
them."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from dated_news import CHILI, FLOOD_KOMPAS, FLOOD_TEMPO
from tests_support import run_cli

from backfill import backfill_copies_and_dates
from index.store import Store
from retrieval.near_duplicates import fingerprint


def old_library(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"id": "kompas", "text": FLOOD_KOMPAS},
        {"id": "tempo", "text": FLOOD_TEMPO},
        {"id": "chili", "title": "Harga cabai naik", "text": CHILI[0][1], "published": "10 September 2019"},
    ]
    archive = tmp_path / "news.jsonl"
    archive.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert run_cli(capsys, "import", str(archive))[0] == 0
    with sqlite3.connect(db) as old:  # what the upgrade to schema version 4 leaves
        old.execute("DELETE FROM near_keys")
        old.execute("UPDATE articles SET copy_of = NULL")
        old.execute("UPDATE articles SET published = NULL WHERE ref IN ('kompas', 'tempo')")
        old.execute("UPDATE articles SET published = 'Selasa, 10 September 2019' WHERE ref = 'chili'")
    old.close()


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    return {line.split()[0]: line for line in out.splitlines()}


def test_an_old_librarys_articles_get_their_dates_and_copies_once(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    old_library(cli_env, tmp_path, capsys)
    before = listed(capsys)
    assert "2019-09-18" not in before["tempo"] and "a copy of" not in before["tempo"]

    with caplog.at_level(logging.WARNING, logger="newsbot.library"):
        assert run_cli(capsys, "ask", "berapa warga yang mengungsi karena banjir Cawang?")[0] == 0
    assert (
        "3 articles were stored without a date reading" in caplog.text and "newsbot backfill" in caplog.text
    )

    code, out, _ = run_cli(capsys, "backfill")
    assert code == 0
    assert out.startswith("completed 3 articles") and "3 dated, 1 found to be copies" in out
    after = listed(capsys)
    assert "2019-09-18" in after["kompas"] and "a copy of" not in after["kompas"]
    assert "2019-09-18" in after["tempo"] and "(a copy of kompas)" in after["tempo"]  # the later one
    assert "2019-09-10" in after["chili"]  # "Selasa, 10 September 2019" in ISO form

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="newsbot.library"):
        code, out, _ = run_cli(capsys, "ask", "--json", "berapa warga yang mengungsi karena banjir Cawang?")
    answer = json.loads(out)
    assert code == 0 and "backfill" not in caplog.text
    quoted = {quote["article"]["ref"] for quote in answer["answer"]}
    assert len(quoted) == 1  # the story once, the other outlet as "also in"
    assert {a["ref"] for a in answer["answer"][0]["also_in"]} == {"kompas", "tempo"} - quoted

    code, out, _ = run_cli(capsys, "backfill")  # nothing left
    assert code == 0 and out == "every article already has its date and copies checked: nothing to do\n"


def test_a_backfill_stopped_midway_resumes_and_a_deleted_article_gets_nothing(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_library(cli_env, tmp_path, capsys)
    asyncio.run(resume(cli_env))


async def resume(db: Path) -> None:
    store = await Store.open(db)
    try:
        first = (await store.articles_without_near_keys(0, 1))[0]
        await store.complete_article(
            first.article_id, fingerprint(first.text).keys, copy_of=None, published="2019-09-18"
        )
        assert await store.count_without_near_keys() == 2  # a run killed after one article
        deleted = await store.delete("chili")
        await store.complete_article(deleted.id, [4, 5], copy_of=None, published=None)  # deleted meanwhile
        assert await store.count_without_near_keys() == 1
        summary = await backfill_copies_and_dates(store)
        assert (summary.completed, summary.copies) == (1, 1)  # tempo, a copy of kompas, done before
        assert await store.count_without_near_keys() == 0
        assert [a.ref for a in await store.recent() if a.copy_of == first.article_id] == ["tempo"]
    finally:
        await store.close()


def test_backfill_without_a_library_says_so_and_creates_none(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "backfill")
    assert code != 0 and "there is no library at" in err and not cli_env.exists()
