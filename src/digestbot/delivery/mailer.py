"""One-off emails (subscription confirmations): to the outbox or through SMTP."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from digestbot.errors import DeliveryError
from digestbot.settings import SmtpSettings


class Mailer(Protocol):
    async def send(self, msg: EmailMessage) -> None: ...


@dataclass(slots=True)
class OutboxMailer:
    """Writes each message to ``<outbox>/mail/<kind>-<recipient>-<time>.eml``."""

    root: Path

    async def send(self, msg: EmailMessage) -> None:
        to = re.sub(r"[^\w.@+-]", "_", str(msg["To"]))
        kind = str(msg.get("X-Digestbot-Kind", "mail"))
        path = self.root / "mail" / f"{kind}-{to}-{time.time_ns()}.eml"
        data = msg.as_bytes()

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)


@dataclass(slots=True)
class SmtpMailer:
    """Opens one SMTP connection per message: confirmations are rare."""

    settings: SmtpSettings

    async def send(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",
                timeout=s.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"could not send mail through {s.host}:{s.port}: {exc}; "
                "check DIGESTBOT_SMTP__HOST/__PORT/__SECURITY"
            ) from exc
