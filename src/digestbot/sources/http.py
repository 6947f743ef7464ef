"""The importers' HTTP client: timeouts, a User-Agent, retries with backoff, clear offline errors.

Every request to Hugging Face, arXiv or an LLM endpoint goes through :class:`HttpClient`:

- a User-Agent ``digestbot/<version> (+https://github.com/digestbot)``;
- a total timeout per request (connect capped at 10 s);
- retries on 429 and 5xx answers and on network errors, waiting ``Retry-After`` when the
  server sends one (capped) and an exponential backoff otherwise;
- :class:`~digestbot.errors.ImportFailed` with a message that says what to do when the
  host cannot be reached or keeps failing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from digestbot import __version__
from digestbot.errors import ImportFailed

USER_AGENT = f"digestbot/{__version__} (+https://github.com/digestbot)"

#: Longest wait honoured from a ``Retry-After`` header; longer ones fail with a message.
MAX_RETRY_AFTER = 120.0

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_FATAL_STATUSES = frozenset({401, 403, 404, 407})


class SourceUnreachable(ImportFailed):
    """The service cannot be used at all (offline, refusing us, failing): stop the whole run."""


def host_of(url: str) -> str:
    """``https://huggingface.co/api/x`` → ``huggingface.co`` (with the port where one is given)."""
    parts = urlsplit(url)
    return parts.netloc or url


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - current).total_seconds())


class HttpClient:
    """A small wrapper over :class:`httpx.AsyncClient` shared by the importers and the summarizer.

    ``setting`` names the variable that points at the service (for the offline message), e.g.
    ``DIGESTBOT_SOURCES__HF_URL``. Use as an async context manager.
    """

    def __init__(
        self,
        *,
        setting: str,
        timeout_setting: str = "DIGESTBOT_SOURCES__TIMEOUT",
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.setting = setting
        self.timeout_setting = timeout_setting
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.requests = 0
        all_headers = {"User-Agent": USER_AGENT}
        all_headers.update(headers or {})
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=all_headers,
            follow_redirects=True,
            transport=transport,
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _delay(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * (2**attempt))
        return base + random.uniform(0, base / 10)

    async def get(self, url: str, *, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return await self.request("GET", url, params=params)

    async def post_json(
        self, url: str, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return await self.request("POST", url, json=payload, headers=headers)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying 429/5xx and network errors; return a 2xx response.

        Raises ImportFailed when the host cannot be reached, keeps failing, or answers 4xx.
        """
        host = host_of(url)
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = await self._client.request(
                    method, url, params=params, json=json, headers=headers
                )
            except httpx.TimeoutException:
                if attempt < self.retries:
                    await asyncio.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise SourceUnreachable(
                    f"{host} did not answer in time ({self.retries + 1} attempts): "
                    f"try again later, or raise {self.timeout_setting}"
                ) from None
            except httpx.TransportError as exc:
                if attempt < self.retries:
                    await asyncio.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise SourceUnreachable(
                    f"cannot reach {host}: check your network or {self.setting} "
                    f"({type(exc).__name__}: {exc or 'connection failed'})"
                ) from None
            if response.status_code < 400:
                return response
            if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise SourceUnreachable(
                        f"{host} asks to wait {wait:.0f} s before retrying "
                        f"(HTTP {response.status_code}): try again later"
                    )
                await asyncio.sleep(self._delay(attempt) if wait is None else wait)
                attempt += 1
                continue
            message = _status_message(host, response, attempt + 1, self.setting)
            code = response.status_code
            if code in _RETRY_STATUSES or code in _FATAL_STATUSES:
                raise SourceUnreachable(message)
            raise ImportFailed(message)


def _status_message(host: str, response: httpx.Response, attempts: int, setting: str) -> str:
    code = response.status_code
    detail = response.text.strip().replace("\n", " ")[:200]
    tail = f": {detail}" if detail else ""
    if code == 429:
        return f"{host} is rate-limiting us (HTTP 429 after {attempts} attempts): wait and retry"
    if code >= 500:
        return f"{host} keeps failing (HTTP {code} after {attempts} attempts){tail}; try later"
    if code in (401, 403):
        return f"{host} refused the request (HTTP {code}){tail}: check the API key or access"
    if code == 404:
        return f"{host} has no such endpoint (HTTP 404 for {response.url}): check {setting}"
    return f"{host} rejected the request (HTTP {code}){tail}"
