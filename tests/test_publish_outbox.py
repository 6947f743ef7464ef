"""`digestbot publish` and `preview` on the embedded default: the outbox shows the result."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.render.telegram import check_telegram_html, visible_len

SAMPLE_IDS = {
    "2404.08634",
    "2404.08639",
    "2404.08197",
    "2404.09656",
    "2404.08801",
    "2404.09173",
    "2404.09833",
    "2404.11614",
    "2404.12253",
}


def read_eml(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_fresh_publish_fills_the_outbox(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish"]) == 0
    out = capsys.readouterr().out
    assert "2024-W16 每周AI论文速递(240415-240419): 9 papers" in out
    assert "telegram: 3 sent" in out and "email: 3 sent" in out
    assert "No Telegram token" in out and "outbox/telegram" in out
    assert "No SMTP host" in out and "outbox/mail" in out

    outbox = env / "outbox"
    for lang in ("zh", "en", "both"):
        parts = sorted((outbox / "telegram" / f"preview-{lang}").glob("2024-W16-*.html"))
        assert parts, lang
        html = "\n".join(p.read_text(encoding="utf-8") for p in parts)
        for part in parts:
            text = part.read_text(encoding="utf-8")
            check_telegram_html(text)
            assert visible_len(text) <= 4096
        for pid in SAMPLE_IDS:
            assert f"https://arxiv.org/abs/{pid}" in html, (lang, pid)
        if lang != "en":
            assert "反馈注意力" in html
        msg = read_eml(outbox / "mail" / f"2024-W16-preview-{lang}@outbox.invalid.eml")
        assert msg.get_content_type() == "multipart/alternative"
        kinds = [p.get_content_type() for p in msg.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
        assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
        # on the wire the URL stays a literal <…> (an encoded word would break one-click)
        raw = (outbox / "mail" / f"2024-W16-preview-{lang}@outbox.invalid.eml").read_bytes()
        assert b"\nList-Unsubscribe: <http://127.0.0.1:8000/unsubscribe/" in raw
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Message-ID"] and msg["List-Id"] and msg["Date"]
        body = msg.get_body(("html",))
        assert body is not None
        html_part = body.get_content()
        for pid in SAMPLE_IDS:
            assert pid in html_part
    assert (outbox / "mail").is_dir()


def test_second_run_sends_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish"]) == 0
    files = sorted((env / "outbox").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in files if p.is_file()}
    capsys.readouterr()
    assert main(["publish"]) == 0
    assert "2024-W16 is already published: nothing new to send." in capsys.readouterr().out
    assert main(["publish", "--week", "2024-04-17"]) == 0
    assert "already published" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in sorted((env / "outbox").rglob("*")) if p.is_file()}
    assert after == stamps


def test_dry_run_writes_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: would send to 6 destinations" in out
    assert not (env / "outbox").exists()
    assert main(["publish"]) == 0
    assert "telegram: 3 sent" in capsys.readouterr().out


def test_only_one_channel_then_the_other(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "--only", "email"]) == 0
    assert not (env / "outbox" / "telegram").exists()
    assert len(list((env / "outbox" / "mail").glob("*.eml"))) == 3
    capsys.readouterr()
    assert main(["publish", "--only", "email"]) == 0
    assert "already published" in capsys.readouterr().out
    assert main(["publish"]) == 0
    assert (env / "outbox" / "telegram" / "preview-zh").is_dir()
    assert len(list((env / "outbox" / "mail").glob("*.eml"))) == 3


def test_subscribers_get_their_copy_instead_of_previews(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["subscribers", "add", "Reader@Example.COM", "--lang", "en"]) == 0
    assert "added Reader@example.com (en), active" in capsys.readouterr().out
    assert main(["publish"]) == 0
    mails = list((env / "outbox" / "mail").glob("*.eml"))
    assert [m.name for m in mails] == ["2024-W16-Reader@example.com.eml"]
    msg = read_eml(mails[0])
    assert msg["To"] == "Reader@example.com"
    assert msg["Subject"] == "Weekly AI Papers (Apr 15 – Apr 19, 2024)"
    assert not (env / "outbox" / "telegram" / "preview-zh").exists()


@pytest.mark.parametrize("fmt", ["telegram", "email", "text", "web"])
@pytest.mark.parametrize("lang", ["zh", "en", "both"])
def test_preview_every_format_and_language(
    env: Path, capsys: pytest.CaptureFixture[str], fmt: str, lang: str
) -> None:
    assert main(["preview", "--week", "2024-W16", "--format", fmt, "--lang", lang]) == 0
    out = capsys.readouterr().out
    assert "2404.09173" in out
    if lang == "en":
        assert "Feedback attention is working memory" in out
    if lang in ("zh", "both") and fmt != "email":
        assert "反馈注意力" in out
    assert not (env / "outbox").exists()


def test_preview_of_an_empty_week_says_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "--week", "2024-W30"]) == 1
    assert "2024-W30 has no ready papers" in capsys.readouterr().err


def test_bad_week_argument(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "--week", "next friday"]) == 1
    assert "give an ISO week like 2024-W16" in capsys.readouterr().err


def test_override_with_a_draft_is_refused(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = (content_dir / "papers/2024/2404.12253.md").read_text(encoding="utf-8")
    write(
        content_dir / "papers/2024/2404.12253.md",
        draft.replace("status: ready", "status: draft"),
    )
    write(
        content_dir / "issues/2024-W16.yaml",
        "title_zh: 特刊\npapers:\n  - '2404.09173'\n  - '2404.12253'\n",
    )
    assert main(["publish", "--week", "2024-W16"]) == 1
    err = capsys.readouterr().err
    assert "2404.12253: status is draft" in err
    assert not (env / "outbox").exists()


def test_override_picks_and_titles_the_issue(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        content_dir / "issues/2024-W16.yaml",
        "title_zh: 长上下文特辑\nintro_zh: 本周只看两篇。\n"
        "papers:\n  - '2404.09173'\n  - '2404.08801'\n",
    )
    assert main(["publish", "--week", "2024-W16"]) == 0
    assert "长上下文特辑: 2 papers" in capsys.readouterr().out
    text = (env / "outbox/telegram/preview-zh/2024-W16-1.html").read_text(encoding="utf-8")
    assert "长上下文特辑" in text and "本周只看两篇" in text
    assert text.index("2404.09173") < text.index("2404.08801")
    assert "2404.08634" not in text
