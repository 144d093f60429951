"""/start, /help (English or Indonesian), /sources and /article."""

from __future__ import annotations

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from handlers.common import Context, NewsApp, for_another_bot, reply_pieces, reply_plain
from handlers.format import Piece, source_line
from handlers.messages import count, language, say
from retrieval.dates import Period, period_of_text
from retrieval.errors import NotFound

PRIVATE_COMMANDS = [
    BotCommand("help", "how to ask"),
    BotCommand("sources", "recent articles"),
    BotCommand("article", "show one article: /article REF"),
    BotCommand("add", "admins: add an article"),
    BotCommand("stats", "admins: library statistics"),
    BotCommand("feeds", "admins: followed feeds (/follow URL)"),
]
GROUP_COMMANDS = [
    BotCommand("ask", "ask about the news: /ask your question"),
    BotCommand("sources", "recent articles"),
    BotCommand("article", "show one article: /article REF"),
    BotCommand("help", "how to ask"),
]
# The menus Telegram shows users whose app is in Indonesian.
PRIVATE_COMMANDS_ID = [
    BotCommand("help", "cara bertanya"),
    BotCommand("sources", "artikel terbaru"),
    BotCommand("article", "tampilkan satu artikel: /article REF"),
    BotCommand("add", "admin: tambah artikel"),
    BotCommand("stats", "admin: statistik perpustakaan"),
    BotCommand("feeds", "admin: feed yang diikuti (/follow URL)"),
]
GROUP_COMMANDS_ID = [
    BotCommand("ask", "tanya tentang berita: /ask pertanyaan Anda"),
    BotCommand("sources", "artikel terbaru"),
    BotCommand("article", "tampilkan satu artikel: /article REF"),
    BotCommand("help", "cara bertanya"),
]
ARTICLE_PREVIEW_CHARS = 1200


async def on_help(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    lang = language(update.effective_user)
    await reply_plain(update.effective_message, say(lang, "help", bot=context.bot.username))


async def on_unknown_command(update: Update, context: Context) -> None:
    """A command no handler took, in a private chat (in groups it may be another bot's)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = message.text.split()[0].split("@")[0]
    await reply_plain(message, say(language(update.effective_user), "unknown_command", command=command))


async def on_sources(update: Update, context: Context) -> None:
    """The newest articles by publication date; ``/sources 2019-09`` (a day, a month, a year,
    "yesterday", "minggu ini") those of that period."""
    message = update.effective_message
    assert message is not None
    lang = language(update.effective_user)
    typed = " ".join(context.args or [])
    period = period_of_text(typed) if typed else None
    if typed and (period is None or not period.has_window):
        await reply_plain(message, say(lang, "sources_usage"))
        return
    since, until = _window(period)
    articles = await context.library.recent(10, since=since, until=until)
    if not articles:
        empty = say(lang, "sources_no_date", period=typed) if typed else say(lang, "sources_empty")
        await reply_plain(message, empty)
        return
    header = say(lang, "sources_dated", period=typed) if typed else say(lang, "sources_header")
    pieces = [Piece(header + "\n", "<b>{}</b>")]
    for info in articles:
        pieces += [Piece("• "), *source_line(info, lang), Piece("\n")]
    await reply_pieces(message, pieces)


def _window(period: Period | None) -> tuple[str | None, str | None]:
    if period is None:
        return None, None
    return (
        period.start.isoformat() if period.start else None,
        period.end.isoformat() if period.end else None,
    )


async def on_article(update: Update, context: Context) -> None:
    """/article REF, or the tappable /article_REF under answers (words after it are ignored)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    if context.args is not None:
        ref = " ".join(context.args)
    else:
        tapped = message.text.split()[0]
        if for_another_bot(tapped, context):
            return
        ref = tapped.partition("@")[0][len("/article_") :]
    lang = language(update.effective_user)
    if not ref:
        await reply_plain(message, say(lang, "article_usage"))
        return
    try:
        info, text = await context.library.article(ref.strip())
    except NotFound:
        await reply_plain(message, say(lang, "no_article", ref=repr(ref.strip())))
        return
    preview = (
        text if len(text) <= ARTICLE_PREVIEW_CHARS else text[:ARTICLE_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
    )
    sentences = count(lang, info.sentence_count, "sentence")
    details = say(lang, "article_details", lang=info.lang, sentences=sentences)
    await reply_pieces(message, [*source_line(info, lang), Piece(f"\n{details}\n\n"), Piece(preview)])


async def set_commands(app: NewsApp) -> None:
    private, groups = BotCommandScopeAllPrivateChats(), BotCommandScopeAllGroupChats()
    await app.bot.set_my_commands(PRIVATE_COMMANDS, scope=private)
    await app.bot.set_my_commands(GROUP_COMMANDS, scope=groups)
    await app.bot.set_my_commands(PRIVATE_COMMANDS_ID, scope=private, language_code="id")
    await app.bot.set_my_commands(GROUP_COMMANDS_ID, scope=groups, language_code="id")


def register(app: NewsApp) -> None:
    new = filters.UpdateType.MESSAGE  # an edited /help needs no second reply; no channel posts
    app.add_handler(CommandHandler(["start", "help"], on_help, filters=new))
    app.add_handler(CommandHandler("sources", on_sources, filters=new))
    app.add_handler(CommandHandler("article", on_article, filters=new))
    app.add_handler(MessageHandler(new & filters.Regex(r"^/article_\w+(@\w+)?(\s|$)"), on_article))


def register_fallback(app: NewsApp) -> None:
    """After every other handler: unknown commands in private chats get a pointer to /help."""
    unknown = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.COMMAND
    app.add_handler(MessageHandler(unknown, on_unknown_command))
