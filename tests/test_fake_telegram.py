"""Prove that tests/fake_telegram.py behaves like Telegram for python-telegram-bot 22.

These run a real ``telegram.Bot`` / ``telegram.ext.Application`` against the fake over real
HTTP, so a green run means PTB's encoding, error mapping and polling loop all work with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import html
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

try:  # tests/ is not a package today; keep working if someone adds __init__.py
    from fake_telegram import Chat, FakeTelegram, User, detect_entities, parse_html
except ImportError:  # pragma: no cover
    from tests.fake_telegram import Chat, FakeTelegram, User, detect_entities, parse_html

FAKE_MODULE = Path(__file__).with_name("fake_telegram.py")
POLL_TIMEOUT = dtm.timedelta(seconds=10)  # long on purpose: tests must never wait it out


@pytest.fixture(autouse=True)
def _local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours *_PROXY for 127.0.0.1 too; PTB_TIMEDELTA avoids a deprecation warning in RetryAfter.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest_asyncio.fixture(loop_scope="function")
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="function")
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def build_app(fake: FakeTelegram) -> Application:
    return (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )


@contextlib.asynccontextmanager
async def polling(app: Application, fake: FakeTelegram) -> AsyncIterator[Application]:
    """Drive the Application by hand inside the test's loop (run_polling would own the loop)."""
    await app.initialize()
    try:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=POLL_TIMEOUT)
        await fake.wait_for_poll()
        yield app
    finally:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()


# ----------------------------------------------------------------------------- polling with PTB


@pytest.mark.asyncio
async def test_echo_via_polling_arrives_without_waiting_out_the_poll(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(update.message.text)

    app = build_app(fake)
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    alice = fake.make_user("Alice", "alice")
    async with polling(app, fake):
        started = time.monotonic()
        fake.inject(fake.private_text(alice, "hello 👋"))
        [request] = await fake.wait_for("sendMessage", chat_id=alice.id, timeout=5)
        assert time.monotonic() - started < POLL_TIMEOUT.total_seconds() / 4
    assert request.status == 200 and request.params["text"] == "hello 👋"
    [message] = fake.messages_to(alice.id)
    assert message["from"]["username"] == "NewsTestBot" and message["chat"]["type"] == "private"


@pytest.mark.asyncio
async def test_group_command_entities_work_with_command_handler(fake: FakeTelegram) -> None:
    seen: list[list[str]] = []

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(list(context.args or []))
        await update.message.reply_html(f"<b>{html.escape(' '.join(context.args or []))}</b> &amp; more")

    app = build_app(fake)
    app.add_handler(CommandHandler("ask", ask))
    group, bob = fake.make_group("News fans"), fake.make_user("Bob", "bob_b")
    async with polling(app, fake):
        fake.inject(fake.group_text(group, bob, "/ask@NewsTestBot rates <today> @alice_x"))
        [request] = await fake.wait_for("sendMessage", chat_id=group.id, timeout=5)
    assert seen == [["rates", "<today>", "@alice_x"]]
    assert request.params["parse_mode"] == "HTML"
    [reply] = fake.messages_to(group.id)
    assert reply["text"] == "rates <today> @alice_x & more"
    assert reply["entities"] == [{"type": "bold", "offset": 0, "length": 22}]
    assert reply["reply_to_message"]["from"]["id"] == bob.id  # reply_html quotes the command


def test_incoming_entities_use_utf16_offsets() -> None:
    text = "👋 /help@NewsTestBot hi @someone, see https://example.com/a."
    assert detect_entities(text) == [
        {"type": "bot_command", "offset": 3, "length": 17},
        {"type": "mention", "offset": 24, "length": 8},
        {"type": "url", "offset": 38, "length": 21},
    ]
    assert detect_entities("/start") == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert detect_entities("mail a@b.cd or path/x") == []


@pytest.mark.asyncio
async def test_hand_built_users_and_replies_to_bot_messages(bot: Bot, fake: FakeTelegram) -> None:
    carol = User(555, "Carol", username="carol_c", language_code="de")
    chat = Chat(-100777, "supergroup", title="Markets")
    update = fake.group_text(chat, carol, "first")  # registers carol and the chat
    answer = await bot.send_message(
        chat.id, "noted", reply_parameters=ReplyParameters(update["message"]["message_id"])
    )
    assert answer.reply_to_message.text == "first"
    follow_up = Update.de_json(fake.group_text(chat, carol, "why?", reply_to_message=answer.message_id), bot)
    assert follow_up.message.reply_to_message.from_user.id == fake.bot_id
    assert follow_up.message.from_user.language_code == "de" and follow_up.effective_chat.title == "Markets"
    assert follow_up.update_id == update["update_id"] + 1
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(chat.id, "x", reply_parameters=ReplyParameters(123_456_789))
    assert await bot.send_message(
        chat.id, "x", reply_parameters=ReplyParameters(123_456_789, allow_sending_without_reply=True)
    )


# ----------------------------------------------------------------------------- message validation


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("AT&T", "Character '&' at byte offset 2"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
    ],
)
async def test_malformed_html_is_a_bad_request(bot: Bot, fake: FakeTelegram, text: str, error: str) -> None:
    user = fake.make_user()
    with pytest.raises(BadRequest) as info:
        await bot.send_message(user.id, text, parse_mode="HTML")
    assert info.value.message.startswith("Can't parse entities: ")
    assert error.lower() in info.value.message.lower()  # PTB lower-cases after the first letter
    assert fake.sent("sendMessage")[-1].status == 400


@pytest.mark.asyncio
async def test_length_is_counted_after_parsing_in_utf16(bot: Bot, fake: FakeTelegram) -> None:
    user = fake.make_user()
    for too_long in ("x" * 5000, "x" * 4097, "😀" * 2049, f"<b>{'y' * 4097}</b>"):
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(user.id, too_long, parse_mode="HTML")
    for fits in ("😀" * 2048, "&amp;" * 4096, f"<b>{'y' * 4096}</b>", f"  {'z' * 4096}\n"):
        assert await bot.send_message(user.id, fits, parse_mode="HTML")
    for empty in ("   ", "<b> </b>"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(user.id, empty, parse_mode="HTML")


@pytest.mark.asyncio
async def test_valid_html_yields_telegram_entities(bot: Bot, fake: FakeTelegram) -> None:
    user = fake.make_user()
    message = await bot.send_message(
        user.id,
        '<b>Hi</b> <a href="https://e.com/?a=1&amp;b=2">😀x</a> '
        '<pre><code class="language-python">x=1</code></pre> <tg-spoiler>s</tg-spoiler> '
        "<blockquote expandable>q</blockquote> &lt;tag&gt; &#x1F600;",
        parse_mode="HTML",
    )
    assert message.text == "Hi 😀x x=1 s q <tag> 😀"
    assert [e.to_dict() for e in message.entities] == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 3, "length": 3, "url": "https://e.com/?a=1&b=2"},
        {"type": "pre", "offset": 7, "length": 3, "language": "python"},
        {"type": "spoiler", "offset": 11, "length": 1},
        {"type": "expandable_blockquote", "offset": 13, "length": 1},
    ]
    assert message.from_user.id == fake.bot_id and message.chat.id == user.id
    assert parse_html("AT&T", strict_ampersand=False) == ("AT&T", [])  # what Telegram itself does


@pytest.mark.asyncio
async def test_edit_message_text_validates_like_send(bot: Bot, fake: FakeTelegram) -> None:
    user = fake.make_user()
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="more:1")]])
    sent = await bot.send_message(user.id, "draft", reply_markup=keyboard)
    assert sent.reply_markup == keyboard
    edited = await bot.edit_message_text("<i>final</i>", user.id, sent.message_id, parse_mode="HTML")
    assert edited.text == "final" and edited.edit_date is not None and edited.reply_markup is None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<i>final</i>", user.id, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.edit_message_text("<i>final", user.id, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user.id, 999_999)
    with pytest.raises(BadRequest, match="text buttons are unallowed"):
        await bot.send_message(user.id, "x", reply_markup={"inline_keyboard": [[{"text": "bare"}]]})
    assert [m["text"] for m in fake.messages_to(user.id)] == ["final"]


@pytest.mark.asyncio
async def test_unknown_chat_blocked_user_and_chat_action(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hello")
    user = fake.make_user()
    assert await bot.send_chat_action(user.id, "typing") is True
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(user.id, "dancing")
    fake.block(user)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "hello")


# ----------------------------------------------------------------------------- files, members, commands


@pytest.mark.asyncio
async def test_get_file_and_download_round_trip_bytes(bot: Bot, fake: FakeTelegram) -> None:
    payload = bytes(range(256)) * 100
    update = fake.document_message(
        fake.make_group(), fake.make_user(), payload, "digest.pdf", "application/pdf", "see /ask"
    )
    document = Update.de_json(update, bot).message.document
    assert document.file_name == "digest.pdf" and document.file_size == len(payload)
    file = await bot.get_file(document.file_id)
    assert file.file_path.startswith(f"{fake.base_file_url}{fake.token}/documents/")
    assert bytes(await file.download_as_bytearray()) == payload
    assert update["message"]["caption_entities"] == [{"type": "bot_command", "offset": 4, "length": 4}]
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


@pytest.mark.asyncio
async def test_chat_members_and_administrators(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.make_group()
    owner, admin, member, stranger = (fake.make_user(name) for name in ("Olga", "Ada", "Max", "Sam"))
    fake.group_text(group, member, "hi")  # posting in a group makes you a member
    fake.set_member(group, admin, "administrator")
    fake.set_member(group, owner, "creator")
    admins = await bot.get_chat_administrators(group.id)
    assert [type(m) for m in admins] == [ChatMemberOwner, ChatMemberAdministrator]
    assert isinstance(await bot.get_chat_member(group.id, member.id), ChatMemberMember)
    assert isinstance(await bot.get_chat_member(group.id, stranger.id), ChatMemberLeft)
    with pytest.raises(BadRequest, match="There are no administrators in the private chat"):
        await bot.get_chat_administrators(owner.id)


@pytest.mark.asyncio
async def test_commands_are_recorded_per_scope(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.make_group()
    commands = [BotCommand("ask", "Ask about the news"), BotCommand("help", "Show help")]
    assert await bot.set_my_commands(commands, scope=BotCommandScopeChat(group.id))
    assert fake.commands_for({"type": "chat", "chat_id": group.id}) == [c.to_dict() for c in commands]
    assert await bot.get_my_commands() == ()
    assert await bot.get_my_commands(scope=BotCommandScopeChat(group.id)) == tuple(commands)
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Ask", "upper case is invalid")])
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(group.id))
    assert fake.commands_for({"type": "chat", "chat_id": group.id}) is None


@pytest.mark.asyncio
async def test_inline_query_answer_is_recorded(bot: Bot, fake: FakeTelegram) -> None:
    query_id = fake.inline_query(fake.make_user(), "oil price")["inline_query"]["id"]
    result = InlineQueryResultArticle("r1", "Oil", InputTextMessageContent("<b>Oil</b>", parse_mode="HTML"))
    assert await bot.answer_inline_query(query_id, [result], cache_time=0)
    [answer] = fake.inline_answers[query_id]["results"]
    assert answer["id"] == "r1" and answer["input_message_content"]["message_text"] == "<b>Oil</b>"
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_inline_query(query_id, [result])


# ----------------------------------------------------------------------------- flood control, raw protocol


@pytest.mark.asyncio
async def test_forced_429_surfaces_as_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    user = fake.make_user()
    fake.force_429("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(user.id, "flood")
    assert info.value.retry_after == dtm.timedelta(seconds=3)
    assert (await bot.send_message(user.id, "after the pause")).text == "after the pause"
    assert [r.status for r in fake.sent("sendMessage", chat_id=user.id)] == [429, 200]


@pytest.mark.asyncio
async def test_error_shapes_and_parameter_encodings(fake: FakeTelegram) -> None:
    user = fake.make_user()
    markup = {"inline_keyboard": [[{"text": "open", "url": "https://example.com"}]]}
    async with aiohttp.ClientSession() as http:

        async def call(method: str, token: str = fake.token, **kwargs: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{fake.base_url}{token}/{method}", **kwargs) as response:
                return response.status, await response.json()

        assert await call("getMe", token="123456:WRONG") == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )
        assert await call("noSuchMethod") == (
            404,
            {"ok": False, "error_code": 404, "description": "Not Found"},
        )
        fake.force_429("getMe", retry_after=1)
        flood = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
        assert await call("getMe") == (429, flood | {"parameters": {"retry_after": 1}})
        multipart = aiohttp.FormData(
            {"chat_id": str(user.id), "text": "multi", "reply_markup": json.dumps(markup)}
        )
        multipart.add_field(
            "document", b"%PDF", filename="x.pdf", content_type="application/pdf"
        )  # forces multipart
        for body in (
            {"json": {"chat_id": user.id, "text": "json", "reply_markup": markup}},
            {"data": {"chat_id": str(user.id), "text": "form", "reply_markup": json.dumps(markup)}},
            {"data": multipart},
        ):
            status, answer = await call("sendMessage", **body)
            assert status == 200 and answer["result"]["reply_markup"] == markup
    assert [r.params["chat_id"] for r in fake.sent("sendMessage")] == [user.id] * 3
    assert fake.sent("sendMessage")[-1].params["document"].data == b"%PDF"


@pytest.mark.asyncio
async def test_wrong_token_is_invalid_token_for_ptb(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("123456:OTHER", base_url=fake.base_url):
            pass


@pytest.mark.asyncio
async def test_get_updates_offset_limit_and_long_poll(bot: Bot, fake: FakeTelegram) -> None:
    user = fake.make_user()
    first, second, third = (fake.inject(fake.private_text(user, f"m{i}"))["update_id"] for i in range(3))
    assert [u.update_id for u in await bot.get_updates(limit=2, timeout=0)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second, third]
    assert await bot.get_updates(offset=third + 1, timeout=0) == ()
    assert fake.pending_updates == []  # confirmed updates are forgotten
    poll = asyncio.create_task(bot.get_updates(offset=third + 1, timeout=10))
    await fake.wait_for_poll()
    started = time.monotonic()
    fake.inject(fake.private_text(user, "wake up"))
    [update] = await asyncio.wait_for(poll, 5)
    assert update.message.text == "wake up" and time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_a_second_poller_terminates_the_first_with_conflict(bot: Bot, fake: FakeTelegram) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for_poll()
    async with Bot(fake.token, base_url=fake.base_url) as second_instance:  # own connection pool
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 5)


# ----------------------------------------------------------------------------- webhook


@pytest.mark.asyncio
async def test_webhook_mode_switch(bot: Bot, fake: FakeTelegram) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        parked = asyncio.create_task(bot.get_updates(timeout=10))
        await fake.wait_for_poll()
        assert await bot.set_webhook(url, secret_token="s3cr3t")
        with pytest.raises(Conflict, match="setWebhook"):
            await asyncio.wait_for(parked, 5)
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates(timeout=0)
        assert (await bot.get_webhook_info()).url == url
        update = fake.private_text(fake.make_user(), "via webhook")
        assert await fake.deliver_webhook(update) == 200
        assert received == [(update, "s3cr3t")]
        with pytest.raises(BadRequest, match="an https url must be provided"):
            await bot.set_webhook("http://example.com/hook")
        assert await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == ()
    finally:
        await runner.cleanup()


# ----------------------------------------------------------------------------- standalone process


@pytest.mark.asyncio
async def test_standalone_mode_control_endpoints() -> None:
    token = "777:STANDALONE"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(FAKE_MODULE), "--port", "0", "--token", token, stdout=asyncio.subprocess.PIPE
    )
    try:
        base_url = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/bot")
        control = base_url.removesuffix("/bot") + "/_control"
        async with aiohttp.ClientSession() as http, Bot(token, base_url=base_url) as child_bot:
            user = {"id": 42, "first_name": "Bob", "username": "bob_b"}
            body = {"user": user, "text": "/start"}
            async with http.post(f"{control}/updates/private_text", json=body) as r:
                injected = (await r.json())["result"]
            assert injected["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
            [update] = await child_bot.get_updates(timeout=5)
            assert update.message.text == "/start" and child_bot.username == "NewsTestBot"
            await child_bot.send_message(42, "<b>pong</b>", parse_mode="HTML")
            query = {"method": "sendMessage", "chat_id": "42", "timeout": "5"}
            async with http.get(f"{control}/requests/wait", params=query) as r:
                [request] = (await r.json())["result"]
            assert request["params"]["text"] == "<b>pong</b>" and request["status"] == 200
            async with http.get(f"{control}/messages/42") as r:
                assert [m["text"] for m in (await r.json())["result"]] == ["pong"]
            async with http.post(f"{control}/webhook", json={"url": "http://127.0.0.1:9/hook"}) as r:
                assert r.status == 200
            with pytest.raises(Conflict):
                await child_bot.get_updates(timeout=0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
