"""A local news site with feeds, served from 127.0.0.1 in a thread (so the CLI's own event loop,
the bot's and a test's can all reach it): RSS and Atom feeds that answer 304 to their validators,
article pages made from the checked-in dev corpus, and whatever a test puts at a path. It counts
every request, so a test can tell what was fetched and what was not."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from tests_support import DATA

# Passages of the dev corpus long enough to be an article (4+ sentences), each a distinct text.
PASSAGES = [
    record["text"]
    for record in map(json.loads, (DATA / "dev_slice_corpus.jsonl").read_text(encoding="utf-8").splitlines())
    if len(record["text"]) > 400
]


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # more, e.g. Content-Encoding


def article_page(text: str, *, title: str | None = None) -> bytes:
    """A plain article page: its paragraphs, and a <title> only when given (the feed fills it)."""
    head = f"<title>{escape(title)}</title>" if title else ""
    paragraphs = "".join(f"<p>{escape(p.strip())}.</p>" for p in text.rstrip(".").split(". ") if p.strip())
    body = f"<body><article>{paragraphs}</article></body>"
    return f"<html><head><meta charset='utf-8'>{head}</head>{body}</html>".encode()


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    author: str | None = None
    published: datetime | None = None


def rss(title: str, items: list[Item]) -> bytes:
    entries = "".join(
        "<item>"
        f"<title>{escape(item.title)}</title><link>{escape(item.link)}</link><guid>{escape(item.link)}</guid>"
        + (f"<author>news@example.com ({escape(item.author)})</author>" if item.author else "")
        + (f"<pubDate>{format_datetime(item.published)}</pubDate>" if item.published else "")
        + "</item>"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.com/</link>{entries}</channel></rss>"
    ).encode()


def atom(title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"<entry><title>{escape(item.title)}</title><link rel='alternate' href='{escape(item.link)}'/>"
        f"<id>{escape(item.link)}</id>"
        + (f"<author><name>{escape(item.author)}</name></author>" if item.author else "")
        + (f"<updated>{item.published.isoformat()}</updated>" if item.published else "")
        + "</entry>"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test</id>{entries}</feed>"
    ).encode()


class FeedSite:
    """``with FeedSite() as site``: ``site.put(path, Resource)``, ``site.url(path)``,
    ``site.hits[path]`` (requests so far), ``site.not_modified[path]`` (304s sent)."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()  # requests that carried a validator
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path
                site.hits[path] += 1
                resource = site.resources.get(path)
                if resource is None:
                    self.send_error(404)
                    return
                etag, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
                if etag or since:
                    site.conditional[path] += 1
                unchanged = (resource.etag is not None and etag == resource.etag) or (
                    resource.last_modified is not None and since == resource.last_modified
                )
                if unchanged and resource.status == 200:
                    site.not_modified[path] += 1
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(resource.status)
                self.send_header("Content-Type", resource.content_type)
                self.send_header("Content-Length", str(len(resource.body)))
                if resource.etag:
                    self.send_header("ETag", resource.etag)
                if resource.last_modified:
                    self.send_header("Last-Modified", resource.last_modified)
                for name, value in resource.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(resource.body)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FeedSite:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def put(self, path: str, resource: Resource) -> str:
        self.resources[path] = resource
        return self.url(path)

    def put_articles(self, prefix: str, count: int, *, start: int = 0) -> list[Item]:
        """``count`` article pages at ``prefix/0``, ``prefix/1``, ... (distinct texts) and their items."""
        items = []
        when = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
        for n in range(start, start + count):
            path = f"{prefix}/{n}"
            self.put(path, Resource(article_page(PASSAGES[n % len(PASSAGES)]), "text/html; charset=utf-8"))
            items.append(Item(self.url(path), f"Story {n}", f"Reporter {n}", when - timedelta(hours=n)))
        return items
