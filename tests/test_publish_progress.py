"""``digestbot publish`` on a terminal: a rich progress bar while sending, then the report."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from conftest import write
from digestbot.cli import main


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_publish_on_a_terminal_shows_progress_then_the_report(env: Path) -> None:
    readers = "email,lang\n" + "".join(f"reader{n}@example.com,en\n" for n in range(40))
    assert main(["subscribers", "import", str(write(env / "readers.csv", readers))]) == 0
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digestbot", "publish"],
            cwd=env,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
        )
        os.close(terminal)
        output = read_all(controller).decode("utf-8", "replace")
        assert proc.wait(timeout=60) == 0, output
    finally:
        os.close(controller)
    _before, label, after = output.partition("sending")
    assert label, output  # the bar's label, drawn on the terminal
    assert "━" in after and "\x1b[2K" in after  # the bar, redrawn in place
    assert "100%" in after  # it filled up once every copy was sent
    assert len(list((env / "outbox" / "mail").glob("*.eml"))) == 40


def test_publish_into_a_pipe_prints_no_bar(env: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "digestbot", "publish"],
        cwd=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "sending" not in out.stdout and "\x1b[" not in out.stdout
