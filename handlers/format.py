"""Answers as Telegram HTML, split under the 4,096-character limit.

Telegram counts the limit on the text *after* HTML parsing, in UTF-16 code units. So we build
each message from plain-text pieces, measure the plain text, and escape each piece only when
it is placed: every piece of article text goes through ``html.escape``, nothing else does.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from handlers.messages import Lang, abstention, caveat, say, untitled
from retrieval.citations import also_in_names, number_sources
from retrieval.types import Answer, ArticleInfo

TELEGRAM_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of plain text and how to wrap it once escaped (``{}`` is the escaped text)."""

    text: str
    wrap: str = "{}"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render(pieces: list[Piece], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pack pieces into as few messages as fit, splitting an oversized piece at spaces."""
    messages: list[str] = []
    current_html: list[str] = []
    current_len = 0
    for piece in _fit(pieces, limit):
        length = utf16_len(piece.text)
        if current_html and current_len + length > limit:
            messages.append("".join(current_html).strip())
            current_html, current_len = [], 0
        current_html.append(piece.wrap.format(html.escape(piece.text, quote=False)))
        current_len += length
    if current_html:
        messages.append("".join(current_html).strip())
    return [m for m in messages if m]


def _fit(pieces: list[Piece], limit: int) -> list[Piece]:
    out = []
    for piece in pieces:
        text = piece.text
        while utf16_len(text) > limit:
            cut = _cut_point(text, limit)
            out.append(Piece(text[:cut], piece.wrap))
            text = text[cut:]
        out.append(Piece(text, piece.wrap))
    return out


def _cut_point(text: str, limit: int) -> int:
    # Largest prefix within the limit (UTF-16 aware), preferring to end at whitespace.
    end = 0
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        end = i + 1
    space = text.rfind(" ", 0, end)
    return space + 1 if space > end // 2 else end


def source_line(info: ArticleInfo, lang: Lang = "en") -> list[Piece]:
    """Title (linked when a URL is known), outlet, author, date and the article's ref."""
    title = untitled(lang, info.title)
    linked = info.url is not None and re.match(r"https?://", info.url) is not None
    wrap = f'<a href="{html.escape(info.url)}">{{}}</a>' if linked and info.url else "<b>{}</b>"
    pieces = [Piece(title, wrap)]
    details = [d for d in (info.outlet, info.author, (info.published or "")[:10]) if d]
    if details:
        pieces.append(Piece(" — " + ", ".join(details)))
    # A ref made of command characters becomes a tappable /article_REF command.
    shown = f"/article_{info.ref}" if re.fullmatch(r"\w{1,50}", info.ref, re.ASCII) else f"ref {info.ref}"
    pieces.append(Piece(f" · {shown}", "<i>{}</i>"))
    return pieces


def answer_pieces(answer: Answer, lang: Lang = "en") -> list[Piece]:
    """Numbered quotes, then the numbered sources; or why nothing is quoted."""
    if answer.abstained:
        return [Piece(say(lang, "cant_answer", reason=abstention(lang, answer)))]
    pieces: list[Piece] = []
    if (note := caveat(lang, answer)) is not None:
        pieces += [Piece(note, "<i>{}</i>"), Piece("\n")]
    numbered = number_sources(answer.citations)
    for citation, number in zip(answer.citations, numbered.numbers, strict=True):
        # A line break between quotes keeps Telegram from drawing them as one block.
        pieces += [Piece(f"“{citation.text}” [{number}]", "<blockquote>{}</blockquote>"), Piece("\n")]
    pieces.append(Piece("\n"))
    for (number, info), copies in zip(numbered.sources, numbered.also_in, strict=True):
        pieces += [Piece(f"[{number}] "), *source_line(info, lang), Piece("\n")]
        if copies:
            pieces += [
                Piece("    " + say(lang, "also_in", names=also_in_names(copies)), "<i>{}</i>"),
                Piece("\n"),
            ]
    return pieces
