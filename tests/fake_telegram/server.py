"""FakeTelegram: the stand-in served over HTTP on loopback from a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from .api import BotApi
from .state import Poll


class Server(uvicorn.Server):
    """uvicorn's server, stopping in milliseconds instead of ~0.2 s.

    uvicorn polls ``should_exit`` every 0.1 s and sleeps a fixed 0.1 s while shutting
    down; a fixture started per test pays that on every test. This one waits on an event
    that `request_exit` sets, and polls for connections to drain every 5 ms.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit: asyncio.Event | None = None

    def request_exit(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Ask the server to stop (from any thread)."""
        self.should_exit = True
        exit_event = self._exit
        if loop is not None and exit_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(exit_event.set)

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        await self.on_tick(0)  # sets the Date header once
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0.0)
        while self.server_state.connections or self.server_state.tasks:
            if loop.time() >= deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()


class FakeTelegram(BotApi):
    """The Telegram Bot API on ``127.0.0.1``, served from a background thread.

    Use as ``with FakeTelegram(token="123:ABC") as tg:`` and point PTB at it with
    ``telegram.Bot(tg.token, base_url=tg.base_url)``. Every public method is thread-safe
    and non-async, so it works from sync tests and from async tests on any event loop.
    """

    # ---------------------------------------------------------------- lifecycle

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_id(self) -> int:
        return self._bot_id

    @property
    def bot_username(self) -> str:
        return self._bot_username

    @property
    def port(self) -> int:
        """The bound port (known after `start`; kept across stop/start)."""
        if not self._port:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url``: ``http://127.0.0.1:PORT/bot``."""
        return f"http://{self._host}:{self.port}/bot"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Bind the port and serve from a background thread; returns once it accepts."""
        if self._thread is not None:
            raise RuntimeError("FakeTelegram is already running")
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP; without it Nagle + delayed ACK add ~40 ms to every keep-alive reply.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._port = int(sock.getsockname()[1])
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])])
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = Server(config)
        self._server = server
        self._closing = False
        self._thread_error = None
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"fake-telegram:{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(timeout=1.0)
                self._thread = None
                error = self._thread_error
                raise RuntimeError("FakeTelegram failed to start") from error
            time.sleep(0.002)

    def stop(self) -> None:
        """Finish pending long polls, shut the server down and join its thread."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        with self._lock:
            self._closing = True
        self._wake_pollers()
        with self._lock:
            loop = self._loop
        server.request_exit(loop)
        thread.join(timeout=10.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5.0)
        self._thread = None
        self._server = None
        if self._thread_error is not None:
            raise RuntimeError("FakeTelegram server thread failed") from self._thread_error

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

    def _run(self, server: Server, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(server, sock))
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller by start()/stop()
            self._thread_error = exc
        finally:
            sock.close()

    async def _serve(self, server: Server, sock: socket.socket) -> None:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._poll = Poll(event=asyncio.Event())
        try:
            await server.serve(sockets=[sock])
        finally:
            with self._lock:
                self._loop = None
                self._poll = None
