"""Fetch an article page or a feed for the CLI and the bot, refusing private addresses at every hop.

Every hop (the URL and each redirect, followed by hand) is resolved here, every resolved address
is checked, and the connection then goes to that checked address, with the original Host header
and TLS server name. Connecting to what was checked, rather than letting httpx resolve the name
again, is what stops DNS rebinding (a name that answers public first, private second).

Proxies from the environment are ignored (``trust_env=False``): through a proxy the address check
would not be the address connected to.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import logging
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import certifi
import httpx

from retrieval.errors import ArticleRejected
from retrieval.prepare import canonical_url
from retrieval.uploads import meta_charset

log = logging.getLogger("newsbot.fetch")

MAX_REDIRECTS = 5
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
_TEXT_TYPES = frozenset({"text/plain"}) | _MARKDOWN_TYPES
_HEADERS = {
    "User-Agent": "Mozilla/5.0 (compatible; newsbot/0.1; +article fetcher)",
    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
    "Accept-Encoding": "gzip, deflate",  # the encodings ``_Inflater`` reads (httpx would add br, zstd)
}
_FEED_HEADERS = _HEADERS | {
    "Accept": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1",
}
_BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """A feed's bytes as sent (``body`` is None when the server said 304, not modified), and
    the validators to send next time."""

    final_url: str
    content_type: str  # the header as sent: its charset is the parser's to read
    body: bytes | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """A fetched page, decoded; ``final_url`` is where the redirects ended, in ``canonical_url`` form."""

    final_url: str
    content_type: str  # the MIME type alone, lower-case
    text: str
    is_html: bool

    @property
    def is_markdown(self) -> bool:
        return self.content_type in _MARKDOWN_TYPES


async def fetch_article(
    url: str,
    *,
    max_bytes: int = 5_000_000,
    timeout: float = 15.0,
    allow_private: frozenset[str] = frozenset(),
) -> FetchedPage:
    """GET ``url`` (http or https), following up to ``MAX_REDIRECTS`` redirects.

    ``timeout`` bounds the whole fetch, redirects included. ``allow_private`` lists hosts
    ("127.0.0.1") or host:port pairs ("127.0.0.1:8080") that may resolve to private addresses
    (tests, intranet deployments). Raises ArticleRejected: ``bad_input`` (not an http(s) URL),
    ``private_address``, ``unreachable`` (DNS, connection, timeout, non-2xx, redirect loop),
    ``too_large``, ``not_article`` (not HTML or text), ``empty``.
    """
    return await _fetched(url, _read_page, _HEADERS, max_bytes, timeout, allow_private)


async def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 5_000_000,
    timeout: float = 15.0,
    allow_private: frozenset[str] = frozenset(),
) -> FetchedFeed:
    """GET a feed's bytes with every rule of ``fetch_article`` (addresses checked at each hop,
    the size cap counted after decompression), asking only for what changed since ``etag`` /
    ``last_modified`` (a 304 gives a ``FetchedFeed`` without a body). The bytes are not judged
    here: any content type may hold a feed, and the parser tells a feed from a page."""
    headers = dict(_FEED_HEADERS)
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return await _fetched(url, _read_feed, headers, max_bytes, timeout, allow_private)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The certificate check httpx makes by default (certifi's CA bundle), loaded once: a new
    client loads it again, 40-90 ms on 2 cores, which held the event loop on every fetch."""
    return ssl.create_default_context(cafile=certifi.where())


_T = TypeVar("_T")
# Reads the final response of a fetch (2xx, or 304 for a conditional request).
_Reader = Callable[[httpx.Response, httpx.URL, int], Awaitable[_T]]


async def _fetched(
    url: str,
    read: _Reader[_T],
    headers: dict[str, str],
    max_bytes: int,
    timeout: float,
    allow_private: frozenset[str],
) -> _T:
    allowed = frozenset(entry.strip().lower() for entry in allow_private)
    tls = await asyncio.to_thread(_tls_context)
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(
                headers=headers, timeout=timeout, follow_redirects=False, trust_env=False, verify=tls
            ) as client:
                return await _fetch(client, url, max_bytes, allowed, read)
    except TimeoutError:
        raise ArticleRejected("unreachable", f"{_shown(url)} did not answer within {timeout:g} s") from None


async def _fetch(
    client: httpx.AsyncClient, url: str, max_bytes: int, allowed: frozenset[str], read: _Reader[_T]
) -> _T:
    current = _parse(url)
    for _hop in range(MAX_REDIRECTS + 1):
        addresses = await _checked_addresses(current, allowed)
        response = await _connect(client, current, addresses)
        try:
            if response.status_code in _REDIRECT_CODES:
                location = response.headers.get("location")
                if not location:
                    raise ArticleRejected("unreachable", f"{current.host} sent a redirect without a target")
                current = _parse(str(current.join(location)))
                continue
            conditional = "if-none-match" in client.headers or "if-modified-since" in client.headers
            if not (200 <= response.status_code < 300 or (conditional and response.status_code == 304)):
                raise ArticleRejected(
                    "unreachable",
                    f"{current.host} answered HTTP {response.status_code} for {_shown(str(current))}",
                )
            return await read(response, current, max_bytes)
        finally:
            await response.aclose()
    raise ArticleRejected("unreachable", f"too many redirects (more than {MAX_REDIRECTS}) from {_shown(url)}")


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ArticleRejected("bad_input", f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ArticleRejected("bad_input", f"only http(s) links can be fetched, not {_shown(url)}")
    if not parsed.host:
        raise ArticleRejected(
            "bad_input", f"{_shown(url.strip())} has no host name: send a link like https://example.com/story"
        )
    return parsed


async def _checked_addresses(url: httpx.URL, allowed: frozenset[str]) -> list[_Address]:
    """Every address ``url``'s host resolves to; all must be public unless the host is allowed."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ArticleRejected("unreachable", f"cannot resolve {host}: {exc}") from None
        addresses = list(
            dict.fromkeys(
                ipaddress.ip_address(str(info[4][0]).split("%")[0])  # drop an IPv6 zone ("%eth0")
                for info in infos
                if info[0] in (socket.AF_INET, socket.AF_INET6)
            )
        )
    if not addresses:
        raise ArticleRejected("unreachable", f"cannot resolve {host}")
    if {host.lower(), f"{host.lower()}:{port}", f"[{host.lower()}]:{port}"} & allowed:
        return addresses
    for address in addresses:
        if not _is_public(address):
            raise ArticleRejected(
                "private_address", f"refusing to fetch {host}: it resolves to a private address ({address})"
            )
    return addresses


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _is_public(address: _Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address: ::ffff:10.0.0.1, 2002:0a00:0001::, 64:ff9b::10.0.0.1
        embedded = address.ipv4_mapped or address.sixtofour
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:  # judged by the IPv4 address (DNS64 answers 64:ff9b:: for all)
            return _is_public(embedded)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def _connect(client: httpx.AsyncClient, url: httpx.URL, addresses: list[_Address]) -> httpx.Response:
    """Send the GET to the first checked address that accepts a connection."""
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    error: Exception | None = None
    for address in addresses:
        request = client.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": url.netloc.decode("ascii")},
            extensions=extensions,
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = exc
        except httpx.TimeoutException:
            raise ArticleRejected("unreachable", f"{url.host} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ArticleRejected("unreachable", f"cannot fetch {_shown(str(url))}: {_reason(exc)}") from None
    raise ArticleRejected("unreachable", f"cannot connect to {url.host}: {_reason(error)}")


async def _read_page(response: httpx.Response, url: httpx.URL, max_bytes: int) -> FetchedPage:
    content_type = response.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in _HTML_TYPES | _TEXT_TYPES:
        raise ArticleRejected("not_article", f"{_shown(str(url))} is {mime}, not a web page or text")
    body = await _read_body(response, url, max_bytes, "the page")
    log.debug(
        "fetched %s: HTTP %d, %s, %d bytes", _shown(str(url)), response.status_code, mime or "-", len(body)
    )
    if not body.strip():
        raise ArticleRejected("empty", f"{_shown(str(url))} is empty")
    if body.startswith(_BINARY_MAGIC) or b"\x00" in body[:4096]:
        raise ArticleRejected("not_article", f"{_shown(str(url))} is a binary file, not a web page")
    is_html = mime in _HTML_TYPES or (not mime and body.lstrip()[:1] == b"<")
    text = _decode(body, content_type, is_html)
    return FetchedPage(
        canonical_url(str(url)), mime or ("text/html" if is_html else "text/plain"), text, is_html
    )


async def _read_feed(response: httpx.Response, url: httpx.URL, max_bytes: int) -> FetchedFeed:
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    content_type = response.headers.get("content-type", "")
    if response.status_code == 304:
        log.debug("fetched %s: HTTP 304, unchanged", _shown(str(url)))
        return FetchedFeed(str(url), content_type, None, etag, modified)
    body = await _read_body(response, url, max_bytes, "the feed")
    log.debug("fetched %s: HTTP %d, %d bytes", _shown(str(url)), response.status_code, len(body))
    if not body.strip():
        raise ArticleRejected("empty", f"{_shown(str(url))} is empty")
    return FetchedFeed(str(url), content_type, body, etag, modified)


async def _read_body(response: httpx.Response, url: httpx.URL, max_bytes: int, what: str) -> bytes:
    """The response's body, decompressed, refused past ``max_bytes`` (``what`` names it)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(what, int(declared), max_bytes)
    inflater = _inflater(response, url)
    chunks, size = [], 0
    try:
        # Raw bytes, decompressed here rather than by httpx: its decoders inflate a whole chunk
        # at once, and 1.7 kB of gzip can hold a gigabyte.
        async for raw in response.aiter_raw():
            chunk = raw if inflater is None else inflater.inflate(raw, max_bytes - size + 1)
            size += len(chunk)
            if size > max_bytes:
                raise ArticleRejected("too_large", f"{what} is over the limit of {readable_size(max_bytes)}")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise ArticleRejected("unreachable", f"{url.host} stopped sending") from None
    except httpx.HTTPError as exc:
        raise ArticleRejected("unreachable", f"reading {_shown(str(url))} failed: {_reason(exc)}") from None
    except zlib.error as exc:
        raise ArticleRejected(
            "unreachable", f"reading {_shown(str(url))} failed: its compressed data is damaged ({exc})"
        ) from None
    return b"".join(chunks)


class _Inflater:
    """One gzip or deflate layer, inflated at most ``max_length`` bytes per call whatever the
    compression ratio (zlib's own cap): a bomb costs the caller's limit in memory, no more."""

    def __init__(self, encoding: str) -> None:
        self._raw_fallback = encoding == "deflate"
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS)

    def inflate(self, data: bytes, max_length: int) -> bytes:
        """Up to ``max_length`` bytes of output; exactly ``max_length`` when more was held."""
        try:
            return self._zlib.decompress(data, max_length)
        except zlib.error:
            if not self._raw_fallback:
                raise
            # "deflate" is often sent without its zlib header; browsers (and httpx) read both.
            self._raw_fallback = False
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(data, max_length)


_INFLATED = frozenset({"gzip", "x-gzip", "deflate"})


def _inflater(response: httpx.Response, url: httpx.URL) -> _Inflater | None:
    """The decompressor for the response's Content-Encoding (None for none); more than one
    layer ("gzip, gzip": no server needs it, bombs do) and unknown encodings are refused."""
    layers = [
        name.strip().lower()
        for name in response.headers.get_list("content-encoding", split_commas=True)
        if name.strip().lower() not in ("", "identity")
    ]
    if len(layers) > 1:
        raise ArticleRejected(
            "not_article", f"{_shown(str(url))} is compressed {len(layers)} times ({', '.join(layers)})"
        )
    if not layers:
        return None
    if layers[0] not in _INFLATED:
        raise ArticleRejected(
            "not_article", f"{_shown(str(url))} is compressed with {layers[0]}, which newsbot does not read"
        )
    return _Inflater(layers[0])


def _decode(body: bytes, content_type: str, is_html: bool) -> str:
    """Decode with the charset the HTTP header declares; else UTF-8 when the bytes are UTF-8,
    else the charset of the page's <meta> tag, else Windows-1252 (as ``decode_upload`` reads an
    uploaded page: a stale <meta> tag on a UTF-8 page is common, a header less so)."""
    if body.startswith(codecs.BOM_UTF8):
        return body.decode("utf-8-sig", errors="replace")
    declared = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
    if declared:
        try:
            return body.decode(declared[1], errors="replace")
        except LookupError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode((meta_charset(body) if is_html else None) or "cp1252", errors="replace")


def too_large(what: str, size: int, limit: int) -> ArticleRejected:
    """The rejection of ``what`` (``"the page"``, ``"the file"``) for being ``size`` bytes when
    ``limit`` is allowed; exact byte counts when both round to the same figure ("10.0 kB; the
    limit is 10.0 kB" would explain nothing)."""
    shown, most = readable_size(size), readable_size(limit)
    if shown == most:
        shown, most = f"{size:,} bytes", f"{limit:,} bytes"
    return ArticleRejected("too_large", f"{what} is {shown}; the limit is {most}")


def readable_size(size: int) -> str:
    """A byte count as people read it: "950 bytes", "1.2 kB", "3.4 MB", "1.1 GB" (SI units)."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    scaled = float(size)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 999.95 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def _reason(exc: Exception | None) -> str:
    if exc is None:
        return "no address to try"
    return str(exc) or type(exc).__name__


def _shown(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "..."
