"""Print a transcript of a real conversation with newsbot, run against the fake Bot API server.

Telegram cannot be reached from our machines, so this drives the real Application, the real
core and the bundled model through ``tests/fake_telegram.py`` over real HTTP, and prints what
each person typed and what the bot sent back (the text as Telegram would display it). The
README's transcript comes from here: ``python benchmarks/transcript.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

from bot_runner import running_bot  # noqa: E402
from fake_telegram import Chat, FakeTelegram, User  # noqa: E402

from library import Library  # noqa: E402
from settings import Settings  # noqa: E402

SEED = REPO / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"


async def main() -> None:
    async with FakeTelegram() as tg:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                TELEGRAM_BOT_TOKEN=tg.token,
                TELEGRAM_BASE_URL=tg.base_url,
                TELEGRAM_BASE_FILE_URL=tg.base_file_url,
                NEWSBOT_ADMIN_IDS=frozenset({42}),
                NEWSBOT_DB=Path(tmp) / "newsbot.sqlite3",
            )
            library = await Library.open(settings)
            try:
                async with running_bot(settings, library):
                    await converse(tg)
            finally:
                await library.close()


async def converse(tg: FakeTelegram) -> None:
    group = tg.make_group("Newsroom")
    ada = tg.add_user(User(42, "Ada", "ada_admin"))
    bob = tg.make_user("Bob", "bob")
    sari = tg.add_user(User(4242, "Sari", "sari", language_code="id"))
    tg.set_member(group, ada, "member")

    upload = tg.document_message(group, ada, SEED.read_bytes(), SEED.name, "text/plain", caption="/add")
    await turn(tg, group, "Ada (admin)", f"[uploads {SEED.name}, caption /add]", upload)
    await turn(
        tg,
        group,
        "Bob",
        "hi all, lunch at 1?",
        tg.group_text(group, bob, "hi all, lunch at 1?"),
        expect_reply=False,
    )
    first = await turn(
        tg,
        group,
        "Bob",
        "/ask@NewsTestBot what did Xi's letter say",
        tg.group_text(group, bob, "/ask@NewsTestBot what did Xi's letter say"),
    )
    await turn(
        tg,
        group,
        "Bob",
        "(replying to the bot) when did he meet Biden?",
        tg.group_text(group, bob, "when did he meet Biden?", reply_to_message=first),
    )
    await turn(
        tg,
        group,
        "Bob",
        "/ask what did Xi's letter say about Taiwan",
        tg.group_text(group, bob, "/ask what did Xi's letter say about Taiwan"),
    )
    await turn(
        tg,
        group,
        "Bob",
        "/add https://example.com/story",
        tg.group_text(group, bob, "/add https://example.com/story"),
    )
    private = Chat.private(sari)
    await turn(
        tg,
        private,
        "Sari (private)",
        "berapa persen perdagangan Korea Utara dengan China?",
        tg.private_text(sari, "berapa persen perdagangan Korea Utara dengan China?"),
    )
    await turn(
        tg,
        private,
        "Sari (private)",
        "siapa yang memenangkan Piala Dunia 2022?",
        tg.private_text(sari, "siapa yang memenangkan Piala Dunia 2022?"),
    )


async def turn(
    tg: FakeTelegram, chat: Chat, who: str, shown: str, update: dict[str, Any], *, expect_reply: bool = True
) -> dict[str, Any] | None:
    count = len(tg.sent("sendMessage", chat.id)) + 1
    tg.inject(update)
    print(f"{who}: {shown}")
    if not expect_reply:
        await asyncio.sleep(1.0)
        silent = len(tg.sent("sendMessage", chat.id)) < count
        print("  (the bot stays silent)\n" if silent else "  (unexpected reply!)\n")
        return None
    await tg.wait_for("sendMessage", chat.id, count=count, timeout=120)
    reply = tg.messages_to(chat.id)[-1]
    body = "\n".join(textwrap.indent(line, "  │ ") if line else "  │" for line in reply["text"].splitlines())
    print(f"newsbot:\n{body}\n")
    return reply


if __name__ == "__main__":
    asyncio.run(main())
