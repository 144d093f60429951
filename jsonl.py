"""The JSONL files newsbot reads from outside, line by line: an archive to import
(``parse_import_line``) and labelled questions to evaluate or tune on (``labelled_questions``);
``ask --questions`` reads its lines with the same helpers (``cli.py``). Splitting into lines,
decoding each line's JSON and checking that its strings are text happen here once, with the same
messages for every file."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.errors import ArticleRejected, NewsbotError
from retrieval.prepare import canonical_url, external_id, lone_surrogate, normalize_language
from retrieval.types import ArticleMeta

LABELLED_HELP = 'JSONL of {"id", "question", "article_id"} (the gold article\'s ref), optionally "answers"'


def jsonl_lines(path: Path) -> list[str]:
    """The lines of a JSONL file, split on newlines only: ``str.splitlines`` would also split on
    U+2028, U+0085 and other characters that JSON allows raw inside strings (real news has them).
    A UTF-8 byte order mark (Windows editors write one) is not part of line 1."""
    text = path.read_text(encoding="utf-8-sig")
    return text.removesuffix("\n").split("\n") if text else []


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"not JSON ({name} is not a JSON number)")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJson(f"not JSON (the number {text[:20]} is too large)")
    return value


def load_json_line(line: str) -> Any:
    """``json.loads`` for one line of a file from outside: every way it fails is a ValueError
    saying why in a few words, fit for "line 7: ..." (``not JSON (Expecting value)``). Besides
    syntax: a number of more than 4,300 digits (Python's limit for ``int``), nesting deeper than
    the recursion limit, and NaN, Infinity or 1e999, which are not JSON (nor could they be
    written back as JSON)."""
    try:
        return json.loads(line, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    except _NotJson:
        raise
    except RecursionError:
        raise ValueError("JSON newsbot cannot read (nested too deeply)") from None
    except ValueError:  # int() of a long digit string
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"JSON newsbot cannot read (a number of more than {limit:,} digits)") from None


def not_text(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """Why one of these fields of a line's object (a string, or a list of strings) is not text,
    or None: a lone surrogate (JSON's ``"\\ud800"``) can be neither stored, printed nor tokenized."""
    for key in keys:
        value = record.get(key)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (surrogate := lone_surrogate(text)):
                return f'"{key}" holds a lone surrogate ({surrogate}), which is not text'
    return None


# -- an archive to import ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One JSONL line: ``{"id","title","text"}`` plus optional lang, source, url, published, author."""

    ref: str
    text: str
    meta: ArticleMeta
    lang: str | None  # an ISO 639-1 code, None to detect it from the text
    source: str | None


def parse_import_line(line: str, number: int) -> ImportRecord | None:
    """Parse one JSONL line; blank lines are skipped, malformed ones rejected with the line number.

    The id must be a non-blank string (surrounding spaces are dropped, NFC-normalized, with no
    control, bidi or invisible characters: see ``external_id``) or an integer. ``title``,
    ``source``/``outlet``, ``author`` and ``published`` are text on one line (an integer, e.g. a
    year, is written out; a list of strings, e.g. several authors, is joined with ", "); any
    other value refuses the line rather than storing "{'x': 1}" or "nan". ``lang`` is
    normalized (``English``, ``en-US`` -> ``en``; ``Bahasa Indonesia``, ``ind`` -> ``id``; see
    ``normalize_language``); an unknown language (``xx``, ``und``) is detected from the text, as
    when none is given: the article is still worth keeping, and its language is what it is."""
    if not line.strip():
        return None
    try:
        obj = load_json_line(line)
    except ValueError as exc:
        raise ArticleRejected("bad_input", f"line {number}: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or obj.get("id") in (None, ""):
        raise ArticleRejected("bad_input", f'line {number}: needs at least "id" and "text"')
    if problem := not_text(obj, ("id", "text", *_META_KEYS)):
        raise ArticleRejected("bad_input", f"line {number}: {problem}")
    try:
        ref = external_id(obj["id"])
    except ValueError as exc:
        raise ArticleRejected("bad_input", f'line {number}: "id" {exc}') from None
    if ref is None and isinstance(obj["id"], str):
        raise ArticleRejected("bad_input", f'line {number}: "id" is blank')
    if ref is None:
        shown = _shown_json(obj["id"])
        raise ArticleRejected("bad_input", f'line {number}: "id" must be a string or an integer, not {shown}')

    def opt(key: str) -> str | None:
        value = obj.get(key)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ", ".join(item.strip() for item in value if item.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif value is not None and not isinstance(value, str):
            shown = _shown_json(value)
            raise ArticleRejected("bad_input", f'line {number}: "{key}" must be text, not {shown}')
        return _CONTROLS.sub("", " ".join(value.split())) or None if value is not None else None

    meta = ArticleMeta(
        title=opt("title"),
        outlet=opt("source") or opt("outlet"),
        author=opt("author"),
        published=opt("published"),
        # In its stored form already, so cleaning reads the host the stored link will have.
        url=canonical_url(url) if (url := opt("url")) else None,
    )
    return ImportRecord(ref, obj["text"], meta, normalize_language(obj.get("lang")), opt("source"))


@dataclass(frozen=True, slots=True)
class Shard:
    """Part ``number`` of ``parts`` of an archive (``import --shard 2/3``): every ``parts``-th line
    from line ``number``. N importers given 1/N ... N/N, on one machine or N, embed disjoint
    lines into one shared library; together they hold every line."""

    number: int
    parts: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` with 1 <= I <= N, or ``ValueError`` saying what is expected."""
        number, slash, parts = text.strip().partition("/")
        if not (slash and number.isdigit() and parts.isdigit() and 1 <= int(number) <= int(parts)):
            raise ValueError(f"expected I/N with 1 <= I <= N (e.g. 1/4), got {text!r}")
        return cls(int(number), int(parts))

    def holds(self, line: int) -> bool:
        """Whether line ``line`` (numbered from 1) is this shard's."""
        return (line - 1) % self.parts == self.number - 1


def _shown_json(value: object) -> str:
    """A JSON value as a message shows it, in at most 40 characters."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        shown = "[[[..." if isinstance(value, list) else "{...}"
    return shown if len(shown) <= 40 else shown[:39] + "…"


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")  # what whitespace splitting leaves of them
_META_KEYS = ("title", "source", "outlet", "author", "published", "url")


# -- labelled questions ---------------------------------------------------------------------


def labelled_questions(path: Path) -> list[dict[str, object]]:
    """The labelled questions of ``path`` (``eval``/``tune`` input, a file the caller checked is
    a readable UTF-8 file), refusing with ``NewsbotError`` the first line that is not one."""
    records = []
    seen: dict[str, int] = {}  # id -> line
    for number, line in enumerate(jsonl_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = load_json_line(line)
        except ValueError as error:
            raise NewsbotError(f"{path}, line {number}: {error}") from None
        if isinstance(record, dict) and (problem := not_text(record, tuple(record))):
            raise NewsbotError(f"{path}, line {number}: {problem}")
        refs = []
        for key in ("id", "article_id") if isinstance(record, dict) else ():
            try:
                refs.append(external_id(record.get(key)))
            except ValueError as error:
                raise NewsbotError(f'{path}, line {number}: "{key}" {error}') from None
        if not (
            isinstance(record, dict)
            and None not in refs
            and isinstance(record.get("question"), str)
            and record["question"].strip()
        ):
            raise NewsbotError(f"{path}, line {number}: needs {LABELLED_HELP.removeprefix('JSONL of ')}")
        record["id"], record["article_id"] = refs  # as refs are stored: stripped, NFC
        if str(record["id"]) in seen:
            raise NewsbotError(
                f"{path}, line {number}: id {record['id']!r} is also line {seen[str(record['id'])]}"
            )
        seen[str(record["id"])] = number
        records.append(record)
    if not records:
        raise NewsbotError(f"{path} holds no questions")
    return records
