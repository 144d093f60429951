"""Telegram update handlers: thin (parse, call the library, format, reply), registered here."""

from __future__ import annotations

from handlers import admin, ask, feeds, info
from handlers.common import NewsApp
from handlers.errors import on_error


def register(app: NewsApp) -> None:
    # Order matters within a group: commands first, then the catch-alls for plain text.
    info.register(app)
    admin.register(app)
    feeds.register(app)
    ask.register(app)
    info.register_fallback(app)
    app.add_error_handler(on_error)
