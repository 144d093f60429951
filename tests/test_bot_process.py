"""`newsbot run` as a child process against the fake Telegram: polling and webhook, SIGTERM -> exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fake_telegram import FakeTelegram
from tests_support import REPO, SEED_TEXT, make_settings

from library import Library


@pytest_asyncio.fixture(loop_scope="function")
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def seeded_db(tmp_path: Path, encoder: Any) -> Path:
    settings = make_settings(tmp_path)
    library = await Library.open(settings, encoder=encoder)
    await library.add_text(SEED_TEXT)
    await library.close()
    return settings.db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_bot(tg: FakeTelegram, db: Path, **extra_env: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_BASE_URL": tg.base_url,
        "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
        "NEWSBOT_DB": str(db),
        "NO_PROXY": "127.0.0.1,localhost",
        **extra_env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "run",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_polling_bot_answers_and_stops_on_sigterm(tg: FakeTelegram, seeded_db: Path) -> None:
    process = await start_bot(tg, seeded_db)
    try:
        await tg.wait_for_poll(timeout=120)
        alice = tg.make_user("Alice", "alice")
        tg.inject(tg.private_text(alice, "what did Xi's letter say"))
        await tg.wait_for("sendMessage", alice.id, timeout=60)
        assert "surat" in tg.messages_to(alice.id)[-1]["text"]
    finally:
        code, err = await stop(process)
    assert code == 0, err
    assert tg.token not in err  # the token is never logged
    assert f"ready: library {seeded_db} (1 article)" in err  # which database file it serves
    assert "newsbot stopped" in err


async def test_webhook_bot_answers_and_stops_on_sigterm(tg: FakeTelegram, seeded_db: Path) -> None:
    port = free_port()
    process = await start_bot(
        tg,
        seeded_db,
        NEWSBOT_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
        NEWSBOT_WEBHOOK_LISTEN="127.0.0.1",
        NEWSBOT_WEBHOOK_PORT=str(port),
        NEWSBOT_WEBHOOK_SECRET="s3cret-token",
    )
    try:
        await tg.wait_for("setWebhook", timeout=120)
        assert tg.webhook is not None and tg.webhook["secret_token"] == "s3cret-token"
        bob = tg.make_user("Bob", "bob")
        status = 0
        for _ in range(100):  # the webhook server starts listening just after setWebhook
            try:
                status = await tg.deliver_webhook(tg.private_text(bob, "when did Xi meet Biden"))
                break
            except OSError:
                await asyncio.sleep(0.1)
        assert status == 200
        await tg.wait_for("sendMessage", bob.id, timeout=60)
        assert "G20 Bali" in tg.messages_to(bob.id)[-1]["text"]
    finally:
        code, err = await stop(process)
    assert code == 0, err
    assert tg.token not in err
