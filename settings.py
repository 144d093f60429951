"""One typed settings object, read from the environment (and a ``.env`` file) in one place.

Tests build ``Settings(...)`` with keyword arguments instead of patching ``os.environ``.
The bot token is a ``SecretStr``: it prints as ``**********`` in logs and reprs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_FILES = "https://api.telegram.org/file/bot"


def default_db() -> Path:
    return Path(user_data_dir("newsbot", appauthor=False)) / "newsbot.sqlite3"


def default_milvus_uri() -> str:
    return str(Path(user_data_dir("newsbot", appauthor=False)) / "newsbot.milvus.db")


def default_model_cache() -> Path:
    return Path(user_cache_dir("newsbot", appauthor=False)) / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    telegram_bot_token: SecretStr | None = Field(None, alias="TELEGRAM_BOT_TOKEN")
    telegram_base_url: str = Field(TELEGRAM_API, alias="TELEGRAM_BASE_URL")
    telegram_base_file_url: str = Field(TELEGRAM_FILES, alias="TELEGRAM_BASE_FILE_URL")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(frozenset(), alias="NEWSBOT_ADMIN_IDS")
    # Whether a group's owner and administrators may add and delete articles too. Off by default:
    # the library is shared by every chat, and anyone can create a group and own it.
    trust_group_admins: bool = Field(False, alias="NEWSBOT_TRUST_GROUP_ADMINS")

    db: Path = Field(default_factory=default_db, alias="NEWSBOT_DB")
    # Where the library lives: "sqlite" (NEWSBOT_DB, one machine) or "milvus" (index/backend.py).
    index: Literal["sqlite", "milvus"] = Field("sqlite", alias="NEWSBOT_INDEX")
    # A milvus-lite file (a path ending in .db: one process at a time) or a Milvus server or
    # cluster (http(s)://host:19530, shared by any number of processes), with its token if any.
    milvus_uri: str = Field(default_factory=default_milvus_uri, alias="NEWSBOT_MILVUS_URI")
    milvus_token: SecretStr | None = Field(None, alias="NEWSBOT_MILVUS_TOKEN")
    # Answers from Milvus (index/milvus_search.py): the chunks each search brings (dense per
    # language, sentences per language, BM25), and the articles of the library's sample that
    # stand in for the rest of the library (docs/milvus.md says how these were chosen).
    milvus_candidates: int = Field(50, ge=1, le=1000, alias="NEWSBOT_MILVUS_CANDIDATES")
    milvus_sample: int = Field(1000, ge=1, alias="NEWSBOT_MILVUS_SAMPLE")
    model: str = Field("bundled", alias="NEWSBOT_MODEL")
    model_cache: Path = Field(default_factory=default_model_cache, alias="NEWSBOT_MODEL_CACHE")
    encoder_threads: int | None = Field(None, ge=1, alias="NEWSBOT_ENCODER_THREADS")
    # "openvino" (default: several times torch's speed on CPU, same vectors) or "torch".
    encoder_backend: Literal["openvino", "torch"] = Field("openvino", alias="NEWSBOT_ENCODER_BACKEND")

    webhook_url: str | None = Field(None, alias="NEWSBOT_WEBHOOK_URL")
    webhook_listen: str = Field("0.0.0.0", alias="NEWSBOT_WEBHOOK_LISTEN")
    webhook_port: int = Field(8443, ge=1, le=65535, alias="NEWSBOT_WEBHOOK_PORT")
    webhook_secret: SecretStr | None = Field(None, alias="NEWSBOT_WEBHOOK_SECRET")

    # Hosts (``host`` or ``host:port``) that URL fetching may reach even though they resolve to
    # private or loopback addresses. Empty in production; tests serve pages from 127.0.0.1.
    allow_private_hosts: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), alias="NEWSBOT_ALLOW_PRIVATE_HOSTS"
    )
    max_upload_bytes: int = Field(2_000_000, gt=0, alias="NEWSBOT_MAX_UPLOAD_BYTES")
    max_question_chars: int = Field(1_000, gt=0, alias="NEWSBOT_MAX_QUESTION_CHARS")
    fetch_timeout: float = Field(15.0, gt=0, alias="NEWSBOT_FETCH_TIMEOUT")
    # How often the bot looks for articles another process (``newsbot import``, ``newsbot delete``)
    # added to or removed from its database; 0 turns it off.
    refresh_seconds: float = Field(10.0, ge=0, alias="NEWSBOT_REFRESH_SECONDS")
    # Followed feeds (feeds.py): how often each is read unless it has its own interval, how many
    # new items one poll may fetch (the rest wait for the next), and how often the bot looks for
    # feeds that are due (0: the bot polls none; ``newsbot feeds poll`` still does).
    feed_interval_minutes: float = Field(15.0, ge=1, alias="NEWSBOT_FEED_INTERVAL_MINUTES")
    feed_items_per_poll: int = Field(20, ge=1, alias="NEWSBOT_FEED_ITEMS_PER_POLL")
    feed_check_seconds: float = Field(30.0, ge=0, alias="NEWSBOT_FEED_CHECK_SECONDS")
    # How much newsbot's own loggers (``newsbot.*``) say: INFO is a line per article stored or
    # refused and per answer; DEBUG adds the questions' text, which may be private.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", alias="NEWSBOT_LOG_LEVEL"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("index", mode="before")
    @classmethod
    def _lower_index(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_uri(cls, value: str) -> str:
        value = value.strip()
        if "://" in value:
            if not value.startswith(("http://", "https://", "tcp://", "unix://")):
                raise ValueError(
                    "a Milvus server is http(s)://host:19530; a milvus-lite file, a path ending in .db"
                )
            return value
        if not value.endswith(".db"):
            raise ValueError("a milvus-lite library is a path ending in .db; a server, http(s)://host:19530")
        return str(Path(value).expanduser())

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
            except ValueError:
                raise ValueError("NEWSBOT_ADMIN_IDS must be comma-separated numeric user ids") from None
        return value

    @field_validator("allow_private_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        return value


def configure_logging(level: str, *, others: str = "INFO") -> None:
    """Log to stderr, a line per record with its time and logger: newsbot's own loggers (the
    ``newsbot`` tree: ``newsbot.library``, ``newsbot.ingest``, ``newsbot.bot``, ...) from ``level``,
    other libraries from ``others``. Never httpx's request lines: the Bot API's URLs hold the
    token."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=others)
    logging.getLogger("newsbot").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
