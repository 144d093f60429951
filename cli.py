"""``newsbot``: the command line (also the contract for automated evaluation; keep it stable).

Every subcommand takes ``--db PATH`` (or ``NEWSBOT_DB``), before or after its name. Errors a
user can fix (a missing or non-UTF-8 file, a bad setting, a database or model that cannot be
opened) print one line on stderr and exit 2, translated in one place (``_explain``); nothing is
half-stored. With ``ask --json``, a question that cannot be asked (too long, a bad
``--questions`` line) is an object in the answers' shape on stdout instead.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import json
import os
import re
import stat
import sys
import tempfile
import textwrap
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import samples
from feeds import Feeds
from fetch import readable_size, too_large
from index.backend import LibraryStore, copy_library, library_exists, library_location, open_store
from index.errors import MAX_INTEGER, check_database_path
from index.feeds import copy_follows, feed_store
from jsonl import LABELLED_HELP, Shard, jsonl_lines, labelled_questions, load_json_line, not_text
from library import Library
from retrieval.citations import also_in_names, named_words, number_sources
from retrieval.corpus import CorpusIndex
from retrieval.dates import Period, period_of_text
from retrieval.errors import ArticleRejected, NewsbotError, NotFound
from retrieval.evaluation import LabelledQuestion
from retrieval.reports import evaluation_report, pair_ids, tuning_report
from retrieval.tuning import fold_of
from retrieval.types import Answer, ArticleInfo
from settings import Settings, configure_logging

SAMPLE_ARTICLE = Path(samples.__file__).resolve().parent / "tribunnews-xi-letter-kim-jong-un.txt"
SHOWN_PROBLEMS = 20  # skipped import lines listed by number (a re-run skips every line)
STDIN_NAME = "standard input"  # how ``add -`` names its input in messages
UNTITLED = "(untitled)"  # an article without a title, here and in the bot (handlers/messages.py)
HOW_TO_ADD = (
    "to add an article: newsbot add FILE|URL (or - for stdin), or newsbot import FILE.jsonl for an archive"
)
QUIT_WORDS = frozenset({"quit", "exit", "/quit", "/exit"})
CHAT_HELP = """Type a question about the articles and press Enter: the answer quotes the sentences that say
so, each with its source. /help shows this; quit, exit, an empty line or Ctrl-D ends the chat.
Articles are added outside the chat: newsbot add FILE|URL (or - for stdin), newsbot import
FILE.jsonl; newsbot list shows them."""


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _dispatch(argv)
        finally:
            sys.stdout.flush()  # a closed pipe fails here, inside the handler below
    except BrokenPipeError:
        # stdout's reader went away (``newsbot list | head -1``): stop quietly. Later writes,
        # including the interpreter's flush at exit, go to /dev/null (Python's documented idiom).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _dispatch(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {"NEWSBOT_DB": args.db} if args.db else {}
        settings = Settings(**overrides)  # type: ignore[arg-type]
        if settings.index == "sqlite":
            check_database_path(settings.db)  # before the model loads (seconds)
        command: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = args.func
        if command is _run and settings.telegram_bot_token is not None:
            from bot import run_bot

            return run_bot(settings)  # PTB runs its own event loop
        # A command's stdout and stderr are what it says: besides warnings, newsbot's log lines
        # join them only when NEWSBOT_LOG_LEVEL asks for them (the bot logs at INFO by default).
        chosen = "log_level" in settings.model_fields_set
        configure_logging(settings.log_level if chosen else "WARNING", others="WARNING")
        return asyncio.run(command(args, settings))
    except KeyboardInterrupt:
        print("\nnewsbot: interrupted; everything committed so far is kept", file=sys.stderr)
        return 130
    except Exception as error:
        message = _explain(error)
        if message is None:
            raise
        print(f"newsbot: {message}", file=sys.stderr)
        return 2


def _explain(error: Exception) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug (a traceback)."""
    if isinstance(error, BrokenPipeError):
        return None  # not a user error: ``main`` ends quietly
    if isinstance(error, NewsbotError):
        return str(error)
    if isinstance(error, ValidationError):
        return "; ".join(_setting_error(e) for e in error.errors())
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {(error.strerror or str(error)).lower()}"
    return None


def _setting_error(error: Any) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = f"={value!r}" if isinstance(value, str | int | float) and len(repr(value)) <= 60 else ""
    return f"invalid setting {name}{shown}: {message}"


def _count(minimum: int, maximum: int = MAX_INTEGER) -> Callable[[str], int]:
    """An argparse type: a whole number from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        shown = text if len(text) <= 30 else text[:29] + "…"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {shown!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {shown}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {shown}")
        return value

    return parse


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Answer questions about news articles with cited sentences."
    )
    db_help = "SQLite file (default: $NEWSBOT_DB or the user data dir)"
    parser.add_argument("--db", type=Path, help=db_help)
    # The same option after the command's name; SUPPRESS keeps a --db given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=db_help)
    parser.set_defaults(func=_run)
    sub = parser.add_subparsers(title="commands")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = command("run", "start the Telegram bot; without TELEGRAM_BOT_TOKEN, a console demo")
    p.set_defaults(func=_run)
    p = command("add", "add one article: a .txt/.md/.html file, a URL, or - for stdin")
    p.add_argument("source")
    p.add_argument("--title", help="the article's title (for a file or stdin; wins over one in the text)")
    p.set_defaults(func=_add)
    p = command("import", "bulk import a JSONL archive ({id,title,text,...} per line)")
    p.add_argument("file", type=Path)
    p.add_argument(
        "--batch-size", type=_count(1), default=32, help="articles per transaction (default: %(default)s)"
    )
    p.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="only every N-th line from line I: N importers (1/N ... N/N) share one Milvus library",
    )
    p.set_defaults(func=_import)
    p = command("list", "list stored articles, newest first by publication date")
    p.add_argument("--limit", type=_count(1), default=20, help="how many (default: %(default)s)")
    p.add_argument(
        "--date",
        type=_period,
        help="only those of a day, month or year: 2019-09-18, 2019-09, 2019, 'September 2019', yesterday",
    )
    p.add_argument("--since", type=_day, help="only those dated from this day (YYYY-MM-DD)")
    p.add_argument("--until", type=_day, help="only those dated up to this day (YYYY-MM-DD)")
    p.set_defaults(func=_list)
    p = command("show", "show one article")
    p.add_argument("ref")
    p.set_defaults(func=_show)
    p = command("delete", "delete one article")
    p.add_argument("ref")
    p.set_defaults(func=_delete)
    p = command("ask", "answer a question with cited sentences")
    p.add_argument("question", nargs="?")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    p.add_argument("--questions", type=Path, help="JSONL of {id, question}: one JSON line out per line in")
    p.set_defaults(func=_ask)
    p = command("chat", "ask questions interactively in the console")
    p.set_defaults(func=_chat)
    p = command("eval", "document recall, MRR and answer metrics on labelled questions")
    p.add_argument("--questions", type=Path, required=True, help=LABELLED_HELP)
    p.add_argument("--corpus", type=Path, help="JSONL corpus to import first (skips what is stored)")
    p.add_argument("--compare", action="store_true", help="also BM25 alone and dense alone, same index")
    p.set_defaults(func=_eval)
    p = command("migrate", "copy the library with its vectors into the other backend (no re-embedding)")
    p.add_argument(
        "--to",
        choices=["milvus", "sqlite"],
        required=True,
        help="milvus: from --db into NEWSBOT_MILVUS_URI; sqlite: the other way",
    )
    p.add_argument(
        "--batch-size", type=_count(1), default=64, help="articles per write (default: %(default)s)"
    )
    p.set_defaults(func=_migrate)
    p = command("backfill", "date and fold the copies of articles stored before newsbot kept both (once)")
    p.set_defaults(func=_backfill)
    p = command("feeds", "follow RSS/Atom feeds: feeds add URL | list | remove URL|ID | poll")
    feeds = p.add_subparsers(title="feed commands", required=True, metavar="{add,list,remove,poll}")
    f = feeds.add_parser("add", help="follow a feed (read once now to check it)", parents=[common])
    f.add_argument("url")
    f.add_argument("--every", type=float, metavar="MINUTES", help="read it every MINUTES (default: settings)")
    f.set_defaults(func=_feeds_add)
    f = feeds.add_parser("list", help="the followed feeds and how they fare", parents=[common])
    f.set_defaults(func=_feeds_list)
    f = feeds.add_parser("remove", help="stop following a feed (its articles stay)", parents=[common])
    f.add_argument("feed", help="the feed's URL or id (f3)")
    f.set_defaults(func=_feeds_remove)
    f = feeds.add_parser(
        "poll", help="one pass: take in the new items of the feeds that are due", parents=[common]
    )
    f.add_argument("--all", action="store_true", help="every feed, due or not")
    f.set_defaults(func=_feeds_poll)
    p = command("tune", "choose the retrieval tunables by k-fold cross-validation")
    p.add_argument("--questions", type=Path, required=True, help=LABELLED_HELP)
    p.add_argument("--folds", type=_count(2), default=5, help="(default: %(default)s)")
    p.set_defaults(func=_tune)
    return parser


def _existing_file(path: Path) -> Path:
    """``path``, or a clear refusal when it is missing or not a regular file: a device reads
    forever (``/dev/zero``) and a pipe blocks, while their size reads as 0."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise NewsbotError(f"{path}: no such file") from None
    if stat.S_ISDIR(mode):
        raise NewsbotError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(mode):
        kind = "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise NewsbotError(f"{path} is {kind}, not a file")
    return path


def _check_text_file(path: Path) -> None:
    """Refuse a missing, unreadable or non-UTF-8 input file before the model loads (seconds)."""
    _existing_file(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as file:
        try:
            while block := file.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise NewsbotError(f"{path} is not UTF-8 text: save it as UTF-8") from None


async def _with_library(settings: Settings, body: Callable[[Library], Coroutine[Any, Any, int]]) -> int:
    library = await Library.open(settings)
    try:
        return await body(library)
    finally:
        await library.close()


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    async def demo(library: Library) -> int:
        if not (await library.stats()).articles:
            info = await library.add_text(SAMPLE_ARTICLE.read_text(encoding="utf-8"))
            print(f"the library was empty: {_stored(info)} (the sample article)")
        print("TELEGRAM_BOT_TOKEN is not set, so here is the console chat on the same core.")
        return await _chat_loop(library)

    return await _with_library(settings, demo)


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    source: str = args.source
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", source)
    if scheme and args.title is not None:
        raise NewsbotError("--title is for a file or - (stdin): a web page's title is read from the page")
    data: bytes | None = None
    limit = settings.max_upload_bytes  # checked here, before the model loads (seconds)
    if source == "-":  # bytes, like an uploaded file: the same decoding, messages and size limit
        data, name = sys.stdin.buffer.read(limit + 1), STDIN_NAME
        if len(data) > limit:  # the rest is never read: its size is unknown
            raise ArticleRejected("too_large", f"{name} is over the limit of {readable_size(limit)}")
    elif scheme:
        if scheme[1].lower() not in ("http", "https"):
            raise NewsbotError(f"{source}: only http(s) links can be added")
    else:
        path = _existing_file(Path(source))  # decoded like an upload (HTML may declare a charset)
        if (size := path.stat().st_size) > limit:
            raise too_large(path.name, size, limit)
        with path.open("rb") as file:  # never more than the limit, even from a file still growing
            data, name = file.read(limit + 1), path.name
        if len(data) > limit:
            raise ArticleRejected("too_large", f"{name} is over the limit of {readable_size(limit)}")

    async def body(library: Library) -> int:
        info = await (
            library.add_url(source) if data is None else library.add_upload(data, name, title=args.title)
        )
        print(_stored(info))
        return 0

    return await _with_library(settings, body)


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    _check_text_file(args.file)

    async def body(library: Library) -> int:
        with tqdm(total=None, unit="line", desc="importing", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            summary = await library.import_jsonl(
                args.file, batch_size=args.batch_size, on_progress=progress, shard=args.shard
            )
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items())) or "none"
        for problem in summary.problems[:SHOWN_PROBLEMS]:
            print(f"skipped {problem}", file=sys.stderr)
        if len(summary.problems) > SHOWN_PROBLEMS:
            print(f"... and {len(summary.problems) - SHOWN_PROBLEMS} more skipped lines", file=sys.stderr)
        print(
            f"stored {summary.stored} articles ({summary.sentences} sentences, {summary.chunks} chunks) "
            f"in {summary.seconds:.1f} s, {summary.chunks_per_second:.1f} chunks/s; skipped: {skipped}"
        )
        return 0

    return await _with_library(settings, body)


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Copies between the two backends' configured places: ``--db`` and ``NEWSBOT_MILVUS_URI``."""
    from tqdm import tqdm

    source = settings.model_copy(update={"index": "sqlite" if args.to == "milvus" else "milvus"})
    target = settings.model_copy(update={"index": args.to})
    if not library_exists(source):
        raise NewsbotError(f"nothing to copy: there is no library at {library_location(source)}")

    async def copy(reading: LibraryStore) -> int:
        async def into(writing: LibraryStore) -> int:
            with tqdm(total=None, unit="article", desc="copying", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                summary = await copy_library(
                    reading, writing, batch_size=args.batch_size, on_progress=progress
                )
            follows = await copy_follows(reading, writing)
            for ref in summary.refused[:SHOWN_PROBLEMS]:
                print(
                    f"not copied {ref}: {writing.location} has an article with its link or ref",
                    file=sys.stderr,
                )
            print(
                f"copied {summary.copied} articles from {reading.location} to {writing.location}"
                f" in {summary.seconds:.1f} s; {summary.already} were there already;"
                f" {len(summary.refused)} refused; followed {follows} new feeds"
            )
            return 0

        return await _with_store(target, into)

    return await _with_store(source, copy, read_only=True)


async def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    """``backfill.py`` on the configured library; no model is loaded."""
    from tqdm import tqdm

    from backfill import backfill_copies_and_dates

    if not library_exists(settings):
        raise NewsbotError(f"there is no library at {library_location(settings)}")

    async def body(store: LibraryStore) -> int:
        with tqdm(total=None, unit="article", desc="completing", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            summary = await backfill_copies_and_dates(store, on_progress=progress)
        if not summary.completed:
            print("every article already has its date and copies checked: nothing to do")
            return 0
        print(
            f"completed {summary.completed:,} articles stored before dates and copies were kept:"
            f" {summary.dated:,} dated, {summary.copies:,} found to be copies of an earlier story,"
            f" in {summary.seconds:.1f} s (a running bot shows them once restarted)"
        )
        return 0

    return await _with_store(settings, body)


async def _with_store(
    settings: Settings, body: Callable[[LibraryStore], Coroutine[Any, Any, int]], *, read_only: bool = False
) -> int:
    """Run ``body`` on the database alone: reading the library, or deleting from it, needs no
    model and no index (seconds saved on every ``list``, ``show`` and ``delete``)."""
    store = await open_store(settings, read_only=read_only)
    try:
        return await body(store)
    finally:
        await store.close()


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    if not library_exists(settings):  # listing must not create a database
        print(f"the library is empty (no database at {library_location(settings)} yet); {HOW_TO_ADD}")
        return 0

    since, until = args.since, args.until
    if args.date is not None:
        since = max(filter(None, (since, args.date.start.isoformat())))
        until = min(filter(None, (until, args.date.end.isoformat())))
    dated = since is not None or until is not None

    async def body(store: LibraryStore) -> int:
        articles = await store.recent(args.limit, since=since, until=until)
        if not articles:
            print("no article is dated in that period" if dated else f"the library is empty; {HOW_TO_ADD}")
        width = max((len(a.ref) for a in articles), default=0)
        for a in articles:
            date = (a.published or "")[:10]
            copy = f"  (a copy of {await _ref_of(store, a.copy_of)})" if a.copy_of is not None else ""
            print(f"{a.ref:<{width}}  {a.lang:<3}  {date:10}  {a.title or UNTITLED}{copy}")
        total = await store.count_dated(since=since, until=until)
        if len(articles) == args.limit and total > args.limit:
            print(f"... {total - args.limit} older (newsbot list --limit {total} shows all {total})")
        return 0

    return await _with_store(settings, body, read_only=True)


async def _ref_of(store: LibraryStore, article_id: int) -> str:
    """The ref of the article with this id, or what is left of it once deleted."""
    try:
        return (await store.article_info_by_id(article_id)).ref
    except NotFound:
        return "a deleted article"


def _period(text: str) -> Period:
    period = period_of_text(text)
    if period is None or period.start is None or period.end is None:
        raise argparse.ArgumentTypeError(
            f"not a day, month or year: {text!r} (e.g. 2019-09-18, 2019-09, 2019)"
        )
    return period


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day in the form YYYY-MM-DD: {text!r}") from None


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    if not library_exists(settings):
        where = library_location(settings)
        raise NewsbotError(f"no article with ref {args.ref!r}: there is no database at {where} yet")

    async def body(store: LibraryStore) -> int:
        info, text = await store.article(args.ref)
        print(_article_header(info))
        print()
        print(text)
        return 0

    return await _with_store(settings, body, read_only=True)


async def _delete(args: argparse.Namespace, settings: Settings) -> int:
    """Deletes from the database alone, like ``list`` reads it: a running bot and the next
    ``Library.open`` both drop an article the database no longer holds (``Library.refresh``)."""
    if not library_exists(settings):
        where = library_location(settings)
        raise NewsbotError(f"no article with ref {args.ref!r}: there is no database at {where} yet")

    async def find(store: LibraryStore) -> int:
        await store.article(args.ref)  # a ref that is not there changes nothing, not even a blank file
        return 0

    async def body(store: LibraryStore) -> int:
        info = await store.delete(args.ref)
        print(f"deleted {info.ref}: {info.title or UNTITLED}")
        return 0

    await _with_store(settings, find, read_only=True)
    return await _with_store(settings, body)


def _feeds_on(store: LibraryStore, settings: Settings) -> Feeds:
    """The followed feeds without the model: everything but polling."""

    async def in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return Feeds(feed_store(store), settings, cpu=in_thread)


async def _feeds_add(args: argparse.Namespace, settings: Settings) -> int:
    async def body(store: LibraryStore) -> int:
        followed = await _feeds_on(store, settings).follow(args.url, every_minutes=args.every)
        feed = followed.feed
        if not followed.new:
            print(f"already following {feed.ref}: {feed.title or UNTITLED} ({feed.url})")
            return 0
        print(
            f"following {feed.ref}: {feed.title or UNTITLED} ({followed.items} items now); "
            "newsbot feeds poll (or the running bot) takes them in"
        )
        return 0

    return await _with_store(settings, body)


async def _feeds_list(args: argparse.Namespace, settings: Settings) -> int:
    if not library_exists(settings):  # listing must not create a database
        where = library_location(settings)
        print(f"no feeds are followed (no database at {where} yet); newsbot feeds add URL follows one")
        return 0

    async def body(store: LibraryStore) -> int:
        feeds = await _feeds_on(store, settings).all()
        if not feeds:
            print("no feeds are followed; newsbot feeds add URL follows one")
        for feed in feeds:
            every = feed.interval_minutes or settings.feed_interval_minutes
            print(
                f"{feed.ref}  {feed.title or UNTITLED}  {feed.url}\n"
                f"    {feed.articles} articles from {feed.items_seen} items, every {every:g} min;"
                f" last read {feed.last_success_at or 'never'}; next {feed.next_poll_at}"
            )
            if feed.last_error:
                print(f"    last error {feed.last_error_at} ({feed.failures} in a row): {feed.last_error}")
        return 0

    return await _with_store(settings, body, read_only=True)


async def _feeds_remove(args: argparse.Namespace, settings: Settings) -> int:
    if not library_exists(settings):
        where = library_location(settings)
        raise NewsbotError(f"no followed feed is {args.feed!r}: there is no database at {where} yet")

    async def body(store: LibraryStore) -> int:
        feed = await _feeds_on(store, settings).unfollow(args.feed)
        print(f"stopped following {feed.ref}: {feed.title or UNTITLED} ({feed.articles} articles stay)")
        return 0

    return await _with_store(settings, body)


async def _feeds_poll(args: argparse.Namespace, settings: Settings) -> int:
    """One pass, for cron or a systemd timer: exit 0 even when a feed failed (its error is
    printed, and kept for ``feeds list``), 2 only for what stops the pass itself."""

    async def body(library: Library) -> int:
        reports = await library.feeds.poll_due(everything=args.all)
        if not reports:
            print("no feed is due" if not args.all else "no feeds are followed")
        for report in reports:
            feed = report.feed
            if report.error:
                print(f"{feed.ref}: failed: {report.error}")
            elif report.unchanged:
                print(f"{feed.ref}: unchanged")
            else:
                print(
                    f"{feed.ref}: {len(report.stored)} stored, {report.duplicates} already in the library,"
                    f" {report.refused} refused, {report.known} seen before"
                    + (f", {report.left} left for the next poll" if report.left else "")
                    + (f", {report.retry} to retry" if report.retry else "")
                )
            for info in report.stored:
                print(f"  {_stored(info)}")
        return 0

    return await _with_library(settings, body)


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if (args.question is None) == (args.questions is None):  # "" is a question, declined as one
        raise NewsbotError("give either a question or --questions FILE")
    if args.questions:  # always JSON lines (the evaluation contract), with or without --json
        _check_text_file(args.questions)

    async def body(library: Library) -> int:
        if args.questions:
            for number, line in enumerate(jsonl_lines(args.questions), start=1):
                if line.strip():
                    out = await _answer_line(library, line, number)
                    print(json.dumps(out, ensure_ascii=False), flush=True)
            return 0
        try:
            answer = await library.ask(args.question)
        except NewsbotError as error:
            if not args.json:
                raise
            print(json.dumps(_error_json(args.question, str(error)), ensure_ascii=False))
            return 2
        print(json.dumps(answer.as_json(), ensure_ascii=False) if args.json else _reply(answer, db))
        return 0

    db = library_location(settings)
    if library_exists(settings):
        return await _with_library(settings, body)
    with tempfile.TemporaryDirectory() as empty:  # asking must not create a database: ask an empty one
        elsewhere = {"db": Path(empty) / settings.db.name, "milvus_uri": str(Path(empty) / "empty.db")}
        return await _with_library(settings.model_copy(update=elsewhere), body)


async def _answer_line(library: Library, line: str, number: int) -> dict[str, object]:
    """The output for one ``--questions`` line: its answer, or an error object of the same shape,
    so one bad line never stops the questions after it."""
    try:
        record = load_json_line(line)
    except ValueError as error:
        return {"id": None, **_error_json(None, f"line {number}: {error}")}
    if not isinstance(record, dict):
        return {"id": None, **_error_json(None, f'line {number}: not a {{"id", "question"}} object')}
    ident = record.get("id")  # echoed as given, so it must print as it came
    problem = not_text(record, ("id",))
    if isinstance(ident, dict | list):
        problem = '"id" must be a string or a number'
    if problem:
        return {"id": None, **_error_json(None, f"line {number}: {problem}")}
    question = record.get("question")
    if not isinstance(question, str):
        return {"id": ident, **_error_json(None, f'line {number}: no "question" text')}
    if problem := not_text(record, ("question",)):
        return {"id": ident, **_error_json(None, f"line {number}: {problem}")}
    try:
        out = (await library.ask(question)).as_json()
    except NewsbotError as error:
        out = _error_json(question, str(error))
    return {"id": ident, **out}


def _error_json(question: str | None, reason: str) -> dict[str, object]:
    """A question that could not be asked, in the shape of ``Answer.as_json`` (characters that
    are not text, lone surrogates, shown as "?": the object must print)."""
    return {
        "question": None if question is None else question.encode("utf-8", "replace").decode("utf-8"),
        "abstained": True,
        "reason": reason,
        "missing": [],
        "tentative": False,
        "answer": [],
        "articles": [],
        "took_ms": 0,
    }


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    return await _with_library(settings, _chat_loop)


async def _chat_loop(library: Library) -> int:
    articles = (await library.stats()).articles
    print(f"Library: {library.store.location} ({articles} article{'' if articles == 1 else 's'}).")
    if not articles:
        print(f"It is empty; {HOW_TO_ADD}.")
    print("Ask about the articles in it (/help for help; quit, exit, an empty line or Ctrl-D to quit).")
    while True:
        try:
            question = await asyncio.to_thread(input, "\n? ")
        except EOFError:
            print()  # the shell's prompt would follow "? " on the same line
            return 0
        if not question.strip():
            return 0
        if not sys.stdin.isatty():  # a terminal echoes what was typed; piped questions are shown
            print(question)
        if question.strip().lower() in QUIT_WORDS:
            return 0
        if question.strip().lower() in ("/help", "help"):
            print(CHAT_HELP)
            continue
        try:
            answer = await library.ask(question)
        except NewsbotError as error:
            print(error)
            continue
        print(_reply(answer, library.store.location))


async def _eval(args: argparse.Namespace, settings: Settings) -> int:
    _check_text_file(args.questions)  # before the model loads (seconds)
    records = labelled_questions(args.questions)
    if args.corpus is not None:
        _check_text_file(args.corpus)

    async def body(library: Library) -> int:
        if args.corpus:
            summary = await library.import_jsonl(args.corpus)
            print(f"corpus: {summary.stored} new articles stored", file=sys.stderr)
        index = await library.whole_index()  # in Milvus: read whole, for the scenarios' libraries
        _warn_missing_gold(records, index)
        served = None
        if not library.answers_from_whole_index:  # Milvus: also what its users get, from candidates
            served = [await library.answerer.answer(" ".join(str(r["question"]).split())) for r in records]
        report = await asyncio.to_thread(
            evaluation_report, index, library.encoder, records, compare=args.compare, served=served
        )
        print(report)
        return 0

    return await _with_library(settings, body)


async def _tune(args: argparse.Namespace, settings: Settings) -> int:
    _check_text_file(args.questions)  # before the model loads (seconds)
    records = labelled_questions(args.questions)
    # Folds that would hold no question are refused here, before the model loads.
    fold_of([LabelledQuestion.from_record(r) for r in records], pair_ids(records), args.folds)

    async def body(library: Library) -> int:
        index = await library.whole_index()
        _warn_missing_gold(records, index)
        report = await asyncio.to_thread(tuning_report, index, library.encoder, records, folds=args.folds)
        print(report)
        return 0

    return await _with_library(settings, body)


def _warn_missing_gold(records: list[dict[str, object]], index: CorpusIndex) -> None:
    """Gold articles the library does not hold make their questions misses: usually the wrong
    ``--db``, or a corpus not imported yet."""
    held = {a.info.ref for a in index.articles}
    missing = sum(str(r["article_id"]) not in held for r in records)
    if missing:
        print(
            f"warning: {missing} of {len(records)} questions' gold articles are not in the library "
            "(they count as misses)",
            file=sys.stderr,
        )


def _stored(info: ArticleInfo) -> str:
    return f"stored {info.ref}: {info.title or UNTITLED} [{info.lang}, {info.sentence_count} sentences]"


def _article_header(info: ArticleInfo) -> str:
    parts = [info.title or UNTITLED, info.outlet, info.author, info.published, info.url]
    return f"[{info.ref}] " + " · ".join(p for p in parts if p)


def _reply(answer: Answer, db: Path | str) -> str:
    """``format_answer``, and on an empty library where it is and how to fill it."""
    if answer.reason_kind == "empty_library":
        return f"{format_answer(answer)}\nNothing is stored in {db} yet; {HOW_TO_ADD}."
    return format_answer(answer)


def _caveat(answer: Answer) -> str | None:
    """The line before an answer's quotes when they may not answer the question (as the bot's)."""
    if answer.caveat == "missing":
        return f"Nothing in the library mentions {named_words(answer.missing)}; the closest it holds:"
    return "The library may not answer this; the closest it holds:" if answer.caveat == "unsure" else None


def format_answer(answer: Answer) -> str:
    """A readable cited answer for a terminal: numbered quotes, then the numbered sources."""
    if answer.abstained:
        return f"I can't answer that from the library: {answer.reason}."
    numbered = number_sources(answer.citations)
    lines = [caveat] if (caveat := _caveat(answer)) else []
    lines += [
        textwrap.fill(f"“{citation.text}” [{number}]", width=100, subsequent_indent="  ")
        for citation, number in zip(answer.citations, numbered.numbers, strict=True)
    ]
    lines.append("")
    for (number, info), copies in zip(numbered.sources, numbered.also_in, strict=True):
        lines.append(f"[{number}] " + _article_header(info))
        if copies:
            lines.append(f"    also in: {also_in_names(copies)}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
