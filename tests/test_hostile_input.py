"""Inputs that must not take newsbot down (issue 14): files that are not files, JSONL lines that
break the parser or the encoder, damaged databases, ids and fields that cannot be stored or shown.

Each refusal is one line on stderr and exit 2 (or, for one line of a batch, that line skipped and
named), and changes nothing. Commands that old code ran forever or until memory ran out run in a
child process with a memory cap and a generous time-out, so a regression fails instead of taking
the machine down."""

from __future__ import annotations

import codecs
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import DATA, REPO

import cli
from library import Library

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


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process ``cli.main`` in its own directory (no stray .env), with its own database."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("NEWSBOT_DB", str(tmp_path / "newsbot.sqlite3"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cli.main``: its stdout is strict UTF-8 under capsys, as a real process's is."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
    tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
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
    cli_env: None, capsys: pytest.CaptureFixture[str]
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
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_lines(tmp_path / "labelled.jsonl", '{"id": "q0", "question": "who?", "article_id": "a1"}', line)
    monkeypatch.setenv("NEWSBOT_MODEL", str(tmp_path / "no-model"))  # refused before the model loads
    code, out, err = run(capsys, command, "--questions", "labelled.jsonl")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith("newsbot: labelled.jsonl, line 2: ") and expected in err, err
