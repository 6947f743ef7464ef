"""The email subscription routes: ``/subscribe``, ``/confirm/<token>``, ``/unsubscribe/<token>``.

GET shows a page with a form or a button; POST acts. Every POST passes the same-site check
(no cookies needed), except an RFC 8058 one-click unsubscribe from a mail client.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digestbot import metrics
from digestbot.errors import DigestbotError, ExpiredToken, SubscriberError, TokenError
from digestbot.models import Channel, Destination, Language
from digestbot.subscribers import Subscriber, normalize_email
from digestbot.web.clientaddr import client_address
from digestbot.web.formlimit import FormRateLimiter
from digestbot.web.guard import CSP
from digestbot.web.pages import LANG_CODES, NO_STORE, Link, Pages
from digestbot.web.strings import Para, label, paras

__all__ = ["Subscriptions"]

log = logging.getLogger("digestbot.web")

#: the confirm page's one script: it presses the page's button once the page has loaded
AUTO_SUBMIT = 'document.getElementById("action-form").submit();'
AUTO_SUBMIT_CSP = (
    CSP
    + "; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(AUTO_SUBMIT.encode()).digest()).decode()
    + "'"
)


class Subscriptions:
    """Subscribe, confirm and unsubscribe by email; holds only the form rate limiter's memory."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.service = pages.service
        self.limiter = FormRateLimiter(pages.service.settings.subscribe_rate_per_minute, 60.0)
        self.proxies = pages.service.settings.http.trusted_networks

    def routes(self) -> list[Route]:
        return [
            Route("/subscribe", self.subscribe_page, methods=["GET"]),
            Route("/subscribe", self.subscribe, methods=["POST"]),
            Route("/confirm/{token}", self.confirm_page, methods=["GET"]),
            Route("/confirm/{token}", self.confirm, methods=["POST"]),
            Route("/unsubscribe/{token}", self.unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=["POST"]),
        ]

    # -- helpers ----------------------------------------------------------------------------

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
        return bool(host) and host in {
            self.pages.public_host,
            request.headers.get("host", "").lower(),
        }

    def cross_site(self, request: Request, lang: Language) -> Response:
        return self.pages.message(
            request, lang, label("forbidden_title", lang), paras("cross_site", lang), status=403
        )

    def bad_token(self, request: Request, lang: Language, exc: TokenError) -> Response:
        expired = isinstance(exc, ExpiredToken)
        return self.pages.message(
            request,
            lang,
            label("bad_token_title", lang),
            paras("expired_token" if expired else "bad_token", lang),
            status=400,
            headers=NO_STORE,
            links=[Link(self.pages.href("/subscribe", lang), label("subscribe_again", lang))],
        )

    async def form(self, request: Request) -> FormData:
        return await request.form(max_files=0, max_fields=20, max_part_size=8 * 1024)

    def token_url(self, kind: str, token: str) -> str:
        return f"{self.pages.base}/{kind}/{quote(token, safe='')}"

    def address_text(self, lang: Language, channel: Channel, address: str) -> str:
        if channel is Channel.EMAIL:
            return address
        return label("telegram_chat", lang, address=address)

    # -- subscribe --------------------------------------------------------------------------

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
        return self.pages.page(
            request,
            "web/subscribe.html.j2",
            lang,
            status=status,
            headers=NO_STORE,
            intro=paras("subscribe_intro", lang),
            email=email,
            chosen=chosen or lang.value,
            errors=list(errors),
            action=self.pages.href("/subscribe", lang),
        )

    async def subscribe_page(self, request: Request) -> Response:
        return self.subscribe_form(request, self.pages.lang(request))

    async def subscribe(self, request: Request) -> Response:
        lang = self.pages.lang(request)
        wait = self.limiter.hit(client_address(request, self.proxies))
        if wait:
            metrics.record_subscribe("rate_limited")
            return self.pages.message(
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
        return self.pages.message(
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

    # -- confirm ----------------------------------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        """The confirm link: a page that confirms in one click in a browser (a script
        submits its form; a ``<noscript>`` button stays), so a link scanner's fetch that
        runs no script confirms nothing. A link already used says so."""
        explicit = request.query_params.get("lang")
        token = str(request.path_params["token"])
        try:
            address, token_lang, confirmed = await self.service.peek_confirm(token)
        except TokenError as exc:
            return self.bad_token(request, self.pages.lang(request), exc)
        lang = self.pages.lang(request) if explicit else token_lang
        if confirmed:
            return self.already_confirmed(request, lang, address)
        return self.pages.page(
            request,
            "web/confirm.html.j2",
            lang,
            headers={**NO_STORE, "Content-Security-Policy": AUTO_SUBMIT_CSP},
            heading=label("confirm_title", lang),
            paras=paras("confirm_text", lang, address=address),
            button=label("confirm_button", lang),
            action=self.token_url("confirm", token),
            auto_submit=AUTO_SUBMIT,
            working=label("confirming", lang),
        )

    def already_confirmed(self, request: Request, lang: Language, address: str) -> Response:
        return self.pages.message(
            request,
            lang,
            label("already_confirmed_title", lang),
            paras("already_confirmed", lang, address=address),
            headers=NO_STORE,
        )

    async def confirm(self, request: Request) -> Response:
        lang = self.pages.lang(request)
        if not self.same_site(request):
            return self.cross_site(request, lang)
        token = str(request.path_params["token"])
        try:
            sub, now = await self.service.confirm_email(token)
        except TokenError as exc:
            return self.bad_token(request, lang, exc)
        lang = self.pages.lang(request) if request.query_params.get("lang") else sub.lang
        if not now:
            return self.already_confirmed(request, lang, sub.address)
        metrics.record_subscribe("confirmed")
        welcome = bool(await self.service.published_issues())
        return self.pages.message(
            request,
            lang,
            label("confirmed_title", lang),
            paras("confirmed_welcome" if welcome else "confirmed_text", lang, address=sub.address),
            headers=NO_STORE,
            # sent after the answer: the page does not wait for the mail server
            background=BackgroundTask(self.send_latest_issue, sub) if welcome else None,
        )

    async def send_latest_issue(self, sub: Subscriber) -> None:
        try:
            week = await self.service.welcome(
                Destination(sub.channel, sub.address, sub.lang, sub.id)
            )
        except DigestbotError as exc:
            log.warning("confirm: the latest issue was not sent (%s)", type(exc).__name__)
        else:
            log.info("confirm: a new subscriber was sent %s", week or "nothing (already had it)")

    # -- unsubscribe ------------------------------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        lang = self.pages.lang(request)
        token = str(request.path_params["token"])
        try:
            channel, address = await self.service.peek_unsubscribe(token)
        except TokenError as exc:
            return self.bad_token(request, lang, exc)
        return self.pages.page(
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
        lang = self.pages.lang(request)
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
        return self.pages.message(
            request,
            lang,
            label("unsubscribed_title", lang),
            paras("unsubscribed_text", lang, address=self.address_text(lang, channel, address)),
            headers=NO_STORE,
            links=[Link(self.pages.href("/subscribe", lang), label("subscribe_again", lang))],
        )
