"""Syndicated copies: the same story stored again with small edits, found at ingest and folded in
answers.

An outlet re-publishes a wire or sister-site story under its own header, with a changed first
line or photo credit. Such an article is stored (it is answerable and listed) as a *copy of*
the first article of its story, and an answer quotes the story once, citing the others as
"also in" (``fold_copies``).

Found with MinHash (datasketch) over the text's word 3-grams: an article's signature is 120
minimum hashes, and its 20 bands of 6 hashes are stored as keys, so the store finds the few
articles that share a band with it (``Store.near_candidates``) without scanning the library.
A candidate is a copy when the Jaccard similarity of the two texts' word 3-grams, computed
exactly on the candidate's text (the signatures' estimate errs by ~0.035 there), is at least
``COPY_SIMILARITY``, and the two are not dated days apart (a daily report on the same template
is a new story). Why these numbers, and what SimHash did on the same corpus:
docs/dates-and-copies.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from retrieval.types import ArticleInfo

PERMUTATIONS = 120
BANDS = 20
ROWS = PERMUTATIONS // BANDS  # 6: a pair at Jaccard 0.8 shares a band with probability 0.998
COPY_SIMILARITY = 0.8
# Copies are published together; two stories on one template a few days apart are not copies.
COPY_MAX_DAYS_APART = 2
_SEED = 1
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """An article's word 3-grams and the LSH band keys of their MinHash signature."""

    shingles: frozenset[bytes]
    keys: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyCandidate:
    """An article that shares a band with a new one: its id, its story (the id of the first
    article of its story), publication date and text; and ``order``, where it stands in the
    order the library stored its articles (SQLite's ids grow with it, Milvus's do not), so a
    backfill looks for copies among the articles stored before one (0: not stored yet)."""

    article_id: int
    story: int
    published: str | None
    text: str
    order: int = 0


@lru_cache(maxsize=1)
def _minhash() -> Any:
    """datasketch's MinHash class and our permutations, imported at the first fingerprint:
    datasketch takes 1.3 s to import (scipy), which answering never needs."""
    from datasketch import MinHash

    return MinHash, MinHash(num_perm=PERMUTATIONS, seed=_SEED).permutations


def shingles(text: str) -> set[bytes]:
    """The text's word 3-grams (case-folded ``\\w+`` words): what two copies share."""
    words = _WORD.findall(text.casefold())
    return {" ".join(words[i : i + 3]).encode() for i in range(max(len(words) - 2, 1))}


def fingerprint(text: str) -> Fingerprint:
    """The 3-grams and band keys of ``text`` (about 0.5 ms for a news article)."""
    grams = shingles(text)
    return Fingerprint(frozenset(grams), band_keys(signature(grams)))


def signature(grams: set[bytes]) -> np.ndarray:
    """The MinHash signature of a set of 3-grams: ``PERMUTATIONS`` uint32 minimum hashes."""
    minhash, permutations = _minhash()
    sketch = minhash(num_perm=PERMUTATIONS, seed=_SEED, permutations=permutations, scheme="affine32")
    sketch.update_batch(list(grams))
    return np.asarray(sketch.hashvalues, np.uint32)


def band_keys(signature: np.ndarray) -> tuple[int, ...]:
    """One signed 64-bit key per band (the band's number and its hashes, hashed): two
    articles with an equal band share a key."""
    rows = np.ascontiguousarray(signature, "<u4").reshape(BANDS, ROWS)
    keys = []
    for band, values in enumerate(rows):
        digest = hashlib.blake2b(bytes([band]) + values.tobytes(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def jaccard(a: frozenset[bytes] | set[bytes], b: frozenset[bytes] | set[bytes]) -> float:
    """The Jaccard similarity of two sets of 3-grams."""
    return len(a & b) / len(a | b) if a or b else 1.0


def copy_of(
    new: Fingerprint, published: str | None, candidates: Iterable[CopyCandidate]
) -> CopyCandidate | None:
    """The article ``new`` copies (the most similar at ``COPY_SIMILARITY`` or more, not dated
    more than ``COPY_MAX_DAYS_APART`` days from ``published``), or None."""
    best: tuple[float, CopyCandidate] | None = None
    for candidate in candidates:
        score = jaccard(new.shingles, shingles(candidate.text))
        if score < COPY_SIMILARITY or _days_apart(published, candidate.published) > COPY_MAX_DAYS_APART:
            continue
        if best is None or score > best[0]:
            best = (score, candidate)
    return best[1] if best else None


def _days_apart(a: str | None, b: str | None) -> int:
    """Days between two ISO dates; 0 when either is unknown."""
    try:
        return abs((date.fromisoformat(a[:10]) - date.fromisoformat(b[:10])).days) if a and b else 0
    except ValueError:
        return 0


def story_of(info: ArticleInfo) -> int:
    """The id of the first article of ``info``'s story (its own id when it is no copy)."""
    return info.copy_of if info.copy_of is not None else info.id


# How far down the ranking an answer looks for the other copies of the stories it quotes: a
# copy's text, and so its score, is nearly its original's, so copies rank side by side.
COPIES_WINDOW = 30


@dataclass(frozen=True, slots=True)
class FoldedRanking:
    """The first ``stories`` ranked articles of distinct stories (slots, best first), and for
    each the other copies of its story ranked near it."""

    slots: tuple[int, ...]
    copies: dict[int, tuple[ArticleInfo, ...]]


def fold_copies(
    order: Sequence[int] | np.ndarray[Any, Any], infos: Sequence[ArticleInfo], stories: int
) -> FoldedRanking:
    """Walk the ranking ``order`` (slots, best first; ``infos[k]`` is ``order[k]``'s, for the
    first ``COPIES_WINDOW`` or more) and keep the best article of each story until ``stories``
    are kept; the other copies of a kept story within the window are its "also in"."""
    kept: dict[int, int] = {}  # story -> its kept slot
    also: dict[int, list[ArticleInfo]] = {}
    for k, slot in enumerate(order[: max(COPIES_WINDOW, stories)]):
        story = story_of(infos[k])
        if story in kept:
            also[kept[story]].append(infos[k])
        elif len(kept) < stories:
            kept[story] = int(slot)
            also[int(slot)] = []
    return FoldedRanking(tuple(kept.values()), {slot: tuple(found) for slot, found in also.items() if found})
