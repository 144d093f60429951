"""The async face of newsbot's core, shared by the CLI and the Telegram bot.

It owns the store (SQLite), the encoder and the in-memory index, and keeps blocking CPU work
(cleaning, embedding, index building, scoring) off the event loop in a thread pool of its own,
so an admin's import never freezes answers in other chats. The pool has one thread per core:
the load test measured that more threads (asyncio's default pool has cores + 4) only
oversubscribe the CPU and make the event loop wait longer (longest stall ~50-70 ms -> ~15 ms).
Writers are serialized by a lock; readers never wait for them: each answer runs against the
index snapshot current when it began.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fetch import fetch_article, too_large
from index import snapshot
from index.errors import ArticleRefused, DatabaseUnavailable, WriteFailed
from index.store import LibraryStats, NewArticle, Store, nocase
from jsonl import jsonl_lines, load_json_line, not_text
from retrieval.answer import answer, prepared_question
from retrieval.bm25 import LexicalIndex
from retrieval.cleaning import clean_html, clean_text
from retrieval.config import DEFAULT_CONFIG, RetrievalConfig
from retrieval.corpus import CorpusIndex, IndexState
from retrieval.encoder import Encoder, load_encoder
from retrieval.errors import ArticleRejected, BadQuestion, DuplicateArticle, ModelNotLoaded, NewsbotError
from retrieval.prepare import canonical_url, external_id, normalize_language, prepare_article
from retrieval.questions import has_content
from retrieval.types import Answer, ArticleInfo, ArticleMeta, CleanedArticle, IndexedArticle, PreparedArticle
from retrieval.uploads import HTML_SUFFIXES, decode_upload
from settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}


@dataclass(frozen=True, slots=True)
class ImportSummary:
    stored: int
    skipped: dict[str, int]  # lines skipped, by ``ArticleRejected.reason``
    chunks: int
    sentences: int
    seconds: float
    # Why each skipped line was skipped, in file order: "line 9: same URL as line 3".
    problems: tuple[str, ...] = ()

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One JSONL line: ``{"id","title","text"}`` plus optional lang, source, url, published, author."""

    ref: str
    text: str
    meta: ArticleMeta
    lang: str | None  # an ISO 639-1 code, None to detect it from the text
    source: str | None


@dataclass(frozen=True, slots=True)
class _Ready:
    """A prepared import line waiting for its batch to be embedded and stored."""

    line: int
    prepared: PreparedArticle
    ref: str
    source: str | None


class ImportFailed(NewsbotError):
    """The database failed while storing an import batch (not a problem of one line): the lines
    stored before it stay stored, and a re-run continues from there."""


class Library:
    # The index is saved beside the database at close when this many articles (and this share
    # of the library) were added or removed since the saved copy: a few changes are cheaper to
    # re-read from SQLite at the next start than to rewrite every vector.
    SNAPSHOT_MIN_CHANGES = 200
    SNAPSHOT_MIN_SHARE = 0.05

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        index: CorpusIndex,
        settings: Settings,
        *,
        unsaved: int = 0,
        data_version: int = 0,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self._index = index
        self._write_lock = asyncio.Lock()
        self._snapshot_lock = asyncio.Lock()  # one snapshot written at a time
        # Seconds from an article's embeddings to it being answerable (store + publish), last add.
        self.last_publish_seconds = 0.0
        # Articles added or removed since the saved snapshot of the index (all of them if none).
        self._unsaved = unsaved
        self._data_version = data_version  # the database as of the index (see ``refresh``)
        self._watcher: asyncio.Task[None] | None = None
        self._cpu = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="newsbot-cpu")

    @classmethod
    async def open(
        cls, settings: Settings, *, encoder: Encoder | None = None, config: RetrievalConfig = DEFAULT_CONFIG
    ) -> Library:
        # The model loads in one thread while the library loads in others: start-up is the
        # slower of the two, not their sum (the model's dimension is not needed for a library
        # that already has vectors; a mismatched model is still refused before anything is served).
        loading = asyncio.ensure_future(asyncio.to_thread(_load_model, settings)) if encoder is None else None
        store = await Store.open(settings.db)
        try:
            saved = await asyncio.to_thread(
                snapshot.load,
                snapshot.snapshot_dir(settings.db),
                k1=config.bm25_k1,
                b=config.bm25_b,
                term_candidates=LexicalIndex.TERM_CANDIDATES,
            )
            known = {} if saved is None else _live_hashes(saved)
            data_version = await store.data_version()  # before reading: a later change is seen
            current, unknown = await store.load_library(known)
            building = asyncio.ensure_future(asyncio.to_thread(_assemble, saved, current, unknown, config))
            if loading is not None:
                encoder = await loading
            assert encoder is not None
            await store.check_encoder(encoder.identity)
            index, unsaved = await building
            if index is None:
                index = CorpusIndex([], config, dim=encoder.identity.dim)
        except BaseException:
            await store.close()
            raise
        return cls(store, encoder, index, settings, unsaved=unsaved, data_version=data_version)

    async def close(self) -> None:
        self.stop_watching()
        try:
            enough = max(self.SNAPSHOT_MIN_CHANGES, self.SNAPSHOT_MIN_SHARE * len(self._index))
            if self._unsaved >= enough and len(self._index):
                await self.save_snapshot()
        except OSError as error:  # only start-up speed is lost: the database has everything
            log.warning("could not save the index beside the database: %s", error)
        finally:
            await self.store.close()
            self._cpu.shutdown(wait=False, cancel_futures=True)

    async def refresh(self) -> tuple[int, int]:
        """Take in what other processes changed in the database (an admin's ``newsbot import``
        while the bot runs): (articles added, articles removed). Costs one cheap query when
        nothing changed; our own writes never count (SQLite's ``data_version`` only moves for
        other connections' commits)."""
        version = await self.store.data_version()
        if version == self._data_version:
            return 0, 0
        async with self._write_lock:
            self._data_version = version
            stored = await self.store.article_hashes()
            held = {a.info.id: a.info.content_hash for a in self._index.articles}
            removed = {i for i, h in held.items() if stored.get(i) != h}
            loaded = await self.store.load_articles([i for i, h in stored.items() if held.get(i) != h])
            if removed or loaded:
                index = self._index
                self._index = await self._cpu_bound(
                    lambda: index.without_articles(removed).with_articles(loaded)
                )
                self._unsaved += len(removed) + len(loaded)
        return len(loaded), len(removed)

    def watch(self, every: float) -> None:
        """Call ``refresh`` every ``every`` seconds until ``stop_watching`` or ``close``."""
        self.stop_watching()

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    added, removed = await self.refresh()
                except Exception:
                    log.exception("could not take in changes made by another process")
                    continue
                if added or removed:
                    log.info("took in %d added and %d removed articles from the database", added, removed)

        self._watcher = asyncio.create_task(loop(), name="newsbot-refresh")

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def save_snapshot(self) -> None:
        """Save the index beside the database, so the next start maps it instead of rebuilding.

        The index is immutable, so adds and deletes go on while it is written (a large library
        takes seconds); the changes they make still count as unsaved afterwards."""
        async with self._snapshot_lock:
            index, pending = self._index, self._unsaved
            await self._cpu_bound(
                lambda: snapshot.save(snapshot.snapshot_dir(self.settings.db), index.state())
            )
            self._unsaved -= pending

    async def _cpu_bound(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu, functools.partial(fn, *args, **kwargs))

    @property
    def index(self) -> CorpusIndex:
        return self._index

    # -- asking -------------------------------------------------------------------------------

    async def ask(self, question: str, *, context: str | None = None) -> Answer:
        """Answer ``question``; ``context`` is the earlier question of a follow-up."""
        started = time.perf_counter()
        question = " ".join(question.split())
        if not question:
            raise BadQuestion("ask a question, e.g. “what did Xi's letter say?”")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise BadQuestion(
                f"that question is {len(question):,} characters long; please keep it under {limit:,}"
            )
        query = f"{context.strip()} {question}" if context else question
        index = self._index
        answer = await self._cpu_bound(self._answer, index, query)
        took = (time.perf_counter() - started) * 1000
        return replace(answer, question=question, took_ms=took)

    def _answer(self, index: CorpusIndex, query: str) -> Answer:
        if not len(index) or not has_content(query):
            return answer(index, query, np.zeros(index.dim, np.float32))
        text = prepared_question(index, query)
        vector = self.encoder.encode_queries([text])[0]
        return answer(index, text, vector, self.encoder.encode_passages, asked=query)

    # -- adding -------------------------------------------------------------------------------

    async def add_text(
        self,
        raw: str,
        *,
        url: str | None = None,
        is_html: bool = False,
        markdown: bool = False,
        title: str | None = None,
    ) -> ArticleInfo:
        """``title``, the user's, wins over any the text gives (see ``clean_text``)."""
        if is_html:
            cleaned = await self._cpu_bound(clean_html, raw, url=url, title=title)
        else:
            cleaned = await self._cpu_bound(clean_text, raw, url=url, markdown=markdown, title=title)
        return await self._add_cleaned(cleaned)

    async def add_upload(self, data: bytes, filename: str | None, *, title: str | None = None) -> ArticleInfo:
        limit = self.settings.max_upload_bytes
        if len(data) > limit:
            raise too_large(filename or "the file", len(data), limit)
        suffix = Path(filename or "").suffix.lower()
        if suffix not in HTML_SUFFIXES | TEXT_SUFFIXES:
            raise ArticleRejected("bad_input", f"{filename}: send a .txt, .md or .html file")
        text = decode_upload(data, filename)
        return await self.add_text(
            text, is_html=suffix in HTML_SUFFIXES, markdown=suffix in MARKDOWN_SUFFIXES, title=title
        )

    async def add_url(self, url: str) -> ArticleInfo:
        duplicate = await self.store.find_duplicate(text_hash=None, url=canonical_url(url), ref=None)
        if duplicate:
            raise DuplicateArticle(duplicate.ref, duplicate.title)
        page = await fetch_article(
            url,
            max_bytes=self.settings.max_upload_bytes,
            timeout=self.settings.fetch_timeout,
            allow_private=self.settings.allow_private_hosts,
        )
        return await self.add_text(
            page.text, url=page.final_url, is_html=page.is_html, markdown=page.is_markdown
        )

    async def _add_cleaned(self, cleaned: CleanedArticle) -> ArticleInfo:
        if cleaned.meta.url:  # a link from front matter or the page: one form per article
            cleaned = replace(cleaned, meta=replace(cleaned.meta, url=canonical_url(cleaned.meta.url)))
        prepared = await self._cpu_bound(prepare_article, cleaned, self._index.config)
        async with self._write_lock:
            await self._refuse_duplicate(prepared)
            new = await self._cpu_bound(self._embed, [(prepared, None, None)])
            embedded = time.perf_counter()
            (info,) = await self.store.add_articles(new)
            await self._publish([info], new)
            self.last_publish_seconds = time.perf_counter() - embedded
        return info

    async def _refuse_duplicate(self, prepared: PreparedArticle) -> None:
        duplicate = await self.store.find_duplicate(
            text_hash=prepared.content_hash, url=prepared.meta.url, ref=None
        )
        if duplicate:
            raise DuplicateArticle(duplicate.ref, duplicate.title)

    def _embed(self, batch: list[tuple[PreparedArticle, str | None, str | None]]) -> list[NewArticle]:
        """One encoder call for every sentence and chunk of the batch (bigger batches, less overhead)."""
        texts = [s.text for p, _, _ in batch for s in p.sentences] + [
            c.text for p, _, _ in batch for c in p.chunks
        ]
        vectors = self.encoder.encode_passages(texts)
        n_sentences = sum(len(p.sentences) for p, _, _ in batch)
        sentence_vectors, chunk_vectors = vectors[:n_sentences], vectors[n_sentences:]
        out, s_at, c_at = [], 0, 0
        for prepared, ref, source in batch:
            ns, nc = len(prepared.sentences), len(prepared.chunks)
            out.append(
                NewArticle(
                    prepared, sentence_vectors[s_at : s_at + ns], chunk_vectors[c_at : c_at + nc], ref, source
                )
            )
            s_at, c_at = s_at + ns, c_at + nc
        return out

    async def _publish(self, infos: list[ArticleInfo], new: list[NewArticle]) -> None:
        indexed = [
            IndexedArticle.from_spans(
                info,
                n.prepared.text,
                [(s.start, s.end) for s in n.prepared.sentences],
                [(c.first, c.last) for c in n.prepared.chunks],
                n.sentence_vectors,
                n.chunk_vectors,
            )
            for info, n in zip(infos, new, strict=True)
        ]
        self._index = await self._cpu_bound(self._index.with_articles, indexed)
        self._unsaved += len(indexed)

    # -- bulk import ----------------------------------------------------------------------------

    async def import_jsonl(
        self, path: Path, *, batch_size: int = 32, on_progress: Callable[[int, int], None] | None = None
    ) -> ImportSummary:
        """Import a JSONL archive in batches, one transaction each; re-running skips what is stored.

        A line is skipped, with its reason in ``ImportSummary.problems``, when it is malformed, or
        has the text, the URL or the id (ignoring case) of an earlier line or of a stored article.
        An id is kept as given, also one of the automatic form (``a7``: later automatic refs then
        go past it), so an archive may bring back the id of an article deleted earlier. If the
        database refuses an article of a batch anyway (another process stored the same article
        meanwhile), the rest of the batch is stored without it; any other database failure raises
        ``ImportFailed``, with the earlier batches kept.

        Pipelined: while one batch is being embedded and stored, the next is cleaned and split,
        so the import runs at close to the encoder's own speed (``benchmarks/bench.py``
        measures the ratio). Batches still commit one after another, in file order."""
        started = time.perf_counter()
        lines = jsonl_lines(path)
        skipped: Counter[str] = Counter()
        problems: list[tuple[int, str]] = []
        stored = chunks = sentences = 0
        batch: list[_Ready] = []
        # The line that first had each text, URL and id: the batch being stored is not in the
        # store yet, so duplicates within the file are caught here.
        seen_texts: dict[str, int] = {}
        seen_urls: dict[str, int] = {}
        seen_ids: dict[str, int] = {}
        stored_ids = await self.store.refs_in_use()
        storing: asyncio.Task[None] | None = None

        def skip(line: int, rejected: ArticleRejected) -> None:
            skipped[rejected.reason] += 1
            problems.append((line, str(rejected)))

        async def store(ready: list[_Ready]) -> None:
            nonlocal stored, chunks, sentences
            async with self._write_lock:
                new = await self._cpu_bound(self._embed, [(r.prepared, r.ref, r.source) for r in ready])
                while new:
                    try:
                        infos = await self.store.add_articles(new)
                    except ArticleRefused as refused:  # nothing was stored: store the rest without it
                        line = ready.pop(refused.position)
                        del new[refused.position]
                        skip(line.line, _refusal(line, refused))
                        continue
                    except (WriteFailed, DatabaseUnavailable) as error:
                        raise ImportFailed(
                            f"lines {ready[0].line}-{ready[-1].line} could not be stored ({error}); "
                            "what earlier lines added is stored, and a re-run continues from there"
                        ) from error
                    await self._publish(infos, new)
                    break
            stored += len(new)
            chunks += sum(len(n.prepared.chunks) for n in new)
            sentences += sum(len(n.prepared.sentences) for n in new)

        async def flush() -> None:
            nonlocal storing
            if storing is not None:
                await storing
                storing = None
            if batch:
                storing = asyncio.create_task(store(list(batch)))
                batch.clear()

        async def admit(record: ImportRecord, number: int) -> _Ready:
            """The line prepared for storing, unless it repeats an earlier line or a stored article."""
            key = nocase(record.ref)
            # Checked before cleaning, so re-runs at scale skip stored lines quickly.
            _check_id(record.ref, number, stored_ids.get(key), seen_ids.get(key))
            size, limit = len(record.text.encode("utf-8")), self.settings.max_upload_bytes
            if size > limit:  # the cap of an upload: cleaning and embedding grow with the text
                raise too_large(f"line {number}: the text", size, limit)
            try:
                cleaned = await self._cpu_bound(clean_text, record.text, url=record.meta.url, archive=True)
                cleaned = CleanedArticle(cleaned.text, _merge_meta(record.meta, cleaned.meta))
                prepared = await self._cpu_bound(
                    prepare_article, cleaned, self._index.config, lang=record.lang
                )
            except ArticleRejected as rejected:
                raise ArticleRejected(rejected.reason, f"line {number}: {rejected}") from None
            url = prepared.meta.url
            if prepared.content_hash in seen_texts:
                earlier = seen_texts[prepared.content_hash]
                raise ArticleRejected("duplicate", f"line {number}: same text as line {earlier}")
            if url is not None and url in seen_urls:
                raise ArticleRejected("duplicate", f"line {number}: same URL as line {seen_urls[url]}")
            existing = await self.store.find_duplicate(
                text_hash=prepared.content_hash, url=url, ref=record.ref
            )
            if existing is not None:
                what = _duplicate_of(existing, prepared, record.ref)
                raise ArticleRejected("duplicate", f"line {number}: {what}")
            seen_texts[prepared.content_hash] = seen_ids[key] = number
            if url is not None:
                seen_urls[url] = number
            return _Ready(number, prepared, record.ref, record.source)

        try:
            for number, line in enumerate(lines, start=1):
                try:
                    record = parse_import_line(line, number)
                    if record is not None:
                        batch.append(await admit(record, number))
                except ArticleRejected as rejected:
                    skip(number, rejected)
                if len(batch) >= batch_size:
                    await flush()
                if on_progress:
                    on_progress(number, len(lines))
            await flush()
            await flush()  # the last batch, then wait for it
        finally:
            if storing is not None and not storing.done():
                storing.cancel()
        return ImportSummary(
            stored,
            dict(skipped),
            chunks,
            sentences,
            time.perf_counter() - started,
            tuple(message for _, message in sorted(problems, key=lambda p: p[0])),
        )

    # -- reading and deleting -------------------------------------------------------------------

    async def delete(self, ref: str) -> ArticleInfo:
        async with self._write_lock:
            info = await self.store.delete(ref)
            self._index = await self._cpu_bound(self._index.without_article, info.id)
            self._unsaved += 1
        return info

    async def article(self, ref: str) -> tuple[ArticleInfo, str]:
        return await self.store.article(ref)

    async def recent(self, limit: int = 10) -> list[ArticleInfo]:
        return await self.store.recent(limit)

    async def stats(self) -> LibraryStats:
        return await self.store.stats()


def _load_model(settings: Settings) -> Encoder:
    """The configured encoder, or ``ModelNotLoaded`` saying why in one line."""
    try:
        return load_encoder(
            settings.model,
            settings.model_cache,
            threads=settings.encoder_threads,
            backend=settings.encoder_backend,
        )
    except (OSError, ValueError, ImportError, RuntimeError) as error:  # not our own bugs
        model = settings.model
        if isinstance(error, OSError) and model != "bundled" and not Path(model).expanduser().exists():
            why = "no such folder, and no such model in the local Hugging Face cache"
            why += " (newsbot never downloads one)"
        else:
            why = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelNotLoaded(f"could not load the model {model} (NEWSBOT_MODEL): {why}") from error


def parse_import_line(line: str, number: int) -> ImportRecord | None:
    """Parse one JSONL line; blank lines are skipped, malformed ones rejected with the line number.

    The id must be a non-blank string (surrounding spaces are dropped, NFC-normalized, with no
    control, bidi or invisible characters: see ``external_id``) or an integer. ``title``,
    ``source``/``outlet``, ``author`` and ``published`` are text on one line (an integer, e.g. a
    year, is written out; a list of strings, e.g. several authors, is joined with ", "); any
    other value refuses the line rather than storing "{'x': 1}" or "nan". ``lang`` is
    normalized (``English``, ``en-US`` -> ``en``; ``Bahasa Indonesia``, ``ind`` -> ``id``; see
    ``normalize_language``); an unknown language (``xx``, ``und``) is detected from the text, as
    when none is given: the article is still worth keeping, and its language is what it is."""
    if not line.strip():
        return None
    try:
        obj = load_json_line(line)
    except ValueError as exc:
        raise ArticleRejected("bad_input", f"line {number}: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or obj.get("id") in (None, ""):
        raise ArticleRejected("bad_input", f'line {number}: needs at least "id" and "text"')
    if problem := not_text(obj, ("id", "text", *_META_KEYS)):
        raise ArticleRejected("bad_input", f"line {number}: {problem}")
    try:
        ref = external_id(obj["id"])
    except ValueError as exc:
        raise ArticleRejected("bad_input", f'line {number}: "id" {exc}') from None
    if ref is None and isinstance(obj["id"], str):
        raise ArticleRejected("bad_input", f'line {number}: "id" is blank')
    if ref is None:
        shown = _shown_json(obj["id"])
        raise ArticleRejected("bad_input", f'line {number}: "id" must be a string or an integer, not {shown}')

    def opt(key: str) -> str | None:
        value = obj.get(key)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ", ".join(item.strip() for item in value if item.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif value is not None and not isinstance(value, str):
            shown = _shown_json(value)
            raise ArticleRejected("bad_input", f'line {number}: "{key}" must be text, not {shown}')
        return _CONTROLS.sub("", " ".join(value.split())) or None if value is not None else None

    meta = ArticleMeta(
        title=opt("title"),
        outlet=opt("source") or opt("outlet"),
        author=opt("author"),
        published=opt("published"),
        url=canonical_url(url) if (url := opt("url")) else None,
    )
    return ImportRecord(ref, obj["text"], meta, normalize_language(obj.get("lang")), opt("source"))


def _shown_json(value: object) -> str:
    """A JSON value as a message shows it, in at most 40 characters."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        shown = "[[[..." if isinstance(value, list) else "{...}"
    return shown if len(shown) <= 40 else shown[:39] + "…"


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")  # what whitespace splitting leaves of them
_META_KEYS = ("title", "source", "outlet", "author", "published", "url")


def _titled(title: str | None) -> str:
    return f"“{title}”" if title else "an untitled article"


def _check_id(ref: str, number: int, stored: tuple[str, str | None] | None, seen: int | None) -> None:
    """Refuse an import id that a stored article or an earlier line already has (ignoring case).
    Any other id is kept as the article's ref, also one of the automatic form (``a7``): the store
    then numbers later automatic refs past it."""
    if stored is not None:
        stored_ref, title = stored
        by = _titled(title) if stored_ref == ref else f"{stored_ref} ({_titled(title)})"
        raise ArticleRejected("duplicate", f"line {number}: id {ref} is already used by {by}")
    if seen is not None:
        raise ArticleRejected("duplicate", f"line {number}: id {ref} is already used by line {seen}")


def _duplicate_of(existing: ArticleInfo, prepared: PreparedArticle, ref: str | None) -> str:
    """What a new article shares with the stored ``existing``, for a skipped line's message."""
    shown = f"{existing.ref} ({_titled(existing.title)})"
    if existing.content_hash == prepared.content_hash:
        return f"same text as {shown}, already in the library"
    if prepared.meta.url is not None and existing.url == prepared.meta.url:
        return f"same URL as {shown}, already in the library"
    return f"id {ref} is already used by {shown}"


def _refusal(ready: _Ready, refused: ArticleRefused) -> ArticleRejected:
    """A skipped line's rejection for an article the database refused while storing its batch."""
    if refused.existing is None:
        return ArticleRejected(refused.reason, f"line {ready.line}: {refused}")
    what = _duplicate_of(refused.existing, ready.prepared, ready.ref)
    return ArticleRejected("duplicate", f"line {ready.line}: {what} (stored while this import ran)")


def _merge_meta(given: ArticleMeta, found: ArticleMeta) -> ArticleMeta:
    """Fields given in the archive win; what cleaning found fills the gaps."""
    return ArticleMeta(
        title=given.title or found.title,
        outlet=given.outlet or found.outlet,
        author=given.author or found.author,
        published=given.published or found.published,
        url=given.url or found.url,
    )


def _live_hashes(state: IndexState) -> dict[int, str]:
    """Article id -> content hash of the articles a saved index holds."""
    ids = state.article_ids[state.alive].tolist()
    hashes = [h for h, alive in zip(state.content_hashes, state.alive.tolist(), strict=True) if alive]
    return dict(zip(ids, hashes, strict=True))


def _assemble(
    saved: IndexState | None,
    current: dict[int, tuple[ArticleInfo, str]],
    unknown: list[IndexedArticle],
    config: RetrievalConfig,
) -> tuple[CorpusIndex | None, int]:
    """(The index of the database's articles, how many of them the saved index lacked or held
    stale): the saved index with its stale slots dropped and the rest read from SQLite, or, with
    nothing saved, a build from SQLite alone (None for an empty library)."""
    if saved is None:
        if not unknown:
            return None, 0
        return CorpusIndex(unknown, config, dim=unknown[0].chunk_vectors.shape[1]), len(unknown)
    index = CorpusIndex.restore(saved, current, config)
    stale = int(saved.alive.sum()) - len(index)
    return index.with_articles(unknown), stale + len(unknown)
