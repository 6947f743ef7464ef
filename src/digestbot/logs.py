"""Structured log lines (logfmt) with secrets redacted, for every process digestbot runs."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterable

_RESERVED = set(vars(logging.makeLogRecord({})))


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=info logger=digestbot msg="…" key=value``; secrets become ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
        fields = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                fields[key] = value
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        line = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        return self.redact(line)


def configure(level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    """Send digestbot's logs to stderr as logfmt; quiet chatty libraries that echo URLs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(secrets))
    handler.set_name("digestbot")
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "digestbot"] + [handler]
    root.setLevel(level)
    # httpx logs every request URL, and a Telegram URL contains the bot token.
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
