"""Milvus (milvus-lite) against the embedded index on the same chunks and vectors (issue 16).

    python benchmarks/milvus_parity.py --db DEV.sqlite3 --questions ../shared/eval/dev/questions.jsonl

``--db`` is an embedded library (``newsbot --db DEV.sqlite3 import ../shared/eval/dev/corpus.jsonl``);
its articles and vectors are copied into milvus-lite libraries under ``--work`` (no re-embedding),
then, per question:

1. BM25: Milvus's BM25 top 10 chunks against ``rank_bm25``'s (``LexicalIndex``) on the same
   chunks: overlap@10, Spearman and Kendall over the union of the two top 10s, for (a) the
   stored terms field (our tokenizer's terms, split on spaces), (b) Milvus's own analyzer on the
   raw text (standard tokenizer, lowercase, asciifolding, our stopwords), (c) = (a) written in
   four flushes (milvus-lite keeps BM25 statistics per segment).
2. Dense: HNSW recall@10 against exact search (FLAT is exact).
3. Answers: the embedded index against ``MilvusAnswerer`` (what ``Library`` answers from in
   Milvus mode: candidates from Milvus + the library's sample), R@5 / MRR@10 per group,
   answered-or-declined agreement, the same first quote, and the standout's error, for several
   sample sizes and candidate counts (``--samples``, ``--candidates``), and with
   ``--candidates-alone`` for candidates without the sample's whole-library correction.

``--milvus COPY`` (``newsbot --db DEV.sqlite3 migrate --to milvus``) measures 1 and 2 on that
copy without making copies of its own (the other BM25 variants left out), or with ``--answers``
3 alone.

Writes ``benchmarks/results/milvus-parity-{name}.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.backend import as_new_article
from index.milvus import BM25_PARAMS, MilvusStore, article_id_of, bm25_function
from index.milvus_search import MilvusAnswerer
from library import Library
from retrieval.answer import abstention_signals, answer, prepared_question
from retrieval.corpus import CorpusIndex
from retrieval.evaluation import LabelledQuestion, markdown_table, score
from retrieval.lexical import STOPWORDS, tokenize
from retrieval.tuning import Memoized
from retrieval.types import Answer, IndexedArticle
from settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def chunk_keys(index: CorpusIndex) -> list[tuple[int, int]]:
    """(article id in Milvus, chunk index) of every row of the index's lexical rows (slot order):
    Milvus's ids are its content hashes', not the embedded library's."""
    keys = []
    for slot in range(len(index.chunk_offsets) - 1):
        article = index.article_at(slot)
        milvus_id = article_id_of(article.info.content_hash or "")
        keys += [(milvus_id, i) for i in range(article.chunk_count)]
    return keys


def reference_bm25(
    index: CorpusIndex, terms: list[str], keys: list[tuple[int, int]]
) -> dict[tuple[int, int], float]:
    rows = np.arange(len(keys), dtype=np.int64)
    scores = index.lexical.scores(terms, rows)
    return {keys[r]: float(s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True) if s > 0}


def agreement(
    reference: dict[tuple[int, int], float], found: list[tuple[tuple[int, int], float]]
) -> dict[str, float]:
    """Overlap@10 and rank correlations over the union of both top 10s (items a side did not
    return count as scoring below everything it returned)."""
    ref_top = [k for k, _ in sorted(reference.items(), key=lambda kv: -kv[1])[:10]]
    got = dict(found)
    got_top = [k for k, _ in found[:10]]
    if not ref_top:
        return {}
    union = list(dict.fromkeys(ref_top + got_top))
    floor = min(got.values(), default=0.0) - 1.0
    a = [reference.get(k, 0.0) for k in union]
    b = [got.get(k, floor) for k in union]
    out = {
        "overlap@10": len(set(ref_top) & set(got_top)) / len(ref_top),
        "top1": float(bool(got_top) and ref_top[0] == got_top[0]),
    }
    if len(union) > 1 and len(set(a)) > 1 and len(set(b)) > 1:
        out["spearman"] = float(scipy_stats.spearmanr(a, b).statistic)
        out["kendall"] = float(scipy_stats.kendalltau(a, b).statistic)
    return out


def mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in rows for k in r})
    return {k: round(statistics.fmean([r[k] for r in rows if k in r]), 4) for k in keys}


async def copy_into(store: MilvusStore, articles: Sequence[IndexedArticle], flushes: int = 1) -> float:
    started = time.perf_counter()
    per_part = -(-len(articles) // flushes)
    for part in range(flushes):
        batch = [as_new_article(a) for a in articles[part * per_part : (part + 1) * per_part]]
        for i in range(0, len(batch), 64):
            await store.add_articles(batch[i : i + 64])
        if flushes > 1:
            for name in (store.chunks, store.sentences, store.articles):
                await asyncio.to_thread(store.client.flush, name)
    return time.perf_counter() - started


def native_collection(store: MilvusStore, articles: Sequence[IndexedArticle]) -> str:
    """A chunks collection whose BM25 reads the raw title and chunk text through Milvus's own
    analyzer (what a server's standard tokenizer + filters would do)."""
    from pymilvus import DataType, MilvusClient

    name = f"{store.prefix}_native"
    c = store.client
    if c.has_collection(name):
        c.drop_collection(name)
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=40)
    s.add_field("article_id", DataType.INT64)
    s.add_field("idx", DataType.INT32)
    analyzer = {
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding", {"type": "stop", "stop_words": sorted(STOPWORDS)}],
    }
    s.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=analyzer)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_function(bm25_function("text", "sparse"))
    params = c.prepare_index_params()
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
    params.add_index("v", index_type="FLAT", metric_type="L2")
    c.create_collection(name, schema=s, index_params=params)
    rows = [
        {
            "pk": f"{a.info.id}:{i}",
            "article_id": a.info.id,
            "idx": i,
            "text": f"{a.info.title or ''} {t}",
            "v": [0.0, 0.0],
        }
        for a in articles
        for i, t in enumerate(a.chunk_texts())
    ]
    for i in range(0, len(rows), 512):
        c.insert(name, rows[i : i + 512])
    return name


def milvus_bm25(
    store: MilvusStore, collection: str, query: str, limit: int = 200
) -> list[tuple[tuple[int, int], float]]:
    if not query.strip():
        return []
    found = store.client.search(
        collection,
        data=[query],
        anns_field="sparse",
        limit=limit,
        output_fields=["article_id", "idx"],
        search_params={"metric_type": "BM25"},
    )
    return [
        ((int(h["entity"]["article_id"]), int(h["entity"]["idx"])), abs(float(h["distance"])))
        for h in found[0]
    ]


def dense_recall(
    store: MilvusStore, index: CorpusIndex, keys: list[tuple[int, int]], vectors: np.ndarray
) -> dict[str, dict[str, float]]:
    """HNSW recall@10 of chunks against exact search, and the time per search."""
    from pymilvus import DataType, MilvusClient

    c = store.client
    name = f"{store.prefix}_hnsw"
    if c.has_collection(name):
        c.drop_collection(name)
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("pk", DataType.INT64, is_primary=True)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=index.dim)
    params = c.prepare_index_params()
    params.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    c.create_collection(name, schema=s, index_params=params)
    chunk_vectors = np.concatenate(
        [a.chunk_vectors for a in (index.article_at(s) for s in range(len(index.chunk_offsets) - 1))]
    )
    rows = [{"pk": i, "vector": v.tolist()} for i, v in enumerate(chunk_vectors)]
    for i in range(0, len(rows), 1000):
        c.insert(name, rows[i : i + 1000])
    c.flush(name)
    out = {}
    for ef in (16, 64, 200):
        recalls, took = [], []
        for q in vectors:
            exact = set(np.argsort(-(chunk_vectors @ q))[:10].tolist())
            started = time.perf_counter()
            found = c.search(
                name,
                data=[q.tolist()],
                anns_field="vector",
                limit=10,
                search_params={"metric_type": "IP", "params": {"ef": ef}},
            )
            took.append(time.perf_counter() - started)
            recalls.append(len(exact & {int(h.id) for h in found[0]}) / 10)
        out[f"ef={ef}"] = {
            "recall@10": round(statistics.fmean(recalls), 4),
            "ms": round(1000 * statistics.median(took), 2),
        }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True, help="an embedded library of the dev corpus")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsbot-milvus-parity"))
    parser.add_argument("--name", default="dev")
    parser.add_argument("--samples", default="250,1000", help="sample sizes to compare")
    parser.add_argument("--candidates", default="50", help="chunks per Milvus search, to compare")
    parser.add_argument(
        "--candidates-alone", action="store_true", help="also answer from the candidates without a sample"
    )
    parser.add_argument("--answers", action="store_true", help="with --milvus: measure the answers only")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument(
        "--milvus",
        help="an existing copy of --db (newsbot migrate --to milvus): measure BM25 and dense on it,"
        " without the copies, the other BM25 variants and the answers (minutes instead of an hour)",
    )
    args = parser.parse_args()

    records = [
        json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if args.limit:
        records = records[: args.limit]
    questions = [LabelledQuestion.from_record(r) for r in records]
    library = await Library.open(Settings(_env_file=None, NEWSBOT_DB=args.db))  # type: ignore[call-arg]
    index, encoder = library.index, library.encoder
    articles = list(index.articles)
    report: dict[str, Any] = {"articles": len(articles), "questions": len(questions)}
    print(f"{len(articles)} articles, {len(questions)} questions", file=sys.stderr)

    if args.milvus:
        store = await MilvusStore.open(args.milvus, sweep=False)
        tables: dict[str, str] = {}
        if args.answers:
            tables = await answers(report, store, index, encoder, questions, args)
        else:
            await quick(report, store, index, encoder, questions)
        await store.close()
        await library.close()
        _write(args.name, report, tables)
        return
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    store = await MilvusStore.open(str(args.work / "one.db"))
    await store.check_encoder(encoder.identity)
    copy_seconds = await copy_into(store, articles)
    report["copy"] = {
        "seconds": round(copy_seconds, 1),
        "articles_per_second": round(len(articles) / copy_seconds, 1),
    }
    print(f"copied in {copy_seconds:.1f} s", file=sys.stderr)
    split = await MilvusStore.open(str(args.work / "split.db"))
    await copy_into(split, articles, flushes=4)
    native = native_collection(store, articles)

    # -- 1. BM25 agreement
    texts = [prepared_question(index, q.question) for q in questions]
    keys = chunk_keys(index)
    variants: dict[str, list[dict[str, float]]] = {
        "terms field": [],
        "native analyzer": [],
        "terms field, 4 segments": [],
    }
    for text in texts:
        terms = tokenize(text)
        if not terms:
            continue
        reference = reference_bm25(index, terms, keys)
        if not reference:
            continue
        variants["terms field"].append(
            agreement(reference, milvus_bm25(store, store.chunks, " ".join(terms)))
        )
        variants["native analyzer"].append(agreement(reference, milvus_bm25(store, native, text)))
        variants["terms field, 4 segments"].append(
            agreement(reference, milvus_bm25(split, split.chunks, " ".join(terms)))
        )
    report["bm25"] = {name: mean_of(rows) | {"n": len(rows)} for name, rows in variants.items()}
    print(json.dumps(report["bm25"], indent=1), file=sys.stderr)

    # -- 2. dense ANN
    vectors = encoder.encode_queries(texts)
    report["dense"] = dense_recall(store, index, keys, vectors)
    print(json.dumps(report["dense"]), file=sys.stderr)

    # -- 3. answers
    tables = await answers(report, store, index, encoder, questions, args)
    await store.close()
    await split.close()
    await library.close()
    _write(args.name, report, tables)


async def answers(
    report: dict[str, Any],
    store: MilvusStore,
    index: CorpusIndex,
    encoder: Any,
    questions: list[LabelledQuestion],
    args: argparse.Namespace,
) -> dict[str, str]:
    """The embedded index's answers, then ``MilvusAnswerer``'s for each sample size and number
    of candidates; the report's ``answers`` and a table per variant."""
    texts = [prepared_question(index, q.question) for q in questions]
    vectors = encoder.encode_queries(texts)
    passages = Memoized(encoder.encode_passages)
    embedded: list[Answer] = []
    embedded_signals = []
    took = []
    for q, text, vector in zip(questions, texts, vectors, strict=True):
        started = time.perf_counter()
        embedded.append(answer(index, text, vector, passages, asked=q.question))
        took.append(time.perf_counter() - started)
        evidence = index.evidence(text, vector, asked=q.question)
        embedded_signals.append(abstention_signals(index, evidence, encode_passages=passages))
    report["answers"] = {"embedded": _summary(questions, embedded, embedded_signals, embedded_signals, took)}
    print("embedded", json.dumps(report["answers"]["embedded"]), file=sys.stderr)
    tables = {"embedded": markdown_table(score(zip(questions, embedded, strict=True)))}
    variants = [(int(s), int(c)) for c in args.candidates.split(",") for s in args.samples.split(",")]
    if args.candidates_alone:
        variants += [(0, int(c)) for c in args.candidates.split(",")]
    for sample, candidates in variants:
        answerer = MilvusAnswerer(
            store, encoder, index.config, candidates=candidates, sample_articles=sample or 1
        )
        label = f"milvus, {candidates} candidates, " + (f"sample {sample}" if sample else "candidates alone")
        found, signals, took, parts = [], [], [], []
        same_text = 0
        for q, text, vector in zip(questions, texts, vectors, strict=True):
            started = time.perf_counter()
            read = await answerer.read(q.question)
            cand = (
                read.index
                if sample
                else CorpusIndex(list(_candidates(read.index, read.hits)), index.config, dim=index.dim)
            )
            vec = vector if read.text == text else read.vector
            same_text += read.text == text
            found.append(answer(cand, read.text, vec, passages, asked=q.question))
            took.append(time.perf_counter() - started)
            parts.append(read.seconds)
            evidence = cand.evidence(read.text, vec, asked=q.question)
            signals.append(abstention_signals(cand, evidence, encode_passages=passages))
        summary = _summary(questions, found, signals, embedded_signals, took, embedded)
        summary["same canonical question"] = same_text
        summary["seconds per step (median)"] = {
            k: round(statistics.median(p[k] for p in parts), 4) for k in parts[0]
        }
        report["answers"][label] = summary
        tables[label] = markdown_table(score(zip(questions, found, strict=True)))
        print(label, json.dumps(summary), file=sys.stderr)
    return tables


async def quick(
    report: dict[str, Any], store: MilvusStore, index: CorpusIndex, encoder: Any, questions: list[Any]
) -> None:
    """BM25 (the terms field) and dense recall on an existing copy."""
    texts = [prepared_question(index, q.question) for q in questions]
    keys = chunk_keys(index)
    rows = []
    for text in texts:
        terms = tokenize(text)
        reference = reference_bm25(index, terms, keys) if terms else {}
        if reference:
            rows.append(agreement(reference, milvus_bm25(store, store.chunks, " ".join(terms))))
    report["bm25"] = {"terms field": mean_of(rows) | {"n": len(rows)}}
    print(json.dumps(report["bm25"], indent=1), file=sys.stderr)
    vectors = encoder.encode_queries(texts)
    report["dense"] = dense_recall(store, index, keys, vectors)
    print(json.dumps(report["dense"]), file=sys.stderr)


def _write(name: str, report: dict[str, Any], tables: dict[str, str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"milvus-parity-{name}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    lines = [f"# Milvus parity on {name}: {report['articles']} articles, {report['questions']} questions", ""]
    lines += ["```json", json.dumps({k: v for k, v in report.items() if k != "answers"}, indent=1), "```", ""]
    for label, table in tables.items():
        lines += [
            f"## {label}",
            "",
            "```json",
            json.dumps(report["answers"][label], indent=1),
            "```",
            "",
            table,
            "",
        ]
    (RESULTS / f"milvus-parity-{name}.md").write_text("\n".join(lines), encoding="utf-8")


def _candidates(index: CorpusIndex, hits: list[Any]) -> list[IndexedArticle]:
    wanted = {h.article_id for h in hits}
    return [a for a in index.articles if a.info.id in wanted]


def _summary(
    questions: list[LabelledQuestion],
    answers: list[Answer],
    signals: list[Any],
    reference_signals: list[Any],
    took: list[float],
    reference: list[Answer] | None = None,
) -> dict[str, Any]:
    groups = score(zip(questions, answers, strict=True))
    out: dict[str, Any] = {
        g.group: {
            "R@5": round(g.recall_at_5, 3),
            "MRR@10": round(g.mrr_at_10, 3),
            "abstained": round(g.abstained, 3),
        }
        for g in groups
    }
    out["p50 ms"] = round(1000 * statistics.median(took), 1)
    if reference is not None:
        out["same decision"] = round(
            statistics.fmean(a.abstained == b.abstained for a, b in zip(answers, reference, strict=True)), 4
        )
        out["same first quote"] = round(
            statistics.fmean(
                (a.citations[:1] and a.citations[0].text) == (b.citations[:1] and b.citations[0].text)
                for a, b in zip(answers, reference, strict=True)
            ),
            4,
        )
        pairs = [
            (s.standout, r.standout)
            for s, r in zip(signals, reference_signals, strict=True)
            if s and r and s.standout is not None and r.standout is not None
        ]
        if pairs:
            diffs = [abs(a - b) for a, b in pairs]
            out["standout |error| mean"] = round(statistics.fmean(diffs), 4)
            out["standout |error| p90"] = round(float(np.percentile(diffs, 90)), 4)
            out["standout bias"] = round(statistics.fmean(a - b for a, b in pairs), 4)
        ev = [
            abs(s.evidence - r.evidence) for s, r in zip(signals, reference_signals, strict=True) if s and r
        ]
        out["evidence |error| mean"] = round(statistics.fmean(ev), 5) if ev else None
    return out


if __name__ == "__main__":
    asyncio.run(main())
