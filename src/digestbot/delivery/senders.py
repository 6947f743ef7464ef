"""The Sender interface, the content senders send, and the outbox and memory senders."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from digestbot.delivery.ledger import Delivery
from digestbot.models import Channel, Issue, Language
from digestbot.render.email import RenderedEmail, build_message, render_email
from digestbot.render.telegram import render_telegram
from digestbot.render.templates import Templates


@dataclass(frozen=True, slots=True)
class RenderOptions:
    templates: Templates
    zh_chars: int = 120
    en_words: int = 60
    public_url: str = "http://127.0.0.1:8000"
    sender: str = "digestbot <digest@localhost>"
    list_id: str = "weekly-ai-papers"


class Content:
    """One issue, rendered once per (format, language) and personalised per recipient."""

    def __init__(
        self,
        issue: Issue,
        options: RenderOptions,
        unsubscribe_url: Callable[[Channel, str], str],
    ) -> None:
        self.issue = issue
        self.options = options
        self.unsubscribe_url = unsubscribe_url
        self._telegram: dict[Language, list[str]] = {}
        self._email: dict[Language, RenderedEmail] = {}
        host = re.sub(r"^https?://", "", options.public_url).split("/")[0].split(":")[0]
        self.domain = host or "localhost"

    def telegram(self, lang: Language) -> list[str]:
        if lang not in self._telegram:
            self._telegram[lang] = render_telegram(
                self.issue,
                lang,
                templates=self.options.templates,
                zh_chars=self.options.zh_chars,
                en_words=self.options.en_words,
                public_url=self.options.public_url,
            )
        return self._telegram[lang]

    def email(self, lang: Language) -> RenderedEmail:
        if lang not in self._email:
            self._email[lang] = render_email(
                self.issue,
                lang,
                templates=self.options.templates,
                zh_chars=self.options.zh_chars,
                en_words=self.options.en_words,
                public_url=self.options.public_url,
            )
        return self._email[lang]

    def email_message(self, to: str, lang: Language) -> EmailMessage:
        return build_message(
            self.email(lang),
            sender=self.options.sender,
            to=to,
            unsubscribe_url=self.unsubscribe_url(Channel.EMAIL, to),
            list_id=self.options.list_id,
            message_id_domain=self.domain,
            date=None,
        )


Checkpoint = Callable[[int], Awaitable[bool]]


@dataclass(slots=True)
class Job:
    """One claimed delivery handed to a sender.

    ``checkpoint(n)`` must be awaited right before sending part ``n``: it re-checks the
    lease and records that parts ``0..n-1`` went out. False means: stop, another worker
    owns the row now.
    """

    delivery: Delivery
    checkpoint: Checkpoint
    on_migrated: Callable[[str], Awaitable[None]] | None = None
    parts_sent: int = 0


class LeaseLost(Exception):
    """The row's lease moved to another worker; this one must not send it."""


class Sender(Protocol):
    """A transport. ``deliver`` returns the number of parts sent, or raises a DeliveryError."""

    transport: str
    concurrency: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def deliver(self, job: Job, content: Content) -> int: ...


def _safe(name: str) -> str:
    return re.sub(r"[^\w.@+-]", "_", name)


@dataclass(slots=True)
class OutboxSender:
    """Writes what would be sent to files: ``telegram/<chat>/<issue>-<n>.html``, ``mail/*.eml``."""

    root: Path
    transport: str = "outbox"
    concurrency: int = 16
    written: list[Path] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deliver(self, job: Job, content: Content) -> int:
        d = job.delivery
        if d.channel is Channel.TELEGRAM:
            parts = content.telegram(d.lang)
            folder = self.root / "telegram" / _safe(d.address)
            for n in range(d.parts_sent, len(parts)):
                if not await job.checkpoint(n):
                    raise LeaseLost(d.id)
                path = folder / f"{content.issue.week}-{n + 1}.html"
                await asyncio.to_thread(_write, path, parts[n].encode("utf-8"))
                self.written.append(path)
                job.parts_sent = n + 1
            return len(parts)
        if not await job.checkpoint(0):
            raise LeaseLost(d.id)
        msg = content.email_message(d.address, d.lang)
        path = self.root / "mail" / f"{content.issue.week}-{_safe(d.address)}.eml"
        await asyncio.to_thread(_write, path, msg.as_bytes())
        self.written.append(path)
        return 1


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@dataclass(slots=True)
class MemorySender:
    """Keeps what it sends in a list: the fake for tests of the publisher."""

    transport: str = "memory"
    concurrency: int = 16
    sent: list[tuple[str, str, int, str]] = field(default_factory=list)
    fail: Callable[[Delivery], Exception | None] | None = None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deliver(self, job: Job, content: Content) -> int:
        d = job.delivery
        if self.fail is not None:
            exc = self.fail(d)
            if exc is not None:
                raise exc
        if d.channel is Channel.TELEGRAM:
            parts = content.telegram(d.lang)
            for n in range(d.parts_sent, len(parts)):
                if not await job.checkpoint(n):
                    raise LeaseLost(d.id)
                self.sent.append((d.channel.value, d.address, n, parts[n]))
                job.parts_sent = n + 1
            return len(parts)
        if not await job.checkpoint(0):
            raise LeaseLost(d.id)
        msg = content.email_message(d.address, d.lang)
        self.sent.append((d.channel.value, d.address, 0, msg.as_string()))
        return 1
