"""The subscriptions desk of the Service: bot users' languages, Telegram subscribers, and
email subscribe / confirm / preferences / unsubscribe by signed link.

``Service`` inherits these methods (``svc.confirm_email(token)`` …) as it inherits the
editorial and topics desks, so the web and the bot ask the one service. A new
subscriber's first issue (``Service.welcome``) goes through the ledger, so it stays there.
"""

from __future__ import annotations

import logging

from digestbot.db.mail_limits import ConfirmationMailLimits, Verdict
from digestbot.db.repositories import BotUsers
from digestbot.delivery.mailer import Mailer
from digestbot.delivery.senders import mail_domain
from digestbot.metrics import record_subscribe
from digestbot.models import Channel, Language
from digestbot.render.confirm import render_confirmation
from digestbot.render.templates import Templates
from digestbot.settings import Settings
from digestbot.subscribers import (
    ACTIVE,
    PENDING,
    UNSUBSCRIBED,
    Subscriber,
    Subscribers,
    Tokens,
    normalize_email,
)

__all__ = ["SubscriptionDesk"]

log = logging.getLogger("digestbot")


class SubscriptionDesk:
    """Who gets the digest, in which language: the subscriber commands of ``Service``."""

    settings: Settings
    templates: Templates
    subscribers: Subscribers
    bot_users: BotUsers
    tokens: Tokens
    mail_limits: ConfirmationMailLimits
    mailer: Mailer

    # -- bot users and Telegram subscribers ------------------------------------------------

    async def user_lang(self, user_id: str, telegram_code: str | None = None) -> Language:
        """The language a bot user chose with /lang, else their Telegram language, else zh."""
        chosen = await self.bot_users.lang(user_id)
        if chosen is not None:
            return chosen
        if telegram_code and telegram_code.lower().startswith("zh"):
            return Language.ZH
        if telegram_code:
            return Language.EN
        return Language.ZH

    async def set_user_lang(self, user_id: str, lang: Language) -> None:
        await self.bot_users.set_lang(user_id, lang)
        await self.subscribers.set_lang(Channel.TELEGRAM, user_id, lang)

    async def telegram_subscription(self, chat_id: str) -> Subscriber | None:
        """The chat's subscription (any status), or None if it never subscribed."""
        return await self.subscribers.get(Channel.TELEGRAM, chat_id)

    async def subscribe_telegram(self, chat_id: str, lang: Language) -> Subscriber:
        return await self.subscribers.upsert(
            Channel.TELEGRAM, chat_id, lang, ACTIVE, confirmed=True
        )

    async def unsubscribe_telegram(self, chat_id: str) -> bool:
        sub = await self.subscribers.get(Channel.TELEGRAM, chat_id)
        if sub is None or sub.status != ACTIVE:
            return False
        return await self.subscribers.set_status(
            Channel.TELEGRAM, chat_id, UNSUBSCRIBED, "unsubscribed in the bot"
        )

    # -- email subscriptions ---------------------------------------------------------------

    async def request_email_subscription(self, raw_email: str, lang: Language) -> None:
        """Send a confirmation link; the caller answers the same whether or not it exists."""
        address = normalize_email(raw_email)
        existing = await self.subscribers.get(Channel.EMAIL, address)
        if existing is not None and existing.status == ACTIVE:
            return
        await self.subscribers.upsert(Channel.EMAIL, address, lang, PENDING, confirmed=False)
        verdict = await self.mail_limits.admit(address)
        if verdict is not Verdict.SEND:
            level = logging.WARNING if verdict is Verdict.HOURLY_CAP else logging.INFO
            log.log(level, "subscribe: no confirmation mail sent (%s)", verdict.value)
            record_subscribe("mail_limited")
            return
        token = self.tokens.confirm_token(address, lang)
        url = f"{self.settings.public_url}/confirm/{token}"
        msg = render_confirmation(
            address,
            lang,
            url,
            templates=self.templates,
            sender=self.settings.smtp.sender,
            domain=mail_domain(self.settings.public_url),
        )
        await self.mailer.send(msg)

    async def confirm_email(self, token: str) -> tuple[Subscriber, bool]:
        """Activate the address of a confirm link: (subscriber, True if it was confirmed
        now; False if it already was)."""
        address, lang = self.tokens.read_confirm(token)
        existing = await self.subscribers.get(Channel.EMAIL, address)
        if existing is not None and existing.status == ACTIVE:
            return existing, False
        sub = await self.subscribers.upsert(Channel.EMAIL, address, lang, ACTIVE, confirmed=True)
        return sub, True

    async def preferences(self, token: str) -> tuple[Channel, str, Subscriber | None]:
        """Whose preferences a subscriber's link (the unsubscribe token) opens, and their
        subscription if there is one."""
        channel, address = self.tokens.read_unsubscribe(token)
        return channel, address, await self.subscribers.get(channel, address)

    async def save_preferences(self, token: str, lang: Language) -> Subscriber | None:
        """Save what the preferences page sends (the language); None if the link's address
        has no subscription."""
        channel, address = self.tokens.read_unsubscribe(token)
        if not await self.subscribers.set_lang(channel, address, lang):
            return None
        return await self.subscribers.get(channel, address)

    async def peek_unsubscribe(self, token: str) -> tuple[Channel, str]:
        """Check an unsubscribe token without acting (GET shows a button; POST acts)."""
        return self.tokens.read_unsubscribe(token)

    async def unsubscribe(self, token: str) -> tuple[Channel, str]:
        channel, address = self.tokens.read_unsubscribe(token)
        sub = await self.subscribers.get(channel, address)
        if sub is not None and sub.status == ACTIVE:
            await self.subscribers.set_status(
                channel, address, UNSUBSCRIBED, "unsubscribed by link"
            )
        return channel, address

    async def peek_confirm(self, token: str) -> tuple[str, Language, bool]:
        """Check a confirmation token without acting (GET shows the page; POST confirms):
        its address, language, and whether that address is already confirmed."""
        address, lang = self.tokens.read_confirm(token)
        sub = await self.subscribers.get(Channel.EMAIL, address)
        return address, lang, sub is not None and sub.status == ACTIVE
