"""The stand-in's Bot API: the HTTP endpoint and the methods python-telegram-bot calls."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
from typing import Any, Final

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .controls import Controls
from .html_rules import JSONDict
from .state import (
    COMMAND_RE,
    MAX_CALLBACK_DATA_BYTES,
    TOKEN_RE,
    ApiError,
    SentMessage,
    bad_request,
    scope_key,
)

_PATH_RE: Final = re.compile(r"/bot([^/]+)/([^/]*)")
_INT_RE: Final = re.compile(r"-?\d+")

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


class BotApi(Controls):
    """The Bot API methods, answered as Telegram answers them."""

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
    _HANDLERS: Final = {
        "getMe": "_get_me",
        "sendMessage": "_send_message",
        "editMessageText": "_edit_message_text",
        "editMessageReplyMarkup": "_edit_message_reply_markup",
        "deleteMessage": "_delete_message",
        "answerCallbackQuery": "_answer_callback_query",
        "setMyCommands": "_set_my_commands",
        "getMyCommands": "_get_my_commands",
        "deleteMyCommands": "_delete_my_commands",
        "deleteWebhook": "_delete_webhook",
        "setWebhook": "_set_webhook",
        "getWebhookInfo": "_get_webhook_info",
        "sendChatAction": "_send_chat_action",
        "getChat": "_get_chat",
        "close": "_close",
        "logOut": "_close",
    }
    _METHOD_NAMES: Final = {name.lower(): name for name in METHODS}

    # ---------------------------------------------------------------- HTTP

    async def _endpoint(self, request: Request) -> Response:
        match = _PATH_RE.fullmatch(request.url.path)
        if match is None or not TOKEN_RE.fullmatch(match.group(1)):
            return self._error_response(ApiError(404, "Not Found"))
        if match.group(1) != self._token:
            return self._error_response(ApiError(401, "Unauthorized"))
        method = self._METHOD_NAMES.get(match.group(2).lower())
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
                    result = getattr(self, self._HANDLERS[method])(params)
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
            if not isinstance(name, str) or not COMMAND_RE.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (scope_key(params.get("scope")), str(params.get("language_code") or ""))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = (scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = (scope_key(params.get("scope")), str(params.get("language_code") or ""))
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

    def _close(self, _params: JSONDict) -> bool:
        return True
