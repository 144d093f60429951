"""Admin commands for followed feeds (/follow, /unfollow, /feeds) and the JobQueue job that polls
them: every ``NEWSBOT_FEED_CHECK_SECONDS`` it takes in the items of the feeds that are due."""

from __future__ import annotations

import datetime as dtm
import logging

from telegram import Update
from telegram.constants import ChatAction
from telegram.ext import CommandHandler, filters

from feeds import Followed
from handlers.common import Context, NewsApp, reply_plain, require_admin
from handlers.messages import Lang, count, feed_refusal, language, say
from retrieval.errors import ArticleRejected
from retrieval.feeds import FeedInfo, FeedNotFound, FeedRejected

log = logging.getLogger("newsbot.bot")
POLL_JOB = "newsbot-feeds"


async def on_follow(update: Update, context: Context) -> None:
    """/follow URL [MINUTES]: read the feed once (a page or garbage gets a clear refusal), then follow."""
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "follow")
    lang = language(update.effective_user)
    args = context.args or []
    default = _minutes(context.settings.feed_interval_minutes)
    every = _number(args[1]) if len(args) == 2 else None
    if not args or len(args) > 2 or (len(args) == 2 and every is None):
        await reply_plain(message, say(lang, "follow_usage", minutes=default))
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    try:
        followed = await context.library.feeds.follow(args[0], every_minutes=every)
    except FeedRejected as error:
        links = error.feed_links
        await reply_plain(message, _refusal(lang, error.reason, str(error), links, context))
        return
    except ArticleRejected as error:  # the fetch: unreachable, private, too large, not a URL
        await reply_plain(message, _refusal(lang, error.reason, str(error), (), context))
        return
    await reply_plain(message, _followed(lang, followed, context))


async def on_unfollow(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "unfollow")
    lang = language(update.effective_user)
    if not context.args or len(context.args) != 1:
        await reply_plain(message, say(lang, "unfollow_usage"))
        return
    try:
        feed = await context.library.feeds.unfollow(context.args[0])
    except FeedNotFound:
        await reply_plain(message, say(lang, "no_feed", key=repr(context.args[0])))
        return
    articles = count(lang, feed.articles, "article")
    await reply_plain(
        message, say(lang, "unfollowed", ref=feed.ref, title=_title(lang, feed), articles=articles)
    )


async def on_feeds(update: Update, context: Context) -> None:
    """Each followed feed: how many articles it brought, how often, when it was last read, and
    its last error while it is failing."""
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "feeds")
    lang = language(update.effective_user)
    feeds = await context.library.feeds.all()
    if not feeds:
        await reply_plain(message, say(lang, "feeds_empty"))
        return
    default = context.settings.feed_interval_minutes
    lines = [say(lang, "feeds_header")]
    for feed in feeds:
        lines.append(_feed_line(lang, feed, default))
    await reply_plain(message, "\n".join(lines))


async def poll_feeds(context: Context) -> None:
    """The job: poll the feeds that are due (a pass still running from the last tick is left to finish)."""
    # Stops between two items once the bot is stopping: PTB waits for a running job at shutdown.
    for report in await context.library.feeds.poll_due(keep_going=lambda: context.application.running):
        if report.stored:
            log.info("feed %s brought %d new articles", report.feed.ref, len(report.stored))


def _followed(lang: Lang, followed: Followed, context: Context) -> str:
    feed = followed.feed
    if not followed.new:
        return say(lang, "already_followed", ref=feed.ref, title=_title(lang, feed))
    minutes = _minutes(feed.interval_minutes or context.settings.feed_interval_minutes)
    items = count(lang, followed.items, "item")
    return say(lang, "followed", ref=feed.ref, title=_title(lang, feed), items=items, minutes=minutes)


def _refusal(lang: Lang, reason: str, message: str, links: tuple[str, ...], context: Context) -> str:
    return feed_refusal(lang, reason, message, links, max_bytes=context.settings.max_upload_bytes)


def _feed_line(lang: Lang, feed: FeedInfo, default_minutes: float) -> str:
    line = "• " + say(
        lang,
        "feed_line",
        ref=feed.ref,
        title=_title(lang, feed),
        articles=count(lang, feed.articles, "article"),
        minutes=_minutes(feed.interval_minutes or default_minutes),
        success=feed.last_success_at or say(lang, "never"),
    )
    if feed.last_error:
        when = feed.last_error_at or "?"
        line += "\n  " + say(lang, "feed_error", when=when, failures=feed.failures, error=feed.last_error)
    return line


def _title(lang: Lang, feed: FeedInfo) -> str:
    return feed.title or say(lang, "feed_untitled")


def _minutes(value: float) -> str:
    return f"{value:g}"


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value and value != float("inf") else None  # not NaN, not infinite


def schedule_polls(app: NewsApp, every_seconds: float) -> None:
    """Poll due feeds every ``every_seconds`` (0: never), the first time a second after start."""
    if not every_seconds:
        return
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is a dependency"
    app.job_queue.run_repeating(
        poll_feeds,  # type: ignore[arg-type]
        interval=dtm.timedelta(seconds=every_seconds),
        first=dtm.timedelta(seconds=1),
        name=POLL_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


def register(app: NewsApp) -> None:
    new = filters.UpdateType.MESSAGE  # an edited /follow must not act twice; no channel posts
    app.add_handler(CommandHandler("follow", on_follow, filters=new))
    app.add_handler(CommandHandler("unfollow", on_unfollow, filters=new))
    app.add_handler(CommandHandler("feeds", on_feeds, filters=new))
