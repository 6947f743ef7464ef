"""The stand-in's Bot API: the methods python-telegram-bot calls, and the controls tests use.

`FakeTelegram` serves the Bot API over real HTTP on loopback (uvicorn + starlette in a
background thread with its own event loop), so python-telegram-bot reaches it through
``Bot(token, base_url=fake.base_url)`` from sync code or from async code on any loop.
It enforces what makes Telegram refuse a request (the HTML subset, the 4096 UTF-16 text
limit, callback data size, flood limits, blocked / kicked / deactivated / migrated chats)
and answers with Telegram's exact error payloads, so PTB raises the same exceptions it
raises against api.telegram.org. Tests register chats, inspect what was sent, and play
users (messages and button presses delivered through ``getUpdates``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .html_rules import HtmlParseError, parse_html, public_entities, strip_text, utf16_len
from .limits import FloodControl, RateLimits
from .server import Server
from .state import (
    MAX_CALLBACK_DATA_BYTES,
    MAX_MESSAGE_LENGTH,
    ApiError,
    Chat,
    JSONDict,
    Poll,
    SentMessage,
    bad_request,
)

_TOKEN_RE: Final = re.compile(r"\d+:[A-Za-z0-9_-]+")
_PATH_RE: Final = re.compile(r"/bot([^/]+)/([^/]*)")
_INT_RE: Final = re.compile(r"-?\d+")
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_LEADING_COMMAND_RE: Final = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")

_CONFLICT_TERMINATED: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_CONFLICT_WEBHOOK: Final = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS: Final = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)

# How form-encoded values are typed. PTB sends every value as a string: `str` values raw,
# everything else `json.dumps`-ed ("123", "true", '{"inline_keyboard": ...}').
_INT_PARAMS: Final = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "message_thread_id",
        "max_connections",
        "user_id",
    }
)
_BOOL_PARAMS: Final = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "allow_paid_broadcast",
    }
)
_JSON_PARAMS: Final = frozenset(
    {
        "reply_markup",
        "entities",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
    }
)


def _coerce(name: str, value: Any) -> Any:
    """Type one request parameter the way Telegram's server reads it."""
    if not isinstance(value, str):
        return value
    if name == "chat_id":
        return int(value) if _INT_RE.fullmatch(value) else value
    if name in _INT_PARAMS:
        if not _INT_RE.fullmatch(value.strip()):
            raise bad_request(f'invalid value of parameter "{name}"')
        return int(value)
    if name in _BOOL_PARAMS:
        return value.strip().lower() in {"true", "1"}
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            if name == "reply_markup":
                raise bad_request("can't parse reply keyboard markup JSON object") from None
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def _check_reply_markup(markup: Any) -> JSONDict | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # ReplyKeyboardMarkup / ForceReply / ReplyKeyboardRemove: echoed as is
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse inline keyboard button: Text is not specified")
            if not _BUTTON_ACTIONS & button.keys():
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None:
                size = len(str(data).encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _button_data(markup: JSONDict | None) -> set[str]:
    if not markup:
        return set()
    rows = markup.get("inline_keyboard") or []
    return {
        str(button["callback_data"])
        for row in rows
        for button in row
        if isinstance(button, dict) and "callback_data" in button
    }


def _scope_key(scope: Any) -> str:
    if scope is None:
        scope = {"type": "default"}
    elif isinstance(scope, str):
        scope = {"type": scope}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))


class FakeTelegram:
    """The Telegram Bot API on ``127.0.0.1``, served from a background thread.

    Use as ``with FakeTelegram(token="123:ABC") as tg:`` and point PTB at it with
    ``telegram.Bot(tg.token, base_url=tg.base_url)``. Every public method is thread-safe
    and non-async, so it works from sync tests and from async tests on any event loop.
    """

    METHODS: Final = (
        "getMe",
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "getUpdates",
        "deleteWebhook",
        "setWebhook",
        "getWebhookInfo",
        "sendChatAction",
        "getChat",
        "close",
        "logOut",
    )

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
        if not _TOKEN_RE.fullmatch(token):
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
        self._handlers: dict[str, Callable[[JSONDict], Any]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "close": lambda _p: True,
            "logOut": lambda _p: True,
        }
        self._method_names = {name.lower(): name for name in self.METHODS}

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

    # ---------------------------------------------------------------- setup API

    def add_private_chat(
        self,
        user_id: int,
        first_name: str = "Reader",
        language_code: str | None = None,
        username: str | None = None,
        *,
        started: bool = True,
    ) -> None:
        """Register a user and their private chat with the bot (``started=False``: the user
        never pressed Start, so the bot "can't initiate conversation")."""
        with self._lock:
            self._users[user_id] = self._user_json(user_id, first_name, username, language_code)
            chat = self._chats.get(user_id)
            if chat is None:
                self._chats[user_id] = Chat(
                    id=user_id,
                    type="private",
                    first_name=first_name,
                    username=username,
                    started=started,
                )
            else:
                chat.first_name, chat.username, chat.started = first_name, username, started

    def add_channel(self, chat_id: int, title: str, username: str | None = None) -> None:
        """Register a channel the bot is an admin of (``@username`` resolves to it)."""
        with self._lock:
            self._chats[chat_id] = Chat(id=chat_id, type="channel", title=title, username=username)

    def add_group(
        self, chat_id: int, title: str, supergroup: bool = True, username: str | None = None
    ) -> None:
        """Register a group (or supergroup) the bot is a member of."""
        kind = "supergroup" if supergroup else "group"
        with self._lock:
            self._chats[chat_id] = Chat(id=chat_id, type=kind, title=title, username=username)

    def block(self, user_id: int) -> None:
        """The user blocked the bot: sends get 403 "bot was blocked by the user"."""
        with self._lock:
            self._chat_or_raise(user_id, private=True).blocked = True

    def unblock(self, user_id: int) -> None:
        with self._lock:
            self._chat_or_raise(user_id, private=True).blocked = False

    def deactivate(self, user_id: int) -> None:
        """The user deleted their account: sends get 403 "user is deactivated"."""
        with self._lock:
            self._chat_or_raise(user_id, private=True).deactivated = True

    def kick(self, chat_id: int) -> None:
        """The bot was removed from a group or channel: 403 "bot was kicked from the ... chat"."""
        with self._lock:
            self._chat_or_raise(chat_id, private=False).kicked = True

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """Upgrade a group to a supergroup with a new id; the old id answers with
        400 + ``migrate_to_chat_id`` (PTB: ChatMigrated)."""
        with self._lock:
            old = self._chat_or_raise(old_chat_id, private=False)
            old.migrated_to = new_chat_id
            self._chats[new_chat_id] = Chat(
                id=new_chat_id, type="supergroup", title=old.title, username=old.username
            )

    def fail_next(
        self, chat_id: int | str | None, status: int = 500, n: int = 1, *, retry_after: int = 1
    ) -> None:
        """Answer the next ``n`` requests aimed at ``chat_id`` (any chat when None) with
        ``status`` (500 Internal Server Error, 502 Bad Gateway, 429 with ``retry_after``...)."""
        if status < 400:
            raise ValueError("fail_next needs an error status")
        with self._lock:
            self._failures.setdefault(chat_id, deque()).extend([(status, retry_after)] * n)

    def reset_rate_limits(self) -> None:
        """Empty every flood-control window (and apply a changed ``limits``); the
        counters of refused requests start again from zero."""
        with self._lock:
            self._flood = FloodControl(self.limits)

    # ---------------------------------------------------------------- users

    def send_user_message(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        language_code: str | None = None,
        is_bot: bool = False,
        *,
        first_name: str | None = None,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user writes ``text`` to the bot (in their private chat, or in group ``chat_id``);
        enqueues the Update for getUpdates and returns it. A leading ``/command`` or
        ``/command@bot`` gets its ``bot_command`` entity. Writing in the private chat
        (re)starts it, as pressing Start does."""
        with self._lock:
            user = self._ensure_user(user_id, first_name, username, language_code, is_bot)
            if chat_id is None or chat_id == user_id:
                chat = self._chats.get(user_id)
                if chat is None:
                    chat = Chat(
                        id=user_id,
                        type="private",
                        first_name=user["first_name"],
                        username=user.get("username"),
                    )
                    self._chats[user_id] = chat
                chat.started, chat.blocked = True, False
            else:
                chat = self._chat_or_raise(chat_id, private=False)
                if chat.type == "channel":
                    raise ValueError("users do not post messages into channels")
                if chat.migrated_to is not None:
                    raise ValueError(f"chat {chat_id} migrated to {chat.migrated_to}")
            message: JSONDict = {
                "message_id": self._next_message_id(chat),
                "from": user,
                "chat": chat.as_json(),
                "date": int(time.time()),
                "text": text,
            }
            command = _LEADING_COMMAND_RE.match(text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
                ]
            if reply_to_message_id is not None:
                replied = self._message_json_by_id(chat.id, reply_to_message_id)
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat.id}")
                message["reply_to_message"] = replied
            self._user_messages[(chat.id, message["message_id"])] = message
            return self._enqueue({"message": message})

    def press_button(self, user_id: int, message: SentMessage, data: str) -> JSONDict:
        """A user presses the inline button carrying ``data`` on ``message``; enqueues the
        ``callback_query`` Update and returns it. Raises ValueError when the message's
        current keyboard has no such button."""
        with self._lock:
            current = self._messages.get(message.chat_id, {}).get(message.message_id)
            if current is None or current.deleted:
                raise ValueError(f"no message {message.message_id} in chat {message.chat_id}")
            if data not in _button_data(current.reply_markup):
                raise ValueError(f"message {message.message_id} has no button with data {data!r}")
            user = self._ensure_user(user_id, None, None, None, False)
            query_id = str(4_000_000_000_000_000 + self._next_callback_id)
            self._next_callback_id += 1
            self._callback_queries[query_id] = False
            chat = self._chats[current.chat_id]
            query: JSONDict = {
                "id": query_id,
                "from": user,
                "message": self._message_json(current, chat),
                "chat_instance": str(abs(chat.id) * 7919 + self._bot_id),
                "data": data,
            }
            return self._enqueue({"callback_query": query})

    def inject_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Enqueue any raw Update payload (an ``update_id`` is assigned); returns it."""
        with self._lock:
            return self._enqueue({k: v for k, v in update.items() if k != "update_id"})

    # ---------------------------------------------------------------- inspection

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot delivered into ``chat_id``, oldest first (deleted ones flagged)."""
        with self._lock:
            return list(self._messages.get(chat_id, {}).values())

    def all_messages(self) -> list[SentMessage]:
        """Every message the bot delivered, in delivery order."""
        with self._lock:
            return [self._messages[chat_id][message_id] for chat_id, message_id in self._order]

    def visible_text(self, message: SentMessage) -> str:
        """What a reader sees: tags stripped, entities decoded, trimmed."""
        return self._parse_text(message.text, message.parse_mode, stored=True)[0]

    @property
    def count_429(self) -> int:
        """How many 429 Too Many Requests answers flood control gave, in total."""
        with self._lock:
            return self._flood.refused

    def count_429_for(self, chat_id: int) -> int:
        with self._lock:
            return self._flood.refused_by_chat[chat_id]

    @property
    def over_limit(self) -> dict[str, int]:
        """Requests refused by flood control, per scope they exceeded (``global``,
        ``private``, ``group``; one request may exceed two)."""
        with self._lock:
            return {scope: n for scope, n in self._flood.over_limit.items()}

    def calls(self, method: str) -> list[JSONDict]:
        """Typed parameters of every request to ``method`` (case-insensitive), in order."""
        with self._lock:
            return copy.deepcopy(self._calls.get(method.lower(), []))

    def commands(
        self, scope: Mapping[str, Any] | str | None = None, language_code: str | None = None
    ) -> list[JSONDict]:
        """The commands setMyCommands stored for ``scope`` (default scope when None; a
        type name like "all_private_chats" or a scope dict) and ``language_code``."""
        key = (
            _scope_key(dict(scope) if isinstance(scope, Mapping) else scope),
            language_code or "",
        )
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    @property
    def callback_answers(self) -> list[JSONDict]:
        """Parameters of every successful answerCallbackQuery."""
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def webhook_url(self) -> str:
        with self._lock:
            return str(self._webhook.get("url", ""))

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def wait_for_messages(self, chat_id: int, n: int, timeout: float = 5.0) -> list[SentMessage]:
        """Block until ``chat_id`` holds at least ``n`` delivered messages; return them all.

        Don't call it from the event loop that runs the bot under test (it would block that
        loop): use `wait_for_messages_async` there. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages.get(chat_id, {})) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    have = len(self._messages.get(chat_id, {}))
                    raise TimeoutError(
                        f"chat {chat_id}: {have} message(s) after {timeout}s, wanted {n}"
                    )
                self._changed.wait(remaining)
            return list(self._messages[chat_id].values())

    async def wait_for_messages_async(self, chat_id: int, n: int) -> list[SentMessage]:
        """`wait_for_messages` for async tests: polls without blocking the caller's loop.

        Bound it with ``async with asyncio.timeout(5):``."""
        while True:
            with self._lock:
                have = list(self._messages.get(chat_id, {}).values())
            if len(have) >= n:
                return have
            await asyncio.sleep(0.005)

    def wait_for_calls(self, method: str, n: int, timeout: float = 5.0) -> list[JSONDict]:
        """Block until ``method`` was called at least ``n`` times; return the calls."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._calls.get(method.lower(), [])) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{method}: fewer than {n} call(s) after {timeout}s")
                self._changed.wait(remaining)
            return copy.deepcopy(self._calls[method.lower()])

    # ---------------------------------------------------------------- HTTP

    async def _endpoint(self, request: Request) -> Response:
        match = _PATH_RE.fullmatch(request.url.path)
        if match is None or not _TOKEN_RE.fullmatch(match.group(1)):
            return self._error_response(ApiError(404, "Not Found"))
        if match.group(1) != self._token:
            return self._error_response(ApiError(401, "Unauthorized"))
        method = self._method_names.get(match.group(2).lower())
        if method is None:
            return self._error_response(ApiError(404, "Not Found"))
        try:
            params = await self._read_params(request)
            with self._changed:
                self._calls.setdefault(method.lower(), []).append(copy.deepcopy(params))
                self._changed.notify_all()
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                with self._changed:
                    result = self._handlers[method](params)
                    self._changed.notify_all()
        except ApiError as error:
            return self._error_response(error)
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    def _error_response(error: ApiError) -> Response:
        return JSONResponse(error.payload(), status_code=error.status)

    @staticmethod
    async def _read_params(request: Request) -> JSONDict:
        raw: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == "application/json":
                body = await request.body()
                if body.strip():
                    try:
                        data = json.loads(body)
                    except ValueError:
                        raise bad_request("can't parse JSON encoded request body") from None
                    if not isinstance(data, dict):
                        raise bad_request("JSON object expected as request body")
                    raw.update(data)
            elif content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
                async with request.form() as form:
                    for key, value in form.multi_items():
                        if not isinstance(value, UploadFile):
                            raw[key] = value
        return {key: _coerce(key, value) for key, value in raw.items() if value is not None}

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset", 0))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0)), 0.0)
        allowed = params.get("allowed_updates")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self._lock:
            if self._webhook.get("url"):
                raise ApiError(409, _CONFLICT_WEBHOOK)
            poll = self._poll
            if poll is None:
                raise ApiError(500, "Internal Server Error")
            poll.generation += 1
            generation = poll.generation
            if isinstance(allowed, list):
                self._allowed_updates = [str(kind) for kind in allowed]
            self._confirm_updates(offset)
        self._wake_on_loop()  # an older poll still waiting is now terminated
        while True:
            event = poll.event
            with self._lock:
                if poll.generation != generation:
                    raise ApiError(409, _CONFLICT_TERMINATED)
                wanted = [u for u in self._updates if self._update_allowed(u)][:limit]
                closing = self._closing
            if wanted or closing:
                return copy.deepcopy(wanted)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _update_allowed(self, update: JSONDict) -> bool:
        if not self._allowed_updates:
            return True
        return any(kind in update for kind in self._allowed_updates)

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
        data["text"] = self._parse_text(sent.text, sent.parse_mode, stored=True)[0]
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

    # ---------------------------------------------------------------- methods

    def _get_me(self, _params: JSONDict) -> JSONDict:
        return {
            **self._bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: JSONDict) -> JSONDict:
        raw = params.get("chat_id")
        self._consume_failure(raw)
        chat = self._resolve_chat(raw)
        text, parse_mode, entities = self._checked_text(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        reply_to = params.get("reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
        if reply_to is not None and self._message_json_by_id(chat.id, int(reply_to)) is None:
            if not allow_missing:
                raise bad_request("message to be replied not found")
            reply_to = None
        self._check_flood(chat)
        sent = SentMessage(
            chat_id=chat.id,
            message_id=self._next_message_id(chat),
            text=text,
            parse_mode=parse_mode,
            reply_markup=copy.deepcopy(markup),
            sent_at=self._clock(),
            date=int(time.time()),
            entities=tuple(entities),
            reply_to_message_id=int(reply_to) if reply_to is not None else None,
        )
        self._messages.setdefault(chat.id, {})[sent.message_id] = sent
        self._order.append((chat.id, sent.message_id))
        return self._message_json(sent, chat)

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat, sent = self._find_message(params, "message to edit not found")
        text, parse_mode, entities = self._checked_text(params)
        # Telegram drops an inline keyboard that the edit does not repeat.
        markup = _check_reply_markup(params.get("reply_markup"))
        old_visible = self._parse_text(sent.text, sent.parse_mode, stored=True)[0]
        new_visible = self._parse_text(text, parse_mode)[0]
        if (old_visible, list(sent.entities), sent.reply_markup) == (new_visible, entities, markup):
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        updated = self._replace(
            sent,
            text=text,
            parse_mode=parse_mode,
            entities=tuple(entities),
            reply_markup=copy.deepcopy(markup),
            edits=(*sent.edits, sent.text),
            edit_date=int(time.time()),
        )
        return self._message_json(updated, chat)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        chat, sent = self._find_message(params, "message to edit not found")
        markup = _check_reply_markup(params.get("reply_markup"))
        if markup == sent.reply_markup or (not markup and not sent.reply_markup):
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        updated = self._replace(
            sent, reply_markup=copy.deepcopy(markup), edit_date=int(time.time())
        )
        return self._message_json(updated, chat)

    def _delete_message(self, params: JSONDict) -> bool:
        raw = params.get("chat_id")
        self._consume_failure(raw)
        chat = self._resolve_chat(raw)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        sent = self._messages.get(chat.id, {}).get(message_id)
        if sent is not None and not sent.deleted:
            self._replace(sent, deleted=True)
            return True
        if self._user_messages.pop((chat.id, message_id), None) is not None:
            return True
        raise bad_request("message to delete not found")

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._callback_queries.get(query_id, True):
            raise bad_request(_QUERY_INVALID.removeprefix("Bad Request: "))
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        self._callback_answers.append(copy.deepcopy(params))
        return True

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise bad_request("too many commands")
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        self._webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._webhook = {}
            return True
        if not url.lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {
            key: params[key]
            for key in ("url", "max_connections", "allowed_updates", "secret_token")
            if key in params
        }
        return True

    def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("max_connections", "allowed_updates"):
            if key in self._webhook:
                info[key] = self._webhook[key]
        return info

    def _send_chat_action(self, params: JSONDict) -> bool:
        raw = params.get("chat_id")
        self._consume_failure(raw)
        self._resolve_chat(raw)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _get_chat(self, params: JSONDict) -> JSONDict:
        raw = params.get("chat_id")
        self._consume_failure(raw)
        chat = self._resolve_chat(raw, writing=False)
        return {
            **chat.as_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
