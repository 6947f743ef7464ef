"""The reader's language on the web: ``?lang=``, then the ``lang`` cookie, then Accept-Language.

A page's links carry ``?lang=`` (see :func:`digestbot.render.web.lang_href`), and
:class:`LanguageCookie` remembers the language a page was shown in, so the reader's
choice survives every click and a later visit; Accept-Language decides only the first.
"""

from __future__ import annotations

import contextlib
from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digestbot.models import Language

__all__ = ["COOKIE", "LANG_CODES", "LanguageCookie", "negotiate_lang", "reader_lang"]

COOKIE = "lang"
LANG_CODES = ("zh", "en", "both")
MAX_AGE = 365 * 24 * 3600
_STATE_KEY = "reader_lang"


def negotiate_lang(query_lang: str | None, accept_language: str | None) -> Language:
    """``?lang=zh|en|both`` first, else the preferred of zh/en in Accept-Language, else both."""
    if query_lang:
        with contextlib.suppress(ValueError):
            return Language.parse(query_lang)
    if not accept_language:
        return Language.BOTH
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, index, tag.strip().lower()))
    for neg_q, _index, tag in sorted(ranked):
        if neg_q >= 0:
            break
        if tag == "zh" or tag.startswith("zh-"):
            return Language.ZH
        if tag == "en" or tag.startswith("en-"):
            return Language.EN
    return Language.BOTH


def reader_lang(request: Request) -> Language:
    """The language to show ``request`` in, noted for :class:`LanguageCookie` to remember."""
    query = request.query_params.get("lang")
    cookie = request.cookies.get(COOKIE)
    chosen = query if query in LANG_CODES else cookie if cookie in LANG_CODES else None
    lang = negotiate_lang(chosen, request.headers.get("accept-language"))
    request.scope.setdefault("state", {})[_STATE_KEY] = lang.value
    return lang


class LanguageCookie:
    """Pure ASGI middleware: sets the ``lang`` cookie when a page was shown in another
    language than the cookie holds (a first visit, or a ``?lang=`` link). Only pages a
    reader looks at (GET, HEAD): a form's or a mail client's POST sets no cookie."""

    def __init__(self, app: ASGIApp, *, path: str = "/", secure: bool = False) -> None:
        self.app = app
        self.path = path or "/"
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return

        async def remembering_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                shown = scope.get("state", {}).get(_STATE_KEY)
                if shown is not None and shown != Request(scope).cookies.get(COOKIE):
                    message.setdefault("headers", [])
                    MutableHeaders(scope=message).append("Set-Cookie", self.cookie(shown))
            await send(message)

        await self.app(scope, receive, remembering_send)

    def cookie(self, value: str) -> str:
        jar: SimpleCookie = SimpleCookie()
        jar[COOKIE] = value
        morsel = jar[COOKIE]
        morsel["path"] = self.path
        morsel["max-age"] = MAX_AGE
        morsel["samesite"] = "Lax"
        morsel["httponly"] = True
        if self.secure:
            morsel["secure"] = True
        return morsel.OutputString()
