"""Admin commands: /add (URL, pasted text, or a .txt/.md/.html document), /delete, /stats."""

from __future__ import annotations

from telegram import Document, Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from fetch import readable_size, too_large
from handlers.common import Context, library, reply_plain, require_admin, settings
from retrieval.types import ArticleInfo

ADD_USAGE = (
    "To add an article: /add followed by a URL or the pasted article text, or send a .txt, .md "
    "or .html file with the caption /add (or reply /add to such a file)."
)


async def on_add(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    await require_admin(update, context, "add articles")
    body = _command_body(message)
    replied = message.reply_to_message
    if not body and replied is not None and replied.document is not None:
        info = await _add_document(replied.document, context)
    elif not body and replied is not None and replied.text:
        info = await library(context).add_text(replied.text)
    elif not body:
        await reply_plain(message, ADD_USAGE)
        return
    elif body.split()[0].lower().startswith(("http://", "https://")) and len(body.split()) == 1:
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        info = await library(context).add_url(body.strip())
    else:
        info = await library(context).add_text(body)
    await reply_plain(message, _stored(info))


async def on_document(update: Update, context: Context) -> None:
    """A document captioned /add anywhere, or any document an admin sends in a private chat."""
    message = update.message
    assert message is not None and message.document is not None
    captioned = (message.caption or "").split(maxsplit=1)[:1]
    is_add = bool(captioned) and captioned[0].split("@")[0].lower() == "/add"
    if not is_add and message.chat.type != ChatType.PRIVATE:
        return
    await require_admin(update, context, "add articles")
    info = await _add_document(message.document, context)
    await reply_plain(message, _stored(info))


async def _add_document(document: Document, context: Context) -> ArticleInfo:
    limit = settings(context).max_upload_bytes
    if document.file_size is not None and document.file_size > limit:
        raise too_large(document.file_name or "the file", document.file_size, limit)
    file = await document.get_file()
    data = bytes(await file.download_as_bytearray())
    return await library(context).add_upload(data, document.file_name)


async def on_delete(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    await require_admin(update, context, "delete articles")
    if not context.args:
        await reply_plain(message, "Usage: /delete REF (the ref is shown under every answer and in /sources)")
        return
    info = await library(context).delete(context.args[0])
    await reply_plain(message, f"Deleted {info.ref}: {info.title or 'untitled article'}.")


async def on_stats(update: Update, context: Context) -> None:
    message = update.message
    assert message is not None
    await require_admin(update, context, "see library statistics")
    stats = await library(context).stats()
    languages = ", ".join(f"{lang} {n}" for lang, n in stats.languages) or "none"
    await reply_plain(
        message,
        f"{_count(stats.articles, 'article')}, {_count(stats.sentences, 'sentence')}, "
        f"{_count(stats.chunks, 'chunk')}; languages: {languages}; database {readable_size(stats.db_bytes)}.",
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _command_body(message: Message) -> str:
    """Everything after the command, newlines kept (``context.args`` would flatten pasted text)."""
    text = message.text or ""
    for entity, _ in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            return text[entity.length :].strip()
    return text.strip()


def _stored(info: ArticleInfo) -> str:
    return (
        f"Stored {info.ref}: {info.title or 'untitled article'} "
        f"({info.lang}, {info.sentence_count} sentences). Ask away!"
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("add", on_add))
    app.add_handler(CommandHandler("delete", on_delete))
    app.add_handler(CommandHandler("stats", on_stats))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
