"""The library's contract, once, over both storage backends (``NEWSBOT_INDEX=sqlite`` and
``milvus`` on a milvus-lite file): add, import, list, show, delete and ask through ``Library``;
duplicates refused by text, link and id; a batch stored whole or not at all; and the same
answers from both. SQLite answers from an index of the whole library in memory, Milvus from the
candidates it finds per question; here Milvus reads few of them (``CANDIDATE_PATH``: a sample
of 8 articles, 4 chunks per search), so that its answers come from candidates, not from a
sample holding the whole library. Syndicated copies fold into their story in both, ``backfill``
completes articles stored without band keys in both, and ``migrate`` copies a library into the
other backend and back keeping sources, times, order and stories. Backend-specific behaviour
(SQLite's migrations, Milvus's sweep after a killed writer) is tested beside each backend."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dated_news import CHILI, FLOOD_BODY, FLOOD_KOMPAS, FLOOD_TEMPO
from tests_support import DATA, SEED_TEXT, make_settings

from backfill import backfill_copies_and_dates
from index.backend import LibraryStore, copy_library, open_store
from index.errors import ArticleRefused
from index.feeds import copy_follows, feed_store
from index.store import LibraryStats, NewArticle
from library import Library
from retrieval.encoder import Encoder
from retrieval.errors import DuplicateArticle, ModelMismatch, NotFound
from retrieval.types import Answer
from settings import Settings

SEED_TITLE = "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"
CORPUS = [json.loads(line) for line in (DATA / "dev_slice_corpus.jsonl").read_text("utf-8").splitlines()]
QUESTIONS = [
    json.loads(line) for line in (DATA / "dev_slice_questions.jsonl").read_text("utf-8").splitlines()
]
BACKENDS = ("sqlite", "milvus")
# A third outlet's copy of the flood story (tests/dated_news.py has Kompas's and Tempo's).
FLOOD_DETIK = (
    "Cawang Kebanjiran, Ratusan Rumah Terendam\n\n"
    "Jakarta, detikNews - Banjir kembali merendam ratusan rumah di Cawang, Jakarta Timur, pada Rabu "
    "(18/9/2019).\n\n" + FLOOD_BODY
)
FLOOD_QUESTION = "berapa warga yang mengungsi karena banjir Cawang?"
CANDIDATE_PATH = {"NEWSBOT_MILVUS_SAMPLE": 8, "NEWSBOT_MILVUS_CANDIDATES": 4}


def backend_settings(backend: str, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a library of ``backend`` under ``tmp_path`` (Milvus: a milvus-lite file)."""
    if backend == "milvus":
        overrides = {
            "NEWSBOT_INDEX": "milvus",
            "NEWSBOT_MILVUS_URI": str(tmp_path / "milvus.db"),
            **overrides,
        }
    return make_settings(tmp_path, **overrides)


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return backend_settings(request.param, tmp_path, **(CANDIDATE_PATH if request.param == "milvus" else {}))


@pytest.fixture
async def library(settings: Settings, encoder: Encoder) -> AsyncIterator[Library]:
    opened = await Library.open(settings, encoder=encoder)
    yield opened
    await opened.close()


def counts(stats: LibraryStats) -> tuple[int, int, int]:
    return stats.articles, stats.sentences, stats.chunks


def archive(tmp_path: Path, records: list[dict[str, Any]], name: str = "archive.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def quotes(answer: Answer) -> list[tuple[str, str]]:
    return [(c.article.ref, c.text) for c in answer.citations]


async def test_an_added_article_is_listed_shown_answered_and_deleted(library: Library) -> None:
    info = await library.add_text(SEED_TEXT, url="https://news.test/xi-letter")
    assert info.title == SEED_TITLE and info.lang == "id" and info.sentence_count > 5
    assert [a.ref for a in await library.recent(10)] == [info.ref]
    shown, text = await library.article(info.ref.upper())  # refs are found whatever their case
    assert shown.ref == info.ref and SEED_TITLE not in text and "Xi Jinping" in text
    stats = await library.stats()
    assert (stats.articles, stats.sentences, stats.languages) == (1, info.sentence_count, (("id", 1),))

    answer = await library.ask("when did Xi meet Biden")
    assert not answer.abstained
    assert "KTT G20 Bali yang digelar pada 15 November lalu" in answer.citations[0].text
    assert {c.article.ref for c in answer.citations} == {info.ref}

    assert (await library.delete(info.ref)).ref == info.ref
    assert await library.recent(10) == [] and (await library.stats()).articles == 0
    with pytest.raises(NotFound):
        await library.article(info.ref)
    with pytest.raises(NotFound):
        await library.delete(info.ref)
    assert (await library.ask("when did Xi meet Biden")).abstained


async def test_duplicates_are_refused_by_text_link_and_id(library: Library, tmp_path: Path) -> None:
    stored = await library.add_text(SEED_TEXT, url="https://news.test/xi-letter?utm_source=x")
    with pytest.raises(DuplicateArticle) as same_text:
        await library.add_text(SEED_TEXT)
    assert same_text.value.existing_ref == stored.ref
    with pytest.raises(DuplicateArticle) as same_link:  # the link compared without tracking parameters
        await library.add_text(CORPUS[0]["text"], url="https://news.test/xi-letter")
    assert same_link.value.existing_ref == stored.ref

    first = await library.import_jsonl(archive(tmp_path, CORPUS[:3]))
    assert first.stored == 3 and first.skipped == {}
    again = [
        {**CORPUS[0], "id": "fresh-id"},  # same text as a stored article
        {**CORPUS[3], "id": CORPUS[1]["id"].upper()},  # a stored id, in another case
        {**CORPUS[4], "url": "https://news.test/xi-letter"},  # a stored link
        CORPUS[5],
    ]
    second = await library.import_jsonl(archive(tmp_path, again, "again.jsonl"))
    assert second.stored == 1 and second.skipped == {"duplicate": 3}
    assert [p.split(":")[0] for p in second.problems] == ["line 1", "line 2", "line 3"]
    assert (await library.stats()).articles == 5
    refs = {a.ref for a in await library.recent(10)}
    assert refs == {stored.ref, *(r["id"] for r in CORPUS[:3]), CORPUS[5]["id"]}

    rerun = await library.import_jsonl(archive(tmp_path, CORPUS[:3]))  # re-running skips what is stored
    assert rerun.stored == 0 and rerun.skipped == {"duplicate": 3}


async def test_a_batch_with_a_refused_article_stores_none_of_it(library: Library) -> None:
    stored = await library.add_text(CORPUS[0]["text"])
    later = await library.add_text(CORPUS[2]["text"])
    fresh = await _embedded(library, CORPUS[1]["text"])
    repeat = await _embedded(library, CORPUS[0]["text"])
    repeat_later = await _embedded(library, CORPUS[2]["text"])
    before = counts(await library.stats())
    with pytest.raises(ArticleRefused) as refused:
        await library.store.add_articles([fresh, repeat])
    assert refused.value.position == 1 and refused.value.existing is not None
    assert refused.value.existing.ref == stored.ref
    with pytest.raises(ArticleRefused) as refused:  # the batch's first duplicate is named
        await library.store.add_articles([fresh, repeat_later, repeat])
    assert refused.value.position == 1 and refused.value.existing is not None
    assert refused.value.existing.ref == later.ref
    assert counts(await library.stats()) == before  # the fresh article was not stored either
    (info,) = await library.store.add_articles([fresh])  # alone, it is
    assert (await library.stats()).articles == 3 and info.sentence_count == len(fresh.prepared.sentences)


async def _embedded(library: Library, text: str) -> NewArticle:
    """``text`` prepared and embedded as the library's ingest does, not stored."""
    from retrieval.cleaning import clean_text
    from retrieval.prepare import prepare_article

    prepared = prepare_article(clean_text(text, archive=True), library.config)
    texts = [s.text for s in prepared.sentences] + [c.text for c in prepared.chunks]
    vectors = library.encoder.encode_passages(texts)
    n = len(prepared.sentences)
    return NewArticle(prepared, vectors[:n], vectors[n:])


async def test_a_reopened_library_holds_the_same_articles_and_vectors(
    settings: Settings, tmp_path: Path, encoder: Encoder
) -> None:
    library = await Library.open(settings, encoder=encoder)
    try:
        await library.import_jsonl(archive(tmp_path, CORPUS[:6]))
        held = {a.info.ref: a for a in (await library.whole_index()).articles}
    finally:
        await library.close()
    reopened = await Library.open(settings, encoder=encoder)
    try:
        again = {a.info.ref: a for a in (await reopened.whole_index()).articles}
        assert again.keys() == held.keys() and len(held) == 6
        for ref, article in held.items():
            assert again[ref].text == article.text
            assert np.array_equal(again[ref].sentence_bounds, article.sentence_bounds)
            assert np.allclose(again[ref].chunk_vectors, article.chunk_vectors, atol=1e-6)
    finally:
        await reopened.close()


async def test_another_library_on_the_same_storage_sees_imports_and_deletes(
    library: Library, encoder: Encoder
) -> None:
    """Two libraries on one storage (two processes on one SQLite file, or two clients of one
    Milvus): what one stores, the other answers from, and what one deletes, the other never
    quotes again, once it has taken in the changes (``refresh``: SQLite's bot does it every
    few seconds; answers from Milvus's candidates read the library as it is at each question).
    Its own writes never count as another's."""
    other = await Library.open(library.settings, encoder=encoder)
    try:
        info = await library.add_text(SEED_TEXT)
        assert await library.refresh() == (0, 0)
        await other.refresh()
        for each in (library, other):
            answer = await each.ask("when did Xi meet Biden")
            assert [c.article.ref for c in answer.citations][:1] == [info.ref]
        await other.delete(info.ref)
        assert await other.refresh() == (0, 0)
        await library.refresh()
        assert (await library.ask("when did Xi meet Biden")).abstained
    finally:
        await other.close()


@pytest.fixture
async def newsroom(library: Library, tmp_path: Path) -> Library:
    """36 articles of the dev slice (27 Indonesian, 9 English) and three dated stories of one
    chili price, a week apart."""
    assert (await library.import_jsonl(archive(tmp_path, CORPUS[:36]))).stored == 36
    for day, text in CHILI:
        await library.add_text(f"---\ndate: {day}\n---\n{text}")
    return library


async def test_questions_over_many_articles(newsroom: Library) -> None:
    """What answering from candidates could get wrong: a question about nothing the library
    holds is declined (naming the missing name when there is one), an English question is
    answered from the Indonesian article, a follow-up is read with the question before it, and
    a question for the latest news quotes the newest story first."""
    for question in (
        "How do I bake sourdough bread with rye flour?",
        "Who won the world cup final in Moscow?",
    ):
        assert (await newsroom.ask(question)).abstained, question
    assert "Moscow" in (await newsroom.ask("Who won the world cup final in Moscow?")).missing

    skiing = await newsroom.ask("When should tourists interested in skiing visit the hill stations?")
    assert not skiing.abstained and skiing.citations[0].article.ref == "belebele-p403-id"
    assert skiing.citations[0].article.lang == "id"

    assert (await newsroom.ask("kapan dia dipecat?")).abstained  # who?
    fired = await newsroom.ask("kapan dia dipecat?", context="Siapa Anwar Ibrahim?")
    assert not fired.abstained and fired.citations[0].article.ref == "facqa-f89008d1ca"

    chili = [a for a in await newsroom.recent(50) if a.published]
    newest = max(chili, key=lambda a: a.published or "")
    for question in (
        "latest chili price at Kramat Jati?",
        "berapa harga cabai rawit terbaru di Kramat Jati?",
    ):
        latest = await newsroom.ask(question)
        assert latest.citations[0].article.ref == newest.ref, question
        assert "Rp 30.000" in latest.citations[0].text


async def test_a_deleted_article_is_never_quoted(newsroom: Library) -> None:
    question = "Kapankah Anwar Ibrahim dipecat oleh Mahathir Mohamad?"
    before = await newsroom.ask(question)
    assert before.citations[0].article.ref == "facqa-f89008d1ca"
    await newsroom.delete("facqa-f89008d1ca")
    after = await newsroom.ask(question)
    assert "facqa-f89008d1ca" not in {c.article.ref for c in after.citations} | set(after.articles)


async def test_another_model_is_refused(settings: Settings, encoder: Encoder) -> None:
    library = await Library.open(settings, encoder=encoder)
    try:
        await library.add_text(CORPUS[0]["text"])
    finally:
        await library.close()
    other = _OtherModel(encoder)
    with pytest.raises(ModelMismatch, match="NEWSBOT_MODEL"):
        await Library.open(settings, encoder=other)  # type: ignore[arg-type]


class _OtherModel:
    """The real encoder under another name: what a library made with another model sees."""

    def __init__(self, encoder: Encoder) -> None:
        from dataclasses import replace

        self.identity = replace(encoder.identity, name="another/model")


async def test_a_syndicated_copy_folds_into_its_story(library: Library, tmp_path: Path) -> None:
    """Another outlet's copy of a stored story is stored as a copy of it, listed, and quoted
    once with the other as "also in"; so is a copy of an earlier line of the same archive
    batch. Deleting a story's first article leaves its copies naming it, and a later copy
    still joins them."""
    first = await library.add_text(FLOOD_KOMPAS)
    copy = await library.add_text(FLOOD_TEMPO)
    assert first.copy_of is None and copy.copy_of == first.id
    assert {a.ref: a.copy_of for a in await library.recent()} == {first.ref: None, copy.ref: first.id}
    answer = await library.ask(FLOOD_QUESTION)
    assert not answer.abstained and "1.200 warga" in answer.citations[0].text
    quoted = {c.article.ref for c in answer.citations}
    other = copy if first.ref in quoted else first
    assert len(quoted) == 1 and [a.ref for a in answer.citations[0].also_in] == [other.ref]

    await library.delete(first.ref)
    third = await library.add_text(FLOOD_DETIK)
    assert third.copy_of == first.id
    assert (await library.store.article_info_by_id(copy.id)).copy_of == first.id

    retold = CHILI[0][1].replace("naik", "naik lagi")
    batch = [{"id": "k1", "text": CHILI[0][1]}, {"id": "k2", "text": retold}]
    assert (await library.import_jsonl(archive(tmp_path, batch))).stored == 2
    stored = {a.ref: a for a in await library.recent(10)}
    assert stored["k1"].copy_of is None and stored["k2"].copy_of == stored["k1"].id


async def test_backfill_completes_articles_stored_without_band_keys(library: Library) -> None:
    """Articles stored without a fingerprint (as a library made before copies were kept holds
    them) are completed once: the later of two copies joins the earlier's story, a date is read
    from the byline, an article deleted meanwhile gets nothing, and new copies then fold in."""
    store = library.store
    old = [await _embedded(library, text) for text in (FLOOD_KOMPAS, FLOOD_TEMPO, SEED_TEXT)]
    kompas, tempo, seed = await store.add_articles(old)
    assert await store.count_without_near_keys() == 3
    assert await store.ids_without_near_keys() == {kompas.id, tempo.id, seed.id}
    await store.delete(seed.ref)
    await store.complete_article(seed.id, [4, 5], copy_of=None, published=None)  # deleted meanwhile
    assert await store.count_without_near_keys() == 2
    assert await store.ids_without_near_keys() == {kompas.id, tempo.id}

    summary = await backfill_copies_and_dates(store)
    assert (summary.completed, summary.copies) == (2, 1)
    kompas, tempo = [await store.article_info_by_id(i) for i in (kompas.id, tempo.id)]
    assert kompas.copy_of is None and tempo.copy_of == kompas.id
    assert kompas.published == tempo.published == "2019-09-18"  # "Rabu (18/9/2019)"
    assert await store.count_without_near_keys() == 0 and await store.ids_without_near_keys() == set()
    assert (await backfill_copies_and_dates(store)).completed == 0
    assert (await library.add_text(FLOOD_DETIK)).copy_of == kompas.id


async def test_migrate_keeps_sources_times_order_and_stories_both_ways(
    settings: Settings, tmp_path: Path, encoder: Encoder
) -> None:
    """A library copied into the other backend and back (``newsbot migrate``): every article
    keeps its archive's ``source``, the time it was added and its place in the order, copies
    name their story by the copy's ids, and articles whose copies were never looked for stay
    so. A story whose first article was deleted is led by its first remaining copy. Its
    followed feeds are followed in the copy, in order, with their titles and intervals."""
    other = "milvus" if settings.index == "sqlite" else "sqlite"
    library = await Library.open(settings, encoder=encoder)
    try:
        archived = [
            replace(await _embedded(library, r["text"]), ref=r["id"], source=f"wire-{n}")
            for n, r in enumerate(CORPUS[:3])
        ]
        await library.store.add_articles(
            [replace(a, added_at="2019-09-18T08:00:00Z") for a in archived]  # one second, in order
        )
        for text in (FLOOD_KOMPAS, FLOOD_TEMPO, FLOOD_DETIK):
            await library.add_text(text)
        original = await _described(library.store)
    finally:
        await library.close()
    assert [s for _, s, _, _ in original.values()][:3] == ["wire-0", "wire-1", "wire-2"]
    assert len({story for *_, story in original.values()}) == 4

    source = await open_store(settings)
    middle = await open_store(backend_settings(other, tmp_path / "other"))
    back = await open_store(backend_settings(settings.index, tmp_path / "back"))
    try:
        follows = [("https://news.test/desk.xml", "Test Desk", 30.0), ("https://news.test/b.xml", None, None)]
        for url, title, minutes in follows:
            await feed_store(source).add(url, title, minutes)
        assert (await copy_library(source, middle, batch_size=2)).copied == 6
        assert await _described(middle) == original and list(await _described(middle)) == list(original)
        assert await copy_follows(source, middle) == 2 and await copy_follows(source, middle) == 0
        assert [(f.url, f.title, f.interval_minutes) for f in await feed_store(middle).all()] == follows
        assert await middle.count_without_near_keys() == 3  # the archived ones, as in the original

        kompas, tempo, detik = list(original)[3:]
        await middle.delete(kompas)
        assert (await copy_library(middle, back)).copied == 5
        copied = await _described(back)
        assert list(copied) == [r for r in original if r != kompas]
        assert {r: d[:3] for r, d in copied.items()} == {r: original[r][:3] for r in copied}
        assert copied[tempo][3] == copied[detik][3] == tempo  # led by its first remaining copy
        assert await back.count_without_near_keys() == 3
    finally:
        for store in (source, middle, back):
            await store.close()


async def _described(store: LibraryStore) -> dict[str, tuple[str | None, str | None, str | None, str]]:
    """Each article by ref, in the order stored: its added time, source, publication date, and
    the ref of its story's first article (its own when it is no copy)."""
    order = list(await store.article_hashes())
    infos = {i.id: i for i in await store.recent(len(order))}
    refs = {i.id: i.ref for i in infos.values()}
    return {
        infos[i].ref: (
            infos[i].added_at,
            infos[i].source,
            infos[i].published,
            refs.get(infos[i].copy_of or i, "a deleted article"),
        )
        for i in order
    }


@pytest.mark.slow
async def test_both_backends_give_the_same_answers(tmp_path: Path, encoder: Encoder) -> None:
    """The dev slice imported into SQLite and copied into Milvus with its vectors (``migrate``),
    its questions asked of both: the same quotes from the same articles, the same decisions to
    answer or decline, from the whole index in memory and from Milvus's candidates (with the
    default sample, which holds every article of a library this small)."""
    sqlite = backend_settings("sqlite", tmp_path)
    milvus = backend_settings("milvus", tmp_path)
    library = await Library.open(sqlite, encoder=encoder)
    try:
        assert (await library.import_jsonl(archive(tmp_path, CORPUS))).stored == len(CORPUS)
        into = await open_store(milvus)
        try:
            assert (await copy_library(library.store, into)).copied == len(CORPUS)
        finally:
            await into.close()
        answers = [await library.ask(q["question"]) for q in QUESTIONS[:12]]
    finally:
        await library.close()
    copied = await Library.open(milvus, encoder=encoder)
    try:
        again = [await copied.ask(q["question"]) for q in QUESTIONS[:12]]
    finally:
        await copied.close()
    assert [(a.abstained, quotes(a)) for a in again] == [(a.abstained, quotes(a)) for a in answers]
    assert sum(not a.abstained for a in answers) >= 6
