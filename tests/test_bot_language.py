"""The bot answers in the user's language (Telegram's ``language_code``) throughout, not only
/help: refusals, "only admins can …", abstentions and confirmations, over the fake Bot API like
tests/test_bot.py; and the one message catalogue they come from (handlers/messages.py)."""

from __future__ import annotations

import re
import string
from dataclasses import replace

import pytest
import test_bot
from fake_telegram import User
from test_bot import Harness, quoted
from tests_support import DATA

import cli
from handlers.messages import CATALOGUE, abstention, caveat, say
from retrieval.types import Answer, ArticleInfo, Citation

# test_bot.py's harness: the real Application and library against the fake Bot API
harness, seeded, news_site = test_bot.harness, test_bot.seeded, test_bot.news_site
ADMIN_ID_ID = 4242  # a second admin, whose Telegram is in Indonesian
PASTED = (
    "Banjir besar melanda Jakarta sejak Senin\n"
    "Hujan deras mengguyur Jakarta sejak Senin pagi. Banyak jalan tergenang air setinggi lutut. "
    "Warga diminta waspada terhadap banjir susulan."
)


def indonesian(harness: Harness, user_id: int, name: str) -> User:
    return harness.tg.add_user(User(user_id, name, name.lower(), language_code="id"))


@pytest.mark.bot_settings(NEWSBOT_ADMIN_IDS=f"42,{ADMIN_ID_ID}")
async def test_an_indonesian_admin_gets_indonesian_confirmations_and_refusals(harness: Harness) -> None:
    tg = harness.tg
    sari = indonesian(harness, ADMIN_ID_ID, "Sari")

    async def said(text: str) -> str:
        return str((await harness.reply(sari.id, tg.private_text(sari, text)))["text"])

    assert await said("/add") == say("id", "add_usage")
    # the first line of pasted text, a headline, is the title (a long one: not a wrapped line)
    stored = "Tersimpan a1: Banjir besar melanda Jakarta sejak Senin (id, 3 kalimat). Silakan bertanya!"
    assert await said(f"/add {PASTED}") == stored
    duplicate = "Tidak ditambahkan: artikel ini sudah ada di perpustakaan sebagai a1."
    assert await said(f"/add {PASTED}") == duplicate
    too_short = "Tidak ditambahkan: tidak ada teks artikel di situ (setidaknya beberapa kalimat)."
    assert await said("/add Terlalu pendek.") == too_short
    bare = "Untuk menambahkan halaman web, kirim tautan lengkapnya: /add https://example.com/berita"
    assert await said("/add example.com/berita") == bare
    assert (await said("/stats")).startswith("1 artikel, 3 kalimat, 1 potongan; bahasa: id 1; basis data ")
    assert await said("/article zz") == "Tidak ada artikel dengan ref 'zz'."
    deleted = await said("/delete a1 zz")
    assert deleted.splitlines() == [
        "Terhapus a1: Banjir besar melanda Jakarta sejak Senin.",
        "Tidak dihapus: tidak ada artikel dengan ref 'zz'.",
    ]
    emptied = "0 artikel, 0 kalimat, 0 potongan; bahasa: tidak ada; basis data "
    assert (await said("/stats")).startswith(emptied)
    assert await said("/sources") == "Perpustakaan masih kosong. Admin dapat menambahkan artikel dengan /add."
    unknown = "Saya tidak mengenal /nosuch. /help menjelaskan apa yang bisa saya lakukan."
    assert await said("/nosuch") == unknown


async def test_an_indonesian_user_is_refused_in_indonesian(seeded: Harness) -> None:
    tg = seeded.tg
    budi = indonesian(seeded, 901, "Budi")
    refused = await seeded.reply(budi.id, tg.private_text(budi, "/stats"))
    assert refused["text"] == (
        "Maaf, hanya admin yang dapat melihat statistik perpustakaan "
        "(user id Anda 901, untuk NEWSBOT_ADMIN_IDS)."
    )
    group = tg.make_group("Warga")
    refused = await seeded.reply(group.id, tg.group_text(group, budi, f"/add {PASTED}"))
    assert refused["text"] == "Maaf, hanya admin yang dapat menambahkan artikel."
    refused = await seeded.reply(group.id, tg.group_text(group, budi, "/delete a1"))
    assert refused["text"] == "Maaf, hanya admin yang dapat menghapus artikel."
    assert (await seeded.library.stats()).articles == 1


async def test_an_indonesian_user_gets_abstentions_in_indonesian(seeded: Harness) -> None:
    tg = seeded.tg
    budi = indonesian(seeded, 902, "Budi")

    async def said(text: str) -> str:
        return str((await seeded.reply(budi.id, tg.private_text(budi, text)))["text"])

    cannot = "Saya tidak bisa menjawabnya dari perpustakaan: "
    assert await said("siapa presiden Prancis") == (
        f"{cannot}tidak ada artikel di perpustakaan yang menyebut “Prancis”."
    )
    assert await said("berapa harga cabai di pasar hari ini") == (
        f"{cannot}tidak ada kalimat di perpustakaan yang menjawabnya cukup dekat untuk dikutip."
    )
    too_long = "Pertanyaan itu panjangnya 3.999 karakter; mohon buat kurang dari 1.000."
    assert await said("apa " * 1000) == too_long
    group = tg.make_group("Warga")
    asked = await seeded.reply(group.id, tg.group_text(group, budi, "/ask"))
    assert asked["text"] == say("id", "ask_something")
    answered = await seeded.reply(group.id, tg.group_text(group, budi, "/ask apa isi surat Xi"))
    assert "berisikan ajakan kerjasama" in " ".join(quoted(answered))  # quotes stay as written

    update = tg.inject(tg.inline_query(budi, "siapa presiden Prancis"))
    await tg.wait_for("answerInlineQuery", timeout=60)
    (result,) = tg.inline_answers[update["inline_query"]["id"]]["results"]
    assert result["title"] == "Tidak ada yang menjawab ini di perpustakaan"
    assert result["description"] == "tidak ada artikel di perpustakaan yang menyebut “Prancis”"


async def test_an_answer_from_an_article_on_something_else_says_first_what_no_article_mentions(
    harness: Harness,
) -> None:
    """The grounding tests' seven articles hold a Jakarta flood's "Two people died" but nothing on
    Bandung: the closest sentence is quoted under a note naming "Bandung", in each asker's
    language, in a chat and inline; an answer about what the library holds has no note."""
    tg = harness.tg
    assert (await harness.library.import_jsonl(DATA / "grounding_library.jsonl")).stored == 7
    question = "How many people died in the Bandung earthquake?"
    ivy, budi = tg.make_user("Ivy", "ivy"), indonesian(harness, 903, "Budi")
    for user, note in (
        (ivy, "Nothing in the library mentions “Bandung”; the closest it holds:"),
        (budi, "Tidak ada artikel di perpustakaan yang menyebut “Bandung”; yang paling dekat:"),
    ):
        reply = await harness.reply(user.id, tg.private_text(user, question))
        assert reply["text"].startswith(f"{note}\n“Two people died")
        assert quoted(reply)[0].startswith("“Two people died")
        assert {"type": "italic", "offset": 0, "length": len(note)} in [
            {k: e[k] for k in ("type", "offset", "length")} for e in reply["entities"]
        ]
    update = tg.inject(tg.inline_query(ivy, question))
    await tg.wait_for("answerInlineQuery", timeout=60)
    first = tg.inline_answers[update["inline_query"]["id"]]["results"][0]
    assert first["description"].startswith("Nothing in the library mentions “Bandung”")
    assert "Nothing in the library mentions “Bandung”" in first["input_message_content"]["message_text"]
    plain = await harness.reply(ivy.id, tg.private_text(ivy, "How many people died in the Jakarta floods?"))
    assert plain["text"].startswith("“Two people died")


async def test_an_empty_library_and_a_failure_are_explained_in_indonesian(harness: Harness) -> None:
    tg = harness.tg
    budi = indonesian(harness, 903, "Budi")
    empty = await harness.reply(budi.id, tg.private_text(budi, "apa isi surat Xi"))
    assert empty["text"] == (
        "Saya tidak bisa menjawabnya dari perpustakaan: perpustakaan belum berisi artikel; admin dapat "
        "menambahkannya dengan /add."
    )
    await harness.library.store.close()  # the database goes away under the bot's feet
    failed = await harness.reply(budi.id, tg.private_text(budi, "/sources"))
    assert failed["text"] == say("id", "apology")


async def test_the_command_menus_are_set_in_indonesian_too(harness: Harness) -> None:
    private = harness.tg.commands_for({"type": "all_private_chats"}, language_code="id")
    group = harness.tg.commands_for({"type": "all_group_chats"}, language_code="id")
    assert private and {c["command"]: c["description"] for c in private}["help"] == "cara bertanya"
    assert group and {c["command"] for c in group} == {"ask", "sources", "article", "help"}


# -- the catalogue --------------------------------------------------------------------------------


def test_every_message_exists_in_both_languages_with_the_same_placeholders() -> None:
    def fields(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    assert CATALOGUE["en"].keys() == CATALOGUE["id"].keys()
    for key, english in CATALOGUE["en"].items():
        assert fields(english) == fields(CATALOGUE["id"][key]), key


def test_one_wording_for_an_untitled_article() -> None:
    assert say("en", "untitled") == cli.UNTITLED


def test_an_answer_that_may_not_answer_says_so_first_in_both_languages_and_in_the_terminal() -> None:
    """What the library lacks comes first; else a narrow answer is said to be unsure; a plain
    answer, or a declined one, has no caveat. The terminal says it as the bot does in English."""
    quote = Citation(
        "Dua orang tewas.", 0.9, ArticleInfo(1, "a1", "Banjir", "Tempo", None, None, None, "id"), 0
    )
    plain = Answer("q", (quote,), ("a1",), False, None)
    unsure = replace(plain, tentative=True)
    lacking = replace(plain, missing=("Bandung",), tentative=True)
    declined = replace(plain, citations=(), abstained=True, missing=("Bandung",), reason="…")
    assert caveat("en", plain) is None and caveat("en", declined) is None
    assert caveat("en", unsure) == "The library may not answer this; the closest it holds:"
    assert caveat("id", unsure) == "Perpustakaan mungkin tidak menjawab ini; yang paling dekat:"
    assert caveat("en", lacking) == "Nothing in the library mentions “Bandung”; the closest it holds:"
    assert (
        caveat("id", lacking)
        == "Tidak ada artikel di perpustakaan yang menyebut “Bandung”; yang paling dekat:"
    )
    for answer in (plain, unsure, lacking):
        shown = cli.format_answer(answer)
        assert (
            shown.startswith("“Dua") if answer is plain else shown.startswith(f"{caveat('en', answer)}\n“Dua")
        )


@pytest.mark.parametrize(
    ("answer", "english", "indonesian"),
    [
        (
            Answer(
                "what happened in Bandung in 2031",
                (),
                (),
                True,
                "nothing in the library mentions “Bandung”, “2031”",
                reason_kind="not_mentioned",
                missing=("Bandung", "2031"),
            ),
            "nothing in the library mentions “Bandung”, “2031”",
            "tidak ada artikel di perpustakaan yang menyebut “Bandung”, “2031”",
        ),
        (
            Answer("why", (), (), True, "whatever the core says", reason_kind="not_close_enough"),
            "nothing in the library answers this closely enough to quote",
            "tidak ada kalimat di perpustakaan yang menjawabnya cukup dekat untuk dikutip",
        ),
        (
            Answer("?!?!", (), (), True, "whatever the core says", reason_kind="no_content"),
            say("en", "reason_no_words"),
            say("id", "reason_no_words"),
        ),
        (
            Answer("why", (), (), True, "a reason not known here", reason_kind="something new"),
            "a reason not known here",
            "a reason not known here",
        ),
    ],
)
def test_abstention_reasons_are_translated_by_their_kind(
    answer: Answer, english: str, indonesian: str
) -> None:
    assert abstention("en", answer) == english
    assert abstention("id", answer) == indonesian
    empty = replace(answer, reason_kind="empty_library")
    assert re.search("belum berisi artikel", abstention("id", empty))


async def test_a_question_that_is_not_text_is_told_so_in_the_users_language(seeded: Harness) -> None:
    tg = seeded.tg
    budi = indonesian(seeded, 903, "Budi")
    # A client sending JSON's "\ud800" (a lone surrogate) in a question: the core refuses it as
    # not text, and the reply says that, not "no word or figure".
    reply = await seeded.reply(budi.id, tg.private_text(budi, "apa isi surat Xi \ud800"))
    assert reply["text"] == say("id", "cant_ask", reason=say("id", "reason_not_text"))
    group = tg.make_group("Warga")
    alone = await seeded.reply(group.id, tg.group_text(group, budi, "/ask \ud800"))
    assert alone["text"] == say("id", "cant_ask", reason=say("id", "reason_not_text"))
