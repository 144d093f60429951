"""The feed commands and the JobQueue poll end to end: the real Application (its JobQueue
running), library and model, the fake Telegram, and a local news site with feeds on 127.0.0.1;
following, polling, listing and unfollowing also on a library in milvus-lite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
import test_bot
from fake_telegram import Chat, User
from feed_site import PASSAGES, FeedSite, Resource, rss
from test_bot import Harness, quoted

from index.milvus_feeds import feed_ids

harness = test_bot.harness  # test_bot.py's harness, on this module's news_site


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as served:
        yield served


@pytest.fixture
def news_site(site: FeedSite) -> str:
    """The host the harness allow-lists for fetching: here, the feed site."""
    return site.host


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Wait (politely) until ``await condition()`` holds: the job runs on its own schedule."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0.2)
async def test_an_admin_follows_a_feed_and_the_job_brings_its_articles(
    harness: Harness, site: FeedSite
) -> None:
    await follow_poll_list_unfollow(harness, site, lambda url: "f1")


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0.2, NEWSBOT_INDEX="milvus")
async def test_the_same_in_milvus_mode(harness: Harness, site: FeedSite) -> None:
    await follow_poll_list_unfollow(harness, site, lambda url: f"f{next(feed_ids(url))}")


async def follow_poll_list_unfollow(harness: Harness, site: FeedSite, ref_of: Callable[[str], str]) -> None:
    """/follow, the job's poll, an answer from the feed's articles, /feeds, /unfollow by ref."""
    chat = Chat.private(harness.admin)
    say = harness.tg.private_text
    url = site.put("/rss.xml", Resource(rss("Test Desk", site.put_articles("/news", 3)), etag='"v1"'))
    ref = ref_of(url)
    followed = await harness.reply(chat.id, say(harness.admin, f"/follow {url}"))
    assert followed["text"] == (
        f"Following {ref}: Test Desk (3 items now). Its new articles are added within a minute,"
        " then every 15 minutes."
    )

    async def all_stored() -> bool:
        return (await harness.library.stats()).articles == 3

    await until(all_stored)  # the JobQueue's poll, nobody asked for it
    alice = harness.tg.make_user("Alice", "alice")
    answer = await harness.reply(alice.id, say(alice, PASSAGES[1].split(". ")[0]))
    assert quoted(answer) and "Story 1" in answer["text"]  # the feed's title: the page has none

    listed = await harness.reply(chat.id, say(harness.admin, "/feeds"))
    assert listed["text"].startswith(
        f"Followed feeds\n• {ref} Test Desk: 3 articles, every 15 min; last read 20"
    )
    again = await harness.reply(chat.id, say(harness.admin, f"/follow {url}"))
    assert again["text"] == f"Already following that feed as {ref}: Test Desk."
    gone = await harness.reply(chat.id, say(harness.admin, f"/unfollow {ref}"))
    assert (
        gone["text"] == f"Stopped following {ref}: Test Desk. The 3 articles it brought stay in the library."
    )
    assert (await harness.reply(chat.id, say(harness.admin, "/feeds")))["text"] == (
        "No feeds are followed. Admins can /follow URL."
    )


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0)  # no job: nothing polls behind the test's back
async def test_feed_commands_are_for_admins_only(harness: Harness, site: FeedSite) -> None:
    url = site.put("/rss.xml", Resource(rss("Test Desk", site.put_articles("/news", 1))))
    group = harness.tg.make_group("Open group")
    gus = harness.tg.make_user("Gus", "gus")
    for command, action in (
        (f"/follow {url}", "follow feeds"),
        ("/unfollow f1", "unfollow feeds"),
        ("/feeds", "see the followed feeds"),
    ):
        reply = await harness.reply(group.id, harness.tg.group_text(group, gus, command))
        assert reply["text"] == f"Sorry, only admins can {action}."
    assert site.hits["/rss.xml"] == 0 and await harness.library.feeds.all() == []


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0)
async def test_a_page_that_is_not_a_feed_gets_a_clear_message_in_the_users_language(
    harness: Harness, site: FeedSite
) -> None:
    page = b"<!doctype html><html><head><link rel=alternate type=application/atom+xml href=/atom.xml></head>"
    url = site.put("/front", Resource(page, "text/html"))
    chat = Chat.private(harness.admin)
    say = harness.tg.private_text
    reply = await harness.reply(chat.id, say(harness.admin, f"/follow {url}"))
    assert reply["text"] == (
        f"Not followed: {url} is a web page, not an RSS or Atom feed;"
        f" it names a feed: {site.url('/atom.xml')}."
    )
    usage = await harness.reply(chat.id, say(harness.admin, "/follow"))
    assert usage["text"].startswith("Usage: /follow URL [MINUTES]")
    sari = harness.tg.add_user(User(test_bot.ADMIN_ID, "Sari", "sari", language_code="id"))
    reply = await harness.reply(chat.id, say(sari, f"/follow {url}"))
    assert (
        reply["text"]
        == f"Tidak diikuti: itu halaman web, bukan feed RSS atau Atom; feed-nya: {site.url('/atom.xml')}."
    )
    missing = await harness.reply(chat.id, say(sari, "/unfollow f7"))
    assert missing["text"] == "Tidak ada feed yang diikuti dengan 'f7'. /feeds menampilkannya."
    assert await harness.library.feeds.all() == []


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0)
async def test_feeds_shows_a_failing_feeds_last_error(harness: Harness, site: FeedSite) -> None:
    url = site.put("/rss.xml", Resource(rss("Test Desk", site.put_articles("/news", 1))))
    chat = Chat.private(harness.admin)
    say = harness.tg.private_text
    await harness.reply(chat.id, say(harness.admin, f"/follow {url} 60"))
    site.put("/rss.xml", Resource(b"<html><body>Maintenance</body></html>", "text/html", status=200))
    await harness.library.feeds.poll_due()  # what the job would do
    listed = await harness.reply(chat.id, say(harness.admin, "/feeds"))
    assert "• f1 Test Desk: 0 articles, every 60 min; last read never\n  last error 20" in listed["text"]
    assert "(1 in a row): " + url + " is a web page, not an RSS or Atom feed" in listed["text"]


@pytest.mark.bot_settings(NEWSBOT_FEED_CHECK_SECONDS=0)
async def test_the_private_menus_offer_feeds(harness: Harness) -> None:
    for language, description in (
        ("", "admins: followed feeds (/follow URL)"),
        ("id", "admin: feed yang diikuti (/follow URL)"),
    ):
        menu = harness.tg.commands_for({"type": "all_private_chats"}, language_code=language)
        assert menu and {c["command"]: c["description"] for c in menu}["feeds"] == description
