"""`digestbot run` as a user starts it: ready line, web answers, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fake_telegram import FakeTelegram


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_run(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "digestbot", "run"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("digestbot ready"):
            return proc, lines
    proc.kill()
    raise AssertionError("digestbot run never said it was ready:\n" + "\n".join(lines))


def bot_env(tg: FakeTelegram, port: int, **more: str) -> dict[str, str]:
    """The environment of a run with a bot on the stand-in, serving the web app on ``port``."""
    return {
        **os.environ,
        "DIGESTBOT_HTTP__PORT": str(port),
        "DIGESTBOT_TELEGRAM__TOKEN": tg.token,
        "DIGESTBOT_TELEGRAM__API_URL": tg.base_url,
        **more,
    }


def stop_run(proc: subprocess.Popen[str], lines: list[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    lines.extend(out.splitlines())
    return proc.returncode


def test_run_without_token_serves_web_and_scheduler(env: Path) -> None:
    port = free_port()
    environ = {**os.environ, "DIGESTBOT_HTTP__PORT": str(port)}
    proc, lines = start_run(environ, env)
    try:
        assert any(line.startswith("bot: off (no DIGESTBOT_TELEGRAM__TOKEN)") for line in lines)
        assert any(line.startswith("scheduler: next run") for line in lines)
        assert lines[-1] == "digestbot ready: 9 papers indexed"
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.json() == {"status": "ok"}
        found = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": "注意"}, timeout=5)
        assert "/papers/2404.09173" in found.text
    finally:
        code = stop_run(proc, lines)
    assert code == 0
    assert lines[-1] == "stopped"


def test_run_with_token_polls_the_bot(env: Path) -> None:
    port = free_port()
    with FakeTelegram() as tg:
        tg.add_private_chat(4242, language_code="en")
        proc, lines = start_run(bot_env(tg, port), env)
        try:
            assert "bot: polling as @digest_test_bot" in lines
            tg.send_user_message(4242, "/paper 2404.09173", language_code="en")
            (reply,) = tg.wait_for_messages(4242, 1, timeout=15)
            assert "TransformerFAM" in reply.text
            assert tg.commands()  # setMyCommands ran
        finally:
            code = stop_run(proc, lines)
    assert code == 0, "\n".join(lines)
    assert not any(tg.token in line for line in lines), "the token leaked into the output"


def test_run_with_a_webhook_takes_updates_through_the_web_app(env: Path) -> None:
    port = free_port()
    url = "https://digest.example/telegram/webhook"
    with FakeTelegram() as tg:
        tg.add_private_chat(4242, language_code="en")
        environ = bot_env(tg, port, DIGESTBOT_TELEGRAM__WEBHOOK_URL=url)
        proc, lines = start_run(environ, env)
        try:
            assert any(line.startswith(f"bot: webhook at {url} as @") for line in lines)
            assert tg.webhook_url == url  # setWebhook ran: Telegram posts there now
            # the secret Telegram was given and sends back with every post
            secret_token = str(tg.calls("setWebhook")[-1]["secret_token"])
            assert len(secret_token) >= 32
            # what Telegram would post (the stand-in builds the update; it does not post)
            forged_update = tg.send_user_message(4242, "/help", language_code="en")
            update = tg.send_user_message(4242, "/paper 2404.09173", language_code="en")
            endpoint = f"http://127.0.0.1:{port}/telegram/webhook"
            forged = httpx.post(
                endpoint, json=forged_update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
            )
            assert forged.status_code == 403
            junk = httpx.post(
                endpoint, content=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": secret_token}
            )
            assert junk.status_code == 400
            ok = httpx.post(
                endpoint, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret_token}
            )
            assert ok.status_code == 200
            # updates are handled in order: had the forged /help reached the bot, its reply
            # would come first (no sleep needed to prove it did not)
            first = tg.wait_for_messages(4242, 1, timeout=15)[0]
            assert "TransformerFAM" in first.text, "a refused post reached the bot"
        finally:
            code = stop_run(proc, lines)
    assert code == 0, "\n".join(lines)
    assert not any(secret_token in line for line in lines), "the webhook secret leaked"


def test_a_webhook_url_telegram_cannot_use_is_refused_with_the_fix(env: Path) -> None:
    with FakeTelegram() as tg:
        environ = bot_env(
            tg, free_port(), DIGESTBOT_TELEGRAM__WEBHOOK_URL="http://digest.example/hook"
        )
        out = subprocess.run(
            [sys.executable, "-m", "digestbot", "run"],
            cwd=env,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert out.returncode != 0
    assert "DIGESTBOT_TELEGRAM__WEBHOOK_URL" in out.stderr + out.stdout
    assert "https://" in out.stderr + out.stdout
