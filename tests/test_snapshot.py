"""The index saved beside the database: a restart maps it back and answers exactly as before;
whatever changed in the database since (deletions, additions, an id reused for another article)
is taken from the database; a damaged, unfinished or foreign snapshot is ignored, never trusted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import OpenLibrary
from tests_support import DATA, SEED_TEXT

from index import snapshot
from index.in_memory import InMemoryAnswerer
from library import Library
from retrieval.answer import answer
from retrieval.corpus import CorpusIndex

QUESTIONS = [
    json.loads(line)["question"]
    for line in (DATA / "dev_slice_questions.jsonl").read_text("utf-8").splitlines()
] + ["what did Xi's letter say", "apa isi surat Xi"]


def _answers(index: CorpusIndex, vectors: np.ndarray) -> list[tuple[object, ...]]:
    out = []
    for question, vector in zip(QUESTIONS, vectors, strict=True):
        a = answer(index, question, vector)
        out.append(
            (a.articles, a.abstained, tuple((c.article.ref, c.text, round(c.score, 6)) for c in a.citations))
        )
    return out


def _rebuilt(index: CorpusIndex) -> CorpusIndex:
    return CorpusIndex(index.articles, index.config, dim=index.dim)


def _current(library: Library) -> Path:
    directory = snapshot.snapshot_dir(library.settings.db)
    return directory / (directory / "CURRENT").read_text().strip()


@pytest.mark.slow
async def test_a_restart_maps_the_saved_index_and_answers_as_before(open_library: OpenLibrary) -> None:
    first = await open_library()
    await first.import_jsonl(DATA / "dev_slice_corpus.jsonl", batch_size=16)
    await first.add_text(SEED_TEXT)
    await first.save_snapshot()
    vectors = first.encoder.encode_queries(QUESTIONS)
    before = _answers(first.index, vectors)

    second = await open_library()
    assert second.answerer.unsaved == 0  # nothing was read from SQLite but texts and metadata
    assert not second.index._chunk_rows.base.flags.writeable  # mapped from the file, not copied
    assert len(second.index) == len(first.index) > 70
    assert _answers(second.index, vectors) == before
    await second.add_text("Gempa bumi berkekuatan 6,1 mengguncang Cianjur pada Senin siang. " * 3)
    assert _answers(second.index, vectors) == _answers(_rebuilt(second.index), vectors)


@pytest.mark.slow
async def test_what_changed_since_the_snapshot_comes_from_the_database(open_library: OpenLibrary) -> None:
    first = await open_library()
    await first.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    await first.save_snapshot()
    stored = sorted(first.index.articles, key=lambda a: a.info.id)
    deleted = [stored[0].info.ref, stored[30].info.ref]
    for ref in deleted:
        await first.delete(ref)
    last = stored[-1].info
    await first.delete(last.ref)
    seed = await first.add_text(SEED_TEXT)
    assert seed.id > last.id and seed.ref != last.ref  # ids and refs are never reused
    await first.close()  # four changes: too few to save again

    second = await open_library()
    assert second.answerer.unsaved == 4  # three slots dropped, one article read from SQLite
    refs = {a.info.ref for a in second.index.articles}
    assert seed.ref in refs and not refs & {*deleted, last.ref}
    vectors = second.encoder.encode_queries(QUESTIONS)
    assert _answers(second.index, vectors) == _answers(_rebuilt(second.index), vectors)
    answer = await second.ask("apa isi surat Xi")
    assert not answer.abstained and answer.citations[0].article.ref == seed.ref


@pytest.mark.slow
async def test_a_damaged_unfinished_or_foreign_snapshot_is_ignored(
    open_library: OpenLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    first = await open_library()
    await first.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    await first.save_snapshot()
    vectors = first.encoder.encode_queries(QUESTIONS)
    before = _answers(first.index, vectors)
    generation = _current(first)
    directory = generation.parent

    # A save killed before it switched CURRENT leaves a partial generation: it is never read.
    (directory / "g0-1.partial").mkdir()
    (directory / "g0-1.partial" / "manifest.json").write_text("{")
    restarted = await open_library()
    assert restarted.answerer.unsaved == 0 and _answers(restarted.index, vectors) == before

    # Damaged vectors: refused, and the index is built from the database instead.
    vectors_file = generation / "chunk_vectors.npy"
    vectors_file.write_bytes(vectors_file.read_bytes()[:-1000])
    damaged = await open_library()
    assert damaged.answerer.unsaved == len(damaged.index) and "unusable" in caplog.text
    assert _answers(damaged.index, vectors) == before

    # Made by another tokenizer: its postings would be stale.
    await damaged.save_snapshot()
    manifest_file = _current(damaged) / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps({**manifest, "lexical": "another tokenizer"}))
    foreign = await open_library()
    assert foreign.answerer.unsaved == len(foreign.index) and _answers(foreign.index, vectors) == before
    assert sorted(p.name for p in directory.iterdir() if p.name != "CURRENT") == [
        "g0-1.partial",  # too young to be another process's abandoned save
        _current(damaged).name,
    ]


@pytest.mark.slow
async def test_close_saves_only_after_enough_changes(
    open_library: OpenLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = await open_library()
    await small.add_text(SEED_TEXT)
    await small.close()
    assert not snapshot.snapshot_dir(small.settings.db).exists()  # one article: cheaper to re-read

    monkeypatch.setattr(InMemoryAnswerer, "SNAPSHOT_MIN_CHANGES", 50)
    bulk = await open_library()
    await bulk.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    await bulk.close()
    reopened = await open_library()
    assert reopened.answerer.unsaved == 0 and len(reopened.index) == len(bulk.index)


async def test_a_snapshot_that_cannot_be_written_costs_only_start_up_time(
    open_library: OpenLibrary, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(InMemoryAnswerer, "SNAPSHOT_MIN_CHANGES", 1)
    library = await open_library()
    snapshot.snapshot_dir(library.settings.db).write_text("not a directory")
    await library.add_text(SEED_TEXT)
    await library.close()  # logs, does not raise
    assert "could not save the index" in caplog.text
    reopened = await open_library()
    assert len(reopened.index) == 1 and not (await reopened.ask("apa isi surat Xi")).abstained


async def test_a_snapshot_of_articles_all_deleted_since_opens_an_empty_library(
    open_library: OpenLibrary,
) -> None:
    first = await open_library()
    info = await first.add_text(SEED_TEXT)
    await first.save_snapshot()
    await first.delete(info.ref)
    await first.close()
    reopened = await open_library()
    assert len(reopened.index) == 0
    answer = await reopened.ask("apa isi surat Xi")
    assert answer.abstained and answer.reason == "the library has no articles yet"
    again = await reopened.add_text(SEED_TEXT)
    assert (await reopened.ask("apa isi surat Xi")).citations[0].article.ref == again.ref


async def test_articles_are_added_while_the_snapshot_is_written(
    open_library: OpenLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing a large index takes seconds; an admin's add in the meantime neither waits for it
    nor is forgotten: it still counts as unsaved afterwards."""
    import asyncio
    import threading

    library = await open_library()
    await library.add_text(SEED_TEXT)
    release = threading.Event()
    save = snapshot.save

    def slow_save(directory: Path, state: object) -> None:
        assert release.wait(30), "the add never finished while the snapshot was being written"
        save(directory, state)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "save", slow_save)
    saving = asyncio.create_task(library.save_snapshot())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(library.add_text("Gempa bumi mengguncang Cianjur pada Senin siang. " * 3), 30)
    release.set()
    await saving
    assert library.answerer.unsaved == 1 and len(library.index) == 2
