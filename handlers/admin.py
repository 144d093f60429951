"""Admin commands: /add (URL, pasted text, or a .txt/.md/.html document), /delete, /stats."""

from __future__ import annotations

import re

from telegram import Document, Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType
from telegram.ext import CommandHandler, MessageHandler, filters

from fetch import readable_size, too_large
from handlers.common import Context, NewsApp, for_another_bot, reply_plain, require_admin
from handlers.messages import Lang, count, language, say, untitled
from retrieval.cleaning import typed_title
from retrieval.errors import NotFound
from retrieval.types import ArticleInfo

# Pasted text is an article from this many words on; a link followed by fewer ("/add URL please")
# is the link. (Articles are refused under a few sentences anyway.)
LINK_NOTE_WORDS = 30
# Punctuation that ends the sentence a link was written in, not the link (as Telegram reads it).
URL_TRAILERS = ".,;:!?)]}'\"”’»"
# "example.com/news/x", "127.0.0.1:8080/page": a link without its scheme.
_BARE_LINK = re.compile(
    r"(?:[\w-]+\.)+[a-z]{2,}(?::\d+)?(?:/\S*)?|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/\S*)?", re.I
)


async def on_add(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "add")
    lang = language(update.effective_user)
    body = _command_body(message)
    words = body.split()
    replied = message.reply_to_message
    if not body and replied is not None and replied.document is not None:
        info = await _add_document(replied.document, context, message.chat_id)
    elif not body and replied is not None and replied.text:
        info = await _add_pasted(replied.text, context)
    elif not body:
        await reply_plain(message, say(lang, "add_usage"))
        return
    elif words[0].lower().startswith(("http://", "https://")) and len(words) < LINK_NOTE_WORDS:
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        info = await context.library.add_url(words[0].rstrip(URL_TRAILERS))  # "/add URL, please"
    elif len(words) == 1 and _BARE_LINK.fullmatch(words[0]):
        await reply_plain(message, say(lang, "bare_link", link=words[0]))
        return
    else:
        info = await _add_pasted(body, context)
    await reply_plain(message, _stored(info, lang))


async def _add_pasted(text: str, context: Context) -> ArticleInfo:
    """Pasted text; a first line that reads as a headline is its title (``typed_title``)."""
    title, body = typed_title(text)
    return await context.library.add_text(body, title=title)


async def on_document(update: Update, context: Context) -> None:
    """A document captioned /add (or /add@ThisBot) anywhere, or any document an admin sends in a
    private chat."""
    message = update.effective_message
    assert message is not None and message.document is not None
    command = ((message.caption or "").split(maxsplit=1)[:1] or [""])[0]
    if for_another_bot(command, context):
        return
    if command.partition("@")[0].lower() != "/add" and message.chat.type != ChatType.PRIVATE:
        return
    await require_admin(update, context, "add")
    info = await _add_document(message.document, context, message.chat_id)
    await reply_plain(message, _stored(info, language(update.effective_user)))


async def _add_document(document: Document, context: Context, chat_id: int) -> ArticleInfo:
    limit = context.settings.max_upload_bytes
    if document.file_size is not None and document.file_size > limit:
        raise too_large(document.file_name or "the file", document.file_size, limit)
    # Cleaning, splitting and embedding a long file takes seconds to minutes: show it is under way.
    await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
    file = await document.get_file()
    data = bytes(await file.download_as_bytearray())
    return await context.library.add_upload(data, document.file_name)


async def on_delete(update: Update, context: Context) -> None:
    """/delete REF [REF ...]: each ref on its own; one that is not found does not stop the rest."""
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "delete")
    lang = language(update.effective_user)
    if not context.args:
        await reply_plain(message, say(lang, "delete_usage"))
        return
    lines = []
    for ref in {ref.casefold(): ref for ref in context.args}.values():  # refs match in any case
        try:
            info = await context.library.delete(ref)
        except NotFound:
            lines.append(say(lang, "not_deleted", ref=repr(ref)))
        else:
            lines.append(say(lang, "deleted", ref=info.ref, title=untitled(lang, info.title)))
    await reply_plain(message, "\n".join(lines))


async def on_stats(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None
    await require_admin(update, context, "stats")
    lang = language(update.effective_user)
    stats = await context.library.stats()
    languages = ", ".join(f"{code} {n}" for code, n in stats.languages) or say(lang, "none")
    await reply_plain(
        message,
        say(
            lang,
            "stats",
            articles=count(lang, stats.articles, "article"),
            sentences=count(lang, stats.sentences, "sentence"),
            chunks=count(lang, stats.chunks, "chunk"),
            languages=languages,
            size=readable_size(stats.db_bytes),
        ),
    )


def _command_body(message: Message) -> str:
    """Everything after the command, newlines kept (``context.args`` would flatten pasted text)."""
    text = message.text or ""
    for entity, _ in message.parse_entities([MessageEntity.BOT_COMMAND]).items():
        if entity.offset == 0:
            return text[entity.length :].strip()
    return text.strip()


def _stored(info: ArticleInfo, lang: Lang) -> str:
    title, sentences = untitled(lang, info.title), count(lang, info.sentence_count, "sentence")
    return say(lang, "stored", ref=info.ref, title=title, lang=info.lang, sentences=sentences)


def register(app: NewsApp) -> None:
    # New messages only: an edited /add or /delete must not act twice; never channel posts.
    new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("add", on_add, filters=new))
    app.add_handler(CommandHandler("delete", on_delete, filters=new))
    app.add_handler(CommandHandler("stats", on_stats, filters=new))
    app.add_handler(MessageHandler(new & filters.Document.ALL, on_document))
