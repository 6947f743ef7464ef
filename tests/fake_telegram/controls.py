"""What tests do to the stand-in and look at: chats and users, failures, updates, records."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from .html_rules import JSONDict, utf16_len
from .limits import FloodControl
from .state import (
    LEADING_COMMAND_RE,
    Chat,
    SentMessage,
    TelegramState,
    button_data,
    scope_key,
)


class Controls(TelegramState):
    """Set up chats, play users, inject failures, and inspect what the bot did."""

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
            command = LEADING_COMMAND_RE.match(text)
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
            if data not in button_data(current.reply_markup):
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
            scope_key(dict(scope) if isinstance(scope, Mapping) else scope),
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
