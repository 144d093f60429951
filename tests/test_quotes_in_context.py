"""Quote candidates re-read in their article's context (``answer.reread_in_context``), with the
real bundled model: a sentence that leaves its subject to the lead ("Luas pulau ini …") is
quoted for the question it answers, which e5 alone ranks far below the lead."""

from __future__ import annotations

from dataclasses import replace

from library import Library
from retrieval import answer as pipeline
from retrieval.answer import answer, prepared_question

# A TyDi QA paragraph (Indonesian Wikipedia, CC BY-SA), one of the dev set's answer-in-quotes
# misses before quotes were re-read in context.
INACCESSIBLE = (
    "Pulau Inaccessible adalah sebuah pulau yang memiliki gunung berapi yang telah lama tidak "
    "menyemburkan lahar setelah aktif sejak 6 juta tahun yang lalu untuk terakhir kalinya. Luas pulau "
    "ini menjangkau hingga 14km2 (5.4sqmi). Pulau ini tepat berada di Samudera Atlantik bagian selatan "
    "yang berjarak sepanjang 45 km dari sebelah barat daya Pulau Tristan da Cunha."
)
QUESTION = "Berapa luas Pulau Inaccessible?"


async def test_a_sentence_that_leaves_its_subject_to_the_lead_is_quoted(library: Library) -> None:
    await library.add_text(INACCESSIBLE)
    asked = await library.ask(QUESTION)
    assert not asked.abstained
    assert any("14km2" in c.text for c in asked.citations), [c.text for c in asked.citations]

    text = prepared_question(library.index, QUESTION)  # as the library asks it
    vector = library.encoder.encode_queries([text])[0]
    alone = answer(library.index, text, vector)  # no encoder: sentences scored on their own
    assert [c.text[:18] for c in alone.citations] == ["Pulau Inaccessible"]
    off = library.index.with_config(replace(library.index.config, context_weight=0.0))
    assert answer(off, text, vector, library.encoder.encode_passages).citations == alone.citations
    # The lead itself is never re-read (it has no context before it) and keeps its own score.
    lead = next(c for c in asked.citations if c.sentence_index == 0)
    assert lead.score == alone.citations[0].score


async def test_a_run_on_sentence_is_re_read_cut_to_a_bounded_length(library: Library) -> None:
    """Scraped pages hold 'sentences' of hundreds of words; re-reading five of them at full
    length would cost an answer five 512-token encodes, so each is cut at CONTEXT_SENTENCE_WORDS."""
    prices = ", ".join(f"ikan jenis {i} seharga {i} ribu" for i in range(80))
    run_on = f"Pasar ikan di pelabuhan menjual {prices}"
    await library.add_text(
        "Pasar ikan Muara Baru ramai menjelang akhir pekan. "
        f"{run_on}. Para pedagang berharap harga solar tidak naik lagi."
    )
    read: list[str] = []

    def recording(texts: list[str]) -> object:
        read.extend(texts)
        return library.encoder.encode_passages(texts)

    question = "berapa harga ikan jenis 7 di pasar ikan Muara Baru?"
    vector = library.encoder.encode_queries([question])[0]
    answer(library.index, question, vector, recording)  # type: ignore[arg-type]
    assert read, "no candidate was re-read"
    assert len(run_on.split()) > pipeline.CONTEXT_SENTENCE_WORDS
    limit = pipeline.CONTEXT_WORDS + pipeline.CONTEXT_SENTENCE_WORDS
    assert all(len(text.split()) <= limit for text in read)
    assert any(text.split()[-1] != run_on.split()[-1] and "ikan jenis 0" in text for text in read)
