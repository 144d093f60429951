"""fetch_article against a real HTTP server on 127.0.0.1 (aiohttp), no mocks."""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from fetch import MAX_REDIRECTS, FetchedPage, fetch_article
from retrieval import prepare
from retrieval.cleaning import clean_html
from retrieval.errors import ArticleRejected
from retrieval.prepare import canonical_url
from retrieval.uploads import decode_upload

ARTICLE_HTML = (Path(__file__).parent / "data" / "riverton-bridge-vote.html").read_bytes()
# A page that names its charset only in a <meta> tag, read the same fetched or uploaded
WINDOWS_1252_HTML = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    "<title>Café reopens</title></head><body><p>The café “reopened” on Monday, the owner said.</p>"
    "<p>Its terrace seats forty guests.</p></body></html>"
).encode("cp1252")
STALE_LABEL_HTML = (
    "<html><head><meta charset='iso-8859-1'></head><body><p>Café “ouvert”.</p></body></html>".encode()
)
# Compression bombs (issue 14): 100 MB of zeros behind a few kB, one layer or two.
BOMB_BYTES = 10**8


def compressed(chunks: object, wbits: int) -> bytes:
    """``chunks`` (an iterable of bytes) compressed as one gzip (wbits 31), zlib (15) or raw
    deflate (-15) stream, without holding them all."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = [compressor.compress(chunk) for chunk in chunks]  # type: ignore[attr-defined]
    return b"".join([*out, compressor.flush()])


def bomb(wbits: int) -> bytes:
    return compressed((bytes(1 << 20) for _ in range(BOMB_BYTES >> 20)), wbits)


UTF16_LABEL_HTML = b"<html><head><meta charset='utf-16'></head><body><p>Caf\xc3\xa9 ouvert.</p></body></html>"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # fetch ignores proxy variables (trust_env=False); this keeps that true if it ever changes
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@dataclass(frozen=True)
class Site:
    base: str  # http://127.0.0.1:PORT
    port: int

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_app(port_of: dict[str, int]) -> web.Application:
    async def article(_request: web.Request) -> web.Response:
        return web.Response(body=ARTICLE_HTML, content_type="text/html", charset="utf-8")

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(text="Harga beras naik. Pedagang mengeluh.", content_type="text/plain")

    async def latin1(_request: web.Request) -> web.Response:
        body = "<html><head><meta charset='iso-8859-1'></head><body><p>Café ouvert.</p></body></html>"
        return web.Response(body=body.encode("latin-1"), headers={"Content-Type": "text/html"})

    async def windows_1252(_request: web.Request) -> web.Response:
        return web.Response(body=WINDOWS_1252_HTML, headers={"Content-Type": "text/html"})

    async def utf16_label(_request: web.Request) -> web.Response:
        return web.Response(body=UTF16_LABEL_HTML, headers={"Content-Type": "text/html"})

    async def stale_label(_request: web.Request) -> web.Response:  # re-saved as UTF-8, old tag kept
        return web.Response(body=STALE_LABEL_HTML, headers={"Content-Type": "text/html"})

    async def echo_host(request: web.Request) -> web.Response:
        return web.Response(text=f"host={request.host}", content_type="text/plain")

    async def redirect(request: web.Request) -> web.Response:
        port = port_of["site"]
        targets = {
            "relative": "/article",
            "chain": "/redirect/relative",
            "private": "http://10.0.0.1/secret",
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "localhost": f"http://localhost:{port}/article",
            "other-port": f"http://127.0.0.1:{port_of['other']}/article",
            "mapped": f"http://[::ffff:127.0.0.1]:{port}/article",
            "loop": "/redirect/loop",
            "ftp": "ftp://127.0.0.1/file.txt",
            "tracked": "/article?utm_campaign=rss&id=3&fbclid=x#comments",
        }
        raise web.HTTPFound(targets[request.match_info["name"]])

    async def no_location(_request: web.Request) -> web.Response:
        return web.Response(status=302)

    async def missing(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="not here")

    async def pdf(_request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", content_type="application/pdf")

    async def png(_request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    async def untyped_pdf(_request: web.Request) -> web.Response:
        response = web.Response(body=b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        response.headers.popall("Content-Type", None)
        return response

    async def big(_request: web.Request) -> web.Response:
        return web.Response(body=b"<p>" + b"a" * 50_000 + b"</p>", content_type="text/html")

    async def big_stream(request: web.Request) -> web.StreamResponse:
        # no Content-Length: the limit must hold while streaming
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"<p>" + b"b" * 1_000 + b"</p>")
        await response.write_eof()
        return response

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b"<p>" + b"c" * 2_500_000 + b"</p>", content_type="text/html")

    async def encoded(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        gzip, zlib_wrapped, raw = zlib.MAX_WBITS | 16, zlib.MAX_WBITS, -zlib.MAX_WBITS
        bodies = {
            "gzip": ("gzip", compressed([ARTICLE_HTML], gzip)),
            "deflate": ("deflate", compressed([ARTICLE_HTML], zlib_wrapped)),
            "raw-deflate": ("deflate", compressed([ARTICLE_HTML], raw)),
            "identity-gzip": ("identity, gzip", compressed([ARTICLE_HTML], gzip)),
            "brotli": ("br", b"\x1b\x03\x00\xf8\xa5\x00\x00"),
            "damaged": ("gzip", compressed([ARTICLE_HTML], gzip)[:40] + b"\xff" * 64),
            "gzip-bomb": ("gzip", bomb(gzip)),
            "deflate-bomb": ("deflate", bomb(zlib_wrapped)),
            "raw-deflate-bomb": ("deflate", bomb(raw)),
            "nested-bomb": ("gzip, gzip", compressed([bomb(gzip)], gzip)),
        }
        encoding, body = bodies[name]
        return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": encoding})

    async def empty(_request: web.Request) -> web.Response:
        return web.Response(body=b"", content_type="text/html")

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/article", article)
    app.router.add_get("/plain", plain)
    app.router.add_get("/latin1", latin1)
    app.router.add_get("/windows-1252", windows_1252)
    app.router.add_get("/utf16-label", utf16_label)
    app.router.add_get("/stale-label", stale_label)
    app.router.add_get("/echo-host", echo_host)
    app.router.add_get("/redirect/{name}", redirect)
    app.router.add_get("/no-location", no_location)
    app.router.add_get("/missing", missing)
    app.router.add_get("/file.pdf", pdf)
    app.router.add_get("/image.png", png)
    app.router.add_get("/untyped", untyped_pdf)
    app.router.add_get("/big", big)
    app.router.add_get("/big-stream", big_stream)
    app.router.add_get("/huge", huge)
    app.router.add_get("/encoded/{name}", encoded)
    app.router.add_get("/empty", empty)
    app.router.add_get("/slow", slow)
    return app


@pytest_asyncio.fixture(loop_scope="function")
async def site() -> AsyncIterator[Site]:
    port_of: dict[str, int] = {"other": free_port()}
    server = TestServer(make_app(port_of), host="127.0.0.1", port=0)
    await server.start_server()
    assert server.port is not None
    port_of["site"] = server.port
    try:
        yield Site(f"http://127.0.0.1:{server.port}", server.port)
    finally:
        await server.close()


async def rejected(url: str, **kwargs: object) -> ArticleRejected:
    with pytest.raises(ArticleRejected) as caught:
        await fetch_article(url, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value)  # every rejection carries a message for the user
    return caught.value


# --- success ---------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="function")
async def test_fetches_an_html_article(site: Site) -> None:
    page = await fetch_article(f"{site.base}/article", allow_private=site.allowed)
    assert page == FetchedPage(
        final_url=f"{site.base}/article",
        content_type="text/html",
        text=ARTICLE_HTML.decode("utf-8"),
        is_html=True,
    )
    article = clean_html(page.text, url=page.final_url)
    assert article.meta.title == "Riverton council approves new footbridge after two-year debate"


@pytest.mark.asyncio(loop_scope="function")
async def test_fetches_plain_text(site: Site) -> None:
    page = await fetch_article(f"{site.base}/plain", allow_private=site.allowed)
    assert (page.is_html, page.content_type) == (False, "text/plain")
    assert page.text == "Harga beras naik. Pedagang mengeluh."


@pytest.mark.asyncio(loop_scope="function")
async def test_meta_charset_is_honoured(site: Site) -> None:
    page = await fetch_article(f"{site.base}/latin1", allow_private=site.allowed)
    assert "Café ouvert." in page.text


@pytest.mark.asyncio(loop_scope="function")
async def test_a_page_reads_the_same_fetched_or_uploaded(site: Site) -> None:
    page = await fetch_article(f"{site.base}/windows-1252", allow_private=site.allowed)
    assert "The café “reopened” on Monday" in page.text
    assert decode_upload(WINDOWS_1252_HTML, "cafe.html") == page.text
    # Library.add_upload cleans an .html upload as HTML, like a fetched page
    fetched, uploaded = clean_html(page.text), clean_html(decode_upload(WINDOWS_1252_HTML, "cafe.html"))
    assert (uploaded.text, uploaded.meta.title) == (fetched.text, fetched.meta.title)


@pytest.mark.asyncio(loop_scope="function")
async def test_a_utf16_meta_label_on_ascii_bytes_is_read_as_utf8(site: Site) -> None:
    page = await fetch_article(f"{site.base}/utf16-label", allow_private=site.allowed)
    assert "Café ouvert." in page.text
    assert decode_upload(UTF16_LABEL_HTML, "page.html") == page.text


@pytest.mark.asyncio(loop_scope="function")
async def test_utf8_bytes_win_over_a_stale_meta_label_fetched_or_uploaded(site: Site) -> None:
    page = await fetch_article(f"{site.base}/stale-label", allow_private=site.allowed)
    assert "Café “ouvert”." in page.text
    assert decode_upload(STALE_LABEL_HTML, "page.html") == page.text


@pytest.mark.asyncio(loop_scope="function")
async def test_relative_redirects_are_followed(site: Site) -> None:
    page = await fetch_article(f"{site.base}/redirect/chain", allow_private=site.allowed)
    assert page.final_url == f"{site.base}/article"
    assert page.is_html


@pytest.mark.asyncio(loop_scope="function")
async def test_connects_to_the_checked_address_with_the_original_host_header(site: Site) -> None:
    # "localhost" is resolved by fetch itself, then the request goes to that IP: the server
    # still sees the name the user gave.
    allowed = frozenset({f"localhost:{site.port}"})
    page = await fetch_article(f"http://localhost:{site.port}/echo-host", allow_private=allowed)
    assert page.text == f"host=localhost:{site.port}"
    assert page.final_url == f"http://localhost:{site.port}/echo-host"


# --- private addresses -------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="function")
async def test_direct_private_address_is_refused_without_allow_list(site: Site) -> None:
    error = await rejected(f"{site.base}/article")
    assert error.reason == "private_address"
    assert "127.0.0.1" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
        "http://[fd00::1]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "https://127.0.0.1/",
    ],
)
@pytest.mark.asyncio(loop_scope="function")
async def test_private_addresses_are_refused(url: str) -> None:
    assert (await rejected(url)).reason == "private_address"


@pytest.mark.asyncio(loop_scope="function")
async def test_allow_list_is_per_port(site: Site) -> None:
    other = frozenset({f"127.0.0.1:{site.port + 1 if site.port < 65535 else site.port - 1}"})
    assert (await rejected(f"{site.base}/article", allow_private=other)).reason == "private_address"
    page = await fetch_article(f"{site.base}/plain", allow_private=frozenset({"127.0.0.1"}))
    assert page.text.startswith("Harga beras")


@pytest.mark.parametrize("name", ["private", "metadata", "localhost", "other-port", "mapped"])
@pytest.mark.asyncio(loop_scope="function")
async def test_redirect_from_an_allowed_host_to_a_private_one_is_refused(site: Site, name: str) -> None:
    error = await rejected(f"{site.base}/redirect/{name}", allow_private=site.allowed)
    assert error.reason == "private_address"


# --- failures --------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="function")
async def test_not_found_is_unreachable_with_the_status(site: Site) -> None:
    error = await rejected(f"{site.base}/missing", allow_private=site.allowed)
    assert error.reason == "unreachable"
    assert "404" in str(error)


@pytest.mark.parametrize("path", ["/file.pdf", "/image.png", "/untyped"])
@pytest.mark.asyncio(loop_scope="function")
async def test_non_text_content_is_not_an_article(site: Site, path: str) -> None:
    error = await rejected(f"{site.base}{path}", allow_private=site.allowed)
    assert error.reason == "not_article"


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
@pytest.mark.asyncio(loop_scope="function")
async def test_oversized_body_is_too_large(site: Site, path: str) -> None:
    error = await rejected(f"{site.base}{path}", allow_private=site.allowed, max_bytes=10_000)
    assert error.reason == "too_large"
    page = await fetch_article(f"{site.base}{path}", allow_private=site.allowed, max_bytes=100_000)
    assert len(page.text) > 10_000


@pytest.mark.parametrize(
    ("path", "max_bytes", "message"),
    [
        ("/big", 10_000, "the page is 50.0 kB; the limit is 10.0 kB"),
        ("/big", 50_000, "the page is 50,007 bytes; the limit is 50,000 bytes"),  # not "50.0 kB" twice
        ("/big-stream", 10_000, "the page is over the limit of 10.0 kB"),
        ("/huge", 2_000_000, "the page is 2.5 MB; the limit is 2.0 MB"),
    ],
)
@pytest.mark.asyncio(loop_scope="function")
async def test_size_limit_messages_are_readable(site: Site, path: str, max_bytes: int, message: str) -> None:
    # the same units as the upload limit's message ("the file is 2.5 MB; the limit is 2.0 MB")
    # instead of "the page is larger than 2,000,000 bytes"
    error = await rejected(f"{site.base}{path}", allow_private=site.allowed, max_bytes=max_bytes)
    assert str(error) == message


@pytest.mark.parametrize("name", ["gzip", "deflate", "raw-deflate", "identity-gzip"])
@pytest.mark.asyncio(loop_scope="function")
async def test_compressed_pages_are_read(site: Site, name: str) -> None:
    page = await fetch_article(f"{site.base}/encoded/{name}", allow_private=site.allowed)
    assert page.text == ARTICLE_HTML.decode("utf-8")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nested-bomb", "/encoded/nested-bomb is compressed 2 times (gzip, gzip)"),
        ("gzip-bomb", "the page is over the limit of 1.0 MB"),
        ("deflate-bomb", "the page is over the limit of 1.0 MB"),
        ("raw-deflate-bomb", "the page is over the limit of 1.0 MB"),
    ],
)
@pytest.mark.asyncio(loop_scope="function")
async def test_a_compression_bomb_is_refused_in_bounded_memory(site: Site, name: str, message: str) -> None:
    """A few kB that inflate to 100 MB (issue 14: gzip(gzip(zeros)) took `newsbot add` to 2.46 GB
    at 1 GB): refused while inflating, having held about the 1 MB limit, never the bomb."""
    url = f"{site.base}/encoded/{name}"
    tracemalloc.start()
    try:
        error = await rejected(url, allow_private=site.allowed, max_bytes=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message in str(error)
    assert peak < BOMB_BYTES // 10, f"{peak:,} bytes held at the peak"


@pytest.mark.parametrize(
    ("name", "reason", "message"),
    [
        ("brotli", "not_article", "is compressed with br, which newsbot does not read"),
        ("damaged", "unreachable", "its compressed data is damaged"),
    ],
)
@pytest.mark.asyncio(loop_scope="function")
async def test_unread_or_damaged_compression_is_refused(
    site: Site, name: str, reason: str, message: str
) -> None:
    error = await rejected(f"{site.base}/encoded/{name}", allow_private=site.allowed)
    assert (error.reason, message in str(error)) == (reason, True), error


@pytest.mark.asyncio(loop_scope="function")
async def test_connection_refused_is_unreachable() -> None:
    port = free_port()
    error = await rejected(f"http://127.0.0.1:{port}/", allow_private=frozenset({f"127.0.0.1:{port}"}))
    assert error.reason == "unreachable"
    assert "cannot connect" in str(error)


@pytest.mark.asyncio(loop_scope="function")
async def test_slow_server_times_out(site: Site) -> None:
    error = await rejected(f"{site.base}/slow", allow_private=site.allowed, timeout=0.3)
    assert error.reason == "unreachable"


@pytest.mark.asyncio(loop_scope="function")
async def test_redirect_loop_stops(site: Site) -> None:
    error = await rejected(f"{site.base}/redirect/loop", allow_private=site.allowed)
    assert error.reason == "unreachable"
    assert f"more than {MAX_REDIRECTS}" in str(error)


@pytest.mark.asyncio(loop_scope="function")
async def test_redirect_without_location_is_unreachable(site: Site) -> None:
    assert (await rejected(f"{site.base}/no-location", allow_private=site.allowed)).reason == "unreachable"


@pytest.mark.asyncio(loop_scope="function")
async def test_empty_page_is_empty(site: Site) -> None:
    assert (await rejected(f"{site.base}/empty", allow_private=site.allowed)).reason == "empty"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.txt", "file:///etc/passwd", "javascript:alert(1)", "not a url", ""]
)
@pytest.mark.asyncio(loop_scope="function")
async def test_only_http_urls(url: str) -> None:
    assert (await rejected(url)).reason == "bad_input"


@pytest.mark.parametrize("url", ["https://", "http://", "https:///news/flood.html", " https:// "])
@pytest.mark.asyncio(loop_scope="function")
async def test_link_without_a_host_says_so(url: str) -> None:
    error = await rejected(url)
    assert error.reason == "bad_input"
    assert "has no host" in str(error) and "only http(s)" not in str(error)


@pytest.mark.asyncio(loop_scope="function")
async def test_redirect_to_another_scheme_is_refused(site: Site) -> None:
    assert (await rejected(f"{site.base}/redirect/ftp", allow_private=site.allowed)).reason == "bad_input"


@pytest.mark.asyncio(loop_scope="function")
async def test_unresolvable_host_is_unreachable() -> None:
    error = await rejected("http://no-such-host.invalid/")
    assert error.reason == "unreachable"


# --- canonical URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://site.example/flood.html?utm_source=x", "https://site.example/flood.html"),
        ("https://site.example/flood.html", "https://site.example/flood.html"),
        (
            "HTTPS://Site.EXAMPLE:443/news/flood.html?id=7&utm_medium=social&fbclid=abc&page=2#comments",
            "https://site.example/news/flood.html?id=7&page=2",
        ),
        (
            "http://site.example:80/a?gclid=1&mc_cid=2&mc_eid=3&igshid=4&UTM_Campaign=5&b=2&a=1",
            "http://site.example/a?b=2&a=1",  # order kept, not sorted
        ),
        ("https://site.example:8443/a?", "https://site.example:8443/a"),  # other ports stay
        ("https://site.example", "https://site.example/"),
        ("https://user:secret@site.example/a", "https://site.example/a"),
        ("https://site.example/a%2Fb?q=%C3%A4&utm%5Fsource=x", "https://site.example/a%2Fb?q=%C3%A4"),
        ("  https://site.example/a?ref=home  ", "https://site.example/a?ref=home"),
        # content parameters that look like tracking ones, and hash routes, stay
        (
            "https://site.example/v?at_time=5&cmp=2&at_medium=x",
            "https://site.example/v?at_time=5&cmp=2&at_medium=x",
        ),
        ("https://site.example/#/news/123", "https://site.example/#/news/123"),
        ("https://site.example/#!/news/123?utm_source=x", "https://site.example/#!/news/123?utm_source=x"),
        ("https://site.example/a#section-2", "https://site.example/a"),
        # not fetchable: given back as it came, for the caller's own error
        ("https://", "https://"),
        ("ftp://site.example/a?utm_source=x", "ftp://site.example/a?utm_source=x"),
        ("not a url", "not a url"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical
    assert canonical_url(canonical) == canonical


def httpx_canonical_url(url: str) -> str:
    """``canonical_url`` as it was written on ``httpx.URL`` (fetch.py, before it moved into the
    core, which imports no httpx): the reference the port must agree with, or links stored
    before the move would no longer be found as duplicates."""
    url = url.strip()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return url
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return url
    kept = [
        part
        for part in parsed.query.decode("ascii").split("&")
        if part and not prepare._is_tracking(unquote_plus(part.partition("=")[0]).lower())
    ]
    query = "&".join(kept).encode("ascii") or None
    route = parsed.fragment if parsed.fragment.startswith(("/", "!")) else None
    canonical = parsed.copy_with(userinfo=b"", query=query, fragment=route)
    if not urlsplit(url).path:
        canonical = canonical.copy_with(path="/")
    return str(canonical)


_LABEL = st.text(alphabet="abcXYZ09-_%~é中ß.", max_size=6)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
    st.sampled_from(
        [
            *"127.0.0.1 1.2.3.04 [::1] [::FFFF:1.2.3.4] [zz] Bücher.DE xn--bcher-kva.de a]b a[b".split(),
            *'EXAMPLE.com. a"b a%41b'.split(),
            "",
            "ex ample.com",
        ]
    ),
)
_SEGMENTS = st.lists(st.text(alphabet="aZ09.-_~%2eF é?{}`<>\"'!$&()*+,;=:@|\\^[]", max_size=8), max_size=4)
_PARAMETERS = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "UTM_Campaign", "id", "fbclid", "a", "utm%5Fx", "", "q+x", "é"]),
        st.text(alphabet="ab1 %é=&+?/", max_size=4),
    ),
    max_size=4,
).map(lambda pairs: "&".join(f"{k}={v}" if v else k for k, v in pairs))


@st.composite
def _urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "HTTPS", "Http", "ftp", ""]))
    userinfo = draw(st.sampled_from(["", "user:secret@", "a@b@", "x y@"]))
    port = draw(st.sampled_from(["", ":", ":80", ":443", ":8443", ":x", ":0080", ":-1", ":٨٠", ":8_0"]))
    path = "".join("/" + segment for segment in draw(_SEGMENTS))
    query = draw(st.one_of(st.none(), _PARAMETERS))
    fragment = draw(st.one_of(st.none(), st.text(alphabet="/!ab%2F0A é#`<>", max_size=8)))
    url = f"{scheme}:" if scheme else ""
    url += f"//{userinfo}{draw(_HOSTS)}{port}{path}"
    url += "" if query is None else f"?{query}"
    url += "" if fragment is None else f"#{fragment}"
    padding = draw(st.sampled_from(["", " ", "\t"]))
    return padding + url + padding


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_urls(), st.text(max_size=30)))
def test_canonical_url_agrees_with_its_httpx_original(url: str) -> None:
    """Where the httpx version raised (a fragment that decodes to a control character, a
    host stdlib's urlsplit calls an invalid IPv6 address), the port gives the link back as it
    came instead, as its docstring always promised."""
    try:
        expected = httpx_canonical_url(url)
    except (httpx.InvalidURL, ValueError):
        assert isinstance(canonical_url(url), str)  # and it does not raise
        return
    assert canonical_url(url) == expected


@pytest.mark.asyncio(loop_scope="function")
async def test_reported_url_is_canonical(site: Site) -> None:
    # the url stored with the article, which the duplicate check compares
    page = await fetch_article(
        f"{site.base}/article?utm_source=newsletter&id=3#top", allow_private=site.allowed
    )
    assert page.final_url == f"{site.base}/article?id=3"
    redirected = await fetch_article(f"{site.base}/redirect/tracked", allow_private=site.allowed)
    assert redirected.final_url == f"{site.base}/article?id=3"
