"""Reading JSONL files from outside (an archive to import, questions to ask or evaluate): their
lines, each line's JSON, and whether its strings are text, with the same messages everywhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from retrieval.prepare import lone_surrogate


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
