"""The stand-in's record of the world: chats, the messages the bot sent, and API errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

JSONDict = dict[str, Any]

MAX_MESSAGE_LENGTH: Final = 4096
"""Telegram's limit on message text, in UTF-16 code units after entity parsing."""
MAX_CALLBACK_DATA_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot delivered, as the fake recorded it (a snapshot; never mutated)."""

    chat_id: int
    message_id: int
    text: str
    """The current text exactly as sent (raw HTML source when ``parse_mode`` is HTML)."""
    parse_mode: str | None
    reply_markup: JSONDict | None
    sent_at: float
    """The fake's clock (``time.monotonic`` unless injected) when it was delivered."""
    date: int
    entities: tuple[JSONDict, ...] = ()
    reply_to_message_id: int | None = None
    edits: tuple[str, ...] = ()
    """Earlier texts, oldest first, one per successful editMessageText."""
    edit_date: int | None = None
    deleted: bool = False


@dataclass(slots=True)
class Chat:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    blocked: bool = False
    deactivated: bool = False
    kicked: bool = False
    started: bool = True
    migrated_to: int | None = None
    next_message_id: int = 1

    def as_json(self) -> JSONDict:
        data: JSONDict = {"id": self.id, "type": self.type}
        if self.title is not None:
            data["title"] = self.title
        if self.first_name is not None:
            data["first_name"] = self.first_name
        if self.username is not None:
            data["username"] = self.username
        return data


@dataclass(slots=True)
class Poll:
    """Wakes long-polling getUpdates handlers; lives on the server's event loop."""

    event: asyncio.Event
    generation: int = 0


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str, parameters: JSONDict | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {description}", parameters)
