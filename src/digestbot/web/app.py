"""The web app's routes: parse the request, make one service call, render a page.

Pages: ``/`` archive, ``/issues/<W>``, ``/papers/<id>``, ``/search?q=``, ``/feed.xml``,
``/subscribe``, ``/confirm/<token>``, ``/unsubscribe/<token>``, ``/healthz``, ``/metrics``.
Links inside pages are relative to the path of ``DIGESTBOT_PUBLIC_URL`` (so the site works
on any host and behind a path prefix); the feed and emails use the absolute public URL.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import Scope

from digestbot import metrics
from digestbot.errors import (
    DigestbotError,
    ExpiredToken,
    SubscriberError,
    TokenError,
    WeekError,
)
from digestbot.models import Channel, Language, Status
from digestbot.render.context import paper_path, paper_view, ui_strings
from digestbot.render.web import (
    ArchiveEntry,
    render_web_archive,
    render_web_issue,
    render_web_page,
    render_web_paper,
)
from digestbot.service import Service
from digestbot.subscribers import normalize_email
from digestbot.web.feed import MEDIA_TYPE as ATOM_MEDIA_TYPE
from digestbot.web.feed import FeedItem, render_atom
from digestbot.web.formlimit import FormRateLimiter
from digestbot.web.guard import Guard
from digestbot.web.strings import Para, label, labels, paras
from digestbot.weeks import Week

__all__ = ["create_app", "negotiate_lang"]

log = logging.getLogger("digestbot.web")

SEARCH_PAGE = 20
MAX_OFFSET = 10_000
MAX_QUERY = 200
FEED_ISSUES = 20
MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store"}
LANG_CODES = ("zh", "en", "both")
_VERSIONED_ID = re.compile(r"(.+)v\d+")


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    label: str
    hreflang: str = ""
    current: bool = False


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


class WebApp:
    """The routes over one :class:`Service`; holds only the rate limiter's memory."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        public = urlsplit(settings.public_url)
        self.public_url = settings.public_url.rstrip("/")
        self.public_host = public.netloc.lower()
        #: where links point: the public URL's path, e.g. "" or "/digest"
        self.base = public.path.rstrip("/")
        self.limiter = FormRateLimiter(settings.subscribe_rate_per_minute, 60.0)
        self.site = f"{ui_strings(Language.ZH)['site']} / {ui_strings(Language.EN)['site']}"

    # -- helpers ----------------------------------------------------------------------------

    def lang(self, request: Request) -> Language:
        return negotiate_lang(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )

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
        return {"lang_links": self.lang_links(request, lang)}

    def html(
        self,
        page: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        merged = {"Vary": "Accept-Language", **(headers or {})}
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
        home = Link(f"{self.base}/", label("back_home", lang))
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

    def not_found(self, request: Request, lang: Language, key: str, **fmt: object) -> Response:
        return self.message(
            request,
            lang,
            label("not_found_title", lang),
            paras(key, lang, **fmt) + (paras("not_found", lang) if key != "not_found" else []),
            status=404,
            links=[Link(f"{self.base}/search", ui_strings(lang)["search"])],
        )

    def bad_token(self, request: Request, lang: Language, exc: TokenError) -> Response:
        expired = isinstance(exc, ExpiredToken)
        return self.message(
            request,
            lang,
            label("bad_token_title", lang),
            paras("expired_token" if expired else "bad_token", lang),
            status=400,
            headers=NO_STORE,
            links=[Link(f"{self.base}/subscribe", label("subscribe_again", lang))],
        )

    def same_site(self, request: Request) -> bool:
        """A form POST came from this site's own page (the CSRF check; no cookies needed).

        Browsers say where a request comes from in Sec-Fetch-Site; older ones only in
        Origin, which must then be this host or the public URL's. Requests that carry
        neither (curl, mail clients) pass: they cannot ride on a visitor's browser.
        """
        site = request.headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("origin")
        if origin is None:
            return True
        host = urlsplit(origin).netloc.lower()
        return bool(host) and host in {self.public_host, request.headers.get("host", "").lower()}

    def cross_site(self, request: Request, lang: Language) -> Response:
        return self.message(
            request, lang, label("forbidden_title", lang), paras("cross_site", lang), status=403
        )

    async def form(self, request: Request) -> FormData:
        return await request.form(max_files=0, max_fields=20, max_part_size=8 * 1024)

    def token_url(self, kind: str, token: str) -> str:
        return f"{self.base}/{kind}/{quote(token, safe='')}"

    def address_text(self, lang: Language, channel: Channel, address: str) -> str:
        if channel is Channel.EMAIL:
            return address
        return label("telegram_chat", lang, address=address)

    # -- reading ----------------------------------------------------------------------------

    async def archive(self, request: Request) -> Response:
        lang = self.lang(request)
        records = await self.service.published_issues()
        entries = [
            ArchiveEntry(r.week, r.title_zh, r.title_en, len(r.paper_ids), r.published_at)
            for r in records
        ]
        page = render_web_archive(
            entries,
            lang,
            templates=self.service.templates,
            public_url=self.base,
            extra=self.extra(request, lang),
        )
        return self.html(page)

    async def issue(self, request: Request) -> Response:
        lang = self.lang(request)
        raw = str(request.path_params["week"])
        try:
            week = Week.parse(raw)
        except (WeekError, ValueError):
            return self.not_found(request, lang, "week_invalid", week=raw[:40])
        if str(week) != raw:
            return self.redirect(f"/issues/{week}", 301, request.url.query)
        issue = await self.service.published_issue(week)
        if issue is None:
            return self.not_found(request, lang, "issue_not_found", week=str(week))
        page = render_web_issue(
            issue,
            lang,
            templates=self.service.templates,
            public_url=self.base,
            extra=self.extra(request, lang),
        )
        return self.html(page)

    def redirect(self, path: str, status: int, query: str = "") -> Response:
        target = self.base + path + (f"?{query}" if query else "")
        return RedirectResponse(target, status_code=status, headers={"Vary": "Accept-Language"})

    async def paper(self, request: Request) -> Response:
        lang = self.lang(request)
        arxiv_id = str(request.path_params["arxiv_id"])
        paper = self.service.paper(arxiv_id)
        if paper is None or paper.status is not Status.READY:
            versioned = _VERSIONED_ID.fullmatch(arxiv_id)
            plain = self.service.paper(versioned.group(1)) if versioned else None
            if plain is not None and plain.status is Status.READY:
                return self.redirect(paper_path(plain.arxiv_id), 301, request.url.query)
            return self.not_found(request, lang, "paper_not_found", id=arxiv_id[:80])
        weeks = await self.service.issues_of_paper(paper.arxiv_id)
        page = render_web_paper(
            paper,
            lang,
            issue_week=min(weeks) if weeks else None,
            templates=self.service.templates,
            public_url=self.base,
            extra=self.extra(request, lang),
        )
        return self.html(page)

    async def search(self, request: Request) -> Response:
        lang = self.lang(request)
        q = request.query_params.get("q", "")
        try:
            offset = min(max(int(request.query_params.get("offset", "0")), 0), MAX_OFFSET)
        except ValueError:
            offset = 0
        query = self.service.parse_query(q)
        notice: list[Para] = []
        views = []
        prev_url = next_url = None
        if query.kind == "too_long":
            notice = paras("search_too_long", lang)
        elif query.kind == "id":
            found = self.service.paper(query.arxiv_id)
            if found is not None and found.status is Status.READY:
                return self.redirect(paper_path(found.arxiv_id), 303, self.lang_query(request))
            notice = paras("paper_not_found", lang, id=query.arxiv_id)
        elif query.kind != "empty":
            result = self.service.find_papers(query.text, limit=SEARCH_PAGE, offset=offset)
            for number, hit in enumerate(result.hits, start=offset + 1):
                paper = self.service.paper(hit.arxiv_id)
                if paper is not None and paper.status is Status.READY:  # drafts stay private
                    views.append(paper_view(paper, lang, number=number, **self.budgets()))
            if result.total:
                last = offset + len(result.hits)
                total = f"{result.total}" if result.total_exact else f"{result.total}+"
                notice = paras("search_total", lang, total=total)
                if offset or last < result.total:
                    notice += paras("search_range", lang, first=offset + 1, last=last)
                if offset > 0:
                    prev_url = self.search_url(request, q, max(offset - SEARCH_PAGE, 0))
                if last < result.total and last < MAX_OFFSET:
                    next_url = self.search_url(request, q, last)
            else:
                notice = paras("search_none", lang)
        else:
            notice = paras("search_prompt", lang)
        return self.page(
            request,
            "web/search.html.j2",
            lang,
            q=q[: MAX_QUERY * 2],
            papers=views,
            notice=notice,
            prev_url=prev_url,
            next_url=next_url,
            action=f"{self.base}/search",
            lang_param=self.lang_param(request),
        )

    def budgets(self) -> dict[str, int]:
        s = self.service.settings
        return {"zh_chars": s.summary_zh_chars, "en_words": s.summary_en_words}

    def search_url(self, request: Request, q: str, offset: int) -> str:
        params: list[tuple[str, str]] = [("q", q)]
        if offset:
            params.append(("offset", str(offset)))
        if lang := self.lang_param(request):
            params.append(("lang", lang))
        return f"{self.base}/search?{urlencode(params)}"

    @staticmethod
    def lang_param(request: Request) -> str:
        """The ``?lang=`` the visitor chose, if it is one of ours, to carry over."""
        lang = request.query_params.get("lang", "")
        return lang if lang in LANG_CODES else ""

    def lang_query(self, request: Request) -> str:
        lang = self.lang_param(request)
        return urlencode({"lang": lang}) if lang else ""

    async def feed(self, request: Request) -> Response:
        lang = negotiate_lang(request.query_params.get("lang"), None)
        items: list[FeedItem] = []
        for record in (await self.service.published_issues())[:FEED_ISSUES]:
            issue = await self.service.published_issue(record.week)
            if issue is not None:
                items.append(FeedItem(issue, record.published_at))
        body = render_atom(items, lang, public_url=self.public_url, site_title=self.site)
        return Response(body, media_type=ATOM_MEDIA_TYPE)

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe_form(
        self,
        request: Request,
        lang: Language,
        *,
        email: str = "",
        chosen: str | None = None,
        errors: Sequence[Para] = (),
        status: int = 200,
    ) -> Response:
        return self.page(
            request,
            "web/subscribe.html.j2",
            lang,
            status=status,
            headers=NO_STORE,
            intro=paras("subscribe_intro", lang),
            email=email,
            chosen=chosen or lang.value,
            errors=list(errors),
            action=f"{self.base}/subscribe",
        )

    async def subscribe_page(self, request: Request) -> Response:
        return self.subscribe_form(request, self.lang(request))

    async def subscribe(self, request: Request) -> Response:
        lang = self.lang(request)
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.hit(client)
        if wait:
            metrics.record_subscribe("rate_limited")
            return self.message(
                request,
                lang,
                label("too_many_title", lang),
                paras("too_many", lang, seconds=wait),
                status=429,
                headers={"Retry-After": str(wait), **NO_STORE},
            )
        if not self.same_site(request):
            return self.cross_site(request, lang)
        form = await self.form(request)
        raw_email = str(form.get("email") or "").strip()[:400]
        raw_lang = str(form.get("lang") or lang.value)
        errors: list[Para] = []
        if raw_lang not in LANG_CODES:
            errors += paras("lang_invalid", lang)
            raw_lang = lang.value
        try:
            address = normalize_email(raw_email)
        except SubscriberError:
            errors = paras("email_invalid", lang) + errors
        if errors:
            metrics.record_subscribe("invalid")
            return self.subscribe_form(
                request, lang, email=raw_email, chosen=raw_lang, errors=errors, status=400
            )
        metrics.record_subscribe("requested")
        # sent after the answer, so the page and its timing say nothing about the address
        task = BackgroundTask(self.request_subscription, address, Language(raw_lang))
        return self.message(
            request,
            lang,
            label("check_inbox_title", lang),
            paras("check_inbox", lang),
            headers=NO_STORE,
            background=task,
        )

    async def request_subscription(self, address: str, lang: Language) -> None:
        try:
            await self.service.request_email_subscription(address, lang)
        except DigestbotError as exc:
            domain = address.rpartition("@")[2]
            log.warning(
                "subscribe: the confirmation to an address at %s was not sent (%s)",
                domain,
                type(exc).__name__,
            )

    async def confirm_page(self, request: Request) -> Response:
        explicit = request.query_params.get("lang")
        token = str(request.path_params["token"])
        try:
            address, token_lang = self.service.peek_confirm(token)
        except TokenError as exc:
            return self.bad_token(request, self.lang(request), exc)
        lang = self.lang(request) if explicit else token_lang
        return self.page(
            request,
            "web/confirm.html.j2",
            lang,
            headers=NO_STORE,
            heading=label("confirm_title", lang),
            paras=paras("confirm_text", lang, address=address),
            button=label("confirm_button", lang),
            action=self.token_url("confirm", token),
        )

    async def confirm(self, request: Request) -> Response:
        lang = self.lang(request)
        if not self.same_site(request):
            return self.cross_site(request, lang)
        token = str(request.path_params["token"])
        try:
            sub = await self.service.confirm_email(token)
        except TokenError as exc:
            return self.bad_token(request, lang, exc)
        metrics.record_subscribe("confirmed")
        lang = self.lang(request) if request.query_params.get("lang") else sub.lang
        return self.message(
            request,
            lang,
            label("confirmed_title", lang),
            paras("confirmed_text", lang, address=sub.address),
            headers=NO_STORE,
        )

    async def unsubscribe_page(self, request: Request) -> Response:
        lang = self.lang(request)
        token = str(request.path_params["token"])
        try:
            channel, address = await self.service.peek_unsubscribe(token)
        except TokenError as exc:
            return self.bad_token(request, lang, exc)
        return self.page(
            request,
            "web/unsubscribe.html.j2",
            lang,
            headers=NO_STORE,
            heading=label("unsubscribe_title", lang),
            paras=paras(
                "unsubscribe_text", lang, address=self.address_text(lang, channel, address)
            ),
            button=label("unsubscribe_button", lang),
            action=self.token_url("unsubscribe", token),
        )

    async def unsubscribe(self, request: Request) -> Response:
        """The page's button, or an RFC 8058 one-click POST from a mail client: acts at once,
        needs no cookie or form token, and answers 200 again when repeated."""
        lang = self.lang(request)
        token = str(request.path_params["token"])
        one_click = False
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await self.form(request)
            one_click = form.get("List-Unsubscribe") == "One-Click"
        if not one_click and not self.same_site(request):
            return self.cross_site(request, lang)
        try:
            channel, address = await self.service.unsubscribe(token)
        except TokenError as exc:
            return self.bad_token(request, lang, exc)
        metrics.record_subscribe("unsubscribed")
        return self.message(
            request,
            lang,
            label("unsubscribed_title", lang),
            paras("unsubscribed_text", lang, address=self.address_text(lang, channel, address)),
            headers=NO_STORE,
            links=[Link(f"{self.base}/subscribe", label("subscribe_again", lang))],
        )

    # -- operations -------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        ok = await self.service.healthy()
        return JSONResponse(
            {"status": "ok" if ok else "error"}, status_code=200 if ok else 503, headers=NO_STORE
        )

    async def metrics(self, request: Request) -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE, headers=NO_STORE)

    # -- errors -----------------------------------------------------------------------------

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

    async def server_error_handler(self, request: Request, exc: Exception) -> Response:
        return await self.status_page(request.scope, 500)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.archive, methods=["GET"]),
            Route("/issues/{week}", self.issue, methods=["GET"]),
            Route("/papers/{arxiv_id:path}", self.paper, methods=["GET"]),
            Route("/search", self.search, methods=["GET"]),
            Route("/feed.xml", self.feed, methods=["GET"]),
            Route("/subscribe", self.subscribe_page, methods=["GET"]),
            Route("/subscribe", self.subscribe, methods=["POST"]),
            Route("/confirm/{token}", self.confirm_page, methods=["GET"]),
            Route("/confirm/{token}", self.confirm, methods=["POST"]),
            Route("/unsubscribe/{token}", self.unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]


@dataclass(frozen=True, slots=True)
class TelegramWebhook:
    """Where Telegram posts the bot's updates in webhook mode, and who takes them.

    ``secret`` must come back in ``X-Telegram-Bot-Api-Secret-Token`` (set with
    ``setWebhook``); ``feed`` hands one update (the JSON object) to the bot.
    """

    path: str
    secret: str
    feed: Callable[[dict[str, Any]], Awaitable[None]]

    async def endpoint(self, request: Request) -> Response:
        sent = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(sent.encode(), self.secret.encode()):
            log.warning("telegram webhook: a POST without the right secret token was refused")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = await request.json()
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return PlainTextResponse("not a Telegram update", status_code=400)
        await self.feed(update)
        return Response(status_code=200)


def create_app(
    service: Service,
    *,
    manage_lifespan: bool = False,
    telegram_webhook: TelegramWebhook | None = None,
) -> Starlette:
    """The ASGI app over ``service``.

    ``digestbot run`` starts and closes the service itself and serves with lifespan off.
    With ``manage_lifespan=True`` the app's lifespan does it, on the server's own loop
    (tests, or ``uvicorn --factory`` style deployments). ``telegram_webhook``: the bot's
    updates arrive as POSTs to its path (webhook mode).
    """
    web = WebApp(service)
    routes = web.routes()
    if telegram_webhook is not None:
        routes.append(Route(telegram_webhook.path, telegram_webhook.endpoint, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        service.build_index()
        try:
            yield
        finally:
            await service.close()

    return Starlette(
        debug=False,
        routes=routes,
        middleware=[Middleware(Guard, error_page=web.status_page, max_body=MAX_BODY)],
        exception_handlers={
            HTTPException: web.http_error,
            Exception: web.server_error_handler,
        },
        lifespan=lifespan if manage_lifespan else None,
    )
