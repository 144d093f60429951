"""/start, /help (English or Indonesian), /sources and /article."""

from __future__ import annotations

from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from handlers.common import Context, for_another_bot, library, reply_pieces, reply_plain
from handlers.format import Piece, source_line

HELP = {
    "en": (
        "I answer questions about the news articles in my library by quoting the sentences that "
        "say so, each with its source.\n\n"
        "• In a private chat, just write your question.\n"
        "• In a group: /ask your question, reply to one of my answers to follow up, or mention me.\n"
        "• Anywhere: type @{bot} and your question to share an answer.\n\n"
        "/sources lists recent articles, /article REF shows one.\n"
        "Admins: /add a URL, pasted text or a .txt/.md/.html file; /delete REF [REF ...]; /stats."
    ),
    "id": (
        "Saya menjawab pertanyaan tentang artikel berita di perpustakaan saya dengan mengutip "
        "kalimat yang menyatakannya, lengkap dengan sumbernya.\n\n"
        "• Di obrolan pribadi, tulis saja pertanyaan Anda.\n"
        "• Di grup: /ask pertanyaan Anda, balas jawaban saya untuk bertanya lanjut, atau sebut saya.\n"
        "• Di mana saja: ketik @{bot} lalu pertanyaan Anda untuk membagikan jawaban.\n\n"
        "/sources menampilkan artikel terbaru, /article REF menampilkan satu artikel.\n"
        "Admin: /add URL, teks, atau berkas .txt/.md/.html; /delete REF [REF ...]; /stats."
    ),
}

PRIVATE_COMMANDS = [
    BotCommand("help", "how to ask"),
    BotCommand("sources", "recent articles"),
    BotCommand("article", "show one article: /article REF"),
    BotCommand("add", "admins: add an article"),
    BotCommand("stats", "admins: library statistics"),
]
GROUP_COMMANDS = [
    BotCommand("ask", "ask about the news: /ask your question"),
    BotCommand("sources", "recent articles"),
    BotCommand("article", "show one article: /article REF"),
    BotCommand("help", "how to ask"),
]
ARTICLE_PREVIEW_CHARS = 1200


def _language(update: Update) -> str:
    code = (update.effective_user.language_code or "") if update.effective_user else ""
    return "id" if code.lower().startswith(("id", "ms")) else "en"


async def on_help(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    await reply_plain(update.effective_message, HELP[_language(update)].format(bot=context.bot.username))


async def on_unknown_command(update: Update, context: Context) -> None:
    """A command no handler took, in a private chat (in groups it may be another bot's)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = message.text.split()[0].split("@")[0]
    await reply_plain(message, f"I don't know {command}. /help says what I can do.")


async def on_sources(update: Update, context: Context) -> None:
    assert update.effective_message is not None
    articles = await library(context).recent(10)
    if not articles:
        await reply_plain(update.effective_message, "The library is empty. Admins can /add articles.")
        return
    pieces = [Piece("Recent articles\n", "<b>{}</b>")]
    for info in articles:
        pieces += [Piece("• "), *source_line(info), Piece("\n")]
    await reply_pieces(update.effective_message, pieces)


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
    if not ref:
        await reply_plain(message, "Usage: /article REF (refs are shown in /sources and under answers)")
        return
    info, text = await library(context).article(ref.strip())
    preview = (
        text if len(text) <= ARTICLE_PREVIEW_CHARS else text[:ARTICLE_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
    )
    await reply_pieces(
        message,
        [*source_line(info), Piece(f"\n{info.lang}, {info.sentence_count} sentences\n\n"), Piece(preview)],
    )


async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
    await app.bot.set_my_commands(PRIVATE_COMMANDS, scope=BotCommandScopeAllPrivateChats())
    await app.bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())


def register(app: Application) -> None:  # type: ignore[type-arg]
    new = filters.UpdateType.MESSAGE  # an edited /help needs no second reply; no channel posts
    app.add_handler(CommandHandler(["start", "help"], on_help, filters=new))
    app.add_handler(CommandHandler("sources", on_sources, filters=new))
    app.add_handler(CommandHandler("article", on_article, filters=new))
    app.add_handler(MessageHandler(new & filters.Regex(r"^/article_\w+(@\w+)?(\s|$)"), on_article))


def register_fallback(app: Application) -> None:  # type: ignore[type-arg]
    """After every other handler: unknown commands in private chats get a pointer to /help."""
    unknown = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & filters.COMMAND
    app.add_handler(MessageHandler(unknown, on_unknown_command))
