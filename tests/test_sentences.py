"""Sentence splitting, language detection and chunking (retrieval/sentences.py)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.cleaning import clean_text
from retrieval.sentences import chunk_sentences, detect_language, split_sentences
from retrieval.types import SentenceSpan

DATA = Path(__file__).parent / "data"
SEED = Path(__file__).resolve().parents[1] / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"


def texts(text: str, lang: str = "id") -> list[str]:
    return [s.text for s in split_sentences(text, lang)]


def assert_spans_exact(text: str, spans: tuple[SentenceSpan, ...]) -> None:
    previous_end = 0
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert span.text and span.text == span.text.strip()
        assert "\n" not in span.text
        assert any(ch.isalnum() for ch in span.text)  # punctuation alone is not a sentence
        assert span.start >= previous_end
        previous_end = span.end
    # no letter or digit lies outside the spans: no word is ever lost
    rest = list(text)
    for span in spans:
        rest[span.start : span.end] = [" "] * (span.end - span.start)
    assert not any(ch.isalnum() for ch in rest)


# --- Indonesian quirks pysbd's English rules get wrong ---------------------------------------


def test_date_in_parentheses_stays_in_its_sentence() -> None:
    caption = (
        "Kim Jong Un bersama putrinya tengah mengawasi peluncuran rudal balistik terbaru milik "
        "Korea Utara di Bandara Internasional Pyongyang, Jumat (18/11/2022)."
    )
    assert texts(caption + " Ini kalimat kedua.") == [caption, "Ini kalimat kedua."]


@pytest.mark.parametrize(
    "sentences",
    [
        ["Menurut Dubes China di Seoul, Xing Haiming, situasi tenang.", "Dia pulang."],
        ["Dr. Budi dan Prof. Andi hadir di acara itu.", "Acara selesai."],
        ["H. Anies dan Hj. Siti datang ke Jl. Merdeka No. 5 hari ini.", "Mereka pulang."],
        ["PT Bank Mandiri (Persero) Tbk. menyatakan laba naik.", "Harga saham turun."],
        ["Harga buah, sayur, dll. naik tajam.", "Pedagang mengeluh, dsb. juga."],
        ["Surat a.n. Budi dikirim kemarin.", "Sdr. Andi menerimanya."],
        ["Budi Santoso, S.H., M.Si. mengatakan hal itu.", "Dia benar."],
        ["Kol. Inf. Budi hadir.", "Brigjen Pol. Ahmad dan Irjen Pol. Andi datang."],
        ["Jend. TNI Andika hadir.", "Harga Rp 1.500.000 per unit."],
        ["Inflasi naik 3.5 persen pada pukul 10.15 WIB.", "Lalu turun lagi."],
        ["Brigjen Ahmad dan Irjen Budi tiba di Jakarta.", "Mereka rapat."],
    ],
)
def test_indonesian_abbreviations_do_not_end_sentences(sentences: list[str]) -> None:
    assert texts(" ".join(sentences)) == sentences


@pytest.mark.parametrize(
    "sentences",
    [
        ["Saham PT Telkom Indonesia Tbk.", "Harga naik."],
        ["Mereka membeli buah, sayur, dll.", "Semua mahal."],
    ],
)
def test_continuable_abbreviations_end_sentences_before_a_capital(sentences: list[str]) -> None:
    assert texts(" ".join(sentences)) == sentences


def test_quotes_stay_whole() -> None:
    text = '“Saya tidak tahu. Kami akan lihat,” kata dia. "Apakah benar?" tanya wartawan. Dia diam.'
    assert texts(text) == [
        "“Saya tidak tahu. Kami akan lihat,” kata dia.",
        '"Apakah benar?" tanya wartawan.',
        "Dia diam.",
    ]


def test_paragraph_breaks_always_split() -> None:
    text = "Judul tanpa titik\n\nKalimat pertama tanpa titik juga\nBaris lain\r\nDan lagi"
    assert texts(text) == [
        "Judul tanpa titik",
        "Kalimat pertama tanpa titik juga",
        "Baris lain",
        "Dan lagi",
    ]


def test_english_uses_pysbd_rules() -> None:
    text = "Mr. Smith paid $4.2 million on Jan. 5. The U.S. team won. It rained."
    assert texts(text, "en") == [
        "Mr. Smith paid $4.2 million on Jan. 5.",
        "The U.S. team won.",
        "It rained.",
    ]


def test_seed_article_sentences_are_exact() -> None:
    article = clean_text(SEED.read_text(encoding="utf-8"))
    spans = split_sentences(article.text, "id")
    assert_spans_exact(article.text, spans)
    assert len(spans) == 9  # one sentence per paragraph in this article
    assert spans[0].text.startswith("TRIBUNNEWS.COM, BEIJING - Di tengah memanasnya")
    assert any("(Dubes) China di Seoul Xing Haiming serta Dubes Rusia" in s.text for s in spans)


@pytest.mark.parametrize("text", ["", " ", "\n\n", ".", "...", "?!", "\u2029", "a\x00b. C."])
def test_degenerate_input(text: str) -> None:
    assert_spans_exact(text, split_sentences(text, "id"))


# --- scraped text: paragraphs glued with ", ", leftovers of dropped links ----------------------


@pytest.mark.parametrize(
    "sentences",
    [
        [  # clickid-wowkeren-5728fd7482
            "Aktris itu diundang ke event yang digelar brand fashion ternama Alexander McQueen.",
            "Event tersebut digelar Jumat (20/9) kemarin.",
        ],
        ["Mereka mengagumi kecantikannya.", '"Dia cocok dengan gaya apapun."'],
        ["Wajahnya tanpa makeup, cantik sekali!", "Melihat dandanan Ayana, kamu pasti terpesona."],
        ["Apa itu Kuliner Memek?", "Berdasarkan keterangan warga, kuliner itu sudah lama ada."],
        ['"Saya bersyukur atas dukungan keluarga."', "Sebagai persembahan, dia bernyanyi."],
        ["Kabar itu diumumkan KPK.", "Sebelumnya DPR menolak revisi itu."],
        ["Ponsel ini punya sensor sidik jari di belakang.", "dibekali baterai 4.000 mAh."],
        ["Simak daftar lengkapnya berikut ini, ,.", "Kerjasama ayah dan anak itu berhasil."],
    ],
)
def test_paragraphs_glued_with_a_comma_are_split(sentences: list[str]) -> None:
    """The CLICK-ID scraper joined paragraphs with ", ": each sentence ends at its own stop, and
    the comma belongs to neither (a lowercase start is a sentence whose subject link was dropped)."""
    text = ", ".join(sentences)
    spans = split_sentences(text, "id")
    assert [s.text for s in spans] == sentences
    assert_spans_exact(text, spans)


def test_glued_paragraphs_are_split_in_english_after_a_full_stop() -> None:
    text = "The deal closed on Monday., Shares rose 5 pct., 227,500 will be issued."
    assert texts(text, "en") == [
        "The deal closed on Monday.",
        "Shares rose 5 pct.",
        "227,500 will be issued.",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Apple Inc., Google and Microsoft rose.",
        "The U.S., and China agreed on Monday.",
        "Trade with the U.S., West Germany and Japan grew.",
        "Yahoo!, Google and Amazon reported results.",
        "Do They Know It's Christmas?, Slade's Merry Christmas Everybody and others charted.",
        "Sen. Jesse Helms, R-N.C., said he would object.",
        "Rep. Dan Glickman, D-Kan., Chairman of the panel, agreed.",
        "The plant in Ashland, Ky., Ashland Oil said, will close.",
        "Stewart Bainum Jr., 67, becomes vice chairman.",
        "United president Joseph D., Mahaffey was named.",
        "The firm, PayPerAction LLC., Leadplex LLC. and Leadplex Inc, was sued.",
        '"Why?", the man asked.',
    ],
)
def test_commas_after_english_abbreviations_and_titles_do_not_split(sentence: str) -> None:
    assert texts(sentence, "en") == [sentence]


@pytest.mark.parametrize(
    "sentence",
    [
        "Kantor di Jl. Sudirman, Jakarta ditutup hari ini.",
        "Inflasi naik 3.5, 4 dan 5 persen tahun ini.",
        "PT Bank Central Asia Tbk., Jakarta, melaporkan laba.",
        "Square Co., Ltd. terbentuk pada April 2003.",
        "Dr. H. Shofwan Karim, BA., Drs., MA. lahir di Sijunjung.",
        "Dr. Hamdan Zoelva, SH., MH. dikukuhkan sebagai ketua umum.",
        "Kantor itu di Washington, D.C., Amerika Serikat.",
        "Putra mantan presiden B.J., Thareq Kemal Habibie, hadir.",
        "Gunung itu tumbuh hingga 2.300 m dpl., namun jarang lebih tinggi.",
        "Harga buah, sayur, dll., naik tajam.",
        "Dia bercanda..., saya tidak perlu ikut audisi.",
        'Dengan tagline "Let\'s Make Laugh!", acara ini dimulai.',
        "Film kedua The Beatles, Help!, kembali disutradarai Lester.",
        "“Kami akan menjawab semuanya.”, ujar Auddie menutup pembicaraan.",
        "Grup itu memimpin (D-Tex.), Max dan Budi menyusul.",
    ],
)
def test_commas_after_indonesian_abbreviations_and_titles_do_not_split(sentence: str) -> None:
    assert texts(sentence) == [sentence]


def test_spans_without_a_letter_or_digit_are_not_sentences() -> None:
    """A dropped link leaves punctuation behind (clickid-wowkeren-b3107641ce): not quotable."""
    text = (
        'Korea Drama Awards 2019 telah rampung digelar pada Rabu (2/10).\n\n".\n\n'
        'Simak daftar lengkap pemenangnya berikut ini:, : Choi Soo Jong "My Only One", :,"\n\n'
        '", :,"\n\n", :,"\n\n"., Di antara sederet nominasi, aktor senior menang.\n\n'
        '"\n\n*** \u2014 \U0001f602'
    )
    spans = split_sentences(text, "id")
    assert [s.text for s in spans] == [
        "Korea Drama Awards 2019 telah rampung digelar pada Rabu (2/10).",
        'Simak daftar lengkap pemenangnya berikut ini:, : Choi Soo Jong "My Only One", :,"',
        "Di antara sederet nominasi, aktor senior menang.",
    ]
    assert_spans_exact(text, spans)
    assert split_sentences('", :,"\n\n.\n...', "id") == ()
    # pysbd ends the sentence at "?", and the "., " left of the next one is not part of it
    assert texts("Siapa mereka?., Penyanyi itu datang.") == ["Siapa mereka?", "Penyanyi itu datang."]


def test_a_closing_quote_split_off_stays_with_its_sentence() -> None:
    text = 'Dia berkata, "Kami kalah." " Lalu dia pergi.'
    assert texts(text)[0].startswith('Dia berkata, "Kami kalah."')


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        (
            "Names sold under the new .mobi domain. The .mobi domain would be aimed at phones.",
            "en",
            ["Names sold under the new .mobi domain.", "The .mobi domain would be aimed at phones."],
        ),
        (
            "Microsoft released .NET Core in 2016. .NET is free.",
            "en",
            ["Microsoft released .NET Core in 2016.", ".NET is free."],
        ),
        (
            "ICANN approved .jobs and .travel. .post is run by the UPU.",
            "en",
            ["ICANN approved .jobs and .travel.", ".post is run by the UPU."],
        ),
        ("The domain is .mobi. It costs more.", "en", ["The domain is .mobi.", "It costs more."]),
        (
            "Ia membeli domain .id kemarin. Situs .go.id milik pemerintah.",
            "id",
            ["Ia membeli domain .id kemarin.", "Situs .go.id milik pemerintah."],
        ),
    ],
)
def test_a_leading_dot_word_keeps_its_dot(text: str, lang: str, expected: list[str]) -> None:
    """pysbd cuts "the .mobi domain" after the dot: the question "what is the .mobi domain aimed
    at" quoted "mobi domain would be …"."""
    assert texts(text, lang) == expected
    assert_spans_exact(text, split_sentences(text, lang))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_and_offsets_hold_on_any_text(text: str) -> None:
    assert_spans_exact(text, split_sentences(text, "id"))


_SENTENCEISH = st.text(alphabet="aZ1 .,!?\"'“”‘’()[]…\n\t-:;Dr.Jl.No.Tbk.dll. .mobi", max_size=400)


@settings(max_examples=300, deadline=None)
@given(_SENTENCEISH, st.sampled_from(["id", "en", "de", "und"]))
def test_offsets_hold_on_punctuation_heavy_text(text: str, lang: str) -> None:
    assert_spans_exact(text, split_sentences(text, lang))


@pytest.mark.parametrize(
    "text",
    [
        (SEED.read_text(encoding="utf-8").replace("\n", " ") + " ") * 70,  # one 200 KB paragraph
        "a. " * 70_000,
        "x" * 200_000,
        "." * 200_000,
        "Jl. " * 50_000,  # every pysbd split merged back
        "Dia pergi., " * 20_000 + ".!" * 50_000 + ", A",  # every ", " a glued paragraph
    ],
    ids=["long-paragraph", "tiny-sentences", "no-boundaries", "only-dots", "all-merges", "all-glued"],
)
def test_large_inputs_finish_quickly(text: str) -> None:
    started = time.perf_counter()
    spans = split_sentences(text, "id")
    assert time.perf_counter() - started < 15  # about 1-2 s here; pysbd alone is quadratic
    assert_spans_exact(text, spans)


# --- language -------------------------------------------------------------------------------


def test_detect_language() -> None:
    assert detect_language(SEED.read_text(encoding="utf-8")) == "id"
    assert detect_language("The president said on Monday that the economy grew faster.") == "en"
    assert detect_language("Polisi menangkap dua orang tersangka pencurian motor.") == "id"


def test_malay_resolves_to_indonesian() -> None:
    malay = "Kerajaan Malaysia akan membentangkan bajet pada minggu hadapan kerana ekonomi."
    assert detect_language(malay) == "id"


@pytest.mark.parametrize("text", ["", "   ", "hello", "12345 678", "Rp 5.000"])
def test_too_little_text_is_undetermined(text: str) -> None:
    assert detect_language(text) == "und"


# --- chunks ---------------------------------------------------------------------------------


def spans_of(lengths: list[int]) -> tuple[SentenceSpan, ...]:
    spans, start = [], 0
    for n, length in enumerate(lengths):
        text = (chr(ord("a") + n % 26) * length)[:length]
        spans.append(SentenceSpan(start, start + length, text))
        start += length + 1
    return tuple(spans)


def assert_chunk_invariants(sentences: tuple[SentenceSpan, ...], max_chars: int, overlap: int) -> None:
    chunks = chunk_sentences(sentences, max_chars=max_chars, overlap=overlap)
    if not sentences:
        assert chunks == ()
        return
    assert chunks[0].first == 0
    assert chunks[-1].last == len(sentences)
    for chunk in chunks:
        assert 0 <= chunk.first < chunk.last <= len(sentences)
        assert chunk.text == " ".join(s.text for s in sentences[chunk.first : chunk.last])
        assert len(chunk.text) <= max_chars or chunk.last - chunk.first == 1
    for before, after in itertools.pairwise(chunks):
        assert before.first < after.first and before.last < after.last  # progress
        assert after.first <= before.last  # no sentence skipped
        assert before.last - after.first <= overlap  # at most the asked overlap


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=300), max_size=40),
    st.integers(min_value=1, max_value=900),
    st.integers(min_value=0, max_value=3),
)
def test_chunk_invariants(lengths: list[int], max_chars: int, overlap: int) -> None:
    assert_chunk_invariants(spans_of(lengths), max_chars, overlap)


def test_chunks_overlap_by_one_sentence() -> None:
    chunks = chunk_sentences(spans_of([100] * 10), max_chars=350, overlap=1)
    assert [(c.first, c.last) for c in chunks] == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 10)]


def test_long_sentence_is_its_own_chunk() -> None:
    chunks = chunk_sentences(spans_of([100, 100, 2000, 100]), max_chars=800, overlap=1)
    assert [(c.first, c.last) for c in chunks] == [(0, 2), (2, 3), (3, 4)]


def test_seed_chunks() -> None:
    article = clean_text(SEED.read_text(encoding="utf-8"))
    sentences = split_sentences(article.text, "id")
    assert_chunk_invariants(sentences, 800, 1)
    chunks = chunk_sentences(sentences)
    assert chunks[0].text.startswith("TRIBUNNEWS.COM, BEIJING - Di tengah")
    assert article.meta.title is not None and article.meta.title not in chunks[0].text


def test_chunk_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_sentences(spans_of([5]), max_chars=0)
    with pytest.raises(ValueError, match="overlap"):
        chunk_sentences(spans_of([5]), overlap=-1)
