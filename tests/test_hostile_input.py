"""Inputs that must not take newsbot down (issue 14): files that are not files, JSONL lines that
break the parser or the encoder, damaged databases, ids and fields that cannot be stored or shown.

Each refusal is one line on stderr and exit 2 (or, for one line of a batch, that line skipped and
named), and changes nothing. Commands that old code ran forever or until memory ran out run in a
child process with a memory cap and a generous time-out, so a regression fails instead of taking
the machine down."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OpenLibrary
from test_store import make_article
from tests_support import DATA, REPO, run_cli

import cli
from index.errors import DatabaseDamaged
from index.store import Store
from jsonl import parse_import_line
from library import Library
from retrieval.config import DEFAULT_CONFIG
from retrieval.errors import ArticleRejected
from retrieval.prepare import prepare_article
from retrieval.types import ArticleMeta, CleanedArticle

CAPPED_MEMORY = 2 * 1024**3  # address space of a child newsbot: far above what it needs to refuse


def newsbot(tmp_path: Path, *argv: str, stdin: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``newsbot ARGV`` in a child process, with its database in ``tmp_path`` and a model that
    cannot load (every refusal here comes before the model)."""

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CAPPED_MEMORY, CAPPED_MEMORY))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))}
    env |= {"NEWSBOT_DB": str(tmp_path / "newsbot.sqlite3"), "NEWSBOT_MODEL": str(tmp_path / "no-model")}
    with open(stdin or os.devnull, "rb") as given:
        return subprocess.run(
            [sys.executable, "-m", "cli", *argv],
            cwd=REPO,
            env=env,
            stdin=given,
            capture_output=True,
            text=True,
            timeout=120,  # old code read /dev/zero or waited on a pipe forever
            preexec_fn=cap_memory,
        )


def assert_refused(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert (result.returncode, result.stdout) == (2, ""), result.stderr[-2000:]
    assert result.stderr.startswith("newsbot: ") and result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr


# -- files that are not regular files (item 2) ----------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["add", "/dev/zero"],
        ["import", "/dev/zero"],
        ["ask", "--questions", "/dev/zero"],
        ["eval", "--questions", "/dev/zero"],
    ],
)
def test_a_device_is_refused_without_reading_it(argv: list[str], tmp_path: Path) -> None:
    """``add /dev/zero`` grew to 24 GB (its size reads as 0); ``import /dev/zero`` spun forever."""
    assert_refused(newsbot(tmp_path, *argv), "newsbot: /dev/zero is a device, not a file")
    assert not (tmp_path / "newsbot.sqlite3").exists()


@pytest.mark.parametrize("command", ["add", "import"])
def test_a_pipe_is_refused_without_waiting_for_a_writer(command: str, tmp_path: Path) -> None:
    fifo = tmp_path / "article.txt"
    os.mkfifo(fifo)
    assert_refused(newsbot(tmp_path, command, str(fifo)), f"{fifo} is a pipe, not a file")


def test_stdin_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    result = newsbot(tmp_path, "add", "-", stdin=Path("/dev/zero"))
    assert_refused(result, "newsbot: standard input is over the limit of 2.0 MB")


# -- JSONL lines that broke the parser or the encoder (item 3) -------------------------------------

CORPUS = [json.loads(line) for line in (DATA / "dev_slice_corpus.jsonl").read_text("utf-8").splitlines()]
SHORT = [CORPUS[i] for i in (0, 7, 9)]  # short Indonesian passages: cheap to embed
NESTED = "[" * 100_000 + "]" * 100_000
LONG_NUMBER = "1" * 5_000


run = run_cli


def write_lines(path: Path, *lines: str, bom: bool = False) -> Path:
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + "".join(f"{line}\n" for line in lines).encode())
    return path


async def test_lines_that_break_the_parser_or_cannot_be_encoded_are_skipped_and_named(
    library: Library, tmp_path: Path
) -> None:
    """Each aborted the whole import with a traceback (earlier batches' lines lost); the BOM
    before line 1 made that line "not JSON"."""
    path = write_lines(
        tmp_path / "archive.jsonl",
        json.dumps(SHORT[0]),
        f'{{"id": {LONG_NUMBER}, "text": "Some text."}}',
        f'{{"id": "deep", "text": "Some text.", "extra": {NESTED}}}',
        json.dumps({"id": "bad\ud800id", "text": "Some text."}),
        json.dumps({"id": "t", "title": "A \ud800 title", "text": "Some text."}),
        json.dumps({**SHORT[1], "text": SHORT[1]["text"] + " \udfff"}),
        '{"id": "nan", "text": "Some text.", "title": NaN}',
        json.dumps(SHORT[2]),
        bom=True,
    )
    summary = await library.import_jsonl(path, batch_size=1)
    assert summary.problems == (
        "line 2: JSON newsbot cannot read (a number of more than 4,300 digits)",
        "line 3: JSON newsbot cannot read (nested too deeply)",
        'line 4: "id" holds a lone surrogate (\\ud800), which is not text',
        'line 5: "title" holds a lone surrogate (\\ud800), which is not text',
        'line 6: "text" holds a lone surrogate (\\udfff), which is not text',
        "line 7: not JSON (NaN is not a JSON number)",
    )
    assert summary.stored == 2 and summary.skipped == {"bad_input": 6}
    assert {a.info.ref for a in library.index.articles} == {SHORT[0]["id"], SHORT[2]["id"]}


def test_question_lines_that_break_the_parser_or_the_tokenizer_get_error_objects(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_lines(
        tmp_path / "questions.jsonl",
        '{"id": "q1", "question": "siapa yang menang"}',
        f'{{"id": {LONG_NUMBER}, "question": "who?"}}',
        f'{{"id": "deep", "question": "who?", "extra": {NESTED}}}',
        json.dumps({"id": "bad\ud800", "question": "who?"}),
        json.dumps({"id": "q5", "question": "what \ud800"}),
        json.dumps({"id": ["q6"], "question": "who?"}),
        '{"id": "q7", "question": "what did Xi\'s letter say"}',
        bom=True,
    )
    code, out, err = run(capsys, "ask", "--questions", "questions.jsonl")
    assert (code, err) == (0, "")
    answers = [json.loads(line) for line in out.splitlines()]
    assert [(a["id"], a["reason"]) for a in answers[1:6]] == [
        (None, "line 2: JSON newsbot cannot read (a number of more than 4,300 digits)"),
        (None, "line 3: JSON newsbot cannot read (nested too deeply)"),
        (None, 'line 4: "id" holds a lone surrogate (\\ud800), which is not text'),
        ("q5", 'line 5: "question" holds a lone surrogate (\\ud800), which is not text'),
        (None, 'line 6: "id" must be a string or a number'),
    ]
    assert (answers[0]["id"], answers[0]["question"]) == ("q1", "siapa yang menang")  # after the BOM
    assert (answers[6]["id"], answers[6]["question"]) == ("q7", "what did Xi's letter say")


def test_a_question_that_is_not_utf8_on_the_command_line_is_an_error_object(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``newsbot ask $'caf\\xe9?'`` from a Latin-1 terminal: Python hands the byte over as a lone
    surrogate, which the tokenizer and stdout refused with tracebacks."""
    code, out, err = run(capsys, "ask", "--json", "caf\udce9?")
    assert (code, err) == (2, "")
    error = json.loads(out)
    assert error["question"] == "caf??" and error["abstained"] and error["answer"] == []
    assert error["reason"] == "the question holds \\udce9, which is not text: type it as UTF-8"
    code, out, err = run(capsys, "ask", "caf\udce9?")
    assert (code, out) == (2, "")
    assert err == "newsbot: the question holds \\udce9, which is not text: type it as UTF-8\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'{{"id": {LONG_NUMBER}, "question": "who?", "article_id": "a1"}}', "a number of more than 4,300"),
        (f'{{"id": "q1", "question": "who?", "article_id": "a1", "x": {NESTED}}}', "nested too deeply"),
        ('{"id": "q1", "question": "who \\ud800?", "article_id": "a1"}', '"question" holds a lone surrogate'),
        ('{"id": "q1", "question": "who?", "article_id": "a\\udfff"}', '"article_id" holds a lone surrogate'),
        ('{"id": "q1", "question": "who?", "article_id": "a1", "answers": ["\\ud800"]}', '"answers" holds'),
        ('{"id": "q1", "question": "who?", "article_id": "a1", "lang": NaN}', "NaN is not a JSON number"),
    ],
    ids=["long-number", "nested", "question", "article_id", "answers", "nan"],
)
@pytest.mark.parametrize("command", ["eval", "tune"])
def test_a_labelled_question_line_that_breaks_the_parser_is_one_line(
    command: str,
    line: str,
    expected: str,
    tmp_path: Path,
    cli_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_lines(tmp_path / "labelled.jsonl", '{"id": "q0", "question": "who?", "article_id": "a1"}', line)
    monkeypatch.setenv("NEWSBOT_MODEL", str(tmp_path / "no-model"))  # refused before the model loads
    code, out, err = run(capsys, command, "--questions", "labelled.jsonl")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith("newsbot: labelled.jsonl, line 2: ") and expected in err, err


# -- damaged databases (item 4) --------------------------------------------------------------------

PAGE = 4096


async def a_library_file(path: Path, articles: int = 60) -> bytes:
    """A real database of ``articles`` small articles (refs a1...), closed; returns its bytes."""
    store = await Store.open(path)
    for number in range(articles):
        text = f"Article {number} says something. It has a second sentence {number}. " * 8
        await store.add_articles([make_article(text, url=f"https://news.test/{number}")])
    await store.close()
    return path.read_bytes()


def library_file(path: Path, articles: int = 60) -> bytes:
    """``a_library_file`` for a test without an event loop (``cli.main`` runs its own)."""
    return asyncio.run(a_library_file(path, articles))


def damaged(healthy: bytes, how: str) -> bytes:
    pages = len(healthy) // PAGE
    if how == "truncated":
        return healthy[: pages // 2 * PAGE]
    if how == "header only":
        return healthy[:100]
    if how == "garbage pages":  # the second half of the pages: page 1 and the schema still read
        noise = bytes((i * 7919 + 13) % 251 for i in range(PAGE))
        return healthy[: pages // 2 * PAGE] + noise * (pages - pages // 2)
    assert how == "from the future"
    user_version = 60  # the header's user_version field
    return healthy[:user_version] + (999).to_bytes(4, "big") + healthy[user_version + 4 :]


def side_files(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path}


@pytest.mark.parametrize("how", ["truncated", "header only", "garbage pages", "from the future"])
@pytest.mark.parametrize(
    "argv",
    [["list"], ["show", "a1"], ["delete", "a1"], ["delete", "a60"]],
    ids=["list", "show", "delete", "delete-last"],
)
def test_a_damaged_database_is_one_line_and_never_written_to(
    how: str, argv: list[str], tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` and ``delete`` succeeded on overwritten pages and wrote into them. Reading
    commands open the file read-only and say what damage they meet (``show`` of an article
    on undamaged pages may still show it); a write is preceded by SQLite's integrity check."""
    db = tmp_path / "newsbot.sqlite3"
    db.write_bytes(damaged(library_file(db), how))
    before = db.read_bytes()
    code, out, err = run(capsys, *argv)
    assert db.read_bytes() == before
    if argv[0] == "show" and how == "garbage pages" and code == 0:
        assert out.startswith("[a1]") and err == ""
        return
    assert (code, out) == (2, ""), err
    assert err.startswith("newsbot: ") and err.count("\n") == 1, err
    expected = "written by a newer newsbot" if how == "from the future" else "cannot use the database"
    assert expected in err


async def test_an_index_opened_on_damaged_pages_refuses_to_import(
    tmp_path: Path, open_library: OpenLibrary
) -> None:
    db = tmp_path / "newsbot.sqlite3"
    db.write_bytes(damaged(await a_library_file(db), "garbage pages"))
    before = db.read_bytes()
    with pytest.raises(DatabaseDamaged, match=r"cannot use the database .*: it is damaged"):
        await open_library()
    assert db.read_bytes() == before


@pytest.mark.parametrize("argv", [["list"], ["show", "a1"], ["delete", "a1"]], ids=["list", "show", "delete"])
def test_an_empty_file_reads_as_an_empty_library_and_stays_empty(
    argv: list[str], tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``list`` wrote a schema into an existing empty file."""
    db = tmp_path / "newsbot.sqlite3"
    db.touch()
    code, out, err = run(capsys, *argv)
    if argv == ["list"]:
        assert (code, err) == (0, "") and out.startswith("the library is empty; to add an article:")
    else:
        assert (code, err) == (2, "newsbot: no article with ref 'a1'\n")
    assert db.read_bytes() == b"" and side_files(db) == set()


def test_a_device_as_database_is_refused(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--db /dev/null`` left a ``/dev/null-journal``."""
    code, out, err = run(capsys, "--db", "/dev/null", "list")
    assert (code, out, err) == (2, "", "newsbot: /dev/null is a device, not a database file\n")
    assert not Path("/dev/null-journal").exists()


def test_a_pipe_as_database_is_refused(tmp_path: Path) -> None:
    """A FIFO blocked the opening, then failed with "Event loop is closed" twice."""
    os.mkfifo(tmp_path / "pipe.sqlite3")
    result = newsbot(tmp_path, "--db", str(tmp_path / "pipe.sqlite3"), "list")
    assert_refused(result, f"newsbot: {tmp_path / 'pipe.sqlite3'} is a pipe, not a database file")


def test_a_huge_list_limit_is_an_argument_error(
    tmp_path: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An OverflowError traceback from SQLite before."""
    library_file(tmp_path / "newsbot.sqlite3", articles=2)
    with pytest.raises(SystemExit) as exit:
        cli.main(["list", "--limit", "1" + "0" * 30])
    assert exit.value.code == 2
    assert "argument --limit: must be at most 9,223,372,036,854,775,807, got 1000" in capsys.readouterr().err
    assert run(capsys, "list", "--limit", str(2**63 - 1))[:2] == (0, run(capsys, "list", "--limit", "9")[1])


# -- input hygiene (item 6) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nul\u0000id", "U+0000 (a control character)"),
        ("two\nlines", "U+000A (a control character)"),
        ("tab\tid", "U+0009 (a control character)"),
        ("abc\u202edef", "U+202E (a bidi control)"),
        ("left\u200eto", "U+200E (a bidi control)"),
        ("zero\u200bwidth", "U+200B (an invisible format character)"),
        ("line\u2028separator", "U+2028 (a line separator)"),
    ],
)
def test_ids_no_one_could_type_or_see_are_refused(given: str, message: str) -> None:
    """An id "nul\\u0000id" was stored, and could never be shown or deleted."""
    with pytest.raises(ArticleRejected) as refused:
        parse_import_line(json.dumps({"id": given, "text": "Some text."}), 4)
    assert str(refused.value) == f'line 4: "id" cannot hold {message}'
    assert refused.value.reason == "bad_input"


def test_ids_are_nfc_and_keep_the_joiners_scripts_need() -> None:
    decomposed = parse_import_line(json.dumps({"id": "cafe\u0301", "text": "Some text."}), 1)
    assert decomposed is not None and decomposed.ref == "caf\u00e9"
    joined = parse_import_line(json.dumps({"id": "\u0915\u094d\u200d\u0937", "text": "Some text."}), 1)
    assert joined is not None and joined.ref == "\u0915\u094d\u200d\u0937"  # a Devanagari ZWJ


async def test_the_nfc_and_nfd_forms_of_an_id_are_one_article(library: Library, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "archive.jsonl",
        json.dumps({**SHORT[0], "id": "caf\u00e9-1"}),
        json.dumps({**SHORT[1], "id": "cafe\u0301-1"}),
    )
    summary = await library.import_jsonl(path)
    assert summary.stored == 1 and summary.problems == ("line 2: id café-1 is already used by line 1",)
    info, _ = await library.article("cafe\u0301-1")  # NFD, as a user may type it
    assert info.ref == "caf\u00e9-1"


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("title", {"x": 1}, 'line 1: "title" must be text, not {"x": 1}'),
        ("title", 1.5, 'line 1: "title" must be text, not 1.5'),
        ("title", True, 'line 1: "title" must be text, not true'),
        ("author", [["nested"]], 'line 1: "author" must be text, not [["nested"]]'),
        (
            "author",
            ["Ana", "B\ud800"],
            'line 1: "author" holds a lone surrogate (\\ud800), which is not text',
        ),
        ("published", {"year": 2024}, 'line 1: "published" must be text, not {"year": 2024}'),
        ("title", "  Two\nlines\u0000 ", "Two lines"),
        ("author", ["Ana ", "Budi"], "Ana, Budi"),
        ("published", 2024, "2024"),
    ],
)
def test_metadata_is_text_or_deliberately_made_text(field: str, value: object, stored: str) -> None:
    """A title became "{'x': 1}" or "nan"."""
    line = json.dumps({"id": "x", "text": "Some text.", field: value})
    if stored.startswith("line 1: "):
        with pytest.raises(ArticleRejected, match=f"^{re.escape(stored)}$"):
            parse_import_line(line, 1)
        return
    record = parse_import_line(line, 1)
    assert record is not None and getattr(record.meta, field) == stored


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,<b>hi</b>", "ftp://x.test/a", "https://"],
)
def test_only_web_links_are_stored_as_an_articles_link(url: str) -> None:
    cleaned = CleanedArticle("Harga beras naik. Pedagang mengeluh.", ArticleMeta(title="T", url=url))
    assert prepare_article(cleaned, DEFAULT_CONFIG).meta.url is None
    kept = CleanedArticle(cleaned.text, ArticleMeta(url="https://news.test/a"))
    assert prepare_article(kept, DEFAULT_CONFIG).meta.url == "https://news.test/a"


def test_an_articles_link_is_stored_in_one_form_whichever_way_it_came() -> None:
    """Preparing gives the link its canonical form, so no way in (a page, front matter, an
    archive, later a feed) can store a link that a duplicate check would not match."""
    given = "HTTPS://News.test:443/a?id=3&utm_source=feed#comments"
    cleaned = CleanedArticle("Harga beras naik. Pedagang mengeluh.", ArticleMeta(url=given))
    assert prepare_article(cleaned, DEFAULT_CONFIG).meta.url == "https://news.test/a?id=3"


async def test_an_imported_link_that_is_not_http_is_dropped(library: Library, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "archive.jsonl", json.dumps({**SHORT[0], "url": "javascript:alert(1)"}))
    assert (await library.import_jsonl(path)).stored == 1
    info, _ = await library.article(SHORT[0]["id"])
    assert info.url is None


async def test_an_imported_article_has_the_size_cap_of_an_upload(
    open_library: OpenLibrary, tmp_path: Path
) -> None:
    """A 1.8 MB line became 40,000 sentences and took 70 s."""
    library = await open_library(NEWSBOT_MAX_UPLOAD_BYTES=1_500)
    big = {"id": "big", "text": "Harga beras naik lagi minggu ini. " * 60}
    path = write_lines(tmp_path / "archive.jsonl", json.dumps(big), json.dumps(SHORT[0]))
    summary = await library.import_jsonl(path)
    assert summary.problems == ("line 1: the text is 2.0 kB; the limit is 1.5 kB",)
    assert summary.skipped == {"too_large": 1} and summary.stored == 1
