"""Read Markdown: front-matter blocks, headings, and the markup to strip from the lines kept.

Only syntax lives here: which lines are headings, what a front matter says under which key, the
text without its markup. What counts as an article's title, date or boilerplate is decided by
``retrieval.cleaning``, which calls this module.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import yaml

# A front-matter block opens the file: YAML between "---" lines (or "---" and "..."), TOML
# between "+++" lines. Only the start of the text is searched.
_FRONT_MATTER = re.compile(r"\A\s*(---|\+\+\+)[ \t]*\n(?:(.*?)\n)?(?:\1|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_MATTER_OPENS = re.compile(r"[\s\ufeff]*(?:---|\+\+\+)")
_FRONT_MATTER_CHARS = 10_000
_FRONT_MATTER_KEY = re.compile(r"[A-Za-z_][\w.-]{0,63}")
# Keys (lower case, "-" read as "_") for each field, the preferred first.
_FRONT_MATTER_FIELDS = {
    field: tuple(keys.split())
    for field, keys in {
        "title": "title headline",
        "published": """published published_at publish_date publishdate published_date date_published
            datepublished pubdate pub_date date created created_at""",
        "author": "author authors byline by creator writer reporter",
        "outlet": "outlet source publisher publication site site_name sitename newspaper",
        "url": "url link canonical canonical_url canonicalurl permalink source_url original_url",
    }.items()
}
# A block is front matter only if it names one of these (or a field above): a rule, a line
# "Note: figures are provisional." and a rule at the top of plain text is not.
_FRONT_MATTER_KNOWN = frozenset(
    """tags tag categories category layout draft description summary subtitle excerpt lang language
    slug image keywords type id weight lastmod updated modified aliases series topics location""".split()
).union(*_FRONT_MATTER_FIELDS.values())
_HTTP_URL = re.compile(r"https?://[^\s/?#@]+[^\s]*", re.I)

# Block markup, matched against one whole (normalised) line.
_ATX_HEADING = re.compile(r"(#{1,6})(?: (.*))?")
_ATX_CLOSING = re.compile(r"(?:^| )#+$")
_RULE = re.compile(r"(?:[-*_] *){3,}|=+")
_SETEXT = re.compile(r"=+|-+")  # under a one-line paragraph (when the text is known Markdown)
_QUOTE_MARK = re.compile(r"(?:> ?)+")
_BULLET = re.compile(r"[-*+] (?=\S)")
_NUMBERED = re.compile(r"(\d{1,9})[.)] (?=\S)")
_LINK_DEFINITION = re.compile(r"\[[^\]\n]+\]: ?\S+.*")
# A backslash-escaped character is hidden from the markup patterns as a private-use character
# (U+E000 + its code), then put back: with its backslash in plain text, without it in Markdown.
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~<>\"'])")
_HIDDEN_CHAR = re.compile("[\ue000-\ue07f]")
_HARD_BREAK = re.compile(r"\\$")
# Inline markup. Inner parts exclude their own delimiters, which keeps every pattern linear in the
# line length; none matches a line break.
_LINKS = (
    (re.compile(r"!\[[^\[\]\n]*\]\([^()\s\[\]]*\)"), ""),  # images
    # links; the target may hold one level of parentheses (Wikipedia's "Foo_(bar)")
    (re.compile(r"\[([^\[\]\n]+)\]\((?:[^()\s\[\]]|\([^()\s\[\]]*\))*(?: +\"[^\"\n]*\")?\)"), r"\1"),
    (re.compile(r"\[([^\[\]\n]+)\]\[[^\[\]\n]*\]"), r"\1"),  # reference links
    (re.compile(r"<(https?://[^\s<>]+)>"), r"\1"),  # autolinks
)
# Emphasis, applied with bare URLs hidden. Underscores only in known Markdown: in plain text they
# are part of what is quoted ("_x000D_", "snake_case_name", "__init__").
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*")
_UNDERSCORE_BOLD = re.compile(r"(?<!\w)__(?=\S)([^_\n]+?)(?<=\S)__(?!\w)")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_UNDERSCORE_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_CODE = re.compile(r"(?<![\w`])`([^`\n]+)`(?![\w`])")
_EMPHASIS = {
    False: (_BOLD, _ITALIC, _CODE),
    True: (_BOLD, _UNDERSCORE_BOLD, _ITALIC, _UNDERSCORE_ITALIC, _CODE),
}
# A bare URL is never touched by emphasis ("https://example.com/_forum_/a*b*"); it is hidden as
# one private-use character meanwhile. Its last character is not "*" or "_", which may close an
# emphasis around it.
_BARE_URL = re.compile(r"(?:https?://|www\.)[^\s<>]*[^\s<>*_`]", re.I)
_URL_MARK = "\ue100"


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The values a front-matter block gives for each metadata field (the preferred key's first).

    Values are the strings as written: dates are not parsed and titles keep their markup, since
    what they mean is for the caller to decide.
    """

    titles: list[str]
    dates: list[str]
    authors: list[str]
    outlets: list[str]  # names only; an outlet given as a URL is among ``urls``
    urls: list[str]
    body: str  # the text after the block


def may_open_front_matter(raw: str) -> bool:
    """Cheap test on untouched text: can it open with a front-matter block at all?"""
    return _FRONT_MATTER_OPENS.match(raw) is not None


def read_front_matter(text: str) -> FrontMatter | None:
    """The front-matter block ``text`` opens with (its line breaks already all "\\n"), or None.

    YAML is read with PyYAML's BaseLoader: every value a string (no type guessing, no Python
    objects). A block that does not parse, is not a mapping of plain keys, or names no known key
    is not front matter.
    """
    text = text.lstrip("\ufeff")
    match = _FRONT_MATTER.match(text[:_FRONT_MATTER_CHARS])
    if match is None:
        return None
    try:
        if match[1] == "+++":
            data: Any = tomllib.loads(match[2] or "")
        else:
            data = yaml.load(match[2] or "", Loader=yaml.BaseLoader)  # BaseLoader: strings, lists, dicts only
    except (ValueError, RecursionError, yaml.YAMLError):  # TOMLDecodeError is a ValueError
        return None
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and _FRONT_MATTER_KEY.fullmatch(key) for key in data
    ):
        return None
    fields: dict[str, list[str]] = {}
    for key, value in data.items():
        fields.setdefault(key.lower().replace("-", "_"), _front_matter_strings(value))
    if not fields.keys() & _FRONT_MATTER_KNOWN:
        return None

    def values(field: str) -> list[str]:
        return [v for key in _FRONT_MATTER_FIELDS[field] for v in fields.get(key, [])]

    return FrontMatter(
        titles=values("title"),
        dates=values("published"),
        authors=values("author"),
        outlets=[v for v in values("outlet") if not _HTTP_URL.fullmatch(v)],
        urls=[v for v in values("url") + values("outlet") if _HTTP_URL.fullmatch(v)],
        body=text[match.end() :],
    )


def _front_matter_strings(value: object) -> list[str]:
    """The text in a front-matter value: a string, a date, a list of them, or {name: ...}."""
    if isinstance(value, list):  # one level: nested lists (and alias bombs) are not metadata
        return [s for item in value if not isinstance(item, list) for s in _front_matter_strings(item)]
    if isinstance(value, dict):
        return _front_matter_strings(value.get("name")) if isinstance(value.get("name"), str) else []
    if isinstance(value, date | time):  # TOML dates (datetime is a date)
        return [value.isoformat()]
    return [" ".join(value.split())] if isinstance(value, str) and value.strip() else []


def is_heading(line: str) -> bool:
    """Is the (normalised) ``line`` an ATX heading ("# Title")? One on the first line marks Markdown."""
    return _ATX_HEADING.fullmatch(line) is not None


def markdown_lines(
    text: str, *, full: bool, continues: Callable[[str, str], bool]
) -> tuple[list[str], frozenset[int]]:
    """The lines of ``text`` without Markdown markup, and which of them are headings.

    A list item starts a paragraph of its own (an empty line goes before it), so items are never
    joined into one sentence. In plain text a "- " line inside a paragraph that is no list may be a
    hard-wrapped sentence going on ("the government\n- which has ..."): it is an item only if the
    line above does not continue into it (``continues(line_above, line)``, the caller's rule for
    hard-wrapped lines). ``full``: the text is known to be Markdown (see
    ``retrieval.cleaning.clean_text``); there a bullet always starts an item.
    """
    lines: list[str] = []
    headings: set[int] = set()
    last_item = last_blank = -2
    hide = _HIDDEN_CHAR.search(text) is None  # the text does not use those characters itself
    for line in text.split("\n"):
        if hide and "\\" in line:
            line = _ESCAPE.sub(lambda m: chr(0xE000 + ord(m[1])), line)
        line = _QUOTE_MARK.sub("", line, count=1) if line.startswith(">") else line
        if full:
            line = _HARD_BREAK.sub("", line).rstrip()
        opens = not lines or not lines[-1]  # the line starts a paragraph
        if lines and not lines[-1]:
            last_blank = len(lines) - 1
        if heading := _ATX_HEADING.fullmatch(line):
            if not opens:  # a paragraph of its own, never joined to a sentence (kept in archives)
                lines.append("")
            lines.append(_ATX_CLOSING.sub("", heading[2] or "").strip())
            headings.add(len(lines) - 1)
            lines.append("")
            continue
        if (
            full
            and _SETEXT.fullmatch(line)
            and not opens
            and (len(lines) < 2 or not lines[-2])
            and last_item != len(lines) - 1
        ):
            headings.add(len(lines) - 1)  # "Title" over "=====" or "-----"
            lines.append("")
            continue
        if _RULE.fullmatch(line) or _LINK_DEFINITION.fullmatch(line):
            lines.append("")
            continue
        item = _BULLET.match(line)
        if full and item is None and (number := _NUMBERED.match(line)):
            # as in CommonMark, only "1." may interrupt a paragraph; "2024. The ..." continues it
            item = number if opens or last_item == len(lines) - 1 or number[1] == "1" else None
        if item is not None:
            if (
                opens
                or full
                or last_item > last_blank  # the paragraph is a list item: this is the next one
                or not continues(lines[-1], line[item.end() :])
            ):
                if not opens:
                    lines.append("")
                last_item = len(lines)
            line = line[item.end() :]  # otherwise joined, as a continuation, without its dash
        lines.append(line)
    text = strip_inline("\n".join(lines), full=full)  # no pattern crosses a line: the line numbers stay
    if hide:
        escape = "" if full else "\\"
        text = _HIDDEN_CHAR.sub(lambda m: escape + chr(ord(m[0]) - 0xE000), text)
    return text.split("\n"), frozenset(headings)


def strip_inline(text: str, *, full: bool) -> str:
    """``text`` without inline markup; ``full``: known Markdown, underscore emphasis too."""
    for pattern, replacement in _LINKS:
        text = pattern.sub(replacement, text)
    urls: list[str] = []
    if _URL_MARK not in text:
        urls = _BARE_URL.findall(text)
        text = _BARE_URL.sub(_URL_MARK, text)
    for pattern in _EMPHASIS[full]:
        text = pattern.sub(r"\1", text)
    if urls:  # emphasis removes delimiters only: the marks are still there, in order
        found = iter(urls)
        text = re.sub(_URL_MARK, lambda _match: next(found), text)
    return text
