"""What every handler needs: the typed context (library, settings), admin checks and safe replies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, JobQueue

from handlers.format import Piece, render
from handlers.messages import say
from retrieval.errors import NotAllowed

if TYPE_CHECKING:
    from library import Library
    from settings import Settings

# How many recent (chat, bot message) -> question pairs to remember for follow-up replies.
FOLLOW_UP_MEMORY = 5_000


class Context(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The ``context`` every handler gets: the shared objects as typed properties, as in PTB's
    ``examples/contexttypesbot.py``. They read ``bot_data``, which ``bot.py``'s ``post_init``
    fills (after ``initialize()``, where persistence would replace it)."""

    @property
    def library(self) -> Library:
        library: Library = self.bot_data["library"]
        return library

    @property
    def settings(self) -> Settings:
        settings: Settings = self.bot_data["settings"]
        return settings

    @property
    def questions(self) -> dict[tuple[int, int], str]:
        """(chat id, bot message id) -> the question it answered, for follow-up replies."""
        questions: dict[tuple[int, int], str] = self.bot_data.setdefault("questions", {})
        return questions


CONTEXT_TYPES = ContextTypes(context=Context)
# The Application ``bot.py`` builds: PTB's defaults except the context (and a rate-limited bot).
NewsApp: TypeAlias = Application[
    ExtBot[Any], Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], JobQueue[Any]
]


class AdminOnly(NotAllowed):
    """Someone not an admin asked for ``action`` (``add``, ``delete``, ``stats``: the catalogue's
    ``action_…``); ``user_id`` is set where only they read the refusal."""

    def __init__(self, action: str, user_id: int | None = None) -> None:
        shown = f" (your user id is {user_id}, for NEWSBOT_ADMIN_IDS)" if user_id is not None else ""
        super().__init__(f"only admins can {say('en', f'action_{action}')}{shown}")
        self.action = action
        self.user_id = user_id


async def require_admin(update: Update, context: Context, action: str) -> None:
    """Bot-wide admins from settings; with ``NEWSBOT_TRUST_GROUP_ADMINS``, in a group also its
    owner and administrators, including one posting anonymously as the group itself. Raises
    ``AdminOnly`` for anyone else."""
    user = update.effective_user
    chat = update.effective_chat
    message = update.effective_message
    config = context.settings
    if user is not None and user.id in config.admin_ids:
        return
    if config.trust_group_admins and chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return  # an anonymous administrator: Telegram sends it as the group
        if user is not None:
            member = await context.bot.get_chat_member(chat.id, user.id)
            if member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR):
                return
    if user is not None and chat is not None and chat.type == ChatType.PRIVATE:
        # Said where only they read it: what the bot's owner needs to make them an admin.
        raise AdminOnly(action, user.id)
    raise AdminOnly(action)


def for_another_bot(command: str, context: Context) -> bool:
    """Whether ``command`` ("/add@OtherBot", "/article_a1@otherbot") names a bot other than this
    one; a bare "/add" is for every bot in the chat, this one included."""
    _, _, addressee = command.partition("@")
    return bool(addressee) and addressee.lower() != (context.bot.username or "").lower()


async def reply_pieces(message: Message, pieces: list[Piece]) -> list[Message]:
    """Reply with HTML, split under Telegram's limit; later parts follow the first."""
    sent: list[Message] = []
    for part in render(pieces):
        sent.append(
            await message.reply_text(
                part,
                parse_mode=ParseMode.HTML,
                disable_web_page_preview=True,
                do_quote=not sent,
                allow_sending_without_reply=True,  # the question was deleted meanwhile: answer anyway
            )
        )
    return sent


async def reply_plain(message: Message, text: str) -> Message:
    return (await reply_pieces(message, [Piece(text)]))[0]


def remember_question(context: Context, chat_id: int, message_ids: list[int], question: str) -> None:
    memory = context.questions
    for message_id in message_ids:
        memory[(chat_id, message_id)] = question
    while len(memory) > FOLLOW_UP_MEMORY:
        memory.pop(next(iter(memory)))


def earlier_question(context: Context, chat_id: int, message_id: int) -> str | None:
    return context.questions.get((chat_id, message_id))
