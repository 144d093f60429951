"""newsbot's speed and scale benchmark (a benchmark, not a test: it asserts nothing).

    python benchmarks/bench.py --corpus ../shared/eval/scale/corpus.jsonl [--articles 10000]

It builds (or reuses) an index of a fixed random sample of the corpus, then reports in one run:
- ingest throughput against the raw encoder on the same texts (a sub-sample, fresh database);
- query latency p50/p95/p99, end to end through ``Library.ask`` and split into embed / dense /
  BM25 / fusion / sentence selection;
- cold start (a new process, model cached, to its first answer) and that process's peak RSS;
- the index's size on disk;
- the time from an admin's add to the article being answerable, while the library holds the
  sample, and how much of it comes after the embeddings are computed.

Timings on a shared 2-core machine vary from run to run; compare ratios within one run. The
results go to ``benchmarks/results/bench-<articles>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import snapshot
from jsonl import jsonl_lines, parse_import_line
from library import Library
from retrieval.answer import answer_from, prepared_question, reread_in_context, score_sentences
from retrieval.cleaning import clean_text
from retrieval.config import DEFAULT_CONFIG
from retrieval.encoder import Encoder, load_encoder
from retrieval.prepare import prepare_article
from retrieval.types import CleanedArticle
from settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values_ms: list[float]) -> Percentiles:
        a = np.asarray(values_ms)
        return cls(*(round(float(np.percentile(a, q)), 1) for q in (50, 95, 99)))


def sample_lines(corpus: Path, n: int, held_out: int) -> tuple[list[str], list[str]]:
    """A fixed random sample of ``n`` lines (seed 0), and ``held_out`` other lines, long enough
    to pass as articles on their own, for adds. Asking for the whole corpus keeps the adds out of
    the sample (its last lines in the shuffled order), so the library peaks at the corpus size."""
    lines = [line for line in jsonl_lines(corpus) if line.strip()]
    order = random.Random(0).sample(range(len(lines)), len(lines))

    def long_enough(i: int) -> bool:
        return len(json.loads(lines[i])["text"]) >= 1000

    if n + held_out <= len(lines):
        chosen, adds = order[:n], [i for i in order[n:] if long_enough(i)][:held_out]
    else:
        adds = [i for i in reversed(order) if long_enough(i)][:held_out]
        held = set(adds)
        chosen = [i for i in order if i not in held][:n]
    return [lines[i] for i in sorted(chosen)], [lines[i] for i in adds]


def _prepared_texts(lines: list[str]) -> list[str]:
    texts = []
    for number, line in enumerate(lines, start=1):
        record = parse_import_line(line, number)
        assert record is not None
        cleaned = clean_text(record.text, url=record.meta.url, archive=True)
        prepared = prepare_article(
            CleanedArticle(cleaned.text, record.meta), DEFAULT_CONFIG, lang=record.lang
        )
        texts += [s.text for s in prepared.sentences] + [c.text for c in prepared.chunks]
    return texts


def _texts_per_second(encoder: Encoder, baseline: Encoder, texts: list[str]) -> tuple[float, float]:
    """Texts/s of ``encoder`` and of ``baseline`` on the same texts, in calls as large as an
    import batch's (32 articles' texts: the encoders sort a call's texts by length, so call size
    matters). The two take turns call by call, each going first every other time, so a noisy
    neighbour on this shared machine slows both alike instead of skewing the ratio."""
    for warm in (encoder, baseline):
        warm.encode_passages(texts[:16])
    seconds = {id(encoder): 0.0, id(baseline): 0.0}
    for turn, i in enumerate(range(0, len(texts), 600)):
        for side in (encoder, baseline) if turn % 2 else (baseline, encoder):
            started = time.perf_counter()
            side.encode_passages(texts[i : i + 600])
            seconds[id(side)] += time.perf_counter() - started
    return len(texts) / seconds[id(encoder)], len(texts) / seconds[id(baseline)]


async def ingest_versus_encoder(
    encoder: Encoder, baseline: Encoder, lines: list[str], settings: Settings
) -> dict[str, float]:
    """On the prepared texts of ``lines``: the torch float32 baseline's texts/s, the encoder's
    texts/s, then a full import of the same lines into a fresh database; the import's share of
    the encoder's speed is what the import costs beyond encoding."""
    texts = await asyncio.to_thread(_prepared_texts, lines)
    raw, torch_float32 = await asyncio.to_thread(_texts_per_second, encoder, baseline, texts)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "sample.jsonl"
        archive.write_text("\n".join(lines) + "\n", encoding="utf-8")
        library = await Library.open(
            settings.model_copy(update={"db": Path(tmp) / "ingest.db"}), encoder=encoder
        )
        try:
            summary = await library.import_jsonl(archive)
        finally:
            await library.close()
    ingested = (summary.chunks + summary.sentences) / summary.seconds
    return {
        "articles": len(lines),
        "texts": len(texts),
        "torch_float32_texts_per_s": round(torch_float32, 1),
        "encoder_texts_per_s": round(raw, 1),
        "encoder_speedup": round(raw / torch_float32, 2),
        "import_texts_per_s": round(ingested, 1),
        "import_share_of_encoder": round(ingested / raw, 3),
    }


async def query_latency(library: Library, questions: list[str]) -> dict[str, object]:
    """End to end through ``Library.ask`` (thread hop included), then the same questions stage
    by stage on the same index."""
    await library.ask(questions[0])  # warm up
    end_to_end = []
    for q in questions:
        started = time.perf_counter()
        await library.ask(q)
        end_to_end.append((time.perf_counter() - started) * 1000)

    index, encoder = await library.whole_index(), library.encoder  # in Milvus: read whole for this

    def stages() -> dict[str, list[float]]:
        names = ("prepare", "embed", "dense", "bm25", "fusion", "sentences", "sentences_ungrounded")
        out: dict[str, list[float]] = {k: [] for k in names}
        for q in questions:
            t0 = time.perf_counter()
            text = prepared_question(index, q)
            t1 = time.perf_counter()
            vector = encoder.encode_queries([text])[0]
            t2 = time.perf_counter()
            evidence = index.evidence(text, vector, asked=q)
            t3 = time.perf_counter()
            ranked = index.rank(evidence)
            t4 = time.perf_counter()
            answer_from(index, evidence, encode_passages=encoder.encode_passages)  # quotes re-read too
            t5 = time.perf_counter()
            # The same, without what grounding adds (the question's terms, what the quotes
            # support, the order by support): the ratio of the two is the grounding's cost.
            candidates, _ = score_sentences(index, ranked, index.config)
            reread_in_context(index, candidates, evidence, index.config, encoder.encode_passages)
            t6 = time.perf_counter()
            out["prepare"].append((t1 - t0) * 1000)
            out["embed"].append((t2 - t1) * 1000)
            out["dense"].append(evidence.dense_seconds * 1000)
            out["bm25"].append(evidence.lexical_seconds * 1000)
            out["fusion"].append((t4 - t3) * 1000)
            out["sentences"].append(max(t5 - t4 - (t4 - t3), 0.0) * 1000)
            out["sentences_ungrounded"].append((t6 - t5) * 1000)
        return out

    split = await asyncio.to_thread(stages)
    return {
        "questions": len(questions),
        "end_to_end_ms": asdict(Percentiles.of(end_to_end)),
        "stages_ms": {k: asdict(Percentiles.of(v)) for k, v in split.items()},
    }


_CHILD = """
import cli, pathlib, sys
code = cli.main()
status = pathlib.Path("/proc/self/status")
print(status.read_text() if status.exists() else "", file=sys.stderr)
sys.exit(code)
"""


def cold_start(db: Path, questions: list[str]) -> dict[str, float | None]:
    """A new ``newsbot ask --questions`` process (model already cached) answering the benchmark's
    questions: wall time from process start to its first answer, and the peak RSS of that
    process once it has served them all (the index, the model and query buffers all resident).
    The peak is the process's own VmHWM: ``ru_maxrss`` would count the benchmark's memory it
    was forked from."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "questions.jsonl"
        archive.write_text(
            "".join(json.dumps({"id": str(i), "question": q}) + "\n" for i, q in enumerate(questions)),
            encoding="utf-8",
        )
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, "--db", str(db), "ask", "--json", "--questions", str(archive)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = json.loads(child.stdout.readline())
        seconds = time.perf_counter() - started
        rest, errors = child.communicate()
    if child.returncode:
        raise RuntimeError(f"newsbot ask failed: {errors[-2000:]}")
    peak = next((line.split()[1] for line in errors.splitlines() if line.startswith("VmHWM:")), None)
    return {
        "seconds": round(seconds, 2),
        "answer_took_ms": first["took_ms"],
        "questions": 1 + len(rest.splitlines()),
        "peak_rss_mb": round(int(peak) / 1024, 1) if peak else None,
    }


async def add_to_answerable(library: Library, lines: list[str]) -> dict[str, Any]:
    """Add held-out articles one by one as an admin would, timing the whole add, and the part
    after the embeddings exist (store in one transaction + publish to the index), which is what
    grows with the library; then check its title finds it."""
    rows, added = [], []
    for number, line in enumerate(lines, start=1):
        record = parse_import_line(line, number)
        assert record is not None
        title = record.meta.title or record.text[:80]
        started = time.perf_counter()
        info = await library.add_text(f"{title}\n\n{record.text}")
        total = time.perf_counter() - started
        added.append(info.ref)
        answer = await library.ask(title)
        rows.append(
            {
                "total_s": round(total, 3),
                "after_embedding_s": round(library.last_publish_seconds, 3),
                "found_by_title": info.ref in answer.articles[:10],
            }
        )
    return {
        "articles": len(rows),
        "median_total_s": statistics.median(r["total_s"] for r in rows),
        "median_after_embedding_s": statistics.median(r["after_embedding_s"] for r in rows),
        "max_after_embedding_s": max(r["after_embedding_s"] for r in rows),
        "all_found": all(r["found_by_title"] for r in rows),
        "refs": added,
    }


def _questions(path: Path | None, sample: list[str], n: int) -> list[str]:
    """Real questions when a question file is given (dev's mix of languages), else titles."""
    if path and path.exists():
        found = [json.loads(line)["question"] for line in jsonl_lines(path) if line]
    else:
        found = [t for line in sample if (t := json.loads(line).get("title"))]
    random.Random(1).shuffle(found)
    return found[:n]


def _disk_mb(db: Path) -> dict[str, float]:
    """The database (with its WAL) and the saved index beside it."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    saved = snapshot.snapshot_dir(db)
    return {
        "database": round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 1),
        "snapshot": round(sum(f.stat().st_size for f in saved.rglob("*") if f.is_file()) / 1e6, 1),
    }


def markdown(result: dict[str, object]) -> str:
    ingest, latency = result["ingest"], result["latency"]
    cold, add, disk = result["cold_start"], result["add"], result["disk_mb"]
    assert isinstance(ingest, dict) and isinstance(latency, dict) and isinstance(cold, dict)
    assert isinstance(add, dict) and isinstance(disk, dict)
    e2e, st = latency["end_to_end_ms"], latency["stages_ms"]
    lines = [
        f"Library: {result['articles']:,} articles, {result['chunks']:,} chunks, "
        f"{result['sentences']:,} sentences; {result['machine']}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| query end to end p50 / p95 / p99 | {e2e['p50']} / {e2e['p95']} / {e2e['p99']} ms |",
    ]
    for stage, p in st.items():
        lines.append(f"| · {stage} p50 / p95 / p99 | {p['p50']} / {p['p95']} / {p['p99']} ms |")
    lines += [
        f"| encoder: torch float32 → {result['backend']} (same texts) | "
        f"{ingest['torch_float32_texts_per_s']} → {ingest['encoder_texts_per_s']} texts/s "
        f"(×{ingest['encoder_speedup']}) |",
        f"| import ({ingest['articles']} articles, {ingest['texts']} texts) | "
        f"{ingest['import_texts_per_s']} texts/s = {ingest['import_share_of_encoder']:.0%} of the encoder |",
        f"| add → answerable, median (after embedding) | "
        f"{add['median_total_s']} s ({add['median_after_embedding_s']} s) |",
        f"| cold start to first answer (new process) | {cold['seconds']} s |",
        f"| peak RSS of that process after {cold['questions']} questions | {cold['peak_rss_mb']} MB |",
        f"| on disk: database + saved index | {disk['database']} + {disk['snapshot']} MB |",
    ]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="index to build or reuse (default: under ~/.cache)")
    parser.add_argument("--questions", type=Path, help="JSONL with a question field (default: titles)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ingest-sample", type=int, default=150, help="articles for the ingest ratio")
    parser.add_argument("--adds", type=int, default=5)
    args = parser.parse_args()

    db = args.db or Path.home() / ".cache" / "newsbot-bench" / f"scale-{args.articles}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    sample, held_out = sample_lines(args.corpus, args.articles, args.adds)
    settings = Settings(NEWSBOT_DB=db)  # type: ignore[call-arg]
    library = await Library.open(settings)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "sample.jsonl"
            archive.write_text("\n".join(sample) + "\n", encoding="utf-8")
            summary = await library.import_jsonl(archive, on_progress=_progress)
            print(f"\nindex: {summary.stored} new articles in {summary.seconds:.0f} s", file=sys.stderr)
        baseline = await asyncio.to_thread(
            load_encoder, settings.model, settings.model_cache, backend="torch"
        )
        ingest = await ingest_versus_encoder(
            library.encoder, baseline, sample[: args.ingest_sample], settings
        )
        del baseline
        questions = _questions(args.questions, sample, args.queries)
        latency = await query_latency(library, questions)
        stats = await library.stats()
        add = await add_to_answerable(library, held_out)
        for ref in add.pop("refs"):  # leave the index as the sample alone, for the next run
            await library.delete(ref)
    finally:
        await library.close()
    cold = await asyncio.to_thread(cold_start, db, questions)
    result = {
        "articles": stats.articles,
        "sample": args.articles,
        "chunks": stats.chunks,
        "sentences": stats.sentences,
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "backend": settings.encoder_backend,
        "ingest": ingest,
        "latency": latency,
        "add": add,
        "cold_start": cold,
        "disk_mb": _disk_mb(db),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"bench-{args.articles}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = markdown(result)
    stem.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


def _progress(done: int, total: int) -> None:
    if done % 200 == 0 or done == total:
        print(f"\rindexing the sample: {done:,}/{total:,}", end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
