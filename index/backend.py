"""One interface for the library's storage, whichever backend holds it: ``Library``, ``ingest.py``
and the CLI talk to a ``LibraryStore`` and never ask which one it is.

- ``sqlite`` (the default, ``index/store.py``): one SQLite file on this machine.
- ``milvus`` (``index/milvus.py``, ``pip install 'newsbot[milvus]'``): a Milvus server or cluster
  (``NEWSBOT_MILVUS_URI=http(s)://host:19530``) that any number of processes on any machines
  share, or a milvus-lite file (a path ending in ``.db``) for one process. pymilvus is imported
  only here, when that backend is chosen, so the default never needs it installed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from index.errors import ArticleRefused, DatabaseUnavailable
from index.store import LibraryStats, NewArticle, Store
from retrieval.config import RetrievalConfig
from retrieval.corpus import CorpusIndex
from retrieval.encoder import Encoder, EncoderIdentity
from retrieval.near_duplicates import CopyCandidate, fingerprint, story_of
from retrieval.prepare import content_hash
from retrieval.types import (
    Answer,
    ArticleInfo,
    ArticleMeta,
    ChunkSpan,
    IndexedArticle,
    PreparedArticle,
    SentenceSpan,
)
from settings import Settings

T = TypeVar("T")


class RunsCpu(Protocol):
    """The library's thread pool: ``await cpu(fn, *args)`` runs ``fn`` off the event loop."""

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...


async def in_a_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A ``RunsCpu`` in asyncio's default pool, for a script without a ``Library``."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class Answerer(Protocol):
    """How a backend's library answers questions, with the same ``retrieval/`` code over
    different evidence: SQLite's from an index of the whole library held in memory
    (``index/in_memory.py``), Milvus's from the candidates Milvus finds for each question
    (``index/milvus_search.py``). ``Library`` calls these and never asks which one it has; it
    holds its write lock around ``refresh``, ``publish`` and ``forget``."""

    async def answer(self, query: str) -> Answer:
        """The answer to ``query`` (one line, not empty; a follow-up's earlier question first)."""
        ...

    async def refresh(self) -> tuple[int, int]:
        """Take in what other processes changed: (articles added, articles removed) taken in."""
        ...

    async def publish(self, infos: list[ArticleInfo], new: list[NewArticle]) -> None:
        """These articles were just stored by this process: answer from them from now on."""
        ...

    async def forget(self, article_id: int) -> None:
        """This article was just deleted by this process: never quote it again."""
        ...

    async def whole_index(self) -> CorpusIndex:
        """An index of every article with its vectors (``eval``, ``tune``, ``bench`` need one):
        the one held, or one read from the store for the occasion."""
        ...

    async def close(self) -> None: ...


class LibraryStore(Protocol):
    """What the library keeps and how it is read. Every backend stores an article whole or not at
    all (also when the process is killed), refuses duplicates (same text, same link, same ref
    ignoring case) with ``ArticleRefused``, and raises ``DatabaseUnavailable`` when its storage
    cannot be used, never its driver's errors. Each method is a coroutine (declared as returning
    an ``Awaitable``, so that methods wrapped by an error-mapping decorator match too)."""

    @property
    def location(self) -> str:
        """Where the library is, for messages: a file path or a Milvus URI."""
        ...

    def answerer(
        self, encoder: Awaitable[Encoder], config: RetrievalConfig, cpu: RunsCpu
    ) -> Awaitable[Answerer]:
        """How this library answers (``Answerer``), ready to answer; ``encoder`` may still be
        loading when this is called (reading the library goes on meanwhile)."""
        ...

    def close(self) -> Awaitable[None]: ...

    def encoder_identity(self) -> Awaitable[EncoderIdentity | None]:
        """The encoder recorded by ``check_encoder``, None before the first."""
        ...

    def check_encoder(self, identity: EncoderIdentity) -> Awaitable[None]:
        """Record the encoder on first use; ``ModelMismatch`` for a different one afterwards."""
        ...

    def find_duplicate(
        self, *, text_hash: str | None, url: str | None, ref: str | None
    ) -> Awaitable[ArticleInfo | None]: ...

    def add_articles(self, articles: Iterable[NewArticle]) -> Awaitable[list[ArticleInfo]]:
        """Store a batch; ``ArticleRefused`` (naming the refused article's position) stores none
        of it."""
        ...

    def article(self, ref: str) -> Awaitable[tuple[ArticleInfo, str]]: ...

    def article_info_by_id(self, article_id: int) -> Awaitable[ArticleInfo]:
        """The stored article with this id; ``NotFound`` once it is deleted."""
        ...

    def delete(self, ref: str) -> Awaitable[ArticleInfo]: ...

    def refs_in_use(self) -> Awaitable[dict[str, tuple[str, str | None]]]:
        """Every stored ref by its ``nocase`` form, with the ref as stored and its title."""
        ...

    def recent(
        self, limit: int = 20, offset: int = 0, *, since: str | None = None, until: str | None = None
    ) -> Awaitable[list[ArticleInfo]]:
        """The newest articles first by publication date (else the day each was added), only
        those dated from ``since`` to ``until`` (ISO days, both included) if given."""
        ...

    def count_dated(self, *, since: str | None = None, until: str | None = None) -> Awaitable[int]:
        """How many articles ``recent`` would list with no limit."""
        ...

    def near_candidates(self, keys: Sequence[int]) -> Awaitable[list[CopyCandidate]]:
        """The stored articles sharing a MinHash band key with ``keys``: those a new article may
        be a syndicated copy of."""
        ...

    def articles_without_near_keys(self, after: int, limit: int) -> Awaitable[list[CopyCandidate]]:
        """Up to ``limit`` articles whose copies were never looked for (no band keys: stored
        before copies and dates were kept), in the order they were stored, from after the one
        whose ``CopyCandidate.order`` is ``after`` (0: from the first)."""
        ...

    def count_without_near_keys(self) -> Awaitable[int]: ...

    def ids_without_near_keys(self) -> Awaitable[set[int]]:
        """The ids of the articles ``articles_without_near_keys`` lists, without reading their
        texts (``copy_library`` copies them as unchecked)."""
        ...

    def complete_article(
        self, article_id: int, keys: Sequence[int], *, copy_of: int | None, published: str | None
    ) -> Awaitable[None]:
        """Store such an article's band keys, its story and its date (None: keep its own), at once."""
        ...

    def stats(self) -> Awaitable[LibraryStats]: ...

    def load_library(
        self, known: Mapping[int, str]
    ) -> Awaitable[tuple[dict[int, tuple[ArticleInfo, str]], list[IndexedArticle]]]:
        """Every article's info and text by id, and the vectors of those ``known`` (id -> content
        hash) does not hold."""
        ...

    def load_articles(self, ids: Sequence[int]) -> Awaitable[list[IndexedArticle]]: ...

    def article_hashes(self) -> Awaitable[dict[int, str]]:
        """Article id -> content hash, for every stored article, in the order they were stored."""
        ...

    def data_version(self) -> Awaitable[int]:
        """Moves when another process changed the library (cheap: asked every few seconds)."""
        ...


def library_location(settings: Settings) -> str:
    return settings.milvus_uri if settings.index == "milvus" else str(settings.db)


def library_exists(settings: Settings) -> bool:
    """Whether there may be a library to read (a command that only reads must not create one):
    the SQLite file or milvus-lite folder exists; a Milvus server is asked when opened."""
    if settings.index == "milvus" and "://" in settings.milvus_uri:
        return True
    return Path(library_location(settings)).expanduser().exists()


async def open_store(settings: Settings, *, read_only: bool = False) -> LibraryStore:
    """The configured backend's store (``NEWSBOT_INDEX``); ``read_only`` writes nothing (SQLite
    opens the file read-only, Milvus skips the cleanup of dead writers)."""
    if settings.index == "sqlite":
        return await Store.open(settings.db, read_only=read_only)
    try:
        import pymilvus  # noqa: F401  (index/milvus.py imports it where it is used)
    except ImportError as error:
        raise DatabaseUnavailable(
            f"NEWSBOT_INDEX=milvus needs pymilvus and milvus-lite ({error.name} is missing):"
            " pip install -e '.[milvus]'"
        ) from error
    from index.milvus import MilvusStore

    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    return await MilvusStore.open(
        settings.milvus_uri,
        token=token,
        sweep=not read_only,
        candidates=settings.milvus_candidates,
        sample_articles=settings.milvus_sample,
    )


@dataclass(frozen=True, slots=True)
class CopySummary:
    copied: int
    already: int  # articles the target held already (the same text): a re-run copies the rest
    refused: tuple[str, ...]  # refs of articles the target refused (another has their link or ref)
    seconds: float


async def copy_library(
    source: LibraryStore,
    target: LibraryStore,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> CopySummary:
    """Copy every article of ``source`` into ``target`` with its sentences, chunks and vectors, so
    nothing is embedded again (``newsbot migrate``). Kept: refs, metadata (the archive's
    ``source`` too), text, the time each was added and their order, and syndicated copies: each
    copy names its story's first article by the target's id, and gets its band keys (computed
    again from its text) when ``source`` had looked for its copies (an article ``source`` had not
    checked stays unchecked: ``newsbot backfill``). A story whose first article was deleted in
    ``source`` is led by its first remaining copy in ``target`` (its ids are not ``source``'s, so
    the deleted one cannot be named), and its copies still fold together. Each batch is stored
    whole or not at all; articles the target holds already are skipped, so an interrupted copy
    is finished by running it again. The target records the source's encoder, or refuses it if
    it has another (``ModelMismatch``)."""
    started = time.perf_counter()
    identity = await source.encoder_identity()
    if identity is None:  # nothing was ever stored
        return CopySummary(0, 0, (), time.perf_counter() - started)
    await target.check_encoder(identity)
    held = {h: i for i, h in (await target.article_hashes()).items()}  # content hash -> target id
    hashes = await source.article_hashes()  # in the order they were stored
    ids = [i for i, h in hashes.items() if h not in held]
    stories = await _stories_held(source, target, hashes, held)
    unchecked = await source.ids_without_near_keys()
    copied, refused = 0, []
    for at in range(0, len(ids), batch_size):
        loaded = await source.load_articles(ids[at : at + batch_size])
        pairs = await asyncio.to_thread(_to_copy, loaded, unchecked)
        while pairs:
            try:
                stored = await target.add_articles(_with_stories(pairs, stories))
            except ArticleRefused as error:  # nothing of the batch was stored: store the rest
                refused.append(pairs.pop(error.position)[0].ref or "?")
                continue
            for (info, _), kept in zip(pairs, stored, strict=True):
                stories.setdefault(story_of(info), story_of(kept))
            copied += len(stored)
            break
        if on_progress:
            on_progress(min(at + batch_size, len(ids)), len(ids))
    return CopySummary(copied, len(hashes) - len(ids), tuple(refused), time.perf_counter() - started)


def _to_copy(loaded: list[IndexedArticle], unchecked: set[int]) -> list[tuple[ArticleInfo, NewArticle]]:
    """Each article with what to store of it (its fingerprint, MinHash over its text: CPU work)."""
    return [(a.info, as_new_article(a, checked=a.info.id not in unchecked)) for a in loaded]


async def _stories_held(
    source: LibraryStore, target: LibraryStore, hashes: Mapping[int, str], held: Mapping[str, int]
) -> dict[int, int]:
    """Each story of ``source`` (by its first article's id) that ``target`` holds an article of
    (a copy run before): its story in ``target``, for the copies still to copy."""
    stories: dict[int, int] = {}
    if not any(h in held for h in hashes.values()):
        return stories
    ours = {i.id: i for i in await source.recent(len(hashes))}
    theirs = {i.id: i for i in await target.recent(len(held))}
    for article_id, text_hash in hashes.items():  # in order: a story's first article first
        if text_hash in held and article_id in ours and held[text_hash] in theirs:
            stories.setdefault(story_of(ours[article_id]), story_of(theirs[held[text_hash]]))
    return stories


def _with_stories(
    pairs: Sequence[tuple[ArticleInfo, NewArticle]], stories: Mapping[int, int]
) -> list[NewArticle]:
    """The articles to copy, each copy naming its story in the target: the story's article the
    target holds (``stories``), or the first article of the batch of the same story."""
    marked: list[NewArticle] = []
    first_in_batch: dict[int, int] = {}  # a story -> the position of its first article here
    for position, (info, new) in enumerate(pairs):
        story = story_of(info)
        if new.fingerprint is None:  # its copies were never looked for: it names no story
            marked.append(new)
        elif story in stories:
            marked.append(replace(new, copy_of=stories[story]))
        elif story in first_in_batch:
            marked.append(replace(new, copy_of_position=first_in_batch[story]))
        else:
            first_in_batch[story] = position
            marked.append(new)
    return marked


def as_new_article(article: IndexedArticle, *, checked: bool = False) -> NewArticle:
    """A stored article (with its vectors) as an article to store elsewhere, under its ref, with
    its ``source`` field and the time it was added; ``checked``: its copies were looked for, so
    it gets its fingerprint (band keys) again."""
    info, text = article.info, article.text
    sentences = tuple(SentenceSpan(s, e, text[s:e]) for s, e in article.sentence_bounds.tolist())
    chunks = tuple(
        ChunkSpan(first, last, " ".join(s.text for s in sentences[first:last]))
        for first, last in article.chunk_bounds.tolist()
    )
    prepared = PreparedArticle(
        text=text,
        meta=ArticleMeta(info.title, info.outlet, info.author, info.published, info.url),
        lang=info.lang,
        sentences=sentences,
        chunks=chunks,
        content_hash=info.content_hash or content_hash(text),
    )
    return NewArticle(
        prepared,
        article.sentence_vectors,
        article.chunk_vectors,
        info.ref,
        info.source,
        fingerprint(text) if checked else None,
        added_at=info.added_at,
    )
