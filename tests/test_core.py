"""The core end to end with the real model and real SQLite: the seed questions, abstention,
bad input that changes nothing, JSONL import, and the CLI's JSON contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests_support import ANSWER_KEYS, DATA, REPO, SEED, SEED_TEXT

import ingest as ingest_module
from library import Library
from retrieval.errors import ArticleRejected, BadQuestion, DuplicateArticle, NotFound

LETTER_CONTENT = "berisikan ajakan kerjasama untuk menciptakan keamanan, stabilitas, dan kesejahteraan"
BOILERPLATE = (
    "Baca juga",
    "Laporan Wartawan",
    "zoom-in",
    "All Right Reserved",
    "Penulis:",
    "Editor:",
    "KCNA\n",
)


def cited(answer: Any) -> str:
    return " ".join(c.text for c in answer.citations)


@pytest.mark.parametrize(
    "question", ["what did Xi's letter say", "apa isi surat Xi", "What did the letter from Xi contain?"]
)
async def test_letter_questions_cite_what_the_letter_says(seeded_library: Library, question: str) -> None:
    """What the letter holds comes first, not the lead that only says a letter was sent."""
    answer = await seeded_library.ask(question)
    assert not answer.abstained
    text = cited(answer)
    assert LETTER_CONTENT in answer.citations[0].text, text
    assert not any(b in text for b in BOILERPLATE)
    assert 1 <= len(answer.citations) <= 3
    for c in answer.citations:  # verbatim: every quote is a slice of the stored article
        assert c.text in SEED_TEXT.replace("\u00a0", " ")
        assert c.article.title == "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"


async def test_biden_meeting_cites_the_g20_sentence(seeded_library: Library) -> None:
    answer = await seeded_library.ask("when did Xi meet Biden")
    assert "KTT G20 Bali yang digelar pada 15 November lalu" in answer.citations[0].text


async def test_trade_share_cites_the_90_percent_sentence(seeded_library: Library) -> None:
    answer = await seeded_library.ask("what share of North Korea's trade is with China")
    assert "lebih dari 90 persen perdagangan bilateralnya" in answer.citations[0].text


@pytest.mark.parametrize(
    "question",
    [
        "who won the football world cup",
        "how do I bake sourdough bread",
        "siapa pemenang piala dunia sepak bola",
    ],
)
async def test_absent_topics_abstain_with_a_reason(seeded_library: Library, question: str) -> None:
    answer = await seeded_library.ask(question)
    assert answer.abstained and not answer.citations
    assert answer.reason and answer.reason.startswith("nothing in the library")


async def test_a_one_article_library_answers_at_the_bar_fitted_for_small_libraries(
    seeded_library: Library,
) -> None:
    """The evidence 0.829 cleared no bar fitted on the whole dev library (0.833), where sibling
    passages lift the best sentence; asked of their gold article alone, 97.75% of dev's
    answerable questions reach 0.819 (``AbstentionRule.bar_without_crowd``)."""
    answer = await seeded_library.ask("kapan KTT G20 Bali digelar?")
    assert not answer.abstained
    assert "KTT G20 Bali yang digelar pada 15 November" in answer.citations[0].text


async def test_an_abstention_blames_only_names_and_figures(seeded_library: Library) -> None:
    """Common words are never blamed: another language or form of them may be in the library.
    A name is, when the library holds it in no known language ("France", "Prancis" and
    "French" are all missing from the seed article); figures always are."""
    france = await seeded_library.ask("what is the capital of France in 2024")
    assert france.abstained and france.reason == "nothing in the library mentions “France”, “2024”"
    assert france.reason_kind == "not_mentioned" and france.missing == ("France", "2024")
    prancis = await seeded_library.ask("apa ibu kota Prancis pada tahun 2024?")
    assert prancis.abstained and prancis.reason == "nothing in the library mentions “Prancis”, “2024”"
    bread = await seeded_library.ask("how do I bake sourdough bread")
    assert bread.abstained and bread.reason == "nothing in the library answers this closely enough to quote"


async def test_empty_library_is_guarded(library: Library) -> None:
    answer = await library.ask("what did Xi's letter say")
    assert answer.abstained and answer.reason == "the library has no articles yet"


async def test_questions_that_cannot_be_asked(seeded_library: Library) -> None:
    with pytest.raises(BadQuestion, match="10,000 characters"):
        await seeded_library.ask("x" * 10_000)
    with pytest.raises(BadQuestion):
        await seeded_library.ask("   ")
    # JSON's "\ud800" (a Bot API update, an inline query) decodes to a lone surrogate: not text.
    with pytest.raises(BadQuestion, match=r"\\ud800"):
        await seeded_library.ask("what did Xi\ud800 letter say")
    with pytest.raises(BadQuestion, match=r"\\udcff"):
        await seeded_library.ask("and then?", context="what did Xi\udcff letter say")


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "empty.txt", "empty"),
        (b"   \n\n  ", "blank.txt", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image.txt", "binary"),
        (b"%PDF-1.7 binary", "doc.txt", "binary"),
        (
            "Berita penting hari ini sangat menarik untuk dibaca.".encode("latin-1") + b"\xe9\xff\xfe",
            "latin.txt",
            "bad_input",
        ),
        (b"a" * 50_000_000, "huge.txt", "too_large"),
        (b"fine text. More text.", "slides.pptx", "bad_input"),
    ],
)
async def test_bad_uploads_are_refused_and_store_nothing(
    library: Library, data: bytes, name: str, reason: str
) -> None:
    with pytest.raises(ArticleRejected) as caught:
        await library.add_upload(data, name)
    assert caught.value.reason == reason
    assert str(caught.value)
    assert (await library.stats()).articles == 0


async def test_html_in_article_text_is_never_stored(library: Library) -> None:
    info = await library.add_text(
        "<p>Dewan kota menyetujui <b>jembatan baru</b> pada hari Selasa.</p>"
        "<script>alert('x')</script><p>Pembangunan dimulai Maret dan menelan biaya 40 juta euro.</p>"
    )
    _, text = await library.article(info.ref)
    assert "<" not in text and "alert" not in text
    assert "jembatan baru" in text


async def test_duplicates_are_refused_naming_the_original(seeded_library: Library) -> None:
    with pytest.raises(DuplicateArticle, match="already in the library as a1"):
        await seeded_library.add_text(SEED_TEXT)
    with pytest.raises(DuplicateArticle):  # same text, other spacing and case
        await seeded_library.add_text(SEED_TEXT.replace("\n\n", "\n").upper())
    assert (await seeded_library.stats()).articles == 1


async def test_unreachable_and_private_urls_are_refused(library: Library) -> None:
    with pytest.raises(ArticleRejected) as private:
        await library.add_url("http://127.0.0.1:9/news")
    assert private.value.reason == "private_address"
    with pytest.raises(ArticleRejected) as metadata:
        await library.add_url("http://169.254.169.254/latest/meta-data")
    assert metadata.value.reason == "private_address"
    with pytest.raises(ArticleRejected) as unreachable:
        await library.add_url("http://does-not-exist.invalid/news")
    assert unreachable.value.reason == "unreachable"
    assert (await library.stats()).articles == 0


async def test_delete_removes_the_article_from_answers(seeded_library: Library) -> None:
    await seeded_library.delete("a1")
    with pytest.raises(NotFound):
        await seeded_library.article("a1")
    assert (await seeded_library.ask("what did Xi's letter say")).abstained


async def test_reopening_the_library_restores_the_index(open_library: Any) -> None:
    first = await open_library()
    await first.add_text(SEED_TEXT)
    await first.close()
    second = await open_library()
    answer = await second.ask("when did Xi meet Biden")
    assert "G20 Bali" in answer.citations[0].text


async def test_import_is_batched_resumable_and_reports(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (DATA / "dev_slice_corpus.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    archive = tmp_path / "archive.jsonl"
    archive.write_text(
        "\n".join([*lines[:6], "not json", '{"title": "no id"}', *lines[6:]]) + "\n", encoding="utf-8"
    )
    progress: list[tuple[int, int]] = []
    summary = await library.import_jsonl(
        archive, batch_size=4, on_progress=lambda d, t: progress.append((d, t))
    )
    assert summary.stored == 12 and summary.skipped == {"bad_input": 2}
    assert summary.chunks >= 12 and progress[-1] == (14, 14)
    cleaned: list[str] = []
    real_clean = ingest_module.clean_text
    monkeypatch.setattr(
        ingest_module, "clean_text", lambda text, **kw: cleaned.append(text) or real_clean(text, **kw)
    )
    again = await library.import_jsonl(archive)
    assert again.stored == 0 and again.skipped == {"bad_input": 2, "duplicate": 12}
    assert cleaned == []  # stored ids are skipped before any cleaning: re-runs at scale are quick
    first_id = json.loads(lines[0])["id"]
    info, _ = await library.article(first_id)  # the external id is the ref
    assert info.ref == first_id


async def test_import_keeps_lines_whose_text_holds_unicode_line_separators(
    library: Library, tmp_path: Path
) -> None:
    """JSON allows U+2028, U+2029 and U+0085 raw inside strings; they are not line breaks."""
    record = json.loads((DATA / "dev_slice_corpus.jsonl").read_text(encoding="utf-8").splitlines()[0])
    record["text"] = record["text"].replace(". ", ".\u2028", 1).replace(", ", ",\x85", 1) + "\u2029"
    line = json.dumps(record, ensure_ascii=False)
    assert len(line.splitlines()) > 1
    archive = tmp_path / "archive.jsonl"
    archive.write_text(line + "\n", encoding="utf-8")
    summary = await library.import_jsonl(archive)
    assert summary.stored == 1 and summary.skipped == {}


async def test_import_skips_a_reused_id_while_its_batch_is_still_being_stored(
    library: Library, tmp_path: Path
) -> None:
    """Batches are stored while the next is prepared: a second line with the id of a line whose
    batch is not committed yet must be skipped, not break the import."""
    lines = (DATA / "dev_slice_corpus.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    reused = {**json.loads(lines[3]), "id": json.loads(lines[0])["id"]}
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join([lines[0], json.dumps(reused), *lines[1:3]]) + "\n", encoding="utf-8")
    summary = await library.import_jsonl(archive, batch_size=1)
    assert summary.stored == 3 and summary.skipped == {"duplicate": 1}
    assert (await library.stats()).articles == 3


def run_cli(
    *args: str, db: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSBOT_DB": str(db), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_contract(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    added = run_cli("add", str(SEED), db=db)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("stored a1: Kirim Surat ke Kim Jong Un")
    duplicate = run_cli("add", "-", db=db, stdin=SEED_TEXT)
    assert duplicate.returncode == 2 and "already in the library as a1" in duplicate.stderr

    asked = run_cli("ask", "--json", "what did Xi's letter say", db=db)
    answer = json.loads(asked.stdout)
    assert set(answer) == ANSWER_KEYS
    assert answer["articles"] == ["a1"] and not answer["abstained"]
    first = answer["answer"][0]
    assert set(first) == {"text", "score", "article", "sentence_index", "also_in"}
    assert set(first["article"]) == {"ref", "title", "outlet", "published", "url", "lang"}
    assert first["article"]["lang"] == "id"

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "q1", "question": "when did Xi meet Biden"}\n'
        '{"id": "q2", "question": "who won the world cup"}\n'
    )
    batch = [
        json.loads(line)
        for line in run_cli("ask", "--json", "--questions", str(questions), db=db).stdout.splitlines()
    ]
    assert [b["id"] for b in batch] == ["q1", "q2"]
    assert "G20 Bali" in batch[0]["answer"][0]["text"] and batch[1]["abstained"]

    listed = run_cli("list", db=db)
    assert "a1" in listed.stdout and "Kirim Surat" in listed.stdout
    shown = run_cli("show", "a1", db=db)
    assert "Namira Yunia Lestanti" in shown.stdout and "Baca juga" not in shown.stdout
    missing = run_cli("show", "nope", db=db)
    assert missing.returncode == 2 and "no article" in missing.stderr
    assert run_cli("delete", "a1", db=db).returncode == 0
    assert "empty" in run_cli("list", db=db).stdout


def test_console_demo_loads_the_sample_and_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["NEWSBOT_DB"] = str(tmp_path / "demo.sqlite3")
    demo = subprocess.run(
        [sys.executable, "-m", "cli"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        input="what did Xi's letter say\n\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    assert "the library was empty: stored a1: Kirim Surat ke Kim Jong Un" in demo.stdout
    assert "? what did Xi's letter say\n" in demo.stdout  # piped questions are shown
    assert "surat" in demo.stdout and "[1] [a1] Kirim Surat" in demo.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "milvus"])
def test_eval_on_the_dev_slice(tmp_path: Path, backend: str) -> None:
    """A small third-party slice (6 questions per group): the metrics run and are not trivial,
    in both backends (Milvus's library read whole for the occasion)."""
    milvus = {"NEWSBOT_INDEX": "milvus", "NEWSBOT_MILVUS_URI": str(tmp_path / "eval.db")}
    result = run_cli(
        "eval",
        "--questions",
        str(DATA / "dev_slice_questions.jsonl"),
        "--corpus",
        str(DATA / "dev_slice_corpus.jsonl"),
        db=tmp_path / "eval.sqlite3",
        env=milvus if backend == "milvus" else {},
    )
    assert result.returncode == 0, result.stderr
    first_table = result.stdout.split("\n\n")[1].splitlines()[2:]
    rows = {line.split("|")[1].strip(): line.split("|") for line in first_table}
    assert set(rows) >= {"belebele en→id", "belebele en→en", "facqa id→id", "overall"}
    recall_at_5 = float(rows["overall"][4])
    assert recall_at_5 >= 0.85, result.stdout
    assert "### what users see (seed 0)" in result.stdout and "| near | overall |" in result.stdout
    served = result.stdout.partition("### newsbot as served")[2]
    assert bool(served) == (backend == "milvus")  # Milvus answers from its candidates: scored apart
    if served:
        overall = next(line.split("|") for line in served.splitlines() if line.startswith("| overall |"))
        assert float(overall[4]) >= 0.85, result.stdout
        agreed = re.search(r"the same decision \(answer or decline\) for (\d+) of (\d+)", served)
        assert agreed and int(agreed[1]) >= 0.9 * int(agreed[2]), served
