"""The answer's speed with its quotes re-read in context as before session 9 and as now, in one
process, question by question (a benchmark, not a test: it asserts nothing).

    python benchmarks/reread_speed.py --db BENCH_DB --corpus ../shared/eval/scale/corpus.jsonl \
        --questions ../shared/eval/dev/questions.jsonl

Re-reading the best quote candidates after their article's title is most of an answer's time at
10k articles (one encoder call per answer, 2.4 ms of everything else in the sentence stage).
Before: 5 candidates in one encoder batch on both cores together; now: 4 candidates
(``answer.CONTEXT_CANDIDATES``), shared out among the encoder's streams (``OpenVINOEncoder._encode``).
The two are asked in turn, the order rotating every question, so the machine's load falls on
both alike; the library is ``benchmarks/bench.py``'s (``--db``, built by it first). Results go
to ``benchmarks/results/reread-speed.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import RESULTS, _questions, sample_lines

from index.in_memory import InMemoryAnswerer
from library import Library
from retrieval import answer as answer_module
from retrieval.encoder import OpenVINOEncoder
from settings import Settings


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--articles", type=int, default=10_000, help="bench.py's sample size")
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    library = await Library.open(Settings(NEWSBOT_DB=args.db))  # type: ignore[call-arg]
    try:
        answerer = library.answerer
        if not isinstance(answerer, InMemoryAnswerer):
            raise SystemExit("this measures the SQLite library's in-memory index: NEWSBOT_INDEX=sqlite")
        now = answerer.encoder
        if not isinstance(now, OpenVINOEncoder):
            raise SystemExit(
                "this compares the OpenVINO encoder's batching: NEWSBOT_ENCODER_BACKEND=openvino"
            )
        # The encoder as before: one stream in all (a call of a few texts is one batch on both cores).
        before = object.__new__(OpenVINOEncoder)
        for name in ("_batch_size", "_identity"):
            setattr(before, name, getattr(now, name))
        before._model = replace(now._model, bulk_requests=1)
        sample, _ = sample_lines(args.corpus, args.articles, 5)
        questions = _questions(args.questions, sample, args.queries)
        ways = {
            "before (5, one batch)": (5, before),
            "now (4, shared out)": (answer_module.CONTEXT_CANDIDATES, now),
        }
        took: dict[str, list[float]] = {way: [] for way in ways}
        await library.ask(questions[0])
        names = list(ways)
        for k, question in enumerate(questions):
            for way in names[k % 2 :] + names[: k % 2]:
                answer_module.CONTEXT_CANDIDATES, answerer.encoder = ways[way]
                started = time.perf_counter()
                await library.ask(question)
                took[way].append((time.perf_counter() - started) * 1000)
        answer_module.CONTEXT_CANDIDATES, answerer.encoder = ways[names[1]]
    finally:
        await library.close()
    result = {
        way: {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)}
        for way, ms in took.items()
    }
    first, second = (result[n] for n in names)
    result["ratio now / before"] = {p: round(second[p] / first[p], 3) for p in first}
    (RESULTS / "reread-speed.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
