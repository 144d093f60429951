"""Syndicated copies and publication dates on a real corpus (a benchmark, not a test).

    python benchmarks/near_duplicates.py --corpus ../shared/eval/scale/corpus.jsonl [--sample 40]

Every line is cleaned as ``newsbot import`` cleans it and dated as ingest dates it; then the
lines are taken in file order, as an import would store them, and each is checked against the
earlier ones exactly as ingest does (``retrieval/near_duplicates.py``: the LSH band keys find
candidates, the exact Jaccard of word 3-grams decides, at ``COPY_SIMILARITY``). It reports:
- the stories with copies (clusters), by source, and their sizes;
- a random sample of copy pairs to check by eye (written to ``--pairs``);
- the cost per article of the fingerprint and of the decision;
- SimHash on the same 3-grams for comparison (64 bits, every pair within each of
  ``--simhash-bits`` Hamming distances, among the CLICK-ID articles, where the outlets share
  stories), with how many of its pairs MinHash took for copies and their Jaccard similarity;
- how many articles got a publication date, by source;
- with ``--db`` (a library imported by this version), what the store's lookup of the
  candidates costs (``Store.near_candidates``), for the first 500 articles.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.store import Store
from jsonl import jsonl_lines, parse_import_line
from retrieval.cleaning import clean_text
from retrieval.dates import with_publication_date
from retrieval.errors import ArticleRejected
from retrieval.near_duplicates import COPY_SIMILARITY, CopyCandidate, copy_of, fingerprint, jaccard, shingles
from retrieval.types import CleanedArticle


@dataclass(frozen=True, slots=True)
class Line:
    ref: str
    source: str
    title: str | None
    text: str
    published: str | None


def read(corpus: Path) -> list[Line]:
    out = []
    for number, raw in enumerate(jsonl_lines(corpus), start=1):
        record = parse_import_line(raw, number)
        if record is None:
            continue
        try:
            cleaned = clean_text(record.text, url=record.meta.url, archive=True)
        except ArticleRejected:
            continue
        dated = with_publication_date(CleanedArticle(cleaned.text, record.meta))
        out.append(Line(record.ref, record.source or "", record.meta.title, dated.text, dated.meta.published))
    return out


@dataclass(frozen=True, slots=True)
class Folded:
    story: dict[int, int]  # each copy's story: the index of its first line
    matched: dict[int, int]  # each copy's line it was found to copy
    score: dict[int, float]  # and their Jaccard similarity
    fingerprint_s: list[float]  # seconds per line
    decide_s: list[float]


def fold(lines: list[Line]) -> Folded:
    """The copies among ``lines`` as ingest finds them, storing the lines in order."""
    by_key: dict[int, list[int]] = defaultdict(list)
    story: dict[int, int] = {}
    matched: dict[int, int] = {}
    score: dict[int, float] = {}
    fingerprint_s, decide_s = [], []
    for i, line in enumerate(lines):
        started = time.perf_counter()
        fp = fingerprint(line.text)
        fingerprinted = time.perf_counter()
        ids = {j for key in fp.keys for j in by_key.get(key, ())}
        candidates = [CopyCandidate(j, story.get(j, j), lines[j].published, lines[j].text) for j in ids]
        match = copy_of(fp, line.published, candidates)
        decide_s.append(time.perf_counter() - fingerprinted)
        fingerprint_s.append(fingerprinted - started)
        if match is not None:
            story[i] = match.story
            matched[i] = match.article_id
            score[i] = jaccard(fp.shingles, shingles(lines[match.article_id].text))
        for key in fp.keys:
            by_key[key].append(i)
    return Folded(story, matched, score, fingerprint_s, decide_s)


def simhash(grams: set[bytes]) -> int:
    """64-bit SimHash: each bit the majority vote of the 3-grams' 64-bit hashes."""
    if not grams:
        return 0
    hashes = np.frombuffer(b"".join(hashlib.blake2b(g, digest_size=8).digest() for g in grams), dtype="<u8")
    bits = ((hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.int32)
    votes = bits.sum(axis=0) * 2 - len(hashes)
    return int(sum(1 << k for k in range(64) if votes[k] > 0))


def simhash_pairs(values: np.ndarray, max_bits: int) -> list[tuple[int, int, int]]:
    """Every pair (i < j) within ``max_bits`` Hamming distance, by brute force in blocks."""
    pairs = []
    table = np.array([bin(b).count("1") for b in range(256)], np.uint8)
    as_bytes = values.view(np.uint8).reshape(len(values), 8)
    for i in range(len(values)):
        x = np.bitwise_xor(as_bytes[i + 1 :], as_bytes[i])
        distance = table[x].sum(axis=1)
        for j in np.nonzero(distance <= max_bits)[0]:
            pairs.append((i, i + 1 + int(j), int(distance[j])))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=40, help="copy pairs to check by eye")
    parser.add_argument("--pairs", type=Path, default=Path("near-duplicate-sample.md"))
    parser.add_argument(
        "--simhash-bits",
        type=lambda t: [int(b) for b in t.split(",")],
        default=[3, 6, 10],
        help="e.g. 3,6,10",
    )
    parser.add_argument("--db", type=Path, help="a library to time the store's candidate lookup on")
    args = parser.parse_args()
    if args.db is not None:
        lookups = asyncio.run(_lookup_seconds(args.db, read(args.corpus)[:500]))
        print(
            f"store lookup of the candidates: {1000 * statistics.fmean(lookups):.2f} ms per article"
            f" (p95 {1000 * float(np.percentile(lookups, 95)):.2f}) on {args.db.name}"
        )
        return

    started = time.perf_counter()
    lines = read(args.corpus)
    print(f"{len(lines):,} articles cleaned and dated in {time.perf_counter() - started:.0f} s")
    folded = fold(lines)
    story, matched, score = folded.story, folded.matched, folded.score
    fingerprint_s, decide_s = folded.fingerprint_s, folded.decide_s

    members: dict[int, list[int]] = defaultdict(list)
    for i, s in story.items():
        members[s].append(i)
    sizes = Counter(len(m) + 1 for m in members.values())
    print(f"\n## MinHash LSH at Jaccard >= {COPY_SIMILARITY}\n")
    print(f"- copies: {len(story):,} of {len(lines):,} articles, in {len(members):,} stories with copies")
    print("- stories by size: " + ", ".join(f"{n} articles: {c}" for n, c in sorted(sizes.items())))
    per_source = Counter(lines[i].source for i in story)
    cross = sum(1 for i, j in matched.items() if _outlet(lines[i].source) != _outlet(lines[j].source))
    print(f"- copies whose original is another outlet's: {cross:,}")
    print("- copies by source: " + ", ".join(f"{s}: {n}" for s, n in per_source.most_common()))
    ms = lambda xs: 1000 * statistics.fmean(xs)  # noqa: E731
    p95 = lambda xs: 1000 * float(np.percentile(xs, 95))  # noqa: E731
    print(
        f"- cost per article: fingerprint {ms(fingerprint_s):.2f} ms (p95 {p95(fingerprint_s):.2f}),"
        f" candidates and decision {ms(decide_s):.2f} ms (p95 {p95(decide_s):.2f})"
    )

    rng = random.Random(0)
    sample = rng.sample(sorted(matched), min(args.sample, len(matched)))
    with args.pairs.open("w", encoding="utf-8") as out:
        for n, i in enumerate(sample, start=1):
            j = matched[i]
            out.write(f"### {n}. Jaccard {score[i]:.2f}: {lines[i].ref} copies {lines[j].ref}\n\n")
            for line in (lines[j], lines[i]):
                out.write(f"- **{line.title}** ({line.source}, {line.published or 'undated'}): ")
                out.write(line.text[:300].replace("\n", " ") + " …\n")
            out.write("\n")
    print(f"- {len(sample)} random copy pairs for checking by eye: {args.pairs}")

    click = [i for i, line in enumerate(lines) if line.source.startswith("click-id")]
    started = time.perf_counter()
    values = np.array([simhash(shingles(lines[i].text)) for i in click], np.uint64)
    simhash_s = (time.perf_counter() - started) / max(len(click), 1)
    pairs = simhash_pairs(values, max(args.simhash_bits))
    in_click = set(click)
    minhash_pairs = {(min(i, j), max(i, j)) for i, j in matched.items() if i in in_click and j in in_click}
    print(
        f"\n## SimHash (64 bits) on the {len(click):,} CLICK-ID articles,"
        f" {1000 * simhash_s:.2f} ms per article\n"
    )
    print(f"MinHash copy pairs among them: {len(minhash_pairs):,}\n")
    print(
        "| Hamming distance | pairs | also MinHash copies | Jaccard < 0.5 | Jaccard 0.5-0.8"
        " | median Jaccard |"
    )
    print("|---|---|---|---|---|---|")
    for bits in sorted(args.simhash_bits):
        found = {(click[a], click[b]) for a, b, distance in pairs if distance <= bits}
        jaccards = [jaccard(shingles(lines[a].text), shingles(lines[b].text)) for a, b in found]
        low = sum(1 for x in jaccards if x < 0.5)
        middle = sum(1 for x in jaccards if 0.5 <= x < COPY_SIMILARITY)
        median = f"{statistics.median(jaccards):.2f}" if jaccards else "-"
        print(
            f"| <= {bits} | {len(found):,} | {len(found & minhash_pairs):,} | {low:,} | {middle:,}"
            f" | {median} |"
        )

    dated = Counter(line.source for line in lines if line.published)
    total = Counter(line.source for line in lines)
    print("\n## Publication dates found\n")
    print(f"- {sum(dated.values()):,} of {len(lines):,} articles")
    for source, n in total.most_common():
        print(f"  - {source}: {dated[source]:,} of {n:,}")


async def _lookup_seconds(db: Path, lines: list[Line]) -> list[float]:
    store = await Store.open(db, read_only=True)
    seconds = []
    try:
        for line in lines:
            keys = fingerprint(line.text).keys
            started = time.perf_counter()
            await store.near_candidates(keys)
            seconds.append(time.perf_counter() - started)
    finally:
        await store.close()
    return seconds


def _outlet(source: str) -> str:
    return source.split("(")[-1].rstrip(")") if "(" in source else source


if __name__ == "__main__":
    main()
