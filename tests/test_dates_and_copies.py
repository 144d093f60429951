"""Publication dates (Indonesian and English), the periods questions ask about, syndicated
copies folded into one story, and date-aware answers, lists and citations; with the real model
and real SQLite files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import test_bot
from dated_news import CHILI, FLOOD_KOMPAS, FLOOD_TEMPO, QUAKE_EARLY, QUAKE_LATE
from test_bot import Harness

import cli
from handlers.format import answer_pieces
from library import Library
from retrieval.dates import Period, date_in_text, parse_published, question_period, without_recency_words
from retrieval.errors import DuplicateArticle
from retrieval.near_duplicates import fingerprint, fold_copies, jaccard
from retrieval.types import ArticleInfo

TODAY = date(2026, 12, 7)  # a Monday


# -- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Senin, 18 September 2019 10:00 WIB", "2019-09-18T10:00:00+07:00"),
        ("Rabu, 18 Sep 2019", "2019-09-18"),
        ("18 Agustus 2019", "2019-08-18"),
        ("18/09/2019", "2019-09-18"),
        ("September 18, 2019", "2019-09-18"),
        ("Wed, 18 Sep 2019 03:00:00 GMT", "2019-09-18T03:00:00+00:00"),
        ("2019-09-18", "2019-09-18"),
        ("2019-09-18T10:00:00+07:00", "2019-09-18T10:00:00+07:00"),
    ],
)
def test_metadata_dates_in_indonesian_and_english_become_iso(value: str, iso: str) -> None:
    assert parse_published(value, today=TODAY) == iso


@pytest.mark.parametrize("value", ["", "kemarin sore", "not a date", "2999-01-01", "01/01/0001", "September"])
def test_what_is_no_publication_date_is_none(value: str) -> None:
    assert parse_published(value, today=TODAY) is None


def test_the_latest_byline_date_whose_weekday_is_right_dates_a_story() -> None:
    text = (
        "Pesawat hilang kontak pada Rabu (18/9/2019). Pencarian dilanjutkan Kamis (19/9/2019).\n"
        "Sidang digelar Senin (30/9/2019)."  # 30 September 2019 was a Monday
    )
    assert date_in_text(text, today=TODAY) == "2019-09-30"
    tempo = "Rapat digelar Senin, 16 September 2019 pukul 10.00 dan dilanjutkan Selasa 17 September 2019."
    assert date_in_text(tempo, today=TODAY) == "2019-09-17"
    # a weekday the calendar contradicts, a date without a year and a future day are not dates
    assert date_in_text("Rapat digelar Selasa (18/9/2019) dan Sabtu (26/11).", today=TODAY) is None
    assert date_in_text("Konser digelar Senin (7/12/2026).", today=date(2019, 1, 1)) is None


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("berita terbaru gempa Mamuju", Period(latest=True)),
        ("what is the latest on the Mamuju quake?", Period(latest=True)),
        ("apa yang terjadi hari ini?", Period(True, TODAY, TODAY)),
        ("what happened yesterday", Period(True, date(2026, 12, 6), date(2026, 12, 6))),
        ("banjir kemarin di mana saja?", Period(True, date(2026, 12, 6), date(2026, 12, 6))),
        ("harga cabai minggu ini", Period(True, TODAY, TODAY)),
        ("news this week", Period(True, TODAY, TODAY)),
        ("banjir pada 18 September 2019", Period(start=date(2019, 9, 18), end=date(2019, 9, 18))),
        ("flood on September 18, 2019", Period(start=date(2019, 9, 18), end=date(2019, 9, 18))),
        ("gempa bulan September 2019", Period(start=date(2019, 9, 1), end=date(2019, 9, 30))),
        ("siapa juara liga 2005?", Period(start=date(2005, 1, 1), end=date(2005, 12, 31))),
        ("siapa presiden Indonesia sekarang?", None),
        ("apa jabatan terakhir Antasari?", None),
        ("berapa harga 2019,5 ton beras?", None),
    ],
)
def test_questions_name_their_period(question: str, period: Period | None) -> None:
    assert question_period(question, today=TODAY) == period


def test_recency_words_are_not_content() -> None:
    assert without_recency_words("Berita terbaru gempa Mamuju?") == "Berita gempa Mamuju?"
    assert without_recency_words("what happened today") == "what happened"
    assert without_recency_words("terbaru") == "terbaru"  # nothing else to ask


# -- copies -----------------------------------------------------------------------------------------


def test_a_copy_shares_most_of_its_3_grams_and_another_story_few() -> None:
    assert jaccard(fingerprint(FLOOD_KOMPAS).shingles, fingerprint(FLOOD_TEMPO).shingles) > 0.8
    assert jaccard(fingerprint(QUAKE_EARLY).shingles, fingerprint(QUAKE_LATE).shingles) < 0.2


def info(article_id: int, copy_of: int | None = None) -> ArticleInfo:
    return ArticleInfo(
        article_id, f"a{article_id}", None, f"outlet{article_id}", None, None, None, "id", copy_of=copy_of
    )


def test_folding_keeps_the_best_copy_of_each_story_and_lists_the_others() -> None:
    infos = [info(5, copy_of=2), info(2), info(7), info(9, copy_of=2), info(8)]
    folded = fold_copies([50, 20, 70, 90, 80], infos, stories=3)
    assert folded.slots == (50, 70, 80)  # slot 20 and 90 are the story of slot 50
    assert [i.id for i in folded.copies[50]] == [2, 9] and set(folded.copies) == {50}


async def test_a_syndicated_copy_is_stored_listed_and_quoted_once(library: Library) -> None:
    first = await library.add_text(FLOOD_KOMPAS)
    copy = await library.add_text(FLOOD_TEMPO)
    assert first.copy_of is None and copy.copy_of == first.id
    assert (first.outlet, copy.outlet) == ("Kompas", "Tempo")  # from their datelines
    assert first.published == copy.published == "2019-09-18"  # from "Rabu (18/9/2019)"
    with pytest.raises(DuplicateArticle):  # an exact duplicate is still refused
        await library.add_text(FLOOD_TEMPO)
    assert {a.ref for a in await library.recent()} == {first.ref, copy.ref}  # listed

    answer = await library.ask("berapa warga yang mengungsi karena banjir Cawang?")
    assert not answer.abstained and "1.200 warga" in answer.citations[0].text
    quoted = {c.article.ref for c in answer.citations}
    assert len(quoted) == 1  # the story once, from one of its copies
    other = copy if first.ref in quoted else first
    assert [a.ref for a in answer.citations[0].also_in] == [other.ref]
    shown = cli.format_answer(answer)
    assert f"also in: {other.outlet}" in shown
    assert sum(c.text in shown for c in answer.citations) == len(answer.citations)
    assert answer.as_json()["answer"][0]["also_in"][0]["ref"] == other.ref  # type: ignore[index]
    pieces = "".join(p.text for p in answer_pieces(answer, "id"))
    assert f"juga di: {other.outlet}" in pieces

    answerable = await library.ask("berapa ketinggian air banjir Cawang menurut BPBD?")  # both answerable
    assert "150" in answerable.citations[0].text


async def test_an_archive_folds_a_copy_of_an_earlier_line_of_the_same_batch(
    library: Library, tmp_path: Path
) -> None:
    lines = [
        {
            "id": "k1",
            "title": "Banjir Rendam Ratusan Rumah",
            "text": FLOOD_KOMPAS,
            "published": "Rabu, 18 September 2019",
        },
        {"id": "q1", "title": "Gempa Mamuju", "text": QUAKE_EARLY},
        {
            "id": "t1",
            "title": "Ratusan Rumah Terendam",
            "text": FLOOD_TEMPO,
            "published": "18/09/2019 14:05 WIB",
        },
    ]
    archive = tmp_path / "news.jsonl"
    archive.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    summary = await library.import_jsonl(archive)
    assert summary.stored == 3
    stored = {a.ref: a for a in await library.recent()}
    assert stored["t1"].copy_of == stored["k1"].id and stored["q1"].copy_of is None
    assert stored["k1"].published == "2019-09-18" and stored["t1"].published == "2019-09-18T14:05:00+07:00"
    assert stored["q1"].published == "2019-09-18"  # from its byline


# -- date-aware answers ---------------------------------------------------------------------------


async def test_a_later_toll_is_quoted_before_an_earlier_one_with_both_dates(library: Library) -> None:
    early = await library.add_text(QUAKE_EARLY)
    late = await library.add_text(QUAKE_LATE)
    assert (early.published, late.published) == ("2019-09-18", "2019-09-21")
    answer = await library.ask("Berapa korban tewas akibat gempa Mamuju?")
    assert not answer.abstained
    texts = [c.text for c in answer.citations]
    assert "35 orang" in texts[0], texts
    assert any("20 orang" in t for t in texts), texts
    shown = cli.format_answer(answer)
    assert "2019-09-21" in shown and "2019-09-18" in shown
    assert shown.index("2019-09-21") < shown.index("2019-09-18")
    pieces = "".join(p.text for p in answer_pieces(answer))
    assert "2019-09-21" in pieces and "2019-09-18" in pieces


async def chili_library(library: Library) -> list[ArticleInfo]:
    return [await library.add_text(f"---\ndate: {day}\n---\n{text}") for day, text in CHILI]


async def test_a_question_for_the_latest_news_quotes_the_newest_story_first(library: Library) -> None:
    stored = await chili_library(library)
    assert [a.published for a in stored] == [day for day, _ in CHILI]
    for question in (
        "berapa harga cabai rawit terbaru di Kramat Jati?",
        "latest chili price at Kramat Jati?",
    ):
        answer = await library.ask(question)
        assert not answer.abstained
        assert answer.citations[0].article.ref == stored[-1].ref, question
        assert answer.articles[0] == stored[-1].ref


async def test_a_question_naming_a_day_prefers_that_days_story(library: Library) -> None:
    stored = await chili_library(library)
    answer = await library.ask("berapa harga cabai rawit di Kramat Jati pada 17 September 2019?")
    assert answer.citations[0].article.ref == stored[1].ref


# -- lists ------------------------------------------------------------------------------------------


async def test_lists_go_by_publication_date_and_filter_by_period(library: Library) -> None:
    stored = await chili_library(library)  # added oldest first
    quake = await library.add_text(QUAKE_EARLY)  # 2019-09-18, added last
    newest_first = [a.ref for a in await library.recent()]
    assert newest_first == [stored[2].ref, quake.ref, stored[1].ref, stored[0].ref]
    september_17_to_20 = await library.recent(since="2019-09-17", until="2019-09-20")
    assert [a.ref for a in september_17_to_20] == [quake.ref, stored[1].ref]
    assert await library.store.count_dated(since="2019-09-24", until="2019-09-24") == 1


async def test_dates_can_be_set_on_an_archive_imported_without_them(library: Library) -> None:
    undated = await library.add_text(CHILI[0][1])  # no byline date in the text
    assert undated.published is None
    await library.store.set_published({undated.ref: "2019-09-10"})
    assert [a.published for a in await library.recent(since="2019-09-10", until="2019-09-10")] == [
        "2019-09-10"
    ]


def test_newsbot_list_orders_by_date_and_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    db = tmp_path / "news.sqlite3"
    lines = [
        {"id": "old", "title": "Harga naik", "text": CHILI[0][1], "published": "10 September 2019"},
        {"id": "new", "title": "Harga normal", "text": CHILI[2][1], "published": "24 September 2019"},
        {"id": "mid", "title": "Harga turun", "text": CHILI[1][1], "published": "17 September 2019"},
    ]
    archive = tmp_path / "chili.jsonl"
    archive.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli.main(["--db", str(db), "import", str(archive)]) == 0
    capsys.readouterr()
    assert cli.main(["--db", str(db), "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["new", "mid", "old"]
    assert cli.main(["--db", str(db), "list", "--since", "2019-09-11", "--until", "2019-09-20"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["mid"]
    assert cli.main(["--db", str(db), "list", "--date", "2019-09", "--limit", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:2]] == ["new", "mid"] and out[2].startswith("... 1 older")
    assert cli.main(["--db", str(db), "list", "--date", "2018"]) == 0
    assert capsys.readouterr().out == "no article is dated in that period\n"
    with pytest.raises(SystemExit) as exit:
        cli.main(["--db", str(db), "list", "--date", "someday"])
    assert exit.value.code == 2 and "not a day, month or year" in capsys.readouterr().err


# -- the bot ----------------------------------------------------------------------------------------

harness, news_site = test_bot.harness, test_bot.news_site  # the real Application, fake Bot API


async def test_the_bot_lists_sources_by_date_and_cites_copies_as_also_in(harness: Harness) -> None:
    library, tg = harness.library, harness.tg
    flood = await library.add_text(FLOOD_KOMPAS)
    copy = await library.add_text(FLOOD_TEMPO)
    quake = await library.add_text(QUAKE_LATE)
    ivy = tg.make_user("Ivy", "ivy")

    async def said(text: str) -> str:
        return str((await harness.reply(ivy.id, tg.private_text(ivy, text)))["text"])

    listed = await said("/sources")
    assert listed.index(quake.title or "") < listed.index(flood.title or "")  # the 21st before the 18th
    assert "2019-09-21" in listed and "2019-09-18" in listed
    on_the_21st = await said("/sources 2019-09-21")
    assert on_the_21st.startswith("Articles of 2019-09-21") and (quake.title or "") in on_the_21st
    assert (flood.title or "") not in on_the_21st and (copy.title or "") not in on_the_21st
    assert await said("/sources 2018") == "No article is dated 2018."
    assert (await said("/sources someday")).startswith("Usage: /sources")

    answer = await said("berapa warga yang mengungsi karena banjir Cawang?")
    assert "1.200 warga" in answer
    assert "also in: Tempo" in answer or "also in: Kompas" in answer
