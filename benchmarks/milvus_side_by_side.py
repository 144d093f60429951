"""The same library in both backends, side by side in one run (issue 16; a benchmark, asserts nothing).

    python benchmarks/milvus_side_by_side.py --db LIB.sqlite3 --milvus LIB-milvus.db [--queries 100]

``--milvus`` is the same library copied with ``newsbot --db LIB.sqlite3 migrate --to milvus``
(NEWSBOT_MILVUS_URI=LIB-milvus.db). Each backend is measured in a process of its own (so peak
RSS is its own): opening the library (model already loaded: the store's reading and the index
build), answering ``--queries`` article titles end to end through ``Library.ask``, and adding
``--adds`` new articles (store + publish, after embedding), and, with ``--import-lines FILE``,
importing its first ``--import-n`` lines into a new library of the same backend (embedding
included: the import rate a newsroom sees). The answers of the two are compared (same quotes
from the same refs). Timings on a shared 2-core machine vary: compare within a run.

In Milvus mode answers come from what Milvus finds per question (``index/milvus_search.py``), so
the process holds no library; with milvus-lite embedded, its engine (which holds the loaded
collections, as a Milvus query node would) is in the same process. ``--served`` runs that engine
as a ``milvus-lite server`` of its own on the copy, so the bot's RSS and the engine's are
reported apart: any number of bot processes share one engine.
Writes ``milvus-side-by-side-<n>[-served].{json,md}`` in ``--results`` (``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import snapshot
from index.store import Store
from jsonl import jsonl_lines
from library import Library, _load_model
from settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
FILLER = (
    "Benchmark note {n}: the harbour authority of Port Velna counted {n} ferries on Tuesday. "
    "Officials said the new pier will open in spring. Fishermen welcomed the decision."
)


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 1), "p95": round(pick(0.95), 1)}


def _size_mb(path: Path) -> float:
    """A milvus-lite folder, or a SQLite file with its WAL and the saved index beside it."""
    if path.is_dir():
        files = list(path.rglob("*"))
    else:
        files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]
        files += list(snapshot.snapshot_dir(path).rglob("*"))
    return round(sum(f.stat().st_size for f in files if f.is_file()) / 1e6, 1)


async def import_rate(settings: Settings, encoder: Any, lines: list[str]) -> dict[str, float]:
    """Articles and texts (sentences + chunks) per second importing ``lines`` into a new, empty
    library of ``settings``' backend (embedded: a milvus-lite file, not the served engine)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "import.jsonl"
        archive.write_text("\n".join(lines) + "\n", encoding="utf-8")
        fresh = settings.model_copy(
            update={"db": Path(tmp) / "fresh.sqlite3", "milvus_uri": str(Path(tmp) / "fresh.db")}
        )
        library = await Library.open(fresh, encoder=encoder)
        try:
            summary = await library.import_jsonl(archive)
        finally:
            await library.close()
    return {
        "articles": summary.stored,
        "articles_per_s": round(summary.stored / summary.seconds, 2),
        "texts_per_s": round((summary.sentences + summary.chunks) / summary.seconds, 1),
    }


async def chosen_titles(db: Path, queries: int) -> list[str]:
    """The titles both backends are asked (the first warms up), drawn from the SQLite library:
    the measured processes never list the whole library, which would count in their peak RSS."""
    store = await Store.open(db, read_only=True)
    try:
        listed = await store.recent((await store.stats()).articles)
    finally:
        await store.close()
    titles = sorted(a.title for a in listed if a.title)  # the same order whatever the ids
    random.Random(1).shuffle(titles)
    return titles[: queries + 1]


async def measure(
    settings: Settings, titles: list[str], adds: int, import_lines: list[str] | None = None
) -> dict[str, Any]:
    encoder = await asyncio.to_thread(_load_model, settings)
    started = time.perf_counter()
    library = await Library.open(settings, encoder=encoder)
    opened = time.perf_counter() - started
    try:
        await library.ask(titles[0])  # warm up
        took, answers = [], []
        for title in titles[1:]:
            answer = await library.ask(title)
            took.append(answer.took_ms)
            answers.append([(c.article.ref, c.text) for c in answer.citations])
        publish = []
        for n in range(adds):
            info = await library.add_text(FILLER.format(n=n + random.Random().randrange(10**9)))
            publish.append(library.last_publish_seconds * 1000)
            await library.delete(info.ref)
        articles = (await library.stats()).articles
    finally:
        await library.close()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the import's
    return {
        "articles": articles,
        "open_s": round(opened, 2),
        "ask_ms": _ms(took),
        "add_store_publish_ms": _ms(publish),
        "import": await import_rate(settings, encoder, import_lines) if import_lines else None,
        "peak_rss_mb": round(peak_rss, 1),
        "answers": answers,
    }


@contextlib.contextmanager
def served(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``milvus-lite server`` on ``data_dir`` in a process of its own: (its URI, the process)."""
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("milvus-lite")), "server", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(1200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"milvus-lite server exited with {process.returncode}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=60)


def peak_rss_mb(pid: int) -> float:
    """A running process's peak RSS (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--milvus", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--adds", type=int, default=5)
    parser.add_argument("--served", action="store_true", help="Milvus's engine in a process of its own")
    parser.add_argument("--import-lines", type=Path, help="a JSONL archive: import rate into a new library")
    parser.add_argument("--import-n", type=int, default=200, help="lines of --import-lines to import")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where the tables go (default: %(default)s)"
    )
    parser.add_argument("--one", choices=["sqlite", "milvus"], help=argparse.SUPPRESS)  # the child
    parser.add_argument("--uri", help=argparse.SUPPRESS)  # the child's Milvus, when served
    parser.add_argument("--titles", type=Path, help=argparse.SUPPRESS)  # the child's questions
    args = parser.parse_args()
    if args.one:
        uri = args.uri or str(args.milvus)
        env = {"NEWSBOT_DB": args.db, "NEWSBOT_INDEX": args.one, "NEWSBOT_MILVUS_URI": uri}
        settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
        lines = None
        if args.import_lines:
            lines = [line for line in jsonl_lines(args.import_lines) if line.strip()][: args.import_n]
        titles = json.loads(args.titles.read_text("utf-8"))
        print(json.dumps(asyncio.run(measure(settings, titles, args.adds, lines))))
        return 0
    result: dict[str, Any] = {}
    asked = args.results / "questions.json"  # beside the tables, then removed
    args.results.mkdir(parents=True, exist_ok=True)
    asked.write_text(json.dumps(asyncio.run(chosen_titles(args.db, args.queries))), encoding="utf-8")
    for backend in ("sqlite", "milvus"):
        command = [sys.executable, __file__, "--db", str(args.db), "--milvus", str(args.milvus)]
        command += ["--titles", str(asked), "--adds", str(args.adds), "--one", backend]
        if args.import_lines:
            command += ["--import-lines", str(args.import_lines), "--import-n", str(args.import_n)]
        with contextlib.ExitStack() as stack:
            engine = None
            if backend == "milvus" and args.served:
                uri, engine = stack.enter_context(served(args.milvus))
                command += ["--uri", uri]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result[backend] = json.loads(done.stdout.strip().splitlines()[-1])
            if engine is not None:
                result[backend]["engine_peak_rss_mb"] = peak_rss_mb(engine.pid)
        print(backend, {k: v for k, v in result[backend].items() if k != "answers"}, file=sys.stderr)
    asked.unlink()
    same = sum(a == b for a, b in zip(result["sqlite"]["answers"], result["milvus"]["answers"], strict=True))
    disk = {"sqlite": _size_mb(args.db), "milvus": _size_mb(args.milvus)}
    n = result["sqlite"]["articles"]
    rows: list[tuple[str, str, Callable[[Any], str]]] = [
        ("articles", "articles", lambda r: f"{r:,}"),
        ("open the library (model loaded), s", "open_s", str),
        ("answer end to end p50 / p95, ms", "ask_ms", lambda r: f"{r['p50']} / {r['p95']}"),
        ("add: store + publish p50 / p95, ms", "add_store_publish_ms", lambda r: f"{r['p50']} / {r['p95']}"),
        ("peak RSS, MB", "peak_rss_mb", str),
    ]
    if args.import_lines:
        rows.insert(
            -1,
            (
                f"import {args.import_n} articles into a new library: articles/s (texts/s)",
                "import",
                lambda r: f"{r['articles_per_s']} ({r['texts_per_s']})",
            ),
        )
    if args.served:
        rows[-1] = ("peak RSS of the newsbot process, MB", "peak_rss_mb", str)
    lines = [f"| measure ({n:,} articles) | SQLite | milvus-lite{' server' if args.served else ''} |"]
    lines.append("|---|---|---|")
    lines += [
        f"| {label} | {fmt(result['sqlite'][key])} | {fmt(result['milvus'][key])} |"
        for label, key, fmt in rows
    ]
    if args.served:
        lines.append(f"| peak RSS of the Milvus engine, MB | | {result['milvus']['engine_peak_rss_mb']} |")
    lines.append(f"| on disk, MB | {disk['sqlite']} (database + saved index) | {disk['milvus']} |")
    lines.append(
        f"| the same quotes from the same articles | {same} of {len(result['sqlite']['answers'])} | |"
    )
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "answers"} for k, v in result.items()}
    name = f"milvus-side-by-side-{n}{'-served' if args.served else ''}"
    (args.results / f"{name}.json").write_text(
        json.dumps({**summary, "disk_mb": disk, "same_answers": same}, indent=1), encoding="utf-8"
    )
    (args.results / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
