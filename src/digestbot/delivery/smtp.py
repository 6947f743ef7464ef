"""The SMTP sender: issue emails over a small pool of reused aiosmtplib connections.

Outcomes map onto the delivery error family:

- the server takes the message: delivered;
- 4xx for the recipient or the transaction: ``TransientDeliveryError`` (retry later);
- 5xx for the recipient, the sender or the data: ``PermanentDeliveryError`` (a hard
  bounce: the publisher counts it, and repeated bounces deactivate the address);
- the connection drops, times out or can't be opened: that connection is thrown away,
  and the message is retried on a fresh one a couple of times, then
  ``TransientDeliveryError``.

Connections open lazily, one per concurrent send up to ``settings.connections``, and are
reused across messages. Passwords are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass
from email.utils import parseaddr

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPDataError,
    SMTPException,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
    SMTPTimeoutError,
)
from aiosmtplib.email import parse_address

from digestbot.delivery.senders import Content, Job, LeaseLost
from digestbot.errors import PermanentDeliveryError, SettingsError, TransientDeliveryError
from digestbot.settings import SmtpSettings

__all__ = ["SmtpPool", "SmtpSender", "SmtpStats"]

log = logging.getLogger("digestbot.delivery.smtp")

_CLOSING = 421
"""'Service not available, closing transmission channel': the connection is going away."""

# Errors after which a connection can't be trusted: drop it, retry on a new one.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    SMTPServerDisconnected,
    SMTPConnectError,
    SMTPTimeoutError,
    ConnectionError,
    TimeoutError,
    ssl.SSLError,
    OSError,
)


class _ConfigError(Exception):
    """The server refused our setup (login, STARTTLS): no recipient is at fault."""


@dataclass(slots=True)
class SmtpStats:
    """Counters for reports and /metrics."""

    sent: int = 0
    connections_opened: int = 0
    reconnects: int = 0
    """Messages retried on a fresh connection after a dropped one."""
    temporary_failures: int = 0
    hard_bounces: int = 0


class SmtpPool:
    """Up to ``size`` connections, opened lazily and handed out one sender at a time."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        local_hostname: str | None,
        tls_context: ssl.SSLContext | None = None,
        idle_check_after: float = 30.0,
        stats: SmtpStats | None = None,
    ) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self.idle_check_after = idle_check_after
        self.stats = stats or SmtpStats()
        self._idle: deque[tuple[aiosmtplib.SMTP, float]] = deque()
        self._slots = asyncio.Semaphore(settings.connections)
        self._closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def _open(self) -> aiosmtplib.SMTP:
        s = self.settings
        conn = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username if s.username and s.password else None,
            password=s.password.get_secret_value() if s.password and s.username else None,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=self.tls_context,
            timeout=s.timeout,
            local_hostname=self.local_hostname,
        )
        try:
            await conn.connect()
        except SMTPAuthenticationError as exc:
            raise _ConfigError(
                f"{s.host}:{s.port} refused the login for {s.username!r} ({exc.code}): "
                "check DIGESTBOT_SMTP__USERNAME and DIGESTBOT_SMTP__PASSWORD"
            ) from exc
        except SMTPNotSupported as exc:
            raise _ConfigError(
                f"{s.host}:{s.port}: {exc}: check DIGESTBOT_SMTP__SECURITY (starttls|tls|none)"
            ) from exc
        except SMTPResponseException as exc:
            if exc.code == _CLOSING or 400 <= exc.code < 500:
                raise SMTPConnectError(f"{exc.code} {exc.message}") from exc
            raise _ConfigError(f"{s.host}:{s.port} refused us: {exc.code} {exc.message}") from exc
        self.stats.connections_opened += 1
        log.debug(
            "smtp: opened connection %d to %s:%s", self.stats.connections_opened, s.host, s.port
        )
        return conn

    async def acquire(self) -> aiosmtplib.SMTP:
        """A live connection: an idle one (checked with NOOP if idle long) or a new one."""
        await self._slots.acquire()
        try:
            while self._idle:
                conn, since = self._idle.pop()  # most recently used first: still warm
                if not conn.is_connected:
                    conn.close()
                    continue
                if time.monotonic() - since > self.idle_check_after:
                    try:
                        await conn.noop()
                    except (SMTPException, OSError):
                        conn.close()
                        continue
                return conn
            return await self._open()
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: aiosmtplib.SMTP, *, reuse: bool) -> None:
        """Give ``conn`` back: kept for the next message, or closed when it can't be trusted."""
        if reuse and conn.is_connected and not self._closed:
            self._idle.append((conn, time.monotonic()))
        else:
            conn.close()
        self._slots.release()

    async def close(self) -> None:
        """Say QUIT on every idle connection (briefly), then close them."""
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        for conn, _since in idle:
            with contextlib.suppress(SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(conn.quit(), timeout=2.0)
            conn.close()


_DATA_END = b".\r\n"


def dot_stuffed(data: bytes) -> bytes:
    """``data`` (CRLF line ends, ending in CRLF) as DATA carries it: a '.' doubled at the
    start of each line (RFC 5321 4.5.2), then the terminating '.' line."""
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + _DATA_END


async def _transaction(
    conn: aiosmtplib.SMTP, sender: str, recipient: str, payload: bytes, options: list[str]
) -> None:
    """MAIL, RCPT and DATA for one recipient, with ``payload`` from :func:`dot_stuffed`.

    ``SMTP.sendmail`` rewrote every message's line endings twice (once to count its SIZE,
    once in DATA) and dot-stuffed it with a regular expression: about a fifth of a
    fan-out's CPU for bytes we already write with CRLF. This is sendmail's transaction
    with the message written as is; errors are sendmail's (a refused recipient raises
    ``SMTPRecipientsRefused``), and a refused step resets the envelope as it does.
    """
    encoding = "utf-8" if options else "ascii"
    parse_address(sender)
    parse_address(recipient)
    if conn.is_ehlo_or_helo_needed:
        try:
            await conn.ehlo()
        except SMTPHeloError:
            await conn.helo()
    if options and not conn.supports_extension("smtputf8"):
        raise SMTPNotSupported("SMTPUTF8 is not supported by this server")
    if conn.supports_extension("size"):  # RFC 1870: the message's size, announced
        options = [f"SIZE={len(payload) - len(_DATA_END)}", *options]
    try:
        await conn.mail(sender, options=options, encoding=encoding)
        try:
            await conn.rcpt(recipient, encoding=encoding)
        except SMTPRecipientRefused as exc:
            raise SMTPRecipientsRefused([exc]) from exc
        start = await conn.execute_command(b"DATA")
        if start.code != SMTPStatus.start_input:
            raise SMTPDataError(start.code, start.message)
        protocol = conn.protocol
        if protocol is None:
            raise SMTPServerDisconnected("Connection lost")
        protocol.write(payload)
        # read_response marks a reply as expected before it yields, so the reply can't
        # arrive unnoticed between the write and the read
        done = await protocol.read_response(timeout=conn.timeout)
        if done.code != SMTPStatus.completed:
            raise SMTPDataError(done.code, done.message)
    except (SMTPResponseException, SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, SMTPResponseException):
            await conn.rset()
        raise
    except (SMTPServerDisconnected, SMTPTimeoutError):
        conn.close()  # a reply given up on would be taken for the next command's
        raise


def _classify(
    code: int, what: str, *, bounce: bool = True
) -> TransientDeliveryError | PermanentDeliveryError:
    """5xx is permanent (a hard bounce when the recipient caused it); 4xx is worth a retry."""
    if code >= 500:
        return PermanentDeliveryError(f"{what} (hard bounce)" if bounce else what, bounce=bounce)
    return TransientDeliveryError(f"{what} (will retry)")


class SmtpSender:
    """Sends each recipient's personalised issue email through the configured server.

    ``tls_context`` overrides certificate checks (a private CA, tests); ``retries`` is how
    many times a message is retried on a fresh connection after a dropped one.
    """

    transport: str = "smtp"

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        retries: int = 2,
        local_hostname: str | None = None,
        idle_check_after: float = 30.0,
    ) -> None:
        self.settings = settings
        self.concurrency = settings.connections
        self.tls_context = tls_context
        self.retries = retries
        self.local_hostname = local_hostname
        self.idle_check_after = idle_check_after
        self.stats = SmtpStats()
        self._pool: SmtpPool | None = None
        self.envelope_sender = parseaddr(settings.sender)[1]

    @property
    def pool(self) -> SmtpPool:
        if self._pool is None:
            raise RuntimeError("SmtpSender.start() was not awaited")
        return self._pool

    async def start(self) -> None:
        if not self.settings.host:
            raise SettingsError("DIGESTBOT_SMTP__HOST is empty: set the SMTP server to send mail")
        if self.settings.username and not self.settings.password:
            raise SettingsError(
                "DIGESTBOT_SMTP__USERNAME is set but DIGESTBOT_SMTP__PASSWORD is empty: "
                "set both to log in, or neither"
            )
        if "@" not in self.envelope_sender:
            raise SettingsError(
                f"DIGESTBOT_SMTP__SENDER={self.settings.sender!r} has no address: "
                "set it like 'Weekly AI Papers <digest@example.org>'"
            )
        if self.local_hostname is None:
            # socket.getfqdn may ask DNS: once, off the loop, not per connection
            self.local_hostname = await asyncio.to_thread(socket.getfqdn)
        self._pool = SmtpPool(
            self.settings,
            local_hostname=self.local_hostname,
            tls_context=self.tls_context,
            idle_check_after=self.idle_check_after,
            stats=self.stats,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def connections_opened(self) -> int:
        return self.stats.connections_opened

    async def deliver(self, job: Job, content: Content) -> int:
        d = job.delivery
        if not await job.checkpoint(0):
            raise LeaseLost(d.id)
        # the bytes straight from the template: no EmailMessage, no generator
        await self.send(content.email_wire(d.address, d.lang), d.address, job=job)
        return 1

    async def send(self, data: bytes, address: str, *, job: Job | None = None) -> None:
        """Send ``data`` (a message with CRLF line ends only) to ``address``, from the
        envelope sender of ``settings.sender``, reconnecting if need be. An
        internationalised address asks the server for SMTPUTF8 (RFC 6531); one without it
        bounces the row. The bytes go out as given, dot-stuffed in one pass (no line-ending
        normalisation: see :func:`_transaction`).
        """
        options = [] if address.isascii() else ["SMTPUTF8"]
        payload = dot_stuffed(data)
        pool = self.pool
        where = f"smtp {address}"
        tries = 0
        while True:
            if tries and job is not None and not await job.checkpoint(0):
                raise LeaseLost(job.delivery.id)
            tries += 1
            try:
                conn = await pool.acquire()
            except _ConfigError as exc:
                raise TransientDeliveryError(f"{where}: {exc}") from exc
            except _CONNECTION_ERRORS as exc:
                if tries > self.retries:
                    self.stats.temporary_failures += 1
                    raise TransientDeliveryError(
                        f"{where}: can't connect to {self.settings.host}:{self.settings.port}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self.stats.reconnects += 1
                await asyncio.sleep(0.2 * tries)
                continue
            reuse = False
            try:
                await _transaction(conn, self.envelope_sender, address, payload, options)
                reuse = True
            except SMTPRecipientsRefused as exc:
                reuse = True
                code = max((r.code for r in exc.recipients), default=550)
                detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                raise self._failed(
                    _classify(code, f"{where}: recipient refused: {detail}")
                ) from exc
            except SMTPResponseException as exc:
                if exc.code == _CLOSING:  # the server is hanging up: like a dropped line
                    if tries > self.retries:
                        self.stats.temporary_failures += 1
                        raise TransientDeliveryError(f"{where}: {exc.code} {exc.message}") from exc
                    self.stats.reconnects += 1
                    continue
                reuse = True
                # a refused sender is our configuration's fault, not the recipient's bounce
                raise self._failed(
                    _classify(
                        exc.code,
                        f"{where}: {type(exc).__name__}: {exc.code} {exc.message}",
                        bounce=not isinstance(exc, SMTPSenderRefused),
                    )
                ) from exc
            except SMTPNotSupported as exc:
                reuse = True
                raise self._failed(PermanentDeliveryError(f"{where}: {exc}")) from exc
            except ValueError as exc:  # an address aiosmtplib can't put on the wire
                reuse = True
                raise self._failed(PermanentDeliveryError(f"{where}: {exc}")) from exc
            except _CONNECTION_ERRORS as exc:
                if tries > self.retries:
                    self.stats.temporary_failures += 1
                    raise TransientDeliveryError(
                        f"{where}: connection lost {tries} times: {type(exc).__name__}: {exc}"
                    ) from exc
                self.stats.reconnects += 1
                log.info("smtp %s: connection lost (%s), retrying on a new one", address, exc)
                continue
            except SMTPException as exc:  # anything else aiosmtplib raises: try again later
                raise self._failed(
                    TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}")
                ) from exc
            finally:
                pool.release(conn, reuse=reuse)
            self.stats.sent += 1
            return

    def _failed(
        self, error: TransientDeliveryError | PermanentDeliveryError
    ) -> TransientDeliveryError | PermanentDeliveryError:
        if isinstance(error, PermanentDeliveryError):
            self.stats.hard_bounces += 1
        else:
            self.stats.temporary_failures += 1
        return error
