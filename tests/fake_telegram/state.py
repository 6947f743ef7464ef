"""The stand-in's record of the world: chats, users, the messages the bot sent, updates,
calls, and the rules every request and control applies to them."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from .html_rules import (
    HtmlParseError,
    JSONDict,
    parse_html,
    public_entities,
    strip_text,
    utf16_len,
)
from .limits import FloodControl, RateLimits

if TYPE_CHECKING:
    from .server import Server

MAX_MESSAGE_LENGTH: Final = 4096
"""Telegram's limit on message text, in UTF-16 code units after entity parsing."""
MAX_CALLBACK_DATA_BYTES: Final = 64
TOKEN_RE: Final = re.compile(r"\d+:[A-Za-z0-9_-]+")
COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
LEADING_COMMAND_RE: Final = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")


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


def button_data(markup: JSONDict | None) -> set[str]:
    if not markup:
        return set()
    rows = markup.get("inline_keyboard") or []
    return {
        str(button["callback_data"])
        for row in rows
        for button in row
        if isinstance(button, dict) and "callback_data" in button
    }


def scope_key(scope: Any) -> str:
    if scope is None:
        scope = {"type": "default"}
    elif isinstance(scope, str):
        scope = {"type": scope}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))


class TelegramState:
    """What the stand-in knows, and the checks shared by its Bot API and its controls.

    ``FakeTelegram`` (server.py) is the class to use; the layers are: this state,
    ``Controls`` (what tests do and look at), ``BotApi`` (the HTTP methods), the server.
    """

    def __init__(
        self,
        token: str = "123456789:TEST-fake-telegram-token",
        *,
        bot_username: str = "digest_test_bot",
        bot_name: str = "Digest Test Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: bool = True,
        limits: RateLimits | None = None,
        auto_create_private: bool = False,
        strict_html: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a bot token (digits:secret): {token!r}")
        self._token = token
        self._bot_id = int(token.split(":", 1)[0])
        self._bot_username = bot_username
        self._bot_name = bot_name
        self._host = host
        self._port = port
        self.rate_limits = rate_limits
        self.limits = limits or RateLimits()
        self.auto_create_private = auto_create_private
        self.strict_html = strict_html
        self._clock = clock
        self._visible: dict[tuple[str, str | None], str] = {}
        """Visible text of stored messages by (text, parse_mode): a fan-out answers the same
        few texts thousands of times, and this is the stand-in's work after it counted one."""

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._chats: dict[int, Chat] = {}
        self._users: dict[int, JSONDict] = {}
        self._messages: dict[int, dict[int, SentMessage]] = {}
        self._order: list[tuple[int, int]] = []
        self._user_messages: dict[tuple[int, int], JSONDict] = {}
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] = []
        self._webhook: JSONDict = {}
        self._calls: dict[str, list[JSONDict]] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._callback_answers: list[JSONDict] = []
        self._next_callback_id = 1
        self._failures: dict[int | str | None, deque[tuple[int, int]]] = {}
        self._flood = FloodControl(self.limits)

        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll: Poll | None = None
        self._closing = False
        self._thread_error: BaseException | None = None

    def _wake_pollers(self) -> None:
        """Wake every waiting getUpdates handler (callable from any thread)."""
        with self._lock:
            loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._wake_on_loop)

    def _wake_on_loop(self) -> None:
        poll = self._poll
        if poll is not None:
            event, poll.event = poll.event, asyncio.Event()
            event.set()

    def _enqueue(self, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, **copy.deepcopy(payload)}
        self._next_update_id += 1
        self._updates.append(update)
        self._changed.notify_all()
        self._wake_pollers()
        return copy.deepcopy(update)

    # ---------------------------------------------------------------- helpers

    def _user_json(
        self,
        user_id: int,
        first_name: str,
        username: str | None,
        language_code: str | None,
        is_bot: bool = False,
    ) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _ensure_user(
        self,
        user_id: int,
        first_name: str | None,
        username: str | None,
        language_code: str | None,
        is_bot: bool,
    ) -> JSONDict:
        user = self._users.get(user_id)
        if user is None:
            user = self._user_json(user_id, first_name or f"User {user_id}", username, None)
            self._users[user_id] = user
        user = dict(user, is_bot=is_bot)
        if first_name is not None:
            user["first_name"] = first_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _bot_json(self) -> JSONDict:
        return {
            "id": self._bot_id,
            "is_bot": True,
            "first_name": self._bot_name,
            "username": self._bot_username,
        }

    def _chat_or_raise(self, chat_id: int, *, private: bool) -> Chat:
        chat = self._chats.get(chat_id)
        if chat is None or (chat.type == "private") != private:
            kind = "private chat" if private else "group or channel"
            raise KeyError(f"no {kind} {chat_id} registered with the fake")
        return chat

    def _next_message_id(self, chat: Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _consume_failure(self, raw_chat_id: Any) -> None:
        for key in (raw_chat_id, None):
            queue = self._failures.get(key)
            if queue:
                code, retry_after = queue.popleft()
                if code == HTTPStatus.TOO_MANY_REQUESTS:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after},
                    )
                try:
                    phrase = HTTPStatus(code).phrase
                except ValueError:
                    phrase = "Internal Server Error"
                raise ApiError(code, phrase)

    def _resolve_chat(self, raw: Any, *, writing: bool = True) -> Chat:
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: Chat | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            chat = self._chats.get(raw)
            if chat is None and self.auto_create_private and raw > 0:
                chat = Chat(id=raw, type="private", first_name=f"User {raw}")
                self._chats[raw] = chat
                self._users.setdefault(raw, self._user_json(raw, f"User {raw}", None, None))
        elif isinstance(raw, str) and raw.startswith("@"):
            name = raw[1:].lower()
            chat = next(
                (
                    c
                    for c in self._chats.values()
                    if c.type != "private" and c.username and c.username.lower() == name
                ),
                None,
            )
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if not writing:
            return chat
        if chat.type == "private":
            if chat.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat.kicked:
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    def _parse_text(
        self, text: str, parse_mode: str | None, *, stored: bool = False
    ) -> tuple[str, list[JSONDict]]:
        """Visible text + entities; ``stored`` texts were validated already, so parse them
        leniently (same result for valid input, and immune to `strict_html` changing)."""
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                visible, entities = parse_html(text, strict=self.strict_html and not stored)
            except HtmlParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
            return visible, public_entities(entities)
        if mode in {"", "markdown", "markdownv2"}:
            return strip_text(text, [])
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")

    def _visible_text(self, text: str, parse_mode: str | None) -> str:
        """The visible text of a stored (already validated) message, remembered."""
        key = (text, parse_mode)
        visible = self._visible.get(key)
        if visible is None:
            visible = self._parse_text(text, parse_mode, stored=True)[0]
            if len(self._visible) >= 256:
                self._visible.clear()
            self._visible[key] = visible
        return visible

    def _checked_text(self, params: JSONDict) -> tuple[str, str | None, list[JSONDict]]:
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise bad_request("message text is empty")
        parse_mode = params.get("parse_mode") or None
        visible, entities = self._parse_text(text, parse_mode)
        if not parse_mode and isinstance(params.get("entities"), list):
            entities = list(params["entities"])
        if not visible:
            raise bad_request("message text is empty")
        if utf16_len(visible) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        return text, parse_mode, entities

    def _check_flood(self, chat: Chat) -> None:
        """Raise 429 when one more message would overfill a sliding window; else count it."""
        if not self.rate_limits:
            return
        retry_after = self._flood.admit(chat.id, private=chat.type == "private", now=self._clock())
        if retry_after is not None:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    def _message_json_by_id(self, chat_id: int, message_id: int) -> JSONDict | None:
        sent = self._messages.get(chat_id, {}).get(message_id)
        if sent is not None and not sent.deleted:
            return self._message_json(sent, self._chats[chat_id])
        user_message = self._user_messages.get((chat_id, message_id))
        return copy.deepcopy(user_message) if user_message is not None else None

    def _message_json(self, sent: SentMessage, chat: Chat) -> JSONDict:
        data: JSONDict = {"message_id": sent.message_id}
        if chat.type == "channel":
            data["sender_chat"] = chat.as_json()
        else:
            data["from"] = self._bot_json()
        data["chat"] = chat.as_json()
        data["date"] = sent.date
        if sent.edit_date is not None:
            data["edit_date"] = sent.edit_date
        data["text"] = self._visible_text(sent.text, sent.parse_mode)
        if sent.entities:
            data["entities"] = copy.deepcopy(list(sent.entities))
        if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
            data["reply_markup"] = copy.deepcopy(sent.reply_markup)
        if sent.reply_to_message_id is not None:
            replied = self._message_json_by_id(chat.id, sent.reply_to_message_id)
            if replied is not None:
                replied.pop("reply_to_message", None)
                data["reply_to_message"] = replied
        return data

    def _find_message(self, params: JSONDict, not_found: str) -> tuple[Chat, SentMessage]:
        if "inline_message_id" in params:
            raise bad_request("MESSAGE_ID_INVALID")
        raw = params.get("chat_id")
        self._consume_failure(raw)
        chat = self._resolve_chat(raw)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        sent = self._messages.get(chat.id, {}).get(message_id)
        if sent is None or sent.deleted:
            raise bad_request(not_found)
        return chat, sent

    def _replace(self, sent: SentMessage, **changes: Any) -> SentMessage:
        updated = dataclasses.replace(sent, **changes)
        self._messages[sent.chat_id][sent.message_id] = updated
        return updated
