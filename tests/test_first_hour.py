"""A newcomer's first hour (issue 14): set-up that says what it does, the console chat, titles for
pasted text, one wording for an untitled article."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests_support import REPO

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
