"""The secret key made on first start and kept; the old default and short webhook keys refused;
settings errors that never echo a secret; empty credentials mean none; database errors at
start in one line without the password."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from digestbot.cli import main
from digestbot.settings import load_settings
from digestbot.wiring import build_service
from test_run import bot_env, free_port

PASSWORD = "pw-7c1d9e-secret"


def _digestbot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "digestbot", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _unsubscribe_token(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(cwd)
    from digestbot.models import Channel

    service = build_service(load_settings())
    try:
        url = service.unsubscribe_url(Channel.EMAIL, "reader@example.com")
    finally:
        service.index.close()
    return url.rsplit("/", 1)[1]


def test_first_start_makes_a_key_beside_the_database_and_says_so_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGESTBOT_SECRET_KEY")
    db = env / "data" / "digestbot.db"
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", f"sqlite:///{db}")
    first = _digestbot(env, "db", "upgrade", DIGESTBOT_DATABASE_URL=f"sqlite:///{db}")
    assert first.returncode == 0, first.stderr
    key_file = env / "data" / "digestbot.db.secret-key"
    assert "made a secret key" in first.stderr and str(key_file) in first.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 64 and key not in first.stderr + first.stdout

    second = _digestbot(env, "db", "upgrade", DIGESTBOT_DATABASE_URL=f"sqlite:///{db}")
    assert second.returncode == 0, second.stderr
    assert "secret key" not in second.stderr  # said once
    assert key_file.read_text().strip() == key  # reused, not remade

    key_file.chmod(0o644)
    loose = _digestbot(env, "db", "upgrade", DIGESTBOT_DATABASE_URL=f"sqlite:///{db}")
    assert f"can be read by other users: run chmod 600 {key_file}" in loose.stderr

    # links signed now verify with the kept key, in another process
    token = _unsubscribe_token(env, monkeypatch)
    serializer = URLSafeTimedSerializer(key, salt="digestbot.unsubscribe")
    assert serializer.loads(token) == ["email", "reader@example.com"]


def test_postgres_keeps_the_key_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", "postgresql://digest@127.0.0.1:5432/digest")
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(tmp_path / "content"))
    token = _unsubscribe_token(tmp_path, monkeypatch)
    kept = (tmp_path / "digestbot.secret-key").read_text().strip()
    assert URLSafeTimedSerializer(kept, salt="digestbot.unsubscribe").loads(token)
    assert token == _unsubscribe_token(tmp_path, monkeypatch)


def test_the_old_built_in_default_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SECRET_KEY", "change-me-digestbot-secret")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "DIGESTBOT_SECRET_KEY" in err and "secrets.token_hex" in err
    assert "change-me-digestbot-secret" not in err


def test_webhook_mode_refuses_a_short_key(env: Path) -> None:
    from fake_telegram import FakeTelegram

    with FakeTelegram() as tg:
        environ = bot_env(
            tg,
            free_port(),
            DIGESTBOT_TELEGRAM__WEBHOOK_URL="https://digest.example/telegram/webhook",
            DIGESTBOT_SECRET_KEY="short-key-24-bytes-long!",
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
        assert not tg.webhook_url  # nothing was registered
    assert out.returncode == 1
    assert "webhook mode: DIGESTBOT_SECRET_KEY is 24 bytes" in out.stderr
    assert "short-key-24-bytes-long!" not in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


# -- settings errors and credentials ---------------------------------------------------------


def test_a_malformed_database_url_is_reported_without_its_password(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in (
        f"postgresql://digest:{PASSWORD}@db.example:notaport/digest",
        f"mysql://digest:{PASSWORD}@db.example/digest",
    ):
        monkeypatch.setenv("DIGESTBOT_DATABASE_URL", url)
        assert main(["check"]) == 1
        err = capsys.readouterr().err
        assert "DIGESTBOT_DATABASE_URL" in err, err
        assert PASSWORD not in err, err


def test_invalid_secret_settings_are_named_not_echoed(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTBOT_SMTP__PASSWORD", PASSWORD)
    monkeypatch.setenv("DIGESTBOT_SMTP__PORT", "not-a-port")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "DIGESTBOT_SMTP__PORT" in err and "'not-a-port'" in err
    assert PASSWORD not in err, err
    monkeypatch.delenv("DIGESTBOT_SMTP__PASSWORD")
    monkeypatch.delenv("DIGESTBOT_SMTP__PORT")
    monkeypatch.setenv("DIGESTBOT_SMTP", f'["{PASSWORD}"]')  # a section that is not an object
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "DIGESTBOT_SMTP" in err and PASSWORD not in err, err


def test_empty_credentials_mean_none(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DIGESTBOT_SMTP__USERNAME",
        "DIGESTBOT_SMTP__PASSWORD",
        "DIGESTBOT_SMTP__HOST",
        "DIGESTBOT_TELEGRAM__TOKEN",
        "DIGESTBOT_LLM__API_KEY",
        "DIGESTBOT_HTTP__METRICS_TOKEN",
    ):
        monkeypatch.setenv(name, "")
    s = load_settings()
    assert s.smtp.username is None and s.smtp.password is None and not s.smtp.enabled
    assert s.telegram.token is None and s.llm.api_key is None
    assert s.http.metrics_token is None


def test_an_unreachable_database_is_one_line_without_the_password(env: Path) -> None:
    url = f"postgresql://digest:{PASSWORD}@127.0.0.1:{free_port()}/digest"
    for command in (("db", "upgrade"), ("run", "--no-bot")):
        out = _digestbot(
            env,
            *command,
            DIGESTBOT_DATABASE_URL=url,
            DIGESTBOT_CONTENT_DIR=str(env / "content"),
            DIGESTBOT_SECRET_KEY="k" * 40,
            DIGESTBOT_HTTP__PORT=str(free_port()),
        )
        assert out.returncode == 1, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        (line,) = lines
        assert line.startswith("error: cannot reach the database at postgresql://digest:***@")
        assert "DIGESTBOT_DATABASE_URL" in line
        assert PASSWORD not in out.stderr + out.stdout


def test_a_database_path_that_cannot_exist_is_one_line(env: Path) -> None:
    blocker = env / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    out = _digestbot(
        env,
        "db",
        "upgrade",
        DIGESTBOT_DATABASE_URL=f"sqlite:///{blocker}/digestbot.db",
        DIGESTBOT_SECRET_KEY="k" * 40,
    )
    assert out.returncode == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot make the folder of the database {blocker}/")
    assert line.endswith("fix DIGESTBOT_DATABASE_URL or that folder's permissions")
