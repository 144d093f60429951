"""Syndicated copies in a Milvus library (a benchmark, not a test): ``newsbot backfill`` on a
library made before Milvus kept stories, then the lookup ingest makes for each new article.

    python benchmarks/milvus_copies.py --milvus COPY-OF-LIBRARY.db [--lookups 300]

It changes the library (the backfill): run it on a copy. Reported: opening it (the ``stories``
collection created), the backfill (articles, copies found, dated, seconds, rate), then
``near_candidates`` for ``--lookups`` articles of the library (their own text: each finds at
least itself), p50 / p95 ms and the candidates found, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backfill import backfill_copies_and_dates
from index.milvus import MilvusStore
from retrieval.near_duplicates import fingerprint

RESULTS = Path(__file__).resolve().parent / "results"


async def measure(uri: str, lookups: int) -> dict[str, float | int]:
    started = time.perf_counter()
    store = await MilvusStore.open(uri)
    opened = time.perf_counter() - started
    try:
        unchecked = await store.count_without_near_keys()
        summary = await backfill_copies_and_dates(store)
        articles = (await store.stats()).articles
        texts = [a.text for a in await store.sample(lookups)][:lookups]
        seconds, found = [], []
        for text in texts:
            keys = fingerprint(text).keys
            began = time.perf_counter()
            candidates = await store.near_candidates(keys)
            seconds.append(time.perf_counter() - began)
            found.append(len(candidates))
    finally:
        await store.close()
    ms = sorted(s * 1000 for s in seconds)
    return {
        "articles": articles,
        "open_s": round(opened, 2),
        "unchecked_before": unchecked,
        "backfill_completed": summary.completed,
        "backfill_copies": summary.copies,
        "backfill_dated": summary.dated,
        "backfill_s": round(summary.seconds, 1),
        "backfill_per_s": round(summary.completed / summary.seconds, 1) if summary.seconds else 0,
        "lookups": len(ms),
        "lookup_p50_ms": round(statistics.median(ms), 1) if ms else 0,
        "lookup_p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else 0,
        "candidates_mean": round(statistics.mean(found), 2) if found else 0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--milvus", required=True, help="a milvus-lite .db (a copy: it is changed)")
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    result = asyncio.run(measure(args.milvus, args.lookups))
    RESULTS.mkdir(exist_ok=True)
    name = f"milvus-copies-{result['articles']}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in result.items())
    (RESULTS / f"{name}.md").write_text(f"# {name}\n\n{table}", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
