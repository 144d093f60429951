"""What a JSONL import stores, skips and says: duplicates by text, URL or id (within the file, in
the library, or stored by another process while the import runs), ids that look like automatic
refs, malformed ids and languages, every skipped line named with its line number, refs that are
never reused and are found whatever their case, and readable size limits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import OpenLibrary
from tests_support import DATA, SEED_TEXT

import index.store as store_module
from fetch import readable_size
from ingest import ImportFailed
from jsonl import parse_import_line
from library import Library
from retrieval.errors import ArticleRejected, NotFound
from retrieval.prepare import normalize_language

CORPUS = [json.loads(line) for line in (DATA / "dev_slice_corpus.jsonl").read_text("utf-8").splitlines()]
# Short Indonesian news passages: cheap to embed.
SHORT = [CORPUS[i] for i in (0, 7, 9, 10, 11, 22, 23, 27)]
SEED_TITLE = "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"


def archive(tmp_path: Path, *records: dict[str, Any] | str) -> Path:
    """A JSONL file of these records (a string is written as the line itself)."""
    path = tmp_path / "archive.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_url(record: dict[str, Any], url: str) -> dict[str, Any]:
    return {**record, "url": url}


# -- duplicates within one file and in the library ----------------------------------------------


async def test_a_url_repeated_in_one_file_skips_that_line_and_stores_the_rest(
    library: Library, tmp_path: Path
) -> None:
    same = "https://news.test/one-story"
    path = archive(tmp_path, with_url(SHORT[0], same), SHORT[1], with_url(SHORT[2], same), SHORT[3], SHORT[0])
    summary = await library.import_jsonl(path, batch_size=32)
    assert summary.stored == 3 and summary.skipped == {"duplicate": 2}
    assert summary.problems == (
        "line 3: same URL as line 1",
        f"line 5: id {SHORT[0]['id']} is already used by line 1",
    )
    assert (await library.stats()).articles == 3
    assert {a.info.ref for a in library.index.articles} == {SHORT[i]["id"] for i in (0, 1, 3)}


async def test_the_url_or_text_of_a_stored_article_is_named_with_its_ref(
    library: Library, tmp_path: Path
) -> None:
    seed = await library.add_text(SEED_TEXT, url="https://news.test/xi-letter")
    pasted = await library.add_text(SHORT[2]["text"])
    path = archive(
        tmp_path,
        with_url(SHORT[0], "https://news.test/xi-letter"),
        {"id": "pasted-before", "text": SHORT[2]["text"]},
        SHORT[1],
    )
    summary = await library.import_jsonl(path)
    assert summary.stored == 1 and summary.skipped == {"duplicate": 2}
    titled = f"“{pasted.title}”" if pasted.title else "an untitled article"
    assert summary.problems == (
        f"line 1: same URL as {seed.ref} (“{SEED_TITLE}”), already in the library",
        f"line 2: same text as {pasted.ref} ({titled}), already in the library",
    )


async def test_an_article_another_process_stores_meanwhile_is_skipped_and_its_batch_kept(
    library: Library, tmp_path: Path
) -> None:
    """The database's own UNIQUE constraint catches what the checks before storing could not:
    the batch is stored without that article, which is named."""
    taken = "https://news.test/taken-meanwhile"
    path = archive(tmp_path, SHORT[0], with_url(SHORT[1], taken), SHORT[2], SHORT[3])

    def another_process(done: int, total: int) -> None:
        if done == 3:  # line 2 was checked and waits in the batch, which is not stored yet
            with sqlite3.connect(library.settings.db) as db:
                db.execute(
                    "INSERT INTO articles (ref, title, url, lang, text, content_hash)"
                    " VALUES ('elsewhere-1', 'Stored elsewhere', ?, 'en', 'Some text.', 'not-a-hash')",
                    (taken,),
                )

    summary = await library.import_jsonl(path, batch_size=32, on_progress=another_process)
    assert summary.stored == 3 and summary.skipped == {"duplicate": 1}
    assert summary.problems == (
        "line 2: same URL as elsewhere-1 (“Stored elsewhere”), already in the library"
        " (stored while this import ran)",
    )
    stats = await library.stats()
    assert stats.articles == 4  # three imported + the other process's
    assert stats.sentences == sum(a.sentence_count for a in library.index.articles)


async def test_a_refusal_that_is_no_duplicate_skips_only_that_article(
    library: Library, tmp_path: Path
) -> None:
    """An article is stored whole or not at all; the others of its batch are stored."""
    with sqlite3.connect(library.settings.db) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = 'Refuse me'"
            " BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
    path = archive(tmp_path, SHORT[0], {**SHORT[1], "title": "Refuse me"}, SHORT[2])
    summary = await library.import_jsonl(path)
    assert summary.stored == 2 and summary.skipped == {"refused": 1}
    assert summary.problems == ("line 2: the database refused the article (refused by a trigger)",)
    stats = await library.stats()
    assert stats.articles == 2
    assert stats.sentences == sum(a.sentence_count for a in library.index.articles)


async def test_a_failing_database_stops_the_import_with_the_lines_it_could_not_store(
    library: Library, tmp_path: Path
) -> None:
    path = archive(tmp_path, *SHORT[:4])

    def break_the_database(done: int, total: int) -> None:
        if done == 4:  # the first batch is committed, the second not begun
            with sqlite3.connect(library.settings.db) as db:
                db.execute(
                    "CREATE TRIGGER broken BEFORE INSERT ON articles"
                    " BEGIN INSERT INTO missing VALUES (1); END"
                )

    with pytest.raises(ImportFailed, match=r"lines 3-4 could not be stored \(no such table: main.missing\)"):
        await library.import_jsonl(path, batch_size=2, on_progress=break_the_database)
    assert {a.ref for a in await library.recent()} == {SHORT[0]["id"], SHORT[1]["id"]}


# -- ids ----------------------------------------------------------------------------------------


async def test_ids_of_the_automatic_form_are_kept_and_collisions_say_what_holds_the_id(
    seeded_library: Library, tmp_path: Path
) -> None:
    """An archive's ids are its articles' refs (the eval contract), whatever their form; one that
    a stored article or an earlier line holds is refused, naming the holder."""
    path = archive(
        tmp_path,
        {**SHORT[0], "id": "a1"},
        {**SHORT[1], "id": "A7"},
        {**SHORT[2], "id": "A1"},
        SHORT[3],
        {**SHORT[4], "id": SHORT[3]["id"].upper()},
    )
    summary = await seeded_library.import_jsonl(path)
    assert summary.stored == 2 and summary.skipped == {"duplicate": 3}
    assert summary.problems == (
        f"line 1: id a1 is already used by “{SEED_TITLE}”",
        f"line 3: id A1 is already used by a1 (“{SEED_TITLE}”)",
        f"line 5: id {SHORT[3]['id'].upper()} is already used by line 4",
    )
    (seed,) = [a for a in await seeded_library.recent() if a.ref == "a1"]
    assert seed.title == SEED_TITLE  # untouched
    added = await seeded_library.add_text(SHORT[5]["text"])
    assert added.ref == f"a{added.id}" and added.id > 7  # automatic refs go past the imported "A7"


async def test_refs_are_found_whatever_their_case(seeded_library: Library, tmp_path: Path) -> None:
    await seeded_library.import_jsonl(archive(tmp_path, SHORT[0]))
    info, _ = await seeded_library.article("A1")
    assert info.ref == "a1"
    imported, _ = await seeded_library.article(SHORT[0]["id"].upper())
    assert imported.ref == SHORT[0]["id"]
    deleted = await seeded_library.delete("A1")
    assert deleted.ref == "a1"
    with pytest.raises(NotFound):
        await seeded_library.article("a1")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ('"  "', '"id" is blank'),
        ('{"x": 1}', '"id" must be a string or an integer, not {"x": 1}'),
        ("[1, 2]", '"id" must be a string or an integer, not [1, 2]'),
        ("true", '"id" must be a string or an integer, not true'),
        ("1.5", '"id" must be a string or an integer, not 1.5'),
    ],
)
def test_blank_and_non_scalar_ids_are_refused_with_the_line_number(given: str, message: str) -> None:
    with pytest.raises(ArticleRejected, match=r"^line 7: ") as refused:
        parse_import_line(f'{{"id": {given}, "text": "Some text."}}', 7)
    assert str(refused.value) == f"line 7: {message}" and refused.value.reason == "bad_input"


def test_string_and_integer_ids_are_kept_without_surrounding_spaces() -> None:
    assert parse_import_line('{"id": 42, "text": "Some text."}', 1).ref == "42"  # type: ignore[union-attr]
    assert parse_import_line('{"id": " x-1 ", "text": "Some text."}', 1).ref == "x-1"  # type: ignore[union-attr]


# -- languages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("english", "en"),
        ("English", "en"),
        ("id", "id"),
        ("ind", "id"),
        ("indonesian", "id"),
        ("Bahasa Indonesia", "id"),
        ("de", "de"),
        ("pt-BR", "pt"),
        ("xx", None),
        ("und", None),
        ("français", None),
        ("", None),
        (5, None),
        (None, None),
    ],
)
def test_languages_are_normalized_to_iso_639_1_codes(given: object, code: str | None) -> None:
    assert normalize_language(given) == code
    line = json.dumps({"id": "x", "text": "Some text.", "lang": given})
    assert parse_import_line(line, 1).lang == code  # type: ignore[union-attr]


async def test_an_unknown_language_is_detected_from_the_text(library: Library, tmp_path: Path) -> None:
    path = archive(
        tmp_path,
        {**SHORT[0], "lang": "xx"},
        {**SHORT[1], "lang": "Bahasa Indonesia"},
        {**SHORT[2], "lang": "english"},
    )
    await library.import_jsonl(path)
    langs = {a.info.ref: a.info.lang for a in library.index.articles}
    assert langs == {SHORT[0]["id"]: "id", SHORT[1]["id"]: "id", SHORT[2]["id"]: "en"}  # as the archive says
    assert dict((await library.stats()).languages) == {"id": 2, "en": 1}


# -- what the import says -----------------------------------------------------------------------


async def test_every_skipped_line_is_named_with_its_reason_in_file_order(
    library: Library, tmp_path: Path
) -> None:
    path = archive(
        tmp_path,
        SHORT[0],
        "not json",
        '{"title": "no id"}',
        "",
        {"id": "empty-1", "text": "   "},
        {**SHORT[1], "id": "other-id", "text": SHORT[0]["text"]},
        SHORT[1],
        {"id": {"x": 1}, "text": "Some text."},
    )
    summary = await library.import_jsonl(path, batch_size=1)
    assert summary.stored == 2
    assert summary.problems == (
        "line 2: not JSON (Expecting value)",
        'line 3: needs at least "id" and "text"',
        "line 5: the text is empty",
        "line 6: same text as line 1",
        'line 8: "id" must be a string or an integer, not {"x": 1}',
    )
    assert summary.skipped == {"bad_input": 3, "empty": 1, "duplicate": 1}
    again = await library.import_jsonl(path)
    assert again.problems[0] == f"line 1: id {SHORT[0]['id']} is already used by an untitled article"


# -- refs are never reused ----------------------------------------------------------------------


async def test_a_deleted_ref_is_never_given_to_another_article(open_library: OpenLibrary) -> None:
    library = await open_library()
    first = await library.add_text(SEED_TEXT)
    second = await library.add_text(SHORT[0]["text"])
    await library.delete(second.ref)
    third = await library.add_text(SHORT[1]["text"])
    assert third.ref != second.ref and third.id > second.id
    await library.delete(third.ref)
    await library.close()
    reopened = await open_library()
    fourth = await reopened.add_text(SHORT[2]["text"])
    assert fourth.id > third.id and fourth.ref not in {first.ref, second.ref, third.ref}
    with pytest.raises(NotFound):
        await reopened.article(second.ref)


async def test_an_old_database_migrates_in_place_and_its_saved_index_stays_valid(
    open_library: OpenLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library made by schema version 1 (ids reused after a delete) with a saved index: the
    upgrade keeps every id and ref, so the saved index is used as it is, and refs stop being
    reused from then on."""
    with monkeypatch.context() as old_schema:
        # Version 1 plus the columns of version 4 (dates and copies), which the code under test
        # writes (version 2's rebuild drops them again, and version 4 adds them back).
        old_schema.setattr(
            store_module, "MIGRATIONS", (store_module.MIGRATIONS[0] + ";" + store_module.MIGRATIONS[3],)
        )
        old_schema.setattr(store_module, "SCHEMA_VERSION", 1)
        old = await open_library()
        await old.import_jsonl(archive(tmp_path, *SHORT[:4]))
        gone = await old.add_text(SHORT[4]["text"])
        await old.delete(gone.ref)
        reused = await old.add_text(SEED_TEXT)
        assert reused.ref == gone.ref  # the defect of version 1
        await old.save_snapshot()
        before = sorted((a.info.id, a.info.ref, a.info.content_hash) for a in old.index.articles)
        await old.close()
    with sqlite3.connect(tmp_path / "newsbot.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1

    upgraded = await open_library()
    with sqlite3.connect(tmp_path / "newsbot.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
    assert upgraded.answerer.unsaved == 0  # every slot of the saved index matched the migrated database
    assert sorted((a.info.id, a.info.ref, a.info.content_hash) for a in upgraded.index.articles) == before
    answer = await upgraded.ask("apa isi surat Xi")
    assert answer.citations[0].article.ref == reused.ref
    await upgraded.delete(reused.ref)
    newest = await upgraded.add_text(SHORT[5]["text"])
    assert newest.ref != reused.ref and newest.id > reused.id


# -- sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (1, "1 byte"),
        (999, "999 bytes"),
        (1_200, "1.2 kB"),
        (999_949, "999.9 kB"),
        (999_950, "1.0 MB"),
        (3_400_000, "3.4 MB"),
        (2_500_000_000, "2.5 GB"),
    ],
)
def test_sizes_are_shown_readably(size: int, shown: str) -> None:
    assert readable_size(size) == shown


async def test_an_upload_over_a_small_limit_says_both_sizes(open_library: OpenLibrary) -> None:
    library = await open_library(NEWSBOT_MAX_UPLOAD_BYTES=1_500)
    with pytest.raises(ArticleRejected, match=r"^a.txt is 2\.5 kB; the limit is 1\.5 kB$"):
        await library.add_upload(b"x" * 2_500, "a.txt")
    with pytest.raises(ArticleRejected, match=r"^a.txt is 1,501 bytes; the limit is 1,500 bytes$"):
        await library.add_upload(b"x" * 1_501, "a.txt")
