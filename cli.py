"""``newsbot``: the command line (also the contract for automated evaluation; keep it stable).

Every subcommand takes ``--db PATH`` (or ``NEWSBOT_DB``). Errors a user can fix print one line
on stderr and exit 2; nothing is half-stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import samples
from library import Library, jsonl_lines
from retrieval.errors import NewsbotError
from retrieval.evaluation import LabelledQuestion, abstention_scores, abstention_split, markdown_table, score
from retrieval.tuning import (
    AbstentionValidation,
    FoldChoice,
    MemoizedPassages,
    cross_validate,
    cross_validate_abstention,
)
from retrieval.types import Answer, ArticleInfo
from settings import Settings

SAMPLE_ARTICLE = Path(samples.__file__).resolve().parent / "tribunnews-xi-letter-kim-jong-un.txt"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {"NEWSBOT_DB": args.db} if args.db else {}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    command: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]] = args.func
    if command is _run and settings.telegram_bot_token is not None:
        from bot import run_bot

        return run_bot(settings)  # PTB runs its own event loop
    try:
        return asyncio.run(command(args, settings))
    except NewsbotError as error:
        print(f"newsbot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nnewsbot: interrupted; everything committed so far is kept", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Answer questions about news articles with cited sentences."
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: $NEWSBOT_DB or the user data dir)")
    parser.set_defaults(func=_run)
    sub = parser.add_subparsers(title="commands")

    p = sub.add_parser("run", help="start the Telegram bot; without TELEGRAM_BOT_TOKEN, a console demo")
    p.set_defaults(func=_run)
    p = sub.add_parser("add", help="add one article: a .txt/.md/.html file, a URL, or - for stdin")
    p.add_argument("source")
    p.set_defaults(func=_add)
    p = sub.add_parser("import", help="bulk import a JSONL archive ({id,title,text,...} per line)")
    p.add_argument("file", type=Path)
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=_import)
    p = sub.add_parser("list", help="list stored articles, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_list)
    p = sub.add_parser("show", help="show one article")
    p.add_argument("ref")
    p.set_defaults(func=_show)
    p = sub.add_parser("delete", help="delete one article")
    p.add_argument("ref")
    p.set_defaults(func=_delete)
    p = sub.add_parser("ask", help="answer a question with cited sentences")
    p.add_argument("question", nargs="?")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    p.add_argument("--questions", type=Path, help="JSONL of {id, question}: one JSON line out per line in")
    p.set_defaults(func=_ask)
    p = sub.add_parser("chat", help="ask questions interactively in the console")
    p.set_defaults(func=_chat)
    p = sub.add_parser("eval", help="document recall, MRR and answer metrics on labelled questions")
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--corpus", type=Path, help="JSONL corpus to import first (skips what is stored)")
    p.add_argument("--compare", action="store_true", help="also BM25 alone and dense alone, same index")
    p.set_defaults(func=_eval)
    p = sub.add_parser("tune", help="choose the retrieval tunables by k-fold cross-validation")
    p.add_argument("--questions", type=Path, required=True)
    p.add_argument("--folds", type=int, default=5)
    p.set_defaults(func=_tune)
    return parser


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
            print(
                f"Added the sample article {info.ref}: {info.title} "
                f"({info.lang}, {info.sentence_count} sentences)"
            )
        print("TELEGRAM_BOT_TOKEN is not set, so here is the console chat on the same core.")
        return await _chat_loop(library)

    return await _with_library(settings, demo)


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        source: str = args.source
        if source == "-":
            info = await library.add_text(sys.stdin.read())
        elif source.startswith(("http://", "https://")):
            info = await library.add_url(source)
        else:
            path = Path(source)
            if not path.is_file():
                raise NewsbotError(f"{source}: no such file")
            info = await library.add_upload(path.read_bytes(), path.name)
        print(
            f"stored {info.ref}: {info.title or '(untitled)'} [{info.lang}, {info.sentence_count} sentences]"
        )
        return 0

    return await _with_library(settings, body)


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    async def body(library: Library) -> int:
        with tqdm(total=None, unit="line", desc="importing", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            summary = await library.import_jsonl(args.file, batch_size=args.batch_size, on_progress=progress)
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items())) or "none"
        print(
            f"stored {summary.stored} articles ({summary.sentences} sentences, {summary.chunks} chunks) "
            f"in {summary.seconds:.1f} s, {summary.chunks_per_second:.1f} chunks/s; skipped: {skipped}"
        )
        return 0

    return await _with_library(settings, body)


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        articles = await library.recent(args.limit)
        if not articles:
            print("the library is empty")
        for a in articles:
            print(f"{a.ref:>12}  {a.lang}  {(a.published or '')[:10]:10}  {a.title or '(untitled)'}")
        return 0

    return await _with_library(settings, body)


async def _show(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        info, text = await library.article(args.ref)
        print(_article_header(info))
        print()
        print(text)
        return 0

    return await _with_library(settings, body)


async def _delete(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        info = await library.delete(args.ref)
        print(f"deleted {info.ref}: {info.title or '(untitled)'}")
        return 0

    return await _with_library(settings, body)


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.question) == bool(args.questions):
        raise NewsbotError("give either a question or --questions FILE")

    async def body(library: Library) -> int:
        if args.question:
            answer = await library.ask(args.question)
            print(json.dumps(answer.as_json(), ensure_ascii=False) if args.json else format_answer(answer))
            return 0
        for line in jsonl_lines(args.questions):
            if not line.strip():
                continue
            record = json.loads(line)
            try:
                out = (await library.ask(str(record["question"]))).as_json()
            except NewsbotError as error:
                out = {
                    "question": record["question"],
                    "abstained": True,
                    "reason": str(error),
                    "answer": [],
                    "articles": [],
                    "took_ms": 0,
                }
            print(json.dumps({"id": record.get("id"), **out}, ensure_ascii=False), flush=True)
        return 0

    return await _with_library(settings, body)


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    return await _with_library(settings, _chat_loop)


async def _chat_loop(library: Library) -> int:
    print("Ask about the articles in the library (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = await asyncio.to_thread(input, "\n? ")
        except EOFError:
            return 0
        if not question.strip():
            return 0
        try:
            answer = await library.ask(question)
        except NewsbotError as error:
            print(error)
            continue
        print(format_answer(answer))


async def _eval(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        if args.corpus:
            summary = await library.import_jsonl(args.corpus)
            print(f"corpus: {summary.stored} new articles stored", file=sys.stderr)
        records = _read_jsonl(args.questions)
        report = await asyncio.to_thread(run_evaluation, library, records, args.compare)
        print(report)
        return 0

    return await _with_library(settings, body)


async def _tune(args: argparse.Namespace, settings: Settings) -> int:
    async def body(library: Library) -> int:
        records = _read_jsonl(args.questions)
        report = await asyncio.to_thread(run_tuning, library, records, args.folds)
        print(report)
        return 0

    return await _with_library(settings, body)


def run_tuning(library: Library, records: list[dict[str, object]], folds: int) -> str:
    """Cross-validated choice of the tunables: the values each fold chose, the out-of-fold
    scores, and the values chosen on every question (what ``RetrievalConfig`` should hold)."""
    questions = [LabelledQuestion.from_record(r) for r in records]
    vectors = library.encoder.encode_queries([q.question for q in questions])
    index = library.index
    items = [(q, index.evidence(q.question, v)) for q, v in zip(questions, vectors, strict=True)]
    pair_ids = {str(r["id"]): str(r["pair_id"]) for r in records if r.get("pair_id")}

    def show(choice: FoldChoice) -> None:
        values = ", ".join(f"{k}={v}" for k, v in choice.values.items())
        print(f"fold {choice.fold} ({choice.questions} questions held out): {values}", file=sys.stderr)

    result = cross_validate(
        index, items, pair_ids, folds=folds, on_fold=show, encode_passages=library.encoder.encode_passages
    )
    seeds = range(5)
    removals = [abstention_split(records, seed) for seed in seeds]
    abstention = cross_validate_abstention(
        index, list(zip(questions, vectors, strict=True)), removals, folds=folds
    )
    names = list(result.chosen)
    header = "| fold | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1)
    rows = [f"| {c.fold} | " + " | ".join(str(c.values[n]) for n in names) + " |" for c in result.folds]
    rows.append("| **all** | " + " | ".join(f"**{result.chosen[n]}**" for n in names) + " |")
    return (
        f"### values chosen per fold ({folds} folds; twins kept together)\n\n"
        + "\n".join([header, *rows])
        + "\n\n### out-of-fold scores\n\n"
        + markdown_table(result.out_of_fold)
        + f"\n\n### abstention, out of fold (split seeds {seeds.start}-{seeds.stop - 1})\n\n"
        + abstention_table(abstention)
    )


def abstention_table(result: AbstentionValidation) -> str:
    rows = ["| split seed | gold removed: abstained | gold present: abstained |", "|---|---|---|"]
    rows += [f"| {seed} | {u:.2f} | {a:.2f} |" for seed, (u, a) in enumerate(result.per_seed)]
    rows.append(f"| **mean** | **{result.unanswerable:.2f}** | **{result.answerable:.3f}** |")
    groups = ", ".join(f"{g} {v:.2f}" for g, v in result.answerable_by_group.items())
    rule = result.chosen
    return (
        "\n".join(rows)
        + f"\n\nAnswerable questions abstained on, by group: {groups}.\n"
        + f"Fitted on every question: weight {rule.weight:.4f}, bar {rule.bar:.3f}."
    )


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in jsonl_lines(path) if line.strip()]


def run_evaluation(library: Library, records: list[dict[str, object]], compare: bool) -> str:
    """Every question against the library's index (and, with ``compare``, against BM25 alone and
    dense alone on the same index), plus abstention on questions whose gold article is removed."""
    questions = [LabelledQuestion.from_record(r) for r in records]
    vectors = library.encoder.encode_queries([q.question for q in questions])
    index = library.index
    encode_passages = MemoizedPassages(library.encoder.encode_passages)  # variants re-read alike
    sections = []
    variants = (
        [("bm25", "BM25 alone"), ("dense", "dense alone"), (index.config.fusion, "newsbot")]
        if compare
        else [(index.config.fusion, "newsbot")]
    )
    for fusion, label in variants:
        variant = (
            index
            if fusion == index.config.fusion
            else index.with_config(replace(index.config, fusion=fusion))
        )
        answers = [
            variant.answer(q.question, v, encode_passages) for q, v in zip(questions, vectors, strict=True)
        ]
        table = markdown_table(score(zip(questions, answers, strict=True)))
        sections.append(f"### {label} ({fusion})\n\n{table}")
    removed_refs = abstention_split(records)
    removed_ids = {a.info.id for a in index.articles if a.info.ref in removed_refs}
    reduced = index.without_articles(removed_ids)
    unanswerable = [
        reduced.answer(q.question, v)
        for q, v in zip(questions, vectors, strict=True)
        if q.gold_article in removed_refs
    ]
    answerable = [
        reduced.answer(q.question, v)
        for q, v in zip(questions, vectors, strict=True)
        if q.gold_article not in removed_refs
    ]
    sections.append(
        "### abstention (gold articles of half the Belebele pairs removed)\n\n"
        + abstention_scores(unanswerable, answerable).markdown()
    )
    return "\n\n".join(sections)


def _article_header(info: ArticleInfo) -> str:
    parts = [info.title or "(untitled)", info.outlet, info.author, info.published, info.url]
    return f"[{info.ref}] " + " · ".join(p for p in parts if p)


def format_answer(answer: Answer) -> str:
    """A readable cited answer for a terminal: numbered quotes, then the numbered sources."""
    if answer.abstained:
        return f"I can't answer that from the library: {answer.reason}."
    refs: dict[str, int] = {}
    lines = []
    for citation in answer.citations:
        number = refs.setdefault(citation.article.ref, len(refs) + 1)
        quoted = textwrap.fill(f"“{citation.text}” [{number}]", width=100, subsequent_indent="  ")
        lines.append(quoted)
    lines.append("")
    infos = {c.article.ref: c.article for c in answer.citations}
    for ref, number in refs.items():
        info = infos[ref]
        lines.append(f"[{number}] " + _article_header(info))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
