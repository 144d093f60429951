"""The layering rules of STYLE.md's "The shape", checked on the source tree with ``ast`` (so a
docstring or message that mentions a module or a statement does not count):

- ``retrieval/`` is the pure core: it imports no telegram, aiosqlite, asyncio, sqlite3 or httpx;
- every SQL statement lives in ``index/``;
- ``handlers/`` stay thin: they reach storage through the library, never by importing ``index``;
- only ``index/`` imports ``sqlite3``: it raises the project's own errors (``index/errors.py``),
  so no caller reads SQLite's exceptions or codes.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import REPO

CORE_FORBIDDEN = frozenset({"telegram", "aiosqlite", "asyncio", "sqlite3", "httpx"})
# Not our source: the virtual environment, build output, hidden folders (.git, .ci, caches).
SKIPPED_DIRS = frozenset({".venv", "venv", "build", "dist", "node_modules", "__pycache__"})

# A string that starts like one of SQLite's statements, case-insensitive, after blanks or "(":
# SQL in code starts with its verb, prose rarely does. Prose that does ("Delete from the list …")
# is flagged too; reword it. The words that are also English ("Begin", "Commit") count only as
# the whole string. An f-string is read with each {field} as "?".
SQL = re.compile(
    r"""^[\s(]*(?:
        SELECT\s.+?\sFROM\s
      | WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\s*\(
      | (?:INSERT|REPLACE)\s+(?:OR\s+\w+\s+)?INTO\s
      | UPDATE\s+(?:OR\s+\w+\s+)?[\w".]+\s+SET\s
      | DELETE\s+FROM\s
      | (?:CREATE|DROP)\s+(?:TEMP(?:ORARY)?\s+|VIRTUAL\s+|UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\s
      | ALTER\s+TABLE\s
      | PRAGMA\s+\w
      | (?:ATTACH|DETACH)\s+DATABASE\s
      | (?:BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?|COMMIT|ROLLBACK|VACUUM
         |(?:SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK\s+TO(?:\s+SAVEPOINT)?)\s+\w+)\s*;?\s*$
    )""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)


def python_files(under: Path) -> list[Path]:
    return sorted(
        path
        for path in under.rglob("*.py")
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in path.relative_to(REPO).parts[:-1])
    )


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every absolute import, at any depth (also inside functions and
    ``if TYPE_CHECKING:``); relative imports stay inside their package and are skipped."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal except docstrings; an f-string as one text."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside_fstrings.add(id(value))
                text = value.value if isinstance(value, ast.Constant) else None
                parts.append(text if isinstance(text, str) else "?")
            yield node.lineno, "".join(parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in inside_fstrings
        ):
            yield node.lineno, node.value


def looks_like_sql(text: str) -> bool:
    return SQL.match(text) is not None


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


def test_the_core_imports_no_io_or_telegram() -> None:
    files = python_files(REPO / "retrieval")
    assert files, "retrieval/ has no Python files: is REPO right?"
    found = [
        f"{where(path, line)} imports {name}"
        for path in files
        for line, name in imported_modules(parse(path))
        if name.partition(".")[0] in CORE_FORBIDDEN
    ]
    assert not found, "retrieval/ is the pure core (STYLE.md):\n" + "\n".join(found)


def test_handlers_do_not_import_the_store() -> None:
    files = python_files(REPO / "handlers")
    assert files, "handlers/ has no Python files: is REPO right?"
    found = [
        f"{where(path, line)} imports {name}"
        for path in files
        for line, name in imported_modules(parse(path))
        if name.partition(".")[0] == "index"
    ]
    assert not found, "handlers reach storage through the library, not index/:\n" + "\n".join(found)


def test_only_index_imports_sqlite3() -> None:
    outside = [
        path for path in python_files(REPO) if path.relative_to(REPO).parts[0] not in ("index", "tests")
    ]
    assert REPO / "library.py" in outside and REPO / "cli.py" in outside
    found = [
        f"{where(path, line)} imports {name}"
        for path in outside
        for line, name in imported_modules(parse(path))
        if name.partition(".")[0] == "sqlite3"
    ]
    assert not found, "storage errors are translated in index/ (STYLE.md, habit 15):\n" + "\n".join(found)


def test_only_the_milvus_backend_imports_pymilvus() -> None:
    """The default (SQLite) never needs the ``milvus`` extra: pymilvus is imported in
    ``index/milvus.py`` and ``index/milvus_feeds.py`` alone (``index/backend.py`` checks it is
    installed before importing those), and by the benchmarks that measure it."""
    allowed = {
        REPO / "index" / "milvus.py",
        REPO / "index" / "milvus_feeds.py",
        REPO / "index" / "backend.py",
    }
    outside = [
        path
        for path in python_files(REPO)
        if path not in allowed and path.relative_to(REPO).parts[0] not in ("tests", "benchmarks")
    ]
    assert REPO / "library.py" in outside and REPO / "index" / "milvus_search.py" in outside
    found = [
        f"{where(path, line)} imports {name}"
        for path in outside
        for line, name in imported_modules(parse(path))
        if name.partition(".")[0] in ("pymilvus", "milvus_lite")
    ]
    assert not found, "only index/milvus.py (and milvus_feeds.py) talk to Milvus:\n" + "\n".join(found)


def test_the_default_backend_loads_no_pymilvus(tmp_path: Path) -> None:
    """Opening the default library through the backend interface leaves pymilvus unimported."""
    script = (
        "import asyncio, sys; from pathlib import Path; import bot, cli, ingest, library;"
        " from index.backend import open_store; from settings import Settings;"
        f" s = asyncio.run(open_store(Settings(NEWSBOT_DB=Path({str(tmp_path / 'a.db')!r}))));"
        " asyncio.run(s.close()); print(type(s).__name__, 'pymilvus' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["Store", "False"]


def test_sql_lives_only_in_index() -> None:
    outside = [
        path for path in python_files(REPO) if path.relative_to(REPO).parts[0] not in ("index", "tests")
    ]
    assert REPO / "bot.py" in outside and REPO / "retrieval" / "corpus.py" in outside
    found = [
        f"{where(path, line)}: {text.strip()[:60]!r}"
        for path in outside
        for line, text in strings(parse(path))
        if looks_like_sql(text)
    ]
    assert not found, "SQL belongs in index/ (STYLE.md):\n" + "\n".join(found)


def test_the_sql_detector_finds_the_statements_in_index() -> None:
    """Guards the check above against passing because it recognises nothing."""
    found = [text for path in python_files(REPO / "index") for _, text in strings(parse(path))]
    assert sum(looks_like_sql(text) for text in found) >= 5


@pytest.mark.parametrize(
    "text",
    [
        "SELECT id FROM articles WHERE ref = ?",
        "\n    select a.id, count(*)\n    from sentences s",
        "(SELECT 1 FROM chunks)",
        "INSERT OR IGNORE INTO articles (ref) VALUES (?)",
        "insert into chunks values (?, ?)",
        "UPDATE articles SET title = ? WHERE id = ?",
        "DELETE FROM sentences WHERE article_id = ?",
        "CREATE TABLE IF NOT EXISTS articles (id INTEGER PRIMARY KEY)",
        "create unique index articles_url on articles(url)",
        "PRAGMA user_version",
        "pragma journal_mode=WAL",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK TO SAVEPOINT ingest",
        "WITH recent AS (SELECT id FROM articles) SELECT * FROM recent",
    ],
)
def test_sql_is_recognised(text: str) -> None:
    assert looks_like_sql(text)


@pytest.mark.parametrize(
    "text",
    [
        "Admins can /add articles; /delete REF removes one from the library.",
        "only admins can delete articles",
        "nothing in the library answers this closely enough to quote",
        "update: the bridge vote was moved",
        "Begin with /help",
        "commits",
        "Pragma",
        "selected from the archive",
    ],
)
def test_prose_is_not_sql(text: str) -> None:
    assert not looks_like_sql(text)
