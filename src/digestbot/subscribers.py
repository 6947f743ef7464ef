"""Subscribers: add, confirm, unsubscribe, deactivate, bulk import/export, and signed tokens."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from digestbot.db.tables import subscribers
from digestbot.db.upsert import upsert
from digestbot.errors import ExpiredToken, SubscriberError, TokenError
from digestbot.models import Channel, Destination, Language

PENDING = "pending"
ACTIVE = "active"
UNSUBSCRIBED = "unsubscribed"
BOUNCED = "bounced"
BLOCKED = "blocked"

HARD_BOUNCE_LIMIT = 3


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_email(raw: str) -> str:
    """A deliverable-looking address, lower-cased domain; no CR/LF or other header tricks."""
    if any(c in raw for c in "\r\n\t\x00") or len(raw) > 320:
        raise SubscriberError(f"{raw!r} is not an email address: control characters or too long")
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{raw.strip()!r} is not a valid email address: {exc}") from None
    local, _, domain = info.normalized.rpartition("@")
    return f"{local}@{domain.lower()}"


def parse_lang(raw: str | None, default: Language = Language.BOTH) -> Language:
    if raw is None or not raw.strip():
        return default
    try:
        return Language.parse(raw)
    except ValueError as exc:
        raise SubscriberError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    channel: Channel
    address: str
    lang: Language
    status: str
    reason: str | None
    bounces: int
    created_at: dt.datetime
    confirmed_at: dt.datetime | None


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)


def _row(r: Any) -> Subscriber:
    return Subscriber(
        id=r.id,
        channel=Channel(r.channel),
        address=r.address,
        lang=Language(r.lang),
        status=r.status,
        reason=r.reason,
        bounces=r.bounces,
        created_at=r.created_at,
        confirmed_at=r.confirmed_at,
    )


class Tokens:
    """Signed, URL-safe tokens for confirm and unsubscribe links (itsdangerous, HMAC-SHA1)."""

    def __init__(self, secret: str, confirm_max_age: float) -> None:
        self._confirm = URLSafeTimedSerializer(secret, salt="digestbot.confirm")
        self._unsub = URLSafeTimedSerializer(secret, salt="digestbot.unsubscribe")
        self.confirm_max_age = int(confirm_max_age)

    def confirm_token(self, email: str, lang: Language) -> str:
        return self._confirm.dumps([email, lang.value])

    def read_confirm(self, token: str) -> tuple[str, Language]:
        try:
            email, lang = self._confirm.loads(token, max_age=self.confirm_max_age)
            if not isinstance(email, str):
                raise TypeError(email)
            return email, Language(lang)  # a signed payload of the wrong shape is invalid too
        except SignatureExpired:
            raise ExpiredToken("this confirmation link has expired: subscribe again") from None
        except (BadSignature, ValueError, TypeError):
            raise TokenError("this link is not valid: it was changed or cut short") from None

    def unsubscribe_token(self, channel: Channel, address: str) -> str:
        return self._unsub.dumps([channel.value, address])

    def read_unsubscribe(self, token: str) -> tuple[Channel, str]:
        try:
            channel, address = self._unsub.loads(token)
            if not isinstance(address, str):
                raise TypeError(address)
            return Channel(channel), address
        except (BadSignature, ValueError, TypeError):
            raise TokenError("this link is not valid: it was changed or cut short") from None


class Subscribers:
    """The subscribers table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, channel: Channel, address: str) -> Subscriber | None:
        async with self.engine.connect() as conn:
            r = (
                await conn.execute(
                    select(subscribers).where(
                        subscribers.c.channel == channel.value, subscribers.c.address == address
                    )
                )
            ).first()
        return _row(r) if r else None

    async def upsert(
        self, channel: Channel, address: str, lang: Language, status: str, *, confirmed: bool
    ) -> Subscriber:
        """Create or update one subscriber; activating clears bounces and the old reason."""
        now = utcnow()
        values: dict[str, Any] = {
            "channel": channel.value,
            "address": address,
            "lang": lang.value,
            "status": status,
            "bounces": 0,
            "created_at": now,
            "updated_at": now,
            "confirmed_at": now if confirmed else None,
        }
        update_values: dict[str, Any] = {"lang": lang.value, "status": status, "updated_at": now}
        if status == ACTIVE:
            update_values.update(bounces=0, reason=None)
        if confirmed:
            update_values["confirmed_at"] = now
        stmt = upsert(
            self.engine, subscribers, key=["channel", "address"], set_=update_values
        ).values(**values)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
        sub = await self.get(channel, address)
        assert sub is not None
        return sub

    async def set_status(
        self, channel: Channel, address: str, status: str, reason: str | None = None
    ) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(subscribers)
                .where(subscribers.c.channel == channel.value, subscribers.c.address == address)
                .values(status=status, reason=reason, updated_at=utcnow())
            )
        return result.rowcount > 0

    async def set_lang(self, channel: Channel, address: str, lang: Language) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(subscribers)
                .where(subscribers.c.channel == channel.value, subscribers.c.address == address)
                .values(lang=lang.value, updated_at=utcnow())
            )
        return result.rowcount > 0

    async def change_address(self, channel: Channel, old: str, new: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(subscribers)
                .where(subscribers.c.channel == channel.value, subscribers.c.address == old)
                .values(address=new, updated_at=utcnow())
            )

    async def record_bounce(self, address: str, reason: str) -> bool:
        """Count a hard bounce; the third deactivates the address. True if deactivated now."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(subscribers)
                .where(
                    subscribers.c.channel == Channel.EMAIL.value,
                    subscribers.c.address == address,
                )
                .values(bounces=subscribers.c.bounces + 1, reason=reason, updated_at=utcnow())
            )
            result = await conn.execute(
                update(subscribers)
                .where(
                    subscribers.c.channel == Channel.EMAIL.value,
                    subscribers.c.address == address,
                    subscribers.c.bounces >= HARD_BOUNCE_LIMIT,
                    subscribers.c.status == ACTIVE,
                )
                .values(status=BOUNCED)
            )
        return result.rowcount > 0

    async def active(self, channel: Channel | None = None) -> list[Destination]:
        if channel is not None:  # built while reading, without a list of rows beside it
            return [d async for d in self.stream_active(channel)]
        q = (
            select(
                subscribers.c.id, subscribers.c.channel, subscribers.c.address, subscribers.c.lang
            )
            .where(subscribers.c.status == ACTIVE)
            .order_by(subscribers.c.id)
        )
        if channel is not None:
            q = q.where(subscribers.c.channel == channel.value)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [Destination(Channel(r[1]), r[2], Language(r[3]), r[0]) for r in rows]

    async def stream_active(
        self, channel: Channel, *, batch: int = 2000
    ) -> AsyncIterator[Destination]:
        """:meth:`active` for one channel, read ``batch`` rows at a time: a plan can take
        a list of any size through it with the memory of one batch."""
        q = (
            select(subscribers.c.id, subscribers.c.address, subscribers.c.lang)
            .where(subscribers.c.status == ACTIVE, subscribers.c.channel == channel.value)
            .order_by(subscribers.c.id)
            .execution_options(yield_per=batch)
        )
        async with self.engine.connect() as conn:
            result = await conn.stream(q)
            async for rows in result.partitions(batch):
                for r in rows:
                    yield Destination(channel, r[1], Language(r[2]), r[0])

    async def list(self, channel: Channel | None = None) -> list[Subscriber]:
        q = select(subscribers).order_by(subscribers.c.channel, subscribers.c.address)
        if channel is not None:
            q = q.where(subscribers.c.channel == channel.value)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_row(r) for r in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        q = select(subscribers.c.channel, subscribers.c.status, func.count()).group_by(
            subscribers.c.channel, subscribers.c.status
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def remove(self, channel: Channel, address: str) -> bool:
        return await self.set_status(channel, address, UNSUBSCRIBED, "removed by operator")

    async def import_csv(
        self, text: str, *, default_lang: Language = Language.BOTH, batch: int = 5000
    ) -> ImportReport:
        """Bulk add confirmed email subscribers from CSV with header ``email,lang``."""
        report = ImportReport()
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "email" not in fields:
            raise SubscriberError("the CSV needs a header line 'email,lang' (lang is optional)")
        reader.fieldnames = fields
        seen: set[str] = set()
        pending: list[dict[str, Any]] = []
        for lineno, rec in enumerate(reader, start=2):
            raw = (rec.get("email") or "").strip()
            try:
                address = normalize_email(raw)
                lang = parse_lang(rec.get("lang"), default_lang)
            except SubscriberError as exc:
                report.rejected.append((lineno, raw, str(exc)))
                continue
            if address in seen:
                report.rejected.append((lineno, raw, "duplicate of an earlier row"))
                continue
            seen.add(address)
            pending.append({"address": address, "lang": lang.value})
        now = utcnow()
        existing = await self._existing_emails()
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            rows = [
                {
                    "channel": Channel.EMAIL.value,
                    "address": r["address"],
                    "lang": r["lang"],
                    "status": ACTIVE,
                    "bounces": 0,
                    "created_at": now,
                    "updated_at": now,
                    "confirmed_at": now,
                }
                for r in chunk
            ]
            stmt = upsert(
                self.engine,
                subscribers,
                key=["channel", "address"],
                set_={"status": ACTIVE, "updated_at": now},
                from_new=["lang"],
            )
            async with self.engine.begin() as conn:
                await conn.execute(stmt, rows)
            for r in chunk:
                prev = existing.get(r["address"])
                if prev is None:
                    report.added += 1
                elif prev == (r["lang"], ACTIVE):
                    report.unchanged += 1
                else:
                    report.updated += 1
        return report

    async def _existing_emails(self) -> dict[str, tuple[str, str]]:
        q = select(subscribers.c.address, subscribers.c.lang, subscribers.c.status).where(
            subscribers.c.channel == Channel.EMAIL.value
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    async def export_csv(self, statuses: Iterable[str] = (ACTIVE,)) -> str:
        wanted = list(statuses)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "lang"])
        for s in await self.list(Channel.EMAIL):
            if s.status in wanted:
                writer.writerow([s.address, s.lang.value])
        return out.getvalue()


def describe(subs: Sequence[Subscriber]) -> list[str]:
    return [f"{s.channel.value}\t{s.address}\t{s.lang.value}\t{s.status}" for s in subs]
