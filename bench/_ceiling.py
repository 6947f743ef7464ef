"""The email fan-out's baselines: subscribers seeded in bulk, and the raw sending loops
that make the fair ceiling (the run's own mix of per-language mails, connections included).

- :func:`seed_emails`: ``n`` confirmed email subscribers written straight into the
  table (a million in about a minute; the CSV import validates each address and takes
  several), their languages cycling zh, en, both as in :func:`_harness.emails_csv`;
- :func:`mix_messages`: the issue mail of each language as digestbot writes it for a
  real recipient (28 kB on average over the cycle, 36.9 kB for ``both``);
- :func:`aiosmtplib_loop`: those bytes over ``connections`` aiosmtplib connections,
  dot-stuffed once per language and written to DATA as the SMTP sender does, timed from
  before the connections open until they have said QUIT;
- :func:`smtplib_loop`: the same mails in turn over one stdlib ``smtplib`` connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import time
from collections.abc import Mapping

from _harness import LANG_CYCLE, SENDER, WEEK, email_address, run_async

ENVELOPE_SENDER = "digest@example.org"


def language_of(i: int) -> str:
    return LANG_CYCLE[i % 3]


async def seed_emails_async(url: str, n: int, chunk: int = 20_000) -> None:
    """Migrate ``url`` and add ``n`` active email subscribers in bulk."""
    from digestbot.db.engine import make_engine, upgrade
    from digestbot.db.tables import subscribers
    from digestbot.subscribers import ACTIVE

    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            for start in range(0, n, chunk):
                rows = [
                    {
                        "channel": "email",
                        "address": email_address(i),
                        "lang": language_of(i),
                        "status": ACTIVE,
                        "bounces": 0,
                        "created_at": now,
                        "confirmed_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(start + chunk, n))
                ]
                await conn.execute(subscribers.insert(), rows)
    finally:
        await engine.dispose()


def seed_emails(url: str, n: int) -> None:
    run_async(seed_emails_async(url, n))


async def mix_messages() -> dict[str, bytes]:
    """Each language's issue mail, as the SMTP sender writes it for a real recipient."""
    from digestbot.models import Language
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    svc = build_service(load_settings())
    try:
        content = svc.content_for(await svc.issue_for(WEEK))
        return {
            lang: content.email_wire(email_address(i), Language(lang))
            for i, lang in enumerate(LANG_CYCLE)
        }
    finally:
        await svc.engine.dispose()


async def aiosmtplib_loop(
    host: str, port: int, messages: Mapping[str, bytes], n: int, connections: int
) -> float:
    """Send the mix to ``n`` recipients over ``connections`` connections; seconds."""
    import aiosmtplib

    from digestbot.delivery.smtp import _transaction, dot_stuffed

    payloads = {lang: dot_stuffed(data) for lang, data in messages.items()}
    left = n
    t0 = time.perf_counter()
    conns = [
        aiosmtplib.SMTP(hostname=host, port=port, use_tls=False, start_tls=False)
        for _ in range(connections)
    ]
    await asyncio.gather(*(c.connect() for c in conns))

    async def worker(conn: aiosmtplib.SMTP) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            i = left
            await _transaction(
                conn, ENVELOPE_SENDER, email_address(i), payloads[language_of(i)], []
            )

    await asyncio.gather(*(worker(c) for c in conns))
    await asyncio.gather(*(c.quit() for c in conns))
    return time.perf_counter() - t0


def smtplib_loop(host: str, port: int, messages: Mapping[str, bytes], n: int) -> float:
    """Send the mix to ``n`` recipients one after another on one connection; seconds."""
    t0 = time.perf_counter()
    with smtplib.SMTP(host, port, local_hostname="bench.local") as smtp:
        for i in range(n):
            smtp.sendmail(ENVELOPE_SENDER, [email_address(i)], messages[language_of(i)])
    return time.perf_counter() - t0


__all__ = [
    "SENDER",
    "aiosmtplib_loop",
    "language_of",
    "mix_messages",
    "seed_emails",
    "smtplib_loop",
]
