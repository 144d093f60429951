"""Wire the Telegram bot together: settings -> Application -> handlers, and its lifecycle.

``post_init`` opens the library (SQLite + encoder + index) after PTB's ``initialize()``, so
persistence could never overwrite what we put into ``bot_data``; ``post_shutdown`` closes it.
Polling by default; webhook mode when ``NEWSBOT_WEBHOOK_URL`` is set. SIGTERM and SIGINT stop
cleanly (PTB's default stop signals), and the process exits 0.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from telegram import Update
from telegram.ext import AIORateLimiter, ApplicationBuilder

import handlers
from handlers.common import CONTEXT_TYPES, NewsApp
from handlers.feeds import schedule_polls
from handlers.info import set_commands
from settings import Settings, configure_logging

if TYPE_CHECKING:
    from library import Library

log = logging.getLogger("newsbot.bot")


def build_application(settings: Settings, library: Library | None = None) -> NewsApp:
    """The configured Application; pass ``library`` to reuse an open one (tests, the load script).
    Handlers reach the library and settings as ``context.library`` and ``context.settings``."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")

    async def post_init(app: NewsApp) -> None:
        from library import Library  # the core (about 0.5 s to import), only when the bot starts

        opened = library if library is not None else await Library.open(settings)
        app.bot_data["settings"] = settings
        app.bot_data["library"] = opened
        if settings.refresh_seconds:  # articles an admin imports from the command line meanwhile
            opened.watch(settings.refresh_seconds)
        schedule_polls(app, settings.feed_check_seconds)  # followed feeds (handlers/feeds.py)
        await set_commands(app)
        n = (await opened.stats()).articles
        articles = f"{n} article{'' if n == 1 else 's'}"
        log.info("newsbot @%s ready: library %s (%s)", app.bot.username, opened.store.location, articles)

    async def post_shutdown(app: NewsApp) -> None:
        opened: Library | None = app.bot_data.get("library")
        if opened is None:
            return
        if library is None:  # ours: opened in post_init
            await opened.close()
        else:
            opened.stop_watching()

    app = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(16)
        .context_types(CONTEXT_TYPES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    handlers.register(app)
    return app


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    configure_logging(settings.log_level)
    app = build_application(settings)
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlparse(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    log.info("newsbot stopped")
    return 0
