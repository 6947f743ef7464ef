"""Every response's guard: security headers, request metrics, and a 500 page, never a traceback."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digestbot import metrics

log = logging.getLogger("digestbot.web")

#: No external source of any kind: styles are inline, there are no scripts, frames or fonts.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # token links must not leak through Referer to the sites a page links to
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CSP),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)

_SECURITY_RAW = tuple((n.lower().encode(), v.encode()) for n, v in SECURITY_HEADERS)

#: renders the page for a status code (413, 500) from the request's scope
ErrorPage = Callable[[Scope, int], Awaitable[Response]]


def route_label(scope: Scope) -> str:
    """The matched route's template (``/issues/{week}``), so metrics never carry tokens."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class Guard:
    """Pure ASGI middleware around the whole app.

    Adds the security headers to every response, counts responses by route and status,
    refuses request bodies over ``max_body`` bytes with the 413 page, and turns any
    exception a handler let escape into the 500 page. The log line names
    the route and the exception type and shows where it happened, but never the
    exception's message or the raw path: either may hold a token, an address or a secret.
    """

    def __init__(self, app: ASGIApp, error_page: ErrorPage, max_body: int = 64 * 1024) -> None:
        self.app = app
        self.error_page = error_page
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        status = 500
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HTTPException(413)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                raw = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                raw.extend(h for h in _SECURITY_RAW if h[0] not in present)
                message["headers"] = raw
            await send(message)

        try:
            if _content_length(scope) > self.max_body:
                response = await self.error_page(scope, 413)
                await response(scope, receive, guarded_send)
                return
            await self.app(scope, limited_receive, guarded_send)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a page, not a trace
            where = "".join(traceback.format_tb(exc.__traceback__, limit=-8))
            log.error(
                "%s %s failed with %s at\n%s",
                scope.get("method", "?"),
                route_label(scope),
                type(exc).__qualname__,
                where.rstrip(),
            )
            if started:
                return  # too late for a page; the server closes the connection
            response = await self.error_page(scope, 500)
            await response(scope, receive, guarded_send)
        finally:
            metrics.record_http_request(route_label(scope), status)


def _content_length(scope: Scope) -> int:
    try:
        return int(Headers(scope=scope).get("content-length", "0"))
    except ValueError:
        return 0
