"""Prometheus metrics: deliveries by channel and result, bot commands, publish time, web hits.

The metric objects live here, on prometheus-client's default registry, so any part of the
process (publisher, bot, web app) counts into the same place and ``/metrics`` shows it.
Label values are kept to small fixed sets so a stray value cannot blow up cardinality.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = [
    "BOT_COMMANDS",
    "CONTENT_TYPE",
    "DELIVERIES",
    "GIVE_UPS",
    "HTTP_REQUESTS",
    "PUBLISH_SECONDS",
    "SUBSCRIBE_REQUESTS",
    "exposition",
    "record_bot_command",
    "record_delivery",
    "record_give_up",
    "record_http_request",
    "record_subscribe",
    "time_publish",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

CHANNELS = ("telegram", "email")
RESULTS = ("sent", "retried", "failed", "skipped")
COMMANDS = (
    "start",
    "help",
    "paper",
    "latest",
    "week",
    "subscribe",
    "unsubscribe",
    "lang",
    "publish",
    "status",
)
SUBSCRIBE_RESULTS = (
    "requested",
    "invalid",
    "rate_limited",
    "mail_limited",
    "confirmed",
    "unsubscribed",
)

DELIVERIES = Counter(
    "digestbot_deliveries",
    "Copies of an issue handed to a transport, by channel and result.",
    ["channel", "result"],
)
GIVE_UP_REASONS = ("permanent", "retry_window")
GIVE_UPS = Counter(
    "digestbot_delivery_give_ups",
    "Copies given up for good (row status failed), by channel and why: a permanent error, "
    "or transient errors for longer than DIGESTBOT_DELIVERY__RETRY_HOURS.",
    ["channel", "reason"],
)
BOT_COMMANDS = Counter(
    "digestbot_bot_commands",
    "Bot commands received, by command (unknown commands count as 'other').",
    ["command"],
)
PUBLISH_SECONDS = Histogram(
    "digestbot_publish_duration_seconds",
    "Wall time of one publish run (plan and drain one issue).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
HTTP_REQUESTS = Counter(
    "digestbot_http_requests",
    "Web requests answered, by route template and status code.",
    ["route", "status"],
)
SUBSCRIBE_REQUESTS = Counter(
    "digestbot_web_subscriptions",
    "Email subscription actions on the web site, by result.",
    ["result"],
)

for _channel in CHANNELS:
    for _result in RESULTS:
        DELIVERIES.labels(_channel, _result)
    for _reason in GIVE_UP_REASONS:
        GIVE_UPS.labels(_channel, _reason)
for _command in (*COMMANDS, "other"):
    BOT_COMMANDS.labels(_command)
for _result in SUBSCRIBE_RESULTS:
    SUBSCRIBE_REQUESTS.labels(_result)


def record_delivery(channel: str, result: str, count: int = 1) -> None:
    """Count ``count`` copies on ``channel`` (telegram, email) ending in ``result``."""
    ch = channel if channel in CHANNELS else "other"
    res = result if result in RESULTS else "other"
    DELIVERIES.labels(ch, res).inc(count)


def record_give_up(channel: str, reason: str) -> None:
    """Count one copy given up for good (``reason``: permanent, retry_window)."""
    ch = channel if channel in CHANNELS else "other"
    GIVE_UPS.labels(ch, reason if reason in GIVE_UP_REASONS else "other").inc()


def record_bot_command(command: str) -> None:
    """Count one bot command; ``/paper@mybot`` and ``paper`` both count as ``paper``."""
    name = command.lstrip("/").split("@", 1)[0].lower()
    BOT_COMMANDS.labels(name if name in COMMANDS else "other").inc()


@contextmanager
def time_publish() -> Iterator[None]:
    """Observe the wall time of the ``with`` block in the publish-duration histogram."""
    started = perf_counter()
    try:
        yield
    finally:
        PUBLISH_SECONDS.observe(perf_counter() - started)


def record_http_request(route: str, status: int) -> None:
    HTTP_REQUESTS.labels(route, str(status)).inc()


def record_subscribe(result: str) -> None:
    SUBSCRIBE_REQUESTS.labels(result if result in SUBSCRIBE_RESULTS else "other").inc()


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The Prometheus text format of every metric in ``registry``."""
    return generate_latest(registry)
