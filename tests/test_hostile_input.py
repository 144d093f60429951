"""Inputs that must not take newsbot down (issue 14): files that are not files, JSONL lines that
break the parser or the encoder, damaged databases, ids and fields that cannot be stored or shown.

Each refusal is one line on stderr and exit 2 (or, for one line of a batch, that line skipped and
named), and changes nothing. Commands that old code ran forever or until memory ran out run in a
child process with a memory cap and a generous time-out, so a regression fails instead of taking
the machine down."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import REPO

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
