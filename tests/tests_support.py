"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from settings import Settings

DATA = Path(__file__).parent / "data"
SEED = Path(__file__).resolve().parents[1] / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"
SEED_TEXT = SEED.read_text(encoding="utf-8")


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: a SQLite file under tmp_path, no .env, explicit overrides."""
    values: dict[str, object] = {"NEWSBOT_DB": tmp_path / "newsbot.sqlite3"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
