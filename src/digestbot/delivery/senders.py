"""The Sender interface, the content senders send, and the outbox and memory senders."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import random
import re
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from digestbot.delivery.ledger import Delivery
from digestbot.models import Channel, Issue, Language
from digestbot.render.email import (
    POLICY,
    PREFERENCES_PLACEHOLDER,
    UNSUBSCRIBE_PLACEHOLDER,
    RenderedEmail,
    build_message,
    check_header,
    render_email,
)
from digestbot.render.telegram import TelegramPost, render_telegram_post
from digestbot.render.telegram_post import IssueButton
from digestbot.render.templates import Templates

MINE_FIRST = "*"
"""In a reader's picks: the ids before it come first, the rest of the issue follows."""


@dataclass(frozen=True, slots=True)
class RenderOptions:
    templates: Templates
    zh_chars: int = 120
    en_words: int = 60
    public_url: str = "http://127.0.0.1:8000"
    sender: str = "digestbot <digest@localhost>"
    list_id: str = "weekly-ai-papers"
    bot_url: str = ""


def mail_domain(public_url: str) -> str:
    """The host of the public URL, used after the @ of Message-IDs and in List-Id."""
    host = re.sub(r"^https?://", "", public_url).split("/")[0].split(":")[0]
    return host or "localhost"


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
        self._telegram: dict[Language, TelegramPost] = {}
        self._email: dict[Language, RenderedEmail] = {}
        self._templates: dict[Language, _EmailTemplate] = {}
        self.domain = mail_domain(options.public_url)
        self.picks: dict[str, tuple[str, ...]] = {}
        """Follower chat → the ids of this issue's papers their topics matched."""
        self.email_picks: dict[str, tuple[str, ...]] = {}
        """Email address → the ids of the papers its mail carries ("only my topics"), or its
        topics' papers, :data:`MINE_FIRST`, then the rest (the whole issue, theirs first)."""
        self._personal: dict[tuple[tuple[str, ...], Language], list[str]] = {}
        self._personal_mail: dict[tuple[tuple[str, ...], Language], _EmailTemplate] = {}

    def personal_issue(self, ids: tuple[str, ...]) -> Issue:
        """The issue cut down to the papers ``ids``, under a line that says why they came;
        or, when ``ids`` holds :data:`MINE_FIRST`, the whole issue with the papers before
        it (the reader's topics) first."""
        if MINE_FIRST in ids:
            mine = set(ids[: ids.index(MINE_FIRST)])
            first = tuple(p for p in self.issue.papers if p.arxiv_id in mine)
            rest = tuple(p for p in self.issue.papers if p.arxiv_id not in mine)
            n = len(first)
            return replace(
                self.issue,
                papers=first + rest,
                intro_zh=f"与你关注的主题相关的 {n} 篇论文排在最前面。",
                intro_en=(
                    f"The {n} papers that match what you follow come first."
                    if n != 1
                    else "The paper that matches what you follow comes first."
                ),
            )
        wanted = set(ids)
        papers = tuple(p for p in self.issue.papers if p.arxiv_id in wanted)
        n = len(papers)
        return replace(
            self.issue,
            papers=papers,
            intro_zh=f"本期有 {n} 篇论文与你关注的主题相关：",
            intro_en=(
                f"{n} papers of this issue match what you follow:"
                if n != 1
                else "1 paper of this issue matches what you follow:"
            ),
        )

    def telegram_parts(self, delivery: Delivery) -> list[str]:
        """What one Telegram row sends: the issue, or for a personal (topics) row the
        follower's papers of it under a line that says why they came."""
        if delivery.channel is not Channel.TOPICS:
            return self.telegram(delivery.lang)
        ids = self.picks.get(delivery.address, ())
        key = (ids, delivery.lang)
        if key not in self._personal:
            self._personal[key] = list(
                render_telegram_post(
                    self.personal_issue(ids),
                    delivery.lang,
                    templates=self.options.templates,
                    zh_chars=self.options.zh_chars,
                    en_words=self.options.en_words,
                    public_url=self.options.public_url,
                ).messages
            )
        return self._personal[key]

    def telegram(self, lang: Language) -> list[str]:
        """The issue's Telegram messages in ``lang``."""
        return list(self._telegram_post(lang).messages)

    def telegram_button(self, lang: Language) -> IssueButton | None:
        """The button the last Telegram message carries (to the web issue), if any."""
        return self._telegram_post(lang).button

    def _telegram_post(self, lang: Language) -> TelegramPost:
        if lang not in self._telegram:
            self._telegram[lang] = render_telegram_post(
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
                bot_url=self.options.bot_url,
            )
        return self._email[lang]

    def email_message(self, to: str, lang: Language) -> EmailMessage:
        """``to``'s message: what :func:`build_message` makes, from a per-language template.

        Building each recipient's message with the email package's header registry and
        content manager cost about 2 ms of CPU, the largest share of a fan-out; the
        template does it in a fraction of that. See :class:`_EmailTemplate`.
        """
        return self._template(lang, to).message(to, self.unsubscribe_url(Channel.EMAIL, to))

    def _template(self, lang: Language, to: str = "") -> _EmailTemplate:
        ids = self.email_picks.get(to)
        if ids is not None:  # a reader of topics: just their papers, or theirs first
            personal = self._personal_mail.get((ids, lang))
            if personal is None:
                rendered = render_email(
                    self.personal_issue(ids),
                    lang,
                    templates=self.options.templates,
                    zh_chars=self.options.zh_chars,
                    en_words=self.options.en_words,
                    public_url=self.options.public_url,
                )
                personal = _EmailTemplate.of(rendered, self.options, self.domain)
                self._personal_mail[(ids, lang)] = personal
            return personal
        template = self._templates.get(lang)
        if template is None:
            template = self._templates[lang] = _EmailTemplate.of(
                self.email(lang), self.options, self.domain
            )
        return template

    def email_wire(self, to: str, lang: Language) -> bytes:
        """``email_message(to, lang).as_bytes()``, without the email package's generator."""
        return self._template(lang, to).wire(to, self.unsubscribe_url(Channel.EMAIL, to))


_DOT_ATOM_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
_PERSONAL = frozenset({"To", "Date", "Message-ID", "List-Unsubscribe", "Content-Type"})
_MAX_LINE = POLICY.max_line_length or 78


def _folded(name: str, value: str) -> str:
    """``value`` (a string or a parsed header) as the generator writes it, minus the name."""
    line: str = POLICY.fold(name, value)
    return line[len(name) + 2 : -len(POLICY.linesep)]


def _short(name: str, value: str) -> str:
    """``value`` as is when the registry would write it unchanged, else folded."""
    if value.isascii() and len(name) + 2 + len(value) <= _MAX_LINE:
        return value
    return _folded(name, value)


def _encode_body(body: str, cte: str) -> tuple[str, str]:
    """(transfer encoding, payload), as the content manager would encode ``body``."""
    lines = body.encode("utf-8").splitlines()
    if cte == "7bit":
        if all(len(x) <= _MAX_LINE and x.isascii() for x in lines):
            return cte, b"\n".join(lines).decode("ascii") + "\n"
        cte = "quoted-printable"
    if cte == "base64":
        return cte, base64.encodebytes(b"\r\n".join(lines) + b"\r\n").decode("ascii")
    return "quoted-printable", binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode(
        "ascii"
    )


_BASE64_LINE = 57
"""Bytes per line of ``base64.encodebytes`` output (76 characters)."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One alternative of a language's email, its shared head encoded once.

    Only the lines from the first recipient placeholder on differ between recipients.
    Quoted-printable encodes line by line and base64 in 57-byte groups, so the encoded
    head (the lines before it; for base64, whole groups of them) followed by the encoded
    rest is the encoding of the whole body, as :func:`_encode_body` would make it.
    """

    subtype: str
    cte: str
    head: str
    """The encoded payload of the shared head ("" when nothing is shared)."""
    carry: bytes
    """base64: the head's bytes after its last whole 57-byte group, encoded with the rest."""
    cut: int
    """Where the personalised rest of the template's body starts (0: the whole body)."""

    @classmethod
    def of(cls, subtype: str, cte: str, body: str) -> _Part:
        first = min(
            (
                i
                for i in (body.find(UNSUBSCRIBE_PLACEHOLDER), body.find(PREFERENCES_PLACEHOLDER))
                if i >= 0
            ),
            default=-1,
        )
        if cte not in ("base64", "quoted-printable") or first < 0:
            return cls(subtype, cte, "", b"", 0)
        cut = body.rfind("\n", 0, first) + 1
        lines = body[:cut].encode("utf-8").splitlines()
        if cte == "base64":
            data = b"\r\n".join(lines) + b"\r\n" if lines else b""
            whole = len(data) // _BASE64_LINE * _BASE64_LINE
            return cls(
                subtype, cte, base64.encodebytes(data[:whole]).decode("ascii"), data[whole:], cut
            )
        head = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True) if lines else b""
        return cls(subtype, cte, head.decode("ascii"), b"", cut)

    def encode(self, rest: str) -> tuple[str, str, str]:
        """(subtype, transfer encoding, payload) of the body whose part from ``cut`` on
        is ``rest`` (the whole body when ``cut`` is 0)."""
        if not self.head and not self.carry:
            return (self.subtype, *_encode_body(rest, self.cte))
        lines = rest.encode("utf-8").splitlines()
        if self.cte == "base64":
            data = self.carry + b"\r\n".join(lines) + b"\r\n"
            return self.subtype, self.cte, self.head + base64.encodebytes(data).decode("ascii")
        tail = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode("ascii")
        return self.subtype, self.cte, self.head + tail


@dataclass(frozen=True, slots=True)
class _EmailTemplate:
    """One language's issue email with the recipient's parts left open.

    Made from a :func:`build_message` reference, so the headers, their order and folding,
    the parts and their transfer encodings are build_message's. Each recipient's message
    stores the shared headers pre-folded (``set_raw``: no header parsing), and its own To,
    Date, Message-ID and List-Unsubscribe, and encodes its two personalised bodies with
    the C codecs (``binascii``) instead of the pure-Python quoted-printable encoder.
    """

    rendered: RenderedEmail
    """The bodies from each part's ``cut`` on (the whole bodies where nothing is cut)."""
    headers: tuple[tuple[str, str | None], ...]
    """(name, pre-folded value), None for a per-recipient header, in build_message's order."""
    parts: tuple[_Part, _Part]
    """The alternatives: plain text, then HTML."""
    domain: str

    @classmethod
    def of(cls, rendered: RenderedEmail, options: RenderOptions, domain: str) -> _EmailTemplate:
        reference = build_message(  # validates the sender, the list id and the domain
            rendered,
            sender=options.sender,
            to="reader@example.invalid",
            unsubscribe_url=f"{options.public_url}/unsubscribe/reference",
            list_id=options.list_id,
            message_id_domain=domain,
        )
        headers = tuple(
            (name, None if name in _PERSONAL else _folded(name, value))
            for name, value in reference.items()
        )
        kinds = [
            (part.get_content_subtype(), str(part["Content-Transfer-Encoding"]))
            for part in reference.iter_parts()
        ]
        assert [k[0] for k in kinds] == ["plain", "html"], kinds
        text = _Part.of(*kinds[0], rendered.text)
        html = _Part.of(*kinds[1], rendered.html)
        rest = replace(rendered, text=rendered.text[text.cut :], html=rendered.html[html.cut :])
        return cls(rest, headers, (text, html), domain)

    def recipient(
        self,
        to: str,
        unsubscribe_url: str,
        *,
        date: dt.datetime | None = None,
        message_id: str | None = None,
    ) -> _Recipient:
        """What differs per recipient: their headers and their two encoded bodies."""
        check_header("To", to)
        check_header("unsubscribe_url", unsubscribe_url)
        bodies = self.rendered.personalize(unsubscribe_url)
        encoded = tuple(part.encode(body) for part, body in zip(self.parts, bodies, strict=True))
        boundary = _boundary(payload for _s, _c, payload in encoded)
        personal = {
            "To": to if _DOT_ATOM_ADDRESS.fullmatch(to) and len(to) <= 70 else _folded("To", to),
            "Date": format_datetime(date or dt.datetime.now(dt.UTC)),
            "Message-ID": _short("Message-ID", message_id or make_msgid(domain=self.domain)),
            "List-Unsubscribe": f"<{unsubscribe_url}>",  # never folded: see render.email.POLICY
            "Content-Type": f'multipart/alternative;{POLICY.linesep} boundary="{boundary}"',
        }
        headers = tuple(
            (name, personal[name] if value is None else value) for name, value in self.headers
        )
        return _Recipient(headers, encoded, boundary)

    def message(self, to: str, unsubscribe_url: str) -> EmailMessage:
        return self.recipient(to, unsubscribe_url).message()

    def wire(self, to: str, unsubscribe_url: str) -> bytes:
        return self.recipient(to, unsubscribe_url).wire()


@dataclass(frozen=True, slots=True)
class _Recipient:
    headers: tuple[tuple[str, str], ...]
    """(name, value as written on the wire), in build_message's order."""
    parts: tuple[tuple[str, str, str], ...]
    """(subtype, transfer encoding, encoded payload with LF line ends)."""
    boundary: str

    def message(self) -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        for name, value in self.headers:
            msg.set_raw(name, value)
        for subtype, cte, payload in self.parts:
            part = EmailMessage(policy=POLICY)
            part.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
            part.set_raw("Content-Transfer-Encoding", cte)
            part.set_payload(payload)
            msg.attach(part)
        return msg

    def wire(self) -> bytes:
        """The bytes ``message().as_bytes()`` gives, written directly (CRLF line ends;
        UTF-8 where an internationalised address is in To, for an SMTPUTF8 server).

        Serialising with the email package's generator cost as much CPU as everything
        else a recipient needs; the tests hold the two byte for byte equal.
        """
        crlf = "\r\n"
        out = [f"{name}: {value}{crlf}" for name, value in self.headers]
        out.append(crlf)
        for subtype, cte, payload in self.parts:
            out.append(
                f"--{self.boundary}{crlf}"
                f'Content-Type: text/{subtype}; charset="utf-8"{crlf}'
                f"Content-Transfer-Encoding: {cte}{crlf}{crlf}"
            )
            out.append(payload.replace("\n", crlf))
            out.append(crlf)
        out.append(f"--{self.boundary}--{crlf}")
        return "".join(out).encode("utf-8")


_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


def _boundary(payloads: Iterable[str]) -> str:
    """A MIME boundary like the generator's, checked against the encoded bodies."""
    texts = list(payloads)
    while True:
        token = random.randrange(sys.maxsize)
        boundary = "=" * 15 + f"{token:0{_BOUNDARY_WIDTH}d}" + "=="
        if not any(boundary in t for t in texts):
            return boundary


Checkpoint = Callable[[int], Awaitable[bool]]


@dataclass(slots=True)
class Job:
    """One claimed delivery handed to a sender.

    ``checkpoint(n)`` must be awaited right before sending part ``n``: it re-checks the
    lease and records that parts ``0..n-1`` went out. False means: stop, another worker
    owns the row now. ``on_sent(n)``, when given, records that parts ``0..n-1`` went out
    as soon as part ``n-1`` is acknowledged, so a crash while a multi-part delivery waits
    for its next turn (Telegram's per-chat pacing) doesn't resend an acknowledged part.
    """

    delivery: Delivery
    checkpoint: Checkpoint
    on_migrated: Callable[[str], Awaitable[None]] | None = None
    parts_sent: int = 0
    on_sent: Checkpoint | None = None


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
        if d.channel is not Channel.EMAIL:
            parts = content.telegram_parts(d)
            folder = self.root / "telegram" / _safe(d.address)
            personal = "-topics" if d.channel is Channel.TOPICS else ""
            for n in range(d.parts_sent, len(parts)):
                if not await job.checkpoint(n):
                    raise LeaseLost(d.id)
                path = folder / f"{content.issue.week}{personal}-{n + 1}.html"
                await asyncio.to_thread(write_atomically, path, parts[n].encode("utf-8"))
                self.written.append(path)
                job.parts_sent = n + 1
            return len(parts)
        if not await job.checkpoint(0):
            raise LeaseLost(d.id)
        data = content.email_wire(d.address, d.lang)
        path = self.root / "mail" / f"{content.issue.week}-{_safe(d.address)}.eml"
        await asyncio.to_thread(write_atomically, path, data)
        self.written.append(path)
        return 1


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file of one fixed, hidden name
    (a write cut short is replaced by the next), then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
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
        if d.channel is not Channel.EMAIL:
            parts = content.telegram_parts(d)
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
