"""The expected answer kind of a question, and the small bonus it gives a sentence that can hold
one when the answer's sentences are chosen."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from retrieval.abstention import NEVER_ABSTAIN
from retrieval.answer import answer
from retrieval.answer_kinds import AnswerKind, can_answer, expected_answer
from retrieval.config import DEFAULT_CONFIG
from retrieval.corpus import CorpusIndex
from retrieval.types import ArticleInfo, IndexedArticle


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Kapan Perang Barito berakhir?", AnswerKind.TIME),
        ("kapankah Islam masuk ke malaysia?", AnswerKind.TIME),
        ("Pada tahun berapakah SEA Games terakhir diadakan di Vietnam", AnswerKind.TIME),
        ("When did Xi meet Biden?", AnswerKind.TIME),
        ("Berapa luas Pulau Inaccessible?", AnswerKind.NUMBER),
        ("How many people died?", AnswerKind.NUMBER),
        ("Siapakah nama presiden ETRI?", AnswerKind.NAME),
        ("Di negara manakah Guyana terletak", AnswerKind.NAME),
        ("Who attacked Iwasaki?", AnswerKind.NAME),
        ("Apa isi surat Xi?", AnswerKind.STATEMENT),
        ("what did Xi's letter say", AnswerKind.STATEMENT),
        ("What did the governor promise on housing?", AnswerKind.STATEMENT),
        ("apa yang disampaikan Jokowi soal banjir", AnswerKind.STATEMENT),
        ("Who said the letter was a warning?", AnswerKind.NAME),
        ("What did Xi do in Bali?", None),
        ("Apa penyebab banjir?", None),
    ],
)
def test_expected_answer_from_indonesian_and_english_question_words(
    question: str, kind: AnswerKind | None
) -> None:
    assert expected_answer(question) is kind


def test_a_sentence_can_answer_by_its_form() -> None:
    when = "Kapan Perang Barito berakhir?"
    assert can_answer(AnswerKind.TIME, when, "Pada 22 Februari 1860, kapal perang Celebes dikirim.")
    assert can_answer(AnswerKind.TIME, when, "Peristiwa tersebut mulai terjadi pada abad ke-15.")
    assert not can_answer(AnswerKind.TIME, when, "Pertempuran sengit pun terjadi sepanjang sungai Barito.")
    assert can_answer(AnswerKind.TIME, "When did Xi meet Biden?", "They met in Bali on 15 November.")
    assert not can_answer(AnswerKind.TIME, "When will it pass?", "Parliament may vote on the bill.")
    assert can_answer(AnswerKind.NUMBER, "Berapa luas?", "Luasnya dua ratus hektare.")
    assert not can_answer(AnswerKind.NUMBER, "Berapa luas?", "Pulau ini tidak berpenghuni.")
    # A count is not a date's digits (dev's "Berapakah negara ... Liga Arab?" quoted the lead
    # on its founding in 1945 before "Liga Arab memiliki 22 negara anggota."), unless the
    # question asks how long.
    members = "Berapakah negara yang menjadi anggota Liga Arab?"
    assert can_answer(AnswerKind.NUMBER, members, "Liga Arab memiliki 22 negara anggota.")
    assert not can_answer(AnswerKind.NUMBER, members, "Liga Arab didirikan di Kairo pada tahun 1945.")
    assert not can_answer(AnswerKind.NUMBER, "How many died?", "The storm hit on 27 September 1957.")
    assert not can_answer(AnswerKind.NUMBER, "Berapa korban?", "Rabu (7/9) banjir melanda.")
    assert can_answer(
        AnswerKind.NUMBER, "Berapa lama Perang Dingin berlangsung?", "Perang Dingin (1947–1991)."
    )
    assert can_answer(AnswerKind.NUMBER, "How long did it last?", "It ran from 2001 to 2009.")
    who = "Siapa yang menyerang Iwasaki?"
    # The question's own names and a sentence's first word are not answers.
    assert not can_answer(AnswerKind.NAME, who, "Iwasaki diserang di jalan.")
    assert not can_answer(AnswerKind.NAME, who, "Dalam perjalanan, Iwasaki diserang.")
    assert can_answer(AnswerKind.NAME, who, "Ia dirampok oleh bajak laut dari Tibet.")
    said = "what did Xi's letter say"
    assert can_answer(AnswerKind.STATEMENT, said, "Surat itu berisikan ajakan kerjasama.")
    assert can_answer(AnswerKind.STATEMENT, said, "“Kita bersahabat,” kata Xi.")
    assert can_answer(AnswerKind.STATEMENT, said, "The letter urged restraint, officials said.")
    assert not can_answer(AnswerKind.STATEMENT, said, "Xi Jinping mengirim sebuah surat kepada Kim Jong Un.")


def _article(texts: list[str], cosines: list[float], dim: int = 4) -> IndexedArticle:
    """One article whose sentences score exactly ``cosines`` against the query (1, 0, 0, 0)."""
    text, spans = "", []
    for sentence in texts:
        start = len(text)
        text += sentence + " "
        spans.append((start, start + len(sentence)))
    vectors = np.zeros((len(texts), dim), np.float32)
    for row, cosine in enumerate(cosines):
        vectors[row, 0], vectors[row, 1] = cosine, np.sqrt(1 - cosine**2)
    info = ArticleInfo(1, "barito", None, None, None, None, None, "id", len(texts))
    return IndexedArticle.from_spans(info, text, spans, [(0, len(texts) - 1)], vectors, vectors[:1].copy())


def test_a_sentence_holding_a_date_moves_ahead_for_a_when_question() -> None:
    article = _article(
        [
            "Pertempuran sengit pun terjadi sepanjang sungai Barito.",
            "Pada 22 Februari 1860, kapal perang Celebes dikirim menyerang benteng Leogong.",
        ],
        [0.86, 0.85],
    )
    query = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    plain = CorpusIndex(
        [article],
        replace(DEFAULT_CONFIG, answer_kind_weight=0.0, quote_support_weight=0.0, abstention=NEVER_ABSTAIN),
        dim=4,
    )
    first = answer(plain, "Kapan Perang Barito berakhir?", query).citations[0]
    assert first.text.startswith("Pertempuran")
    kinded = plain.with_config(replace(plain.config, answer_kind_weight=0.02))
    kinded_answer = answer(kinded, "Kapan Perang Barito berakhir?", query)
    assert kinded_answer.citations[0].text.startswith("Pada 22 Februari 1860")
    # Questions that ask for no kind of answer are untouched.
    untouched = answer(kinded, "Apa yang terjadi di sungai Barito?", query)
    assert untouched.citations[0].text.startswith("Pertempuran")
