"""Shared fixtures: the real bundled encoder (loaded once per run) and real SQLite libraries in tmp dirs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("PTB_TIMEDELTA", "1")

from tests_support import SEED, make_settings

from retrieval.encoder import Encoder, load_encoder
from settings import Settings

if TYPE_CHECKING:
    from library import Library


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return Settings(_env_file=None).model_cache  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def encoder(model_cache: Path) -> Encoder:
    return load_encoder("bundled", model_cache)


OpenLibrary = Callable[..., Awaitable["Library"]]


@pytest.fixture
async def open_library(tmp_path: Path, encoder: Encoder) -> AsyncIterator[OpenLibrary]:
    """Open (and later close) libraries on real SQLite files under tmp_path."""
    from library import Library

    opened: list[Library] = []

    async def _open(**overrides: object) -> Library:
        library = await Library.open(make_settings(tmp_path, **overrides), encoder=encoder)
        opened.append(library)
        return library

    yield _open
    for library in opened:
        await library.close()


@dataclass
class MilvusServer:
    """A milvus-lite server in its own process (``milvus-lite server``): a Milvus that several
    processes share, and that a test can take away (``stop``)."""

    uri: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[MilvusServer]:
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        str(Path(sys.executable).with_name("milvus-lite")),
        "server",
        "--data-dir",
        str(tmp_path / "served"),
    ]
    log = tmp_path / "milvus-server.log"
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], stderr=output)
    server = MilvusServer(f"http://127.0.0.1:{port}", process)
    try:
        for _ in range(600):  # listening within seconds
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text(errors="replace")
                time.sleep(0.05)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def library(open_library: OpenLibrary) -> Library:
    return await open_library()


@pytest.fixture
async def seeded_library(library: Library) -> Library:
    await library.add_text(SEED.read_text(encoding="utf-8"))
    return library


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """For in-process ``cli.main`` runs: a directory of its own (no stray .env), its own database
    (the path returned; not created), never the bot."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    db = tmp_path / "newsbot.sqlite3"
    monkeypatch.setenv("NEWSBOT_DB", str(db))
    return db
