"""The web app: builds the Starlette app (routes of each concern, the guard, the lifespan).

Pages: ``/`` archive, ``/issues/<W>``, ``/papers/<id>``, ``/search?q=``, ``/feed.xml``
(:mod:`digestbot.web.reading`); ``/subscribe``, ``/confirm/<token>``,
``/unsubscribe/<token>`` (:mod:`digestbot.web.subscriptions`); ``/preferences/<token>``
(:mod:`digestbot.web.preferences`); ``/topics``, ``/topics/<slug>`` and its feed
(:mod:`digestbot.web.topics`); ``/healthz``, ``/metrics``
and the bot's webhook (:mod:`digestbot.web.operations`). Published pages and the feed
are cached and compressed once (:mod:`digestbot.web.cache`); other text is gzipped as
sent. What they share — the visitor's
language, pages, messages, error pages — is :mod:`digestbot.web.pages`; the language a
reader chose is remembered by :mod:`digestbot.web.language`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Hashable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.types import Scope

from digestbot.db.archive_version import ArchiveWatch
from digestbot.service import Service
from digestbot.web.cache import Identity, PageCache
from digestbot.web.guard import Guard
from digestbot.web.language import LanguageCookie, reader_lang
from digestbot.web.operations import Operations, TelegramWebhook
from digestbot.web.pages import Pages
from digestbot.web.preferences import Preferences
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
    cache_ttl: float = 1.0,
) -> Starlette:
    """The ASGI app over ``service``.

    ``digestbot run`` starts and closes the service itself and serves with lifespan off.
    With ``manage_lifespan=True`` the app's lifespan does it, on the server's own loop
    (tests, or ``uvicorn --factory`` style deployments). ``telegram_webhook``: the bot's
    updates arrive as POSTs to its path (webhook mode). ``cache_ttl``: on PostgreSQL, how often
    at most the page cache asks whether the archive changed (on SQLite it knows at once).
    """
    pages = Pages(service)
    subscriptions = Subscriptions(pages)
    watch = ArchiveWatch(service.engine, ttl=cache_ttl)
    routes = [
        *Reading(pages, archive_version=watch.current).routes(),
        *subscriptions.routes(),
        *Preferences(subscriptions).routes(),
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
            watch.close()
            await service.close()

    def page_language(scope: Scope) -> Hashable:
        # the page's language; reader_lang also notes it for LanguageCookie, so a page
        # served from the cache still remembers a first visit's language
        return reader_lang(Request(scope)).value

    async def generation() -> Hashable:
        return (Identity(service.snapshot()), await watch.current())

    return Starlette(
        debug=False,
        routes=routes,
        middleware=[
            Middleware(Guard, error_page=pages.status_page, max_body=MAX_BODY),
            # outside the cache: a cached page is stored without the reader's cookie, which
            # is set on the way out (first visit, or a ?lang= link)
            Middleware(
                LanguageCookie,
                path=pages.base or "/",
                secure=pages.public_url.startswith("https:"),
            ),
            Middleware(PageCache, generation=generation, ttl=0.0, variant=page_language),
            Middleware(GZipMiddleware, minimum_size=500, compresslevel=6),
        ],
        exception_handlers={
            HTTPException: pages.http_error,
            Exception: pages.server_error,
        },
        lifespan=lifespan if manage_lifespan else None,
    )
