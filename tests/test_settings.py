"""Settings from DIGESTBOT_* variables and .env, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.errors import SettingsError
from digestbot.models import Language
from digestbot.settings import load_settings


def test_defaults_match_the_design() -> None:
    s = load_settings()
    assert s.content_dir == Path("content")
    assert s.database_url == "sqlite:///./digestbot.db"
    assert s.outbox_dir == Path("outbox")
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.timezone == "Asia/Shanghai"
    assert s.schedule == "0 9 * * sat"
    assert s.telegram.api_url == "https://api.telegram.org/bot"
    assert s.http.host == "127.0.0.1" and s.http.port == 8000
    assert s.papers_per_issue == 10
    assert not s.telegram.enabled and not s.smtp.enabled


def test_nested_variables_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__TOKEN", "123:SECRET")
    monkeypatch.setenv(
        "DIGESTBOT_TELEGRAM__CHANNELS", '[{"chat_id": -1001, "lang": "zh"}, {"chat_id": "@news"}]'
    )
    monkeypatch.setenv("DIGESTBOT_TELEGRAM__ADMINS", "[42, 43]")
    monkeypatch.setenv("DIGESTBOT_SMTP__HOST", "smtp.example.com")
    monkeypatch.setenv("DIGESTBOT_SMTP__PASSWORD", "hunter2")
    monkeypatch.setenv("DIGESTBOT_SMTP__SECURITY", "tls")
    s = load_settings()
    assert s.telegram.enabled
    assert [(c.chat_id, c.lang) for c in s.telegram.channels] == [
        (-1001, Language.ZH),
        ("@news", Language.BOTH),
    ]
    assert s.telegram.admins == [42, 43]
    assert s.smtp.security == "tls"
    assert "hunter2" not in repr(s) and "123:SECRET" not in repr(s)
    assert s.smtp.password is not None and s.smtp.password.get_secret_value() == "hunter2"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DIGESTBOT_PAPERS_PER_ISSUE=7\ndigestbot_timezone=UTC\n")
    s = load_settings()
    assert s.papers_per_issue == 7
    assert s.timezone == "UTC"


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("DIGESTBOT_SMTP__PORT", "smtp", "DIGESTBOT_SMTP__PORT"),
        ("DIGESTBOT_TIMEZONE", "Mars/Olympus", "unknown timezone"),
        ("DIGESTBOT_SCHEDULE", "every saturday", "5-field cron"),
        ("DIGESTBOT_DATABASE_URL", "mysql://x", "sqlite:///"),
        ("DIGESTBOT_SMTP__SECURITY", "ssl", "DIGESTBOT_SMTP__SECURITY"),
        ("DIGESTBOT_TELEGRAM__CHANNELS", "not json", "DIGESTBOT_TELEGRAM__CHANNELS"),
        ("DIGESTBOT_TELEGRAM__CHANNELS", '[{"chat_id": "news"}]', "@username"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, expect: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert expect in str(info.value)


def test_cli_reports_bad_settings_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_HTTP__PORT", "99999")
    monkeypatch.setenv("DIGESTBOT_SMTP__PASSWORD", "hunter2")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid settings:")
    assert "DIGESTBOT_HTTP__PORT" in err
    assert "hunter2" not in err


@pytest.mark.postgres
def test_postgres_fixture_works_in_a_database_of_its_own(postgres_url: str) -> None:
    from conftest import POSTGRES_URL

    given = POSTGRES_URL.rsplit("/", 1)[-1].split("?")[0]
    own = postgres_url.rsplit("/", 1)[-1].split("?")[0]
    assert own.startswith("digestbot_test_")
    assert own != given
