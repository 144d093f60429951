"""Following feeds on the real library (model, fetch) against a local site on 127.0.0.1 under the
test allow-list: follow, poll, 304s, malformed feeds, pages that are not feeds, duplicate items,
the per-poll limit, failures with backoff, and a restart. Every test of the feed store runs on
both backends (a SQLite file; a milvus-lite file, one per module, emptied after each test)."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import OpenLibrary
from feed_site import PASSAGES, FeedSite, Item, Resource, article_page, atom, rss
from test_fetch import compressed
from tests_support import make_settings

from feeds import Feeds
from index.feeds import feed_store
from index.milvus_feeds import feed_ids
from library import Library
from retrieval.encoder import Encoder
from retrieval.errors import ArticleRejected
from retrieval.feeds import (
    JITTER,
    RETRY_FIRST,
    RETRY_LONGEST,
    FeedNotFound,
    FeedRejected,
    next_poll,
    next_retry,
    parse_feed,
)


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as served:
        yield served


@pytest.fixture(scope="module")
def milvus_lite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One milvus-lite file for the module's Milvus runs (starting one costs seconds)."""
    return str(tmp_path_factory.mktemp("milvus") / "feeds.db")


def emptied(uri: str) -> None:
    """Every row of every collection at ``uri`` deleted: the next test starts on an empty library
    (with the collections made, as in a library in use)."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri)
    try:
        for name in client.list_collections():
            key = next(f for f in client.describe_collection(name)["fields"] if f.get("is_primary"))
            is_text = key["type"] == DataType.VARCHAR
            client.delete(name, filter=f'{key["name"]} != ""' if is_text else f"{key['name']} >= 0")
    finally:
        client.close()


@pytest.fixture(params=["sqlite", "milvus"])
async def open_on_backend(
    request: pytest.FixtureRequest, tmp_path: Path, encoder: Encoder
) -> AsyncIterator[OpenLibrary]:
    """Open (and later close) libraries on this test's backend."""
    backend = {}
    if request.param == "milvus":
        uri = request.getfixturevalue("milvus_lite")
        backend = {"NEWSBOT_INDEX": "milvus", "NEWSBOT_MILVUS_URI": uri}
    opened: list[Library] = []

    async def _open(**overrides: object) -> Library:
        library = await Library.open(make_settings(tmp_path, **backend, **overrides), encoder=encoder)
        opened.append(library)
        return library

    yield _open
    for library in opened:
        await library.close()
    if request.param == "milvus":
        emptied(backend["NEWSBOT_MILVUS_URI"])


async def open_on(open_library: OpenLibrary, site: FeedSite, **overrides: object) -> Library:
    return await open_library(NEWSBOT_ALLOW_PRIVATE_HOSTS=site.host, **overrides)


def ref_of(library: Library, url: str, followed_before: int) -> str:
    """The ref a feed at ``url`` gets after ``followed_before`` others: SQLite counts (f1, f2,
    ...), Milvus draws an id from the URL's hash (``index/milvus_feeds.py``)."""
    if library.settings.index == "milvus":
        return f"f{next(feed_ids(url))}"
    return f"f{followed_before + 1}"


async def articles_in(library: Library) -> int:
    return (await library.stats()).articles


def feed_of(site: FeedSite, path: str, items: list[Item], **resource: object) -> str:
    return site.put(path, Resource(rss("Test Desk", items), **resource))  # type: ignore[arg-type]


async def test_follow_then_poll_stores_each_item_with_the_feeds_metadata(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 3)
    url = feed_of(site, "/rss.xml", items, etag='"v1"')
    followed = await library.feeds.follow(url)
    assert followed.new and followed.items == 3 and followed.feed.title == "Test Desk"
    assert followed.feed.ref == ref_of(library, url, 0) and followed.feed.last_success_at is None

    (report,) = await library.feeds.poll_due()
    assert [info.title for info in report.stored] == ["Story 0", "Story 1", "Story 2"]  # the pages have none
    first = report.stored[0]
    assert first.author == "Reporter 0" and first.published == "2026-12-07T08:00:00Z"
    assert first.url == items[0].link
    assert await articles_in(library) == 3
    answer = await library.ask(PASSAGES[1].split(". ")[0])
    assert answer.citations and answer.citations[0].article.title == "Story 1"

    (feed,) = await library.feeds.all()
    assert feed.articles == 3 and feed.items_seen == 3 and feed.last_success_at and feed.last_error is None


async def test_an_unchanged_feed_costs_one_304_and_fetches_no_page(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 2)
    url = feed_of(site, "/rss.xml", items, etag='"v1"', last_modified="Mon, 07 Dec 2026 08:00:00 GMT")
    await library.feeds.follow(url)
    await library.feeds.poll_due(everything=True)
    hits = sum(site.hits.values())
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.unchanged and not report.stored
    assert sum(site.hits.values()) == hits + 1 and site.not_modified["/rss.xml"] == 1

    site.put("/news/9", Resource(article_page(PASSAGES[9]), "text/html"))  # a new item, a new ETag
    items.append(Item(site.url("/news/9"), "Story 9"))
    feed_of(site, "/rss.xml", items, etag='"v2"')
    (report,) = await library.feeds.poll_due(everything=True)
    assert [info.title for info in report.stored] == ["Story 9"] and report.known == 2
    assert site.hits["/news/0"] == 1 and site.hits["/news/9"] == 1  # stored items are never re-fetched


async def test_an_atom_feed_and_a_malformed_feed_are_read(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 2)
    atom_url = site.put("/atom.xml", Resource(atom("Atom Desk", items[:1]), "application/atom+xml"))
    broken = rss("Broken &nbsp; Desk", items[1:]).replace(b"</channel></rss>", b"")  # unclosed, bad entity
    broken_url = site.put("/broken.xml", Resource(broken, "text/xml"))
    assert parse_feed(broken, url=broken_url).damaged
    assert (await library.feeds.follow(atom_url)).feed.title == "Atom Desk"
    assert (await library.feeds.follow(broken_url)).items == 1
    reports = await library.feeds.poll_due()
    assert [len(r.stored) for r in reports] == [1, 1] and not any(r.error for r in reports)
    assert reports[0].stored[0].author == "Reporter 0"


async def test_a_web_page_or_garbage_is_refused_with_a_clear_message(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    page = (
        b"<!DOCTYPE html><html><head><title>Desk</title>"
        b"<link rel='alternate' type='application/rss+xml' href='/rss.xml'></head>"
        b"<body><p>Front page.</p></body></html>"
    )
    page_url = site.put("/", Resource(page, "text/html"))
    with pytest.raises(FeedRejected) as refused:
        await library.feeds.follow(page_url)
    assert refused.value.reason == "web_page" and refused.value.feed_links == (site.url("/rss.xml"),)
    assert (
        str(refused.value)
        == f"{page_url} is a web page, not an RSS or Atom feed; it names a feed: {site.url('/rss.xml')}"
    )

    garbage_url = site.put("/data.json", Resource(b'{"not": "a feed"}', "application/json"))
    with pytest.raises(FeedRejected, match="does not hold an RSS or Atom feed") as refused:
        await library.feeds.follow(garbage_url)
    assert refused.value.reason == "not_feed"
    with pytest.raises(ArticleRejected) as missing:
        await library.feeds.follow(site.url("/nothing-here.xml"))
    assert missing.value.reason == "unreachable" and "HTTP 404" in str(missing.value)
    assert await library.feeds.all() == []  # nothing was followed


async def test_feeds_are_fetched_under_the_same_address_rules(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on_backend()  # 127.0.0.1 is not allow-listed here
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 3))
    with pytest.raises(ArticleRejected) as refused:
        await library.feeds.follow(url)
    assert refused.value.reason == "private_address"
    huge = await open_on(open_on_backend, site, NEWSBOT_MAX_UPLOAD_BYTES=300)
    with pytest.raises(ArticleRejected) as too_large:
        await huge.feeds.follow(url)
    assert too_large.value.reason == "too_large" and "the feed is" in str(too_large.value)


async def test_a_compressed_feed_is_read_and_a_compression_bomb_refused(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site, NEWSBOT_MAX_UPLOAD_BYTES=100_000)
    gzip = {"Content-Encoding": "gzip"}
    body = rss("Zipped Desk", site.put_articles("/news", 2))
    url = site.put("/rss.xml", Resource(compressed([body], 31), headers=gzip))
    assert (await library.feeds.follow(url)).items == 2
    padding = b"<!-- " + b" " * 10_000_000 + b" -->"  # 10 MB that gzip makes 10 kB
    bomb = site.put("/bomb.xml", Resource(compressed([body[:60], padding, body[60:]], 31), headers=gzip))
    with pytest.raises(ArticleRejected) as refused:
        await library.feeds.follow(bomb)
    assert refused.value.reason == "too_large"
    assert "the feed is over the limit of 100.0 kB" in str(refused.value)


async def test_items_already_in_the_library_are_skipped_without_fetching(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 3)
    await library.add_url(items[0].link)  # stored by /add URL before the feed is followed
    copy = site.put("/copy/1", Resource(article_page(PASSAGES[1]), "text/html"))  # item 1's text, elsewhere
    tracked = Item(items[2].link + "?utm_source=rss", "Story 2 again")  # item 2's link, with tracking
    url = feed_of(site, "/rss.xml", [*items, Item(copy, "Syndicated copy"), tracked])
    assert (await library.feeds.follow(url)).items == 4  # the tracked link is item 2's

    (report,) = await library.feeds.poll_due()
    assert [info.title for info in report.stored] == ["Story 1", "Story 2"]
    assert report.known == 1 and report.duplicates == 1  # item 0 by its link, the copy by its text
    assert site.hits["/news/0"] == 1  # only /add fetched it
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.stored == () and report.known == 4 and site.hits["/copy/1"] == 1  # not asked again
    (feed,) = await library.feeds.all()
    assert feed.items_seen == 4 and feed.articles == 2  # item 0 recorded as the library's already
    assert await articles_in(library) == 3


async def test_a_big_feed_is_taken_in_a_few_items_per_poll(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site, NEWSBOT_FEED_ITEMS_PER_POLL=3)
    items = site.put_articles("/news", 7)
    url = feed_of(site, "/rss.xml", items, etag='"v1"')
    await library.feeds.follow(url)
    (first,) = await library.feeds.poll_due()
    assert len(first.stored) == 3 and first.left == 4
    assert sum(site.hits[f"/news/{n}"] for n in range(7)) == 3  # the rest not fetched yet
    (second,) = await library.feeds.poll_due()  # due again at once, read in full (no validators kept)
    assert len(second.stored) == 3 and second.left == 1 and site.conditional["/rss.xml"] == 0
    (third,) = await library.feeds.poll_due()
    assert len(third.stored) == 1 and third.left == 0
    assert await library.feeds.poll_due() == []  # taken in: not due until its interval has passed
    (fourth,) = await library.feeds.poll_due(everything=True)
    assert fourth.unchanged  # validators kept once every item was in
    assert await articles_in(library) == 7


async def test_a_failing_feed_is_retried_with_backoff_and_shows_its_error(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 1))
    await library.feeds.follow(url)
    site.put("/rss.xml", Resource(b"oops", "text/plain", status=503))
    (report,) = await library.feeds.poll_due()
    assert report.error is not None and "HTTP 503" in report.error
    (feed,) = await library.feeds.all()
    assert feed.failures == 1 and feed.last_error == report.error and feed.last_success_at is None
    assert await library.feeds.poll_due() == []  # not due: retried in about a minute
    due = datetime.strptime(feed.next_poll_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    failed = datetime.strptime(feed.last_error_at or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert RETRY_FIRST * (1 - JITTER) - timedelta(seconds=1) <= due - failed <= RETRY_FIRST * (1 + JITTER)

    await library.feeds.poll_due(everything=True)
    (feed,) = await library.feeds.all()
    assert feed.failures == 2
    feed_of(site, "/rss.xml", site.put_articles("/news", 1))
    (report,) = await library.feeds.poll_due(everything=True)
    (feed,) = await library.feeds.all()
    assert len(report.stored) == 1 and feed.failures == 0 and feed.last_error is None and feed.last_success_at


async def test_an_unreachable_page_is_tried_again_by_later_polls_then_given_up(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 2)
    del site.resources["/news/1"]  # a 404 for now
    url = feed_of(site, "/rss.xml", items, etag='"v1"')
    await library.feeds.follow(url)
    (report,) = await library.feeds.poll_due()
    assert len(report.stored) == 1 and report.retry == 1 and report.left == 0
    assert await library.feeds.poll_due() == []  # not due at once: at its interval
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.retry == 1 and not report.unchanged  # no validators kept while a page waits
    assert site.conditional["/rss.xml"] == 0 and site.hits["/news/1"] == 2
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.retry == 1 and site.hits["/news/1"] == 3
    (report,) = await library.feeds.poll_due(everything=True)  # three attempts: given up
    assert report.retry == 0 and report.known == 2 and site.hits["/news/1"] == 3

    site.put_articles("/news", 1, start=1)  # back now, but given up: not fetched again
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.stored == ()


async def test_a_stopping_bot_ends_the_poll_between_two_items(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 4))
    await library.feeds.follow(url)
    calls = 0

    def keep_going() -> bool:
        nonlocal calls
        calls += 1
        return calls <= 2  # the feed, then one item

    (report,) = await library.feeds.poll_due(keep_going=keep_going)
    assert len(report.stored) == 1 and report.left == 3
    (report,) = await library.feeds.poll_due()  # due again at once: the next start continues
    assert len(report.stored) == 3 and report.left == 0


async def test_feed_state_survives_a_restart(open_on_backend: OpenLibrary, site: FeedSite) -> None:
    library = await open_on(open_on_backend, site)
    items = site.put_articles("/news", 2)
    url = feed_of(site, "/rss.xml", items, etag='"v1"')
    await library.feeds.follow(url, every_minutes=60)
    await library.feeds.poll_due()
    await library.close()

    reopened = await open_on(open_on_backend, site)
    (feed,) = await reopened.feeds.all()
    assert feed.url == url and feed.interval_minutes == 60 and feed.articles == 2 and feed.last_success_at
    assert await reopened.feeds.poll_due() == []  # its next poll is still an hour away
    (report,) = await reopened.feeds.poll_due(everything=True)
    assert report.unchanged and site.not_modified["/rss.xml"] == 1  # the validators were kept


async def test_unfollow_by_ref_or_url_keeps_the_articles(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 1))
    other = site.put("/atom.xml", Resource(atom("Atom Desk", []), "application/atom+xml"))
    first = (await library.feeds.follow(url)).feed
    await library.feeds.follow(other)
    again = await library.feeds.follow(url + "?utm_medium=feed")  # the same feed, canonically
    assert not again.new and again.feed.ref == first.ref == ref_of(library, url, 0)
    await library.feeds.poll_due()
    assert (await library.feeds.unfollow(first.ref.upper())).articles == 1
    assert (await library.feeds.unfollow(other)).ref == ref_of(library, other, 1)
    with pytest.raises(FeedNotFound, match=f"no followed feed is '{first.ref}'"):
        await library.feeds.unfollow(first.ref)
    assert await library.feeds.all() == [] and await articles_in(library) == 1


async def test_a_feed_unfollowed_during_its_poll_is_not_recorded_again(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 2))
    feed = (await library.feeds.follow(url)).feed
    await library.feeds.unfollow(feed.ref)
    report = await library.feeds.poll(feed)  # a poll that had started before the unfollow
    assert len(report.stored) == 2 and await library.feeds.all() == []
    kept = feed_store(library.store)  # nor is a failure, nor an item
    await kept.record_failure(feed.id, now=feed.added_at, next_poll_at=feed.added_at, error="late")
    await kept.record_item(feed.id, site.url("/late"), "refused", None)
    assert await kept.all() == [] and await kept.validators(feed.id) == (None, None)

    refollowed = (await library.feeds.follow(url)).feed  # a new start: none of the old items
    assert (refollowed.items_seen, refollowed.articles, refollowed.failures) == (0, 0, 0)
    (report,) = await library.feeds.poll_due()
    assert report.stored == () and report.known == 2  # stored articles: recorded, never fetched
    assert (await library.feeds.all())[0].articles == 0  # they came by the poll before


async def test_a_deleted_article_no_longer_counts_and_is_not_fetched_again(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    url = feed_of(site, "/rss.xml", site.put_articles("/news", 2))
    await library.feeds.follow(url)
    (report,) = await library.feeds.poll_due()
    await library.delete(report.stored[0].ref)
    (feed,) = await library.feeds.all()
    assert feed.articles == 1 and feed.items_seen == 2
    (report,) = await library.feeds.poll_due(everything=True)
    assert report.stored == () and report.known == 2 and site.hits["/news/0"] == 1


@pytest.mark.parametrize("open_on_backend", ["milvus"], indirect=True)
async def test_milvus_feed_ids_come_from_the_url_and_a_taken_id_is_drawn_again(
    open_on_backend: OpenLibrary, site: FeedSite
) -> None:
    library = await open_on(open_on_backend, site)
    holders: dict[int, str] = {}
    for n in itertools.count():  # two feeds whose URLs draw the same id first (~100 tries)
        url = site.url(f"/desk/{n}.xml")
        if (first_id := next(feed_ids(url))) in holders:
            break
        holders[first_id] = url
    first_url, second_url = holders[first_id], url
    for feed_url in (first_url, second_url):
        feed_of(site, feed_url.removeprefix(site.url("")), site.put_articles("/news", 1))
    first = (await library.feeds.follow(first_url)).feed
    second = (await library.feeds.follow(second_url)).feed
    assert 1000 <= first.id <= 9999 and first.id == first_id  # 4 digits: f4821
    assert second.id == next(i for i in feed_ids(second_url) if i != first_id)
    assert (await library.feeds.unfollow(second.ref)).url == second_url
    assert (await library.feeds.unfollow(str(first.id))).url == first_url
    again = (await library.feeds.follow(second_url)).feed  # the id is its own once free
    assert again.id == first_id and await library.feeds.all() == [again]


async def test_follow_refuses_an_interval_under_a_minute(library: Library) -> None:
    feeds: Feeds = library.feeds
    with pytest.raises(FeedRejected, match="at most once a minute"):
        await feeds.follow("http://127.0.0.1/rss.xml", every_minutes=0.5)


def test_due_times_have_jitter_and_failures_back_off_to_a_cap() -> None:
    now, interval, rng = datetime(2026, 12, 7, tzinfo=UTC), timedelta(minutes=15), random.Random(7)
    polls = [next_poll(now, interval, rng=rng) - now for _ in range(200)]
    assert all(interval * (1 - JITTER) <= p <= interval * (1 + JITTER) for p in polls)
    assert len(set(polls)) > 100  # spread, not one value
    retries = [next_retry(now, interval, n, rng=random.Random(0)) - now for n in range(1, 14)]
    assert retries == sorted(retries) and retries[0] <= RETRY_FIRST * (1 + JITTER)
    assert retries[1] >= RETRY_FIRST * 2 * (1 - JITTER) and retries[-1] <= RETRY_LONGEST * (1 + JITTER)
    assert next_retry(now, timedelta(days=1), 40, rng=random.Random(0)) - now >= timedelta(days=1) * (
        1 - JITTER
    )


def test_dates_keep_the_feeds_offset_and_authors_lose_the_mail_address() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><link>http://x.example/a</link><pubDate>Mon, 07 Dec 2026 10:00:00 +0700</pubDate>"
        b"<author>desk@x.example (Rina Sari)</author></item>"
        b"<item><link>http://x.example/b</link><author>desk@x.example</author></item>"
        b"<item><title>No link</title></item></channel></rss>"
    )
    parsed = parse_feed(body, url="http://x.example/rss")
    first, second = parsed.items
    assert first.meta.published == "2026-12-07T10:00:00+07:00" and first.meta.author == "Rina Sari"
    assert second.meta.author is None and second.meta.published is None and parsed.without_link == 1
