"""The page cache: published pages and the feed rendered once, compressed once, revalidated.

``/``, ``/issues/<W>``, ``/papers/<id>`` and ``/feed.xml`` (GET) are kept in memory per
path, query and what else a page depends on (``variant``: the reader's language; by
default the raw ``Accept-Language`` and ``Cookie`` headers),
with their gzip form made once. They are served with a weak ``ETag`` and
``Cache-Control``, and ``If-None-Match`` gets a 304. The cache is emptied when the
content store is reloaded or the published archive changes (checked at most once per
``ttl`` seconds, one small query, so a publish by another process shows within it).
Only plain 200s are kept: never a response that sets a cookie or says ``no-store``.
Concurrent misses for one page render it once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CachedPage", "Identity", "PageCache"]

CACHED_PREFIXES = ("/issues/", "/papers/")
CACHED_PATHS = ("/", "/feed.xml")
HTML_CACHE_CONTROL = "public, max-age=0, must-revalidate"
FEED_CACHE_CONTROL = "public, max-age=300"
MAX_ENTRY = 4 * 1024 * 1024
_KEPT_HEADERS = ("content-type", "content-language", "vary", "link")


class Identity:
    """Equal only to another wrapper of the very same object (a loaded content snapshot):
    cheap to compare however large the object is."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@dataclass(frozen=True, slots=True)
class CachedPage:
    """One page as served: its headers, its body, the body gzipped, and its ETag."""

    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    gzipped: bytes
    etag: bytes
    route: object = None
    """The route that made it, put back in the scope of each hit (metrics label by it)."""

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


def _accepts_gzip(headers: Headers) -> bool:
    for item in headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _matches(if_none_match: str, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``W/"x"`` and ``"x"`` match."""
    if if_none_match.strip() == "*":
        return True
    mine = etag.decode().removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in if_none_match.split(","))


class PageCache:
    """Pure ASGI middleware in front of the reading routes.

    ``generation`` returns something that changes whenever cached pages may be stale (the
    loaded content snapshot, the published archive's version); it is awaited at most once
    per ``ttl`` seconds (0: on every request, for a ``generation`` that is cheap to ask).
    """

    def __init__(
        self,
        app: ASGIApp,
        generation: Callable[[], Awaitable[Hashable]],
        *,
        ttl: float = 1.0,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        variant: Callable[[Scope], Hashable] | None = None,
    ) -> None:
        self.app = app
        self.variant = variant
        self.generation = generation
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.clock = clock
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._bytes = 0
        self._current: Hashable = None
        self._checked = float("-inf")
        self._rendering: dict[Hashable, asyncio.Future[CachedPage | None]] = {}

    @staticmethod
    def cacheable(scope: Scope) -> bool:
        path = str(scope.get("path", ""))
        return scope.get("method") == "GET" and (
            path in CACHED_PATHS or path.startswith(CACHED_PREFIXES)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.cacheable(scope):
            await self.app(scope, receive, send)
            return
        await self._revalidate()
        headers = Headers(scope=scope)
        # what else a page depends on: by default the raw headers it varies on; the app
        # passes the reader's language, so a cookie that says what Accept-Language said
        # is the same page
        key = (
            scope["path"],
            scope.get("query_string", b""),
            self.variant(scope)
            if self.variant is not None
            else (headers.get("accept-language", ""), headers.get("cookie", "")),
        )
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            scope["route"] = page.route
        else:
            page = await self._render_once(key, scope, receive, send)
            if page is None:
                return  # not cacheable: the app already answered
            scope["route"] = page.route
        await self._serve(page, headers, send)

    async def _revalidate(self) -> None:
        if self.ttl and self.clock() - self._checked < self.ttl:
            return
        current = await self.generation()
        self._checked = self.clock()
        if current != self._current:
            self._current = current
            self._pages.clear()
            self._bytes = 0

    async def _render_once(
        self, key: Hashable, scope: Scope, receive: Receive, send: Send
    ) -> CachedPage | None:
        waiting = self._rendering.get(key)
        if waiting is not None:
            page = await asyncio.shield(waiting)
            if page is not None:
                return page
            # the first request's answer was not cacheable: answer this one afresh
            await self.app(scope, receive, send)
            return None
        future: asyncio.Future[CachedPage | None] = asyncio.get_running_loop().create_future()
        self._rendering[key] = future
        generation = self._current
        try:
            page = await self._render(scope, receive, send)
            future.set_result(page)
        except BaseException:
            future.set_result(None)
            raise
        finally:
            del self._rendering[key]
        if page is not None and generation == self._current:
            self._store(key, page)
        return page

    async def _render(self, scope: Scope, receive: Receive, send: Send) -> CachedPage | None:
        """Run the app for an identity body; keep it if it is a plain 200, else pass it on."""
        inner = dict(scope)
        inner["headers"] = [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]
        start: Message | None = None
        chunks: list[bytes] = []
        passed_on = False

        async def capture(message: Message) -> None:
            nonlocal start, passed_on
            if message["type"] == "http.response.start":
                start = message
                if not _keepable(message):
                    passed_on = True
                    await send(message)
                return
            if passed_on:
                await send(message)
                return
            chunks.append(message.get("body", b""))

        try:
            await self.app(inner, receive, capture)
        finally:
            if "route" in inner:
                scope["route"] = inner["route"]
        if passed_on or start is None:
            return None
        body = b"".join(chunks)
        if len(body) > MAX_ENTRY:
            page = _page(start, body, compress=False)
            await self._serve(page, Headers(scope=scope), send)
            return None
        page = await asyncio.to_thread(_page, start, body)
        return dataclasses.replace(page, route=inner.get("route"))

    def _store(self, key: Hashable, page: CachedPage) -> None:
        self._pages[key] = page
        self._bytes += page.size
        while self._bytes > self.max_bytes and self._pages:
            _, old = self._pages.popitem(last=False)
            self._bytes -= old.size

    async def _serve(self, page: CachedPage, request: Headers, send: Send) -> None:
        headers = [*page.headers, (b"etag", page.etag)]
        if _matches(request.get("if-none-match", ""), page.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = page.body
        if page.gzipped and _accepts_gzip(request):
            body = page.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _keepable(start: Message) -> bool:
    if start["status"] != 200:
        return False
    headers = Headers(raw=start.get("headers", []))
    if "set-cookie" in headers or "content-encoding" in headers:
        return False
    return "no-store" not in headers.get("cache-control", "")


def _page(start: Message, body: bytes, *, compress: bool = True) -> CachedPage:
    """Headers to keep, the gzip form (made once), and an ETag over the body."""
    raw = Headers(raw=start.get("headers", []))
    kept: list[tuple[bytes, bytes]] = []
    vary = {"Accept-Encoding"}
    for name in _KEPT_HEADERS:
        value = raw.get(name)
        if value is None:
            continue
        if name == "vary":
            vary.update(v.strip() for v in value.split(",") if v.strip())
            continue
        kept.append((name.encode(), value.encode("latin-1")))
    kept.append((b"vary", ", ".join(sorted(vary)).encode()))
    feed = "xml" in raw.get("content-type", "")
    control = raw.get("cache-control") or (FEED_CACHE_CONTROL if feed else HTML_CACHE_CONTROL)
    kept.append((b"cache-control", control.encode("latin-1")))
    gzipped = gzip.compress(body, compresslevel=9, mtime=0) if compress else b""
    if len(gzipped) >= len(body):
        gzipped = b""
    etag = b'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
    return CachedPage(tuple(kept), body, gzipped, etag)
