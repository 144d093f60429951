"""The real PTB Application with newsbot's handlers, the real core and model, against the fake
Telegram over real HTTP: private chats, groups, inline mode and admin commands."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from bot_runner import running_bot
from fake_telegram import Chat, FakeTelegram, User
from tests_support import SEED_TEXT, make_settings

from handlers.messages import say
from library import Library
from settings import configure_logging

ADMIN_ID = 42
ARTICLE_HTML = (Path(__file__).parent / "data" / "riverton-bridge-vote.html").read_bytes()


@dataclass
class Harness:
    tg: FakeTelegram
    library: Library
    admin: User
    news_site: str  # host:port of a local page the bot may fetch

    def sent_count(self, chat_id: int) -> int:
        return len([r for r in self.tg.sent("sendMessage", chat_id) if r.status == 200])

    async def reply(self, chat_id: int, update: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Inject ``update`` and return the bot's next message to ``chat_id`` (plain text + entities)."""
        count = len(self.tg.sent("sendMessage", chat_id)) + 1
        self.tg.inject(update)
        while (await self.tg.wait_for("sendMessage", chat_id, count=count, timeout=timeout))[
            -1
        ].status != 200:
            count += 1  # a rejected attempt (e.g. a forced 429): wait for the retry
        return self.tg.messages_to(chat_id)[-1]


@pytest_asyncio.fixture(loop_scope="function")
async def news_site() -> AsyncIterator[str]:
    """A local web server with one article page; its host is allow-listed for fetching."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=ARTICLE_HTML, content_type="text/html")

    app = web.Application()
    app.router.add_get("/news/footbridge", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="function")
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, encoder: Any, news_site: str
) -> AsyncIterator[Harness]:
    marker = request.node.get_closest_marker("bot_settings")
    chosen = dict(marker.kwargs) if marker else {}
    if chosen.get("NEWSBOT_MILVUS_URI") == "server":  # the test's own milvus-lite server
        chosen["NEWSBOT_MILVUS_URI"] = request.getfixturevalue("milvus_server").uri
    elif chosen.get("NEWSBOT_INDEX") == "milvus":
        chosen.setdefault("NEWSBOT_MILVUS_URI", str(tmp_path / "milvus.db"))
    async with FakeTelegram() as tg:
        defaults = {"NEWSBOT_ADMIN_IDS": str(ADMIN_ID), "NEWSBOT_REFRESH_SECONDS": 0.2}
        settings = make_settings(
            tmp_path,
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_BASE_URL=tg.base_url,
            TELEGRAM_BASE_FILE_URL=tg.base_file_url,
            NEWSBOT_ALLOW_PRIVATE_HOSTS=news_site,
            **(defaults | chosen),
        )
        library = await Library.open(settings, encoder=encoder)
        admin = tg.add_user(User(ADMIN_ID, "Ada", "ada_admin"))
        try:
            async with running_bot(settings, library):
                yield Harness(tg, library, admin, news_site)
        finally:
            await library.close()


@pytest_asyncio.fixture(loop_scope="function")
async def seeded(harness: Harness) -> Harness:
    await harness.library.add_text(SEED_TEXT)
    return harness


def quoted(message: dict[str, Any]) -> list[str]:
    """The texts inside the blockquote entities of a bot message."""
    text = message["text"]
    units = text.encode("utf-16-le")
    return [
        units[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.get("entities", [])
        if e["type"] == "blockquote"
    ]


async def test_private_question_is_answered_with_quoted_cited_sentences(seeded: Harness) -> None:
    alice = seeded.tg.make_user("Alice", "alice")
    reply = await seeded.reply(alice.id, seeded.tg.private_text(alice, "what did Xi's letter say"))
    quotes = " ".join(quoted(reply))
    assert "berisikan ajakan kerjasama" in quotes or "Melalui beberapa putaran pertemuan" in quotes
    assert "[1] Kirim Surat ke Kim Jong Un" in reply["text"]
    assert "Tribunnews" in reply["text"] and "/article_a1" in reply["text"]
    assert "Baca juga" not in reply["text"]


async def test_group_ask_with_bot_name_cites_the_letter(seeded: Harness) -> None:
    group = seeded.tg.make_group("Newsroom")
    bob = seeded.tg.make_user("Bob", "bob")
    reply = await seeded.reply(
        group.id, seeded.tg.group_text(group, bob, "/ask@NewsTestBot what did Xi's letter say")
    )
    assert "berisikan ajakan kerjasama" in " ".join(quoted(reply))
    assert reply["reply_to_message"]["from"]["id"] == bob.id


async def test_group_chatter_is_ignored_and_mentions_are_answered(seeded: Harness) -> None:
    group = seeded.tg.make_group("Family")
    carol = seeded.tg.make_user("Carol", "carol")
    seeded.tg.inject(seeded.tg.group_text(group, carol, "who is bringing dessert on Sunday?"))
    seeded.tg.inject(seeded.tg.group_text(group, carol, "@someone_else what did Xi's letter say"))
    reply = await seeded.reply(
        group.id, seeded.tg.group_text(group, carol, "@NewsTestBot when did Xi meet Biden")
    )
    assert "G20 Bali" in " ".join(quoted(reply))
    assert seeded.sent_count(group.id) == 1  # only the mention got an answer


async def test_reply_to_the_bot_is_a_follow_up(seeded: Harness) -> None:
    group = seeded.tg.make_group("Study group")
    dan = seeded.tg.make_user("Dan", "dan")
    first = await seeded.reply(
        group.id, seeded.tg.group_text(group, dan, "/ask what share of North Korea's trade is with China")
    )
    assert "90 persen" in " ".join(quoted(first))
    alone = await seeded.reply(group.id, seeded.tg.group_text(group, dan, "/ask why does that matter?"))
    assert "90 persen" not in alone["text"]  # on its own the question does not find the figure
    follow = await seeded.reply(
        group.id, seeded.tg.group_text(group, dan, "why does that matter?", reply_to_message=first)
    )
    assert "90 persen" in " ".join(quoted(follow))  # as a follow-up it inherits the earlier question


async def test_inline_query_offers_cited_sentences(seeded: Harness) -> None:
    erin = seeded.tg.make_user("Erin", "erin")
    update = seeded.tg.inject(seeded.tg.inline_query(erin, "when did Xi meet Biden"))
    await seeded.tg.wait_for("answerInlineQuery", timeout=60)
    answer = seeded.tg.inline_answers[update["inline_query"]["id"]]
    results = answer["results"]
    assert results and any("G20 Bali" in r["input_message_content"]["message_text"] for r in results)
    assert all(r["input_message_content"]["parse_mode"] == "HTML" for r in results)


async def test_admin_uploads_the_seed_and_a_group_asks(harness: Harness) -> None:
    group = harness.tg.make_group("Desk")
    data = SEED_TEXT.encode("utf-8")
    upload = harness.tg.document_message(
        group, harness.admin, data, "tribunnews-xi-letter-kim-jong-un.txt", "text/plain", caption="/add"
    )
    stored = await harness.reply(group.id, upload)
    assert (
        stored["text"].startswith("Stored a1: Kirim Surat ke Kim Jong Un")
        and "(id, 9 sentences)" in stored["text"]
    )
    member = harness.tg.make_user("Fay", "fay")
    reply = await harness.reply(
        group.id, harness.tg.group_text(group, member, "/ask@NewsTestBot what did Xi's letter say")
    )
    assert "berisikan ajakan kerjasama" in " ".join(quoted(reply))


async def test_non_admin_add_is_refused_and_changes_nothing(seeded: Harness) -> None:
    group = seeded.tg.make_group("Open group")
    gus = seeded.tg.make_user("Gus", "gus")
    reply = await seeded.reply(
        group.id,
        seeded.tg.group_text(group, gus, "/add Some pasted text. It has two sentences at least, honestly."),
    )
    assert reply["text"] == "Sorry, only admins can add articles."
    upload = seeded.tg.document_message(
        group, gus, b"Another article. With sentences.", "a.txt", "text/plain", caption="/add"
    )
    assert (await seeded.reply(group.id, upload))["text"] == "Sorry, only admins can add articles."
    assert (await seeded.library.stats()).articles == 1


BRIDGE_TEXT = (
    "The city council approved the new bridge on Tuesday. Construction starts in March and "
    "will cost 40 million euros. The mayor called it a historic day for Riverton."
)


async def test_a_group_owner_cannot_change_the_shared_library_by_default(seeded: Harness) -> None:
    """Anyone can create a group and own it, and the library is every chat's: only the ids in
    NEWSBOT_ADMIN_IDS manage it unless group admins are trusted. A refused user learns their
    id in private, for the bot's owner to add."""
    group = seeded.tg.make_group("Mallory's group")
    mallory = seeded.tg.make_user("Mallory", "mallory")
    seeded.tg.set_member(group, mallory, "creator")
    for command in (f"/add {BRIDGE_TEXT}", "/delete a1", "/stats"):
        reply = await seeded.reply(group.id, seeded.tg.group_text(group, mallory, command))
        assert reply["text"].startswith("Sorry, only admins can"), reply["text"]
    assert not seeded.tg.sent("getChatMember")  # not even asked: group roles do not count
    private = await seeded.reply(mallory.id, seeded.tg.private_text(mallory, f"/add {BRIDGE_TEXT}"))
    assert private["text"] == (
        f"Sorry, only admins can add articles (your user id is {mallory.id}, for NEWSBOT_ADMIN_IDS)."
    )
    assert [a.info.ref for a in seeded.library.index.articles] == ["a1"]


@pytest.mark.bot_settings(NEWSBOT_TRUST_GROUP_ADMINS="true")
async def test_trusted_group_administrators_may_add_also_anonymously(harness: Harness) -> None:
    group = harness.tg.make_group("Club")
    hal = harness.tg.make_user("Hal", "hal")
    harness.tg.set_member(group, hal, "administrator")
    reply = await harness.reply(group.id, harness.tg.group_text(group, hal, f"/add {BRIDGE_TEXT}"))
    assert reply["text"].startswith("Stored a1:") and "(en, 3 sentences)" in reply["text"]
    asked = await harness.reply(
        group.id, harness.tg.group_text(group, hal, "/ask how much will the bridge cost")
    )
    assert "40 million euros" in " ".join(quoted(asked))
    # An administrator posting anonymously: Telegram sends it from GroupAnonymousBot, as the group.
    anonymous = harness.tg.make_user("Group", "GroupAnonymousBot", is_bot=True)
    update = harness.tg.group_text(group, anonymous, "/add " + SEED_TEXT)
    update["message"]["sender_chat"] = group.to_dict()
    stored = await harness.reply(group.id, update)
    assert stored["text"].startswith("Stored a2: Kirim Surat ke Kim Jong Un")
    member = harness.tg.make_user("Ida", "ida")
    refused = await harness.reply(group.id, harness.tg.group_text(group, member, "/delete a2"))
    assert refused["text"] == "Sorry, only admins can delete articles."


async def test_bad_input_gets_clear_messages(seeded: Harness) -> None:
    admin_chat = Chat.private(seeded.admin)
    binary = seeded.tg.document_message(
        admin_chat, seeded.admin, b"\x89PNG\r\n\x1a\n\x00\x00binary", "photo.txt", "text/plain"
    )
    assert (await seeded.reply(admin_chat.id, binary))["text"].startswith("Not added:")
    empty = seeded.tg.document_message(admin_chat, seeded.admin, b"", "empty.txt", "text/plain")
    assert (await seeded.reply(admin_chat.id, empty))["text"].startswith("Not added:")
    duplicate = seeded.tg.document_message(
        admin_chat, seeded.admin, SEED_TEXT.encode(), "seed.txt", "text/plain"
    )
    assert "already in the library as a1" in (await seeded.reply(admin_chat.id, duplicate))["text"]
    private_url = await seeded.reply(
        admin_chat.id, seeded.tg.private_text(seeded.admin, "/add http://127.0.0.1:9/article")
    )
    assert private_url["text"].startswith("Not added:") and "private" in private_url["text"]
    long_question = await seeded.reply(admin_chat.id, seeded.tg.private_text(seeded.admin, "why " * 2500))
    assert "characters long" in long_question["text"]
    html_question = await seeded.reply(
        admin_chat.id, seeded.tg.private_text(seeded.admin, "<b>what</b> did Xi's letter say & why?")
    )
    assert "surat" in " ".join(quoted(html_question))
    assert (await seeded.library.stats()).articles == 1


async def test_absent_topic_abstains_plainly(seeded: Harness) -> None:
    ivy = seeded.tg.make_user("Ivy", "ivy")
    reply = await seeded.reply(ivy.id, seeded.tg.private_text(ivy, "who won the football world cup"))
    assert reply["text"].startswith("I can't answer that from the library")
    assert not quoted(reply)


async def test_help_sources_article_delete_and_stats(seeded: Harness) -> None:
    jo = seeded.tg.add_user(User(777, "Jo", "jo", language_code="id"))
    help_text = (await seeded.reply(jo.id, seeded.tg.private_text(jo, "/start")))["text"]
    assert help_text.startswith("Saya menjawab pertanyaan")
    sources = (await seeded.reply(jo.id, seeded.tg.private_text(jo, "/sources")))["text"]
    assert "Kirim Surat ke Kim Jong Un" in sources
    article = (await seeded.reply(jo.id, seeded.tg.private_text(jo, "/article_a1")))["text"]
    assert "TRIBUNNEWS.COM, BEIJING" in article
    admin = seeded.admin
    stats = (await seeded.reply(admin.id, seeded.tg.private_text(admin, "/stats")))["text"]
    assert stats.startswith("1 article, 9 sentences, ")
    lee = seeded.tg.add_user(User(778, "Lee", "lee"))  # English (tests/test_bot_language.py: Indonesian)
    refused = (await seeded.reply(lee.id, seeded.tg.private_text(lee, "/delete a1")))["text"]
    assert refused == "Sorry, only admins can delete articles (your user id is 778, for NEWSBOT_ADMIN_IDS)."
    deleted = (await seeded.reply(admin.id, seeded.tg.private_text(admin, "/delete a1")))["text"]
    assert deleted.startswith("Deleted a1")
    empty = (await seeded.reply(lee.id, seeded.tg.private_text(lee, "what did Xi's letter say")))["text"]
    assert "library has no articles yet" in empty


async def test_commands_menu_is_set_for_private_and_group_scopes(harness: Harness) -> None:
    private = harness.tg.commands_for({"type": "all_private_chats"})
    group = harness.tg.commands_for({"type": "all_group_chats"})
    assert private and {"help", "sources", "add"} <= {c["command"] for c in private}
    assert group and "ask" in {c["command"] for c in group}


async def test_flood_control_429_is_retried_not_lost(seeded: Harness) -> None:
    kim = seeded.tg.make_user("Kim", "kim")
    seeded.tg.force_429("sendMessage", retry_after=1, times=1)
    reply = await seeded.reply(kim.id, seeded.tg.private_text(kim, "when did Xi meet Biden"))
    assert "G20 Bali" in " ".join(quoted(reply))
    assert [r.status for r in seeded.tg.sent("sendMessage", kim.id)] == [429, 200]


async def test_unexpected_errors_are_logged_and_apologised_for(
    seeded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    lena = seeded.tg.make_user("Lena", "lena")
    await seeded.library.store.close()  # the database goes away under the bot's feet
    reply = await seeded.reply(lena.id, seeded.tg.private_text(lena, "/sources"))
    assert reply["text"] == say("en", "apology")
    assert any("unhandled error" in r.message for r in caplog.records)
    answered = await seeded.reply(lena.id, seeded.tg.private_text(lena, "when did Xi meet Biden"))
    assert "G20 Bali" in answered["text"]  # the bot keeps working for what does not need the store


@pytest.mark.slow  # waits out SQLite's 10 s busy timeout
async def test_an_unavailable_database_is_explained_without_its_path(
    seeded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    path = seeded.library.settings.db
    other_program = sqlite3.connect(path, isolation_level=None)
    other_program.execute("BEGIN EXCLUSIVE")  # another program holds the database's write lock
    try:
        reply = await seeded.reply(
            ADMIN_ID, seeded.tg.private_text(seeded.admin, f"/add {BRIDGE_TEXT}"), timeout=30
        )
    finally:
        other_program.execute("ROLLBACK")
        other_program.close()
    assert reply["text"] == say("en", "library_unavailable")
    assert str(path.parent) not in reply["text"]
    assert any(str(path) in r.getMessage() for r in caplog.records if r.name == "newsbot.bot")
    assert (await seeded.library.stats()).articles == 1  # nothing half-stored
    answered = await seeded.reply(ADMIN_ID, seeded.tg.private_text(seeded.admin, "when did Xi meet Biden"))
    assert "G20 Bali" in answered["text"]


async def test_admin_adds_a_url_and_a_replied_document(harness: Harness) -> None:
    admin_chat = Chat.private(harness.admin)
    url = f"http://{harness.news_site}/news/footbridge"
    stored = await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, f"/add {url}"))
    assert (
        stored["text"].startswith("Stored a1: Riverton council approves new footbridge")
        and "(en," in stored["text"]
    )
    again = await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, f"/add {url}"))
    assert "already in the library as a1" in again["text"]

    group = harness.tg.make_group("Desk")
    document = harness.tg.document_message(group, harness.admin, SEED_TEXT.encode(), "seed.txt", "text/plain")
    harness.tg.inject(document)  # no caption in a group: the bot ignores it ...
    reply_add = harness.tg.group_text(group, harness.admin, "/add", reply_to_message=document["message"])
    stored_doc = await harness.reply(group.id, reply_add)  # ... until an admin replies /add to it
    assert stored_doc["text"].startswith("Stored a2: Kirim Surat ke Kim Jong Un")
    assert harness.sent_count(group.id) == 1

    too_big = harness.tg.document_message(
        admin_chat, harness.admin, b"x. " * 1_000_000, "big.txt", "text/plain"
    )
    refused = await harness.reply(admin_chat.id, too_big)
    assert refused["text"].startswith("Not added: big.txt is 3.0 MB")
    assert (await harness.library.stats()).articles == 2


async def test_articles_imported_from_the_command_line_are_answered_without_a_restart(
    harness: Harness, encoder: Any
) -> None:
    """An admin's ``newsbot import`` runs in another process while the bot serves."""
    alice = harness.tg.make_user("Alice", "alice")
    before = await harness.reply(alice.id, harness.tg.private_text(alice, "apa isi surat Xi"))
    assert not quoted(before)  # the library is empty
    command_line = await Library.open(harness.library.settings, encoder=encoder)
    try:
        await command_line.add_text(SEED_TEXT)
    finally:
        await command_line.close()
    for _ in range(100):  # the bot looks every 0.2 s
        if len(harness.library.index):
            break
        await asyncio.sleep(0.1)
    reply = await harness.reply(alice.id, harness.tg.private_text(alice, "apa isi surat Xi"))
    assert "berisikan ajakan kerjasama" in " ".join(quoted(reply))


def edited(update: dict[str, Any]) -> dict[str, Any]:
    """The same message as an ``edited_message`` update (Telegram resends the whole message)."""
    message = update["message"] | {"edit_date": update["message"]["date"] + 5}
    return {"edited_message": message}


async def test_edits_get_fresh_answers_and_channel_posts_are_ignored(seeded: Harness) -> None:
    """An edited question is answered again (a typo fixed); an edited /add acts once; channel
    posts (the bot may be a channel admin) get nothing: no crash, no apology."""
    nia = seeded.tg.make_user("Nia", "nia")
    typo = seeded.tg.private_text(nia, "whn did Xi meet Biden")
    await seeded.reply(nia.id, typo)
    fixed = edited(typo)
    fixed["edited_message"]["text"] = "when did Xi meet Biden"
    answer = await seeded.reply(nia.id, fixed)
    assert "G20 Bali" in " ".join(quoted(answer))
    assert answer["reply_to_message"]["message_id"] == typo["message"]["message_id"]

    group = seeded.tg.make_group("Desk")
    add = seeded.tg.group_text(group, seeded.admin, f"/add {BRIDGE_TEXT}")
    assert (await seeded.reply(group.id, add))["text"].startswith("Stored a2:")
    seeded.tg.inject(edited(add))
    channel = seeded.tg.add_chat(Chat(-100_777, "channel", title="News channel"))
    post = seeded.tg.document_message(channel, seeded.admin, b"x", "a.txt", "text/plain", caption="/add")
    seeded.tg.inject({"channel_post": post["message"]})
    tapped = seeded.tg.group_text(channel, seeded.admin, "/article_a1")
    seeded.tg.inject({"channel_post": tapped["message"]})
    asked = await seeded.reply(
        group.id, seeded.tg.group_text(group, nia, "/ask how much will the bridge cost")
    )
    assert "40 million euros" in " ".join(quoted(asked))
    assert seeded.sent_count(group.id) == 2 and not seeded.tg.sent("sendMessage", channel.id)
    assert len(seeded.library.index.articles) == 2


@pytest.mark.slow
async def test_commands_for_other_bots_are_left_to_them(seeded: Harness) -> None:
    group = seeded.tg.make_group("Bots")
    upload = seeded.tg.document_message(
        group, seeded.admin, BRIDGE_TEXT.encode(), "bridge.txt", "text/plain", caption="/add@OtherBot"
    )
    seeded.tg.inject(upload)
    with pytest.raises(AssertionError, match="waited 5s"):  # updates run concurrently: wait it out
        await seeded.tg.wait_for("getFile", timeout=5)  # the file is never even fetched
    seeded.tg.inject(seeded.tg.group_text(group, seeded.admin, "/article_a1@OtherBot"))
    seeded.tg.inject(seeded.tg.group_text(group, seeded.admin, "/unknown"))  # maybe another bot's
    ours = await seeded.reply(group.id, seeded.tg.group_text(group, seeded.admin, "/article_a1@NewsTestBot"))
    assert "TRIBUNNEWS.COM, BEIJING" in ours["text"]
    assert seeded.sent_count(group.id) == 1 and len(seeded.library.index.articles) == 1


@pytest.mark.slow
async def test_small_talk_under_an_answer_is_not_a_question_and_follow_ups_chain(seeded: Harness) -> None:
    group = seeded.tg.make_group("Family")
    dan = seeded.tg.make_user("Dan", "dan")
    first = await seeded.reply(
        group.id, seeded.tg.group_text(group, dan, "/ask what share of North Korea's trade is with China")
    )
    for chatter in ("thanks! 👍", "lol", "wkwkwk", "makasih ya"):
        seeded.tg.inject(seeded.tg.group_text(group, dan, chatter, reply_to_message=first))
    with pytest.raises(AssertionError, match="waited 5s"):  # updates run concurrently: wait it out
        await seeded.tg.wait_for("sendMessage", group.id, count=2, timeout=5)
    follow = await seeded.reply(
        group.id, seeded.tg.group_text(group, dan, "why does that matter?", reply_to_message=first)
    )
    again = await seeded.reply(
        group.id, seeded.tg.group_text(group, dan, "and what else did it say?", reply_to_message=follow)
    )
    assert again["reply_to_message"]["text"] == "and what else did it say?"
    assert "90 persen" in " ".join(quoted(again))  # the first question still carries the topic


async def test_admin_conveniences_several_deletes_bare_links_and_unknown_commands(harness: Harness) -> None:
    chat = Chat.private(harness.admin)
    say = harness.tg.private_text
    bare = await harness.reply(chat.id, say(harness.admin, f"/add {harness.news_site}/news/footbridge"))
    assert bare["text"] == (
        f"To add a web page, send the whole link: /add https://{harness.news_site}/news/footbridge"
    )
    url = f"http://{harness.news_site}/news/footbridge"
    stored = await harness.reply(chat.id, say(harness.admin, f"/add {url}, please, for tomorrow"))
    assert stored["text"].startswith("Stored a1: Riverton council approves new footbridge")
    deleted = await harness.reply(chat.id, say(harness.admin, "/delete A1 a9 a1"))
    assert deleted["text"] == (
        "Deleted a1: Riverton council approves new footbridge after two-year debate.\n"
        "Not deleted: no article with ref 'a9'."
    )
    unknown = await harness.reply(chat.id, say(harness.admin, "/foo bar"))
    assert unknown["text"] == "I don't know /foo. /help says what I can do."
    await harness.library.add_text(SEED_TEXT)
    tapped = await harness.reply(chat.id, say(harness.admin, "/article_a2 please"))
    assert "TRIBUNNEWS.COM, BEIJING" in tapped["text"]


async def test_a_figure_alone_is_a_question_but_emoji_are_not(seeded: Harness) -> None:
    uma = seeded.tg.make_user("Uma", "uma")
    seeded.tg.inject(seeded.tg.private_text(uma, "👍🙏"))
    reply = await seeded.reply(uma.id, seeded.tg.private_text(uma, "2022?"))
    assert reply["reply_to_message"]["text"] == "2022?" and seeded.sent_count(uma.id) == 1


async def test_a_group_that_muted_the_bot_is_not_apologised_to(
    seeded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram's 400 "not enough rights" describes the chat, not a bug: a warning, no apology
    (which could not be sent either), while a 400 of ours would be logged as an error."""
    group = seeded.tg.make_group("Quiet club")
    vic = seeded.tg.make_user("Vic", "vic")
    seeded.tg.mute(group)
    seeded.tg.inject(seeded.tg.group_text(group, vic, "/ask when did Xi meet Biden"))
    await seeded.tg.wait_for("sendMessage", group.id, timeout=60)
    answered = await seeded.reply(vic.id, seeded.tg.private_text(vic, "when did Xi meet Biden"))
    assert "G20 Bali" in " ".join(quoted(answered))
    assert [r.status for r in seeded.tg.sent("sendMessage", group.id)] == [400]  # no apology tried
    assert any("because of the chat's state" in r.message for r in caplog.records)
    assert not any(r.levelname == "ERROR" for r in caplog.records)


async def test_a_question_deleted_before_the_answer_still_gets_it(seeded: Harness) -> None:
    """Telegram refuses a reply to a message that is gone unless told to send it anyway."""
    ola = seeded.tg.make_user("Ola", "ola")
    update = seeded.tg.private_text(ola, "when did Xi meet Biden")
    del seeded.tg.messages[(ola.id, update["message"]["message_id"])]  # deleted by its sender
    answer = await seeded.reply(ola.id, update)
    assert "G20 Bali" in " ".join(quoted(answer)) and "reply_to_message" not in answer


@pytest.fixture
def bot_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The log as ``run_bot`` sets it up (``configure_logging``) with NEWSBOT_LOG_LEVEL=DEBUG,
    every other library's records caught from DEBUG too; the loggers' levels restored after."""
    saved = {name: logging.getLogger(name).level for name in ("newsbot", "httpx")}
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def test_the_log_has_a_line_per_article_and_answer_and_never_the_token(
    harness: Harness, bot_log: pytest.LogCaptureFixture
) -> None:
    admin_chat = Chat.private(harness.admin)
    await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, f"/add {SEED_TEXT}"))
    group = harness.tg.make_group("Newsroom")
    bob = harness.tg.make_user("Bob", "bob")
    await harness.reply(group.id, harness.tg.group_text(group, bob, "/ask what did Xi's letter say"))
    ours = [r for r in bot_log.records if r.name.startswith("newsbot.") and r.levelno == logging.INFO]
    assert [r.getMessage().split(" ", 2)[:2] for r in ours if r.name != "newsbot.bot"] == [
        ["stored", "ref=a1"],
        ["answered", "in=supergroup"],
    ]
    # The fake Bot API's own access log (aiohttp, the server side) is not the bot's.
    leaked = [
        r for r in bot_log.records if harness.tg.token in r.getMessage() and not r.name.startswith("aiohttp")
    ]
    assert not leaked, [f"{r.name}: {r.getMessage()[:200]}" for r in leaked]


# -- the same bot on a Milvus library ----------------------------------------------------------


@pytest.mark.bot_settings(NEWSBOT_INDEX="milvus")
async def test_on_a_milvus_library_admins_add_and_delete_and_everyone_asks(harness: Harness) -> None:
    admin_chat = Chat.private(harness.admin)
    stored = await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, f"/add {SEED_TEXT}"))
    assert stored["text"].startswith("Stored ") and "Kirim Surat ke Kim Jong Un" in stored["text"]
    (info,) = await harness.library.recent(1)
    again = await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, f"/add {SEED_TEXT}"))
    assert f"already in the library as {info.ref}" in again["text"]

    alice = harness.tg.make_user("Alice", "alice")
    reply = await harness.reply(alice.id, harness.tg.private_text(alice, "apa isi surat Xi"))
    assert "berisikan ajakan kerjasama" in " ".join(quoted(reply))
    assert f"/article_{info.ref}" in reply["text"]
    article = await harness.reply(alice.id, harness.tg.private_text(alice, f"/article_{info.ref}"))
    assert "TRIBUNNEWS.COM, BEIJING" in article["text"]
    stats = await harness.reply(admin_chat.id, harness.tg.private_text(harness.admin, "/stats"))
    assert stats["text"].startswith("1 article, 9 sentences, ")

    deleted = await harness.reply(
        admin_chat.id, harness.tg.private_text(harness.admin, f"/delete {info.ref}")
    )
    assert deleted["text"].startswith(f"Deleted {info.ref}")
    empty = await harness.reply(alice.id, harness.tg.private_text(alice, "apa isi surat Xi"))
    assert "library has no articles yet" in empty["text"]


@pytest.mark.bot_settings(NEWSBOT_INDEX="milvus", NEWSBOT_MILVUS_URI="server")
async def test_when_milvus_goes_away_the_bot_says_the_library_is_unavailable_and_keeps_serving(
    seeded: Harness, milvus_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Milvus stops while the bot runs: a library in Milvus is answered from what Milvus finds,
    so a question, like adding and deleting, gets a plain "unavailable" (no address, no
    traceback), nothing changes, and the bot keeps serving what needs no library."""
    alice = seeded.tg.make_user("Alice", "alice")
    before = await seeded.reply(alice.id, seeded.tg.private_text(alice, "apa isi surat Xi"))
    assert "berisikan ajakan kerjasama" in " ".join(quoted(before))
    milvus_server.stop()
    admin_chat = Chat.private(seeded.admin)
    with caplog.at_level(logging.WARNING, logger="newsbot"):
        added = await seeded.reply(admin_chat.id, seeded.tg.private_text(seeded.admin, f"/add {BRIDGE_TEXT}"))
        assert added["text"] == say("en", "library_unavailable")
        deleted = await seeded.reply(admin_chat.id, seeded.tg.private_text(seeded.admin, "/delete a1"))
        assert deleted["text"] == added["text"]
        asked = await seeded.reply(alice.id, seeded.tg.private_text(alice, "apa isi surat Xi"))
        assert asked["text"] == added["text"]
    assert milvus_server.uri in caplog.text  # the operator reads where and why in the log
    unknown = await seeded.reply(alice.id, seeded.tg.private_text(alice, "/foo"))
    assert unknown["text"] == "I don't know /foo. /help says what I can do."
