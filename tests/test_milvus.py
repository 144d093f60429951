"""What only the Milvus backend has to show (the shared contract is tests/test_backend_contract.py):
answers come from what Milvus finds per question, so opening a library reads none of it and
another process's import or deletion counts at once; an import killed with SIGKILL leaves no
article half-stored (the next open sweeps what the dead writer left, or finds its article
whole), two writers racing for one article store it once, and a Milvus that cannot be reached
is a clear ``DatabaseUnavailable``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dated_news import FLOOD_KOMPAS, FLOOD_TEMPO
from test_backend_contract import CORPUS, FLOOD_DETIK, FLOOD_QUESTION, archive, backend_settings
from tests_support import REPO, SEED_TEXT

from backfill import backfill_copies_and_dates
from index.backend import open_store
from index.errors import ArticleRefused, DatabaseUnavailable
from index.milvus import MilvusStore
from jsonl import Shard
from library import Library
from retrieval.encoder import Encoder

LINES = CORPUS[:9]


def stored_rows(store: MilvusStore) -> dict[str, object]:
    """What the collections hold: articles, and sentence and chunk rows by article id, the
    articles with a story and band keys, and the journal's claims of writers at work."""
    articles = store.query(store.articles, "", ["id", "sentence_count", "chunk_count"])
    by_article: dict[str, dict[int, int]] = {}
    for name in (store.sentences, store.chunks):
        counted: dict[int, int] = {}
        for row in store.query(name, "", ["article_id"]):
            counted[int(row["article_id"])] = counted.get(int(row["article_id"]), 0) + 1
        by_article[name] = counted
    return {
        "articles": {int(a["id"]): (int(a["sentence_count"]), int(a["chunk_count"])) for a in articles},
        "sentences": by_article[store.sentences],
        "chunks": by_article[store.chunks],
        "stories": {int(r["article_id"]) for r in store.query(store.stories, "", ["article_id"])},
        "claims": store.query(store.journal, 'kind in ["add", "delete"]', ["pk"]),
    }


async def test_opening_reads_no_article_and_another_library_s_changes_count_at_once(
    tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two libraries on one milvus-lite file (two bot processes on one Milvus): opening one
    reads no article, vector or sample (its memory does not grow with the library); what one
    imports the other answers from at its next question, and what one deletes the other never
    quotes again, without ``refresh``, also when its sample of the library held the article."""
    settings = backend_settings("milvus", tmp_path)
    reads: list[str] = []
    for method in ("load_library", "load_articles", "sample"):
        original = getattr(MilvusStore, method)

        async def counted(
            self: MilvusStore, *args: Any, _name: str = method, _original: Any = original
        ) -> Any:
            reads.append(_name)
            return await _original(self, *args)

        monkeypatch.setattr(MilvusStore, method, counted)
    writer = await Library.open(settings, encoder=encoder)
    reader = await Library.open(settings, encoder=encoder)
    try:
        assert reads == []
        await writer.import_jsonl(archive(tmp_path, CORPUS[:24]))
        question = "Kapankah Anwar Ibrahim dipecat oleh Mahathir Mohamad?"
        answer = await reader.ask(question)
        assert answer.citations[0].article.ref == "facqa-f89008d1ca"
        assert "sample" in reads and "load_library" not in reads
        await writer.delete("facqa-f89008d1ca")  # 1 of 24: the reader keeps its sample, less this one
        again = await reader.ask(question)
        assert "facqa-f89008d1ca" not in {c.article.ref for c in again.citations} | set(again.articles)
        assert reads.count("sample") == 1
    finally:
        await reader.close()
        await writer.close()


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", ["stories", "articles"])
def test_an_import_killed_mid_batch_leaves_each_article_whole_or_swept(
    tmp_path: Path, encoder: Encoder, killed_after: str
) -> None:
    """``newsbot import`` in a subprocess, SIGKILLed right after it wrote the second batch's
    stories and band keys (after its sentences and chunks, before their articles' rows, the
    commit) or its articles' rows (before clearing its claims). On reopen every article is whole
    with its band keys and nothing else is left; re-running the import stores the rest once."""
    path = archive(tmp_path, LINES)
    uri = str(tmp_path / "milvus.db")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        import index.milvus as milvus

        original = milvus.MilvusStore.write
        seen = []

        def write(self, collection, rows, *, upsert=False):
            original(self, collection, rows, upsert=upsert)
            if collection == getattr(self, {killed_after!r}):
                seen.append(collection)
                if len(seen) == 2:
                    os.kill(os.getpid(), signal.SIGKILL)

        milvus.MilvusStore.write = write
        import cli
        sys.exit(cli.main(["import", {str(path)!r}, "--batch-size", "3"]))
        """
    )
    env = {
        **os.environ,
        "NEWSBOT_INDEX": "milvus",
        "NEWSBOT_MILVUS_URI": uri,
        "NEWSBOT_DB": str(tmp_path / "x"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=300, cwd=tmp_path
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]

    async def check() -> None:
        store = await MilvusStore.open(uri)  # sweeps what the dead writer left
        try:
            rows = stored_rows(store)
        finally:
            await store.close()
        articles = rows["articles"]
        assert isinstance(articles, dict)
        assert len(articles) == (3 if killed_after == "stories" else 6)
        assert rows["sentences"] == {i: s for i, (s, _) in articles.items()}  # nothing else, nothing less
        assert rows["chunks"] == {i: c for i, (_, c) in articles.items()}
        assert rows["stories"] == set(articles)
        assert rows["claims"] == []

        library = await Library.open(backend_settings("milvus", tmp_path), encoder=encoder)
        try:
            summary = await library.import_jsonl(path)
            assert (summary.stored, summary.skipped) == (
                len(LINES) - len(articles),
                {"duplicate": len(articles)},
            )
            assert {a.ref for a in await library.recent(20)} == {r["id"] for r in LINES}
        finally:
            await library.close()

    asyncio.run(check())


async def test_a_library_made_before_copies_were_kept_gets_them_by_backfill(
    tmp_path: Path, encoder: Encoder
) -> None:
    """A Milvus library made by a newsbot that kept no stories (no such collection) opens and
    answers as before, its articles counted as unchecked; ``backfill`` folds its copies, and a
    new copy then joins their story."""
    settings = backend_settings("milvus", tmp_path)
    library = await Library.open(settings, encoder=encoder)
    try:
        kompas, tempo = [await library.add_text(text) for text in (FLOOD_KOMPAS, FLOOD_TEMPO)]
        store = library.store
        assert isinstance(store, MilvusStore)
        store.client.drop_collection(store.stories)  # what that newsbot left
    finally:
        await library.close()
    library = await Library.open(settings, encoder=encoder)
    try:
        assert [a.copy_of for a in await library.recent()] == [None, None]
        assert not (await library.ask(FLOOD_QUESTION)).abstained
        assert await library.store.count_without_near_keys() == 2
        summary = await backfill_copies_and_dates(library.store)
        assert (summary.completed, summary.copies) == (2, 1)
        assert (await library.store.article_info_by_id(tempo.id)).copy_of == kompas.id
        assert (await library.add_text(FLOOD_DETIK)).copy_of == kompas.id
    finally:
        await library.close()


async def test_a_claim_of_another_live_writer_refuses_the_same_article(tmp_path: Path) -> None:
    """Two writers (two processes, or two machines) storing one link at once: the one that finds
    the other's claim gives up, so the article is stored at most once; a claim whose writer died
    is swept and blocks nothing."""
    from test_store import make_article

    store = await MilvusStore.open(str(tmp_path / "milvus.db"), dim=384)
    try:
        article = make_article("One story. Told twice.", url="https://news.test/one")
        other = store._journal_row(
            "add:1:other-writer",
            "add",
            article_id=1,
            url="https://news.test/one",
            ref_key="x1",
            writer="other",
        )
        store.write(store.journal, [other], upsert=True)  # its pid is ours: alive
        with pytest.raises(ArticleRefused, match="another writer"):
            await store.add_articles([article])
        assert (await store.stats()).articles == 0
        assert stored_rows(store)["sentences"] == {}  # gave up before writing anything

        dead = {**other, "pk": "add:1:dead-writer", "pid": _dead_pid(), "writer": "dead"}
        store.write(store.journal, [dead], upsert=True)
        store.client.delete(store.journal, ids=[other["pk"]])
        assert await store.sweep() == 1
        (info,) = await store.add_articles([article])
        assert (await store.stats()).articles == 1 and info.url == "https://news.test/one"
    finally:
        await store.close()


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


async def test_an_unreachable_milvus_is_a_clear_error(tmp_path: Path) -> None:
    settings = backend_settings("milvus", tmp_path, NEWSBOT_MILVUS_URI="http://127.0.0.1:9")
    with pytest.raises(DatabaseUnavailable, match=r"http://127\.0\.0\.1:9"):
        await open_store(settings)


# -- several importers, and copying a library between backends ----------------------------------


def test_a_shard_is_every_nth_line() -> None:
    shards = [Shard.parse(f"{i}/3") for i in (1, 2, 3)]
    assert [[n for n in range(1, 10) if s.holds(n)] for s in shards] == [[1, 4, 7], [2, 5, 8], [3, 6, 9]]
    for bad in ("0/3", "4/3", "3", "a/b", "-1/2", "1/0"):
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(bad)


@pytest.mark.slow
def test_two_importers_with_shards_fill_one_milvus_once(tmp_path: Path, milvus_server: Any) -> None:
    """``newsbot import --shard 1/2`` and ``2/2`` at once, two processes on one Milvus server (as
    on two machines): together they store every line once; a re-run of either stores nothing."""
    path = archive(tmp_path, [*LINES, {**LINES[0], "id": "same-text-other-id"}])
    env = {**os.environ, "NEWSBOT_INDEX": "milvus", "NEWSBOT_MILVUS_URI": milvus_server.uri}
    command = str(Path(sys.executable).with_name("newsbot"))
    importers = [
        subprocess.Popen(
            [command, "import", str(path), "--shard", f"{i}/2", "--batch-size", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        for i in (1, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in importers]
    assert [p.returncode for p in importers] == [0, 0], [e.decode()[-1500:] for _, e in outputs]
    said = [out.decode() for out, _ in outputs]
    # lines 1,3,5,7,9 and 2,4,6,8,10; line 10 repeats line 1's text under another id (another
    # shard's: refused there by the store, or by the other importer's claim). Racing, either may
    # win, never both; rarely neither (each saw the other's claim), and a re-run stores it.
    stored = [int(s.split("stored ")[1].split()[0]) for s in said]
    assert sum(stored) in (len(LINES), len(LINES) - 1), said
    if sum(stored) < len(LINES):
        for shard in ("1/2", "2/2"):
            newsbot(env, tmp_path, "import", str(path), "--shard", shard)

    async def check() -> None:
        store = await MilvusStore.open(milvus_server.uri)
        try:
            others = {r["id"] for r in LINES[1:]}
            refs = {a.ref for a in await store.recent(20)}
            assert refs in (others | {LINES[0]["id"]}, others | {"same-text-other-id"})
            rows = stored_rows(store)
            articles = rows["articles"]
            assert isinstance(articles, dict)
            assert rows["sentences"] == {i: s for i, (s, _) in articles.items()}
            assert rows["claims"] == []
        finally:
            await store.close()

    asyncio.run(check())
    again = newsbot(env, tmp_path, "import", str(path), "--shard", "1/2")
    assert again.startswith("stored 0 articles"), again


@pytest.mark.slow
def test_migrate_copies_a_library_with_its_vectors_both_ways(tmp_path: Path) -> None:
    """``newsbot migrate --to milvus`` copies the SQLite library (refs, texts, spans, vectors: no
    model is loaded) into Milvus, and ``--to sqlite`` back into a new file; a second run copies
    nothing; answers are the same from the copy (tests/test_backend_contract.py compares them)."""
    from index.store import Store

    source = tmp_path / "source.sqlite3"
    asyncio.run(_fill(source))
    env = {**os.environ, "NEWSBOT_MILVUS_URI": str(tmp_path / "copy.db"), "NEWSBOT_MODEL": "/nonexistent"}
    to_milvus = newsbot(env, tmp_path, "--db", str(source), "migrate", "--to", "milvus")
    assert to_milvus.startswith(f"copied {len(LINES)} articles from {source}")
    back = tmp_path / "back.sqlite3"
    for expected in (len(LINES), 0):
        to_sqlite = newsbot(env, tmp_path, "--db", str(back), "migrate", "--to", "sqlite")
        assert to_sqlite.startswith(f"copied {expected} articles"), to_sqlite

    async def compare() -> None:
        stores = [
            await Store.open(source),
            await MilvusStore.open(str(tmp_path / "copy.db")),
            await Store.open(back),
        ]
        try:
            libraries = [(await s.load_library({}))[1] for s in stores]
            identities = [await s.encoder_identity() for s in stores]
        finally:
            for s in stores:
                await s.close()
        assert identities[0] is not None and identities.count(identities[0]) == 3
        by_ref = [{a.info.ref: a for a in articles} for articles in libraries]
        assert by_ref[0].keys() == by_ref[1].keys() == by_ref[2].keys() == {r["id"] for r in LINES}
        for ref, article in by_ref[0].items():
            for copy in by_ref[1:]:
                assert copy[ref].text == article.text and copy[ref].info.url == article.info.url
                assert np.array_equal(copy[ref].chunk_bounds, article.chunk_bounds)
                assert np.array_equal(copy[ref].sentence_vectors, article.sentence_vectors)

    asyncio.run(compare())


async def _fill(db: Path) -> None:
    """A SQLite library of ``LINES`` with stand-in vectors (copying never reads them as a model)."""
    from index.store import NewArticle, Store
    from jsonl import parse_import_line
    from retrieval.cleaning import clean_text
    from retrieval.config import DEFAULT_CONFIG
    from retrieval.encoder import EncoderIdentity
    from retrieval.prepare import prepare_article

    store = await Store.open(db)
    try:
        await store.check_encoder(
            EncoderIdentity("bundled:multilingual-e5-small", 384, "query: ", "passage: ")
        )
        rng = np.random.default_rng(0)
        for number, record in enumerate(LINES, start=1):
            parsed = parse_import_line(json.dumps(record), number)
            assert parsed is not None
            prepared = prepare_article(
                clean_text(parsed.text, archive=True), DEFAULT_CONFIG, lang=parsed.lang
            )
            vectors = rng.standard_normal((len(prepared.sentences) + len(prepared.chunks), 384)).astype(
                np.float32
            )
            n = len(prepared.sentences)
            await store.add_articles([NewArticle(prepared, vectors[:n], vectors[n:], parsed.ref)])
    finally:
        await store.close()


@pytest.mark.slow
def test_the_command_line_on_a_milvus_library(tmp_path: Path) -> None:
    """add, list, show, ask, delete as a user types them, with NEWSBOT_INDEX=milvus."""
    env = {**os.environ, "NEWSBOT_INDEX": "milvus", "NEWSBOT_MILVUS_URI": str(tmp_path / "lib.db")}

    def run(*args: str, given: str | None = None) -> str:
        return newsbot(env, tmp_path, *args, given=given)

    assert run("list").startswith("the library is empty (no database at")  # and it creates none
    assert not (tmp_path / "lib.db").exists()
    stored = run("add", "-", given=SEED_TEXT)
    ref = stored.split()[1].rstrip(":")
    assert stored.startswith(f"stored {ref}: Kirim Surat ke Kim Jong Un")
    assert run("list").split()[0] == ref
    assert "TRIBUNNEWS.COM, BEIJING" in run("show", ref.upper())
    answer = json.loads(run("ask", "--json", "when did Xi meet Biden"))
    assert not answer["abstained"] and "KTT G20 Bali" in answer["answer"][0]["text"]
    assert run("delete", ref).startswith(f"deleted {ref}")
    assert run("list").startswith("the library is empty;")


def newsbot(env: dict[str, str], cwd: Path, *args: str, given: str | None = None) -> str:
    """What ``newsbot ARGS`` prints, run as a user would (exit status 0 checked)."""
    command = [str(Path(sys.executable).with_name("newsbot")), *args]
    done = subprocess.run(command, env=env, input=given, capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_milvus_lite_library_held_by_another_process_is_one_clear_line(tmp_path: Path) -> None:
    """milvus-lite lets one process open a library file: the next gets one line naming the way
    to share it (its server), no traceback, exit status 2."""
    uri = str(tmp_path / "held.db")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from pymilvus import MilvusClient; MilvusClient({uri!r}); print('held', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        env = {**os.environ, "NEWSBOT_INDEX": "milvus", "NEWSBOT_MILVUS_URI": uri}
        command = [str(Path(sys.executable).with_name("newsbot")), "list"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    finally:
        holder.communicate("\n", timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        f"newsbot: cannot open the Milvus library at {uri}"
    )
    assert f"milvus-lite server --data-dir {uri}" in done.stderr


@pytest.mark.slow
def test_the_side_by_side_benchmark_runs_on_a_small_library(tmp_path: Path) -> None:
    """``benchmarks/milvus_side_by_side.py`` (the Milvus side of ``bench``) on the tests' own
    articles, copied with ``migrate`` and served by a milvus-lite server: both columns measured,
    every answer compared, the tables written where asked (a benchmark asserts nothing of speed)."""
    grounding = REPO / "tests" / "data" / "grounding_library.jsonl"
    db, copy, results = tmp_path / "lib.sqlite3", tmp_path / "lib-milvus.db", tmp_path / "results"
    env = {**os.environ, "NEWSBOT_MILVUS_URI": str(copy)}
    assert newsbot(env, tmp_path, "--db", str(db), "import", str(grounding)).startswith("stored 7 articles")
    assert newsbot(env, tmp_path, "--db", str(db), "migrate", "--to", "milvus").startswith(
        "copied 7 articles"
    )
    script = REPO / "benchmarks" / "milvus_side_by_side.py"
    command = [sys.executable, str(script), "--db", str(db), "--milvus", str(copy), "--served"]
    command += ["--queries", "4", "--adds", "1", "--results", str(results)]
    command += ["--import-lines", str(grounding), "--import-n", "2"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    measured = json.loads((results / "milvus-side-by-side-7-served.json").read_text("utf-8"))
    for backend in ("sqlite", "milvus"):
        assert measured[backend]["articles"] == 7 and measured[backend]["import"]["articles"] == 2
        assert measured[backend]["ask_ms"]["p95"] > 0 and measured[backend]["peak_rss_mb"] > 0
    assert measured["milvus"]["engine_peak_rss_mb"] > 0 and 0 <= measured["same_answers"] <= 4
    table = (results / "milvus-side-by-side-7-served.md").read_text("utf-8")
    assert table.startswith("| measure (7 articles) | SQLite | milvus-lite server |")
