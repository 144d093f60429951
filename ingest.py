"""Ingest: every way an article comes in, one flow to the library.

    text, a file, a URL, an archive's line
      -> read              retrieval/uploads.py (a file), fetch.py (a URL), jsonl.py (a line)
      -> clean             retrieval/cleaning.py: article text and the metadata found on the way
      -> prepare           retrieval/prepare.py: language, sentences, chunks, link, content hash;
                           retrieval/dates.py: the publication date, from metadata or the text
      -> duplicate policy  here: the text, link or id of a stored article (or an earlier line)
      -> embed             the encoder: one vector per sentence and per chunk, a batch at a time;
                           retrieval/near_duplicates.py: its MinHash, and the story it copies
      -> store             index/backend.py's store: an article or batch whole or not at all
      -> publish           the library's answerer (``Answerer.publish``): answerable from now on

``Library.add_text``, ``add_upload``, ``add_url`` and ``import_jsonl`` (the bot's /add, the CLI's
add and import) are this module's. Cleaning, preparing and embedding run in the library's thread
pool (``cpu``), never on the event loop; storing and publishing hold the library's write lock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeAlias

from fetch import fetch_article, too_large
from index.backend import LibraryStore, RunsCpu
from index.errors import ArticleRefused, DatabaseUnavailable, WriteFailed
from index.store import NewArticle, nocase
from jsonl import ImportRecord, Shard, jsonl_lines, parse_import_line
from retrieval.cleaning import clean_html, clean_text
from retrieval.config import RetrievalConfig
from retrieval.dates import with_publication_date
from retrieval.encoder import Encoder
from retrieval.errors import ArticleRejected, DuplicateArticle, NewsbotError
from retrieval.near_duplicates import CopyCandidate, copy_of, fingerprint
from retrieval.prepare import canonical_url, prepare_article
from retrieval.types import ArticleInfo, ArticleMeta, CleanedArticle, PreparedArticle
from retrieval.uploads import HTML_SUFFIXES, decode_upload
from settings import Settings

_P = ParamSpec("_P")
log = logging.getLogger("newsbot.ingest")

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
class _Ready:
    """A prepared import line waiting for its batch to be embedded and stored."""

    line: int
    prepared: PreparedArticle
    ref: str
    source: str | None


class ImportFailed(NewsbotError):
    """The database failed while storing an import batch (not a problem of one line): the lines
    stored before it stay stored, and a re-run continues from there."""


# Makes stored articles answerable: the library's answerer takes them in (``Answerer.publish``).
Publish = Callable[[list[ArticleInfo], list[NewArticle]], Awaitable[None]]


# One of Ingest's ways to add an article.
_Add: TypeAlias = Callable[Concatenate["Ingest", _P], Awaitable[ArticleInfo]]


def _logged(way: str) -> Callable[[_Add[_P]], _Add[_P]]:
    """An INFO line for the article an add stored or refused (``way``: text, upload, url): its
    ref, title and language, or the refusal's reason code (and the stored article it repeats).
    Never the text; the refusal's message, which may name a file or a link, only at DEBUG."""

    def decorate(add: _Add[_P]) -> _Add[_P]:
        @functools.wraps(add)
        async def logged(self: Ingest, *args: _P.args, **kwargs: _P.kwargs) -> ArticleInfo:
            try:
                info = await add(self, *args, **kwargs)
            except ArticleRejected as rejected:
                _log_refused(way, rejected)
                log.debug("refused from=%s: %s", way, rejected)
                raise
            _log_stored(way, info)
            return info

        return logged

    return decorate


def _log_stored(way: str, info: ArticleInfo, line: int | None = None) -> None:
    at = "" if line is None else f" line={line}"
    log.info(
        "stored ref=%s from=%s%s lang=%s sentences=%d title=%r",
        info.ref,
        way,
        at,
        info.lang,
        info.sentence_count,
        info.title,
    )


def _log_refused(way: str, rejected: ArticleRejected, line: int | None = None) -> None:
    """The reason code, and for a duplicate the stored article it repeats; never the message."""
    at = "" if line is None else f" line={line}"
    repeats = ""
    if isinstance(rejected, DuplicateArticle):
        repeats = f" existing_ref={rejected.existing_ref} existing_title={rejected.existing_title!r}"
    log.info("refused from=%s%s reason=%s%s", way, at, rejected.reason, repeats)


class Ingest:
    """The flow from raw input to a stored, answerable article (see the module's docstring)."""

    def __init__(
        self,
        store: LibraryStore,
        encoder: Encoder,
        settings: Settings,
        config: RetrievalConfig,
        *,
        cpu: RunsCpu,
        write_lock: asyncio.Lock,
        publish: Publish,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self.config = config
        self._cpu = cpu
        self._write_lock = write_lock
        self._publish = publish
        # Seconds from an article's embeddings to it being answerable (store + publish), last add.
        self.last_publish_seconds = 0.0

    # -- one article ----------------------------------------------------------------------------

    @_logged("text")
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
        return await self._clean_and_add(raw, url=url, is_html=is_html, markdown=markdown, title=title)

    @_logged("upload")
    async def add_upload(self, data: bytes, filename: str | None, *, title: str | None = None) -> ArticleInfo:
        limit = self.settings.max_upload_bytes
        if len(data) > limit:
            raise too_large(filename or "the file", len(data), limit)
        suffix = Path(filename or "").suffix.lower()
        if suffix not in HTML_SUFFIXES | TEXT_SUFFIXES:
            raise ArticleRejected("bad_input", f"{filename}: send a .txt, .md or .html file")
        text = decode_upload(data, filename)
        return await self._clean_and_add(
            text, is_html=suffix in HTML_SUFFIXES, markdown=suffix in MARKDOWN_SUFFIXES, title=title
        )

    @_logged("url")
    async def add_url(self, url: str, *, known: ArticleMeta | None = None) -> ArticleInfo:
        """``known``: what a feed says of the page (title, author, date), for what the page lacks."""
        await self._refuse_stored(url=canonical_url(url))  # before fetching: a stored link costs nothing
        page = await fetch_article(
            url,
            max_bytes=self.settings.max_upload_bytes,
            timeout=self.settings.fetch_timeout,
            allow_private=self.settings.allow_private_hosts,
        )
        return await self._clean_and_add(
            page.text, url=page.final_url, is_html=page.is_html, markdown=page.is_markdown, known=known
        )

    async def _clean_and_add(
        self,
        raw: str,
        *,
        url: str | None = None,
        is_html: bool,
        markdown: bool,
        title: str | None = None,
        known: ArticleMeta | None = None,
    ) -> ArticleInfo:
        if is_html:
            cleaned = await self._cpu(clean_html, raw, url=url, title=title)
        else:
            cleaned = await self._cpu(clean_text, raw, url=url, markdown=markdown, title=title)
        if known is not None:  # what the text says wins; ``known`` fills the gaps
            cleaned = CleanedArticle(cleaned.text, _merge_meta(cleaned.meta, known))
        return await self._add_cleaned(cleaned)

    async def _add_cleaned(self, cleaned: CleanedArticle) -> ArticleInfo:
        prepared = await self._cpu(_prepare, cleaned, self.config)
        async with self._write_lock:
            await self._refuse_stored(text_hash=prepared.content_hash, url=prepared.meta.url)
            new = await self._with_copies(await self._cpu(self._embed, [(prepared, None, None)]))
            embedded = time.perf_counter()
            try:
                (info,) = await self.store.add_articles(new)
            except ArticleRefused as refused:  # stored meanwhile by another process
                if refused.existing is None:
                    raise
                raise DuplicateArticle(refused.existing.ref, refused.existing.title) from refused
            await self._publish([info], new)
            self.last_publish_seconds = time.perf_counter() - embedded
        return info

    # -- duplicate policy ----------------------------------------------------------------------
    # An article is refused when a stored one has its text (the content hash), its link or its
    # ref (in any case), and in an import also when an earlier line has (``_EarlierLines``).
    # Checked before embedding; an article stored meanwhile by another process is refused by
    # the database's UNIQUE constraints instead (``ArticleRefused``, see ``_refusal``).

    async def _refuse_stored(
        self,
        *,
        text_hash: str | None = None,
        url: str | None = None,
        ref: str | None = None,
        line: int | None = None,
    ) -> None:
        """Refuse an article that a stored one duplicates: ``DuplicateArticle``, or for import
        line ``line`` an ``ArticleRejected`` saying what the two share."""
        existing = await self.store.find_duplicate(text_hash=text_hash, url=url, ref=ref)
        if existing is None:
            return
        if line is None:
            raise DuplicateArticle(existing.ref, existing.title)
        raise ArticleRejected("duplicate", f"line {line}: {_shared(existing, text_hash, url, ref)}")

    async def _with_copies(self, batch: list[NewArticle]) -> list[NewArticle]:
        """The batch with each syndicated copy marked as a copy of its story: of a stored
        article, or of an article earlier in the batch. An exact duplicate is refused above;
        a near one is stored, answerable and listed, and answers fold it into its story."""
        marked: list[NewArticle] = []
        for position, new in enumerate(batch):
            new = replace(new, copy_of=None, copy_of_position=None)
            if new.fingerprint is None:
                marked.append(new)
                continue
            candidates = await self.store.near_candidates(new.fingerprint.keys)
            candidates += [  # earlier in the batch: ids -1, -2, ... stand for positions 0, 1, ...
                CopyCandidate(-1 - k, -1 - k, e.prepared.meta.published, e.prepared.text)
                for k, e in enumerate(batch[:position])
            ]
            match = copy_of(new.fingerprint, new.prepared.meta.published, candidates)
            if match is None:
                marked.append(new)
            elif match.article_id < 0:
                marked.append(replace(new, copy_of_position=-1 - match.article_id))
            else:
                marked.append(replace(new, copy_of=match.story))
        return marked

    # -- embedding -------------------------------------------------------------------------------

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
                    prepared,
                    sentence_vectors[s_at : s_at + ns],
                    chunk_vectors[c_at : c_at + nc],
                    ref,
                    source,
                    fingerprint(prepared.text),
                )
            )
            s_at, c_at = s_at + ns, c_at + nc
        return out

    # -- an archive ----------------------------------------------------------------------------

    async def import_jsonl(
        self,
        path: Path,
        *,
        batch_size: int = 32,
        on_progress: Callable[[int, int], None] | None = None,
        shard: Shard | None = None,
    ) -> ImportSummary:
        """Import a JSONL archive in batches, one transaction each; re-running skips what is stored.
        With ``shard``, only its lines (the others are neither read nor counted in the summary).

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
        earlier = _EarlierLines(await self.store.refs_in_use())
        storing: asyncio.Task[None] | None = None

        def skip(line: int, rejected: ArticleRejected) -> None:
            skipped[rejected.reason] += 1
            problems.append((line, str(rejected)))
            _log_refused("import", rejected, line)

        async def store(ready: list[_Ready]) -> None:
            nonlocal stored, chunks, sentences
            async with self._write_lock:
                new = await self._cpu(self._embed, [(r.prepared, r.ref, r.source) for r in ready])
                while new:
                    try:
                        new = await self._with_copies(new)  # again after a refusal: positions move
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
                    for info, admitted in zip(infos, ready, strict=True):
                        _log_stored("import", info, admitted.line)
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
            earlier.refuse_id(record.ref, number)  # before cleaning: re-runs at scale skip quickly
            size, limit = len(record.text.encode("utf-8")), self.settings.max_upload_bytes
            if size > limit:  # the cap of an upload: cleaning and embedding grow with the text
                raise too_large(f"line {number}: the text", size, limit)
            try:
                cleaned = await self._cpu(clean_text, record.text, url=record.meta.url, archive=True)
                cleaned = CleanedArticle(cleaned.text, _merge_meta(record.meta, cleaned.meta))
                prepared = await self._cpu(_prepare, cleaned, self.config, lang=record.lang)
            except ArticleRejected as rejected:
                raise ArticleRejected(rejected.reason, f"line {number}: {rejected}") from None
            earlier.refuse_repeat(prepared, number)
            await self._refuse_stored(
                text_hash=prepared.content_hash, url=prepared.meta.url, ref=record.ref, line=number
            )
            earlier.admit(prepared, record.ref, number)
            return _Ready(number, prepared, record.ref, record.source)

        try:
            for number, line in enumerate(lines, start=1):
                try:
                    record = parse_import_line(line, number) if shard is None or shard.holds(number) else None
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
        log.info("imported %s: %d stored, %d skipped", path.name, stored, sum(skipped.values()))
        return ImportSummary(
            stored,
            dict(skipped),
            chunks,
            sentences,
            time.perf_counter() - started,
            tuple(message for _, message in sorted(problems, key=lambda p: p[0])),
        )


class _EarlierLines:
    """The duplicate policy within one archive: the id, text and link of every line admitted so
    far (the batch being stored is not in the store yet), and the ids stored before, all by the
    line that first had them. Ids compare as the store compares refs (``nocase``)."""

    def __init__(self, stored_refs: dict[str, tuple[str, str | None]]) -> None:
        self._stored_refs = stored_refs  # ``Store.refs_in_use``
        self._ids: dict[str, int] = {}
        self._texts: dict[str, int] = {}
        self._urls: dict[str, int] = {}

    def refuse_id(self, ref: str, number: int) -> None:
        """Refuse an id that a stored article or an earlier line already has (ignoring case).
        Any other id is kept as the article's ref, also one of the automatic form (``a7``): the
        store then numbers later automatic refs past it."""
        key = nocase(ref)
        if (stored := self._stored_refs.get(key)) is not None:
            stored_ref, title = stored
            by = _titled(title) if stored_ref == ref else f"{stored_ref} ({_titled(title)})"
            raise ArticleRejected("duplicate", f"line {number}: id {ref} is already used by {by}")
        if (seen := self._ids.get(key)) is not None:
            raise ArticleRejected("duplicate", f"line {number}: id {ref} is already used by line {seen}")

    def refuse_repeat(self, prepared: PreparedArticle, number: int) -> None:
        """Refuse an article with the text or link of an earlier line."""
        if (earlier := self._texts.get(prepared.content_hash)) is not None:
            raise ArticleRejected("duplicate", f"line {number}: same text as line {earlier}")
        url = prepared.meta.url
        if url is not None and (earlier := self._urls.get(url)) is not None:
            raise ArticleRejected("duplicate", f"line {number}: same URL as line {earlier}")

    def admit(self, prepared: PreparedArticle, ref: str, number: int) -> None:
        self._ids[nocase(ref)] = self._texts[prepared.content_hash] = number
        if prepared.meta.url is not None:
            self._urls[prepared.meta.url] = number


def _prepare(cleaned: CleanedArticle, config: RetrievalConfig, *, lang: str | None = None) -> PreparedArticle:
    """``prepare_article`` on the article with its publication date found (``with_publication_date``)."""
    return prepare_article(with_publication_date(cleaned), config, lang=lang)


def _titled(title: str | None) -> str:
    return f"“{title}”" if title else "an untitled article"


def _shared(existing: ArticleInfo, text_hash: str | None, url: str | None, ref: str | None) -> str:
    """What a new article shares with the stored ``existing``, for a skipped line's message."""
    shown = f"{existing.ref} ({_titled(existing.title)})"
    if existing.content_hash == text_hash:
        return f"same text as {shown}, already in the library"
    if url is not None and existing.url == url:
        return f"same URL as {shown}, already in the library"
    return f"id {ref} is already used by {shown}"


def _refusal(ready: _Ready, refused: ArticleRefused) -> ArticleRejected:
    """A skipped line's rejection for an article the database refused while storing its batch."""
    if refused.existing is None:
        return ArticleRejected(refused.reason, f"line {ready.line}: {refused}")
    prepared = ready.prepared
    what = _shared(refused.existing, prepared.content_hash, prepared.meta.url, ready.ref)
    return ArticleRejected("duplicate", f"line {ready.line}: {what} (stored while this import ran)")


def _merge_meta(given: ArticleMeta, found: ArticleMeta) -> ArticleMeta:
    """Fields of ``given`` win; ``found`` fills the gaps (an archive's fields over what cleaning
    found; a page's over what its feed says)."""
    return ArticleMeta(
        title=given.title or found.title,
        outlet=given.outlet or found.outlet,
        author=given.author or found.author,
        published=given.published or found.published,
        url=given.url or found.url,
    )
