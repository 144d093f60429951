"""Telegram HTML rendering: every piece of article text escaped, every message under 4,096
visible UTF-16 units, checked with the same parser the fake Bot API uses (tdlib's rules)."""

from __future__ import annotations

from fake_telegram import parse_html

from handlers.format import TELEGRAM_LIMIT, Piece, answer_pieces, render, utf16_len
from retrieval.types import Answer, ArticleInfo, Citation

INFO = ArticleInfo(
    1,
    "a1",
    'Cats & <Dogs> "united"',
    "Outlet & Co",
    "A. Writer",
    "2022-11-26",
    "https://x.test/a?b=1&c=2",
    "en",
)


def make_answer(*texts: str) -> Answer:
    citations = tuple(Citation(t, 0.9, INFO, i) for i, t in enumerate(texts))
    return Answer("q", citations, ("a1",), False, None)


def test_article_text_and_metadata_are_escaped() -> None:
    (message,) = render(answer_pieces(make_answer("Use <b>bold</b> & 1 < 2 > 0.")))
    plain, entities = parse_html(message)
    assert "“Use <b>bold</b> & 1 < 2 > 0.” [1]" in plain
    assert 'Cats & <Dogs> "united"' in plain
    link = next(e for e in entities if e["type"] == "text_link")
    assert link["url"] == "https://x.test/a?b=1&c=2"
    assert any(e["type"] == "blockquote" for e in entities)


def test_long_answers_are_split_under_the_visible_limit() -> None:
    huge = ("Kalimat yang sangat panjang & penuh <tanda> 🙂 " * 400).strip()
    messages = render(answer_pieces(make_answer(huge, "Short one.", huge)))
    assert len(messages) >= 3
    total = ""
    for message in messages:
        plain, _ = parse_html(message)  # raises like Telegram on malformed HTML
        assert utf16_len(plain) <= TELEGRAM_LIMIT
        total += plain
    assert total.count("🙂") == 800  # nothing lost at the cuts


def test_render_prefers_cutting_at_spaces() -> None:
    messages = render([Piece("word " * 2000)], limit=100)
    assert all(m.endswith("word") for m in messages)


def test_abstention_is_plain_text() -> None:
    answer = Answer("q", (), (), True, "nothing in the library mentions “<x>”")
    (message,) = render(answer_pieces(answer))
    plain, entities = parse_html(message)
    assert plain == "I can't answer that from the library: nothing in the library mentions “<x>”."
    assert entities == []
