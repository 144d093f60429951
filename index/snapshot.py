"""The in-memory index saved beside the database, so that a restart maps it back in a moment
instead of reading every vector row out of SQLite and re-tokenizing every chunk (at 45k articles
that rebuild takes longer than the whole start-up budget).

The snapshot is derived data: SQLite stays the only truth. Each slot records its article's id
and content hash, and on load every slot is checked against the database, so a snapshot that is
old, or from another process, can cost time but never return a wrong answer (``Library.open``
adds what it lacks and drops what the database no longer has).

Layout: ``<db>.index/CURRENT`` names a generation directory of ``.npy`` files (numpy's own
format; the vectors and postings are memory-mapped, read-only) plus a manifest. A generation is
written under a temporary name, fsynced and renamed, and only then does ``CURRENT`` move to it
(``os.replace``), so a process killed mid-save leaves the previous snapshot in place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from retrieval.bm25 import LexicalState
from retrieval.corpus import IndexState, lexical_fingerprint

log = logging.getLogger("newsbot.snapshot")

FORMAT = 1
_MAPPED = ("sentence_vectors", "chunk_vectors", "postings_rows", "postings_tfs")
_PARTIAL = ".partial"


def snapshot_dir(db: Path) -> Path:
    return db.with_name(db.name + ".index")


def save(directory: Path, state: IndexState) -> Path:
    """Write ``state`` as a new generation and make it current; returns its directory."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"g{time.time_ns()}-{os.getpid()}"
    partial = directory / (name + _PARTIAL)
    partial.mkdir()
    try:
        lexical = state.lexical
        if any("\n" in term for term in lexical.terms):
            raise ValueError("a BM25 term holds a newline")  # the tokenizer never makes one
        arrays = {
            "article_ids": state.article_ids,
            "alive": state.alive,
            "sentence_offsets": state.sentence_offsets,
            "chunk_offsets": state.chunk_offsets,
            "sentence_bounds": state.sentence_bounds,
            "chunk_bounds": state.chunk_bounds,
            "postings_starts": lexical.starts,
            "postings_rows": lexical.rows,
            "postings_tfs": lexical.tfs,
            "top_terms": lexical.top_terms,
            "top_rows": lexical.top_rows,
            "lengths": lexical.lengths,
            "lexical_alive": lexical.alive,
            "df": lexical.df,
        }
        for key, array in arrays.items():
            _write(partial / f"{key}.npy", (np.asarray(array),))
        _write(partial / "sentence_vectors.npy", state.sentence_vectors)
        _write(partial / "chunk_vectors.npy", state.chunk_vectors)
        _write_text(partial / "terms.txt", "\n".join(lexical.terms))
        _write_text(partial / "content_hashes.txt", "\n".join(state.content_hashes))
        manifest = {
            "format": FORMAT,
            "lexical": lexical_fingerprint(),
            "k1": lexical.k1,
            "b": lexical.b,
            "term_candidates": lexical.term_candidates,
            "slots": len(state.article_ids),
            "terms": len(lexical.terms),
        }
        _write_text(partial / "manifest.json", json.dumps(manifest))
        final = directory / name
        partial.rename(final)
        _write_text(directory / "CURRENT.tmp", name)
        os.replace(directory / "CURRENT.tmp", directory / "CURRENT")
        _fsync_dir(directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _remove_old_generations(directory, keep=name)
    return final


def load(directory: Path, *, k1: float, b: float, term_candidates: int) -> IndexState | None:
    """The current snapshot, or None when there is none or it cannot be used (another format,
    tokenizer or BM25 parameters, or damaged files): the caller then builds from the database."""
    try:
        name = (directory / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("index snapshot in %s is unreadable (%s); building from the database", directory, error)
        return None
    generation = directory / name
    try:
        manifest = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
        wanted = {
            "format": FORMAT,
            "lexical": lexical_fingerprint(),
            "k1": k1,
            "b": b,
            "term_candidates": term_candidates,
        }
        if any(manifest.get(key) != value for key, value in wanted.items()):
            log.info("index snapshot %s was made with other settings; rebuilding", generation)
            return None
        a = {
            path.stem: np.load(path, mmap_mode="r" if path.stem in _MAPPED else None, allow_pickle=False)
            for path in generation.glob("*.npy")
        }
        terms = _read_lines(generation / "terms.txt")
        hashes = tuple(_read_lines(generation / "content_hashes.txt"))
        state = IndexState(
            article_ids=a["article_ids"],
            content_hashes=hashes,
            alive=a["alive"],
            sentence_offsets=a["sentence_offsets"],
            chunk_offsets=a["chunk_offsets"],
            sentence_bounds=a["sentence_bounds"],
            chunk_bounds=a["chunk_bounds"],
            sentence_vectors=(np.asarray(a["sentence_vectors"]),),
            chunk_vectors=(np.asarray(a["chunk_vectors"]),),
            lexical=LexicalState(
                k1=k1,
                b=b,
                term_candidates=term_candidates,
                terms=terms,
                starts=a["postings_starts"],
                rows=np.asarray(a["postings_rows"]),
                tfs=np.asarray(a["postings_tfs"]),
                top_terms=a["top_terms"],
                top_rows=a["top_rows"],
                lengths=a["lengths"],
                alive=a["lexical_alive"],
                df=a["df"],
            ),
        )
        _check(state, manifest)
    except (OSError, KeyError, ValueError) as error:
        log.warning("index snapshot %s is unusable (%s); rebuilding from the database", generation, error)
        return None
    return state


def _check(state: IndexState, manifest: dict[str, object]) -> None:
    """Shapes that must agree, so a damaged or mismatched file is refused instead of misread."""
    slots = len(state.article_ids)
    lexical = state.lexical
    chunks = int(state.chunk_offsets[-1]) if len(state.chunk_offsets) else 0
    sentences = int(state.sentence_offsets[-1]) if len(state.sentence_offsets) else 0
    agreements = {
        "slots": manifest.get("slots") == slots == len(state.alive) == len(state.content_hashes),
        "offsets": len(state.chunk_offsets) == len(state.sentence_offsets) == slots + 1,
        "chunks": len(state.chunk_bounds) == len(state.chunk_vectors[0]) == len(lexical.lengths) == chunks,
        "sentences": len(state.sentence_bounds) == len(state.sentence_vectors[0]) == sentences,
        "terms": manifest.get("terms") == len(lexical.terms) == len(lexical.df) == len(lexical.starts) - 1,
        "postings": len(lexical.rows) == len(lexical.tfs) == int(lexical.starts[-1]),
        "top": lexical.top_rows.shape == (len(lexical.top_terms), lexical.term_candidates),
    }
    broken = [name for name, ok in agreements.items() if not ok]
    if broken:
        raise ValueError(f"inconsistent {', '.join(broken)}")


def _write(path: Path, blocks: tuple[np.ndarray, ...]) -> None:
    """One ``.npy`` file holding the blocks one after another, written without first joining
    them in memory (the vectors are the largest part of the process)."""
    first = blocks[0]
    shape = (sum(len(block) for block in blocks), *first.shape[1:])
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape}
        )
        for block in blocks:
            f.write(np.ascontiguousarray(block, dtype=first.dtype).data)
        f.flush()
        os.fsync(f.fileno())


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text.split("\n") if text else []


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_generations(directory: Path, keep: str) -> None:
    """Older generations go (a process still mapping one keeps its open files); an unfinished
    one from a killed process goes once it is an hour old (another process may be writing it)."""
    for entry in directory.iterdir():
        if entry.name in (keep, "CURRENT") or not entry.is_dir():
            continue
        if entry.name.endswith(_PARTIAL) and time.time() - entry.stat().st_mtime < 3600:
            continue
        shutil.rmtree(entry, ignore_errors=True)
