"""The README stays a user's page (issue 14): short enough to read, its links alive, its two
commands the ones CI runs; measurement history and experiment logs live in docs/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_is_a_users_page() -> None:
    text = README.read_text("utf-8")
    assert len(text.encode()) < 30_000, "move history and experiment logs to docs/"
    assert "make run" in text and "make test" in text


def test_every_relative_link_resolves() -> None:
    for page in [README, *sorted((REPO / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    assert "make test" in ci.splitlines()
