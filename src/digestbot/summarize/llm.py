"""The LLM client: one OpenAI-compatible chat-completions request in JSON mode, over
:class:`HttpClient`, with the tokens the API reports as used."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from digestbot.errors import ImportFailed
from digestbot.settings import Settings
from digestbot.sources.http import HttpClient

__all__ = ["SETTING", "LlmAnswer", "LlmClient", "open_llm"]

SETTING = "DIGESTBOT_LLM__BASE_URL"

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _parse_content(content: str) -> dict[str, str]:
    m = _FENCE.match(content)
    if m:
        content = m.group(1)
    data = json.loads(content)
    if not isinstance(data, dict):
        raise ValueError("the answer is JSON but not an object")
    return {k: v.strip() for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True, slots=True)
class LlmAnswer:
    values: dict[str, str]
    prompt_tokens: int
    completion_tokens: int


class LlmClient:
    """An OpenAI-compatible chat-completions client (JSON mode), over :class:`HttpClient`."""

    def __init__(self, settings: Settings, http: HttpClient) -> None:
        llm = settings.llm
        if not llm.base_url:
            raise ImportFailed(
                "no LLM configured: set DIGESTBOT_LLM__BASE_URL, DIGESTBOT_LLM__API_KEY "
                "and DIGESTBOT_LLM__MODEL"
            )
        self.url = llm.base_url.rstrip("/") + "/chat/completions"
        self.model = llm.model
        self.http = http
        self.headers = {"Content-Type": "application/json"}
        if llm.api_key is not None and llm.api_key.get_secret_value():
            self.headers["Authorization"] = f"Bearer {llm.api_key.get_secret_value()}"

    async def complete(self, system: str, user: str) -> LlmAnswer:
        """Ask once (twice if the first answer is not a JSON object)."""
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
        }
        prompt = completion = 0
        last_error = ""
        for _attempt in range(2):
            response = await self.http.post_json(self.url, payload, headers=self.headers)
            try:
                data = response.json()
                usage = data.get("usage") or {}
                prompt += int(usage.get("prompt_tokens") or 0)
                completion += int(usage.get("completion_tokens") or 0)
                content = data["choices"][0]["message"]["content"]
                values = _parse_content(str(content))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            return LlmAnswer(values, prompt, completion)
        raise ImportFailed(
            f"{self.url} did not answer with a JSON object twice ({last_error}); "
            "check DIGESTBOT_LLM__MODEL supports JSON output"
        )


@contextlib.asynccontextmanager
async def open_llm(settings: Settings) -> AsyncIterator[LlmClient]:
    """An :class:`LlmClient` over an HTTP client made from the settings (timeout, retries),
    closed on the way out."""
    async with HttpClient(
        setting=SETTING,
        timeout_setting="DIGESTBOT_LLM__TIMEOUT",
        timeout=settings.llm.timeout,
        retries=settings.sources.retries,
    ) as http:
        yield LlmClient(settings, http)
