"""Complete the articles a library stored before newsbot kept dates and syndicated copies.

A library made before schema version 4 keeps its articles through the upgrade, but they have no
MinHash band keys (so a new copy of one of them is never folded into its story, and their own
copies were never looked for) and only the publication date their metadata gave, as written.
``newsbot backfill`` gives each what ingest gives a new article now: its band keys, the story it
copies among the articles before it (``near_duplicates.copy_of``), and its date read from the
metadata or the byline (``dates.publication_date``). It needs no model
and no index. Each article is completed at once (SQLite: one transaction; Milvus: its band keys
written last, as the mark that it is complete), oldest first, so a killed run resumes where it
stopped and a second run finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from index.backend import LibraryStore
from retrieval.dates import publication_date
from retrieval.near_duplicates import CopyCandidate, Fingerprint, copy_of, fingerprint

BATCH = 64  # articles read (and fingerprinted off the event loop) at a time


@dataclass(frozen=True, slots=True)
class BackfillSummary:
    completed: int  # articles given their band keys
    dated: int  # of which a publication date was found or put in ISO form
    copies: int  # of which found to be a copy of an earlier article's story
    seconds: float


async def backfill_copies_and_dates(
    store: LibraryStore, *, on_progress: Callable[[int, int], None] | None = None
) -> BackfillSummary:
    """Complete every article without band keys (see the module's docstring). A copy is looked
    for among the articles stored before it only: the first of a story stays its story."""
    started = time.perf_counter()
    total = await store.count_without_near_keys()
    completed = dated = copies = 0
    after = 0  # the order (``CopyCandidate.order``) of the last article seen
    while batch := await store.articles_without_near_keys(after, BATCH):
        found = await asyncio.to_thread(_read, batch)
        for article, (prints, published) in zip(batch, found, strict=True):
            earlier = [c for c in await store.near_candidates(prints.keys) if c.order < article.order]
            match = copy_of(prints, published or article.published, earlier)
            new_date = published if published != article.published else None
            await store.complete_article(
                article.article_id,
                prints.keys,
                copy_of=None if match is None else match.story,
                published=new_date,
            )
            completed += 1
            dated += new_date is not None
            copies += match is not None
        after = batch[-1].order
        if on_progress:
            on_progress(completed, total)
    return BackfillSummary(completed, dated, copies, time.perf_counter() - started)


def _read(batch: list[CopyCandidate]) -> list[tuple[Fingerprint, str | None]]:
    """Each article's fingerprint and publication date, as ingest reads them."""
    return [(fingerprint(a.text), publication_date(a.published, a.text)) for a in batch]
