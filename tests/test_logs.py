"""Log lines are logfmt and never carry a secret."""

from __future__ import annotations

import logging

from digestbot.logs import LogfmtFormatter


def test_logfmt_and_redaction() -> None:
    fmt = LogfmtFormatter(secrets=["123456:SECRET-TOKEN", "hunter2"])
    record = logging.makeLogRecord(
        {
            "name": "httpx",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": 'POST https://api.telegram.org/bot123456:SECRET-TOKEN/sendMessage "%s"',
            "args": ("HTTP/1.1 200 OK",),
            "chat": -100123,
        }
    )
    line = fmt.format(record)
    assert "SECRET-TOKEN" not in line and "hunter2" not in line
    assert "bot***/sendMessage" in line
    assert line.startswith("ts=") and " level=info logger=httpx msg=" in line
    assert line.endswith("chat=-100123")
