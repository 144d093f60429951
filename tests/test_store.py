"""The SQLite store: migrations (in place, from a version 1 file), atomic batches (even under SIGKILL),
dedup lookups, refs (never reused, found whatever their case), model identity."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from tests_support import REPO

from index.errors import ArticleRefused, DatabaseDamaged, DatabaseUnavailable
from index.store import MIGRATIONS, SCHEMA_VERSION, NewArticle, Store
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


@pytest.mark.parametrize("read_only", [False, True])
async def test_refuses_a_newer_schema_without_writing(tmp_path: Path, read_only: bool) -> None:
    """A library from a newer newsbot is refused before anything is written (not even the
    switch to WAL, which rewrites the header)."""
    with sqlite3.connect(tmp_path / "new.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = (tmp_path / "new.db").read_bytes()
    with pytest.raises(DatabaseUnavailable, match=r"new.db was written by a newer newsbot \(schema version"):
        await Store.open(tmp_path / "new.db", read_only=read_only)
    assert (tmp_path / "new.db").read_bytes() == before


async def test_refuses_another_programs_database(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE contacts (name TEXT)")
    before = (tmp_path / "other.db").read_bytes()
    with pytest.raises(DatabaseUnavailable, match=r"another program's SQLite database \(tables contacts\)"):
        await Store.open(tmp_path / "other.db")
    assert (tmp_path / "other.db").read_bytes() == before


async def test_a_damaged_file_opens_but_is_never_written(tmp_path: Path) -> None:
    """Opening and reading need no integrity check (seconds on a large library), writing does:
    the first write of a connection runs SQLite's quick_check, and a damaged file is left as it
    was."""
    store = await Store.open(tmp_path / "a.db")
    for number in range(40):
        text = f"Article {number} says something. It has a second sentence {number}. " * 8
        await store.add_articles([make_article(text)])
    await store.close()
    healthy = (tmp_path / "a.db").read_bytes()
    half = len(healthy) // 4096 // 2 * 4096
    (tmp_path / "a.db").write_bytes(healthy[:half] + b"\xa5" * (len(healthy) - half))
    damaged = (tmp_path / "a.db").read_bytes()
    store = await Store.open(tmp_path / "a.db")  # the header and the schema are undamaged
    with pytest.raises(DatabaseDamaged, match=r"a.db: it is damaged \(.+\) and was left as it is"):
        await store.add_articles([make_article("A new article. It is short.")])
    with pytest.raises(DatabaseDamaged):
        await store.delete("a1")
    await store.close()
    assert (tmp_path / "a.db").read_bytes() == damaged


async def test_reading_never_creates_or_writes_a_file(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "missing.db", read_only=True)
    assert (await store.stats()).articles == 0 and await store.recent() == []
    await store.close()
    (tmp_path / "blank.db").touch()
    store = await Store.open(tmp_path / "blank.db", read_only=True)
    with pytest.raises(NotFound):
        await store.article("a1")
    await store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.db"]
    assert (tmp_path / "blank.db").read_bytes() == b""


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


async def test_vector_rows_are_built_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long file has tens of thousands of vectors: turning them into blobs (80 ms for 27,000)
    happens in aiosqlite's thread, while the bot's event loop keeps answering."""
    import index.store

    threads = []
    blob = index.store._blob

    def recording_blob(vector: np.ndarray) -> bytes:
        threads.append(threading.current_thread())
        return blob(vector)

    monkeypatch.setattr(index.store, "_blob", recording_blob)
    store = await Store.open(tmp_path / "a.db")
    try:
        await store.add_articles([make_article("First sentence here. Second one there. Third at last.")])
    finally:
        await store.close()
    assert len(threads) == 4 and threading.main_thread() not in threads


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


def _version_1_database(path: Path) -> None:
    """A library as schema version 1 left it: article 4 (the newest) was deleted, so its id was
    free for reuse; one imported id has the automatic form, and two refs differ only in case."""
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        rows = [(1, "a1"), (2, "facqa-1"), (3, "a9"), (5, "Foo"), (6, "foo")]
        for article_id, ref in rows:
            db.execute(
                "INSERT INTO articles (id, ref, title, lang, text, content_hash, added_at)"
                " VALUES (?, ?, ?, 'en', ?, ?, '2024-01-02T03:04:05Z')",
                (article_id, ref, f"Title {article_id}", f"Text {article_id}.", f"hash-{article_id}"),
            )
            vector = np.full(384, article_id, "<f4").tobytes()
            db.execute("INSERT INTO sentences VALUES (?, 0, 0, 7, ?)", (article_id, vector))
            db.execute("INSERT INTO chunks VALUES (?, 0, 0, 1, ?)", (article_id, vector))
        db.execute("PRAGMA user_version = 1")


async def test_a_version_1_database_migrates_in_place_keeping_ids_refs_and_vectors(tmp_path: Path) -> None:
    _version_1_database(tmp_path / "old.db")
    store = await Store.open(tmp_path / "old.db")
    loaded = {a.info.id: a for a in await store.load_all()}
    assert {i: a.info.ref for i, a in loaded.items()} == {1: "a1", 2: "facqa-1", 3: "a9", 5: "Foo", 6: "foo"}
    assert all(a.info.added_at == "2024-01-02T03:04:05Z" for a in loaded.values())
    assert all(float(a.sentence_vectors[0, 0]) == i for i, a in loaded.items())  # no row cascaded away
    (new,) = await store.add_articles([make_article("Added after the upgrade. It is new.")])
    assert (new.id, new.ref) == (10, "a10")  # past every id and every ref of the automatic form
    await store.delete("a10")
    (newer,) = await store.add_articles([make_article("Added after a delete. Never a10 again.")])
    assert newer.ref == "a11"
    await store.close()
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert (
            "AUTOINCREMENT"
            in db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles'").fetchone()[0]
        )
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


async def test_the_migration_ignores_refs_that_only_look_automatic_and_drops_orphans(tmp_path: Path) -> None:
    """A 20-digit "a…" ref would saturate the sequence (every later insert: "database or disk is
    full") and "a2024-05-01" would move it to 2024; rows orphaned with foreign keys off (the
    sqlite3 shell's default) would fail the migration's foreign-key check."""
    _version_1_database(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as db:
        for article_id, ref in [(7, "A99999999999999999999"), (8, "a2024-05-01"), (9, "a5x")]:
            db.execute(
                "INSERT INTO articles (id, ref, lang, text, content_hash) VALUES (?, ?, 'en', 'T.', ?)",
                (article_id, ref, f"hash-{article_id}"),
            )
        db.execute("DELETE FROM articles WHERE id = 2")  # foreign keys off: its rows stay
    store = await Store.open(tmp_path / "old.db")
    (new,) = await store.add_articles([make_article("Added after the upgrade. It is new.")])
    assert new.ref == "a10"  # past id 9 and the real automatic-form ref a9, nothing else
    assert (await store.stats()).sentences == 4 + 2  # the orphaned sentence is gone
    await store.close()


async def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    _version_1_database(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("CREATE TABLE articles_v2 (x)")  # the migration's new table name is taken
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        await Store.open(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM sentences").fetchone()[0] == 5
        assert (
            "AUTOINCREMENT"
            not in db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles'").fetchone()[0]
        )


async def test_refs_match_ignoring_case_an_exact_match_first(tmp_path: Path) -> None:
    _version_1_database(tmp_path / "old.db")
    store = await Store.open(tmp_path / "old.db")
    assert (await store.article("A1"))[0].ref == "a1"
    assert (await store.article("FACQA-1"))[0].ref == "facqa-1"
    assert (await store.article("foo"))[0].id == 6 and (await store.article("Foo"))[0].id == 5
    assert (await store.article("FOO"))[0].id == 5
    duplicate = await store.find_duplicate(text_hash=None, url=None, ref="Facqa-1")
    assert duplicate is not None and duplicate.ref == "facqa-1"
    await store.close()


async def test_an_external_id_of_the_automatic_form_moves_automatic_refs_past_it(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    (imported,) = await store.add_articles([make_article("One sentence here. And another.", ref="A3")])
    (automatic,) = await store.add_articles([make_article("Something else entirely. Truly.")])
    assert (imported.ref, automatic.ref) == ("A3", "a4")
    await store.close()


async def test_a_refused_article_is_named_and_nothing_of_its_batch_is_stored(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    (kept,) = await store.add_articles([make_article("Stored first. With a URL.", url="https://x.test/a")])
    batch = [
        make_article("A different story. Fine.", url="https://x.test/b"),
        make_article("Another story. Same URL as the stored one.", url="https://x.test/a"),
    ]
    with pytest.raises(ArticleRefused) as refused:
        await store.add_articles(batch)
    assert refused.value.position == 1
    assert refused.value.existing is not None and refused.value.existing.id == kept.id
    assert (
        refused.value.reason == "duplicate"
        and str(refused.value) == f"already in the library as {kept.ref} (A title)"
    )
    assert (await store.stats()).articles == 1
    await store.close()
