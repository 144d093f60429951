"""A fake Telegram Bot API server for tests (aiohttp.web on 127.0.0.1).

Telegram is unreachable from CI, and mocking ``telegram.Bot`` would skip what breaks in
production: PTB's HTTP encoding, Telegram's HTML entity parser and 4096-character limit,
flood control, polling/webhook conflicts.  This server speaks the Bot API over real HTTP, so
a real ``telegram.ext.Application`` runs against it unchanged::

    async with FakeTelegram() as tg:
        app = (ApplicationBuilder().token(tg.token)
               .base_url(tg.base_url).base_file_url(tg.base_file_url).build())

In-process tests call ``inject`` / ``wait_for`` / ``sent`` directly.  For a bot running as a
child process, ``python tests/fake_telegram.py --port 0 --token T`` prints its base URL as one
stdout line, serves until SIGTERM, and is driven through ``/_control/`` (see ``ControlApi``).

Deliberate simplifications: message ids are global, not per chat; Markdown(V2) text is stored
verbatim (only HTML is parsed); nested HTML entities come back nested rather than split the way
Telegram splits them.  With ``strict_html`` (default) a bare ``&`` is rejected although Telegram
keeps it literally: unescaped user text renders wrongly on Telegram as soon as it contains
``&lt;``, so tests should fail on it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import itertools
import json
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, web

Json = dict[str, Any]


def _words(text: str) -> list[str]:
    """Long name lists read better as one string than as a one-element-per-line literal."""
    return text.split()


DEFAULT_TOKEN = "123456:TEST-TOKEN"
MAX_MESSAGE_UTF16 = 4096
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files
API_METHODS = _words(
    "getMe getUpdates sendMessage editMessageText sendChatAction getChatMember getChatAdministrators "
    "getFile answerInlineQuery setMyCommands getMyCommands deleteMyCommands setWebhook deleteWebhook "
    "getWebhookInfo close logOut"
)


class ApiError(Exception):
    """An error answered in Telegram's shape: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, parameters: Json | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def payload(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        return body | {"parameters": self.parameters} if self.parameters else body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


# ----------------------------------------------------------------------------- entities


def utf16_len(text: str) -> int:
    """Telegram measures offsets, lengths and limits in UTF-16 code units (an emoji is 2)."""
    return len(text.encode("utf-16-le")) // 2


_DETECTORS = [
    ("bot_command", re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")),
    ("url", re.compile(r"(?<![\w/])https?://[^\s<>\"]*[^\s<>\".,;:!?)\]'}]")),
    ("mention", re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{3,32}(?!\w)")),
]


def detect_entities(text: str) -> list[Json]:
    """Entities Telegram attaches to incoming user text (bot_command, url, mention).

    The ``@Bot`` suffix of ``/cmd@Bot`` belongs to the command, not to a mention.
    """
    found: list[tuple[int, int, str]] = []
    for kind, regex in _DETECTORS:
        for m in regex.finditer(text):
            if not any(start <= m.start() < end for start, end, _ in found):
                found.append((m.start(), m.end(), kind))
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in sorted(found)
    ]


class EntityParseError(ValueError):
    """Carries the text Telegram puts after ``Bad Request: can't parse entities:``."""


_TAG_ENTITY = dict(
    pair.split("=")
    for pair in _words(
        "b=bold strong=bold i=italic em=italic u=underline ins=underline s=strikethrough "
        "strike=strikethrough del=strikethrough tg-spoiler=spoiler span=spoiler code=code pre=pre "
        "blockquote=blockquote a=text_link tg-emoji=custom_emoji"
    )
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_CHAR_REF = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([a-zA-Z]+));?")
_TAG_HEAD = re.compile(r"<(/?)([^\s>]*)")
_ATTRIBUTE = re.compile(r"""\s*(?:([^\s=>/"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9.-]*)))?)?\s*""")


def _char_ref(src: str, pos: int) -> tuple[str | None, int]:
    """Decode ``&lt;`` / ``&#65;`` / ``&#x1F600;`` at ``pos`` like tdlib (``;`` optional)."""
    m = _CHAR_REF.match(src, pos)
    if not m:
        return None, pos
    if m.group(3) is not None:
        char = _NAMED_ENTITIES.get(m.group(3))
    else:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        char = chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else None
    return (char, m.end()) if char is not None else (None, pos)


def _unescape(value: str) -> str:
    return _CHAR_REF.sub(lambda m: _char_ref(m.group(0), 0)[0] or m.group(0), value)


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    utf16_start: int
    text_index: int  # where the tag's content starts in the output pieces


def _parse_attributes(src: str, pos: int, tag: str, offset: int) -> tuple[dict[str, str], int]:
    """Parse ``name="value"`` pairs up to ``>``; returns (attrs, index after ``>``)."""
    attrs: dict[str, str] = {}
    while True:
        m = _ATTRIBUTE.match(src, pos)
        assert m is not None  # every part of the pattern is optional
        pos = m.end()
        if m.group(1) is None:
            if pos >= len(src):
                raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
            if src[pos] == ">":
                return attrs, pos + 1
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        quoted = m.group(2) if m.group(2) is not None else m.group(3)
        if quoted is None and m.group(4) is not None:
            after = m.end(4)  # tdlib: an unquoted value must end at whitespace or ">"
            if after < len(src) and not src[after].isspace() and src[after] != ">":
                raise EntityParseError(f"Unexpected end of name token at byte offset {offset}")
        attrs[m.group(1).lower()] = _unescape(quoted) if quoted is not None else (m.group(4) or "").lower()


def _close_tag(tag: _OpenTag, end: int, content: str, entities: list[Json]) -> None:
    """Turn a closed tag into a MessageEntity dict; empty entities vanish, as in Telegram."""
    if end == tag.utf16_start:
        return
    entity: Json = {"type": _TAG_ENTITY[tag.name], "offset": tag.utf16_start, "length": end - tag.utf16_start}
    if tag.name == "a":
        url = tag.attrs.get("href") or content
        if not url.strip():
            return
        entity["url"] = url if urlsplit(url).scheme else f"http://{url}"
    elif tag.name == "tg-emoji":
        if not tag.attrs.get("emoji-id", "").isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "code" and tag.attrs.get("class", "").startswith("language-"):
        entity["language"] = tag.attrs["class"].removeprefix("language-")  # kept only inside <pre>
    elif tag.name == "pre" and entities and entities[-1]["type"] == "code":
        inner = entities[-1]
        if (inner["offset"], inner["length"]) == (entity["offset"], entity["length"]):
            # <pre><code class="language-x">...</code></pre> is ONE pre entity with a language
            entities.pop()
            if "language" in inner:
                entity["language"] = inner["language"]
    entities.append(entity)


def parse_html(src: str, *, strict_ampersand: bool = True) -> tuple[str, list[Json]]:
    """Bot API HTML -> (plain text, entities), following tdlib's ``parse_html`` and its errors.

    Error texts match Telegram's, so a failing test says what production would have said.
    """
    pieces: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[Json] = []

    def emit(text: str) -> None:
        nonlocal utf16
        pieces.append(text)
        utf16 += utf16_len(text)

    pos = 0
    while (special := re.compile(r"[<&]").search(src, pos)) is not None:
        emit(src[pos : special.start()])
        pos = special.start()
        offset = len(src[:pos].encode())  # Telegram reports byte offsets into the UTF-8 text
        if src[pos] == "&":
            char, end = _char_ref(src, pos)
            if char is None and strict_ampersand:
                raise EntityParseError(
                    f"Character '&' at byte offset {offset} does not start an HTML entity; use &amp;"
                )
            emit(char or "&")
            pos = end if char is not None else pos + 1
            continue
        head = _TAG_HEAD.match(src, pos)
        assert head is not None
        closing, name, pos = head.group(1) == "/", head.group(2).lower(), head.end()
        if closing:
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
            tail = re.compile(r"\s*>").match(src, pos)
            if tail is None:
                raise EntityParseError(f"Unclosed end tag at byte offset {offset}")
            tag = stack.pop()
            if name and name != tag.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", found "</{name}>"'
                )
            _close_tag(tag, utf16, "".join(pieces[tag.text_index :]), entities)
            pos = tail.end()
            continue
        if pos >= len(src):
            raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
        if name not in _TAG_ENTITY:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs, pos = _parse_attributes(src, pos, name, offset)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        stack.append(_OpenTag(name, attrs, utf16, len(pieces)))
    emit(src[pos:])
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:  # a <code class="language-x"> outside <pre> has no language
        if entity["type"] == "code":
            entity.pop("language", None)
    return "".join(pieces), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def strip_with_entities(text: str, entities: list[Json]) -> tuple[str, list[Json]]:
    """Telegram trims whitespace around message text; entities are shifted and clipped to match."""
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    stripped = text.strip()
    total = utf16_len(stripped)
    result = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            result.append(entity | {"offset": start, "length": end - start})
    return stripped, result


# ----------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class User:
    """A Telegram user as it appears in updates (``from``)."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False

    def to_dict(self) -> Json:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Chat:
    """A chat; ``type`` is private, group, supergroup or channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @classmethod
    def private(cls, user: User) -> Chat:
        return cls(user.id, "private", None, user.username, user.first_name, user.last_name)

    def to_dict(self) -> Json:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part, kept as bytes so tests can assert on uploads."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class SentRequest:
    """One Bot API call as received: ``at`` is ``time.monotonic()``, ``status`` the HTTP code."""

    method: str
    params: Json
    at: float
    status: int = 200


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str


class Signal:
    """Broadcast wake-up that sync code (``inject``) can fire.

    ``asyncio.Condition.notify`` needs the lock held, which a sync ``inject()`` cannot take;
    replacing a fresh ``Event`` on every fire gives the same wait/notify semantics lock-free.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True


# ----------------------------------------------------------------------------- request parsing

_JSON_PARAMS = set(
    _words(
        "reply_markup reply_parameters entities caption_entities results commands scope allowed_updates "
        "link_preview_options button media permissions rights"
    )
)
_INT_PARAMS = set(
    _words("offset limit message_id user_id max_connections cache_time message_thread_id reply_to_message_id")
)
_BOOL_PARAMS = set(
    _words(
        "drop_pending_updates disable_notification protect_content is_personal allow_sending_without_reply "
        "disable_web_page_preview allow_paid_broadcast"
    )
)


def chat_key(value: Any) -> int | str:
    """Normalise a chat_id (``42``, ``"42"`` or ``"@name"``) for comparisons."""
    return int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else value


def decode_params(raw: Json) -> Json:
    """Give params their JSON types: PTB form-encodes, sending nested objects as JSON strings."""
    params: Json = {}
    for key, value in raw.items():
        if isinstance(value, str):
            try:
                if key in _JSON_PARAMS:
                    value = json.loads(value)
                elif key in _INT_PARAMS:
                    value = int(value)
                elif key == "timeout":
                    value = float(value)
                elif key in _BOOL_PARAMS:
                    value = value.lower() in ("true", "1")
                elif key in ("chat_id", "from_chat_id"):
                    value = chat_key(value)
            except ValueError:
                raise bad_request(f"can't parse {key}") from None
        params[key] = value
    return params


async def read_params(request: web.Request) -> Json:
    """Merge the query string with a JSON, urlencoded or multipart body (PTB uses the latter two)."""
    raw: Json = dict(request.query)
    if request.can_read_body and request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded parameters") from None
        if not isinstance(body, dict):
            raise bad_request("parameters must be a JSON object")
        raw |= body
    elif request.can_read_body:
        for key, value in (await request.post()).items():
            is_file = isinstance(value, web.FileField)
            raw[key] = (
                UploadedFile(value.filename, value.content_type, value.file.read()) if is_file else value
            )
    return decode_params(raw)


# ----------------------------------------------------------------------------- Telegram rules

_MEMBER_FIELDS: dict[str, Json] = {
    "creator": {"is_anonymous": False},
    "administrator": dict.fromkeys(
        _words(
            "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
            "can_change_info can_invite_users can_pin_messages"
        ),
        True,
    )
    | dict.fromkeys(
        _words(
            "can_be_edited is_anonymous can_promote_members can_post_stories can_edit_stories "
            "can_delete_stories"
        ),
        False,
    ),
    "member": {},
    "left": {},
    "kicked": {"until_date": 0},
}
_CHAT_ACTIONS = set(
    _words(
        "typing upload_photo record_video upload_video record_voice upload_voice upload_document "
        "choose_sticker find_location record_video_note upload_video_note"
    )
)
_BUTTON_ACTIONS = set(
    _words(
        "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
        "switch_inline_query_chosen_chat copy_text callback_game pay"
    )
)
_SCOPES = set(
    _words(
        "default all_private_chats all_group_chats all_chat_administrators chat chat_administrators "
        "chat_member"
    )
)
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}  # need allowed_updates


def check_reply_markup(markup: Any) -> Json | None:
    """Validate inline keyboards like Telegram; returns the markup echoed in the Message, if any."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for button in itertools.chain.from_iterable(markup.get("inline_keyboard", [])):
        if not _BUTTON_ACTIONS & set(button):
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    return markup if "inline_keyboard" in markup else None  # other keyboards are not echoed


# ----------------------------------------------------------------------------- the server


class FakeTelegram:
    """In-memory Bot API: records every call, validates like Telegram, long-polls for real.

    Create one per test: it binds to the running event loop.  Update builders (``private_text``
    ...) register their users and chats so the bot may answer them; any other chat_id is
    "chat not found", exactly like a chat the bot was never in.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "NewsTestBot",
        bot_id: int | None = None,
        bot_first_name: str = "News Test Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        strict_html: bool = True,
    ) -> None:
        self.token, self.host, self._port, self.strict_html = token, host, port, strict_html
        prefix = token.split(":", 1)[0]
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 123456
        self.bot_username, self.bot_first_name = bot_username, bot_first_name
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._ids = itertools.count(1)  # message ids, user ids, file ids ...
        self._update_ids = itertools.count(1)
        self._updates: list[Json] = []
        self._updates_signal, self._requests_signal = Signal(), Signal()
        self._allowed_updates: set[str] = set()
        self._poll_generation = 0
        self._forced: dict[str, list[int]] = {}  # lower-case method -> [retry_after, times]
        self.polling = 0  # getUpdates calls currently parked in a long poll
        self.requests: list[SentRequest] = []
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.members: dict[int, dict[int, str]] = {}  # chat_id -> user_id -> status
        self.blocked: set[int] = set()
        self.muted: set[int] = set()  # groups where the bot may no longer send messages
        self.messages: dict[tuple[int, int], Json] = {}  # (chat_id, message_id) -> Message
        self.files: dict[str, StoredFile] = {}
        self.inline_queries: set[str] = set()
        self.inline_answers: dict[str, Json] = {}  # query id -> answerInlineQuery params
        self.commands: dict[tuple[str, str], list[Json]] = {}  # (scope JSON, language) -> commands
        self.webhook: Json | None = None
        self._methods = {name.lower(): name for name in API_METHODS}

    # -- lifecycle and URLs ------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        ControlApi(self).register(app.router)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._port).start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Release parked long polls first, so shutdown never waits out a poll timeout."""
        self._closing = True
        self._updates_signal.fire()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends the token itself."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    @property
    def bot_user(self) -> Json:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # -- users, chats and update builders ----------------------------------------------------

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        self.chats.setdefault(user.id, Chat.private(user))
        return user

    def add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        return chat

    def make_user(self, first_name: str = "Alice", username: str | None = None, **extra: Any) -> User:
        return self.add_user(User(1_000_000 + next(self._ids), first_name, username, **extra))

    def make_group(
        self, title: str = "Test Group", *, supergroup: bool = True, username: str | None = None
    ) -> Chat:
        n = next(self._ids)
        chat_id, kind = (-1_000_000_000_000 - n, "supergroup") if supergroup else (-1000 - n, "group")
        return self.add_chat(Chat(chat_id, kind, title=title, username=username))

    def set_member(self, chat: Chat | int, user: User | int, status: str) -> None:
        """Configure getChatMember/getChatAdministrators: creator, administrator, member, left, kicked."""
        if status not in _MEMBER_FIELDS:
            raise ValueError(f"unsupported chat member status {status!r}")
        self.members.setdefault(getattr(chat, "id", chat), {})[getattr(user, "id", user)] = status

    def block(self, user: User | int) -> None:
        """The user blocks the bot: sending to their private chat answers 403 Forbidden."""
        self.blocked.add(getattr(user, "id", user))

    def mute(self, chat: Chat | int) -> None:
        """An administrator takes the bot's right to send messages in a group: 400, as Telegram."""
        self.muted.add(getattr(chat, "id", chat))

    def _user_message(self, chat: Chat, user: User, reply_to: Json | int | None = None) -> Json:
        self.add_user(user)
        self.add_chat(chat)
        if chat.type != "private":
            self.members.setdefault(chat.id, {}).setdefault(user.id, "member")
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat.to_dict()}
        message["from"] = user.to_dict()
        if reply_to is not None:
            original = self.messages[(chat.id, reply_to)] if isinstance(reply_to, int) else reply_to
            message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
        return message

    def _message_update(self, message: Json) -> Json:
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return {"update_id": next(self._update_ids), "message": message}

    def private_text(self, user: User, text: str) -> Json:
        return self.group_text(Chat.private(user), user, text)

    def group_text(
        self, chat: Chat, user: User, text: str, reply_to_message: Json | int | None = None
    ) -> Json:
        """A text message update; commands, mentions and urls get entities like on Telegram."""
        message = self._user_message(chat, user, reply_to_message) | {"text": text}
        if entities := detect_entities(text):
            message["entities"] = entities
        return self._message_update(message)

    def document_message(
        self,
        chat: Chat,
        user: User,
        file_bytes: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
    ) -> Json:
        """A document update; its bytes become downloadable through getFile + the file URL."""
        n = next(self._ids)
        suffix = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = StoredFile(
            f"BQACAgIAAxkBAAI{n:06d}", f"AgAD{n:06d}", f"documents/file_{n}.{suffix}", file_bytes, mime_type
        )
        self.files[stored.file_id] = stored
        message = self._user_message(chat, user)
        message["document"] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        message["document"] |= {"file_name": file_name, "mime_type": mime_type, "file_size": len(file_bytes)}
        if caption:
            message["caption"] = caption
            if entities := detect_entities(caption):
                message["caption_entities"] = entities
        return self._message_update(message)

    def inline_query(self, user: User, query: str) -> Json:
        self.add_user(user)
        query_id = str(4_000_000_000_000 + next(self._ids))
        self.inline_queries.add(query_id)
        inline = {"id": query_id, "from": user.to_dict(), "query": query, "offset": "", "chat_type": "sender"}
        return {"update_id": next(self._update_ids), "inline_query": inline}

    def inject(self, update: Json) -> Json:
        """Queue an update for getUpdates and wake a parked long poll at once."""
        update = dict(update) if "update_id" in update else {"update_id": next(self._update_ids)} | update
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._updates_signal.fire()
        return update

    @property
    def pending_updates(self) -> list[Json]:
        return list(self._updates)

    # -- inspection and control --------------------------------------------------------------

    def resolve_chat(self, chat_id: Any) -> Chat:
        key = chat_key(chat_id)
        if isinstance(key, int) and key in self.chats:
            return self.chats[key]
        for chat in self.chats.values():
            if isinstance(key, str) and chat.username and f"@{chat.username}".lower() == key.lower():
                return chat
        raise bad_request("chat not found")

    def _matches(self, request: SentRequest, method: str | None, chat_id: Any) -> bool:
        if method is not None and request.method.lower() != method.lower():
            return False
        if chat_id is None or chat_key(chat_id) == chat_key(request.params.get("chat_id")):
            return True
        try:
            return self.resolve_chat(request.params.get("chat_id")) == self.resolve_chat(chat_id)
        except ApiError:
            return False

    def sent(self, method: str | None = None, chat_id: int | str | None = None) -> list[SentRequest]:
        """Recorded requests, oldest first; rejected ones too (check ``status``)."""
        return [r for r in self.requests if self._matches(r, method, chat_id)]

    async def wait_for(
        self, method: str, chat_id: int | str | None = None, count: int = 1, timeout: float = 30.0
    ) -> list[SentRequest]:
        """Wait (event-driven, never sleeping) for ``count`` matching requests; return the first ``count``."""
        if not await self._requests_signal.wait_until(
            lambda: len(self.sent(method, chat_id)) >= count, timeout
        ):
            seen = [
                (r.method, r.params.get("chat_id"), r.status)
                for r in self.requests
                if r.method != "getUpdates"
            ]
            raise AssertionError(
                f"waited {timeout}s for {count}x {method} to chat {chat_id}; requests: {seen}"
            )
        return self.sent(method, chat_id)[:count]

    async def wait_for_poll(self, timeout: float = 10.0) -> None:
        """Wait until a client is parked in getUpdates, i.e. the bot is up and polling."""
        if not await self._requests_signal.wait_until(lambda: self.polling > 0, timeout):
            raise AssertionError(f"no getUpdates long poll started within {timeout}s")

    def messages_to(self, chat_id: int | str) -> list[Json]:
        """Messages the bot sent to a chat, in their current state (edits applied), oldest first."""
        try:
            chat = self.resolve_chat(chat_id).id
        except ApiError:
            return []
        return [
            m for (c, _), m in sorted(self.messages.items()) if c == chat and m["from"]["id"] == self.bot_id
        ]

    def commands_for(self, scope: Json | None = None, language_code: str = "") -> list[Json] | None:
        return self.commands.get((self._scope_key(scope), language_code))

    def force_429(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with Telegram's flood-control 429."""
        self._forced[method.lower()] = [retry_after, times]

    async def deliver_webhook(self, update: Json) -> int:
        """POST one update to the webhook as Telegram does (with the secret header); returns the status."""
        if not self.webhook:
            raise RuntimeError("no webhook is set")
        update = dict(update) if "update_id" in update else {"update_id": next(self._update_ids)} | update
        secret = self.webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with (
            ClientSession() as session,
            session.post(self.webhook["url"], json=update, headers=headers) as r,
        ):
            await r.read()
            return r.status

    # -- HTTP layer --------------------------------------------------------------------------

    def _check_token(self, token: str) -> None:
        if token != self.token:  # Telegram: well-formed but wrong -> 401, malformed -> 404
            raise (
                ApiError(401, "Unauthorized")
                if re.fullmatch(r"\d+:[\w-]+", token)
                else ApiError(404, "Not Found")
            )

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = self._methods.get(request.match_info["method"].lower())  # names are case-insensitive
        params: Json = {}
        try:
            self._check_token(request.match_info["token"])
            params = await read_params(request)
            if method is None:
                raise ApiError(404, "Not Found")
            forced = self._forced.get(method.lower())
            if forced and forced[1] > 0:
                forced[1] -= 1
                raise ApiError(429, f"Too Many Requests: retry after {forced[0]}", {"retry_after": forced[0]})
            handler = getattr(self, "_api_" + re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), method))
            body, status = {"ok": True, "result": await handler(params)}, 200
        except ApiError as error:
            body, status = error.payload(), error.code
        self.requests.append(
            SentRequest(method or request.match_info["method"], params, time.monotonic(), status)
        )
        self._requests_signal.fire()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        try:
            self._check_token(request.match_info["token"])
        except ApiError as error:
            return web.json_response(error.payload(), status=error.code)
        for stored in self.files.values():
            if stored.file_path == request.match_info["path"]:
                return web.Response(body=stored.data, content_type=stored.mime_type)
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    # -- Bot API methods: _api_<snake_case name>(params) -> result ---------------------------

    async def _api_get_me(self, params: Json) -> Json:
        flags = {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }
        return self.bot_user | flags | {"can_connect_to_business": False, "has_main_web_app": False}

    async def _api_close(self, params: Json) -> bool:
        return True

    _api_log_out = _api_close

    def _deliverable(self) -> list[Json]:
        def kind(update: Json) -> str:
            return next((key for key in update if key != "update_id"), "")

        allowed = self._allowed_updates
        return [
            u for u in self._updates if (kind(u) in allowed if allowed else kind(u) not in _NOT_BY_DEFAULT)
        ]

    async def _api_get_updates(self, params: Json) -> list[Json]:
        """Long poll.  A newer getUpdates terminates an older one with 409, as Telegram does."""
        if self.webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.fire()  # wakes (and so terminates) an older parked poll
        offset = params.get("offset") or 0
        if offset < 0:  # negative offset: keep only the last -offset updates
            self._updates = self._updates[offset:]
        elif offset > 0:  # confirms everything below it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if params.get("allowed_updates") is not None:
            self._allowed_updates = set(params["allowed_updates"])
        self.polling += 1
        self._requests_signal.fire()  # lets wait_for_poll() see the parked poll

        def wake() -> bool:
            superseded = generation != self._poll_generation
            return bool(self._deliverable()) or self._closing or bool(self.webhook) or superseded

        try:
            await self._updates_signal.wait_until(wake, max(float(params.get("timeout") or 0), 0.0))
        finally:
            self.polling -= 1
        if generation != self._poll_generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        if self.webhook:
            raise ApiError(409, "Conflict: terminated by setWebhook request")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        return [dict(u) for u in self._deliverable()[:limit]]

    def _render_text(self, params: Json, empty_error: str) -> tuple[str, list[Json]]:
        """Apply parse_mode and Telegram's limits: (text, entities) as Telegram stores them."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request(empty_error)
        parse_mode = str(params.get("parse_mode") or "").lower()
        entities = params.get("entities") or []
        if parse_mode == "html":
            try:
                text, entities = parse_html(text, strict_ampersand=self.strict_html)
            except EntityParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        elif parse_mode not in ("", "markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        text, entities = strip_with_entities(text, entities)
        if not text:
            raise bad_request(empty_error)
        if utf16_len(text) > MAX_MESSAGE_UTF16:  # counted after parsing, in UTF-16 units
            raise bad_request("message is too long")
        return text, entities

    def _writable_chat(self, params: Json) -> Chat:
        chat = self.resolve_chat(params.get("chat_id"))
        if chat.type == "private" and chat.id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.id in self.muted:
            raise bad_request("not enough rights to send text messages to the chat")
        return chat

    async def _api_send_message(self, params: Json) -> Json:
        chat = self._writable_chat(params)
        text, entities = self._render_text(params, "message text is empty")
        markup = check_reply_markup(params.get("reply_markup"))
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat.to_dict()}
        message |= {"from": self.bot_user, "text": text}
        if entities:
            message["entities"] = entities
        if markup:
            message["reply_markup"] = markup
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id", params.get("reply_to_message_id"))
        if reply_id is not None:
            original = self.messages.get((chat.id, int(reply_id)))
            if original is not None:
                message["reply_to_message"] = {k: v for k, v in original.items() if k != "reply_to_message"}
            elif not (reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")):
                raise bad_request("message to be replied not found")
        self.messages[(chat.id, message["message_id"])] = message
        return message

    async def _api_edit_message_text(self, params: Json) -> Json | bool:
        if params.get("inline_message_id"):
            self._render_text(params, "text must be non-empty")
            return True
        chat = self._writable_chat(params)
        message = self.messages.get((chat.id, int(params.get("message_id") or 0)))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        text, entities = self._render_text(params, "text must be non-empty")
        markup = check_reply_markup(params.get("reply_markup"))  # omitted -> keyboard removed
        if (text, entities or None, markup) == (
            message["text"],
            message.get("entities"),
            message.get("reply_markup"),
        ):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited = {k: v for k, v in message.items() if k not in ("entities", "reply_markup")}
        edited |= {"text": text, "edit_date": int(time.time())}
        edited |= ({"entities": entities} if entities else {}) | ({"reply_markup": markup} if markup else {})
        self.messages[(chat.id, message["message_id"])] = edited
        return edited

    async def _api_send_chat_action(self, params: Json) -> bool:
        self._writable_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _member(self, chat: Chat, user_id: int) -> Json:
        if user_id == self.bot_id:
            user = self.bot_user
        elif user_id in self.users:
            user = self.users[user_id].to_dict()
        else:
            raise bad_request("user not found")
        default = "member" if user_id in (chat.id, self.bot_id) else "left"
        status = self.members.get(chat.id, {}).get(user_id, default)
        return {"status": status, "user": user} | _MEMBER_FIELDS[status]

    async def _api_get_chat_member(self, params: Json) -> Json:
        return self._member(self.resolve_chat(params.get("chat_id")), int(params.get("user_id") or 0))

    async def _api_get_chat_administrators(self, params: Json) -> list[Json]:
        chat = self.resolve_chat(params.get("chat_id"))
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        statuses = self.members.get(chat.id, {})
        admins = [uid for uid, status in statuses.items() if status in ("creator", "administrator")]
        return [self._member(chat, uid) for uid in sorted(admins, key=lambda uid: statuses[uid] != "creator")]

    async def _api_get_file(self, params: Json) -> Json:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        ids = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        return ids | {"file_size": len(stored.data), "file_path": stored.file_path}

    async def _api_answer_inline_query(self, params: Json) -> bool:
        query_id = str(params.get("inline_query_id") or "")
        if query_id not in self.inline_queries or query_id in self.inline_answers:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > 50:
            raise bad_request("RESULTS_TOO_MUCH")
        if len({r.get("id") for r in results}) != len(results):
            raise bad_request("RESULT_ID_DUPLICATE")
        self.inline_answers[query_id] = {k: v for k, v in params.items() if k != "inline_query_id"}
        return True

    def _scope_key(self, scope: Json | None) -> str:
        scope = dict(scope or {"type": "default"})
        if scope.get("type") not in _SCOPES:
            raise bad_request("wrong parameter scope")
        if "chat_id" in scope:
            scope["chat_id"] = self.resolve_chat(scope["chat_id"]).id
        elif scope["type"].startswith("chat"):
            raise bad_request("chat not found")
        return json.dumps(scope, sort_keys=True)

    async def _api_set_my_commands(self, params: Json) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[(self._scope_key(params.get("scope")), params.get("language_code") or "")] = commands
        return True

    async def _api_get_my_commands(self, params: Json) -> list[Json]:
        return self.commands.get(
            (self._scope_key(params.get("scope")), params.get("language_code") or ""), []
        )

    async def _api_delete_my_commands(self, params: Json) -> bool:
        self.commands.pop((self._scope_key(params.get("scope")), params.get("language_code") or ""), None)
        return True

    async def _api_set_webhook(self, params: Json) -> bool:
        url = str(params.get("url") or "")
        if not url:  # an empty url removes the webhook
            return await self._api_delete_webhook(params)
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost")
        if not parts.hostname or (parts.scheme != "https" and not (parts.scheme == "http" and loopback)):
            # Deviation: plain http is accepted for loopback so tests can host the webhook.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections") or 40,
        }
        self.webhook["allowed_updates"] = params.get("allowed_updates")
        self._updates_signal.fire()  # a parked long poll ends with 409, like on Telegram
        return True

    async def _api_delete_webhook(self, params: Json) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _api_get_webhook_info(self, params: Json) -> Json:
        info: Json = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook:
            info |= {"url": self.webhook["url"], "max_connections": self.webhook["max_connections"]}
            if self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info


# ----------------------------------------------------------------------------- control endpoints


def _jsonable(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        return {"filename": value.filename, "content_type": value.content_type, "size": len(value.data)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class ControlApi:
    """JSON endpoints for driving a FakeTelegram from another process (standalone mode).

    POST   /_control/updates            body: an update (update_id optional) -> queued
    POST   /_control/updates/{kind}     kind: private_text | group_text | document_message |
                                        inline_query; body: {"user": {User fields}, "chat":
                                        {Chat fields}, "text", "reply_to_message_id", "query",
                                        "file_b64", "file_name", "mime_type", "caption"}
    GET    /_control/requests           ?method=&chat_id=  -> recorded requests
    GET    /_control/requests/wait      ?method=&chat_id=&count=1&timeout=30  (408 on timeout)
    GET    /_control/messages/{chat_id} -> messages the bot sent there, edits applied
    POST   /_control/webhook            body: {"url", "secret_token"?} -> set the webhook
    DELETE /_control/webhook            -> remove it
    POST   /_control/webhook/deliver    body: an update -> [HTTP status of the webhook's answer]
    POST   /_control/chat_member        body: {"chat_id", "user_id", "status"}
    POST   /_control/force_429          body: {"method", "retry_after"?, "times"?}
    Answers are {"ok": true, "result": ...} or {"ok": false, "error_code", "description"}.
    """

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    def register(self, router: web.UrlDispatcher) -> None:
        for verb, path, handler in [
            ("POST", "/_control/updates", self.inject),
            ("POST", "/_control/updates/{kind}", self.build),
            ("GET", "/_control/requests", self.requests),
            ("GET", "/_control/requests/wait", self.wait),
            ("GET", "/_control/messages/{chat_id}", self.messages),
            ("POST", "/_control/webhook", self.set_webhook),
            ("DELETE", "/_control/webhook", self.delete_webhook),
            ("POST", "/_control/webhook/deliver", self.deliver),
            ("POST", "/_control/chat_member", self.chat_member),
            ("POST", "/_control/force_429", self.force_429),
        ]:
            router.add_route(verb, path, self._wrap(handler))

    @staticmethod
    def _wrap(handler: Callable[[web.Request, Json], Any]) -> Callable[[web.Request], Any]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
                return web.json_response({"ok": True, "result": _jsonable(await handler(request, body))})
            except ApiError as error:
                return web.json_response(error.payload(), status=error.code)
            except (KeyError, TypeError, ValueError) as error:
                return web.json_response(ApiError(400, f"Bad Request: {error!r}").payload(), status=400)

        return wrapped

    async def inject(self, request: web.Request, body: Json) -> Any:
        return self.fake.inject(body)

    async def build(self, request: web.Request, body: Json) -> Any:
        fake, kind, user = self.fake, request.match_info["kind"], User(**body["user"])
        chat = Chat(**body["chat"]) if "chat" in body else Chat.private(user)
        if kind == "private_text":
            update = fake.private_text(user, body["text"])
        elif kind == "group_text":
            update = fake.group_text(chat, user, body["text"], body.get("reply_to_message_id"))
        elif kind == "document_message":
            data = base64.b64decode(body["file_b64"])
            update = fake.document_message(
                chat, user, data, body["file_name"], body["mime_type"], body.get("caption")
            )
        elif kind == "inline_query":
            update = fake.inline_query(user, body["query"])
        else:
            raise ApiError(404, "Not Found")
        return fake.inject(update)

    @staticmethod
    def _filters(request: web.Request) -> tuple[str | None, int | str | None]:
        chat_id = request.query.get("chat_id")
        return request.query.get("method"), chat_key(chat_id) if chat_id else None

    async def requests(self, request: web.Request, body: Json) -> Any:
        return self.fake.sent(*self._filters(request))

    async def wait(self, request: web.Request, body: Json) -> Any:
        method, chat_id = self._filters(request)
        count, timeout = int(request.query.get("count", 1)), float(request.query.get("timeout", 30))
        try:
            return await self.fake.wait_for(method or "", chat_id, count, timeout)
        except AssertionError as error:
            raise ApiError(408, str(error)) from None

    async def messages(self, request: web.Request, body: Json) -> Any:
        return self.fake.messages_to(request.match_info["chat_id"])

    async def set_webhook(self, request: web.Request, body: Json) -> Any:
        return await self.fake._api_set_webhook(decode_params(body))

    async def delete_webhook(self, request: web.Request, body: Json) -> Any:
        return await self.fake._api_delete_webhook({})

    async def deliver(self, request: web.Request, body: Json) -> Any:
        return [await self.fake.deliver_webhook(body)]

    async def chat_member(self, request: web.Request, body: Json) -> Any:
        self.fake.set_member(int(body["chat_id"]), int(body["user_id"]), body["status"])
        return True

    async def force_429(self, request: web.Request, body: Json) -> Any:
        self.fake.force_429(body["method"], int(body.get("retry_after", 1)), int(body.get("times", 1)))
        return True


# ----------------------------------------------------------------------------- standalone mode


async def serve(token: str, host: str, port: int, bot_username: str) -> None:
    """Run until SIGTERM/SIGINT; the first stdout line is the base URL for the bot."""
    async with FakeTelegram(token, bot_username=bot_username, host=host, port=port) as fake:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print(fake.base_url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="NewsTestBot")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.token, args.host, args.port, args.bot_username))


if __name__ == "__main__":
    main()
