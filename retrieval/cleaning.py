"""Turn pasted text, uploads and HTML pages into article text plus metadata.

Cleaning works on whole lines: a line is either kept verbatim (whitespace normalised) or dropped
as boilerplate, so the sentences the bot later quotes are exactly the article's. Dropped are
byline, caption, related-link, share, advert, copyright and navigation lines (``_DROP``, ``_BUTTONS``),
a wire agency's sign-off under the story ("REUTER"), and everything above a dateline such as
"TRIBUNNEWS.COM, BEIJING - " (title, teaser, photo caption).
Markdown is read too (the syntax in ``retrieval.markdown``): a YAML (``---``) or TOML (``+++``)
front-matter block becomes metadata, headings become the title or are dropped, and markup is
removed from the lines kept.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime

import trafilatura

from retrieval.dates import MONTHS as _MONTHS
from retrieval.errors import ArticleRejected
from retrieval.markdown import (
    is_heading,
    markdown_lines,
    may_open_front_matter,
    read_front_matter,
    strip_inline,
)
from retrieval.sentences import split_sentences
from retrieval.types import ArticleMeta, CleanedArticle
from retrieval.uploads import looks_binary

MIN_LETTERS = 40
MIN_SENTENCES = 2

# --- normalisation -------------------------------------------------------------------------

_LINE_ENDS = re.compile(r"\r\n|[\r\v\f\x1c-\x1e\x85\u2028]")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[^\S\n]+")
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# Only real HTML element names (and custom elements: lower case with a hyphen) count as tags, and
# only in text that holds markup (``_MARKUP``): newswire text uses angle brackets too ("<Midland
# Montagu> said", "<Rolls-Royce Plc>", tickers like "<MDBL.L>", "<P>" for Phillips, "<DD>").
_ELEMENTS = """a abbr acronym address area article aside audio b base bdi bdo big blink blockquote body br
    button canvas caption center cite code col colgroup data datalist dd del details dfn dialog dir div
    dl dt em embed fieldset figcaption figure font footer form frame frameset h1 h2 h3 h4 h5 h6 head
    header hgroup hr html i iframe img input ins kbd label legend li link main map mark marquee menu
    meta meter nav nobr noframes noscript object ol optgroup option output p param picture plaintext
    pre progress q rp rt ruby s samp script search section select slot small source span strike strong
    style sub summary sup svg table tbody td template textarea tfoot th thead time title tr track tt u
    ul var video wbr xmp math path g rect circle line polyline polygon use defs symbol"""
_CUSTOM_ELEMENT = r"(?-i:[a-z][a-z0-9._]*-[a-z0-9._:-]*)"
_TAG_NAME = r"(?:" + "|".join(sorted(_ELEMENTS.split(), key=len, reverse=True)) + rf"|{_CUSTOM_ELEMENT})"
_TAG = re.compile(
    rf"<!--.*?-->|<!--.*\Z|</?{_TAG_NAME}(?![\w:-])(?:\s[^<>]*)?/?>|<!(?:doctype|DOCTYPE)[^<>]*>",
    re.S | re.I,
)
_HIDDEN = re.compile(r"<(script|style|noscript|template|svg|head|iframe|object)\b[^<>]*>", re.I)
_BLOCK_TAG = re.compile(
    r"</?(address|article|aside|blockquote|br|dd|div|dl|dt|figcaption|figure|footer|form|h[1-6]|header"
    r"|hr|li|main|nav|ol|p|pre|section|table|td|th|tr|ul)\b[^<>]*>",
    re.I,
)
# Markup a text holds, unlike newswire brackets: a closing tag, a tag with an attribute value, a
# self-closing tag, a bare <br>/<hr>/<wbr> (void, meaningful alone), a tag inside a word ("USS<i>John":
# prose sets bracketed names off with spaces), a comment or a doctype.
_MARKUP = re.compile(
    rf"</{_TAG_NAME}\s*>|<{_TAG_NAME}\s[^<>]*=|<{_TAG_NAME}(?:\s[^<>]*)?/>|<(?:br|hr|wbr)\s*>"
    rf"|(?<=[^\W_])<{_TAG_NAME}>(?=[^\W_])|<!--|<!doctype\s",
    re.I,
)
_HTML_DOCUMENT = re.compile(r"<(?:!doctype\s+html|html|head|body)\b", re.I)

# --- boilerplate lines ------------------------------------------------------------------------


def _one_of(phrases: str) -> str:
    """A regex alternation of space-separated phrases; "_" inside a phrase stands for spaces."""
    return "(?:" + "|".join(p.replace("_", r"\s+") for p in phrases.split()) + ")"


_RELATED_LABELS = """baca baca_juga read_more read_also also_read more_from see_also related related_articles
    related_stories related_news related_content berita_terkait berita_lainnya artikel_terkait
    artikel_lainnya simak simak_juga lihat lihat_juga tonton tonton_juga saksikan rekomendasi
    recommended"""
_RELATED = _one_of(_RELATED_LABELS)
_RELATED_PAIR = _one_of(" ".join(label for label in _RELATED_LABELS.split() if "_" in label))
_CREDIT = _one_of(
    """penulis editor redaktur penyunting reporter wartawan pewarta kontributor jurnalis fotografer
    videografer author writer written_by reported_by reporting_by edited_by editing_by
    photographer sumber source foto photo image gambar video credit kredit ilustrasi illustration
    dok dokumentasi"""
)
_AUTHOR = _one_of(
    """penulis reporter wartawan pewarta kontributor jurnalis author writer written_by reported_by
    reporting_by"""
)
_REPORTER = r"laporan\s+" + _one_of("wartawan reporter koresponden kontributor jurnalis")
# Lines that are nothing but one of these: adverts, paywall prompts, page navigation.
_FILLER = _one_of(
    """advertisement advertisements advertisment advert adverts ad ads iklan sponsored
    sponsored_content konten_bersponsor promoted scroll_to_continue scroll_to_continue_reading
    scroll_to_continue_with_content scroll_untuk_melanjutkan scroll_ke_bawah_untuk_melanjutkan
    gulir_untuk_melanjutkan gulir_ke_bawah_untuk_melanjutkan lanjutkan_membaca continue_reading
    continue_reading_below story_continues_below story_continues_below_advertisement
    article_continues_below article_continues_after_advertisement selengkapnya loading memuat
    kembali_ke_atas back_to_top ke_atas atas top next previous next_page previous_page selanjutnya
    sebelumnya berikutnya halaman_selanjutnya halaman_sebelumnya halaman_berikutnya komentar
    tulis_komentar comment comments leave_a_comment tag tags topik topic topics"""
)
_SHARE = _one_of(
    """share this article story post bagikan artikel berita ini on ke via facebook twitter x
    whatsapp wa telegram line linkedin email e-mail copy salin link tautan pinterest reddit print
    cetak tweet"""
)
_SHARE_SURE = _one_of("share bagikan facebook twitter whatsapp telegram linkedin tweet salin")
_FOLLOW = _one_of("ikuti follow subscribe langganan berlangganan sign_up daftar join gabung dapatkan get")
_CHANNEL = _one_of(
    """google_news instagram twitter facebook whatsapp telegram channel saluran newsletter youtube
    tiktok update_berita notifikasi"""
)
_DROP = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"{_RELATED}\s*[:：»>|]",  # "Baca juga: …", "Read more: …"
        r"(?:simak|lihat|tonton|saksikan)\s+(?:juga|pula|video|foto)\b",  # "Simak juga video …"
        r"baca\s+(?:berita\s+|artikel\s+)?selengkapnya\b",
        rf"{_CREDIT}\s*[:：]",  # "Penulis: …", "Editor: …", "Sumber: …", "Foto: …"
        rf"{_REPORTER}\b",  # "Laporan Wartawan Tribunnews.com Namira Yunia Lestanti"
        r"\((?:(?:additional\s+)?reporting|writing|editing)\s+by\b.*\)$",  # Reuters' tail
        r"\((?:foto|photo|dok\.?|ist\.?|istimewa|ilustrasi|net)\b[^()]*\)$",  # "(Foto: Antara)"
        r"\([^()\s/]{2,40}(?:/[^()/]{1,60})+\)$",  # "(Tribunnews.com/Namira)"
        r"\((?:\*|[a-z]{2,6}(?:/[a-z]{2,6})*)\)$",  # reporter initials: "(mg/dod)", "(*)"
        r"zoom[\s-]?in\b",  # Tribun's photo caption: "zoom-in <title>"
        r"(?:©|\(c\)\s*\d{4}|(?:copyright|hak\s+cipta)\s*(?:©|\(c\)|\d{4}|[:：]))",
        r"(?=.{0,200}$).*\ball\s+rights?\s+reserved\b",
        r"(?:halaman|page|hal\.?)\s*\d+(?:\s*(?:dari|of|/)\s*\d+)?$",  # "Halaman 2 dari 3"
        r"\d+(?:\s+\d+)+(?:\s*(?:selanjutnya|next|»|>))?$",  # "1 2 3 Selanjutnya"
        r"(?:tags?|topik|topics?|kata\s+kunci|keywords?|tag\s+terkait)\s*[:：]",
        rf"(?=.{{0,300}}$){_FOLLOW}\b.*\b{_CHANNEL}\b",  # "Ikuti kami di Google News"
    )
)
# Buttons and labels: lines of nothing but these words. Hard-wrapped text can leave one of them alone
# on a line ("… 53 cts a" / "share."): in lower case under a line that ends no sentence, it goes on
# that sentence and is kept.
_BUTTONS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"{_RELATED}\W*$",  # a lone "Baca Juga" over its link
        rf"{_FILLER}\W*$",
        rf"(?=.*\b{_SHARE_SURE}\b)(?:{_SHARE}\b[\s:|/·•,.-]*)+$",  # "Share this article: Facebook …"
    )
)
# A related-link label whose link text a scraper dropped, glued to the paragraph that follows:
# "Baca Juga :, Sebelum disepakati …" and "Baca juga, Kendati …" (a scraper that joined paragraphs
# with ", ") keep the paragraph and lose only the label. Without a colon only a two-word label
# counts: "Lihat, …" may open a sentence, "Baca juga, …" does not.
_EMPTY_LINK = re.compile(
    rf"^(?:\s*(?:{_RELATED}\s*[:：;]\s*[,;.]|{_RELATED_PAIR}\s*,))+\s*(?=\S)", re.IGNORECASE
)
# A wire agency's name alone on the last line signs the story off: "REUTER", "Reuter...", "ANTARA".
# With a full stop it ends a sentence instead ("… a spokesman told" / "Reuters."). "^M" is a CR
# spelled out, as in Reuters-21578.
_SIGN_OFF = re.compile(r"(?:reuters?|antara|afp|ap)(?:\.\.\.|…)?(?:\^M)?", re.IGNORECASE)
_AUTHOR_LABEL = re.compile(rf"{_AUTHOR}\s*[:：]\s*(?P<name>[^|•·;]+)", re.IGNORECASE)
_BYLINE = re.compile(  # "By Dana Whitfield", "Oleh: Budi Santoso | 28 November 2022"
    r"(?:[Bb]y|BY|[Oo]leh|OLEH)\s*:?\s+(?P<name>[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,4})"
    r"(?:\s*[|·•–—-].*|,\s*[A-Z].*)?$"
)
_REPORTED = re.compile(  # the name, and the outlet when it is a domain
    rf"{_REPORTER}\s+(?:(?P<site>[\w-]+(?:\.[a-z]{{2,}})+)\b,?\s*)?(?:[^,]*,\s*)?(?P<name>.+)$",
    re.IGNORECASE,
)
# A dateline opens the article body: "TRIBUNNEWS.COM, BEIJING - ", "JAKARTA, KOMPAS.com - ",
# "BEIJING, Nov 26 (Reuters) - ", "RIVERTON — ".
_DASH = r"\s*[-–—]\s+\S"
_DATELINES = (
    re.compile(rf"(?P<site>[A-Za-z][\w-]*(?:\.[A-Za-z]{{2,}})+)\s*,\s*[A-Z][\w .'/-]{{1,40}}?{_DASH}"),
    re.compile(rf"[A-Z][A-Z .'/-]{{1,40}},\s*(?P<site>[A-Za-z][\w-]*(?:\.[A-Za-z]{{2,}})+){_DASH}"),
    re.compile(rf"[A-Z][A-Z .'/-]{{1,40}}(?:,[^()]{{0,30}})?\s*\((?P<site>[A-Z][\w .&-]{{1,30}})\){_DASH}"),
    re.compile(rf"[A-Z][A-Z'/-]+(?:\s[A-Z][A-Z'/-]+){{0,3}}{_DASH}"),
)
_SECOND_LEVEL = frozenset({"ac", "co", "com", "go", "my", "net", "or", "org", "sch", "web"})
_HEADER_LIMIT = 15  # a dateline further down than this many lines is not one
_TERMINAL = ".!?\"'”’)…"
_WRAPPED_WIDTH = 30
_LIST_ITEM = re.compile(r"(?:\d{1,3}[.)]|[-*•·–])\s")
_TWO_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)* [^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters only
# Two words opening with these are a greeting or a date label ("Good morning", "Updated today").
_NOT_A_HEADLINE = re.compile(
    _one_of("dear hi hello hey halo hai good selamat yth updated posted published diperbarui") + r"\b",
    re.IGNORECASE,
)

# --- explicit publication dates ---------------------------------------------------------------

_ZONES = {"wib": "+07:00", "wita": "+08:00", "wit": "+09:00", "gmt": "+00:00", "utc": "+00:00", "z": "+00:00"}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY = _one_of(
    """senin selasa rabu kamis jumat jum'at sabtu minggu ahad monday tuesday wednesday thursday
    friday saturday sunday mon tue tues wed thu thur thurs fri sat sun"""
)
_DATE_LINE = re.compile(
    rf"""
    (?:(?P<label>published|posted|diterbitkan|dipublikasikan|diposting|terbit|tayang|dibuat|
        (?:last\s+)?updated|diperbarui|update)(?:\s+(?:on|pada))?\s*[:：]?\s*)?
    (?:[\w-]+(?:\.[a-z]{{2,}})+\s*[-–—|]\s*)?
    (?:{_WEEKDAY}\.?\s*,?\s*)?
    (?:
        (?P<d1>\d{{1,2}})\s+(?P<m1>{_MONTH})\.?\s+(?P<y1>\d{{4}})
      | (?P<m2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}}),?\s+(?P<y2>\d{{4}})
      | (?P<y3>\d{{4}})-(?P<m3>\d{{2}})-(?P<d3>\d{{2}})
      | (?P<d4>\d{{1,2}})/(?P<m4>\d{{1,2}})/(?P<y4>\d{{4}})
    )
    (?:(?:\s*[,|·-]\s*|\s+|T)(?:pukul\s+|pkl\.?\s+|jam\s+|at\s+)?
        (?P<hh>\d{{1,2}})[:.](?P<mm>\d{{2}})(?::(?P<ss>\d{{2}}))?(?:\.\d+)?
        \s*(?P<ampm>[ap]\.?m\.?)?
        \s*(?P<tz>wib|wita|wit|gmt|utc|z|[+-]\d{{2}}:?\d{{2}})?
    )?
    [\s.]*
    """,
    re.I | re.X,
)


@dataclass(frozen=True, slots=True)
class _Found:
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    published: str | None = None


# --- public API -------------------------------------------------------------------------------


def clean_text(
    raw: str,
    *,
    url: str | None = None,
    archive: bool = False,
    markdown: bool = False,
    title: str | None = None,
) -> CleanedArticle:
    """Clean pasted text, a .txt or a .md file; text holding HTML markup is treated as HTML.

    Markdown needs no flag: front matter (title, date, author, source, url ...) becomes metadata,
    a heading on the first line the title, other headings are dropped, and unambiguous markup
    (emphasis, links, bullets, quotes) is removed everywhere. ``markdown=True`` (a .md file, a
    text/markdown page) also reads what plain text may mean otherwise: numbered list items,
    "---" heading underlines, backslash escapes; a front matter or a first-line heading implies it.
    ``url``, when given, wins over a url in the front matter, and ``title`` (the user's) over any
    title found: no line is then taken for one, and a line repeating it is dropped. Markup is a
    closing tag, a tag with an attribute value, ``<br>`` or a comment: without any, angle brackets
    are text ("<Rolls-Royce Plc>").

    ``archive=True`` is for a JSONL archive's text: already an article body, its title given
    separately, an article by declaration. Only line-level boilerplate ("Baca juga: …") is
    dropped: no front matter, title, teaser or header guessing, and a one-sentence passage is kept.
    """
    if not raw.strip():
        raise ArticleRejected("empty", "the text is empty")
    if looks_binary(raw):
        raise ArticleRejected("binary", "this looks like binary data, not text")
    found, given_url = _Found(), None
    if not archive and (front := _front_matter(raw)) is not None:
        found, given_url, raw = front
        markdown = True
    if _tidy(title):
        found = replace(found, title=_tidy(title))
    url = url or given_url
    text = _normalize(raw)
    markup = _MARKUP.search(text) is not None
    if markup:
        if _HTML_DOCUMENT.search(text):
            try:
                article = clean_html(text, url=url)
            except ArticleRejected as exc:
                if exc.reason != "not_article":
                    raise
            else:
                return _with_found(article, found)
        text = _normalize(_html_to_text(text))
    first_line = text.partition("\n")[0]
    markdown = markdown or (not archive and is_heading(first_line))
    lines, headings = markdown_lines(text, full=markdown, continues=_continues)
    if archive and not markdown:  # "## Kronologi" in an archive's body: its words are kept
        headings = frozenset()
    body, found = _clean_lines(
        lines, found, paragraphs_per_line=False, header=not archive, headings=headings, markup=markup
    )
    return _finish(body, found, url, strict=not archive)


def clean_html(html: str, *, url: str | None = None, title: str | None = None) -> CleanedArticle:
    """Extract the main text and metadata of an HTML page (already fetched) with trafilatura;
    ``title`` (the user's) wins over the page's."""
    if looks_binary(html):
        raise ArticleRejected("binary", "this looks like binary data, not a web page")
    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            with_metadata=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception:  # lxml and trafilatura raise assorted errors on malformed markup
        doc = None
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise ArticleRejected("not_article", "no article text found on this page")
    found = _Found(
        title=_tidy(title) or _tidy(getattr(doc, "title", None)),
        outlet=_tidy(getattr(doc, "sitename", None)),
        author=_tidy(getattr(doc, "author", None)),
        published=_tidy(getattr(doc, "date", None)),
    )
    text = _normalize(text)
    body, found = _clean_lines(
        text.split("\n"), found, paragraphs_per_line=True, markup=_MARKUP.search(text) is not None
    )
    if not body:
        raise ArticleRejected("not_article", "no article text found on this page, only page furniture")
    return _finish(body, found, url)


def typed_title(text: str) -> tuple[str | None, str]:
    """(title, the text under it) when the first line of text typed or pasted into a chat reads as
    a headline (``_is_headline``: a few words, no final period) over a body it does not run into;
    else (None, text), and ``clean_text`` finds the title as it does in a file.

    In a chat the writer typed the line breaks, so a long first line is never a hard-wrapped one
    (which ``clean_text`` must assume of a file, and would run "Flood warning for the capital"
    into the body's first sentence). Front matter and a Markdown heading are left to
    ``clean_text``; two words alone above the body are taken there too."""
    first, _, rest = text.strip().partition("\n")
    first = _SPACES.sub(" ", first).strip()
    second = rest.strip().partition("\n")[0].strip()
    if not first or not second or is_heading(first) or may_open_front_matter(text):
        return None, text
    if _is_headline(first) and _opens_body(second) and not _continues(first, second, typed=True):
        return first, rest
    return None, text


# --- the pipeline -----------------------------------------------------------------------------


def _front_matter(raw: str) -> tuple[_Found, str | None, str] | None:
    """(metadata, url, the text after the block) if ``raw`` opens with a front-matter block.

    Dates are parsed like any date line; a block that is not front matter leaves the text as it was.
    """
    if not may_open_front_matter(raw):
        return None
    front = read_front_matter(_LINE_ENDS.sub("\n", raw))
    if front is None:
        return None
    titles = [strip_inline(_TAG.sub("", v) if _MARKUP.search(v) else v, full=True) for v in front.titles]
    stamps = [stamp for v in front.dates if (stamp := _parse_date_line(v)) and not stamp[1]]
    found = _Found(
        title=_tidy(next(iter(titles), None)),
        outlet=_tidy(next(iter(front.outlets), None)),
        author=_tidy(", ".join(dict.fromkeys(front.authors))),
        published=stamps[0][0] if stamps else None,
    )
    return found, next(iter(front.urls), None), front.body


def _with_found(article: CleanedArticle, found: _Found) -> CleanedArticle:
    """``article`` with the metadata of a front matter in place of what the page said."""
    meta = article.meta
    return replace(
        article,
        meta=replace(
            meta,
            title=found.title or meta.title,
            outlet=found.outlet or meta.outlet,
            author=found.author or meta.author,
            published=found.published or meta.published,
        ),
    )


def _finish(paragraphs: list[str], found: _Found, url: str | None, *, strict: bool = True) -> CleanedArticle:
    text = "\n\n".join(paragraphs)
    if not text:
        raise ArticleRejected("empty", "nothing is left after removing page boilerplate")
    letters = sum(ch.isalpha() for ch in text)
    # every paragraph holds a sentence at least; a lone one is split, as far as the count needs
    sentences = len(paragraphs) if len(paragraphs) > 1 else len(split_sentences(text[:5_000], "en"))
    if strict and (letters < MIN_LETTERS or sentences < MIN_SENTENCES):
        raise ArticleRejected("not_article", "too short to be an article (a few sentences at least)")
    outlet = found.outlet or (_site_name(_host(url)) if _host(url) else None)
    meta = ArticleMeta(found.title, outlet, found.author, found.published, url)
    return CleanedArticle(text, meta)


def _clean_lines(
    lines: list[str],
    found: _Found,
    *,
    paragraphs_per_line: bool,
    header: bool = True,
    headings: frozenset[int] = frozenset(),
    markup: bool = False,
) -> tuple[list[str], _Found]:
    """Drop boilerplate lines, find title/outlet/author/date; return the body paragraphs.

    ``header=False`` skips what only a whole page has: outlet line, headline, teaser, dateline.
    ``headings`` (line numbers) are never body: the first line, if it is one, is the title.
    ``markup``: the text holds HTML markup, so tags left in a line are removed.
    """
    lines = [_EMPTY_LINK.sub("", line) for line in lines]
    lines = [_SPACES.sub(" ", _TAG.sub("", line) if markup else line).strip() for line in lines]
    keep: list[int] = []
    after_caption = False
    for i, line in enumerate(lines):
        if not line:
            continue
        if after_caption and _is_short_label(line):  # photo credit under "zoom-in": "KCNA"
            after_caption = False
            continue
        after_caption = False
        goes_on = (
            not paragraphs_per_line
            and bool(keep)
            and keep[-1] == i - 1
            and line[0].islower()
            and _continues(lines[i - 1], line)
        )
        dropped, found = _boilerplate(line, found, buttons=not goes_on)
        if dropped:
            after_caption = line.lower().startswith("zoom")
        else:
            keep.append(i)
    if keep and _SIGN_OFF.fullmatch(lines[keep[-1]]):  # "REUTER" under the last sentence or table
        keep.pop()

    if headings:
        if header and found.title is None and keep and keep[0] in headings:
            found = replace(found, title=lines[keep[0]])
        keep = [i for i in keep if i not in headings]
    if not header:
        return _paragraphs(lines, keep, paragraphs_per_line), found

    # outlet line ("Tribun") and headline at the top; the outlet is better named by a dateline
    top_label = None
    if len(keep) >= 3 and _is_short_label(lines[keep[0]]) and _is_headline(lines[keep[1]]):
        top_label = lines[keep.pop(0)]
    if found.title is None and len(keep) >= 2:
        first, second = lines[keep[0]], lines[keep[1]]
        alone = keep[1] != keep[0] + 1  # a blank or dropped line follows: a paragraph of its own
        if (_is_headline(first) and (paragraphs_per_line or alone or not _continues(first, second))) or (
            alone and not paragraphs_per_line and _is_short_headline(first) and _opens_body(second)
        ):
            found = replace(found, title=lines[keep.pop(0)])

    # everything above a dateline is header: title, teaser, photo caption and credits
    for n, i in enumerate(keep[:_HEADER_LIMIT]):
        site = _dateline(lines[i])
        if site is not None:
            if site and found.outlet is None:
                found = replace(found, outlet=_site_name(site))
            keep = keep[n:]
            break

    # a teaser repeating a later sentence, a repeated title
    later = " ".join(_fold(lines[i]) for i in keep)
    title = _fold(found.title or "")
    keep = [
        i
        for n, i in enumerate(keep)
        if not (n < 3 and _is_teaser(_fold(lines[i]), later)) and not (title and _fold(lines[i]) == title)
    ]
    # trailing fragments ("Atas", "Tags") after the last sentence
    while keep and _is_short_label(lines[keep[-1]]):
        keep.pop()
    if found.outlet is None and top_label is not None:
        found = replace(found, outlet=top_label)
    return _paragraphs(lines, keep, paragraphs_per_line), found


def _paragraphs(lines: list[str], keep: list[int], paragraphs_per_line: bool) -> list[str]:
    """Join kept lines into paragraphs: a hard-wrapped line continues the one before it."""
    paragraphs: list[str] = []
    previous = -2
    for i in keep:
        line = lines[i]
        if not paragraphs_per_line and i == previous + 1 and _continues(paragraphs[-1], line):
            paragraphs[-1] = f"{paragraphs[-1]} {line}"
        else:
            paragraphs.append(line)
        previous = i
    return paragraphs


def _boilerplate(line: str, found: _Found, *, buttons: bool = True) -> tuple[bool, _Found]:
    """Is ``line`` boilerplate? Metadata it carries (author, outlet, date) goes into ``found``.

    ``buttons=False``: ``line`` goes on the sentence above it, so a lone "share." is a word of it.
    """
    if (stamp := _parse_date_line(line)) is not None:
        return True, _with_date(found, stamp)
    if any(pattern.match(line) for pattern in _DROP) or (buttons and any(p.match(line) for p in _BUTTONS)):
        if match := _AUTHOR_LABEL.match(line):
            found = _with_author(found, match["name"])
        elif (match := _REPORTED.match(line)) and (match["site"] or "," in line):
            found = _with_author(found, match["name"])
            if match["site"] and found.outlet is None:
                found = replace(found, outlet=_site_name(match["site"]))
    elif len(line.split()) <= 10 and line[-1] not in ".!?" and (match := _BYLINE.match(line)):
        found = _with_author(found, match["name"])
    else:
        return False, found
    for part in re.split(r"\s[|·•]\s", line)[1:]:  # "Penulis: A | Diterbitkan: 28 Nov 2022"
        if (stamp := _parse_date_line(part)) is not None:
            found = _with_date(found, stamp)
    return True, found


def _with_date(found: _Found, stamp: tuple[str, bool]) -> _Found:
    iso, updated = stamp
    if found.published is not None or updated:
        return found
    return replace(found, published=iso)


def _with_author(found: _Found, name: str) -> _Found:
    name = name.strip(" ,.-–—")
    if found.author is not None or not name:
        return found
    return replace(found, author=name)


def _dateline(line: str) -> str | None:
    """The site named by a dateline ("" if it names none), or None if ``line`` has none."""
    for pattern in _DATELINES:
        if match := pattern.match(line):
            return match.groupdict().get("site") or ""
    return None


def _parse_date_line(line: str) -> tuple[str, bool] | None:
    """(ISO date, is-an-update) if the whole line is an explicit date stamp."""
    match = _DATE_LINE.fullmatch(line)
    if match is None:
        return None
    g = match.groupdict()
    try:
        if g["y1"]:
            day = date(int(g["y1"]), _MONTHS[g["m1"].lower()], int(g["d1"]))
        elif g["y2"]:
            day = date(int(g["y2"]), _MONTHS[g["m2"].lower()], int(g["d2"]))
        elif g["y3"]:
            day = date(int(g["y3"]), int(g["m3"]), int(g["d3"]))
        else:
            d, m = int(g["d4"]), int(g["m4"])
            day = date(int(g["y4"]), *((d, m) if m > 12 else (m, d)))
        if g["hh"] is None:
            iso = day.isoformat()
        else:
            hour = int(g["hh"])
            if g["ampm"]:
                hour = hour % 12 + (12 if g["ampm"].lower().startswith("p") else 0)
            moment = datetime(day.year, day.month, day.day, hour, int(g["mm"]), int(g["ss"] or 0))
            iso = moment.isoformat() + _zone(g["tz"])
    except ValueError:
        return None
    label = (g["label"] or "").lower()
    return iso, "update" in label or "diperbarui" in label


def _zone(tz: str | None) -> str:
    if not tz:
        return ""
    if tz.lower() in _ZONES:
        return _ZONES[tz.lower()]
    digits = tz.replace(":", "")
    return f"{digits[:3]}:{digits[3:]}"


# --- small predicates -------------------------------------------------------------------------


def _is_short_label(line: str) -> bool:
    """A word or three with no sentence punctuation: an outlet name, photo credit or nav link."""
    return len(line) <= 30 and len(line.split()) <= 3 and line[-1] not in _TERMINAL + ",:;"


def _is_headline(line: str) -> bool:
    words = len(line.split())
    return 3 <= words <= 30 and len(line) <= 250 and line[-1] not in ".,;:" and not _dateline(line)


def _is_short_headline(line: str) -> bool:
    """Two plain words that could be a headline ("Inflation report", "Surat pembaca"), taken as one
    only when they stand alone above the body. One word is more often an outlet, section or place,
    and so is a line in capitals ("BANDA ACEH") or with both words capitalized (a name: "Jakarta
    Post", "Jane Doe", "Breaking News"); punctuation or digits make a label ("Kompas.com", "Note:",
    "Updated 2h"), and a greeting is no headline ("Dear readers", "Good morning")."""
    if len(line) > 50 or not _TWO_WORDS.fullmatch(line) or _NOT_A_HEADLINE.match(line):
        return False
    first, second = line.split()
    return not (first[0].isupper() and second[0].isupper())


def _opens_body(line: str) -> bool:
    """Can ``line`` be the first paragraph under a short headline? Not another label, and not a
    dateline, above which everything is header anyway (an outlet's name as often as a headline)."""
    return not _is_short_label(line) and _dateline(line) is None


def _is_teaser(folded: str, later: str) -> bool:
    core = folded.rstrip(_TERMINAL + " ")
    return len(core) >= 30 and later.count(core) >= 2  # itself plus the repeat


def _continues(previous: str, line: str, *, typed: bool = False) -> bool:
    """Is ``line`` the hard-wrapped continuation of ``previous``? (``typed``: the line breaks
    were typed, as in a chat, so a long line is not taken for a wrapped one.)"""
    if previous[-1] in _TERMINAL + ":;":
        return False
    # A long line cut mid-sentence (newswire text wrapped at ~70 columns) goes on, whatever
    # the next line starts with: "Midland Bank Plc <MDBL.L> said its" / "<Midland Montagu> …".
    wrapped = (
        not typed
        and len(previous) >= _WRAPPED_WIDTH
        and previous[-1].isalnum()
        and not _LIST_ITEM.match(line)
    )
    return wrapped or line[0].islower() or line[0].isdigit() or previous[-1] in ",-–("


def _fold(line: str) -> str:
    return " ".join(line.casefold().split())


def _tidy(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else ""
    return value or None


def _site_name(site: str) -> str:
    """'TRIBUNNEWS.COM' -> 'Tribunnews', 'nasional.kompas.com' -> 'Kompas', 'Reuters' stays."""
    labels = [label for label in site.strip().split(".") if label] or [site]
    if len(labels) >= 2:
        labels.pop()  # the top-level domain
    if len(labels) >= 2 and labels[-1].lower() in _SECOND_LEVEL:  # "kompas.co.id"
        labels.pop()
    name = labels[-1]
    return name.capitalize() if name.isupper() or name.islower() else name


def _host(url: str | None) -> str:
    match = re.match(r"^[a-z][a-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)", url or "", re.I)
    host = match[1] if match else ""
    return host[4:] if host.lower().startswith("www.") else host


def _normalize(raw: str) -> str:
    """NFC, one kind of line break, one space between words, at most one blank line."""
    text = unicodedata.normalize("NFC", raw)
    text = _LINE_ENDS.sub("\n", text).replace("\u2029", "\n\n")
    text = _CONTROL.sub("", _INVISIBLE.sub("", text.replace("\t", " ")))
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _html_to_text(fragment: str) -> str:
    """Text of an HTML fragment, block elements on lines of their own; no tags survive.

    Regexes rather than html.parser, whose scanning is quadratic on unclosed comments and
    attribute quotes (minutes for 200 KB of "<a b='"); full pages go through trafilatura anyway.
    """
    text = _COMMENT.sub("", fragment)
    kept, position = [], 0
    while opening := _HIDDEN.search(text, position):
        kept.append(text[position : opening.start()])
        position = opening.end()
        if opening[0].endswith("/>"):
            continue
        closing = re.compile(rf"</{opening[1]}\s*>", re.IGNORECASE).search(text, position)
        position = closing.end() if closing else len(text)  # unclosed <script>: the rest is script
    kept.append(text[position:])
    text = _BLOCK_TAG.sub(lambda m: "\n" if m[1].lower() == "br" else "\n\n", "".join(kept))
    return _TAG.sub("", html.unescape(_TAG.sub("", text)))
