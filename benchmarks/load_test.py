"""Load test: many chats asking at once while an admin imports articles, against the fake Bot API.

Why: newsbot promises that an admin's import never freezes answers in other chats (blocking work
runs in threads, see ``library.py``). Unit tests cannot show that under load, so this script
drives the real Application, the real bundled model and a real SQLite library through
``tests/fake_telegram.py`` over real HTTP, all in one event loop, and measures what users feel:
reply latency per question (inject -> the bot's sendMessage as recorded by the fake, status
200) and the longest event-loop stall (a task sleeping 5 ms records how late it wakes up).

Each chat asks its questions one after another, waiting for each answer as a person would; all
chats ask at once. Even chats are private, odd ones are groups using ``/ask@NewsTestBot``.
Exit 0 when every question got an answer (cited or abstaining) and every article was stored.
A stall over the 100 ms target only prints a WARNING: timings vary on shared machines.
``--slow-callback-ms N`` (asyncio debug mode) logs what holds the loop longer: it slows the loop
down, so use it to find a culprit, not to measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ["PTB_TIMEDELTA"] = "1"

import numpy as np  # noqa: E402
from bot_runner import running_bot  # noqa: E402
from fake_telegram import Chat, FakeTelegram, SentRequest, User  # noqa: E402

from library import Library  # noqa: E402
from retrieval.cleaning import clean_text  # noqa: E402
from retrieval.encoder import load_encoder  # noqa: E402
from retrieval.errors import DuplicateArticle  # noqa: E402
from retrieval.sentences import split_sentences  # noqa: E402
from settings import Settings  # noqa: E402

SAMPLE = REPO / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"
DATA = REPO / "tests" / "data"
DEFAULT_CORPUS = REPO.parent / "shared" / "eval" / "scale" / "corpus.jsonl"
ADMIN_ID = 42
STALL_TARGET_MS = 100.0
TICK = 0.005
DEV_QUESTIONS = 10  # dev-slice questions (half en, half id) whose passages are seeded
QUESTIONS = [  # (lang, question): about the seed article, the Riverton page, then absent topics
    ("en", "what did Xi's letter say"),
    ("en", "when did Xi meet Biden"),
    ("en", "what share of North Korea's trade is with China"),
    ("en", "who urged China to rein in Pyongyang"),
    ("id", "apa isi surat Xi Jinping untuk Kim Jong Un?"),
    ("id", "kapan Xi bertemu Joe Biden?"),
    ("id", "berapa persen perdagangan Korea Utara dengan China?"),
    ("id", "siapa utusan nuklir Korsel?"),
    ("en", "how much will the Riverton footbridge cost"),
    ("en", "how did the council vote on the bridge?"),
    ("id", "berapa biaya jembatan penyeberangan di Riverton?"),
    ("en", "who won the football world cup"),
    ("en", "what is the price of bitcoin today"),
    ("id", "siapa yang memenangkan piala dunia?"),
    ("id", "bagaimana cuaca di Bandung besok?"),
]

Step = tuple[str, Callable[[], dict[str, Any]]]  # (label, build the update when it is sent)


@dataclass(frozen=True)
class Upload:
    file_name: str
    data: bytes


@dataclass(frozen=True)
class Outcome:
    """One question or upload: seconds until the bot's reply (None: none before the deadline)."""

    label: str
    seconds: float | None
    reply: str


@dataclass(frozen=True)
class Report:
    questions_sent: int
    questions_answered: int  # cited + abstained; apologies and silence are not answers
    cited: int
    abstained: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_p99: float
    latency_ms_max: float
    throughput_qps: float  # answers / seconds from the first question to the last answer
    questions_seconds: float
    bot_api_calls_per_s: float  # every Bot API call but getUpdates, over the same window
    chats: int
    articles_sent: int
    articles_stored: int
    import_ms: tuple[float | None, ...]
    max_stall_ms: float
    p99_stall_ms: float
    stalls_over_target: int
    stall_target_ms: float
    stall_ok: bool
    articles_source: str
    cores: int | None
    python: str


class Replies:
    """The bot's first reply to each injected message, read from the fake's request log.

    The fake stamps each request with ``time.monotonic()`` on arrival, so reading the log every
    10 ms loses no precision; ``FakeTelegram.wait_for`` would rescan the whole log per request.
    """

    def __init__(self, tg: FakeTelegram) -> None:
        self._tg, self._seen = tg, 0
        self._waiting: dict[tuple[Any, Any], asyncio.Future[SentRequest]] = {}

    async def converse(self, steps: list[Step], deadline: float) -> list[Outcome]:
        """Inject each step's update and wait for the reply before the next; stop at a silence."""
        outcomes: list[Outcome] = []
        for label, make_update in steps:
            message = (update := make_update())["message"]
            future = asyncio.get_running_loop().create_future()
            self._waiting[(message["chat"]["id"], message["message_id"])] = future
            sent_at = time.monotonic()
            self._tg.inject(update)
            try:
                reply = await asyncio.wait_for(future, max(deadline - time.monotonic(), 0))
            except TimeoutError:
                return [*outcomes, Outcome(label, None, "")]
            outcomes.append(Outcome(label, reply.at - sent_at, reply.params["text"]))
        return outcomes

    async def run(self) -> None:
        while True:
            log = self._tg.requests
            for request in log[self._seen : len(log)]:
                if request.method == "sendMessage" and request.status == 200:
                    to = (request.params.get("reply_parameters") or {}).get("message_id")
                    future = self._waiting.pop((request.params.get("chat_id"), to), None)
                    if future is not None and not future.done():
                        future.set_result(request)
            self._seen = len(log)
            await asyncio.sleep(0.01)


async def watch_stalls(lateness_ms: list[float]) -> None:
    """Sleep 5 ms in a loop; how late each wake-up comes is how long the loop was blocked."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lateness_ms.append((time.perf_counter() - before - TICK) * 1000)


def dev_slice(n: int) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """``n`` dev-slice questions (half English, half Indonesian) and the passages answering them."""
    with (DATA / "dev_slice_corpus.jsonl").open(encoding="utf-8") as lines:
        docs = {d["id"]: d for d in map(json.loads, lines)}
    with (DATA / "dev_slice_questions.jsonl").open(encoding="utf-8") as lines:
        questions = [json.loads(line) for line in lines]
    en, id_ = ([q for q in questions if q["lang"] == lang] for lang in ("en", "id"))
    picked = en[: n // 2] + id_[: n - n // 2]
    return [docs[q["article_id"]] for q in picked], [(q["lang"], q["question"]) for q in picked]


def uploads(corpus: Path, n: int, stored_refs: set[str]) -> tuple[list[Upload], str]:
    """``n`` .txt uploads: the corpus's first usable articles, else shuffled sample sentences."""
    found: list[Upload] = []
    if corpus.exists():
        with corpus.open(encoding="utf-8") as lines:  # the scale corpus is 66 MB: read what we use
            for doc in map(json.loads, lines):
                if len(found) == n:
                    break
                if len(doc["text"]) >= 400 and doc["id"] not in stored_refs:
                    text = f"{doc.get('title') or ''}\n\n{doc['text']}".strip()
                    found.append(Upload(f"{doc['id']}.txt", text.encode("utf-8")))
        if len(found) == n:
            return found, f"first {n} articles (400+ chars) of {corpus}"
    # The sample's sentences minus its dateline (the cleaner would start the article there).
    cleaned = clean_text(SAMPLE.read_text(encoding="utf-8")).text
    sentences = [s.text for s in split_sentences(cleaned, "id") if "TRIBUNNEWS.COM" not in s.text]
    found = []
    for i in range(n):
        random.Random(i).shuffle(sentences)
        text = f"Artikel uji {i + 1}\n\n" + "\n\n".join(sentences)
        found.append(Upload(f"generated-{i + 1}.txt", text.encode("utf-8")))
    return found, f"{n} articles generated from shuffled sentences of {SAMPLE.name}"


async def seed(library: Library, docs: list[dict[str, Any]], tmp: Path) -> None:
    """The sample article, the Riverton page and the dev-slice passages the questions need."""
    for path, is_html in [(SAMPLE, False), (DATA / "riverton-bridge-vote.html", True)]:
        with contextlib.suppress(DuplicateArticle):  # a reused --db already holds it
            await library.add_text(path.read_text(encoding="utf-8"), is_html=is_html)
    archive = tmp / "seed.jsonl"
    archive.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    await library.import_jsonl(archive)


def ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(seconds, q)) * 1000, 1) if seconds else float("nan")


def conversations(tg: FakeTelegram, questions: list[tuple[str, str]], chats: int) -> list[list[Step]]:
    """Even chats private, odd ones groups; a quarter of the users have Indonesian clients."""
    out: list[list[Step]] = []
    for i in range(chats):
        user = tg.make_user(f"User{i}", f"user{i}", language_code="id" if i % 4 < 2 else "en")
        chat = Chat.private(user) if i % 2 == 0 else tg.make_group(f"Group {i}")
        steps: list[Step] = []
        for lang, question in questions[i::chats]:
            text = question if chat.type == "private" else f"/ask@{tg.bot_username} {question}"
            steps.append((f"{chat.type}/{lang}", partial(tg.group_text, chat, user, text)))
        out.append(steps)
    return out


async def run(args: argparse.Namespace) -> tuple[Report, list[Outcome]]:
    if args.slow_callback_ms:
        asyncio.get_running_loop().set_debug(True)
        asyncio.get_running_loop().slow_callback_duration = args.slow_callback_ms / 1000
    cache = Settings().model_cache  # type: ignore[call-arg]
    encoder = await asyncio.to_thread(load_encoder, "bundled", cache)
    docs, dev_questions = dev_slice(DEV_QUESTIONS)
    pool = QUESTIONS + dev_questions
    questions = [pool[i % len(pool)] for i in range(args.questions)]
    random.Random(7).shuffle(questions)
    lateness_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as tg:
            values: dict[str, Any] = {
                "TELEGRAM_BOT_TOKEN": tg.token,
                "TELEGRAM_BASE_URL": tg.base_url,
                "TELEGRAM_BASE_FILE_URL": tg.base_file_url,
                "NEWSBOT_ADMIN_IDS": str(ADMIN_ID),
                "NEWSBOT_DB": args.db or Path(tmp) / "newsbot.sqlite3",
            }
            settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
            library = await Library.open(settings, encoder=encoder)
            await seed(library, docs, Path(tmp))
            stored = {a.info.ref for a in library.index.articles}
            articles, source = uploads(args.corpus, args.articles, stored)
            admin = tg.add_user(User(ADMIN_ID, "Ada", "ada_admin"))
            upload_steps: list[Step] = [
                (
                    a.file_name,
                    partial(
                        tg.document_message,
                        Chat.private(admin),
                        admin,
                        a.data,
                        a.file_name,
                        "text/plain",
                        "/add",
                    ),
                )
                for a in articles
            ]
            chats = conversations(tg, questions, args.chats)
            replies = Replies(tg)
            async with running_bot(settings, library):
                background = [asyncio.create_task(c) for c in (replies.run(), watch_stalls(lateness_ms))]
                started = time.monotonic()
                deadline = started + args.timeout

                async def all_questions() -> tuple[list[list[Outcome]], float]:
                    asked = await asyncio.gather(*(replies.converse(steps, deadline) for steps in chats))
                    return asked, time.monotonic()

                imports, (asked, finished) = await asyncio.gather(
                    replies.converse(upload_steps, deadline), all_questions()
                )
                for task in background:
                    task.cancel()
            await library.close()
            api_calls = sum(started <= r.at <= finished and r.method != "getUpdates" for r in tg.requests)
    outcomes = [o for chat in asked for o in chat]
    seconds = [o.seconds for o in outcomes if o.seconds is not None]
    cited = sum("<blockquote>" in o.reply for o in outcomes)
    abstained = sum(o.reply.startswith("I can't answer that from the library") for o in outcomes)
    window, stalls = finished - started, lateness_ms or [0.0]
    report = Report(
        questions_sent=len(outcomes),
        questions_answered=cited + abstained,
        cited=cited,
        abstained=abstained,
        latency_ms_p50=ms(seconds, 50),
        latency_ms_p95=ms(seconds, 95),
        latency_ms_p99=ms(seconds, 99),
        latency_ms_max=ms(seconds, 100),
        throughput_qps=round((cited + abstained) / window, 2),
        questions_seconds=round(window, 1),
        bot_api_calls_per_s=round(api_calls / window, 1),
        chats=args.chats,
        articles_sent=len(imports),
        articles_stored=sum(o.reply.startswith("Stored") for o in imports),
        import_ms=tuple(None if o.seconds is None else round(o.seconds * 1000, 1) for o in imports),
        max_stall_ms=round(max(stalls), 1),
        p99_stall_ms=round(float(np.percentile(stalls, 99)), 1),
        stalls_over_target=sum(s > STALL_TARGET_MS for s in stalls),
        stall_target_ms=STALL_TARGET_MS,
        stall_ok=max(stalls) <= STALL_TARGET_MS,
        articles_source=source,
        cores=os.cpu_count(),
        python=platform.python_version(),
    )
    return report, imports


def markdown(r: Report, imports: list[Outcome], args: argparse.Namespace) -> str:
    groups = args.chats // 2
    imported = [o.seconds for o in imports if o.seconds is not None]
    rows = [
        ("questions answered / sent", f"{r.questions_answered} / {r.questions_sent} (of {args.questions})"),
        (
            "cited / abstained / neither",
            f"{r.cited} / {r.abstained} / {r.questions_sent - r.questions_answered}",
        ),
        ("chats", f"{r.chats} ({r.chats - groups} private, {groups} groups)"),
        (
            "reply latency p50 / p95 / p99 / max",
            f"{r.latency_ms_p50} / {r.latency_ms_p95} / {r.latency_ms_p99} / {r.latency_ms_max} ms",
        ),
        ("throughput", f"{r.throughput_qps} questions/s ({r.questions_seconds} s for all questions)"),
        ("Bot API calls (not getUpdates)", f"{r.bot_api_calls_per_s} /s over the same window"),
        ("articles stored / sent", f"{r.articles_stored} / {r.articles_sent} (of {args.articles})"),
        ("import time p50 / max", f"{ms(imported, 50)} / {ms(imported, 100)} ms"),
        (
            "longest event-loop stall",
            f"{r.max_stall_ms} ms (wake-ups: p99 {r.p99_stall_ms} ms late, "
            f"{r.stalls_over_target} over target)",
        ),
        (f"stall target {STALL_TARGET_MS:g} ms", "pass" if r.stall_ok else "FAIL"),
        ("imported articles", r.articles_source),
        ("machine", f"{r.cores} cores, Python {r.python}, {platform.platform()}"),
    ]
    lines = [
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        "| # | uploaded file | import ms | bot reply |",
        "|---|---|---|---|",
    ]
    for i, o in enumerate(imports, 1):
        took = "-" if o.seconds is None else round(o.seconds * 1000)
        lines.append(f"| {i} | {o.label} | {took} | {o.reply[:80]} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSONL of {id,title,text}")
    parser.add_argument("--db", type=Path, help="SQLite library (default: a fresh one in a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the numbers here as JSON")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before giving up")
    parser.add_argument("--slow-callback-ms", type=float, help="asyncio debug mode: log slower callbacks")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    report, imports = asyncio.run(run(args))
    print(markdown(report, imports, args))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    if not report.stall_ok:
        print(f"WARNING: the event loop stalled for {report.max_stall_ms} ms (target {STALL_TARGET_MS:g} ms)")
    complete = report.questions_answered == args.questions and report.articles_stored == args.articles
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
