"""A newcomer's first hour (issue 14): set-up that says what it does, the console chat, titles for
pasted text, one wording for an untitled article."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import DATA, REPO, run_cli

import cli
from retrieval.cleaning import clean_text, typed_title

BRIDGE_TEXT = (
    "The city council approved the new bridge on Tuesday. Construction starts in March and "
    "will cost 40 million euros. The mayor called it a historic day for Riverton."
)

# -- make setup -----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_setup_says_what_each_slow_step_does_and_how_long_it_takes(tmp_path: Path) -> None:
    """Every install or conversion step is announced first, with its usual duration: none of the
    1.5 minutes is silent (was: up to 34 s of nothing at a time)."""
    dry_run = subprocess.run(
        ["make", "-n", "setup", f"VENV={tmp_path}/venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    slow = [i for i, line in enumerate(dry_run) if " install " in line or "load_encoder" in line]
    assert len(slow) == 4  # pip, torch, newsbot's packages, the model
    for i in slow:
        said = next(line for line in reversed(dry_run[:i]) if line.startswith("echo "))
        assert re.search(r"setup \d/4: .+ \(about \d+ s", said), said
    assert "torch" in dry_run[slow[1] - 1] and "model" in dry_run[slow[3] - 1]


# -- the command line -----------------------------------------------------------------------------


run = run_cli


def typed(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """What the user types (or pipes) into the console, then Ctrl-D."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


def test_ask_on_a_database_that_does_not_exist_creates_no_file(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ask", "what did Xi's letter say")
    assert (code, err) == (0, "")
    assert out.startswith("I can't answer that from the library: the library has no articles yet.\n")
    assert f"Nothing is stored in {cli_env} yet; to add an article: newsbot add FILE|URL" in out
    code, out, _ = run(capsys, "ask", "--json", "what did Xi's letter say")
    assert code == 0 and json.loads(out)["reason"] == "the library has no articles yet"
    assert not cli_env.exists() and list(cli_env.parent.iterdir()) == []


@pytest.mark.slow
def test_the_console_chat_names_its_database_and_knows_help_and_quit(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed(monkeypatch, "/help\nwhat happened\nexit\nnever asked\n")
    code, out, _ = run(capsys, "chat")
    assert code == 0
    assert out.startswith(f"Library: {cli_env} (0 articles).\nIt is empty; to add an article: newsbot add ")
    assert "/help shows this; quit, exit, an empty line or Ctrl-D ends the chat." in out  # /help
    assert out.count("I can't answer that") == 1  # "what happened"; neither /help nor exit
    assert "Nothing is stored in" in out and "never asked" not in out

    typed(monkeypatch, "QUIT\n")
    assert run(capsys, "chat")[1].endswith("? QUIT\n")
    typed(monkeypatch, "help\n")  # then Ctrl-D: the shell's prompt starts on a line of its own
    code, out, _ = run(capsys, "chat")
    assert code == 0 and "ends the chat" in out and out.endswith("\n? \n")


def test_make_run_without_a_token_says_which_database_it_uses(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed(monkeypatch, "quit\n")
    code, out, _ = run(capsys, "run")
    assert code == 0
    assert out.startswith("the library was empty: stored a1: Kirim Surat ke Kim Jong Un")
    assert f"Library: {cli_env} (1 article)." in out


@pytest.mark.slow
def test_add_takes_a_title_for_stdin_and_files_and_list_lines_are_not_indented(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed(monkeypatch, BRIDGE_TEXT)
    assert run(capsys, "add", "-", "--title", "  Riverton's  bridge ")[1] == (
        "stored a1: Riverton's bridge [en, 3 sentences]\n"
    )
    page = DATA / "riverton-bridge-vote.html"
    code, out, _ = run(capsys, "add", str(page), "--title", "My title for the page")
    assert code == 0 and out.startswith("stored a2: My title for the page [en,")
    typed(monkeypatch, BRIDGE_TEXT.replace("Tuesday", "Monday"))
    assert run(capsys, "add", "-")[1].startswith(f"stored a3: {cli.UNTITLED} [en,")
    lines = run(capsys, "list")[1].splitlines()
    # No 10-space indent; newest first by publication date: the page carries its own (older)
    # date, the two typed texts are dated by their adding.
    assert [line.split("  ")[0] for line in lines] == ["a3", "a1", "a2"]
    assert lines[0].endswith(f"  {cli.UNTITLED}") and lines[1].endswith("  Riverton's bridge")
    code, out, _ = run(capsys, "show", "a1")
    assert out.startswith("[a1] Riverton's bridge\n")


def test_a_title_is_not_taken_for_a_web_page(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "add", "https://example.com/news", "--title", "Mine")
    assert (code, out) == (2, "")
    assert err == "newsbot: --title is for a file or - (stdin): a web page's title is read from the page\n"


# -- titles of pasted text ------------------------------------------------------------------------

HEADLINE = "Flood warning issued for the capital after heavy rain"
BODY = (
    "Hujan deras mengguyur Jakarta sejak Senin pagi. Banyak jalan tergenang air setinggi lutut. "
    "Warga diminta waspada terhadap banjir susulan."
)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        # a headline typed above the body: in a file a long first line might be a wrapped one
        (f"{HEADLINE}\n{BODY}", HEADLINE),
        (f"Banjir besar melanda Jakarta\n\n{BODY}", "Banjir besar melanda Jakarta"),
        (f"Heavy rain in Jakarta today.\n{BODY}", None),  # a sentence, not a headline
        (f"Midland Bank Plc said its first-half profits\nrose by a third. {BODY}", None),  # goes on
        (f"# Banjir di Jakarta\n{BODY}", None),  # clean_text reads Markdown headings itself
        (f"---\ntitle: Banjir\n---\n{BODY}", None),  # and front matter
        (f"Jakarta floods\n{BODY}", None),  # two words: only alone above the body (clean_text)
        (BODY, None),
    ],
)
def test_a_typed_first_line_is_the_title_when_it_reads_as_a_headline(text: str, title: str | None) -> None:
    found, rest = typed_title(text)
    assert found == title
    assert rest == (text if title is None else text.partition("\n")[2])


def test_a_given_title_wins_and_no_line_is_taken_for_one() -> None:
    assert clean_text(f"Some headline here\n\n{BODY}", title="Mine").meta.title == "Mine"
    assert clean_text(f"Some headline here\n\n{BODY}", title="Mine").text.startswith("Some headline here")
    assert clean_text(f"Mine\n\n{BODY}", title=" Mine ").text.startswith("Hujan deras")  # not twice
    assert clean_text(f"---\ntitle: Banjir\n---\n{BODY}", title="Mine").meta.title == "Mine"
    assert clean_text(f"Some headline here\n\n{BODY}", title="  ").meta.title == "Some headline here"
