"""The SQLite store: migrations, atomic batches (even under SIGKILL), dedup lookups, model identity."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests_support import REPO

from index.store import SCHEMA_VERSION, NewArticle, Store
from retrieval.encoder import EncoderIdentity
from retrieval.errors import ModelMismatch, NotFound
from retrieval.prepare import content_hash
from retrieval.types import ArticleMeta, ChunkSpan, PreparedArticle, SentenceSpan

E5 = EncoderIdentity("bundled:multilingual-e5-small", 384, "query: ", "passage: ")


def make_article(
    text: str, *, title: str = "A title", url: str | None = None, ref: str | None = None
) -> NewArticle:
    sentences = []
    at = 0
    for part in text.split(". "):
        part = part if part.endswith(".") else part + "."
        start = text.index(part.rstrip("."), at)
        end = min(start + len(part), len(text))
        sentences.append(SentenceSpan(start, end, text[start:end]))
        at = end
    chunks = (ChunkSpan(0, len(sentences), " ".join(s.text for s in sentences)),)
    prepared = PreparedArticle(
        text, ArticleMeta(title=title, url=url), "en", tuple(sentences), chunks, content_hash(text)
    )
    rng = np.random.default_rng(len(text))
    return NewArticle(
        prepared,
        rng.standard_normal((len(sentences), 384)).astype(np.float32),
        rng.standard_normal((1, 384)).astype(np.float32),
        ref=ref,
    )


async def test_migrates_a_new_file_and_reopens(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    await store.close()
    with sqlite3.connect(tmp_path / "a.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = await Store.open(tmp_path / "a.db")  # a second open applies nothing and works
    assert (await store.stats()).articles == 0
    await store.close()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "new.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(tmp_path / "new.db")


async def test_round_trip_keeps_vectors_spans_and_refs(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    new = make_article("First sentence here. Second one there. Third at last.", url="https://x.test/a")
    (info,) = await store.add_articles([new])
    assert info.ref == f"a{info.id}" and info.sentence_count == 3 and info.title == "A title"
    (loaded,) = await store.load_all()
    assert loaded.sentence_texts() == [s.text for s in new.prepared.sentences]
    assert loaded.chunk_texts() == [c.text for c in new.prepared.chunks]
    assert loaded.sentence_bounds.tolist() == [[s.start, s.end] for s in new.prepared.sentences]
    assert np.array_equal(loaded.sentence_vectors, new.sentence_vectors)
    assert np.array_equal(loaded.chunk_vectors, new.chunk_vectors)
    assert (await store.find_duplicate(text_hash=None, url="https://x.test/a", ref=None)) is not None
    folded = content_hash("FIRST sentence here.   Second one there. Third at last.")
    assert (await store.find_duplicate(text_hash=folded, url=None, ref=None)) is not None
    deleted = await store.delete(info.ref)
    assert deleted.id == info.id
    stats = await store.stats()
    assert (stats.articles, stats.sentences, stats.chunks) == (0, 0, 0)
    with pytest.raises(NotFound):
        await store.article(info.ref)
    await store.close()


async def test_external_refs_are_kept(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    (info,) = await store.add_articles([make_article("Only one sentence here. And another.", ref="facqa-1")])
    assert info.ref == "facqa-1"
    await store.close()


async def test_a_failing_batch_stores_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    good = make_article("Good article text. It has two sentences.")
    broken = make_article("Broken article text. Vectors do not match.")
    broken = NewArticle(broken.prepared, broken.sentence_vectors[:1], broken.chunk_vectors)
    with pytest.raises(ValueError):
        await store.add_articles([good, broken])
    assert (await store.stats()).articles == 0
    await store.close()


async def test_model_identity_is_recorded_and_enforced(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    await store.check_encoder(E5)
    await store.check_encoder(E5)
    with pytest.raises(ModelMismatch, match="dim 768"):
        await store.check_encoder(EncoderIdentity("other", 768, "", ""))
    await store.close()


def test_a_process_killed_mid_batch_leaves_no_partial_article(tmp_path: Path) -> None:
    """SIGKILL inside the transaction, after one article's rows were written: none survive."""
    db = tmp_path / "killed.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / "tests")!r})
        from index.store import Store
        from test_store import make_article

        async def main():
            store = await Store.open(__import__("pathlib").Path({str(db)!r}))
            (kept,) = await store.add_articles([make_article("Committed before. The kill comes later.")])
            def batch():
                yield make_article("Written inside the transaction. Then the process dies.")
                os.kill(os.getpid(), signal.SIGKILL)
                yield make_article("Never reached. Never stored.")
            await store.add_articles(batch())

        asyncio.run(main())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr.decode()

    async def check() -> None:
        store = await Store.open(db)
        stats = await store.stats()
        assert (stats.articles, stats.sentences, stats.chunks) == (1, 2, 1)
        await store.close()

    asyncio.run(check())
