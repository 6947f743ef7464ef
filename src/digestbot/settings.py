"""Every knob digestbot has, read from ``DIGESTBOT_*`` variables and ``.env``, validated."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from digestbot.errors import SettingsError
from digestbot.models import Language

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CRON_FIELD = re.compile(r"^[\w*/,\-?#LW]+$")


class ChannelSettings(BaseModel):
    """A Telegram channel or group the issue is posted to."""

    chat_id: int | str
    lang: Language = Language.BOTH

    @field_validator("chat_id")
    @classmethod
    def _chat(cls, v: int | str) -> int | str:
        if isinstance(v, str) and not (v.startswith("@") or v.lstrip("-").isdigit()):
            raise ValueError("a channel is a numeric id (-100…) or an @username")
        if isinstance(v, str) and v.lstrip("-").isdigit():
            return int(v)
        return v


def _none_if_empty(v: object) -> object:
    """An empty credential (``DIGESTBOT_SMTP__USERNAME=``) means none."""
    if isinstance(v, str) and not v.strip():
        return None
    if isinstance(v, SecretStr) and not v.get_secret_value().strip():
        return None
    return v


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org/bot"
    channels: list[ChannelSettings] = Field(default_factory=list)
    admins: list[int] = Field(default_factory=list)
    webhook_url: str | None = None
    bot_username: str | None = None
    """The bot's @username: emails link to https://t.me/<username> when it is set."""
    global_rate: float = 30.0
    group_rate_per_minute: float = 20.0
    private_rate: float = 1.0

    _empty_token = field_validator("token", mode="before")(_none_if_empty)

    @property
    def enabled(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value())

    @field_validator("bot_username")
    @classmethod
    def _bot_username(cls, v: str | None) -> str | None:
        name = (v or "").strip().removeprefix("@")
        if not name:
            return None
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", name):
            raise ValueError("a bot username is 4-32 letters, digits or _, like digest_bot")
        return name

    @property
    def bot_url(self) -> str:
        """``https://t.me/<bot username>``, or "" when no username is configured."""
        return f"https://t.me/{self.bot_username}" if self.bot_username else ""


class SmtpSettings(BaseModel):
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: str = "digestbot <digest@localhost>"
    connections: int = Field(default=4, ge=1, le=64)
    timeout: float = 30.0

    _empty = field_validator("host", "username", "password", mode="before")(_none_if_empty)

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    trusted_proxies: list[str] = Field(default_factory=list)
    """Proxies (IPs or CIDRs) whose X-Forwarded-For / Forwarded headers are believed."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """``/metrics`` on this port of ``host`` (served by ``digestbot run``), not the public one."""
    metrics_token: SecretStr | None = None
    """``/metrics`` on the public port, for ``Authorization: Bearer <token>`` only."""

    _empty_token = field_validator("metrics_token", mode="before")(_none_if_empty)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network: write it like "
                    '["127.0.0.1", "10.0.0.0/8"]'
                ) from None
        return [item.strip() for item in v]

    @property
    def trusted_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)


class LlmSettings(BaseModel):
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    concurrency: int = Field(default=4, ge=1, le=64)
    timeout: float = 60.0

    _empty = field_validator("base_url", "api_key", mode="before")(_none_if_empty)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)


class SourcesSettings(BaseModel):
    """Where importers fetch from; overridable so tests can serve recorded responses."""

    hf_url: str = "https://huggingface.co"
    arxiv_url: str = "https://export.arxiv.org/api/query"
    arxiv_delay: float = 3.0
    timeout: float = 30.0
    retries: int = 3


class ArchiveSettings(BaseModel):
    """Where ``publish`` writes each issue's Markdown post (off when ``dir`` is unset)."""

    dir: Path | None = None
    git_commit: bool = False

    @property
    def enabled(self) -> bool:
        return self.dir is not None


class DeliverySettings(BaseModel):
    """How long sending keeps trying: transient failures are retried for ``retry_hours``
    after a copy was queued (capped backoff), then the copy is given up as failed."""

    retry_hours: float = Field(default=48.0, gt=0)
    database_wait_seconds: float = Field(default=600.0, gt=0)
    """How long sending stays paused for a database that stopped answering mid-send before
    the command stops with a message (``digestbot run`` tries again at its next drain)."""

    @property
    def retry_window(self) -> dt.timedelta:
        return dt.timedelta(hours=self.retry_hours)


class ContentSettings(BaseModel):
    """Caps on what the content store reads: a larger file or summary is a ``path:line`` error."""

    max_file_bytes: int = Field(default=1_000_000, ge=1024)
    max_summary_chars: int = Field(default=20_000, ge=100)


class Settings(BaseSettings):
    """digestbot's settings. Environment: ``DIGESTBOT_`` prefix, ``__`` for nesting."""

    model_config = SettingsConfigDict(
        env_prefix="DIGESTBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    content_dir: Path = Path("./content")
    database_url: str = "sqlite:///./digestbot.db"
    outbox_dir: Path = Path("./outbox")
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("")
    """Empty: made on the first start and kept beside the database (digestbot.secretkey)."""
    timezone: str = "Asia/Shanghai"
    schedule: str = "0 9 * * sat"
    schedule_grace_hours: float = Field(default=36.0, gt=0)
    papers_per_issue: int = Field(default=10, ge=1, le=100)
    templates_dir: Path | None = None
    summary_zh_chars: int = Field(default=120, ge=10)
    summary_en_words: int = Field(default=60, ge=5)
    list_id: str = "weekly-ai-papers"
    confirm_token_hours: float = Field(default=72.0, gt=0)
    subscribe_rate_per_minute: int = Field(default=5, ge=1)
    confirm_mails_per_hour: int = Field(default=100, ge=1)
    """All confirmation mails together, per hour (each address: 1 per 10 min, 3 a day)."""

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    content: ContentSettings = Field(default_factory=ContentSettings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r}: use an IANA name like Asia/Shanghai"
            ) from None
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        parts = v.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise ValueError(
                f"{v!r} is not a 5-field cron expression (minute hour day month weekday), "
                "e.g. '0 9 * * sat'"
            )
        return v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if not v.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("use sqlite:///path.db or postgresql://user@host/db")
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
            _ = url.port
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL: write it like postgresql://user:password@host:5432/db "
                "(percent-encode @ : / in the password) or sqlite:///path.db"
            ) from None
        return v

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _variable(loc: tuple[int | str, ...]) -> str:
    return "DIGESTBOT_" + "__".join(str(p) for p in loc if not isinstance(p, int)).upper()


OLD_DEFAULT_SECRET = "change-me-digestbot-secret"
"""The example key older versions ran with when none was set; refused now."""

_SECRET_FIELDS = ("secret_key", "token", "password", "api_key", "metrics_token", "username")
_SECTIONS = ("telegram", "smtp", "http", "llm", "sources")


def redact_url(url: str) -> str:
    """``scheme://user:***@host/db``: a URL fit to print (its password hidden)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def _shown(err: Any) -> str:
    """What an error may say about the value it got: never a secret or a URL's password."""
    names = [str(p) for p in err["loc"] if not isinstance(p, int)]
    value = err.get("input")
    if any(name in _SECRET_FIELDS for name in names) or not names or names[-1] in _SECTIONS:
        return ""  # a secret, or a whole section (which may hold secrets)
    if not isinstance(value, str | int | float | bool):
        return ""
    if names == ["database_url"] and isinstance(value, str):
        return f" (got {redact_url(value)!r})"
    return f" (got {value!r})"


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [f"{_variable(err['loc'])}: {err['msg']}{_shown(err)}" for err in exc.errors()]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    except SourceError as exc:
        raise SettingsError(f"invalid settings:\n  {_json_culprit(str(exc))}") from None


_JSON_FIELDS = {
    "DIGESTBOT_TELEGRAM__CHANNELS": '[{"chat_id": -1001234567890, "lang": "zh"}]',
    "DIGESTBOT_TELEGRAM__ADMINS": "[12345, 67890]",
    "DIGESTBOT_HTTP__TRUSTED_PROXIES": '["127.0.0.1", "10.0.0.0/8"]',
}


def _json_culprit(fallback: str) -> str:
    """Name the variable whose value should be JSON but is not."""
    for key, value in os.environ.items():
        if key.upper() in _JSON_FIELDS:
            try:
                json.loads(value)
            except ValueError as exc:
                return (
                    f"{key.upper()}: not valid JSON ({exc}); write it like "
                    f"{_JSON_FIELDS[key.upper()]}"
                )
    return f"{fallback}: lists and objects must be written as JSON"
