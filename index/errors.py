"""The storage layer's own errors, and SQLite's errors about a database file mapped onto them,
so no caller reads SQLite's result codes (like httpx's ``map_httpcore_exceptions``)."""

from __future__ import annotations

import functools
import sqlite3
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from retrieval.errors import ArticleRejected, LibraryUnavailable, NewsbotError, already_stored
from retrieval.types import ArticleInfo

MAX_INTEGER = 2**63 - 1  # SQLite's largest integer: a larger LIMIT cannot be bound
# SQLite result codes that describe the file rather than a bug (``SQLITE_READONLY_DBMOVED`` counts
# as ``SQLITE_READONLY``).
_UNAVAILABLE = frozenset(
    {"SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_FULL", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR"}
)


class DatabaseUnavailable(LibraryUnavailable):
    """The database file cannot be used as it is (not a regular file, another program's
    database, made by a newer newsbot, read-only, full, locked); what failed was not written."""


class DatabaseDamaged(DatabaseUnavailable):
    """The database file is damaged (truncated, overwritten, failing SQLite's integrity check);
    it is refused before anything is written to it."""


class WriteFailed(NewsbotError):
    """SQLite failed a write for a reason that is neither the file (``DatabaseUnavailable``) nor
    a constraint (``ArticleRefused``): a trigger, a table another program dropped. Nothing of
    the transaction was stored; the message is SQLite's."""


class ArticleRefused(ArticleRejected):
    """The database refused article ``position`` of a batch (a constraint failed); nothing of the
    batch was stored. ``existing`` is the stored article with the same text, URL or ref (stored
    meanwhile by another process), or None when the refusal has another cause (``cause``,
    SQLite's message: a trigger's, say)."""

    def __init__(self, position: int, existing: ArticleInfo | None, cause: str) -> None:
        if existing is None:
            super().__init__("refused", f"the database refused the article ({cause})")
        else:
            super().__init__("duplicate", already_stored(existing.ref, existing.title))
        self.position = position
        self.existing = existing


def check_database_path(path: Path) -> None:
    """Refuse a path that cannot hold a database file, before SQLite opens it: a directory, and
    anything else that is not a regular file (``/dev/null`` would get a ``-journal`` beside it,
    a pipe would block the opening forever)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a pipe"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
    )
    raise DatabaseUnavailable(f"{path} is {kind}, not a database file")


def mapped_error(error: sqlite3.Error, path: Path) -> DatabaseUnavailable | None:
    """Our error for SQLite's ``error`` about the file at ``path``; None for any other (a bug)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    code = "_".join(name.split("_")[:2])  # the primary result code
    if code == "SQLITE_CORRUPT":
        return DatabaseDamaged(f"cannot use the database {path}: it is damaged ({error})")
    if code == "SQLITE_NOTADB":
        return DatabaseDamaged(f"cannot use the database {path}: {error}")
    if code in _UNAVAILABLE:
        return DatabaseUnavailable(f"cannot use the database {path}: {error}")
    return None


class _OnAFile(Protocol):
    path: Path


_S = TypeVar("_S", bound=_OnAFile)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def mapping_errors(
    method: Callable[Concatenate[_S, _P], Awaitable[_R]],
) -> Callable[Concatenate[_S, _P], Awaitable[_R]]:
    """``method`` (of an object with a ``path``) raising ``DatabaseUnavailable`` for SQLite's
    errors about the file; its other errors, bugs, stay as they are."""

    @functools.wraps(method)
    async def wrapper(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except sqlite3.Error as error:
            if (mapped := mapped_error(error, self.path)) is None:
                raise
            raise mapped from error

    return wrapper
