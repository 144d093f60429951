"""The one error handler: domain errors become a clear reply, anything else is logged and apologised for."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from handlers.common import AdminOnly, Context, reply_plain
from handlers.messages import language, refused, rejection, say
from retrieval.errors import ArticleRejected, LibraryUnavailable, NewsbotError

log = logging.getLogger("newsbot.bot")

# Bot API refusals (lower case, as substrings) that describe the chat, not a mistake of ours.
CHAT_STATE_REFUSALS = (
    "not enough rights",
    "have no rights",
    "chat_write_forbidden",
    "chat not found",
    "topic_closed",
    "topic closed",
    "query is too old",
    "query id is invalid",
    "bot was kicked",
    "user is deactivated",
)


async def on_error(update: object, context: Context) -> None:
    error = context.error
    message = update.effective_message if isinstance(update, Update) else None
    lang = language(update.effective_user if isinstance(update, Update) else None)
    if isinstance(error, NewsbotError):
        if message is None:
            return
        if isinstance(error, AdminOnly):
            action = say(lang, f"action_{error.action}")
            key = "only_admins" if error.user_id is None else "only_admins_private"
            text = say(lang, key, action=action, user_id=error.user_id)
        elif isinstance(error, LibraryUnavailable):
            # The message names the database file or server: the operator's business, not the chat's.
            log.error("the library is unavailable: %s", error)
            text = say(lang, "library_unavailable")
        elif isinstance(error, ArticleRejected):
            text = rejection(lang, error, max_upload_bytes=context.settings.max_upload_bytes)
        else:
            text = refused(lang, error)
        await reply_plain(message, text)
        return
    # BadRequest is a NetworkError in PTB. Most say our request was wrong (entities that do not
    # parse, a message too long): a bug to log and apologise for. Some only say how the chat is
    # now (the bot may no longer write there, an inline query went stale): nothing to apologise
    # for, and an apology could not be sent either.
    if isinstance(error, BadRequest) and any(s in error.message.lower() for s in CHAT_STATE_REFUSALS):
        log.warning("Telegram refused because of the chat's state: %s", error)
        return
    if isinstance(error, (RetryAfter, TimedOut, NetworkError)) and not isinstance(error, BadRequest):
        log.warning("Telegram API trouble: %s", error)
        return
    log.error("unhandled error for update %s", getattr(update, "update_id", None), exc_info=error)
    if message is not None:
        try:
            await reply_plain(message, say(lang, "apology"))
        except Exception:  # the apology itself failed (e.g. chat gone): the log is all we can do
            log.exception("could not send the apology")
