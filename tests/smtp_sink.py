"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that records what it is sent.

Behaviour by recipient local part:

- ``tempfail…@`` → ``451`` at RCPT (try again later);
- ``hardfail…@`` → ``550`` at RCPT (no such user: a hard bounce);
- anything else is accepted.

``drop_on_data`` (or :meth:`SmtpSink.drop_next_data`) makes the server close the
connection instead of answering the N-th DATA, as a crashing or overloaded server would.
``connections`` counts the TCP connections clients opened, so tests can show reuse.
Optional ``auth`` (user, password) requires AUTH; ``starttls`` (a server SSLContext)
offers and requires STARTTLS, ``implicit_tls`` serves TLS from the first byte (port 465
style); ``idle_timeout`` hangs up on clients idle that long.

    with SmtpSink() as sink:
        settings = sink.settings(connections=2)
        ...
        assert sink.messages[0].message["To"] == "reader@example.com"
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from digestbot.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class Received:
    """One message the sink accepted: its envelope and the parsed email."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage
    connection: int
    """Which connection (1, 2, ...) carried it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local.startswith("tempfail"):
            self.sink._note_refusal(address, 451)
            return "451 4.2.0 Mailbox busy, try again later"
        if local.startswith("hardfail"):
            self.sink._note_refusal(address, 550)
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink._should_drop():
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 Closing connection"  # never reaches the client
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.sink._record(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=data,
                message=parsed,
                connection=getattr(server, "connection_number", 0),
            )
        )
        return "250 Message accepted for delivery"


class _CountingSMTP(SMTP):
    connection_number = 0

    def __init__(self, handler: Any, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def connection_made(self, transport: Any) -> None:
        self.connection_number = self._sink._count_connection()
        super().connection_made(transport)


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        self._sink = sink
        super().__init__(_Handler(sink), **kwargs)

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # AUTH over plain text is what the auth tests want; aiosmtpd warns about it
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return _CountingSMTP(self.handler, self._sink, **self.SMTP_kwargs)


class SmtpSink:
    """aiosmtpd in a background thread on 127.0.0.1, recording every accepted message."""

    def __init__(
        self,
        *,
        drop_on_data: Iterable[int] = (),
        auth: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        idle_timeout: float | None = None,
        delay: float = 0.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.auth = auth
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.idle_timeout = idle_timeout
        self.delay = delay
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._refusals: list[tuple[str, int]] = []
        self._connections = 0
        self._data_commands = 0
        self._drop = set(drop_on_data)
        self._controller: _Controller | None = None
        self.logins: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=True)
        if self.implicit_tls is not None:
            kwargs.update(ssl_context=self.implicit_tls)
        if self.idle_timeout is not None:
            kwargs.update(timeout=self.idle_timeout)
        self._controller = _Controller(
            self, hostname=self.host, port=self.port, server_hostname="sink.test", **kwargs
        )
        self._controller.start()
        with self._lock:  # the controller's own readiness probe is no client
            self._connections = 0

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def settings(self, **overrides: Any) -> SmtpSettings:
        """SmtpSettings pointing at this sink (plain SMTP unless overridden)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "sender": "Weekly AI Papers <digest@example.org>",
            "connections": 2,
            "timeout": 5.0,
        }
        values.update(overrides)
        return SmtpSettings(**values)

    # -- behaviour ------------------------------------------------------------------------

    def drop_next_data(self, k: int = 1) -> None:
        """Close the connection instead of answering the k-th DATA from now."""
        with self._lock:
            self._drop.add(self._data_commands + k)

    # -- inspection -----------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[Received]:
        """Messages accepted for ``address``."""
        with self._lock:
            return [m for m in self._messages if address in m.rcpt_tos]

    @property
    def refusals(self) -> list[tuple[str, int]]:
        """(recipient, code) for every RCPT the sink refused."""
        with self._lock:
            return list(self._refusals)

    @property
    def connections(self) -> int:
        """TCP connections clients opened since start."""
        with self._lock:
            return self._connections

    @property
    def data_commands(self) -> int:
        with self._lock:
            return self._data_commands

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``n`` messages arrived (don't call it on the client's loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.messages
            if len(got) >= n:
                return got
            time.sleep(0.01)
        raise TimeoutError(f"{len(self.messages)} message(s) after {timeout}s, wanted {n}")

    # -- called from the server thread ----------------------------------------------------

    def _count_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _should_drop(self) -> bool:
        if self.delay:
            time.sleep(self.delay)  # the sink's own thread: simulates a slow server
        with self._lock:
            self._data_commands += 1
            return self._data_commands in self._drop

    def _record(self, received: Received) -> None:
        with self._lock:
            self._messages.append(received)

    def _note_refusal(self, address: str, code: int) -> None:
        with self._lock:
            self._refusals.append((address, code))

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.auth is not None:
            user = auth_data.login.decode("utf-8")
            if (user, auth_data.password.decode("utf-8")) == self.auth:
                with self._lock:
                    self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
