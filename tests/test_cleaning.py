"""Text and HTML cleaning, metadata extraction and upload decoding (retrieval/cleaning.py)."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.cleaning import clean_html, clean_text
from retrieval.errors import ArticleRejected
from retrieval.sentences import split_sentences
from settings import Settings

DATA = Path(__file__).parent / "data"
SEED = Path(__file__).resolve().parents[1] / "samples" / "tribunnews-xi-letter-kim-jong-un.txt"
RIVERTON = DATA / "riverton-bridge-vote.html"
TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>")
# What makes a text HTML: closing tags, attribute values, <br>. A newswire's "<Rolls-Royce Plc>" is text.
MARKUP_TAG = re.compile(
    r"</(?:a|b|i|p|em|div|span|strong)\s*>|<(?:a|b|i|p|em|div|span|strong|img)\s[^<>]*=|<(?:br|hr)\s*/?>",
    re.I,
)


def one_line(text: str) -> str:
    return " ".join(text.split())  # the whitespace normalisation cleaning applies (NBSP -> space)


def seed_paragraphs() -> list[str]:
    """The nine real paragraphs of the seed, read straight from the file."""
    blocks = [one_line(b) for b in SEED.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    first = next(i for i, b in enumerate(blocks) if b.startswith("TRIBUNNEWS.COM, BEIJING - "))
    last = next(i for i, b in enumerate(blocks) if b.endswith("pemerintah Korea Selatan dan Jepang."))
    return [b for b in blocks[first : last + 1] if not b.startswith("Baca juga:")]


@pytest.fixture(scope="module")
def seed() -> str:
    return SEED.read_text(encoding="utf-8")


# --- the seed article -----------------------------------------------------------------------


def test_seed_metadata(seed: str) -> None:
    meta = clean_text(seed, url="https://www.tribunnews.com/internasional/xi").meta
    assert meta.title == "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"
    assert meta.outlet == "Tribunnews"
    assert meta.author == "Namira Yunia Lestanti"
    assert meta.published is None  # "Sabtu (26/11)", "Jumat (18/11/2022)", "© 2023" are not datelines
    assert meta.url == "https://www.tribunnews.com/internasional/xi"


def test_seed_body_is_exactly_the_nine_paragraphs(seed: str) -> None:
    expected = seed_paragraphs()
    assert len(expected) == 9
    text = clean_text(seed).text
    assert text.split("\n\n") == expected
    assert text.startswith("TRIBUNNEWS.COM, BEIJING - Di tengah memanasnya")
    assert text.endswith("pemerintah Korea Selatan dan Jepang.")


def test_seed_boilerplate_is_gone(seed: str) -> None:
    text = clean_text(seed).text
    paragraphs = text.split("\n\n")
    for fragment in (
        "Penulis:",
        "Editor:",
        "zoom-in",
        "Laporan Wartawan",
        "Baca juga",
        "Geram Negaranya Diancam",
        "©",
        "All Right Reserved",
        "KG Media",
        "Kim Jong Un bersama putrinya",  # the photo caption
    ):
        assert fragment not in text
    assert "Tribun" not in paragraphs and "KCNA" not in paragraphs and "Atas" not in paragraphs
    assert not text.endswith("Atas")
    title = "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"
    assert title not in text
    # the teaser repeats the start of a later sentence: only the full sentence remains
    teaser = "Beijing tidak ingin melihat eskalasi lebih lanjut oleh Pyongyang"
    assert text.count(teaser) == 1
    assert "oleh Pyongyang pada pertemuannya dengan Presiden AS Joe Biden" in text


def test_every_seed_sentence_survives_verbatim(seed: str) -> None:
    text = clean_text(seed).text
    for paragraph in seed_paragraphs():
        for sentence in split_sentences(paragraph, "id"):
            assert sentence.text in text
    cleaned = [s.text for s in split_sentences(text, "id")]
    expected = [s.text for p in seed_paragraphs() for s in split_sentences(p, "id")]
    assert cleaned == expected


def test_seed_caption_sentence_with_date_is_one_sentence() -> None:
    # The caption is dropped from the seed as boilerplate, so its date is checked here directly.
    caption = (
        "Kim Jong Un bersama putrinya tengah mengawasi peluncuran rudal balistik terbaru milik "
        "Korea Utara di Bandara Internasional Pyongyang, Jumat (18/11/2022)."
    )
    assert [s.text for s in split_sentences(caption + " Berikutnya.", "id")] == [caption, "Berikutnya."]


def test_seed_without_dateline_keeps_the_caption_but_drops_the_teaser(seed: str) -> None:
    article = clean_text(seed.replace("TRIBUNNEWS.COM, BEIJING - ", ""))
    assert article.meta.title == "Kirim Surat ke Kim Jong Un, China Ajak Korea Utara Untuk Jalin Kerja Sama"
    assert article.meta.outlet == "Tribunnews"  # now from "Laporan Wartawan Tribunnews.com"
    assert article.text.count("Beijing tidak ingin melihat eskalasi lebih lanjut oleh Pyongyang") == 1
    assert "Penulis:" not in article.text and "KCNA\n" not in article.text
    assert article.text.startswith("Kim Jong Un bersama putrinya")  # no dateline: kept, not guessed


def test_crlf_and_nfd_input_give_the_same_article(seed: str) -> None:
    import unicodedata

    variant = unicodedata.normalize("NFD", seed).replace("\n", "\r\n")
    assert clean_text(variant) == clean_text(seed)


# --- the boilerplate table ------------------------------------------------------------------

BODY = [
    "Pemerintah menaikkan harga beras pada Senin pagi.",
    "Pedagang di pasar mengeluhkan sepinya pembeli sejak pekan lalu.",
    "Menteri berjanji menambah pasokan dari gudang Bulog.",
]


@pytest.mark.parametrize(
    "line",
    [
        "Baca juga: Harga cabai turun tajam",
        "BACA JUGA: Harga cabai turun tajam",
        "Baca Juga",
        "Read more: Ferry service ends after 80 years",
        "Also read: Ferry service ends",
        "Simak juga video 'Harga beras naik' di sini:",
        "Lihat juga: Foto-foto pasar induk",
        "ADVERTISEMENT",
        "Advertisement",
        "Scroll to continue with content",
        "SCROLL TO CONTINUE WITH CONTENT",
        "Editor: Seno Tri Sulistiyono",
        "Reporter: Budi Santoso",
        "Penulis: Budi Santoso | Editor: Ana",
        "Sumber: Al Jazeera",
        "Copyright © 2023 Example News",
        "© 2023 TRIBUNnews.com,a subsidiary of KG Media. All Right Reserved",
        "All rights reserved.",
        "Share this article",
        "Share this article: Facebook | Twitter | WhatsApp",
        "Bagikan artikel ini: Facebook Twitter WhatsApp",
        "Facebook Twitter WhatsApp Telegram Copy Link",
        "Ikuti berita terkini dari kami di Google News",
        "Tags: ekonomi, beras, bulog",
        "zoom-in Harga beras naik",
        "Laporan Wartawan Tribunnews.com Budi Santoso",
        "(Tribunnews.com/Budi)",
        "(mg/dod)",
        "Kembali ke atas",
        "Halaman 2 dari 3",
        "Senin, 28 November 2022 10:15 WIB",
        "Published: 2022-11-28",
    ],
)
def test_boilerplate_lines_are_dropped(line: str) -> None:
    text = "\n\n".join([BODY[0], line, *BODY[1:]])
    assert clean_text(text).text.split("\n\n") == BODY


@pytest.mark.parametrize(
    "sentence",
    [
        "Iklan rokok dilarang tayang di televisi sejak tahun 2003.",
        "Oleh karena itu, pemerintah menunda kebijakan tersebut.",
        "Sumber daya alam Indonesia melimpah, kata menteri itu.",
        "Share prices fell 3% on Monday after the report.",
        "Editor senior itu mengundurkan diri pekan lalu.",
        "Baca buku sejarah, kata guru itu kepada murid-muridnya.",
        "Facebook dan Twitter menghapus akun tersebut pada Selasa.",
        "Copyright law in Indonesia protects authors for 70 years.",
    ],
)
def test_sentences_that_look_like_boilerplate_survive(sentence: str) -> None:
    text = "\n\n".join([BODY[0], sentence, *BODY[1:]])
    assert sentence in clean_text(text).text.split("\n\n")


# --- metadata from plain text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "published"),
    [
        ("Senin, 28 November 2022 10:15 WIB", "2022-11-28T10:15:00+07:00"),
        ("Senin, 28 Nov 2022, 10.15 WITA", "2022-11-28T10:15:00+08:00"),
        ("Published: 2022-11-28", "2022-11-28"),
        ("Diterbitkan: 28/11/2022", "2022-11-28"),
        ("Kompas.com - 28/11/2022, 10:15 WIB", "2022-11-28T10:15:00+07:00"),
        ("Posted on March 3, 2023 at 10:15 pm", "2023-03-03T22:15:00"),
        ("2024-03-12T09:30:00+00:00", "2024-03-12T09:30:00+00:00"),
        ("Penulis: Ana Lee | Diterbitkan: 28 November 2022", "2022-11-28"),
        ("Diperbarui: 29 November 2022", None),  # an update is not the publication date
        ("Senin, 31 Februari 2022", None),  # not a date: stays as text, and no date is made up
    ],
)
def test_explicit_publication_dates(line: str, published: str | None) -> None:
    article = clean_text("\n\n".join([line, *BODY]))
    assert article.meta.published == published


def test_byline_and_dateline_outlet() -> None:
    text = "\n\n".join(
        [
            "Harga Beras Naik Menjelang Akhir Tahun",
            "Oleh: Budi Santoso",
            "JAKARTA, KOMPAS.com - Pemerintah menaikkan harga beras pada Senin pagi.",
            *BODY[1:],
        ]
    )
    article = clean_text(text)
    assert article.meta.title == "Harga Beras Naik Menjelang Akhir Tahun"
    assert article.meta.author == "Budi Santoso"
    assert article.meta.outlet == "Kompas"
    assert article.text.startswith("JAKARTA, KOMPAS.com - Pemerintah")


INFLATION = [
    "Inflation fell to <3% in March, the statistics office said on Tuesday.",
    "Food prices rose slightly, while fuel was cheaper than a year ago.",
]
HEADLINES = ["Inflation report", "Reader letters", "Laporan inflasi", "Surat pembaca"]


@pytest.mark.parametrize("headline", HEADLINES)
@pytest.mark.parametrize("markdown", [False, True])
def test_a_two_word_headline_standing_alone_is_the_title(headline: str, markdown: bool) -> None:
    article = clean_text("\n\n".join([headline, *INFLATION]), markdown=markdown)
    assert (article.meta.title, article.text.split("\n\n")) == (headline, INFLATION)
    # a byline between the headline and the body changes nothing
    article = clean_text("\n\n".join([headline, "By Ana Lee", *INFLATION]), markdown=markdown)
    assert (article.meta.title, article.meta.author, article.text.split("\n\n")) == (
        headline,
        "Ana Lee",
        INFLATION,
    )


@pytest.mark.parametrize(
    "first",
    [
        "Inflation report\n",  # no blank line: may be wrapped ("Sensormatic Electronics\nCorp said")
        "It fell.\n\n",  # a sentence
        "BANDA ACEH\n\n",  # a place, an outlet or a kicker in capitals
        "Tribunnews\n\n",  # one word: an outlet or a section as often as a headline
        "Kompas.com\n\n",
        "Dear editor,\n\n",
        # both words capitalized: a name or an outlet as often as a headline
        "Jakarta Post\n\n",
        "Jane Doe\n\n",
        "Breaking News\n\n",
        "Updated 2h\n\n",  # digits: a label
        "Dear readers\n\n",  # greetings
        "Good morning\n\n",
        "Selamat pagi\n\n",
    ],
)
def test_short_first_lines_that_are_not_headlines_stay(first: str) -> None:
    article = clean_text(first + "\n\n".join(INFLATION))
    assert article.meta.title is None
    assert article.text.split("\n\n") == [first.strip(), *INFLATION]


def test_a_two_word_line_above_a_dateline_is_header_not_title() -> None:
    article = clean_text("Tribun Jateng\n\nSEMARANG - " + "\n\n".join(INFLATION))
    assert article.meta.title is None  # an outlet's name as often as a headline
    assert article.text.split("\n\n") == ["SEMARANG - " + INFLATION[0], INFLATION[1]]


def test_a_two_word_kicker_over_a_headline_stays_the_outlet_label() -> None:
    article = clean_text("\n\n".join(["Reader letters", "Why the footbridge matters", *INFLATION]))
    assert (article.meta.title, article.meta.outlet) == ("Why the footbridge matters", "Reader letters")
    assert article.text.split("\n\n") == INFLATION


def test_outlet_falls_back_to_the_url_host() -> None:
    article = clean_text("\n\n".join(BODY), url="https://nasional.kompas.com/read/2022/11/28/x")
    assert article.meta.outlet == "Kompas"
    assert article.meta.title is None


def test_hard_wrapped_lines_are_joined() -> None:
    text = "Pemerintah menaikkan harga beras\npada Senin pagi, kata pejabat itu.\nPedagang mengeluh.\n"
    assert (
        clean_text(text).text
        == "Pemerintah menaikkan harga beras pada Senin pagi, kata pejabat itu.\n\nPedagang mengeluh."
    )


# --- markdown and HTML-ish text -------------------------------------------------------------


def test_markdown_markup_is_stripped() -> None:
    text = """# Harbour ferry fares to rise in June

**By Ana Lee** | Published: 2022-11-28

The [city council](https://example.com/council) approved a *small* increase on Tuesday. Fares
will rise by 10 cents from __June 1__.

![A ferry](https://example.com/ferry.jpg)

> "We had no choice," the mayor said.

- The council said the money will pay for two new boats.

---
"""
    article = clean_text(text)
    assert article.meta.title == "Harbour ferry fares to rise in June"
    assert article.meta.author == "Ana Lee"
    assert article.meta.published == "2022-11-28"
    assert article.text.split("\n\n") == [
        "The city council approved a small increase on Tuesday. Fares will rise by 10 cents from June 1.",
        '"We had no choice," the mayor said.',
        "The council said the money will pay for two new boats.",
    ]


def test_html_fragment_in_text_keeps_no_tags() -> None:
    fragment = (
        "<p>Senin, 28 November 2022 10:15 WIB</p>"
        "<p>JAKARTA, KOMPAS.com - Harga beras naik <b>tajam</b> pekan ini. Pedagang mengeluh &amp; "
        "pembeli berkurang.</p><p>Baca Juga: Harga cabai turun</p><script>var x = 1;</script>"
        "<style>p { color: red }</style><p>Pemerintah berjanji<br>menambah pasokan.</p>"
    )
    article = clean_text(fragment)
    assert not TAG.search(article.text) and "var x" not in article.text and "color" not in article.text
    assert article.text.split("\n\n") == [
        "JAKARTA, KOMPAS.com - Harga beras naik tajam pekan ini. Pedagang mengeluh & pembeli berkurang.",
        "Pemerintah berjanji menambah pasokan.",
    ]
    assert article.meta.published == "2022-11-28T10:15:00+07:00"


def test_full_html_document_pasted_as_text_goes_through_trafilatura() -> None:
    article = clean_text(RIVERTON.read_text(encoding="utf-8"))
    assert article.meta.title == "Riverton council approves new footbridge after two-year debate"
    assert "Most read" not in article.text and not TAG.search(article.text)


# --- HTML pages -----------------------------------------------------------------------------


def test_clean_html_news_page() -> None:
    article = clean_html(RIVERTON.read_text(encoding="utf-8"), url="https://ledger.example/news/x")
    assert article.meta.title == "Riverton council approves new footbridge after two-year debate"
    assert article.meta.author == "Dana Whitfield"
    assert article.meta.published == "2024-03-12"
    assert article.meta.outlet == "The Riverton Ledger"
    assert article.meta.url == "https://ledger.example/news/x"
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0].startswith("RIVERTON — The town council voted 7-2 on Monday night")
    assert paragraphs[-1] == (
        "Residents can comment on the final design at a public meeting on April 3 at the community hall."
    )
    assert len(paragraphs) == 6
    for junk in (
        "Read more",
        "ADVERTISEMENT",
        "Share this",
        "Copyright",
        "Most read",
        "Comments",
        "Finally!",
        "Subscribe",
        "Tags",
        "window.dataLayer",
        "approves new footbridge",  # the title is metadata, not body
    ):
        assert junk not in article.text
    assert "Mr. Paul Okafor." in article.text


def test_clean_html_runs_the_boilerplate_filter_too() -> None:
    html = """<html><head><title>Harga beras naik</title></head><body><article>
    <h1>Harga beras naik</h1>
    <p>JAKARTA, KOMPAS.com - Pemerintah menaikkan harga beras pada Senin pagi di seluruh provinsi.</p>
    <p>Baca juga: Harga cabai turun tajam</p>
    <p>Pedagang di pasar mengeluhkan sepinya pembeli sejak pekan lalu, kata seorang pedagang.</p>
    <p>Penulis: Budi Santoso</p>
    <p>Menteri berjanji menambah pasokan dari gudang Bulog dalam waktu dekat.</p>
    </article></body></html>"""
    article = clean_html(html)
    assert "Baca juga" not in article.text and "Penulis" not in article.text
    assert article.text.startswith("JAKARTA, KOMPAS.com - Pemerintah")
    assert article.meta.author == "Budi Santoso"
    assert article.meta.outlet == "Kompas"


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>",
        "<html><body></body></html>",
        "not html at all",
    ],
)
def test_page_without_main_text_is_not_an_article(html: str) -> None:
    with pytest.raises(ArticleRejected) as caught:
        clean_html(html)
    assert caught.value.reason == "not_article"


# --- rejections -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        (" \n\t \n", "empty"),
        ("Baca juga: x\n\nEditor: Ana\n\n© 2023 Example", "empty"),
        ("Hello.", "not_article"),
        ("Satu kalimat saja yang cukup panjang untuk dihitung sebagai teks.", "not_article"),
        ("Pendek. Sekali.", "not_article"),
        ("abc\x00def. Ghi jkl mno pqr stu vwx yz. Lagi satu kalimat panjang di sini.", "binary"),
        ("\x01\x02\x03\x04\x05 abc \x06\x07\x08\x0e\x0f", "binary"),
        ("\ufffd\ufffd\ufffd\ufffd ab", "binary"),
    ],
)
def test_rejections(raw: str, reason: str) -> None:
    with pytest.raises(ArticleRejected) as caught:
        clean_text(raw)
    assert caught.value.reason == reason
    assert str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=600))
def test_clean_text_only_ever_rejects_and_never_keeps_markup(raw: str) -> None:
    try:
        article = clean_text(raw)
    except ArticleRejected:
        return
    assert article.text and article.text == article.text.strip()
    assert not MARKUP_TAG.search(article.text)
    assert "\n\n\n" not in article.text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([*BODY, "Baca juga: x", "<b>Tebal</b> sekali.", "# Judul", "", "KCNA"])))
def test_kept_lines_are_verbatim(lines: list[str]) -> None:
    try:
        article = clean_text("\n".join(lines))
    except ArticleRejected:
        return
    for paragraph in article.text.split("\n\n"):
        for sentence in split_sentences(paragraph, "id"):
            assert any(sentence.text in line for line in [*BODY, "Tebal sekali.", "Judul", "KCNA"])


@pytest.mark.parametrize(
    "raw",
    [
        "<a b='" * 40_000,  # html.parser takes minutes on these
        "<!-- " * 80_000,
        "**a " * 20_000,
        "[a](" * 20_000,
        "__a " * 20_000,
        "Kalimat pendek di sini. " * 80_000,  # one 2 MB paragraph
        "Kalimat pendek di sini.\n" * 80_000,
        "---\n" + "[" * 9_000 + "\n---\nKalimat pendek di sini.",  # YAML nested past the recursion limit
        "---\n" + "a: &a [b]\n" * 2_000 + "---\nKalimat pendek di sini.",
        "# a\n" * 80_000,
    ],
    ids=[
        "open-quotes",
        "open-comments",
        "bold",
        "links",
        "underscores",
        "one-paragraph",
        "many-lines",
        "front-matter-nesting",
        "front-matter-keys",
        "headings",
    ],
)
def test_pathological_input_is_fast(raw: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ArticleRejected):
        clean_text(raw)
    assert time.perf_counter() - started < 10  # well under 2 s each here


# --- Markdown: front matter, headings, markup inside sentences --------------------------------

AIRPORT_BODY = (
    "The regional council approved the airport expansion on Monday after a two-year debate.\n\n"
    "Construction of the new terminal will start next spring, officials said.\n"
)
AIRPORT = [
    "The regional council approved the airport expansion on Monday after a two-year debate.",
    "Construction of the new terminal will start next spring, officials said.",
]
MARKUP = re.compile(r"[*_#`>]|\]\(|^\s*(?:[-+]|\d+[.)])\s|^(?:title|date|author):", re.M)


def test_front_matter_is_metadata_not_body() -> None:
    text = (
        '---\ntitle: "Airport expansion approved"\ndate: 2024-03-04\nauthor: Jane Roe\n---\n\n' + AIRPORT_BODY
    )
    article = clean_text(text)
    assert article.meta.title == "Airport expansion approved"
    assert article.meta.published == "2024-03-04"
    assert article.meta.author == "Jane Roe"
    assert article.text.split("\n\n") == AIRPORT


@pytest.mark.parametrize(
    ("front", "meta"),
    [
        (  # the common keys, other spellings, a list of authors, a source that is a name
            "---\nheadline: 'Airport expansion approved'\npublished_at: 2024-03-04T09:30:00+07:00\n"
            "authors:\n  - Jane Roe\n  - name: Ali Khan\nsource: The Valley Times\n"
            "link: https://valley.example/airport?id=7\ntags: [airport, council]\n---",
            ("Airport expansion approved", "The Valley Times", "Jane Roe, Ali Khan",
             "2024-03-04T09:30:00+07:00", "https://valley.example/airport?id=7"),
        ),
        (  # YAML's "..." end marker; a source that is a link gives the url, the host the outlet
            "---\ntitle: Airport expansion approved\npubDate: March 4, 2024\n"
            "source: https://www.valleytimes.example/news/airport\n...",
            ("Airport expansion approved", "Valleytimes", None, "2024-03-04",
             "https://www.valleytimes.example/news/airport"),
        ),
        (  # Hugo's TOML front matter, with a TOML date
            '+++\ntitle = "Airport expansion approved"\ndate = 2024-03-04\nauthor = "Jane Roe"\n'
            'publisher = "Valley Times"\nurl = "https://valley.example/airport"\n+++',
            ("Airport expansion approved", "Valley Times", "Jane Roe", "2024-03-04",
             "https://valley.example/airport"),
        ),
        (  # an update date is not the publication date; a non-http url is not a url
            "---\ntitle: Airport expansion approved\nupdated: 2024-03-05\nurl: javascript:alert(1)\n---",
            ("Airport expansion approved", None, None, None, None),
        ),
        (  # a date that does not exist is not made into one
            "---\ntitle: Airport expansion approved\ndate: 2024-02-31\n---",
            ("Airport expansion approved", None, None, None, None),
        ),
    ],
)  # fmt: skip
def test_front_matter_fields(front: str, meta: tuple[str | None, ...]) -> None:
    article = clean_text(f"{front}\n{AIRPORT_BODY}".replace("\n", "\r\n"))
    found = article.meta
    assert (found.title, found.outlet, found.author, found.published, found.url) == meta
    assert article.text.split("\n\n") == AIRPORT


def test_url_given_by_the_caller_wins_over_the_front_matter() -> None:
    text = f"---\ntitle: Airport\nurl: https://valley.example/a\n---\n{AIRPORT_BODY}"
    assert clean_text(text, url="https://other.example/b").meta.url == "https://other.example/b"


@pytest.mark.parametrize(
    "text",
    [
        f"---\nNote: the figures below are provisional.\n---\n{AIRPORT_BODY}",  # no front-matter key
        f"---\ntitle: [unclosed\n---\n{AIRPORT_BODY}",  # not YAML
        f"---\n- title\n- date\n---\n{AIRPORT_BODY}",  # not a mapping
    ],
)
def test_text_between_rules_that_is_not_front_matter_stays(text: str) -> None:
    block = text.split("\n")[1]
    assert clean_text(text).text.split("\n\n")[-2:] == AIRPORT
    assert clean_text(text).text.split("\n\n")[0] == block.removeprefix("- ")
    assert clean_text(text).meta.title is None


def test_front_matter_title_and_a_first_heading() -> None:
    text = (
        f"---\ntitle: Airport expansion approved\n---\n# Airport expansion approved at last\n{AIRPORT_BODY}"
    )
    article = clean_text(text)
    assert article.meta.title == "Airport expansion approved"  # the front matter's
    assert article.text.split("\n\n") == AIRPORT  # the heading is not a sentence


@pytest.mark.parametrize(
    "heading",
    [
        "# Airport expansion approved by the council",
        "# Airport *expansion* approved by the council #",
        "## Airport expansion approved by the council",
        "Airport expansion approved by the council\n===",
    ],
)
def test_first_line_heading_is_the_title_even_without_a_blank_line(heading: str) -> None:
    article = clean_text(f"{heading}\n{AIRPORT_BODY}")
    assert article.meta.title == "Airport expansion approved by the council"
    assert article.text.split("\n\n") == AIRPORT


def test_one_word_heading_is_the_title() -> None:
    article = clean_text(f"# Airport\n\n{AIRPORT_BODY}")
    assert (article.meta.title, article.text.split("\n\n")) == ("Airport", AIRPORT)


MARKDOWN_BODY = """# Flood warning issued for the valley

The weather service issued a *flood warning* for the [river valley](https://x.example/Valley_(river))
on Tuesday, see <https://x.example/warnings>.
## What residents should do
* Move cars to higher ground before the night
* Keep emergency kits ready, the **mayor** said
- Schools will stay _closed_ on Wednesday and `Thursday`.

1. Sandbags are available at the fire station
2. Shelters open at 6 pm in the town hall
"""


def test_markdown_markup_never_reaches_a_sentence() -> None:
    article = clean_text(MARKDOWN_BODY, markdown=True)
    assert article.meta.title == "Flood warning issued for the valley"
    assert article.text.split("\n\n") == [
        "The weather service issued a flood warning for the river valley on Tuesday, see "
        "https://x.example/warnings.",
        "Move cars to higher ground before the night",
        "Keep emergency kits ready, the mayor said",
        "Schools will stay closed on Wednesday and Thursday.",
        "Sandbags are available at the fire station",
        "Shelters open at 6 pm in the town hall",
    ]
    for sentence in split_sentences(article.text, "en"):
        assert not MARKUP.search(sentence.text), sentence.text


def test_a_first_line_heading_marks_the_text_as_markdown() -> None:
    assert clean_text(MARKDOWN_BODY) == clean_text(MARKDOWN_BODY, markdown=True)


def test_escapes_and_underlined_headings_in_markdown() -> None:
    text = (
        "Fares\n-----\n\n1\\. The council voted on Tuesday \\*after\\* a debate \\# 4.\n\n"
        "Fares rise by 10 cents\\\nfrom June, the mayor said.\n"
    )
    article = clean_text(text, markdown=True)
    assert article.meta.title == "Fares"
    assert article.text.split("\n\n") == [
        "1. The council voted on Tuesday *after* a debate # 4.",
        "Fares rise by 10 cents from June, the mayor said.",
    ]
    # Not known to be Markdown: the backslashes are text, but still protect what follows them.
    assert (
        clean_text(text).text.split("\n\n")[1]
        == "1\\. The council voted on Tuesday \\*after\\* a debate \\# 4."
    )


def test_numbered_line_inside_a_paragraph_continues_it() -> None:
    text = (
        "The airport expansion was approved by the council in March\n"
        "2024. The new terminal opens next year, officials said.\n\n"
        "1. Flights will double.\n2. Parking will move.\n"
    )
    assert clean_text(text, markdown=True).text.split("\n\n") == [
        "The airport expansion was approved by the council in March 2024. The new terminal opens next "
        "year, officials said.",
        "Flights will double.",
        "Parking will move.",
    ]
    plain = clean_text(text).text.split("\n\n")  # not known to be Markdown: numbers stay
    assert plain[1:] == ["1. Flights will double.", "2. Parking will move."]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_anything_between_front_matter_rules_only_ever_rejects(block: str) -> None:
    for opener in ("---", "+++"):
        with contextlib.suppress(ArticleRejected):
            article = clean_text(f"{opener}\n{block}\n{opener}\n{AIRPORT_BODY}")
            assert article.text.endswith(AIRPORT[-1])


# --- uploads --------------------------------------------------------------------------------


def test_max_article_bytes() -> None:
    """The limit on an article's bytes is the setting the callers enforce (uploads, files, pages,
    pasted text and archive lines), not a constant of cleaning's."""
    assert Settings.model_fields["max_upload_bytes"].default == 2_000_000


# --- plain text is not Markdown -----------------------------------------------------------------


def test_a_wrapped_line_starting_with_a_dash_continues_the_sentence() -> None:
    text = (
        "JAKARTA, March 5 (Reuters) - Indonesia's president said on Tuesday the government\n"
        "- which has struggled to contain food prices - would import more rice, officials said."
    )
    expected = (
        "JAKARTA, March 5 (Reuters) - Indonesia's president said on Tuesday the government which has"
        " struggled to contain food prices - would import more rice, officials said."
    )
    assert clean_text(text, archive=True).text == expected
    # a real list stays split: after a colon, and item after item
    listed = (
        "They gave three reasons:\n- costs are high,\n- they fear the risk,\n- they fear for their brand."
    )
    assert clean_text(listed, archive=True).text.split("\n\n") == [
        "They gave three reasons:",
        "costs are high,",
        "they fear the risk,",
        "they fear for their brand.",
    ]


@pytest.mark.parametrize("archive", [True, False])
def test_underscores_in_plain_text_are_kept(archive: bool) -> None:
    text = (
        "The thread at https://example.com/_forum_/thread_1 was quoted. The export held _x000D_ markers"
        " and __init__ files. Officials said nothing more on Tuesday. The council meets again in June."
    )
    assert clean_text(text, archive=archive).text == text
    # known Markdown: underscore emphasis goes, a URL is still never touched
    md = clean_text(
        "See https://example.com/_forum_/a*b*c and _this_ and **that**. " + text[30:], markdown=True
    )
    assert md.text.startswith("See https://example.com/_forum_/a*b*c and this and that. ")


def test_headings_in_an_archive_body_are_kept_as_text() -> None:
    text = "## Kronologi\nThe floods began on Monday.\n# 1 in 5 Indonesians lack clean water\nRescuers came."
    assert clean_text(text, archive=True).text.split("\n\n") == [
        "Kronologi",
        "The floods began on Monday.",
        "1 in 5 Indonesians lack clean water",
        "Rescuers came.",
    ]
    # known Markdown: headings are not body
    assert clean_text(text, archive=True, markdown=True).text.split("\n\n") == [
        "The floods began on Monday.",
        "Rescuers came.",
    ]


# --- newswire archives: Reuters' wrapped lines, brackets and sign-offs; CLICK-ID's labels ---------

EARNINGS = (  # reuters-19633 and reuters-7357, hard-wrapped as Reuters-21578 is
    "Helene Curtis Industries Inc said due to\n"
    "increased expenditures budgeted to promote its new Salon\n"
    "Sectives brand, the company will likely produce a loss for the\n"
    "second quarter ending August 31.\n"
    "In the 1986 second quarter it earned 1,947,000 or 53 cts a\n"
    "share.\n"
    "Citrosuco and Cutrale officials were not available for\n"
    "comment.\n"
    "REUTER\n"
)


@pytest.mark.parametrize("archive", [True, False])
def test_a_wrapped_word_that_names_a_button_stays_in_its_sentence(archive: bool) -> None:
    assert clean_text(EARNINGS, archive=archive).text.split("\n\n") == [
        "Helene Curtis Industries Inc said due to increased expenditures budgeted to promote its new Salon"
        " Sectives brand, the company will likely produce a loss for the second quarter ending August 31.",
        "In the 1986 second quarter it earned 1,947,000 or 53 cts a share.",
        "Citrosuco and Cutrale officials were not available for comment.",
    ]


@pytest.mark.parametrize(
    "buttons",
    ["Share", "share", "Comments", "comment", "Baca juga", "ADVERTISEMENT", "Share:\nfacebook\nwhatsapp"],
)
@pytest.mark.parametrize("archive", [True, False])
def test_a_button_under_a_finished_sentence_is_still_dropped(buttons: str, archive: bool) -> None:
    text = "\n".join([BODY[0], buttons, *BODY[1:]])  # no blank lines: only the full stop ends the sentence
    assert clean_text(text, archive=archive).text.split("\n\n") == BODY


NEWSWIRE = (  # reuters-15286, reuters-5525, reuters-11406: company names and tickers in brackets
    "The five-nation IAE consortium has decided not to go ahead\n"
    "with the proposed launch of the superfan, a spokesman for\n"
    "consortium member <Rolls-Royce Plc> said today.\n"
    "Carter Hawley plans to spin off its specialty stores into a new company named\n"
    "<Neiman-Marcus Group>, whose shares will trade on the New York Stock Exchange.\n"
    "Phillips Petroleum <P> expects to begin marketing the new\n"
    "89 octane unleaded gasoline in May, sources said.\n"
    '"An investment will have to be made," said Archie Dunham of Conoco, an\n'
    "operating subsidiary of DuPont Corp <DD> in order to upgrade\n"
    "refinery operations.\n"
)


@pytest.mark.parametrize("archive", [True, False])
def test_newswire_names_in_angle_brackets_are_text(archive: bool) -> None:
    assert clean_text(NEWSWIRE, archive=archive).text.split("\n\n") == [
        " ".join(paragraph.split()) + "." for paragraph in NEWSWIRE.rstrip(".\n").split(".\n")
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "The council <b>approved</b> the plan on Monday.\nThe vote was 7-2, officials said.",
            ["The council approved the plan on Monday.", "The vote was 7-2, officials said."],
        ),
        (  # an attribute value; a custom element (lower case, with a hyphen)
            'The council approved <a href="/plan">the plan</a> on <my-date>Monday</my-date>.'
            " The vote was 7-2, officials said.",
            ["The council approved the plan on Monday. The vote was 7-2, officials said."],
        ),
        (  # a void tag is markup on its own
            "The council approved the plan on Monday.<br>The vote was 7-2, officials said.",
            ["The council approved the plan on Monday.", "The vote was 7-2, officials said."],
        ),
        (  # a tag inside a word (TyDi's Wikipedia text lost the closing one)
            "The carrier USS<i>John F. Kennedy was launched in May 1967. It served until 2007.",
            ["The carrier USSJohn F. Kennedy was launched in May 1967. It served until 2007."],
        ),
        (  # in HTML a newswire name is still text: custom elements are lower case
            "<p>Shares of <Rolls-Royce Plc> rose 3% on Monday.</p><p>Traders cited the order.</p>",
            ["Shares of <Rolls-Royce Plc> rose 3% on Monday.", "Traders cited the order."],
        ),
    ],
)
@pytest.mark.parametrize("archive", [True, False])
def test_html_in_article_text_is_still_stripped(raw: str, expected: list[str], archive: bool) -> None:
    text = clean_text(raw, archive=archive).text
    assert text.split("\n\n") == expected
    assert not MARKUP_TAG.search(text)


@pytest.mark.parametrize("sign_off", ["REUTER", "Reuter", "reuter", "REUTER...", "REUTER^M", "ANTARA"])
@pytest.mark.parametrize("archive", [True, False])
def test_a_wire_sign_off_under_the_story_is_dropped(sign_off: str, archive: bool) -> None:
    assert clean_text("\n".join([*BODY, sign_off]), archive=archive).text.split("\n\n") == BODY


def test_a_sign_off_under_a_table_is_dropped_not_joined_to_it() -> None:
    table = (
        "Shr loss 40 cts vs loss 1.30 dlrs\nNet loss 3,619,000 vs loss 11.3 mln\nRevs 24.1 mln vs 34.1 mln\n"
    )
    assert clean_text(table + "REUTER", archive=True).text == clean_text(table, archive=True).text
    assert "REUTER" not in clean_text(table + "REUTER", archive=True).text


def test_the_agency_named_at_the_end_of_a_sentence_stays() -> None:
    text = "\n".join([*BODY, "Officials declined to comment on the report, a spokesman told", "Reuters."])
    assert clean_text(text, archive=True).text.endswith("a spokesman told Reuters.")


@pytest.mark.parametrize("label", ["Baca juga, ", "Baca juga;, ", "Baca Juga :, ", "Baca juga, Baca juga, "])
@pytest.mark.parametrize("archive", [True, False])
def test_a_related_label_glued_to_a_paragraph_goes_and_the_paragraph_stays(label: str, archive: bool) -> None:
    # CLICK-ID's scraper joined paragraphs with ", " and dropped the link text
    text = "\n".join([BODY[0], label + BODY[1], BODY[2]])
    assert clean_text(text, archive=archive).text.split("\n\n") == BODY


def test_a_related_label_is_only_taken_off_the_start_of_a_line() -> None:
    lines = [
        "Lihat, harga beras naik lagi pekan ini di semua pasar.",  # one word: may open a sentence
        # inside a line: the line is kept verbatim (cutting it is for the sentence splitter)
        "Harga beras naik pada Senin., Baca juga:, Pedagang di pasar mengeluhkan sepinya pembeli.",
    ]
    assert clean_text("\n".join([BODY[0], *lines]), archive=True).text.split("\n\n") == [BODY[0], *lines]
