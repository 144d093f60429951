"""How responsive the bot's event loop stays while a big feed is polled (issue 17).

Why: the bot polls feeds in its own event loop (PTB's JobQueue), beside the chats it answers. A
feed may list hundreds of items; parsing it, checking which items are new, and fetching, cleaning,
embedding and storing each new page must not freeze answers. This script serves a feed of
``--items`` items (each a distinct article page) from 127.0.0.1, follows it on a fresh library
with the real model, and measures the longest event-loop stall (a task sleeping 5 ms records how
late it wakes up) and the latency of questions asked every 250 ms, in three phases:

1. follow: the feed is fetched and parsed once (feedparser runs in the library's thread pool);
2. a first and a second poll: each fetches and stores the per-poll limit (``--per-poll``) of
   new items (the first in a fresh process, which loads what cleaning a web page needs);
3. a steady poll: every item is known, so only the feed is read (a full read, not a 304) and
   checked against the database.

For comparison it also times ``feedparser.parse`` of the same bytes on the loop itself: the
stall the thread pool avoids. ``--index milvus`` runs it on a library in a milvus-lite file (feed
state and articles in Milvus) instead of a SQLite file. Prints a Markdown table and writes JSON
with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import feedparser  # noqa: E402
from feed_site import PASSAGES, FeedSite, Item, Resource, article_page, rss  # noqa: E402
from tests_support import SEED_TEXT  # noqa: E402

from index.feeds import REFUSED, feed_store  # noqa: E402
from library import Library  # noqa: E402
from retrieval.encoder import load_encoder  # noqa: E402
from retrieval.prepare import canonical_url  # noqa: E402
from settings import Settings  # noqa: E402

TICK = 0.005
IDLE_SECONDS = 10
ASK_EVERY = 0.25


def big_feed(site: FeedSite, items: int) -> tuple[str, bytes]:
    """A feed of ``items`` items, each a page with a text of its own (two passages of the dev
    corpus and a line naming the item: never the same text twice)."""
    listed = []
    for n in range(items):
        a, b = PASSAGES[n % len(PASSAGES)], PASSAGES[(n * 7 + 3) % len(PASSAGES)]
        text = f"{a} {b} Report {n} of the desk was filed on its day {n}."
        path = f"/news/{n}"
        site.put(path, Resource(article_page(text), "text/html; charset=utf-8"))
        listed.append(Item(site.url(path), f"Story {n}", f"Reporter {n % 17}"))
    body = rss("Big Desk", listed)
    return site.put("/rss.xml", Resource(body, etag='"v1"')), body


async def measured(work: Any, library: Library, question: str) -> dict[str, float]:
    """Run ``work`` (a coroutine) while watching the loop's stalls and asking ``question``."""
    stalls: list[float] = []
    latencies: list[float] = []

    async def watch() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            stalls.append((time.perf_counter() - before - TICK) * 1000)

    async def ask() -> None:
        while True:
            started = time.perf_counter()
            await library.ask(question)
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(ASK_EVERY)

    background = [asyncio.create_task(watch()), asyncio.create_task(ask())]
    started = time.perf_counter()
    try:
        await work
    finally:
        seconds = time.perf_counter() - started
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    stalls = stalls or [0.0]
    ordered = sorted(stalls)
    return {
        "seconds": round(seconds, 2),
        "max_stall_ms": round(max(stalls), 1),
        "p99_stall_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
        "questions": len(latencies),
        "median_answer_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
        "max_answer_ms": round(max(latencies), 1) if latencies else 0.0,
    }


async def run(items: int, per_poll: int, index: Literal["sqlite", "milvus"] = "sqlite") -> dict[str, Any]:
    with FeedSite() as site, tempfile.TemporaryDirectory() as tmp:
        url, body = big_feed(site, items)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            NEWSBOT_DB=Path(tmp) / "feeds.sqlite3",
            NEWSBOT_INDEX=index,
            NEWSBOT_MILVUS_URI=str(Path(tmp) / "feeds.db"),
            NEWSBOT_ALLOW_PRIVATE_HOSTS=site.host,
            NEWSBOT_FEED_ITEMS_PER_POLL=per_poll,
        )
        encoder = load_encoder("bundled", settings.model_cache)
        library = await Library.open(settings, encoder=encoder)
        try:
            await library.add_text(SEED_TEXT)  # something to answer from, before the feed
            question = "what did Xi's letter say"
            idle = await measured(asyncio.sleep(IDLE_SECONDS), library, question)  # the machine's own noise
            follow = await measured(library.feeds.follow(url), library, question)
            reports: list[Any] = []

            async def poll() -> None:
                reports.extend(await library.feeds.poll_due())

            first = await measured(poll(), library, question)
            second = await measured(poll(), library, question)  # the process is warm now
            stored = [len(report.stored) for report in reports]
            # The steady state: every item known. The rest are marked seen as a poll marks a
            # refused page (fetching them all would take minutes and measure nothing new).
            feeds_kept, (feed,) = feed_store(library.store), await library.feeds.all()
            for item in feedparser.parse(body).entries[sum(stored) :]:
                await feeds_kept.record_item(feed.id, canonical_url(item.link), REFUSED, None)
            site.put("/rss.xml", Resource(body + b" ", etag='"v2"'))  # changed: a full read, not a 304
            steady = await measured(library.feeds.poll_due(everything=True), library, question)
            started = time.perf_counter()
            feedparser.parse(body)
            inline_parse_ms = (time.perf_counter() - started) * 1000
        finally:
            await library.close()
    return {
        "index": index,
        "items": items,
        "feed_bytes": len(body),
        "per_poll": per_poll,
        "stored_per_poll": stored,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "idle": idle,
        "follow": follow,
        "first_poll": first,
        "second_poll": second,
        "steady_poll": steady,
        "feedparser_on_the_loop_ms": round(inline_parse_ms, 1),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        "| phase | seconds | longest stall | p99 stall | questions answered | median / max answer |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "idle": f"baseline: {IDLE_SECONDS} s of questions alone",
        "follow": "follow (fetch + parse)",
        "first_poll": f"first poll ({result['stored_per_poll'][0]} new items stored; first pages cleaned)",
        "second_poll": f"second poll ({result['stored_per_poll'][1]} more new items stored)",
        "steady_poll": f"steady poll ({result['items']} items known)",
    }
    for key, name in names.items():
        r = result[key]
        rows.append(
            f"| {name} | {r['seconds']} | {r['max_stall_ms']} ms | {r['p99_stall_ms']} ms"
            f" | {r['questions']} | {r['median_answer_ms']} / {r['max_answer_ms']} ms |"
        )
    rows.append(
        f"\n{result.get('index', 'sqlite')} library, {result['items']} items,"
        f" {result['feed_bytes']:,} bytes of feed,"
        f" {result['per_poll']} new items per poll, {result['cpus']} cores (load average"
        f" {result['load_average_1min']} at the end); feedparser.parse of the feed"
        f" on the loop itself would block it {result['feedparser_on_the_loop_ms']} ms."
    )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--per-poll", type=int, default=Settings.model_fields["feed_items_per_poll"].default)
    parser.add_argument(
        "--index", choices=["sqlite", "milvus"], default="sqlite", help="the library's backend"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = asyncio.run(run(args.items, args.per_poll, args.index))
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
