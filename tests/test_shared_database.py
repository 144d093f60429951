"""Two processes on one database, as when an admin runs ``newsbot import`` while the bot runs:
the bot's library takes in what the other one added and deleted, without a restart."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OpenLibrary
from tests_support import DATA, SEED_TEXT

from retrieval.answer import answer
from retrieval.corpus import CorpusIndex
from retrieval.errors import DuplicateArticle


def _answers(index: CorpusIndex, questions: list[str], vectors: np.ndarray) -> list[tuple[object, ...]]:
    out = []
    for question, vector in zip(questions, vectors, strict=True):
        a = answer(index, question, vector)
        out.append((a.articles, tuple((c.article.ref, c.text) for c in a.citations)))
    return out


@pytest.mark.slow
async def test_a_library_takes_in_what_another_process_changed(open_library: OpenLibrary) -> None:
    bot, cli = await open_library(), await open_library()  # two connections to one SQLite file
    assert await bot.refresh() == (0, 0)

    summary = await cli.import_jsonl(DATA / "dev_slice_corpus.jsonl")
    assert await bot.refresh() == (summary.stored, 0)
    assert await bot.refresh() == (0, 0)  # nothing new: one PRAGMA, no reading

    stored = sorted(bot.index.articles, key=lambda a: a.info.id)
    for article in (stored[3], stored[-1]):
        await cli.delete(article.info.ref)
    seed = await cli.add_text(SEED_TEXT)
    assert seed.id > stored[-1].info.id  # ids (and so refs) are never reused
    assert await bot.refresh() == (1, 2)
    assert {a.info.ref for a in bot.index.articles} == {a.info.ref for a in cli.index.articles}
    answer = await bot.ask("what did Xi's letter say")
    assert not answer.abstained and answer.citations[0].article.ref == seed.ref

    questions = ["apa isi surat Xi", "Siapa presiden pertama Indonesia?", "when did Xi meet Biden"]
    vectors = bot.encoder.encode_queries(questions)
    fresh = CorpusIndex(bot.index.articles, bot.index.config, dim=bot.index.dim)
    assert _answers(bot.index, questions, vectors) == _answers(fresh, questions, vectors)

    await bot.add_text("Gempa bumi berkekuatan 6,1 mengguncang Cianjur pada Senin siang. " * 3)
    assert await bot.refresh() == (0, 0)  # its own writes are already in its index


async def test_an_article_stored_meanwhile_by_another_process_is_a_duplicate(
    open_library: OpenLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses what another process stored between this add's duplicate check and
    its write; the refusal is the same DuplicateArticle as the check's, so the bot words it in
    the asker's language (handlers may not know the storage layer's ArticleRefused)."""
    bot, cli = await open_library(), await open_library()
    checked = bot._ingest._refuse_stored
    stored_meanwhile = []

    async def check_then_race(**keys: object) -> None:
        await checked(**keys)  # nothing stored yet: the check passes
        stored_meanwhile.append(await cli.add_text(SEED_TEXT))  # ...then the other process stores it

    monkeypatch.setattr(bot._ingest, "_refuse_stored", check_then_race)
    with pytest.raises(DuplicateArticle) as refused:
        await bot.add_text(SEED_TEXT)
    assert refused.value.existing_ref == stored_meanwhile[0].ref
    assert "already in the library as" in str(refused.value)
    assert (await bot.stats()).articles == 1
