"""The library in Milvus: articles, sentences and chunks with their vectors, and BM25 through
Milvus's own BM25 function, so any number of processes on any machines share one library.

``uri`` is a path ending in ``.db`` (milvus-lite: the engine runs inside this process and holds
the path's lock, so one process at a time; ``milvus-lite server --data-dir PATH`` serves it to
several) or ``http(s)://host:19530`` (a Milvus server or cluster; ``token`` authenticates).

Collections (``{prefix}_*``): ``articles`` (metadata and text, one row per stored article: its
row is the commit marker), ``sentences`` (offsets, dense vector), ``chunks`` (sentence range,
the chunk's text and BM25 terms, dense vector, BM25 sparse vector), ``stories`` (each article's
story and its MinHash band keys, for syndicated copies: ``retrieval/near_duplicates.py``) and
``journal`` (writes in progress, deletions in progress, the encoder and the languages seen).

Why these choices:
- Milvus has no transaction across collections (nor within one, on a cluster). An article's
  sentences and chunks are written first and its ``articles`` row last; readers only ever start
  from ``articles`` rows (candidate chunks whose article has no row are dropped), so an article
  is visible whole or not at all. A writer records a claim in ``journal`` before it writes and
  removes it after the commit; a claim whose writer died (its process is gone on this host, or
  it is older than ``STALE_CLAIM_SECONDS``) is swept on open: its rows are deleted unless the
  article was committed. Deletion is journalled the same way.
- An article's id is derived from its content hash, and its rows' keys from the id: the same
  line imported twice, even by two machines at once, is one article (the second write replaces
  identical rows). Other duplicates (the same text under another ref, the same URL or external
  id) are refused by a claim-then-check:
  a writer that finds another writer's claim or a stored article holding one of its keys gives
  up, so at most one of two racing writers stores the article (rarely neither: re-running the
  import stores it).
- BM25 reads the chunk's terms as ``retrieval/lexical.py: tokenize`` makes them (title and chunk,
  joined by spaces), so Milvus's analyzer only splits on spaces: the same terms as the embedded
  index by construction, whatever tokenizer and filters the server version has.
- Reads and writes are strongly consistent (``Strong``): the duplicate check must see a claim
  another machine wrote a moment ago.
- An article's story and band keys are a row of their own (``stories``), not fields of its
  ``articles`` row: a library made before kept none, and milvus-lite 3.2 cannot add a field to
  an existing collection (``add_collection_field`` is not implemented), while a missing
  collection is simply created. The band keys are a sparse vector, one dimension per key, so
  the articles sharing a band with a new one are one sparse search (an article's score is the
  number of bands it shares); no row means its copies were never looked for (``backfill``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import socket
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from index.errors import ArticleRefused, DatabaseUnavailable
from index.store import LibraryStats, NewArticle, identity_of, nocase
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.encoder import Encoder, EncoderIdentity
from retrieval.errors import ModelMismatch, NotFound
from retrieval.lexical import tokenize
from retrieval.near_duplicates import CopyCandidate
from retrieval.types import (
    ArticleInfo,
    IndexedArticle,
)

if TYPE_CHECKING:
    from index.backend import Answerer, RunsCpu

log = logging.getLogger(__name__)
# gRPC (under pymilvus) registers fork handlers that abort a child forked while its threads run
# (a subprocess started by a process that has talked to Milvus); newsbot never shares a gRPC
# channel across a fork, so they only do harm. Read by gRPC when it is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

SCHEMA_VERSION = 1
STALE_CLAIM_SECONDS = 600  # a claim this old is a dead writer's: an article is written in seconds
SAMPLE_BUCKETS = 4096  # ``bucket`` = id % this; a uniform sample is the articles below some bucket
_TEXT_PART_CHARS = 16_000  # 16,000 code points are at most 64,000 UTF-8 bytes: one VARCHAR
_QUERY_ROWS = 16_384  # Milvus's largest limit + offset of one query
IDS_PER_QUERY = 200
_WRITE_ROWS = 512
_BAND_DIMENSIONS = 2**32 - 1  # a sparse vector's dimensions: a band key is folded into one
# The most articles sharing a band with a new one read: all of them but for a story copied
# hundreds of times, whose copies all name the same story.
_NEAR_CANDIDATES = 256
_STORIES_PER_FLUSH = 256  # see ``MilvusStore._write_stories``
CONSISTENCY = "Strong"
_SAME_HOST = socket.gethostname()

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="MilvusStore")


class MilvusUnavailable(DatabaseUnavailable):
    """Milvus cannot be reached or refused the operation for a reason outside newsbot (a server
    down, a milvus-lite file held by another process); what failed was not half-written."""


def mapping_errors(
    method: Callable[Concatenate[_S, _P], Awaitable[_R]],
) -> Callable[Concatenate[_S, _P], Awaitable[_R]]:
    """``method`` raising ``MilvusUnavailable`` for pymilvus's errors, so no caller imports it."""

    @functools.wraps(method)
    async def wrapper(self: _S, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        from pymilvus.exceptions import MilvusException

        try:
            return await method(self, *args, **kwargs)
        except MilvusException as error:
            raise MilvusUnavailable(
                f"the Milvus library at {self.uri} is unavailable: {error.message}"
            ) from error

    return wrapper


@dataclass(frozen=True, slots=True)
class ChunkHit:
    """One chunk a search found: its article, its index in the article, its score, and which
    search found it (``dense``, ``sentence`` or ``bm25``)."""

    article_id: int
    chunk: int
    score: float
    via: str


def article_id_of(content_hash: str) -> int:
    """The article id of a text: 60 bits of its content hash (no collision is expected below
    ~10^9 articles), so every machine gives the same text the same id and row keys."""
    return int(content_hash[:15], 16)


def automatic_ref(article_id: int) -> str:
    """The ref of an article imported without an id: its id in lower-case base 32, 12
    characters (unique as ids are; a shared counter would need a coordinator)."""
    raw = article_id.to_bytes(8, "big")
    return base64.b32encode(raw).decode().rstrip("=").lower()[-12:]


def ref_key(ref: str) -> str:
    """How refs are compared, as the SQLite store compares them: NFC, ASCII case folded."""
    return unicodedata.normalize("NFC", ref).translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def quoted(value: str) -> str:
    """``value`` as a string literal of Milvus's filter expressions."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def in_filter(field: str, values: Iterable[int] | Iterable[str]) -> str:
    """A filter for rows whose ``field`` is one of ``values``, integers or strings (callers batch
    them by ``IDS_PER_QUERY``: Milvus parses every expression, and long ones are slow to parse)."""
    return f"{field} in [{', '.join(quoted(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def chunk_terms(title: str | None, chunk_text: str) -> str:
    """What BM25 reads of a chunk: the terms ``CorpusIndex`` gives it (the title's count for every
    chunk), joined by spaces."""
    return " ".join(tokenize(f"{title or ''} {chunk_text}"))


def clip(value: str | None, limit_bytes: int) -> str | None:
    """``value`` cut to ``limit_bytes`` of UTF-8 on a character boundary: a VARCHAR field refuses
    the whole row for one byte over its ``max_length``."""
    if value is None:
        return None
    encoded = value.encode("utf-8")
    if len(encoded) <= limit_bytes:
        return value
    return encoded[:limit_bytes].decode("utf-8", errors="ignore")


def batches(items: Sequence[_R], size: int) -> Iterable[Sequence[_R]]:
    """``items`` in slices of ``size``: what one Milvus call takes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class _Keys:
    """What makes an article a duplicate of another: its text, its URL, its ref (any one)."""

    content_hash: str | None
    url: str | None
    ref_key: str | None

    @classmethod
    def of(cls, new: NewArticle, ref: str) -> _Keys:
        return cls(new.prepared.content_hash, new.prepared.meta.url or None, ref_key(ref))

    @staticmethod
    def filter(keys: Sequence[_Keys]) -> str:
        """Rows holding any key of any of ``keys`` ("" for no key)."""
        conditions = []
        for field in ("content_hash", "url", "ref_key"):
            values = sorted({v for k in keys if (v := getattr(k, field))})
            if values:
                conditions.append(in_filter(field, values))
        return " or ".join(conditions)

    def match(self, row: Mapping[str, Any], row_ref_key: str) -> bool:
        return bool(
            (self.content_hash and row["content_hash"] == self.content_hash)
            or (self.url and row["url"] == self.url)
            or (self.ref_key and row_ref_key == self.ref_key)
        )


class MilvusStore:
    """The library's storage in Milvus, with the SQLite ``Store``'s contract for what both keep
    (add whole-or-nothing, duplicates refused, get / list / delete by ref, stats, the encoder
    check), plus candidate search: Milvus finds the chunks, the caller answers over them."""

    def __init__(self, client: Any, uri: str, prefix: str, dim: int, index_type: str) -> None:
        self.client = client
        self.uri = uri
        # What the answerer reads per question (``index/milvus_search.py``; ``open`` sets them).
        self.candidates = 50
        self.sample_articles = 1000
        self.prefix = prefix
        self.dim = dim
        self.index_type = index_type
        self.ef = 64  # HNSW's search breadth (recall against speed)
        self.write_lock = asyncio.Lock()  # milvus-lite's engine takes one writer at a time
        self._writer = f"{_SAME_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.articles = f"{prefix}_articles"
        self.sentences = f"{prefix}_sentences"
        self.chunks = f"{prefix}_chunks"
        self.journal = f"{prefix}_journal"
        self.stories = f"{prefix}_stories"
        # ``articles_without_near_keys``: where the last call ended, and the articles after it
        self._unchecked_queue: tuple[int, list[tuple[int, int]]] | None = None
        self._unflushed_stories = 0  # ``stories`` rows written since this process last flushed
        # ``data_version``: the library's change stamp as last read, the stamp of our own last
        # write, whether another writer changed it before that write, and the count handed out.
        self._stamp_seen = ""
        self._own_stamp = ""
        self._foreign_change = False
        self._version = 0

    @property
    def location(self) -> str:
        return self.uri

    async def answerer(self, encoder: Awaitable[Encoder], config: RetrievalConfig, cpu: RunsCpu) -> Answerer:
        """Answers from the candidates Milvus finds per question (``index/milvus_search.py``):
        nothing of the library is read here."""
        from index.milvus_search import MilvusAnswerer

        return MilvusAnswerer(
            self, await encoder, config, cpu, candidates=self.candidates, sample_articles=self.sample_articles
        )

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        uri: str,
        *,
        token: str | None = None,
        prefix: str = "newsbot",
        dim: int = 384,
        index_type: str = "FLAT",
        sweep: bool = True,
        candidates: int = 50,
        sample_articles: int = 1000,
    ) -> MilvusStore:
        """The library at ``uri``, its collections created if missing and (``sweep``) what dead
        writers left half-written removed. ``dim`` is a new library's vector size (an empty
        library takes the encoder's at ``check_encoder``); ``index_type`` its dense index:
        ``FLAT`` is exact, ``HNSW`` approximate and fast at scale. ``candidates`` and
        ``sample_articles``: what each answer reads (``NEWSBOT_MILVUS_CANDIDATES``, ``_SAMPLE``)."""
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        client = await asyncio.to_thread(_connect, uri, token)
        store = cls(client, uri, prefix, dim, index_type)
        store.candidates, store.sample_articles = candidates, sample_articles
        try:
            await store._prepare()
            if sweep:
                await store.sweep()
        except BaseException:
            await store.close()
            raise
        return store

    @mapping_errors
    async def _prepare(self) -> None:
        await asyncio.to_thread(self._create_collections)

    def _create_collections(self) -> None:
        from pymilvus import DataType, MilvusClient

        c = self.client
        existing = set(c.list_collections())
        if self.chunks in existing:  # an existing library keeps the vector size it was made with
            fields = c.describe_collection(self.chunks)["fields"]
            self.dim = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
        specs: list[tuple[str, Any, Any]] = []
        if self.articles not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("id", DataType.INT64, is_primary=True)
            s.add_field("ref", DataType.VARCHAR, max_length=1024)
            s.add_field("ref_key", DataType.VARCHAR, max_length=1024)
            for name, size in (("title", 8192), ("outlet", 1024), ("author", 1024), ("published", 64)):
                s.add_field(name, DataType.VARCHAR, max_length=size, nullable=True)
            s.add_field("url", DataType.VARCHAR, max_length=8192, nullable=True)
            s.add_field("source", DataType.VARCHAR, max_length=1024, nullable=True)
            s.add_field("lang", DataType.VARCHAR, max_length=16)
            s.add_field("content_hash", DataType.VARCHAR, max_length=64)
            s.add_field("added_at", DataType.VARCHAR, max_length=32)
            s.add_field("added", DataType.INT64)  # microseconds since the epoch: newest first
            s.add_field("bucket", DataType.INT32)
            s.add_field("sentence_count", DataType.INT32)
            s.add_field("chunk_count", DataType.INT32)
            s.add_field(
                "text", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4096, max_length=65535
            )
            s.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
            specs.append((self.articles, s, [("v", "FLAT", "L2", {})]))
        dense = (
            "vector",
            self.index_type,
            "IP",
            {"M": 16, "efConstruction": 200} if self.index_type == "HNSW" else {},
        )
        if self.sentences not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=40)
            s.add_field("article_id", DataType.INT64)
            s.add_field("idx", DataType.INT32)
            s.add_field("start", DataType.INT32)
            s.add_field("end", DataType.INT32)
            s.add_field("lang", DataType.VARCHAR, max_length=16)
            s.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
            specs.append((self.sentences, s, [dense]))
        if self.chunks not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=40)
            s.add_field("article_id", DataType.INT64)
            s.add_field("idx", DataType.INT32)
            s.add_field("first", DataType.INT32)
            s.add_field("last", DataType.INT32)
            s.add_field("lang", DataType.VARCHAR, max_length=16)
            s.add_field("text", DataType.VARCHAR, max_length=65535)
            s.add_field(
                "terms",
                DataType.VARCHAR,
                max_length=65535,
                enable_analyzer=True,
                enable_match=True,
                analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
            )
            s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            s.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
            s.add_function(bm25_function("terms", "sparse"))
            bm25 = ("sparse", "SPARSE_INVERTED_INDEX", "BM25", BM25_PARAMS)
            specs.append((self.chunks, s, [dense, bm25]))
        if self.journal not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1200)
            s.add_field("kind", DataType.VARCHAR, max_length=16)  # add, delete, meta, lang
            s.add_field("article_id", DataType.INT64)
            s.add_field("content_hash", DataType.VARCHAR, max_length=64)
            s.add_field("url", DataType.VARCHAR, max_length=8192)
            s.add_field("ref_key", DataType.VARCHAR, max_length=1024)
            s.add_field("writer", DataType.VARCHAR, max_length=256)
            s.add_field("host", DataType.VARCHAR, max_length=256)
            s.add_field("pid", DataType.INT64)
            s.add_field("started", DataType.INT64)  # seconds since the epoch
            s.add_field("value", DataType.VARCHAR, max_length=1024)
            s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
            specs.append((self.journal, s, [("v", "FLAT", "L2", {})]))
        if self.stories not in existing:
            s = MilvusClient.create_schema(auto_id=False)
            s.add_field("article_id", DataType.INT64, is_primary=True)
            s.add_field("story", DataType.INT64)  # its story's first article: its own id if no copy
            s.add_field("keys", DataType.SPARSE_FLOAT_VECTOR)  # its band keys: ``_band_vector``
            specs.append((self.stories, s, [("keys", "SPARSE_INVERTED_INDEX", "IP", {})]))
        for name, schema, indexes in specs:
            params = c.prepare_index_params()
            for field, kind, metric, extra in indexes:
                params.add_index(field, index_type=kind, metric_type=metric, params=extra)
            try:
                with quiet("grpc._server"):
                    c.create_collection(
                        name, schema=schema, index_params=params, consistency_level=CONSISTENCY
                    )
            except Exception:  # another process created it a moment ago, or is creating it
                if not _created_by_another(c, name):
                    raise
        for name in (self.articles, self.sentences, self.chunks, self.journal, self.stories):
            state = str(c.get_load_state(name).get("state"))
            if "Loaded" not in state:  # milvus-lite reopens its collections released
                c.load_collection(name)

    @mapping_errors
    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)

    # -- the client, for these collections and those kept beside them (index/milvus_feeds.py) --

    def query(self, collection: str, where: str, fields: list[str], limit: int = _QUERY_ROWS) -> list[dict]:
        """Rows of ``collection`` matching ``where``, read after every write before it
        (``CONSISTENCY``): a duplicate check must see the claim another process just wrote."""
        return list(
            self.client.query(
                collection, filter=where, output_fields=fields, limit=limit, consistency_level=CONSISTENCY
            )
        )

    def count(self, collection: str, where: str = "") -> int:
        """How many rows of ``collection`` match ``where`` (all of them for "")."""
        rows = self.client.query(
            collection, filter=where, output_fields=["count(*)"], consistency_level=CONSISTENCY
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def scan(self, collection: str, where: str, fields: list[str]) -> Iterable[dict]:
        """Every row matching ``where``, in batches (beyond one query's limit)."""
        if self.count(collection, where) < _QUERY_ROWS:
            yield from self.query(collection, where, fields)
            return
        iterator = self.client.query_iterator(collection, batch_size=2000, filter=where, output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    def write(self, collection: str, rows: list[dict], *, upsert: bool = False) -> None:
        """Insert (or upsert) ``rows`` in calls of ``_WRITE_ROWS``: a gRPC message has a size limit."""
        call = self.client.upsert if upsert else self.client.insert
        for batch in batches(rows, _WRITE_ROWS):
            call(collection, list(batch))

    def _write_stories(self, rows: list[dict]) -> None:
        """Write ``stories`` rows, and seal them into a segment every ``_STORIES_PER_FLUSH``:
        milvus-lite searches the rows not yet flushed without an index, building one at each
        search, and flushes a collection by size only (128 MB: half a million of these small
        rows), so an import or a backfill would look for copies ever more slowly (a search
        with 2,000 such rows took 300 ms, against 10-17 ms after a flush)."""
        self.write(self.stories, rows, upsert=True)
        self._unflushed_stories += len(rows)
        if self._unflushed_stories >= _STORIES_PER_FLUSH:
            self.client.flush(self.stories)
            self._unflushed_stories = 0

    # -- the encoder ------------------------------------------------------------------------

    @mapping_errors
    async def check_encoder(self, identity: EncoderIdentity) -> None:
        """Record the encoder on first use; refuse a different one afterwards."""
        wanted = {
            "name": identity.name,
            "dim": str(identity.dim),
            "query_prompt": identity.query_prompt,
            "passage_prompt": identity.passage_prompt,
            "schema": str(SCHEMA_VERSION),
        }

        def check() -> None:
            rows = self.query(self.journal, 'kind == "meta"', ["pk", "value"])
            stored = {r["pk"].removeprefix("meta:"): r["value"] for r in rows}
            if not stored and identity.dim != self.dim and not self.count(self.articles):
                for name in (self.sentences, self.chunks):  # empty: made with the default size
                    self.client.drop_collection(name)
                self.dim = identity.dim
                self._create_collections()
            if not stored:
                self.write(
                    self.journal,
                    [self._journal_row(f"meta:{k}", "meta", value=v) for k, v in wanted.items()],
                    upsert=True,
                )
                return
            if stored != wanted:
                raise ModelMismatch(
                    f"this library was indexed with {stored.get('name')} (dim {stored.get('dim')}), "
                    f"but the configured model is {identity.name} (dim {identity.dim}); "
                    "use the same model (NEWSBOT_MODEL) or another Milvus library"
                )

        await asyncio.to_thread(check)

    @mapping_errors
    async def encoder_identity(self) -> EncoderIdentity | None:
        """The encoder recorded by ``check_encoder``, None before the first."""

        def read() -> EncoderIdentity | None:
            rows = self.query(self.journal, 'kind == "meta"', ["pk", "value"])
            return identity_of({r["pk"].removeprefix("meta:"): r["value"] for r in rows})

        return await asyncio.to_thread(read)

    def _journal_row(self, pk: str, kind: str, **values: Any) -> dict:
        row: dict[str, Any] = {
            "pk": pk,
            "kind": kind,
            "article_id": 0,
            "content_hash": "",
            "url": "",
            "ref_key": "",
            "writer": self._writer,
            "host": _SAME_HOST,
            "pid": os.getpid(),
            "started": int(time.time()),
            "value": "",
            "v": [0.0, 0.0],
        }
        row.update(values)
        return row

    # -- adding -------------------------------------------------------------------------------

    @mapping_errors
    async def find_duplicate(
        self, *, text_hash: str | None, url: str | None, ref: str | None
    ) -> ArticleInfo | None:
        """A stored article with this text hash, this URL or this ref (ignoring ASCII case)."""
        return await asyncio.to_thread(self._find_duplicate, text_hash, url, ref)

    def _find_duplicate(self, text_hash: str | None, url: str | None, ref: str | None) -> ArticleInfo | None:
        where = _Keys.filter([_Keys(text_hash or None, url or None, ref_key(ref) if ref else None)])
        if not where:
            return None
        rows = self.query(self.articles, where, _INFO_FIELDS, limit=1)
        return self._infos_of(rows)[0] if rows else None

    @mapping_errors
    async def add_articles(self, articles: Iterable[NewArticle]) -> list[ArticleInfo]:
        """Store a batch: each article whole or not at all, also if the process is killed (see
        the module docstring). A duplicate (stored meanwhile by another process, or claimed by
        another writer at this moment) raises ``ArticleRefused`` naming its position in the
        batch, with nothing of the batch stored, so a caller can store the rest without it.
        Unlike SQLite, a kill mid-batch may leave the batch's first articles stored."""
        batch = list(articles)
        for new in batch:
            p = new.prepared
            if len(new.sentence_vectors) != len(p.sentences) or len(new.chunk_vectors) != len(p.chunks):
                raise ValueError("one vector per sentence and per chunk is required")
        if not batch:
            return []
        async with self.write_lock:
            return await asyncio.to_thread(self._add, batch)

    def _add(self, batch: list[NewArticle]) -> list[ArticleInfo]:
        ids = [article_id_of(n.prepared.content_hash) for n in batch]
        stories = _stories_of_batch(batch, ids)
        refs = [n.ref or automatic_ref(i) for n, i in zip(batch, ids, strict=True)]
        if len(set(ids)) < len(ids) or len({ref_key(r) for r in refs}) < len(refs):
            position = next(
                i
                for i in range(len(batch))
                if ids[i] in ids[:i] or ref_key(refs[i]) in {ref_key(r) for r in refs[:i]}
            )
            raise ArticleRefused(position, None, "the batch holds the same article twice")
        keys = [_Keys.of(n, ref) for n, ref in zip(batch, refs, strict=True)]
        if (held := self._first_held(keys)) is not None:
            raise ArticleRefused(held[0], self._infos_of([held[1]])[0], "already stored")
        claims = [
            self._journal_row(
                f"add:{i}:{self._writer}",
                "add",
                article_id=i,
                content_hash=n.prepared.content_hash,
                url=n.prepared.meta.url or "",
                ref_key=ref_key(ref),
            )
            for n, i, ref in zip(batch, ids, refs, strict=True)
        ]
        self.write(self.journal, claims, upsert=True)
        try:
            self._refuse_claimed(keys, ids)
            now = time.time()
            places = self._places(batch, now)
            rows = [  # before any write: a text too long is refused with nothing written
                _article_row(n, i, ref, places[position], now, position)
                for position, (n, i, ref) in enumerate(zip(batch, ids, refs, strict=True))
            ]
            self.write(
                self.sentences,
                [row for n, i in zip(batch, ids, strict=True) for row in _sentence_rows(n, i)],
                upsert=True,
            )
            self.write(
                self.chunks,
                [row for n, i in zip(batch, ids, strict=True) for row in _chunk_rows(n, i)],
                upsert=True,
            )
            self._write_stories(
                [
                    {"article_id": i, "story": story, "keys": _band_vector(n.fingerprint.keys)}
                    for n, i, story in zip(batch, ids, stories, strict=True)
                    if n.fingerprint is not None and story is not None
                ]
            )
            self.write(self.articles, rows, upsert=True)  # the commit
            self._stamp()
            self.write(
                self.journal,
                [
                    self._journal_row(f"lang:{lang}", "lang", value=lang)
                    for lang in {n.prepared.lang for n in batch}
                ],
                upsert=True,
            )
        except ArticleRefused:
            self.client.delete(self.journal, ids=[c["pk"] for c in claims])
            raise
        self.client.delete(self.journal, ids=[c["pk"] for c in claims])
        stored = {info.id: info for info in self._infos(ids)}
        return [stored[i] for i in ids]

    def _places(self, batch: list[NewArticle], now: float) -> list[int]:
        """Each article's place in the library's order (``added``, microseconds since the
        epoch): now, in the batch's order; or, for an article copied with the time it was first
        stored (``added_at``, whole seconds: ``migrate``), in that second after what the library
        holds from it, so a copy keeps its original's order."""
        places: list[int] = []
        last = 0
        for position, new in enumerate(batch):
            if new.added_at is None:
                places.append(int(now * 1_000_000) + position)
                continue
            second = _microseconds(new.added_at)
            if last < second:
                held = self.query(
                    self.articles, f"added >= {second} and added < {second + 1_000_000}", ["added"]
                )
                last = max([second - 1, *(int(r["added"]) for r in held)])
            last += 1
            places.append(last)
        return places

    def _first_held(self, keys: Sequence[_Keys]) -> tuple[int, dict] | None:
        """The first of these articles that the library holds under one of its keys, with the
        ``articles`` row holding it (None if none is held). One query per ``IDS_PER_QUERY``
        articles: an equality filter reads every row of ``articles`` (17 ms at 10k articles,
        170 ms at 18k under load), so a query per article made ``migrate`` copy 2-3 articles a
        second at 20k."""
        for start in range(0, len(keys), IDS_PER_QUERY):
            part = keys[start : start + IDS_PER_QUERY]
            rows = self.query(self.articles, _Keys.filter(part), _INFO_FIELDS)
            for position, k in enumerate(part, start):
                held = next((r for r in rows if k.match(r, ref_key(r["ref"]))), None)
                if held is not None:
                    return position, held
        return None

    def _refuse_claimed(self, keys: Sequence[_Keys], ids: list[int]) -> None:
        """Refuse the first article of the batch that another writer claims (or has stored
        meanwhile) under one of its keys with other content: a writer that sees another's claim
        gives up, so two writers racing for one URL or id never both store it."""
        claimed: list[dict] = []
        for start in range(0, len(keys), IDS_PER_QUERY):
            claimed += self.query(
                self.journal,
                f'kind == "add" and writer != {quoted(self._writer)}'
                f" and ({_Keys.filter(keys[start : start + IDS_PER_QUERY])})",
                ["article_id", "content_hash", "url", "ref_key"],
            )
        stored = self._first_held(keys)
        for position, (k, article_id) in enumerate(zip(keys, ids, strict=True)):
            if stored is not None and stored[0] == position:
                raise ArticleRefused(position, self._infos_of([stored[1]])[0], "stored meanwhile")
            # The same text under the same ref is the same article (identical rows, whoever
            # writes last); the same text under another ref is a duplicate like any other.
            if any(
                k.match(c, c["ref_key"])
                and not (int(c["article_id"]) == article_id and c["ref_key"] == k.ref_key)
                for c in claimed
            ):
                raise ArticleRefused(
                    position, None, "another writer is storing an article with this text, URL or id"
                )

    # -- cleaning up after dead writers -------------------------------------------------------

    @mapping_errors
    async def sweep(self, *, older_than: float = STALE_CLAIM_SECONDS) -> int:
        """Finish what dead writers left: rows of articles they were adding (unless the article
        got committed) and deletions they started. Returns how many claims were settled."""
        async with self.write_lock:
            return await asyncio.to_thread(self._sweep, older_than)

    def _sweep(self, older_than: float) -> int:
        fields = ["pk", "kind", "article_id", "writer", "host", "pid", "started"]
        rows = self.query(self.journal, 'kind in ["add", "delete"]', fields)
        now = time.time()

        def dead(row: dict) -> bool:
            if row["writer"] == self._writer:
                return False
            gone = row["host"] == _SAME_HOST and not _pid_alive(int(row["pid"]))
            return gone or now - int(row["started"]) > older_than

        dead_claims = [r for r in rows if dead(r)]
        if not dead_claims:
            return 0
        # A batch at a time (a filtered delete reads the whole collection: seconds at 20k articles).
        deleting = sorted({int(r["article_id"]) for r in dead_claims if r["kind"] == "delete"})
        for part in batches(deleting, IDS_PER_QUERY):
            self.client.delete(self.articles, ids=list(part))
        writing = {int(r["article_id"]) for r in rows if r["kind"] == "add" and not dead(r)}
        unsettled = sorted({int(r["article_id"]) for r in dead_claims} - writing)
        committed = {int(r["id"]) for r in self._article_rows(unsettled, ["id"])}
        self._delete_parts([i for i in unsettled if i not in committed])
        self.client.delete(self.journal, ids=[r["pk"] for r in dead_claims])
        return len(dead_claims)

    # -- reading ------------------------------------------------------------------------------

    def _infos(self, ids: Sequence[int]) -> list[ArticleInfo]:
        return self._infos_of(self._article_rows(ids, _INFO_FIELDS))

    def _article_rows(self, ids: Iterable[int], fields: list[str]) -> list[dict]:
        """The ``articles`` rows (``fields``) of these ids that are stored."""
        rows: list[dict] = []
        for part in batches(list(dict.fromkeys(int(i) for i in ids)), IDS_PER_QUERY):
            rows += self.query(self.articles, in_filter("id", part), fields)
        return rows

    def _infos_of(self, rows: Sequence[Mapping[str, Any]]) -> list[ArticleInfo]:
        """The infos of these ``articles`` rows, each with its story (``stories``)."""
        stories = self._stories_of(int(r["id"]) for r in rows)
        return [_info(r, stories.get(int(r["id"]))) for r in rows]

    def _stories_of(self, ids: Iterable[int]) -> dict[int, int]:
        """The story of each of these articles whose band keys are stored (the others have none)."""
        found: dict[int, int] = {}
        for part in batches(list(dict.fromkeys(int(i) for i in ids)), IDS_PER_QUERY):
            rows = self.query(self.stories, in_filter("article_id", part), ["article_id", "story"])
            found.update({int(r["article_id"]): int(r["story"]) for r in rows})
        return found

    def _delete_parts(self, article_ids: Sequence[int]) -> None:
        """Delete these articles' rows other than their ``articles`` rows."""
        for part in batches(article_ids, IDS_PER_QUERY):
            for collection in (self.sentences, self.chunks):
                self.client.delete(collection, filter=in_filter("article_id", part))
            self.client.delete(self.stories, ids=list(part))

    @mapping_errors
    async def article_info_by_id(self, article_id: int) -> ArticleInfo:
        infos = await asyncio.to_thread(self._infos, [article_id])
        if not infos:
            raise NotFound(f"no article with id {article_id}")
        return infos[0]

    @mapping_errors
    async def article(self, ref: str) -> tuple[ArticleInfo, str]:
        """The article's info and its full text; ``ref`` matches ignoring ASCII case, an exact
        match first."""

        def find() -> tuple[ArticleInfo, str]:
            rows = self.query(
                self.articles, f"ref_key == {quoted(ref_key(ref))}", [*_INFO_FIELDS, "text"], limit=16
            )
            if not rows:
                raise NotFound(f"no article with ref {ref!r}")
            wanted = unicodedata.normalize("NFC", ref)
            row = min(rows, key=lambda r: (r["ref"] not in (ref, wanted), r["id"]))
            return self._infos_of([row])[0], "".join(row["text"])

        return await asyncio.to_thread(find)

    @mapping_errors
    async def delete(self, ref: str) -> ArticleInfo:
        """Remove an article: its row first (readers stop seeing it), then its sentences, chunks
        and band keys; journalled, so a kill midway is finished by the next ``sweep``. Its
        copies keep naming it as their story, as in SQLite, so they still fold together."""
        info, _ = await self.article(ref)

        def remove() -> None:
            pk = f"delete:{info.id}:{self._writer}"
            self.write(self.journal, [self._journal_row(pk, "delete", article_id=info.id)], upsert=True)
            self.client.delete(self.articles, ids=[info.id])
            self._stamp()
            self._delete_parts([info.id])
            self.client.delete(self.journal, ids=[pk])

        async with self.write_lock:
            await asyncio.to_thread(remove)
        return info

    @mapping_errors
    async def refs_in_use(self) -> dict[str, tuple[str, str | None]]:
        """Every stored ref by its ``nocase`` form, with the ref as stored and its title."""

        def read() -> dict[str, tuple[str, str | None]]:
            rows = self.scan(self.articles, "", ["ref", "title"])
            return {nocase(r["ref"]): (r["ref"], r.get("title")) for r in rows}

        return await asyncio.to_thread(read)

    # -- other processes' changes -------------------------------------------------------------

    def _stamp(self) -> None:
        """Mark the library changed (after an article row was written or deleted): a new random
        stamp in the journal, which ``data_version`` compares."""
        before = self._read_stamp()
        if before != self._stamp_seen:  # another writer changed the library since we last looked
            self._foreign_change = True
        self._own_stamp = uuid.uuid4().hex
        self.write(
            self.journal, [self._journal_row("version", "version", value=self._own_stamp)], upsert=True
        )

    def _read_stamp(self) -> str:
        rows = self.query(self.journal, 'pk == "version"', ["value"], limit=1)
        return str(rows[0]["value"]) if rows else ""

    @mapping_errors
    async def data_version(self) -> int:
        """A count that moves when another process (on any machine) added or deleted articles
        since the last call, as SQLite's ``data_version`` does: one small query. Our own writes
        do not move it unless another writer's change came before them."""

        def read() -> int:
            stamp = self._read_stamp()
            if stamp != self._stamp_seen and (stamp != self._own_stamp or self._foreign_change):
                self._version += 1
                self._foreign_change = False
            self._stamp_seen = stamp
            return self._version

        return await asyncio.to_thread(read)

    @mapping_errors
    async def recent(
        self, limit: int = 20, offset: int = 0, *, since: str | None = None, until: str | None = None
    ) -> list[ArticleInfo]:
        """The newest articles first by publication date (else the day each was added), only
        those dated from ``since`` to ``until`` if given. Milvus does not sort by an expression:
        the articles' metadata is read and sorted here (one pass over the ``articles`` rows)."""
        rows = await asyncio.to_thread(self._dated, since, until)
        rows.sort(key=lambda r: (_list_date(r), r["id"]), reverse=True)
        return await asyncio.to_thread(self._infos_of, rows[offset : offset + limit])

    @mapping_errors
    async def count_dated(self, *, since: str | None = None, until: str | None = None) -> int:
        return len(await asyncio.to_thread(self._dated, since, until))

    def _dated(self, since: str | None, until: str | None) -> list[dict]:
        """The articles' metadata rows whose list date falls from ``since`` to ``until``
        (``until`` takes its whole day, as in the SQLite store)."""
        rows = self.scan(self.articles, "", _INFO_FIELDS)
        return [
            r
            for r in rows
            if (since is None or _list_date(r) >= since) and (until is None or _list_date(r) < until + "~")
        ]

    @mapping_errors
    async def near_candidates(self, keys: Sequence[int]) -> list[CopyCandidate]:
        """The stored articles sharing a MinHash band key with ``keys`` (up to
        ``_NEAR_CANDIDATES``: those sharing most bands), in the order they were stored: one
        sparse search of the band keys, then the hits' rows (only committed articles count).
        Their ``order``: ``added``."""

        def read() -> list[CopyCandidate]:
            found = self.client.search(
                self.stories,
                data=[_band_vector(keys)],
                anns_field="keys",
                limit=_NEAR_CANDIDATES,
                output_fields=["article_id", "story"],
                search_params={"metric_type": "IP"},
                consistency_level=CONSISTENCY,
            )
            # a hit shares a band (a score above 0); a server may fill up the limit with others
            stories = {
                int(h["entity"]["article_id"]): int(h["entity"]["story"])
                for h in found[0]
                if abs(float(h["distance"])) > 0
            }
            rows = self._article_rows(stories, ["id", "added", "published", "text"])
            return sorted(
                (_candidate(r, stories[int(r["id"])]) for r in rows), key=lambda c: (c.order, c.article_id)
            )

        return await asyncio.to_thread(read) if keys else []

    @mapping_errors
    async def articles_without_near_keys(self, after: int, limit: int) -> list[CopyCandidate]:
        """Up to ``limit`` articles without band keys (no ``stories`` row: stored by a newsbot
        that kept none in Milvus, or copied from a library that had not looked for their
        copies), in the order they were stored (``added``: their ``order``) from after
        ``after``. Milvus cannot sort a query, so the first call reads the order of every
        article after ``after`` (one pass over ``articles``); a call that goes on from where the
        last ended takes the next ones from that, and the pass is read again (for articles
        stored meanwhile) once they are all taken."""
        return await asyncio.to_thread(self._unchecked, after, limit)

    def _unchecked(self, after: int, limit: int) -> list[CopyCandidate]:
        queue = self._unchecked_queue
        if queue is None or queue[0] != after:
            rows = self.scan(self.articles, f"added > {int(after)}", ["id", "added"])
            order = sorted((int(r["added"]), int(r["id"])) for r in rows)
            checked = self._stories_of(i for _, i in order)
            queue = (after, [(added, i) for added, i in order if i not in checked])
        pending = queue[1]
        found: list[CopyCandidate] = []
        while pending and not found:  # articles completed meanwhile (another backfill) are passed
            taken, pending = pending[:limit], pending[limit:]
            ids = [i for _, i in taken]
            done = self._stories_of(ids)
            rows = self._article_rows(ids, ["id", "added", "published", "text"])
            found = sorted(
                (_candidate(r, int(r["id"])) for r in rows if int(r["id"]) not in done),
                key=lambda c: (c.order, c.article_id),
            )
        self._unchecked_queue = (found[-1].order, pending) if found and pending else None
        return found

    @mapping_errors
    async def ids_without_near_keys(self) -> set[int]:
        """Every article's id less those with a ``stories`` row: one pass over each (ids only)."""

        def read() -> set[int]:
            checked = {int(r["article_id"]) for r in self.scan(self.stories, "", ["article_id"])}
            return {int(r["id"]) for r in self.scan(self.articles, "", ["id"])} - checked

        return await asyncio.to_thread(read)

    @mapping_errors
    async def count_without_near_keys(self) -> int:
        """Every article less those with a ``stories`` row: two counts, exact unless a writer is
        between its batch's band keys and its articles' rows."""

        def read() -> int:
            return max(0, self.count(self.articles) - self.count(self.stories))

        return await asyncio.to_thread(read)

    @mapping_errors
    async def complete_article(
        self, article_id: int, keys: Sequence[int], *, copy_of: int | None, published: str | None
    ) -> None:
        """Give an article stored without band keys its keys, its story (a story it has already
        is kept) and its date (None: keep its own). The date first, by a partial update of its
        row (which fails rather than make a row again for an article deleted meanwhile), the
        ``stories`` row last: it marks the article complete, so a run killed between the two
        does this article again. An article deleted meanwhile gets nothing."""

        def complete() -> None:
            from pymilvus.exceptions import MilvusException

            if not self._article_rows([article_id], ["id"]):
                return
            if published is not None:
                row = {"id": article_id, "published": clip(published, 64)}
                try:
                    self.client.upsert(self.articles, [row], partial_update=True)
                except MilvusException:
                    if self._article_rows([article_id], ["id"]):
                        raise
                    return  # deleted meanwhile
            story = self._stories_of([article_id]).get(article_id)
            if story is None:
                story = article_id if copy_of is None else copy_of
            self._write_stories([{"article_id": article_id, "story": story, "keys": _band_vector(keys)}])
            if self._deleting(article_id):  # deleted while its keys were written: none stay
                self.client.delete(self.stories, ids=[article_id])

        async with self.write_lock:
            await asyncio.to_thread(complete)

    def _deleting(self, article_id: int) -> bool:
        """Whether this article is gone or being deleted (by any writer)."""
        claims = self.query(self.journal, f'kind == "delete" and article_id == {article_id}', ["pk"], limit=1)
        return bool(claims) or not self._article_rows([article_id], ["id"])

    @mapping_errors
    async def stats(self) -> LibraryStats:
        def read() -> LibraryStats:
            languages = self.language_sizes_now()
            ordered = tuple(sorted(languages.items(), key=lambda item: -item[1]))
            size = 0
            if "://" not in self.uri and Path(self.uri).exists():
                size = sum(p.stat().st_size for p in Path(self.uri).rglob("*") if p.is_file())
            return LibraryStats(
                self.count(self.articles),
                self.count(self.sentences),
                self.count(self.chunks),
                ordered,
                size,
            )

        return await asyncio.to_thread(read)

    def language_sizes_now(self) -> dict[str, int]:
        """Articles per language (blocking)."""
        langs = [r["value"] for r in self.query(self.journal, 'kind == "lang"', ["value"])]
        sizes = {lang: self.count(self.articles, f"lang == {quoted(lang)}") for lang in langs}
        return {lang: n for lang, n in sizes.items() if n}

    @mapping_errors
    async def language_sizes(self) -> dict[str, int]:
        return await asyncio.to_thread(self.language_sizes_now)

    @mapping_errors
    async def chunk_count(self) -> int:
        return await asyncio.to_thread(self.count, self.chunks)

    @mapping_errors
    async def stored_ids(self, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` whose article is stored (committed: its row is there)."""

        def read() -> set[int]:
            return {int(r["id"]) for r in self._article_rows(ids, ["id"])}

        return await asyncio.to_thread(read)

    @mapping_errors
    async def article_hashes(self) -> dict[int, str]:
        """Article id -> content hash, for every stored article, in the order they were stored."""

        def read() -> dict[int, str]:
            rows = self.scan(self.articles, "", ["id", "content_hash", "added"])
            return {
                int(r["id"]): r["content_hash"] for r in sorted(rows, key=lambda r: (r["added"], r["id"]))
            }

        return await asyncio.to_thread(read)

    @mapping_errors
    async def load_library(
        self, known: Mapping[int, str]
    ) -> tuple[dict[int, tuple[ArticleInfo, str]], list[IndexedArticle]]:
        """Every article's info and text by id; and, for the articles ``known`` (id -> content
        hash) does not hold, their spans and vectors too (articles whose rows are not all there,
        a writer's unfinished batch, are left out of both). In the order they were added, as
        SQLite gives them: the index reads some things in that order (the first chunks holding a
        word tell how the library writes it), so a copied library answers as its original."""

        def read() -> tuple[dict[int, tuple[ArticleInfo, str]], list[IndexedArticle]]:
            rows = sorted(
                self.scan(self.articles, "", [*_INFO_FIELDS, "text"]), key=lambda r: (r["added"], r["id"])
            )
            wanted = [int(r["id"]) for r in rows if known.get(int(r["id"])) != r["content_hash"]]
            loaded = self.load_articles_now(wanted)
            missing = set(wanted) - {a.info.id for a in loaded}
            kept = [r for r in rows if int(r["id"]) not in missing]
            current = {
                info.id: (info, "".join(r["text"]))
                for info, r in zip(self._infos_of(kept), kept, strict=True)
            }
            return current, loaded

        return await asyncio.to_thread(read)

    @mapping_errors
    async def load_articles(self, ids: Sequence[int]) -> list[IndexedArticle]:
        """These articles (those stored whole) with their spans and vectors, in ``ids``' order."""
        return await asyncio.to_thread(self.load_articles_now, ids)

    def load_articles_now(self, ids: Sequence[int]) -> list[IndexedArticle]:
        found: dict[int, IndexedArticle] = {}
        for part in batches(list(dict.fromkeys(int(i) for i in ids)), IDS_PER_QUERY):
            rows = self.query(self.articles, in_filter("id", part), [*_INFO_FIELDS, "text"])
            if not rows:
                continue
            held = [int(r["id"]) for r in rows]
            stories = self._stories_of(held)
            sentences = _grouped(
                self._rows_of(self.sentences, held, ["article_id", "idx", "start", "end", "vector"])
            )
            chunks = _grouped(
                self._rows_of(self.chunks, held, ["article_id", "idx", "first", "last", "vector"])
            )
            for row in rows:
                article_id = int(row["id"])
                s, c = sentences.get(article_id, []), chunks.get(article_id, [])
                if len(s) != row["sentence_count"] or len(c) != row["chunk_count"]:
                    log.warning(
                        "article %s has %d of %d sentences and %d of %d chunks in Milvus: skipped",
                        row["ref"],
                        len(s),
                        row["sentence_count"],
                        len(c),
                        row["chunk_count"],
                    )
                    continue
                found[article_id] = IndexedArticle.from_spans(
                    _info(row, stories.get(article_id)),
                    "".join(row["text"]),
                    [(r["start"], r["end"]) for r in s],
                    [(r["first"], r["last"]) for r in c],
                    _vectors(s, self.dim),
                    _vectors(c, self.dim),
                )
        return [found[i] for i in ids if i in found]

    def _rows_of(self, collection: str, article_ids: list[int], fields: list[str]) -> list[dict]:
        """Every row of these articles (several queries when they hold more than one query's
        limit)."""
        rows: list[dict] = []
        for part in batches(article_ids, IDS_PER_QUERY):
            got = self.query(collection, in_filter("article_id", part), fields)
            if len(got) >= _QUERY_ROWS:
                got = list(self.scan(collection, in_filter("article_id", part), fields))
            rows += got
        return rows

    # -- searching ----------------------------------------------------------------------------

    @mapping_errors
    async def search(
        self, vector: np.ndarray, terms: Sequence[str], *, k: int, languages: Iterable[str]
    ) -> list[ChunkHit]:
        """The best ``k`` chunks and sentences by dense similarity in each language (the answer
        subtracts a per-language baseline, so each language brings its own candidates) and the
        best ``k`` chunks by BM25 over ``terms``."""
        return await asyncio.to_thread(self.search_now, vector, terms, k, list(languages))

    def search_now(
        self, vector: np.ndarray, terms: Sequence[str], k: int, languages: list[str]
    ) -> list[ChunkHit]:
        query = [np.asarray(vector, np.float32).tolist()]
        hits: list[ChunkHit] = []
        for lang in languages:
            where = f"lang == {quoted(lang)}"
            for collection, via in ((self.chunks, "dense"), (self.sentences, "sentence")):
                found = self.client.search(
                    collection,
                    data=query,
                    anns_field="vector",
                    limit=k,
                    filter=where,
                    output_fields=["article_id", "idx"],
                    search_params=self._dense_params(k),
                    consistency_level=CONSISTENCY,
                )
                hits += [
                    ChunkHit(
                        int(h["entity"]["article_id"]), int(h["entity"]["idx"]), float(h["distance"]), via
                    )
                    for h in found[0]
                ]
        if terms:
            found = self.client.search(
                self.chunks,
                data=[" ".join(terms)],
                anns_field="sparse",
                limit=k,
                output_fields=["article_id", "idx"],
                search_params={"metric_type": "BM25"},
                consistency_level=CONSISTENCY,
            )
            # milvus-lite reports BM25 as a distance (minus the score), a server as the score
            hits += [
                ChunkHit(
                    int(h["entity"]["article_id"]), int(h["entity"]["idx"]), abs(float(h["distance"])), "bm25"
                )
                for h in found[0]
            ]
        return hits

    def _dense_params(self, k: int) -> dict:
        if self.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self.ef, k)}}
        return {"metric_type": "IP"}

    @mapping_errors
    async def term_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks of the whole library hold each term (BM25's document frequency):
        the hits of a BM25 search for the term alone (every chunk holding it scores above 0),
        up to ``_QUERY_ROWS``. A BM25 search reads the sparse inverted index; a ``TEXT_MATCH``
        filter would do too on a Milvus server, but milvus-lite scans every row for it (2-3 s
        a term at 10k articles, against 20-200 ms)."""

        def read() -> dict[str, int]:
            return {t: len(self._term_holders(t, _QUERY_ROWS, [])) for t in dict.fromkeys(terms)}

        return await asyncio.to_thread(read)

    @mapping_errors
    async def term_passages(self, terms: Iterable[str], per_term: int) -> dict[str, list[str]]:
        """Up to ``per_term`` passages (each chunk's text, then its article's title) holding each
        term, those BM25 scores highest first: what ``retrieval.corpus.written_form_of`` reads to
        learn how the library writes it."""

        def read() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for term in dict.fromkeys(terms):
                rows = self._term_holders(term, per_term, ["article_id", "text"])
                titles = {i.id: i.title or "" for i in self._infos([int(r["article_id"]) for r in rows])}
                out[term] = [p for r in rows for p in (titles.get(int(r["article_id"]), ""), r["text"])]
            return out

        return await asyncio.to_thread(read)

    def _term_holders(self, term: str, limit: int, fields: list[str]) -> list[dict]:
        """Up to ``limit`` chunks holding ``term`` (their ``fields``), by BM25 for it alone."""
        found = self.client.search(
            self.chunks,
            data=[term],
            anns_field="sparse",
            limit=limit,
            output_fields=fields,
            search_params={"metric_type": "BM25"},
            consistency_level=CONSISTENCY,
        )
        return [h["entity"] for h in found[0]]

    @mapping_errors
    async def sample(self, target: int) -> list[IndexedArticle]:
        """About ``target`` articles drawn uniformly (the lowest buckets of their ids' hash): the
        same articles in every process, and mostly the same as the library grows."""

        def read() -> list[IndexedArticle]:
            total = self.count(self.articles)
            if not total:
                return []
            buckets = min(SAMPLE_BUCKETS, max(1, -(-target * SAMPLE_BUCKETS // total)))
            ids = [int(r["id"]) for r in self.scan(self.articles, f"bucket < {buckets}", ["id"])]
            return self.load_articles_now(sorted(ids))

        return await asyncio.to_thread(read)


_INFO_FIELDS = [
    "id",
    "ref",
    "title",
    "outlet",
    "author",
    "published",
    "url",
    "source",
    "lang",
    "added_at",
    "added",
    "content_hash",
    "sentence_count",
    "chunk_count",
]


@contextlib.contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Without ``logger_name``'s records below CRITICAL for a moment: milvus-lite logs tracebacks
    as ERRORs that newsbot reports in its own words (a library another process holds) or that
    are no error (its gRPC server, asked for a timestamp it does not implement while a collection
    is created; pymilvus goes on without one), which would print on a command's stderr."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


# BM25's parameters, the embedded index's (``retrieval/config.py``).
BM25_PARAMS = {"bm25_k1": DEFAULT_CONFIG.bm25_k1, "bm25_b": DEFAULT_CONFIG.bm25_b}


def bm25_function(text_field: str, sparse_field: str) -> Any:
    """Milvus's BM25 function: ``text_field`` through its analyzer into ``sparse_field``."""
    from pymilvus import Function, FunctionType

    return Function(
        name="bm25",
        function_type=FunctionType.BM25,
        input_field_names=[text_field],
        output_field_names=[sparse_field],
    )


def _created_by_another(client: Any, name: str, seconds: float = 10.0) -> bool:
    """Whether collection ``name`` exists, or comes to within ``seconds``: a milvus-lite server
    refuses a second creation with "File exists" while the first is still being made (two
    importers starting at once), before the collection is listed."""
    deadline = time.monotonic() + seconds
    while not client.has_collection(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _connect(uri: str, token: str | None) -> Any:
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    try:
        # milvus-lite's in-process server refuses the client's default pings every 10 s when idle
        # ("too_many_pings", logged by gRPC on stderr); a server or cluster keeps the defaults.
        rare_pings = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}
        options = {} if "://" in uri else {"grpc_options": rare_pings}
        with quiet("milvus_lite.server_manager"):
            return MilvusClient(uri, token=token or "", timeout=10, **options)
    except MilvusException as error:
        local = "://" not in uri
        hint = (
            " (milvus-lite lets one process open a library file: another newsbot may hold it; serve it"
            f" with `milvus-lite server --data-dir {uri}` and point NEWSBOT_MILVUS_URI at http://host:19530)"
            if local
            else ""
        )
        raise MilvusUnavailable(f"cannot open the Milvus library at {uri}: {error.message}{hint}") from error


def _list_date(row: Mapping[str, Any]) -> str:
    """An article's date in lists: its publication date, else the moment it was added."""
    return str(row.get("published") or row.get("added_at") or "")


def _info(row: Mapping[str, Any], story: int | None) -> ArticleInfo:
    """An ``articles`` row's info; ``story``: its ``stories`` row's (None: it has none)."""
    return ArticleInfo(
        id=int(row["id"]),
        ref=row["ref"],
        title=row.get("title"),
        outlet=row.get("outlet"),
        author=row.get("author"),
        published=row.get("published"),
        url=row.get("url"),
        lang=row["lang"],
        added_at=row.get("added_at"),
        content_hash=row.get("content_hash"),
        sentence_count=int(row.get("sentence_count") or 0),
        copy_of=story if story is not None and story != int(row["id"]) else None,
        source=row.get("source"),
    )


def _candidate(row: Mapping[str, Any], story: int) -> CopyCandidate:
    return CopyCandidate(
        int(row["id"]), story, row.get("published"), "".join(row["text"]), order=int(row["added"])
    )


def _band_vector(keys: Iterable[int]) -> dict[int, float]:
    """MinHash band keys as a sparse vector: one dimension per key (a signed 64-bit key folded
    into Milvus's 32-bit dimensions; two keys meeting by chance add a candidate that the exact
    similarity then turns down), so a vector's product with another counts their shared bands."""
    return {int(key) % _BAND_DIMENSIONS: 1.0 for key in keys}


def _stories_of_batch(batch: Sequence[NewArticle], ids: Sequence[int]) -> list[int | None]:
    """Each article's story (``NewArticle.copy_of``, or the story of the article of the batch it
    copies, or its own id), None for one without a fingerprint: its copies were not looked for,
    and it has no ``stories`` row."""
    stories: list[int | None] = []
    for new, article_id in zip(batch, ids, strict=True):
        if new.fingerprint is None:
            if new.copy_of is not None or new.copy_of_position is not None:
                raise ValueError("a copy needs its fingerprint: Milvus keeps its story with its band keys")
            stories.append(None)
        elif new.copy_of_position is not None:
            stories.append(stories[new.copy_of_position] or ids[new.copy_of_position])
        else:
            stories.append(article_id if new.copy_of is None else new.copy_of)
    return stories


def _microseconds(added_at: str) -> int:
    """An ISO date-time (UTC when it names no zone) in whole seconds, as microseconds."""
    try:
        moment = datetime.fromisoformat(added_at)
    except ValueError as error:
        raise ValueError(f"the time an article was added is not an ISO date-time: {added_at!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


def _article_row(new: NewArticle, article_id: int, ref: str, added: int, now: float, position: int) -> dict:
    p = new.prepared
    text = p.text
    parts = [text[i : i + _TEXT_PART_CHARS] for i in range(0, len(text), _TEXT_PART_CHARS)] or [""]
    if len(parts) > 4096:
        raise ArticleRefused(
            position, None, f"the text is longer than {4096 * _TEXT_PART_CHARS:,} characters"
        )
    return {
        "id": article_id,
        "ref": ref,
        "ref_key": ref_key(ref),
        "title": clip(p.meta.title, 8192),
        "outlet": clip(p.meta.outlet, 1024),
        "author": clip(p.meta.author, 1024),
        "published": clip(p.meta.published, 64),
        "url": p.meta.url,
        "source": clip(new.source, 1024),
        "lang": p.lang,
        "content_hash": p.content_hash,
        "added_at": new.added_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "added": added,
        "bucket": article_id % SAMPLE_BUCKETS,
        "sentence_count": len(p.sentences),
        "chunk_count": len(p.chunks),
        "text": parts,
        "v": [0.0, 0.0],
    }


def _sentence_rows(new: NewArticle, article_id: int) -> list[dict]:
    lang = new.prepared.lang
    return [
        {
            "pk": f"{article_id}:{i}",
            "article_id": article_id,
            "idx": i,
            "start": s.start,
            "end": s.end,
            "lang": lang,
            "vector": np.asarray(v, np.float32).tolist(),
        }
        for i, (s, v) in enumerate(zip(new.prepared.sentences, new.sentence_vectors, strict=True))
    ]


def _chunk_rows(new: NewArticle, article_id: int) -> list[dict]:
    p = new.prepared
    return [
        {
            "pk": f"{article_id}:{i}",
            "article_id": article_id,
            "idx": i,
            "first": c.first,
            "last": c.last,
            "lang": p.lang,
            "text": clip(p.text[p.sentences[c.first].start : p.sentences[c.last - 1].end], 65535),
            "terms": clip(chunk_terms(p.meta.title, c.text), 65535),
            "vector": np.asarray(v, np.float32).tolist(),
        }
        for i, (c, v) in enumerate(zip(p.chunks, new.chunk_vectors, strict=True))
    ]


def _grouped(rows: list[dict]) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(int(row["article_id"]), []).append(row)
    for group in grouped.values():
        group.sort(key=lambda r: r["idx"])
    return grouped


def _vectors(rows: list[dict], dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), np.float32)
    return np.asarray([r["vector"] for r in rows], np.float32)
