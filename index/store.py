"""SQLite storage through aiosqlite: schema, migrations and every SQL statement.

Why these choices:
- WAL mode, so readers (answers) never wait for a writer (an import), and one explicit
  ``BEGIN IMMEDIATE`` transaction per batch, so an article is stored whole or not at all even
  if the process is killed mid-ingest: SQLite rolls an unfinished transaction back on open.
- Sentence and chunk texts are not stored: they are slices of the article text by offsets.
- The encoder that made the vectors is recorded; opening the index with another is refused.
- Article ids (and so the automatic refs ``a<id>``) are never reused (AUTOINCREMENT): a deleted
  article's ref, quoted in old chats as ``/article_a3`` or ``[a3]``, never opens another story.
- Refs are looked up ignoring ASCII case (``A1`` finds ``a1``); an exact match wins.
- A damaged file is never written to: before its first write a connection runs SQLite's
  ``quick_check`` (seconds on a multi-GB library, so readers do not: they report the damage
  they meet), and commands that only read open the file read-only. SQLite's errors about the
  file (damaged, not a database, read-only, full, locked) become ``DatabaseUnavailable``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import numpy as np

from index.errors import (
    ArticleRefused,
    DatabaseDamaged,
    DatabaseUnavailable,
    WriteFailed,
    check_database_path,
    mapped_error,
    mapping_errors,
)
from index.snapshot import snapshot_dir
from retrieval.config import RetrievalConfig
from retrieval.encoder import Encoder, EncoderIdentity
from retrieval.errors import ModelMismatch, NotFound
from retrieval.near_duplicates import CopyCandidate, Fingerprint
from retrieval.types import ArticleInfo, IndexedArticle, PreparedArticle

if TYPE_CHECKING:
    from index.backend import Answerer, RunsCpu

# Each entry upgrades the schema by one version (PRAGMA user_version); never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,
        title TEXT, outlet TEXT, author TEXT, published TEXT,
        url TEXT UNIQUE,
        lang TEXT NOT NULL,
        source TEXT,
        text TEXT NOT NULL,
        content_hash TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE sentences (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (article_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE chunks (
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        first_sentence INTEGER NOT NULL,
        last_sentence INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (article_id, idx)
    ) WITHOUT ROWID;
    """,
    # Ids and automatic refs are never reused: AUTOINCREMENT, in place (SQLite's 12-step table
    # rebuild, run with foreign keys off so dropping the old table cascades nothing), every id and
    # ref kept. The sequence starts past every id and every ref of the automatic form: ids deleted
    # from the top before this upgrade left no trace and cannot be reserved. Sentences and chunks
    # orphaned earlier (articles deleted with foreign keys off, as the sqlite3 shell does) go first,
    # or the foreign-key check at the end would blame this migration for them.
    """
    DELETE FROM sentences WHERE article_id NOT IN (SELECT id FROM articles);
    DELETE FROM chunks WHERE article_id NOT IN (SELECT id FROM articles);
    CREATE TABLE articles_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ref TEXT NOT NULL UNIQUE,
        title TEXT, outlet TEXT, author TEXT, published TEXT,
        url TEXT UNIQUE,
        lang TEXT NOT NULL,
        source TEXT,
        text TEXT NOT NULL,
        content_hash TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    INSERT INTO articles_v2
        (id, ref, title, outlet, author, published, url, lang, source, text, content_hash, added_at)
        SELECT id, ref, title, outlet, author, published, url, lang, source, text, content_hash, added_at
        FROM articles;
    DROP TABLE articles;
    ALTER TABLE articles_v2 RENAME TO articles;
    DELETE FROM sqlite_sequence WHERE name = 'articles';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'articles', max(
        (SELECT coalesce(max(id), 0) FROM articles),
        (SELECT coalesce(max(CAST(substr(ref, 2) AS INTEGER)), 0) FROM articles
         WHERE lower(ref) GLOB 'a[0-9]*' AND length(ref) <= 19 AND substr(ref, 2) NOT GLOB '*[^0-9]*')
    );
    CREATE INDEX articles_ref_nocase ON articles (ref COLLATE NOCASE);
    """,
    # Followed feeds (index/feeds.py): each feed's schedule, validators and health, and every item
    # it brought, so an item is fetched once (also one whose article was refused or later deleted;
    # a page that could not be reached, a few times). A feed's items go with it; its articles stay
    # (article_id is cleared when one is deleted).
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        interval_minutes REAL,
        etag TEXT,
        last_modified TEXT,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        next_poll_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        last_success_at TEXT,
        last_error_at TEXT,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE feed_items (
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        link TEXT NOT NULL,
        article_id INTEGER REFERENCES articles(id) ON DELETE SET NULL,
        outcome TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        seen_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        PRIMARY KEY (feed_id, link)
    ) WITHOUT ROWID;
    CREATE INDEX feed_items_article ON feed_items (article_id);
    CREATE INDEX feeds_next_poll ON feeds (next_poll_at);
    """,
    # Dates and syndicated copies (retrieval/dates.py, retrieval/near_duplicates.py): a copy
    # names its story's first article (a plain id, kept when that article is deleted, so the
    # remaining copies still fold together), each article keeps the LSH band keys of its MinHash
    # signature (articles stored before this version have none and are never matched), and
    # lists read the library by date (published, else when it was added).
    """
    ALTER TABLE articles ADD COLUMN copy_of INTEGER;
    CREATE TABLE IF NOT EXISTS near_keys (
        key INTEGER NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        PRIMARY KEY (key, article_id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS near_keys_article ON near_keys (article_id);
    CREATE INDEX IF NOT EXISTS articles_by_date ON articles (coalesce(published, added_at), id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_ARTICLE_COLUMNS = (
    "id, ref, title, outlet, author, published, url, lang, added_at, content_hash, copy_of, source"
)
_BY_DATE = "coalesce(published, added_at)"  # an article's date in lists: its own, else its adding
_AUTOMATIC_REF = re.compile(r"a[0-9]{1,18}", re.IGNORECASE)  # 18 digits: within SQLite's int64


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def nocase(ref: str) -> str:
    """``ref`` as SQLite's NOCASE collation compares refs (ASCII letters lowercased, nothing
    else): refs with the same ``nocase`` form are one ref to the store."""
    return ref.translate(_ASCII_LOWER)


def automatic_number(ref: str) -> int | None:
    """N if ``ref`` has the form of the refs the store gives articles (``a`` + N, any case)."""
    return int(ref[1:]) if _AUTOMATIC_REF.fullmatch(ref) else None


@dataclass(frozen=True, slots=True)
class NewArticle:
    """An article ready to store: prepared text plus one vector per sentence and per chunk."""

    prepared: PreparedArticle
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray
    ref: str | None = None  # an external id (JSONL import); generated when absent
    source: str | None = None
    fingerprint: Fingerprint | None = None  # its MinHash, to find later copies of it
    # A syndicated copy: the story (id of its first article) it belongs to, or the position of
    # the article of the same batch it copies (whose id is not known before it is stored).
    copy_of: int | None = None
    copy_of_position: int | None = None
    # When it was first stored (ISO, UTC), kept by a copy into another library (``migrate``),
    # which stores the articles in their original order; None: now.
    added_at: str | None = None


@dataclass(frozen=True, slots=True)
class _Rows:
    """Sentence or chunk rows of many articles, ordered by article: ``owners[i]`` is row ``i``'s
    article id."""

    owners: np.ndarray
    bounds: np.ndarray
    vectors: np.ndarray

    def ranges(self, article_ids: np.ndarray) -> np.ndarray:
        """Offsets such that article ``article_ids[k]`` owns rows ``[at[k], at[k + 1])``
        (``article_ids`` ascending, as the rows are)."""
        return np.searchsorted(self.owners, np.append(article_ids, np.iinfo(np.int64).max))


@dataclass(frozen=True, slots=True)
class LibraryStats:
    articles: int
    sentences: int
    chunks: int
    languages: tuple[tuple[str, int], ...]
    db_bytes: int


class Store:
    def __init__(self, db: aiosqlite.Connection, path: Path, *, verified: bool = False) -> None:
        self._db = db
        self.path = path
        self._verified = verified  # passed SQLite's quick_check (or was blank when opened)

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def snapshot_dir(self) -> Path:
        """Beside the database: ``index/snapshot.py``."""
        return snapshot_dir(self.path)

    async def answerer(self, encoder: Awaitable[Encoder], config: RetrievalConfig, cpu: RunsCpu) -> Answerer:
        """An index of the whole library in memory (``index/in_memory.py``), kept current."""
        from index.in_memory import InMemoryAnswerer

        return await InMemoryAnswerer.open(self, encoder, config, cpu, snapshot_dir=self.snapshot_dir)

    @classmethod
    async def open(cls, path: Path, *, read_only: bool = False) -> Store:
        """The database at ``path``, created or upgraded to ``SCHEMA_VERSION`` unless ``read_only``.

        ``read_only`` opens the file read-only (SQLite's ``mode=ro``): nothing can be written, and
        a missing or blank file reads as an empty library. Refused with ``DatabaseUnavailable``
        (``DatabaseDamaged``), nothing written: a path that is not a regular file, a file that is
        not a database or is damaged, another program's database, a newer schema version."""
        check_database_path(path)
        blank = not path.exists() or path.stat().st_size == 0
        if read_only and blank:
            return await cls._empty(path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        target = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
        try:
            db = await aiosqlite.connect(target, uri=read_only, isolation_level=None)
        except sqlite3.Error as error:
            if (mapped := mapped_error(error, path)) is None:
                raise
            raise mapped from error
        store = cls(db, path, verified=blank)
        try:
            version = await store._prepare(read_only)
        except BaseException:
            await db.close()
            raise
        if read_only and version < SCHEMA_VERSION:  # blank, or an older library to upgrade first
            await db.close()
            return await (cls.open(path) if version else cls._empty(path))
        return store

    @classmethod
    async def _empty(cls, path: Path) -> Store:
        """An empty library in memory, read in place of a blank or missing file (writing nowhere)."""
        store = cls(await aiosqlite.connect(":memory:", isolation_level=None), path, verified=True)
        await store._migrate()
        return store

    @mapping_errors
    async def _prepare(self, read_only: bool) -> int:
        """Check the file before anything is written to it, then (unless ``read_only``) switch it
        to WAL and migrate it; returns the schema version it had."""
        await self._db.execute("PRAGMA busy_timeout=10000")
        async with self._db.execute("PRAGMA user_version") as cur:  # damage to the header shows here
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        async with self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            tables = [name async for (name,) in cur]
        if version > SCHEMA_VERSION:
            raise DatabaseUnavailable(
                f"{self.path} was written by a newer newsbot (schema version {version}; this one"
                f" reads up to {SCHEMA_VERSION}): upgrade newsbot, or choose another file with --db"
            )
        if version == 0 and tables:
            shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
            raise DatabaseUnavailable(
                f"{self.path} is another program's SQLite database (tables {shown}), not a newsbot library"
            )
        if read_only:
            return version
        async with self._db.execute("PRAGMA journal_mode") as cur:
            journal = (await cur.fetchone() or ("",))[0]
        if journal != "wal" or version < SCHEMA_VERSION:
            await self._verify()  # both below write to the file
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        # Foreign keys are enforced only after migrating: a table rebuild drops the old
        # table, which would otherwise delete every article's sentences and chunks.
        await self._migrate()
        await self._db.execute("PRAGMA foreign_keys=ON")
        return version

    async def _verify(self) -> None:
        """SQLite's quick integrity check, once per connection, before its first write: writing
        into a damaged file can spread the damage to what was still readable."""
        if self._verified:
            return
        async with self._db.execute("PRAGMA quick_check(1)") as cur:  # stop at the first problem
            row = await cur.fetchone()
        problem = str(row[0]) if row else "no answer"
        if problem != "ok":  # "*** in database main ***\nOn tree page 5013 cell 0: ..."
            problem = " ".join(line for line in problem.splitlines() if not line.startswith("***"))
            raise DatabaseDamaged(
                f"cannot use the database {self.path}: it is damaged ({problem}) and was left as it is;"
                " restore a copy, or choose another file with --db"
            )
        self._verified = True

    async def _begin_write(self) -> None:
        await self._verify()
        await self._db.execute("BEGIN IMMEDIATE")

    @mapping_errors
    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            # executescript would commit on its own; run the statements inside one transaction.
            async with self.writing():
                for statement in filter(str.strip, script.split(";")):
                    await self._db.execute(statement)
                async with self._db.execute("PRAGMA foreign_key_check") as cur:
                    if await cur.fetchone() is not None:
                        raise RuntimeError(f"migration {number} of {self.path} broke a foreign key")
                await self._db.execute(f"PRAGMA user_version = {number}")

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """One write transaction around the block: committed when it ends, rolled back on any
        error or cancellation, so what it writes is stored whole or not at all (a kill leaves
        SQLite's journal to undo it). BEGIN IMMEDIATE takes the write lock at once: two writers
        queue (up to the busy timeout) instead of failing halfway."""
        await self._begin_write()
        try:
            yield
            await self._db.execute("COMMIT")
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it rolls back by itself on some
        errors, e.g. SQLITE_FULL, and a second ROLLBACK would hide the error that caused it)."""
        if self._db.in_transaction:
            await self._db.execute("ROLLBACK")

    @mapping_errors
    async def check_encoder(self, identity: EncoderIdentity) -> None:
        """Record the encoder on first use; refuse a different one afterwards."""
        async with self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'encoder.%'") as cur:
            stored = {k.removeprefix("encoder."): v async for k, v in cur}
        wanted = {
            "name": identity.name,
            "dim": str(identity.dim),
            "query_prompt": identity.query_prompt,
            "passage_prompt": identity.passage_prompt,
        }
        if not stored:
            async with self.writing():
                await self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [(f"encoder.{k}", v) for k, v in wanted.items()],
                )
            return
        if stored != wanted:
            raise ModelMismatch(
                f"this library was indexed with {stored.get('name')} (dim {stored.get('dim')}), "
                f"but the configured model is {identity.name} (dim {identity.dim}); "
                "use the same model (NEWSBOT_MODEL) or a new database (NEWSBOT_DB)"
            )

    @mapping_errors
    async def encoder_identity(self) -> EncoderIdentity | None:
        """The encoder recorded by ``check_encoder``, None before the first."""
        async with self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'encoder.%'") as cur:
            return identity_of({k.removeprefix("encoder."): v async for k, v in cur})

    @mapping_errors
    async def find_duplicate(
        self, *, text_hash: str | None, url: str | None, ref: str | None
    ) -> ArticleInfo | None:
        """A stored article with this text hash, this URL or this ref (ignoring case)."""
        async with self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles"
            " WHERE content_hash = ? OR url = ? OR ref = ? COLLATE NOCASE LIMIT 1",
            (text_hash, url, ref),
        ) as cur:
            row = await cur.fetchone()
        return _info(row) if row else None

    @mapping_errors
    async def add_articles(self, articles: Iterable[NewArticle]) -> list[ArticleInfo]:
        """Store a batch in one transaction: all of it, or (on any error or a kill) none of it.

        A failed constraint raises ``ArticleRefused`` naming the article of the batch it refused,
        so a caller can store the rest without it; any other failure of SQLite's,
        ``DatabaseUnavailable`` (the file) or ``WriteFailed``."""
        stored: list[ArticleInfo] = []
        try:
            async with self.writing():
                for article in articles:
                    stored.append(await self._insert(article, stored))
        except sqlite3.IntegrityError as error:
            # Looked up after the rollback: only an article that is really stored is named.
            existing = await self.find_duplicate(
                text_hash=article.prepared.content_hash, url=article.prepared.meta.url, ref=article.ref
            )
            raise ArticleRefused(len(stored), existing, str(error)) from error
        except sqlite3.Error as error:
            raise mapped_error(error, self.path) or WriteFailed(str(error)) from error
        return stored

    async def _insert(self, new: NewArticle, earlier: list[ArticleInfo]) -> ArticleInfo:
        """Insert one article of a batch; ``earlier``: the batch's articles inserted before it."""
        p = new.prepared
        if len(new.sentence_vectors) != len(p.sentences) or len(new.chunk_vectors) != len(p.chunks):
            raise ValueError("one vector per sentence and per chunk is required")
        copy_of = new.copy_of
        if new.copy_of_position is not None:
            original = earlier[new.copy_of_position]
            copy_of = original.copy_of if original.copy_of is not None else original.id
        cur = await self._db.execute(
            "INSERT INTO articles (ref, title, outlet, author, published, url, lang, source, text,"
            " content_hash, copy_of, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " coalesce(?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
            (
                new.ref or f"pending-{p.content_hash}",
                p.meta.title,
                p.meta.outlet,
                p.meta.author,
                p.meta.published,
                p.meta.url,
                p.lang,
                new.source,
                p.text,
                p.content_hash,
                copy_of,
                new.added_at,
            ),
        )
        article_id = cur.lastrowid
        assert article_id is not None
        if new.ref is None:  # ids only grow, past every ref of this form: it is free
            await self._db.execute("UPDATE articles SET ref = ? WHERE id = ?", (f"a{article_id}", article_id))
        elif (number := automatic_number(new.ref)) is not None:  # an imported "a9": later ids pass it
            await self._db.execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'articles'", (number,)
            )
        # Generators, not lists: aiosqlite hands them to its own thread, where the rows are made
        # (for a 27,000-sentence file, 80 ms of blob building the event loop no longer waits for).
        await self._db.executemany(
            "INSERT INTO sentences (article_id, idx, start, end, vector) VALUES (?, ?, ?, ?, ?)",
            (
                (article_id, i, s.start, s.end, _blob(v))
                for i, (s, v) in enumerate(zip(p.sentences, new.sentence_vectors, strict=True))
            ),
        )
        await self._db.executemany(
            "INSERT INTO chunks (article_id, idx, first_sentence, last_sentence, vector)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (article_id, i, c.first, c.last, _blob(v))
                for i, (c, v) in enumerate(zip(p.chunks, new.chunk_vectors, strict=True))
            ),
        )
        if new.fingerprint is not None:
            await self._db.executemany(
                "INSERT OR IGNORE INTO near_keys (key, article_id) VALUES (?, ?)",
                ((key, article_id) for key in new.fingerprint.keys),
            )
        info = await self.article_info_by_id(article_id)
        return info

    @mapping_errors
    async def set_published(self, dates: Mapping[str, str]) -> None:
        """Set the publication dates (ISO) of articles by ref, in one transaction: for an archive
        imported without them (``benchmarks/recency_eval.py``)."""
        async with self.writing():
            await self._db.executemany(
                "UPDATE articles SET published = ? WHERE ref = ?", [(day, ref) for ref, day in dates.items()]
            )

    @mapping_errors
    async def near_candidates(self, keys: Sequence[int]) -> list[CopyCandidate]:
        """The stored articles sharing a MinHash band key with ``keys``: the candidates a new
        article may be a copy of (``retrieval.near_duplicates.copy_of`` decides)."""
        async with self._db.execute(
            "SELECT id, coalesce(copy_of, id), published, text, id FROM articles"
            " WHERE id IN (SELECT article_id FROM near_keys WHERE key IN (SELECT value FROM json_each(?)))",
            (json.dumps(list(keys)),),
        ) as cur:
            return [CopyCandidate(*row) async for row in cur]

    @mapping_errors
    async def articles_without_near_keys(self, after: int, limit: int) -> list[CopyCandidate]:
        """Up to ``limit`` articles with no MinHash band keys, in the order they were stored (by
        id, which is their ``order`` here) from after ``after``: those stored before schema
        version 4, when copies and dates were not kept yet, or copied from a library that had
        not looked for their copies (``backfill.py`` completes them)."""
        async with self._db.execute(
            "SELECT id, coalesce(copy_of, id), published, text, id FROM articles a WHERE id > ?"
            " AND NOT EXISTS (SELECT 1 FROM near_keys k WHERE k.article_id = a.id) ORDER BY id LIMIT ?",
            (after, limit),
        ) as cur:
            return [CopyCandidate(*row) async for row in cur]

    @mapping_errors
    async def ids_without_near_keys(self) -> set[int]:
        async with self._db.execute(
            "SELECT id FROM articles a WHERE NOT EXISTS (SELECT 1 FROM near_keys k WHERE k.article_id = a.id)"
        ) as cur:
            return {int(row[0]) async for row in cur}

    @mapping_errors
    async def count_without_near_keys(self) -> int:
        return await self._count(
            "SELECT count(*) FROM articles a"
            " WHERE NOT EXISTS (SELECT 1 FROM near_keys k WHERE k.article_id = a.id)"
        )

    async def _count(self, sql: str, parameters: Sequence[object] = ()) -> int:
        async with self._db.execute(sql, parameters) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @mapping_errors
    async def complete_article(
        self, article_id: int, keys: Sequence[int], *, copy_of: int | None, published: str | None
    ) -> None:
        """Give an article stored before schema version 4 its band keys, the story it copies and
        a publication date (``None``: keep the one it has), in one transaction: a backfill killed
        midway leaves every article completed or untouched, and resumes with the untouched. An
        article deleted meanwhile gets nothing."""
        async with self.writing():
            await self._db.execute(
                "UPDATE articles SET copy_of = coalesce(copy_of, ?), published = coalesce(?, published)"
                " WHERE id = ?",
                (copy_of, published, article_id),
            )
            await self._db.executemany(
                "INSERT OR IGNORE INTO near_keys (key, article_id) SELECT ?, id FROM articles WHERE id = ?",
                ((key, article_id) for key in keys),
            )

    @mapping_errors
    async def article_info_by_id(self, article_id: int) -> ArticleInfo:
        async with self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS}, (SELECT count(*) FROM sentences WHERE article_id = a.id)"
            " FROM articles a WHERE id = ?",
            (article_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no article with id {article_id}")
        return _info(row)

    @mapping_errors
    async def article(self, ref: str) -> tuple[ArticleInfo, str]:
        """The article's info and its full cleaned text; ``ref`` matches ignoring ASCII case and
        Unicode normalization (imported ids are stored NFC), an exact match first (two refs
        differing only in case may survive from before version 2)."""
        async with self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS}, (SELECT count(*) FROM sentences WHERE article_id = a.id), text"
            # not "ref = ?1 COLLATE NOCASE OR ref = ?2 COLLATE NOCASE": SQLite 3.40 then searches
            # the case-sensitive index ("A1" no longer finds "a1")
            " FROM articles a WHERE ref COLLATE NOCASE IN (?1, ?2) ORDER BY ref = ?1 DESC, id LIMIT 1",
            (ref, unicodedata.normalize("NFC", ref)),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no article with ref {ref!r}")
        return _info(row[:-1]), row[-1]

    @mapping_errors
    async def delete(self, ref: str) -> ArticleInfo:
        info, _ = await self.article(ref)
        async with self.writing():
            await self._db.execute("DELETE FROM articles WHERE id = ?", (info.id,))
        return info

    @mapping_errors
    async def refs_in_use(self) -> dict[str, tuple[str, str | None]]:
        """Which refs are taken, in any case: every stored ref by its ``nocase`` form, with the
        ref as stored and its article's title (to say what holds it). One query, so a re-run
        of a large import checks its ids without a query per line."""
        async with self._db.execute("SELECT ref, title FROM articles") as cur:
            return {nocase(ref): (ref, title) async for ref, title in cur}

    @mapping_errors
    async def recent(
        self, limit: int = 20, offset: int = 0, *, since: str | None = None, until: str | None = None
    ) -> list[ArticleInfo]:
        """The newest articles first, by publication date (an undated article by the day it was
        added), only those dated from ``since`` to ``until`` (ISO days, both included) if given."""
        where, parameters = _date_range(since, until)
        async with self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS}, (SELECT count(*) FROM sentences WHERE article_id = a.id)"
            f" FROM articles a{where} ORDER BY {_BY_DATE} DESC, id DESC LIMIT ? OFFSET ?",
            [*parameters, limit, offset],
        ) as cur:
            return [_info(row) async for row in cur]

    @mapping_errors
    async def count_dated(self, *, since: str | None = None, until: str | None = None) -> int:
        """How many articles ``recent`` would list with no limit."""
        where, parameters = _date_range(since, until)
        return await self._count(f"SELECT count(*) FROM articles{where}", parameters)

    @mapping_errors
    async def stats(self) -> LibraryStats:
        async with self._db.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM sentences),"
            " (SELECT count(*) FROM chunks)"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        async with self._db.execute(
            "SELECT lang, count(*) FROM articles GROUP BY lang ORDER BY count(*) DESC"
        ) as cur:
            languages = tuple([(lang, n) async for lang, n in cur])
        async with self._db.execute(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        ) as cur:
            size = await cur.fetchone()
        return LibraryStats(row[0], row[1], row[2], languages, int(size[0]) if size else 0)

    @mapping_errors
    async def load_all(self) -> list[IndexedArticle]:
        """Every article with its spans and vectors, for building the in-memory index."""
        _, loaded = await self.load_library(known={})
        return loaded

    @mapping_errors
    async def load_library(
        self, known: Mapping[int, str]
    ) -> tuple[dict[int, tuple[ArticleInfo, str]], list[IndexedArticle]]:
        """Every article's metadata and text by id; and, for the articles ``known`` does not hold
        with the same content hash (``known`` maps id to hash: what a snapshot of the index
        already has), their spans and vectors too. One read transaction, so the two agree even
        if another process is importing."""
        await self._db.execute("BEGIN")
        try:
            rows = await self._article_rows("", [])
            current = {row[0]: (_info(row[:-1]), row[-1]) for row in rows}
            wanted = [row for row in rows if known.get(row[0]) != current[row[0]][0].content_hash]
            return current, await self._with_vectors(wanted, everything=len(wanted) == len(rows))
        finally:
            await self._db.execute("COMMIT")

    @mapping_errors
    async def load_articles(self, ids: Sequence[int]) -> list[IndexedArticle]:
        """These articles (those that still exist) with their spans and vectors."""
        await self._db.execute("BEGIN")
        try:
            rows = await self._article_rows(
                " WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]
            )
            return await self._with_vectors(rows, everything=False)
        finally:
            await self._db.execute("COMMIT")

    @mapping_errors
    async def article_hashes(self) -> dict[int, str]:
        """Article id -> content hash, for every stored article, in the order they were stored."""
        async with self._db.execute("SELECT id, content_hash FROM articles ORDER BY id") as cur:
            return {article_id: text_hash async for article_id, text_hash in cur}

    @mapping_errors
    async def data_version(self) -> int:
        """Changes whenever another connection (another process) commits to the database."""
        async with self._db.execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _article_rows(self, where: str, parameters: list[str]) -> list[Any]:
        async with self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS}, (SELECT count(*) FROM sentences WHERE article_id = a.id), text"
            f" FROM articles a{where} ORDER BY id",
            parameters,
        ) as cur:
            return list(await cur.fetchall())

    async def _with_vectors(self, rows: list[Any], *, everything: bool) -> list[IndexedArticle]:
        """The articles of ``rows`` with their spans and vectors (``everything``: rows holds every
        article, so no filter is needed)."""
        if not rows:
            return []
        only = "" if everything else " WHERE article_id IN (SELECT value FROM json_each(?))"
        ids = np.array([row[0] for row in rows], np.int64)
        parameters = [] if everything else [json.dumps(ids.tolist())]
        sentences = await self._rows_of("sentences", "start, end", only, parameters)
        chunks = await self._rows_of("chunks", "first_sentence, last_sentence", only, parameters)
        s_at, c_at = sentences.ranges(ids), chunks.ranges(ids)
        return [
            IndexedArticle(
                _info(row[:-1]),
                row[-1],
                sentences.bounds[s_at[i] : s_at[i + 1]],
                chunks.bounds[c_at[i] : c_at[i + 1]],
                sentences.vectors[s_at[i] : s_at[i + 1]],
                chunks.vectors[c_at[i] : c_at[i + 1]],
            )
            for i, row in enumerate(rows)
        ]

    async def _rows_of(self, table: str, columns: str, where: str, parameters: list[str]) -> _Rows:
        """Every row's bounds and vector, copied straight into preallocated arrays in article
        order: no object per row is kept, and the rows' blobs are never all held at once (at
        scale they are most of the memory)."""
        async with self._db.execute(f"SELECT count(*) FROM {table}{where}", parameters) as cur:
            (count,) = await cur.fetchone()  # type: ignore[misc]
        owners = np.empty(count, np.int64)
        bounds = np.empty((count, 2), np.int32)
        vectors = np.zeros((0, 0), np.float32)
        async with self._db.execute(
            f"SELECT article_id, {columns}, vector FROM {table}{where} ORDER BY article_id, idx", parameters
        ) as cur:
            at = 0
            while batch := list(await cur.fetchmany(2048)):
                if not len(vectors):
                    vectors = np.empty((count, len(batch[0][3]) // 4), np.float32)
                end = at + len(batch)
                owners[at:end] = [r[0] for r in batch]
                bounds[at:end] = [(r[1], r[2]) for r in batch]
                vectors[at:end] = np.frombuffer(b"".join(r[3] for r in batch), "<f4").reshape(len(batch), -1)
                at = end
        return _Rows(owners, bounds, vectors)


def identity_of(stored: Mapping[str, str]) -> EncoderIdentity | None:
    """The encoder a library recorded (its ``name``, ``dim`` and prompts), None if none was."""
    if not {"name", "dim", "query_prompt", "passage_prompt"} <= stored.keys():
        return None
    return EncoderIdentity(
        stored["name"], int(stored["dim"]), stored["query_prompt"], stored["passage_prompt"]
    )


def _date_range(since: str | None, until: str | None) -> tuple[str, list[str]]:
    """A WHERE clause on the list date, ``until`` taking the whole day (a date-time sorts after
    its bare day)."""
    clauses, parameters = [], []
    if since is not None:
        clauses.append(f"{_BY_DATE} >= ?")
        parameters.append(since)
    if until is not None:
        clauses.append(f"{_BY_DATE} < ?")
        parameters.append(until + "~")  # "~" sorts after every character of an ISO date-time
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def _info(row: Sequence[Any]) -> ArticleInfo:
    count = row[12] if len(row) > 12 else 0
    return ArticleInfo(
        id=row[0],
        ref=row[1],
        title=row[2],
        outlet=row[3],
        author=row[4],
        published=row[5],
        url=row[6],
        lang=row[7],
        added_at=row[8],
        content_hash=row[9],
        copy_of=row[10],
        source=row[11],
        sentence_count=count,
    )


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()
