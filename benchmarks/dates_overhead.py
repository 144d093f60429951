"""What dates and copies cost an answer, measured in one process (a benchmark, not a test).

    python benchmarks/dates_overhead.py --db LIBRARY.sqlite3 [--queries 300]

The answer path gained three steps (``retrieval/answer.py``): the recency words are dropped
from the text embedded (``without_recency_words``), the ranking is re-read by date and story
(``for_quotes``: the period a question names, the copies of each story) and the quotes of
differently dated articles are put later first (``later_first``). Each question is asked with
those steps and with them replaced by what the code did before (the first ``answer_articles``
ranked, the quotes as chosen), alternately in both orders, on the same library and index, so
the machine's load falls on both alike. Questions: the titles of the library's articles (as
``benchmarks/bench.py`` asks), a quarter of them asking for the latest ("… terbaru").
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval.answer as answer_module
from library import Library
from retrieval.corpus import CorpusIndex, RankedArticles
from retrieval.types import ArticleInfo, Citation
from settings import Settings

WITH = (answer_module.for_quotes, answer_module.later_first, answer_module.without_recency_words)


def _before_for_quotes(
    index: CorpusIndex, ranked: RankedArticles, stories: int
) -> tuple[RankedArticles, list[int], dict[int, tuple[ArticleInfo, ...]]]:
    return ranked, [int(s) for s in ranked.order[:stories]], {}


def _before_later_first(citations: list[Citation]) -> list[Citation]:
    return citations


def _as_before(question: str) -> str:
    return question


WITHOUT = (_before_for_quotes, _before_later_first, _as_before)


def use(steps: tuple[Any, Any, Any]) -> None:
    answer_module.for_quotes, answer_module.later_first, answer_module.without_recency_words = steps


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    library = await Library.open(Settings(_env_file=None, NEWSBOT_DB=args.db))  # type: ignore[call-arg]
    try:
        titles = [a.info.title for a in library.index.articles if a.info.title]
        rng = random.Random(0)
        questions = rng.sample(titles, min(args.queries, len(titles)))
        questions = [f"{q} terbaru" if i % 4 == 0 else q for i, q in enumerate(questions)]
        for q in questions[:5]:  # warm up both
            for steps in (WITH, WITHOUT):
                use(steps)
                await library.ask(q)
        took: dict[str, list[float]] = {"with": [], "without": []}
        changed = 0
        for i, q in enumerate(questions):
            order = (
                (("with", WITH), ("without", WITHOUT))
                if i % 2 == 0
                else (("without", WITHOUT), ("with", WITH))
            )
            firsts = {}
            for name, steps in order:
                use(steps)
                answer = await library.ask(q)
                took[name].append(answer.took_ms)
                firsts[name] = answer.citations[0].article.ref if answer.citations else None
            changed += firsts["with"] != firsts["without"]
    finally:
        use(WITH)
        await library.close()
    print(f"{len(questions)} questions on {len(library.index):,} articles, asked both ways, alternating")
    for name, values in took.items():
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        print(f"{name:>8} the date and copy steps: p50 / p95 / p99 {p50:.1f} / {p95:.1f} / {p99:.1f} ms")
    ratio = float(np.percentile(took["with"], 95) / np.percentile(took["without"], 95))
    print(f"p95 with / without: {ratio:.3f}; first quote from another article: {changed} questions")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
