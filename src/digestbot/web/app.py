"""The web app: builds the Starlette app (routes of each concern, the guard, the lifespan).

Pages: ``/`` archive, ``/issues/<W>``, ``/papers/<id>``, ``/search?q=``, ``/feed.xml``
(:mod:`digestbot.web.reading`); ``/subscribe``, ``/confirm/<token>``,
``/unsubscribe/<token>`` (:mod:`digestbot.web.subscriptions`); ``/topics``,
``/topics/<slug>`` and its feed (:mod:`digestbot.web.topics`); ``/healthz``, ``/metrics``
and the bot's webhook (:mod:`digestbot.web.operations`). What they share — the visitor's
language, pages, messages, error pages — is :mod:`digestbot.web.pages`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from digestbot.service import Service
from digestbot.web.guard import Guard
from digestbot.web.operations import Operations, TelegramWebhook
from digestbot.web.pages import Pages
from digestbot.web.reading import Reading
from digestbot.web.subscriptions import Subscriptions
from digestbot.web.topics import TopicPages

__all__ = ["TelegramWebhook", "create_app"]

MAX_BODY = 64 * 1024


def create_app(
    service: Service,
    *,
    manage_lifespan: bool = False,
    telegram_webhook: TelegramWebhook | None = None,
) -> Starlette:
    """The ASGI app over ``service``.

    ``digestbot run`` starts and closes the service itself and serves with lifespan off.
    With ``manage_lifespan=True`` the app's lifespan does it, on the server's own loop
    (tests, or ``uvicorn --factory`` style deployments). ``telegram_webhook``: the bot's
    updates arrive as POSTs to its path (webhook mode).
    """
    pages = Pages(service)
    routes = [
        *Reading(pages).routes(),
        *Subscriptions(pages).routes(),
        *TopicPages(pages).routes(),
        *Operations(service).routes(),
    ]
    if telegram_webhook is not None:
        routes.append(telegram_webhook.route())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        service.build_index()
        try:
            yield
        finally:
            await service.close()

    return Starlette(
        debug=False,
        routes=routes,
        middleware=[Middleware(Guard, error_page=pages.status_page, max_body=MAX_BODY)],
        exception_handlers={
            HTTPException: pages.http_error,
            Exception: pages.server_error,
        },
        lifespan=lifespan if manage_lifespan else None,
    )
