"""BM25 tokens and the names and figures an abstention may blame (``retrieval/lexical.py``)."""

from __future__ import annotations

import pytest

from retrieval.grounding import written_alike
from retrieval.lexical import specific_words, tokenize


def test_tokens_are_folded_and_question_words_dropped() -> None:
    assert tokenize("Apa isi surat Xi? What did Café say") == ["isi", "surat", "xi", "cafe", "say"]


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("what did Kim Yo-jong say about the South Korean president?", ["Kim Yo-jong", "South Korean"]),
        ("Siapa yang memenangkan Piala Dunia 2022?", ["Piala Dunia", "2022"]),
        ("When did Xi meet Biden at the G20 in Bali?", ["Xi", "Biden", "G20", "Bali"]),
        ("apa kata Jokowi, Prabowo dan SBY?", ["Jokowi", "Prabowo", "SBY"]),
        ("Who is the governor of Jakarta. Who is Anies", ["Jakarta", "Anies"]),  # not "Who"
        ("how deep was the earthquake?", []),
        ("What did the U.S. President say?", []),
    ],
)
def test_specific_words_are_names_and_figures(question: str, words: list[str]) -> None:
    assert specific_words(question) == words


@pytest.mark.parametrize(
    ("term", "lang", "alike"),
    [
        ("bandung", "en", True),  # Indonesian text writes the city so
        ("mrt", "en", True),
        ("smartphone", "id", True),
        ("sourdough", "en", False),  # "roti asam" in Indonesian
        ("amerika", "id", False),  # "America" in English
        ("kepresidenan", "id", False),
        ("bandung", "xx", True),  # a language not known: read as English, like its information
        ("banjir", "en", False),  # an Indonesian question taken for English: no English word
    ],
)
def test_a_word_is_written_alike_when_another_language_uses_it_as_it_is(
    term: str, lang: str, alike: bool
) -> None:
    assert written_alike(term, lang) is alike
