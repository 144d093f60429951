"""What every handler needs: the library, the settings, admin checks and safe replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.ext import ContextTypes

from handlers.format import Piece, render
from handlers.messages import say
from retrieval.errors import NotAllowed

if TYPE_CHECKING:
    from library import Library
    from settings import Settings

Context = ContextTypes.DEFAULT_TYPE

# How many recent (chat, bot message) -> question pairs to remember for follow-up replies.
FOLLOW_UP_MEMORY = 5_000


def library(context: Context) -> Library:
    return context.application.bot_data["library"]


def settings(context: Context) -> Settings:
    return context.application.bot_data["settings"]


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
    config = settings(context)
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
    memory: dict[tuple[int, int], str] = context.application.bot_data.setdefault("questions", {})
    for message_id in message_ids:
        memory[(chat_id, message_id)] = question
    while len(memory) > FOLLOW_UP_MEMORY:
        memory.pop(next(iter(memory)))


def earlier_question(context: Context, chat_id: int, message_id: int) -> str | None:
    memory: dict[tuple[int, int], str] = context.application.bot_data.get("questions", {})
    return memory.get((chat_id, message_id))
