"""Every knob digestbot has, read from ``DIGESTBOT_*`` variables and ``.env``, validated."""

from __future__ import annotations

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


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org/bot"
    channels: list[ChannelSettings] = Field(default_factory=list)
    admins: list[int] = Field(default_factory=list)
    webhook_url: str | None = None
    global_rate: float = 30.0
    group_rate_per_minute: float = 20.0
    private_rate: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value())


class SmtpSettings(BaseModel):
    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    sender: str = "digestbot <digest@localhost>"
    connections: int = Field(default=4, ge=1, le=64)
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class LlmSettings(BaseModel):
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    concurrency: int = Field(default=4, ge=1, le=64)
    timeout: float = 60.0

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
    secret_key: SecretStr = SecretStr("change-me-digestbot-secret")
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

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
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

    @property
    def is_default_secret(self) -> bool:
        return self.secret_key.get_secret_value() == "change-me-digestbot-secret"


def _variable(loc: tuple[int | str, ...]) -> str:
    return "DIGESTBOT_" + "__".join(str(p) for p in loc if not isinstance(p, int)).upper()


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [
            f"{_variable(err['loc'])}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        ]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    except SourceError as exc:
        raise SettingsError(f"invalid settings:\n  {_json_culprit(str(exc))}") from None


_JSON_FIELDS = ("DIGESTBOT_TELEGRAM__CHANNELS", "DIGESTBOT_TELEGRAM__ADMINS")


def _json_culprit(fallback: str) -> str:
    """Name the variable whose value should be JSON but is not."""
    for key, value in os.environ.items():
        if key.upper() in _JSON_FIELDS:
            try:
                json.loads(value)
            except ValueError as exc:
                return (
                    f"{key.upper()}: not valid JSON ({exc}); write it like "
                    '[{"chat_id": -1001234567890, "lang": "zh"}]' + " or [12345, 67890]"
                )
    return f"{fallback}: lists and objects must be written as JSON"
