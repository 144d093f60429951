"""What an operator reads in the log (the ``newsbot`` logger tree): one INFO line per article
stored or refused and per answer, with refs, titles, reason codes and timings, never an
article's text or, at INFO, a question (it may be private)."""

from __future__ import annotations

import logging

import pytest
from tests_support import SEED_TEXT

from library import Library
from retrieval.errors import DuplicateArticle

QUESTION = "what did Xi's letter say"


def info_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("newsbot.") and r.levelno == logging.INFO]


async def test_a_stored_article_and_an_answer_each_log_one_info_line(
    library: Library, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsbot")
    info = await library.add_text(SEED_TEXT)
    (stored,) = info_lines(caplog)
    assert stored.name == "newsbot.ingest"
    assert stored.getMessage() == (
        f"stored ref={info.ref} from=text lang={info.lang}"
        f" sentences={info.sentence_count} title={info.title!r}"
    )

    caplog.clear()
    answer = await library.ask(QUESTION, asked_in="private")
    (answered,) = info_lines(caplog)
    assert answered.name == "newsbot.library"
    message = answered.getMessage()
    assert message.startswith("answered in=private took_ms=")
    assert message.endswith(f"abstained=False reason_kind=- quotes={len(answer.citations)} caveat=-")
    assert QUESTION not in caplog.text and answer.citations[0].text not in caplog.text

    caplog.clear()  # an answer that says what no article mentions logs so, never the name
    told = await library.ask("what did Xi's letter say about Taiwan")
    (answered,) = info_lines(caplog)
    assert told.missing == ("Taiwan",) and answered.getMessage().endswith("caveat=missing")
    assert "Taiwan" not in caplog.text


async def test_a_refused_article_logs_its_reason_and_the_article_it_repeats(
    library: Library, caplog: pytest.LogCaptureFixture
) -> None:
    first = await library.add_text(SEED_TEXT)
    caplog.set_level(logging.INFO, logger="newsbot")
    with pytest.raises(DuplicateArticle):
        await library.add_upload(SEED_TEXT.encode(), "again.txt")
    (refused,) = info_lines(caplog)
    assert refused.getMessage() == (
        f"refused from=upload reason=duplicate existing_ref={first.ref} existing_title={first.title!r}"
    )
    assert "again.txt" not in caplog.text  # the message, which names the file, is DEBUG's


async def test_questions_are_logged_at_debug_only(library: Library, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="newsbot")
    await library.ask(QUESTION)
    assert any(r.levelno == logging.DEBUG and QUESTION in r.getMessage() for r in caplog.records)
    assert all(QUESTION not in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
