"""`digestbot run`: the bot, the scheduler, the web app and the ledger drain on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from digestbot.delivery.ledger import unavailable
from digestbot.delivery.publisher import worker_id
from digestbot.errors import DigestbotError, SettingsError
from digestbot.scheduler import Scheduler
from digestbot.secretkey import MIN_WEBHOOK_KEY_BYTES
from digestbot.service import Service
from digestbot.settings import Settings
from digestbot.wiring import build_service

log = logging.getLogger("digestbot.run")

DRAIN_INTERVAL = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: `run` owns SIGTERM/SIGINT for every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def drain_forever(service: Service, stop: asyncio.Event) -> None:
    """Resume any issue whose ledger still has rows (retries, crashes, other workers)."""
    while not stop.is_set():
        try:
            # off the event loop: stat-ing 100,000 files takes about a second
            await asyncio.to_thread(service.refresh_if_stale, DRAIN_INTERVAL)
            await service.resume_unfinished(stop=stop)
        except DigestbotError as exc:
            log.warning("drain: %s", exc)
        except Exception as exc:
            if not unavailable(exc):
                raise
            # the database is away: say so, and look again at the next interval
            log.warning(
                "drain: the database did not answer (%s: %s); trying again in %g s",
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                DRAIN_INTERVAL,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=DRAIN_INTERVAL)


async def run_forever(
    settings: Settings, *, web: bool = True, bot: bool = True, scheduler: bool = True
) -> int:
    """Serve until SIGTERM/SIGINT, then stop cleanly; in-flight sends finish or stay resumable."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    service = build_service(settings)
    await service.start(migrate_in_child=True)
    service.build_index()
    owner = worker_id()
    tasks: list[asyncio.Task[None]] = []
    servers: list[_Server] = []
    application = None
    hook: tuple[str, str, Callable[[dict[str, Any]], Awaitable[None]]] | None = None
    sched: Scheduler | None = None
    try:
        if bot and settings.telegram.enabled:
            from digestbot.bot import webhook as bot_webhook
            from digestbot.bot.application import build_bot

            application = build_bot(service)
            if settings.telegram.webhook_url:
                if not web:
                    raise DigestbotError(
                        "DIGESTBOT_TELEGRAM__WEBHOOK_URL is set, so Telegram posts the bot's "
                        "updates to the web app: run it too (drop --no-web) or unset the URL"
                    )
                hook = (
                    bot_webhook.webhook_path(service),
                    bot_webhook.webhook_secret(service),
                    bot_webhook.webhook_feed(application),
                )
                key = service.settings.secret_key.get_secret_value().encode()
                if len(key) < MIN_WEBHOOK_KEY_BYTES:
                    raise SettingsError(
                        f"webhook mode: DIGESTBOT_SECRET_KEY is {len(key)} bytes; a forged "
                        "update could pass for Telegram's with a short key: set it to at "
                        f"least {MIN_WEBHOOK_KEY_BYTES} random bytes (python -c 'import "
                        "secrets; print(secrets.token_hex(32))'), or unset it to have one made"
                    )
        if web:
            from digestbot.web.app import TelegramWebhook, create_app

            app = create_app(service, telegram_webhook=TelegramWebhook(*hook) if hook else None)
            server = await _serve(app, settings.http.host, settings.http.port, "web app", tasks)
            servers.append(server)
            _say(f"web: serving on http://{settings.http.host}:{settings.http.port}")
        if settings.http.metrics_port is not None:
            from digestbot.web.operations import metrics_app

            host, port = settings.http.host, settings.http.metrics_port
            servers.append(await _serve(metrics_app(), host, port, "metrics endpoint", tasks))
            _say(f"metrics: serving on http://{host}:{port}/metrics")
        if application is not None:
            await application.initialize()
            await application.start()
            if hook:
                await bot_webhook.set_webhook(application, service)
                name = application.bot.username
                _say(f"bot: webhook at {settings.telegram.webhook_url} as @{name}")
            elif application.updater is not None:
                await application.updater.start_polling(drop_pending_updates=False)
                _say(f"bot: polling as @{application.bot.username}")
        elif bot:
            _say("bot: off (no DIGESTBOT_TELEGRAM__TOKEN); the web app and the scheduler run")
        if scheduler:
            sched = Scheduler(service, owner=owner)
            sched.start()
            service.next_run = sched.next_run
            tasks.append(asyncio.create_task(_catch_up(sched)))
            _say(
                f"scheduler: next run {sched.next_run()} ({settings.schedule}, {settings.timezone})"
            )
        tasks.append(asyncio.create_task(drain_forever(service, stop)))
        _say(f"digestbot ready: {len(service.snapshot().papers)} papers indexed")
        await stop.wait()
        _say("stopping: letting in-flight sends finish")
    finally:
        if sched is not None:
            sched.shutdown()
        if application is not None:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()
        for server in servers:
            server.should_exit = True
        stop.set()
        for task in tasks:
            await _finish(task)
        await service.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    _say("stopped")
    return 0


async def _finish(task: asyncio.Task[None]) -> None:
    """Let a part stop on its own (15 s at most), then say how it ended if not cleanly."""
    try:
        await asyncio.wait_for(task, timeout=15)
    except asyncio.CancelledError:
        return
    except TimeoutError:
        log.warning("a part of digestbot run did not stop within 15 s and was cancelled")
    except (DigestbotError, OSError) as exc:
        log.warning("a part of digestbot run stopped with an error: %s", exc)


async def _serve(
    app: Any, host: str, port: int, what: str, tasks: list[asyncio.Task[None]]
) -> _Server:
    """Start one uvicorn server on the loop; raise if it cannot listen."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        # the web app reads forwarded headers itself, from trusted proxies only
        proxy_headers=False,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    tasks.append(serving)
    await _until_started(server, serving)
    if serving.done():
        raise DigestbotError(f"the {what} could not listen on {host}:{port}")
    return server


async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    """Wait until uvicorn listens, or until it gave up (port taken)."""
    for _ in range(500):
        if server.started or serving.done():
            return
        await asyncio.wait({serving}, timeout=0.02)


async def _catch_up(sched: Scheduler) -> None:
    await sched.catch_up()
