"""The operator's routes: ``/healthz``, ``/metrics`` (token or own port), the bot's webhook."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from digestbot import metrics
from digestbot.service import Service
from digestbot.web.pages import NO_STORE

__all__ = ["Operations", "TelegramWebhook", "metrics_app"]

log = logging.getLogger("digestbot.web")


class Operations:
    """Health and metrics of one :class:`Service`, never cached.

    ``/metrics`` on the public app needs ``DIGESTBOT_HTTP__METRICS_TOKEN`` as a bearer
    token; without one configured it is not there (404): it is then served only on
    ``DIGESTBOT_HTTP__METRICS_PORT`` (:func:`metrics_app`), or not at all.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        token = service.settings.http.metrics_token
        self.token = token.get_secret_value().encode() if token is not None else None

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        ok = await self.service.healthy()
        return JSONResponse(
            {"status": "ok" if ok else "error"}, status_code=200 if ok else 503, headers=NO_STORE
        )

    async def metrics(self, request: Request) -> Response:
        if self.token is None:
            raise HTTPException(404)
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), self.token):
            return PlainTextResponse(
                "a bearer token is required",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"', **NO_STORE},
            )
        return exposition()


def exposition() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE, headers=NO_STORE)


async def _metrics_only(request: Request) -> Response:
    return exposition()


def metrics_app() -> Starlette:
    """The app ``digestbot run`` serves on ``DIGESTBOT_HTTP__METRICS_PORT``: ``/metrics`` only."""
    return Starlette(routes=[Route("/metrics", _metrics_only, methods=["GET"])])


@dataclass(frozen=True, slots=True)
class TelegramWebhook:
    """Where Telegram posts the bot's updates in webhook mode, and who takes them.

    ``secret`` must come back in ``X-Telegram-Bot-Api-Secret-Token`` (set with
    ``setWebhook``); ``feed`` hands one update (the JSON object) to the bot.
    """

    path: str
    secret: str
    feed: Callable[[dict[str, Any]], Awaitable[None]]

    def route(self) -> Route:
        return Route(self.path, self.endpoint, methods=["POST"])

    async def endpoint(self, request: Request) -> Response:
        sent = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(sent.encode(), self.secret.encode()):
            log.warning("telegram webhook: a POST without the right secret token was refused")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = await request.json()
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return PlainTextResponse("not a Telegram update", status_code=400)
        await self.feed(update)
        return Response(status_code=200)
