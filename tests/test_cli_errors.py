"""The CLI's answers to user mistakes: one line on stderr and exit 2 (or, with ``ask --json``, an
error object on stdout), never a traceback.

Commands run in-process through ``cli.main``. Most mistakes are refused before the model loads;
the few tests that need an open library load it inside ``main`` (about a second each)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import ANSWER_KEYS, REPO, SEED, run_cli

import cli

NOT_LABELLED = 'newsbot: questions.jsonl, line 1: needs {"id", "question", "article_id"}'


pytestmark = pytest.mark.usefixtures("cli_env")  # each test in its own directory and database
run = run_cli


def assert_user_error(result: tuple[int, str, str], expected: str) -> None:
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert err.startswith("newsbot: ") and err.count("\n") == 1, err
    assert expected in err


# -- refused before the model loads -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["import", "nosuch.jsonl"], "newsbot: nosuch.jsonl: no such file"),
        (["ask", "--json", "--questions", "nosuch.jsonl"], "newsbot: nosuch.jsonl: no such file"),
        (["eval", "--questions", "nosuch.jsonl"], "newsbot: nosuch.jsonl: no such file"),
        (["import", "latin1.jsonl"], "newsbot: latin1.jsonl is not UTF-8 text"),
        (["import", "folder"], "newsbot: folder is a directory, not a file"),
        (["--db", "folder", "list"], "newsbot: folder is a directory, not a database file"),
        (["add", "ftp://example.com/x"], "only http(s) links can be added"),
        (["add", "folder"], "newsbot: folder is a directory, not a file"),
        (["add", "nosuch.txt"], "newsbot: nosuch.txt: no such file"),
        (["eval", "--questions", "questions.jsonl"], NOT_LABELLED),
        (["tune", "--questions", "questions.jsonl"], NOT_LABELLED),
        (["eval", "--questions", "blank.jsonl"], "newsbot: blank.jsonl holds no questions"),
        (["eval", "--questions", "twice.jsonl"], "newsbot: twice.jsonl, line 2: id 'q1' is also line 1"),
        (["eval", "--questions", "odd.jsonl"], 'newsbot: odd.jsonl, line 1: needs {"id", "question"'),
    ],
)
def test_file_and_argument_mistakes_are_one_line(
    argv: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSBOT_MODEL", str(tmp_path / "no-model-here"))  # never reached
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "1", "text": "caf\xe9 au lait"}\n')
    (tmp_path / "questions.jsonl").write_text('{"id": "q1", "question": "who?"}\n', encoding="utf-8")
    (tmp_path / "blank.jsonl").write_text("\n\n", encoding="utf-8")
    labelled = '{"id": "q1", "question": "who?", "article_id": "a1"}\n'
    (tmp_path / "twice.jsonl").write_text(labelled * 2, encoding="utf-8")
    (tmp_path / "odd.jsonl").write_text('{"id": true, "question": "who?", "article_id": ""}\n', "utf-8")
    assert_user_error(run(capsys, *argv), expected)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "NEWSBOT_ENCODER_BACKEND",
            "foo",
            "NEWSBOT_ENCODER_BACKEND='foo': Input should be 'openvino' or 'torch'",
        ),
        ("NEWSBOT_ADMIN_IDS", "abc", "NEWSBOT_ADMIN_IDS='abc': NEWSBOT_ADMIN_IDS must be comma-separated"),
        (
            "NEWSBOT_REFRESH_SECONDS",
            "-1",
            "NEWSBOT_REFRESH_SECONDS='-1': Input should be greater than or equal to 0",
        ),
        # limits of zero or less refused at start-up, by name (issue 14)
        ("NEWSBOT_MAX_UPLOAD_BYTES", "0", "NEWSBOT_MAX_UPLOAD_BYTES='0': Input should be greater than 0"),
        ("NEWSBOT_MAX_UPLOAD_BYTES", "-5", "NEWSBOT_MAX_UPLOAD_BYTES='-5': Input should be greater than 0"),
        ("NEWSBOT_MAX_QUESTION_CHARS", "0", "NEWSBOT_MAX_QUESTION_CHARS='0': Input should be greater than 0"),
        ("NEWSBOT_FETCH_TIMEOUT", "-1", "NEWSBOT_FETCH_TIMEOUT='-1': Input should be greater than 0"),
        (
            "NEWSBOT_ENCODER_THREADS",
            "0",
            "NEWSBOT_ENCODER_THREADS='0': Input should be greater than or equal to 1",
        ),
        ("NEWSBOT_WEBHOOK_PORT", "0", "NEWSBOT_WEBHOOK_PORT='0': Input should be greater than or equal to 1"),
    ],
)
def test_an_invalid_setting_is_one_line(
    name: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert_user_error(run(capsys, "list"), f"newsbot: invalid setting {expected}")


def test_db_is_accepted_before_and_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parse = cli._parser().parse_args
    assert parse(["--db", "a.sqlite3", "list"]).db == Path("a.sqlite3")
    assert parse(["add", "--db", "b.sqlite3", "article.txt"]).db == Path("b.sqlite3")
    assert parse(["--db", "a.sqlite3", "list", "--db", "b.sqlite3"]).db == Path("b.sqlite3")
    assert parse(["list"]).db is None  # NEWSBOT_DB then applies
    (tmp_path / "folder").mkdir()
    assert_user_error(run(capsys, "list", "--db", "folder"), "folder is a directory")


@pytest.mark.parametrize("limit", ["0", "-3", "many"])
def test_list_limit_below_one_is_refused(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        cli.main(["list", "--limit", limit])
    assert exit.value.code == 2
    assert "argument --limit" in capsys.readouterr().err


def test_list_show_and_delete_use_the_database_without_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Browsing and deleting load no model (seconds each time): with one that cannot load, they
    still work; listing a library that does not exist yet does not create it; and a deleted
    article is gone from the next answer (a saved index is reconciled the same way:
    ``tests/test_snapshot.py``)."""
    code, out, _ = run(capsys, "list")
    missing = f"the library is empty (no database at {tmp_path / 'newsbot.sqlite3'} yet); to add an article: "
    assert code == 0 and out.startswith(missing)
    assert not (tmp_path / "newsbot.sqlite3").exists()
    assert run(capsys, "add", str(SEED))[0] == 0
    monkeypatch.setenv("NEWSBOT_MODEL", str(tmp_path / "no-model-here"))
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.split()[0] == "a1"
    code, out, _ = run(capsys, "show", "A1")
    assert code == 0 and "TRIBUNNEWS.COM, BEIJING" in out
    code, out, _ = run(capsys, "delete", "a1")
    assert code == 0 and out.startswith("deleted a1: Kirim Surat ke Kim Jong Un")
    assert_user_error(run(capsys, "delete", "a1"), "newsbot: no article with ref 'a1'")
    monkeypatch.delenv("NEWSBOT_MODEL")
    code, out, _ = run(capsys, "ask", "--json", "what did Xi's letter say")
    answer = json.loads(out)
    assert code == 0 and answer["articles"] == [] and answer["answer"] == [], answer


# -- the database or the model cannot be opened --------------------------------------------------


def test_a_file_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("my notes\n", encoding="utf-8")
    result = run(capsys, "--db", "notes.txt", "list")
    assert_user_error(result, "newsbot: cannot use the database notes.txt: file is not a database")
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "my notes\n"


@pytest.mark.parametrize("model", ["folder", "nosuch-org/nosuch-model"])
def test_a_model_that_cannot_be_loaded(
    model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "folder").mkdir()  # a folder, but no model in it
    monkeypatch.setenv("NEWSBOT_MODEL", model)
    monkeypatch.setenv("NEWSBOT_MODEL_CACHE", str(tmp_path / "cache"))
    result = run(capsys, "ask", "who?")
    assert_user_error(result, f"newsbot: could not load the model {model} (NEWSBOT_MODEL): ")
    if "/" in model:
        assert "no such model in the local Hugging Face cache" in result[2]


# -- with an open library (the model loads inside main) ------------------------------------------


def test_bad_question_lines_get_error_objects_and_later_ones_are_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        '{"id": "q9", "q": "typo"}',
        "not json",
        "",
        "[1, 2]",
        json.dumps({"id": "long", "question": "word " * 300}),
        '{"id": "q2", "question": "who won the world cup"}',
    ]
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "ask", "--json", "--questions", "questions.jsonl")
    assert (code, err) == (0, "")
    answers = [json.loads(line) for line in out.splitlines()]
    assert all(set(a) == {"id", *ANSWER_KEYS} for a in answers)
    typo, not_json, not_object, too_long, last = answers
    assert typo == {
        "id": "q9",
        "question": None,
        "abstained": True,
        "reason": 'line 1: no "question" text',
        "missing": [],
        "tentative": False,
        "answer": [],
        "articles": [],
        "took_ms": 0,
    }
    assert not_json["id"] is None and not_json["reason"].startswith("line 2: not JSON")
    assert not_object["id"] is None and not_object["reason"].startswith("line 4:")
    assert too_long["id"] == "long" and "characters long" in too_long["reason"]
    assert last["id"] == "q2" and last["question"] == "who won the world cup"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "milvus"])
def test_eval_and_tune_on_a_small_file_of_ones_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Questions of one's own, one whose gold article is missing: the tables, the warning, what
    users see in the small libraries such a collection makes, and a rule that cannot be fitted
    (no question is without its answer) said to be unmeasured instead of a traceback; folds that
    would be empty are refused. The same in both backends."""
    if backend == "milvus":
        monkeypatch.setenv("NEWSBOT_INDEX", "milvus")
        monkeypatch.setenv("NEWSBOT_MILVUS_URI", str(tmp_path / "library.db"))
    code, added, _ = run(capsys, "add", str(SEED))
    assert code == 0
    ref = added.split()[1].rstrip(":")  # "a1" in SQLite; Milvus draws refs from the text
    questions = tmp_path / "mine.jsonl"
    lines = [
        {"id": "q1", "question": "what did Xi's letter say", "article_id": ref, "lang": "en"},
        {"id": "q2", "question": "kapan Xi bertemu Biden?", "article_id": ref, "lang": "id"},
        {"id": "q3", "question": "who won the world cup", "article_id": "nowhere", "lang": "en"},
    ]
    questions.write_text("".join(json.dumps(q) + "\n" for q in lines), encoding="utf-8")
    unmeasured = {
        "eval": ([], "### what users see (seed 0)"),
        "tune": (
            ["--folds", "2"],
            "Not measured, the rule is not refitted: fitting the abstention rule needs",
        ),
    }
    for command, (options, said) in unmeasured.items():
        code, out, err = run(capsys, command, "--questions", "mine.jsonl", *options)
        assert code == 0, err
        assert "warning: 1 of 3 questions' gold articles are not in the library" in err
        assert "| overall | 3 | 0.67 |" in out and said in out
    assert_user_error(
        run(capsys, "tune", "--questions", "mine.jsonl", "--folds", "4"),
        "newsbot: 4 folds need at least 4 questions (twins count once); there are 3",
    )


def test_list_says_how_many_more_there_are(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "add", str(SEED))[0] == 0
    set_stdin(
        monkeypatch,
        b"Harga BBM naik menjadi Rp 6.500 per liter mulai Sabtu. Pemerintah menyebut kenaikan itu"
        b" tidak bisa ditunda lagi. Antrean panjang terlihat di sejumlah SPBU di Jakarta.\n",
    )
    assert run(capsys, "add", "-")[0] == 0
    code, out, _ = run(capsys, "list", "--limit", "1")
    assert code == 0 and out.splitlines()[1] == "... 1 older (newsbot list --limit 2 shows all 2)"
    assert len(run(capsys, "list", "--limit", "2")[1].splitlines()) == 2


def test_an_over_long_question_with_json_is_a_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ask", "--json", "word " * 300)
    assert code == 2 and err == ""
    error = json.loads(out)
    assert set(error) == ANSWER_KEYS and error["abstained"] and not error["answer"]
    assert "characters long" in error["reason"]


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_with_json_is_a_json_object(
    question: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ask --json ""`` printed "give either a question or --questions FILE" on stderr."""
    code, out, err = run(capsys, "ask", "--json", question)
    assert code == 2 and err == ""
    error = json.loads(out)
    assert set(error) == ANSWER_KEYS and error["abstained"] and not error["answer"]
    assert error["reason"].startswith("ask a question")
    assert_user_error(run(capsys, "ask", question), "newsbot: ask a question")


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """A real process's stdin: text over bytes, undecodable bytes kept as surrogates."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), "utf-8", "surrogateescape"))


def test_stdin_that_is_not_utf8_is_refused_like_an_upload(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_stdin(monkeypatch, "Harga BBM naik menjadi Rp 6.500 per liter.\n".encode("cp1252") + b"caf\xe9\n")
    assert_user_error(run(capsys, "add", "-"), "newsbot: standard input is not UTF-8 text")


def test_stdin_and_files_over_the_upload_limit_are_refused_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked on the bytes alone: a model that cannot load is never reached, stdin is read only
    up to the limit, and no database is created."""
    monkeypatch.setenv("NEWSBOT_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("NEWSBOT_MODEL", str(tmp_path / "no-model-here"))
    stream = io.BytesIO(SEED.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream, "utf-8", "surrogateescape"))
    assert_user_error(run(capsys, "add", "-"), "newsbot: standard input is over the limit of 1.0 kB")
    assert stream.tell() == 1001
    big = tmp_path / "big.txt"
    big.write_bytes(SEED.read_bytes())
    size = f"{SEED.stat().st_size / 1000:.1f} kB"
    assert_user_error(run(capsys, "add", "big.txt"), f"newsbot: big.txt is {size}; the limit is 1.0 kB")
    assert not (tmp_path / "newsbot.sqlite3").exists()


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """``newsbot list | head -1``: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "cli", "list"],
            cwd=REPO,
            env={**env, "NEWSBOT_DB": str(tmp_path / "pipe.sqlite3")},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert (listed.returncode, listed.stderr) == (1, "")
