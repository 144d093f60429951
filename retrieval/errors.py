"""Named domain errors, translated into one user-facing message at the edges (CLI, bot)."""

from __future__ import annotations


class NewsbotError(Exception):
    """Base class: every subclass carries a message fit to show a user as it is."""


class ArticleRejected(NewsbotError):
    """The input cannot become an article; nothing was stored.

    ``reason`` is a short stable code (``empty``, ``binary``, ``too_large``, ``duplicate``,
    ``not_article``, ``unreachable``, ``private_address``, ``bad_input``, ``refused``) for callers that
    branch on it.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DuplicateArticle(ArticleRejected):
    """The same article (same URL, same external id or same normalized text) is already stored."""

    def __init__(self, existing_ref: str, title: str | None) -> None:
        super().__init__("duplicate", already_stored(existing_ref, title))
        self.existing_ref = existing_ref
        self.existing_title = title


def already_stored(ref: str, title: str | None) -> str:
    """How newsbot says an article is stored already, whichever layer finds it (the duplicate
    check before storing, or the database refusing it): "already in the library as a3 (Title)"."""
    return f"already in the library as {ref} ({title})" if title else f"already in the library as {ref}"


class LibraryUnavailable(NewsbotError):
    """The library's storage cannot be used right now (the database file or server is missing,
    damaged, read-only, full or unreachable). The message names the file or server: fit for the
    operator's console and log, not for a chat (the bot says only that the library is unavailable)."""


class NotAllowed(NewsbotError):
    """The caller may not do this (e.g. a non-admin calling an admin command)."""


class ModelMismatch(NewsbotError):
    """The index was built with another embedding model than the one configured."""


class ModelNotLoaded(NewsbotError):
    """The configured embedding model could not be loaded (a wrong folder, a name not in the local
    cache: newsbot never downloads one); the cause is kept as ``__cause__``."""


class NotFound(NewsbotError):
    """No article has the given ref."""


class BadQuestion(NewsbotError):
    """The question cannot be answered as asked. ``reason`` is a stable code the front ends
    translate: ``empty``, ``not_text`` (a lone surrogate: undecodable bytes, JSON's ``"\\ud800"``)
    or ``too_long`` (then ``length`` and ``limit`` are set)."""

    def __init__(self, reason: str, message: str, *, length: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.length = length
        self.limit = limit


class NotEnoughData(NewsbotError):
    """Labelled questions that cannot support the measurement asked of them (too few, or none
    of the kind it needs); ``newsbot tune`` and ``eval`` say so instead of printing numbers."""
