"""How often the newest relevant article is quoted first (a benchmark, not a test).

    python benchmarks/recency_eval.py stories --corpus ../shared/eval/scale/corpus.jsonl \\
        --db LIBRARY.sqlite3 --out stories.json
    python benchmarks/recency_eval.py ask --db LIBRARY.sqlite3 --stories stories.json [--code DIR]

Built from real data: the CLICK-ID articles of a library (e.g. the benchmark's 10k sample of the
scale corpus), dated by their byline ("Rabu (18/9/2019)", ``retrieval.dates.date_in_text``).
Articles on the same story line at different dates are grouped: their titles share at least
two content words and their texts at least 8% of their word 3-grams (not copies: below 80%).
Each group of articles dated on at least two different days is asked about with its oldest
article's title, as a reader who saw that headline asks for the latest ("Apa kabar terbaru soal
<title>?"), and plainly ("<title>?"). A hit: the first quote comes from the group's newest
article (or one of its newest, on a tie); also counted: first quotes from outside the group.

``stories`` writes the groups and the dates; ``ask`` sets those dates on the library's articles
(a library imported without them), then asks. ``--code`` runs another checkout's newsbot (the
code before a change) on a copy of the same library, so before and after answer the same
questions from the same articles and vectors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

# Two articles are on one story line when their titles share this many content words (each
# in at most 50 titles) and their texts this share of word 3-grams.
MIN_SHARED_WORDS = 2
MIN_SIMILARITY = 0.08


def _stories(args: argparse.Namespace) -> None:
    from index.store import Store
    from retrieval.dates import date_in_text
    from retrieval.near_duplicates import COPY_SIMILARITY, jaccard, shingles

    async def stored_refs() -> set[str]:
        store = await Store.open(args.db, read_only=True)
        try:
            return {ref for ref, _ in (await store.refs_in_use()).values()}
        finally:
            await store.close()

    refs = asyncio.run(stored_refs())
    articles = {}
    for raw in args.corpus.open(encoding="utf-8"):
        line = json.loads(raw)
        if line["id"] in refs and line["source"].startswith("click-id") and line.get("title"):
            day = date_in_text(line["text"])
            if day is not None:
                articles[line["id"]] = (line["title"], day, shingles(line["text"]))
    stop = set(
        "di ke dari dan yang untuk dengan ini itu pada jadi soal akan usai saat bisa tak tidak ada"
        " jelang kata ini ini: vs".split()
    )
    words = {
        ref: {w for w in re.findall(r"\w+", t.lower()) if w not in stop and len(w) > 2}
        for ref, (t, _, _) in articles.items()
    }
    by_word: dict[str, list[str]] = defaultdict(list)
    for ref, ws in words.items():
        for w in ws:
            by_word[w].append(ref)
    parent = {ref: ref for ref in articles}

    def root(ref: str) -> str:
        while parent[ref] != ref:
            parent[ref] = parent[parent[ref]]
            ref = parent[ref]
        return ref

    for ref in articles:
        shared: dict[str, int] = defaultdict(int)
        for w in words[ref]:
            if len(by_word[w]) <= 50:  # a word of a story line, not of a rubric
                for other in by_word[w]:
                    if other > ref:
                        shared[other] += 1
        for other, n in shared.items():
            similar = jaccard(articles[ref][2], articles[other][2])
            if n >= MIN_SHARED_WORDS and MIN_SIMILARITY <= similar < COPY_SIMILARITY:
                parent[root(other)] = root(ref)
    groups: dict[str, list[str]] = defaultdict(list)
    for ref in articles:
        groups[root(ref)].append(ref)
    stories = []
    for members in groups.values():
        days = {articles[m][1] for m in members}
        if len(members) >= 2 and len(days) >= 2:
            oldest = min(members, key=lambda m: (articles[m][1], m))
            newest_day = max(days)
            stories.append(
                {
                    "asked_from": oldest,
                    "title": articles[oldest][0],
                    "members": {m: articles[m][1] for m in sorted(members)},
                    "newest": sorted(m for m in members if articles[m][1] == newest_day),
                }
            )
    dates = {ref: day for ref, (_, day, _) in articles.items()}
    args.out.write_text(json.dumps({"dates": dates, "stories": stories}, indent=1), encoding="utf-8")
    print(f"{len(articles)} dated CLICK-ID articles, {len(stories)} stories of 2+ dates -> {args.out}")


async def _ask(args: argparse.Namespace) -> None:
    from index.store import Store
    from library import Library
    from settings import Settings

    data = json.loads(args.stories.read_text(encoding="utf-8"))
    store = await Store.open(args.db)
    try:
        # The dates the archive did not carry; the code before this change (``--code``) has
        # no use for dates, and no way to set them.
        if hasattr(store, "set_published"):
            await store.set_published(data["dates"])
    finally:
        await store.close()
    library = await Library.open(Settings(_env_file=None, NEWSBOT_DB=args.db))  # type: ignore[call-arg]
    results = {}
    try:
        for phrasing, template in (("latest", "Apa kabar terbaru soal {}?"), ("plain", "{}?")):
            hits = asked = declined = elsewhere = 0
            for story in data["stories"]:
                answer = await library.ask(template.format(story["title"].rstrip("?!. ")))
                asked += 1
                if answer.abstained:
                    declined += 1
                elif answer.citations[0].article.ref in story["newest"]:
                    hits += 1
                elif answer.citations[0].article.ref not in story["members"]:
                    elsewhere += 1
            results[phrasing] = {
                "asked": asked,
                "newest_first": hits,
                "first_from_another_story": elsewhere,
                "declined": declined,
            }
    finally:
        await library.close()
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("stories")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(run=lambda a: _stories(a))
    p = sub.add_parser("ask")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--stories", type=Path, required=True)
    p.add_argument("--code", type=Path, help="the newsbot checkout to run (default: this one)")
    p.set_defaults(run=lambda a: asyncio.run(_ask(a)))
    args = parser.parse_args()
    sys.path.insert(0, str(args.code if getattr(args, "code", None) else Path(__file__).resolve().parents[1]))
    args.run(args)


if __name__ == "__main__":
    main()
