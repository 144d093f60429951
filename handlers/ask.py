"""Questions: private text, /ask in groups, replies to the bot, mentions, and inline queries."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import re

from telegram import Bot, InlineQueryResultArticle, InputTextMessageContent, Message, MessageEntity, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import CommandHandler, InlineQueryHandler, MessageHandler, filters

from handlers.common import (
    Context,
    NewsApp,
    earlier_question,
    remember_question,
    reply_pieces,
    reply_plain,
)
from handlers.format import Piece, answer_pieces, render, source_line
from handlers.messages import Lang, abstention, caveat, language, number, say, untitled
from retrieval.errors import BadQuestion

INLINE_RESULTS = 3
TYPING_AFTER_SECONDS = 0.8


async def _typing_after(context: Context, chat_id: int, delay: float) -> None:
    await asyncio.sleep(delay)
    with contextlib.suppress(TelegramError):  # a lost "typing…" is not worth an error reply
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)


async def answer_question(
    message: Message, context: Context, question: str, follow_up_of: str | None = None
) -> None:
    question = question.strip()
    lang = language(message.from_user)
    if not question:
        await reply_plain(message, say(lang, "ask_something"))
        return
    # Most answers take well under a second; a "typing…" action for each would spend half of
    # Telegram's 30 calls/s budget (measured: 15 answers/s with it), so only slow ones get it.
    typing = asyncio.create_task(_typing_after(context, message.chat_id, TYPING_AFTER_SECONDS))
    try:
        answer = await context.library.ask(question, context=follow_up_of, asked_in=message.chat.type)
    except BadQuestion as error:
        await reply_plain(message, _cannot_ask(lang, error))
        return
    finally:
        typing.cancel()
    sent = await reply_pieces(message, answer_pieces(answer, lang))
    # A follow-up of a follow-up is asked in the context of the first question, which names the
    # topic ("and what else did it say?" under "why does that matter?" under the trade question).
    remember_question(context, message.chat_id, [m.message_id for m in sent], follow_up_of or question)


def _cannot_ask(lang: Lang, error: BadQuestion) -> str:
    """Why a question cannot be asked, in ``lang`` (the core's message is English)."""
    if error.reason == "too_long":
        return say(lang, "too_long", length=number(lang, error.length), limit=number(lang, error.limit))
    if error.reason == "not_text":
        return say(lang, "cant_ask", reason=say(lang, "reason_not_text"))
    return say(lang, "ask_something")


async def on_private_text(update: Update, context: Context) -> None:
    message = update.effective_message  # also an edited question: it gets a fresh answer
    assert message is not None and message.text is not None
    if is_small_talk(message.text):
        return
    await answer_question(message, context, message.text, _follow_up_context(message, context))


async def on_ask(update: Update, context: Context) -> None:
    """/ask QUESTION (also /ask@BotName); a bare /ask replying to a message asks that message."""
    message = update.effective_message
    assert message is not None
    question = " ".join(context.args or [])
    if not question and message.reply_to_message and message.reply_to_message.text:
        question = message.reply_to_message.text
    await answer_question(message, context, question)


async def on_reply_to_bot(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    if is_small_talk(message.text):  # "thanks! 👍" under an answer is not a new question
        return
    await answer_question(message, context, message.text, _follow_up_context(message, context))


async def on_mention(update: Update, context: Context) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    username = context.bot.username
    mentions = message.parse_entities([MessageEntity.MENTION])
    if not any(text.lower() == f"@{username}".lower() for text in mentions.values()):
        return  # someone else was mentioned: ordinary chatter, not for us
    question = re.sub(rf"@{re.escape(username)}\b", " ", message.text, flags=re.IGNORECASE)
    await answer_question(message, context, question)


async def on_inline_query(update: Update, context: Context) -> None:
    query = update.inline_query
    assert query is not None
    question = query.query.strip()
    if len(question) < 3:
        await query.answer([], cache_time=5, is_personal=True)
        return
    lang = language(query.from_user)
    answer = await context.library.ask(question, asked_in="inline")
    if answer.abstained:
        reason = abstention(lang, answer)
        await query.answer(
            [
                InlineQueryResultArticle(
                    id="none",
                    title=say(lang, "inline_none_title"),
                    description=reason,
                    input_message_content=InputTextMessageContent(
                        html.escape(say(lang, "inline_none_text", question=question, reason=reason)),
                        parse_mode=ParseMode.HTML,
                    ),
                )
            ],
            cache_time=30,
            is_personal=True,  # in the asker's language
        )
        return
    results = []
    note = caveat(lang, answer)
    for citation in answer.citations[:INLINE_RESULTS]:
        pieces = [
            Piece(question, "<b>{}</b>"),
            Piece("\n"),
            *([Piece(note, "<i>{}</i>"), Piece("\n")] if note else []),
            Piece(f"“{citation.text}”", "<blockquote>{}</blockquote>"),
            *source_line(citation.article, lang),
        ]
        key = hashlib.sha1(f"{citation.article.ref}:{citation.sentence_index}".encode()).hexdigest()[:32]
        results.append(
            InlineQueryResultArticle(
                id=key,
                title=untitled(lang, citation.article.title),
                description=(f"{note} {citation.text}" if note else citation.text)[:200],
                input_message_content=InputTextMessageContent(render(pieces)[0], parse_mode=ParseMode.HTML),
            )
        )
    await query.answer(results, cache_time=30)


# What people write under an answer or to the bot that is not a question: thanks, agreement and
# laughter, in English and Indonesian (laughter also as runs: "hahaha", "wkwkwk").
SMALL_TALK = frozenset(
    "thanks thank you thx ty tq ok okay oke okey k yes yeah yep no nope nice great cool wow good "
    "awesome sure right got it noted makasih terima kasih trims tengkyu sip siap mantap baik ya iya "
    "nggak gak tidak oh ah".split()
)
_LAUGHTER = re.compile(r"(?:ha){2,}h?|(?:he){2,}h?|(?:hi){2,}h?|(?:wk){2,}w?|l+o+l+|lmao|rofl|xd")


def is_small_talk(text: str) -> bool:
    """Whether ``text`` holds no word but thanks, agreement or laughter (or no word and no figure
    at all: emoji, punctuation). Such a message gets no answer: answering "lol" under every
    answer would fill a family chat with quotes. "2022?" is a question."""
    folded = text.casefold()
    words = re.findall(r"[^\W\d_]+", folded)
    return not re.search(r"\d", folded) and all(w in SMALL_TALK or _LAUGHTER.fullmatch(w) for w in words)


def _follow_up_context(message: Message, context: Context) -> str | None:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return None
    return earlier_question(context, message.chat_id, replied.message_id)


class RepliesTo(filters.MessageFilter):
    """A message that replies to one of ``bot``'s messages. Built per Application; the bot's id is
    read when a message arrives, by then known from getMe (``initialize()``)."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(name="RepliesToBot")
        self.bot = bot

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return bool(replied and replied.from_user and replied.from_user.id == self.bot.id)


def register(app: NewsApp) -> None:
    # Questions, new or edited (an edited question gets a fresh answer); never channel posts.
    text = filters.UpdateType.MESSAGES & filters.TEXT & ~filters.COMMAND
    app.add_handler(CommandHandler("ask", on_ask, filters=filters.UpdateType.MESSAGES))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & text, on_private_text))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & text & RepliesTo(app.bot), on_reply_to_bot))
    app.add_handler(
        MessageHandler(filters.ChatType.GROUPS & text & filters.Entity(MessageEntity.MENTION), on_mention)
    )
    app.add_handler(InlineQueryHandler(on_inline_query))
