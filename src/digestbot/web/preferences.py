"""The preferences route: ``/preferences/<token>``, a subscriber's language, the topics
they follow (and "only my topics") and a way out, reached from the footer of every email.

The token is the signed one of the subscriber's unsubscribe link: whoever may unsubscribe
an address may choose its language. GET shows the form; POST saves it.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digestbot.errors import TokenError
from digestbot.models import Channel, Language
from digestbot.subscribers import ACTIVE, Subscriber
from digestbot.web.language import LANG_CODES
from digestbot.web.pages import NO_STORE
from digestbot.web.strings import Para, paras
from digestbot.web.subscriptions import Subscriptions

__all__ = ["Preferences"]


class Preferences:
    """A subscriber's own page; shares the token, same-site and form handling of
    :class:`Subscriptions`."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions
        self.pages = subscriptions.pages
        self.service = subscriptions.service

    def routes(self) -> list[Route]:
        return [
            Route("/preferences/{token}", self.show, methods=["GET"]),
            Route("/preferences/{token}", self.save, methods=["POST"]),
        ]

    def page_lang(self, request: Request, sub: Subscriber | None) -> Language:
        """``?lang=`` when the link has one, else the subscription's language."""
        if request.query_params.get("lang") or sub is None:
            return self.pages.lang(request)
        return sub.lang

    def form(
        self,
        request: Request,
        token: str,
        address: str,
        sub: Subscriber | None,
        *,
        saved: bool = False,
        errors: Sequence[Para] = (),
        status: int = 200,
        followed: frozenset[str] = frozenset(),
        only_mine: bool = False,
    ) -> Response:
        lang = self.page_lang(request, sub)
        subs = self.subscriptions
        shown = subs.address_text(lang, sub.channel, address) if sub else address
        return self.pages.page(
            request,
            "web/preferences.html.j2",
            lang,
            status=status,
            headers=NO_STORE,
            intro=paras("preferences_text", lang, address=shown),
            chosen=(sub.lang if sub else lang).value,
            saved=saved,
            errors=list(errors),
            action=subs.token_url("preferences", token),
            active=sub is not None and sub.status == ACTIVE,
            unsubscribe_action=f"{subs.token_url('unsubscribe', token)}?lang={lang.value}",
            not_subscribed=paras("not_subscribed", lang, address=shown),
            subscribe_url=self.pages.href("/subscribe", lang),
            bot_url=self.service.settings.telegram.bot_url,
            # the topic checklist, for email subscriptions (Telegram readers use /follow)
            topic_choices=[
                (t.slug, t.name(lang), t.slug in followed) for t in self.service.topics()
            ]
            if sub is not None and sub.channel is Channel.EMAIL
            else [],
            only_mine=only_mine,
        )

    async def topic_state(self, sub: Subscriber | None) -> tuple[frozenset[str], bool]:
        if sub is None or sub.channel is not Channel.EMAIL:
            return frozenset(), False
        return await self.service.email_topics(sub.address)

    async def show(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            _channel, address, sub = await self.service.preferences(token)
        except TokenError as exc:
            return self.subscriptions.bad_token(request, self.pages.lang(request), exc)
        followed, only_mine = await self.topic_state(sub)
        return self.form(request, token, address, sub, followed=followed, only_mine=only_mine)

    async def save(self, request: Request) -> Response:
        lang = self.pages.lang(request)
        if not self.subscriptions.same_site(request):
            return self.subscriptions.cross_site(request, lang)
        token = str(request.path_params["token"])
        try:
            _channel, address, sub = await self.service.preferences(token)
        except TokenError as exc:
            return self.subscriptions.bad_token(request, lang, exc)
        form = await self.subscriptions.form(request)
        raw = str(form.get("lang") or "")
        if raw not in LANG_CODES:
            errors = paras("lang_invalid", self.page_lang(request, sub))
            followed, only_mine = await self.topic_state(sub)
            return self.form(
                request,
                token,
                address,
                sub,
                errors=errors,
                status=400,
                followed=followed,
                only_mine=only_mine,
            )
        saved = await self.service.save_preferences(token, Language(raw))
        if saved is not None and saved.channel is Channel.EMAIL:
            slugs = frozenset(str(v) for v in form.getlist("topic"))
            await self.service.save_email_topics(
                saved.address, slugs, form.get("only_mine") == "on", saved.lang
            )
        followed, only_mine = await self.topic_state(saved or sub)
        return self.form(
            request,
            token,
            address,
            saved or sub,
            saved=saved is not None,
            followed=followed,
            only_mine=only_mine,
        )
