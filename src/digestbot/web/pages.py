"""What every web route shares: the visitor's language, page and message responses, error pages.

Links inside pages are relative to the path of ``DIGESTBOT_PUBLIC_URL`` (so the site works
on any host and behind a path prefix); the feed and emails use the absolute public URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Scope

from digestbot.models import Language
from digestbot.render.context import ui_strings
from digestbot.render.web import lang_href, render_web_page
from digestbot.service import Service
from digestbot.web.language import LANG_CODES, negotiate_lang, reader_lang
from digestbot.web.strings import Para, label, labels, paras

__all__ = ["LANG_CODES", "NO_STORE", "Link", "Pages", "negotiate_lang"]

NO_STORE = {"Cache-Control": "no-store"}
VARY = {"Vary": "Accept-Language, Cookie"}


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    label: str
    hreflang: str = ""
    current: bool = False


class Pages:
    """Responses over one :class:`Service`'s templates, linked under the public URL's path."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        public = urlsplit(settings.public_url)
        self.public_url = settings.public_url.rstrip("/")
        self.public_host = public.netloc.lower()
        #: where links point: the public URL's path, e.g. "" or "/digest"
        self.base = public.path.rstrip("/")
        self.site = f"{ui_strings(Language.ZH)['site']} / {ui_strings(Language.EN)['site']}"

    def lang(self, request: Request) -> Language:
        """The reader's language: ``?lang=``, the cookie, Accept-Language (the first visit)."""
        return reader_lang(request)

    def href(self, path: str, lang: Language) -> str:
        """A link to ``path`` on this site that keeps ``lang``."""
        return lang_href(self.base, lang.value)(path)

    def lang_links(self, request: Request, lang: Language) -> list[Link]:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        path = self.base + request.url.path
        names = {"zh": ("中文", "zh-CN"), "en": ("English", "en"), "both": ("中文 + English", "")}
        return [
            Link(
                f"{path}?{urlencode([*query, ('lang', code)])}",
                names[code][0],
                names[code][1],
                lang.value == code,
            )
            for code in LANG_CODES
        ]

    def extra(self, request: Request, lang: Language) -> dict[str, Any]:
        """What a served page adds to its template's context: the language switcher, and
        ``href`` building links that keep the page's language."""
        return {
            "lang_links": self.lang_links(request, lang),
            "href": lang_href(self.base, lang.value),
            # tag chips link to topic pages, in the reader's language
            "topic_names": {t.slug: t.name(lang) for t in self.service.topics()},
            "lang_suffix": f"?lang={lang.value}",
        }

    def html(
        self,
        page: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        merged = {**VARY, **(headers or {})}
        return HTMLResponse(page, status_code=status, headers=merged, background=background)

    def page(
        self,
        request: Request,
        name: str,
        lang: Language,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        text = render_web_page(
            name,
            lang,
            templates=self.service.templates,
            public_url=self.base,
            t=labels(lang),
            **self.extra(request, lang),
            **ctx,
        )
        return self.html(text, status=status, headers=headers, background=background)

    def message(
        self,
        request: Request,
        lang: Language,
        heading: str,
        body: Sequence[Para],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        links: Sequence[Link] = (),
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        home = Link(self.href("/", lang), label("back_home", lang))
        return self.page(
            request,
            "web/message.html.j2",
            lang,
            status=status,
            headers=headers,
            background=background,
            heading=heading,
            paras=list(body),
            links=[*links, home],
        )

    def redirect(self, path: str, status: int, query: str = "") -> Response:
        target = self.base + path + (f"?{query}" if query else "")
        return RedirectResponse(target, status_code=status, headers=VARY)

    def not_found(self, request: Request, lang: Language, key: str, **fmt: object) -> Response:
        return self.message(
            request,
            lang,
            label("not_found_title", lang),
            paras(key, lang, **fmt) + (paras("not_found", lang) if key != "not_found" else []),
            status=404,
            links=[Link(self.href("/search", lang), ui_strings(lang)["search"])],
        )

    # -- error pages ------------------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        lang = self.lang(request)
        status = exc.status_code
        headers = dict(exc.headers or {})
        if status == 404:
            return self.not_found(request, lang, "not_found")
        keys = {
            405: ("method_title", "method"),
            413: ("too_large_title", "too_large"),
        }
        title, body = keys.get(status, ("bad_request_title", "bad_request"))
        if status >= 500:
            title, body = "server_error_title", "server_error"
            headers.update(NO_STORE)
        return self.message(
            request, lang, label(title, lang), paras(body, lang), status=status, headers=headers
        )

    async def status_page(self, scope: Scope, status: int) -> Response:
        """The page the guard answers with itself: 413 (body too large) or 500."""
        return await self.http_error(Request(scope), HTTPException(status))

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return await self.status_page(request.scope, 500)
