"""What only the Milvus backend has to show (the shared contract is tests/test_backend_contract.py):
an import killed with SIGKILL leaves no article half-stored (the next open sweeps what the dead
writer left, or finds its article whole), two writers racing for one article store it once, and
a Milvus that cannot be reached is a clear ``DatabaseUnavailable``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_backend_contract import CORPUS, archive, backend_settings
from tests_support import REPO

from index.backend import open_store
from index.errors import ArticleRefused, DatabaseUnavailable
from index.milvus import MilvusStore
from library import Library
from retrieval.encoder import Encoder

LINES = CORPUS[:9]


def stored_rows(store: MilvusStore) -> dict[str, object]:
    """What the collections hold: articles, and sentence and chunk rows by article id, and the
    journal's claims of writers at work."""
    articles = store._query(store.articles, "", ["id", "sentence_count", "chunk_count"])
    by_article: dict[str, dict[int, int]] = {}
    for name in (store.sentences, store.chunks):
        counted: dict[int, int] = {}
        for row in store._query(name, "", ["article_id"]):
            counted[int(row["article_id"])] = counted.get(int(row["article_id"]), 0) + 1
        by_article[name] = counted
    return {
        "articles": {int(a["id"]): (int(a["sentence_count"]), int(a["chunk_count"])) for a in articles},
        "sentences": by_article[store.sentences],
        "chunks": by_article[store.chunks],
        "claims": store._query(store.journal, 'kind in ["add", "delete"]', ["pk"]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("killed_after", ["chunks", "articles"])
def test_an_import_killed_mid_batch_leaves_each_article_whole_or_swept(
    tmp_path: Path, encoder: Encoder, killed_after: str
) -> None:
    """``newsbot import`` in a subprocess, SIGKILLed right after it wrote the second batch's
    chunks (before their articles' rows, the commit) or its articles' rows (before clearing its
    claims). On reopen every article is whole and nothing else is left; re-running the import
    stores the rest once."""
    path = archive(tmp_path, LINES)
    uri = str(tmp_path / "milvus.db")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        import index.milvus as milvus

        original = milvus.MilvusStore._write
        seen = []

        def write(self, collection, rows, *, upsert=False):
            original(self, collection, rows, upsert=upsert)
            if collection == getattr(self, {killed_after!r}):
                seen.append(collection)
                if len(seen) == 2:
                    os.kill(os.getpid(), signal.SIGKILL)

        milvus.MilvusStore._write = write
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
        assert len(articles) == (3 if killed_after == "chunks" else 6)
        assert rows["sentences"] == {i: s for i, (s, _) in articles.items()}  # nothing else, nothing less
        assert rows["chunks"] == {i: c for i, (_, c) in articles.items()}
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
        store._write(store.journal, [other], upsert=True)  # its pid is ours: alive
        with pytest.raises(ArticleRefused, match="another writer"):
            await store.add_articles([article])
        assert (await store.stats()).articles == 0
        assert stored_rows(store)["sentences"] == {}  # gave up before writing anything

        dead = {**other, "pk": "add:1:dead-writer", "pid": _dead_pid(), "writer": "dead"}
        store._write(store.journal, [dead], upsert=True)
        store._client.delete(store.journal, ids=[other["pk"]])
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
