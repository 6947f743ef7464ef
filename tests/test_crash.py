"""kill -9 a real `digestbot publish` mid-send, run it again: nothing lost, repeats in flight only.

The small version of bench/crash.py (which does 2,000 email + 300 Telegram subscribers
and at least 10 trials): 150 email and 20 Telegram subscribers, an SMTP sink and the
Telegram stand-in (limits raised so a run takes seconds) in this process, the publisher
as a subprocess. Each trial kills it after a random number of copies went out (fixed
seed), runs it again to completion, and counts copies per recipient and per (chat, part).

A repeat is allowed only for a message in flight at the kill: the dead process held the
row (status ``sending``) and the repeated part is the first one its row had not recorded
as sent. There can't be more of those than the senders' windows: per transport, the rows
being sent (its concurrency) plus the rows sent and waiting for their sent mark (the
publisher's ``unrecorded`` bound); for Telegram, capped by the number of chats.
"""

from __future__ import annotations

import email
import email.policy
import inspect
import random
import signal
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _harness import (
    LANG_CYCLE,
    CrashConfig,
    TrialResult,
    crash_trial,
    email_address,
    ledger_rows,
    run_async,
    two_workers,
)
from digestbot.delivery.publisher import Publisher
from digestbot.delivery.telegram import TelegramSender
from digestbot.models import Channel, Language
from digestbot.render.email import build_message
from digestbot.settings import SmtpSettings, TelegramSettings
from fake_telegram import RateLimits

N_EMAIL = 150
N_TELEGRAM = 20
# The windows of the publisher the subprocess runs, read from the code (its settings'
# defaults, the sender it builds, the Publisher the service makes with its default bound)
SMTP_CONNECTIONS = SmtpSettings().connections
TELEGRAM_CONCURRENCY = TelegramSender(TelegramSettings()).concurrency
UNRECORDED = inspect.signature(Publisher).parameters["unrecorded"].default
assert isinstance(UNRECORDED, int)
IN_FLIGHT = SMTP_CONNECTIONS + UNRECORDED + min(TELEGRAM_CONCURRENCY + UNRECORDED, N_TELEGRAM)
SEED = 20240416
FAST = {
    "DIGESTBOT_TELEGRAM__GLOBAL_RATE": "1000",
    "DIGESTBOT_TELEGRAM__PRIVATE_RATE": "100",
    "DIGESTBOT_TELEGRAM__GROUP_RATE_PER_MINUTE": "6000",
}
FAST_FAKE = RateLimits(
    global_messages=1000, private_messages=100, group_messages=100, group_window=1.0
)


def config(tmp_path: Path, database: str = "sqlite", url: str | None = None) -> CrashConfig:
    return CrashConfig(
        N_EMAIL,
        N_TELEGRAM,
        database,
        postgres_url=url,
        workdir=tmp_path,
        extra_env=dict(FAST),
        fake_limits=FAST_FAKE,
        timeout=300.0,  # a hang guard: under coverage on a busy machine a run takes minutes
    )


def show(name: str, r: TrialResult) -> None:
    print(
        f"{name}: kill at {r.kill_at if r.kill_at is None else round(r.kill_at, 2)}s, "
        f"{r.copies_before_kill} copies before the kill, {r.leased_at_kill} rows held by the "
        f"dead process, lost {r.lost}, duplicates {r.duplicates} "
        f"{[d for d, _n in r.tally.duplicates]}, resumed in {r.resume_seconds:.1f}s"
    )


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_uninterrupted_publish_sends_each_copy_once(tmp_path: Path) -> None:
    r = crash_trial(config(tmp_path), "whole")
    show("uninterrupted", r)
    assert not r.killed
    assert r.tally.expected == N_EMAIL + sum(
        1 if LANG_CYCLE[i % 3] != "both" else 2 for i in range(N_TELEGRAM)
    ), "the sample issue: one Telegram message in zh or en, two in both"
    assert r.lost == 0 and r.duplicates == 0 and not r.tally.unexpected

    # the emails on the wire are what build_message makes for that recipient
    from digestbot.settings import Settings
    from digestbot.wiring import build_service

    content_dir = Path(__file__).resolve().parents[1] / "content"

    async def reference(address: str, lang: Language, unsubscribe_url: str) -> EmailMessage:
        settings = Settings(
            content_dir=content_dir,
            database_url=f"sqlite:///{tmp_path / 'whole' / 'digestbot.db'}",
            secret_key="bench-secret-key",
            _env_file=None,
        )
        svc = build_service(settings)
        try:
            content = svc.content_for(await svc.issue_for("2024-W16"))
            token = unsubscribe_url.rsplit("/", 1)[1]
            assert svc.tokens.read_unsubscribe(token) == (Channel.EMAIL, address)
            return build_message(
                content.email(lang),
                sender="Weekly AI Papers <digest@example.org>",
                to=address,
                unsubscribe_url=unsubscribe_url,
                list_id=settings.list_id,
                message_id_domain=content.domain,
            )
        finally:
            await svc.engine.dispose()

    assert len(r.email_samples) == 3
    for i, lang in enumerate(LANG_CYCLE):
        address = email_address(i)
        got = parse(r.email_samples[address])
        link = str(got["List-Unsubscribe"]).strip("<>")
        want = parse(run_async(reference(address, Language(lang), link)).as_bytes())
        assert list(got.keys()) == list(want.keys())
        for name in want:
            if name not in ("Date", "Message-ID", "Content-Type"):
                assert got[name] == want[name], name
        assert got.get_content_type() == "multipart/alternative"
        got_parts, want_parts = list(got.iter_parts()), list(want.iter_parts())
        assert [p.get_content_type() for p in got_parts] == ["text/plain", "text/html"]
        for a, b in zip(got_parts, want_parts, strict=True):
            assert a["Content-Transfer-Encoding"] == b["Content-Transfer-Encoding"]
            assert a.get_content() == b.get_content()


@pytest.mark.parametrize("trial", [1, 2, 3])
def test_kill_9_mid_publish_then_resume_loses_nothing(tmp_path: Path, trial: int) -> None:
    # a random point in the first, middle or last third of the copies (fixed seed)
    total = N_EMAIL + sum(2 if LANG_CYCLE[i % 3] == "both" else 1 for i in range(N_TELEGRAM))
    low, high = max(1, total * (trial - 1) // 3), total * trial // 3
    kill_after = random.Random(SEED + trial).randrange(low, high)
    cfg = config(tmp_path)
    archive = tmp_path / "archive"  # the Markdown archive: one more destination
    cfg.extra_env["DIGESTBOT_ARCHIVE__DIR"] = str(archive)
    r = crash_trial(cfg, f"trial{trial}", kill_after=kill_after)
    show(f"trial {trial} (kill after {kill_after} copies)", r)
    assert r.killed, "the publish finished before the kill: nothing was tested"
    assert r.lost == 0, r.tally.lost
    assert not r.tally.unexpected
    assert r.unexplained == [], "repeated a message that was not in flight at the kill"
    assert r.duplicates <= IN_FLIGHT
    rows = ledger_rows(f"sqlite:///{tmp_path / f'trial{trial}' / 'digestbot.db'}")
    assert [(c, status) for c, _a, status, _p, _o in rows if c == "archive"] == [
        ("archive", "sent")
    ]
    assert [p.relative_to(archive).as_posix() for p in archive.rglob("*")] == [
        "2024",
        "2024/0415-0419.md",
    ], "the post, and no temporary file left by the kill"
    post = (archive / "2024" / "0415-0419.md").read_text(encoding="utf-8")
    assert post.startswith("## ") and post.count("(https://arxiv.org/abs/") == 9


def test_sigterm_mid_publish_finishes_what_is_in_flight_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    """SIGTERM (a deploy, Ctrl-C) is not a crash: what was sent is recorded, nothing repeats."""
    total = N_EMAIL + sum(2 if LANG_CYCLE[i % 3] == "both" else 1 for i in range(N_TELEGRAM))
    r = crash_trial(config(tmp_path), "sigterm", kill_after=total // 3, sig=signal.SIGTERM)
    show("sigterm", r)
    assert r.killed, "the publish finished before the signal: nothing was tested"
    first_run = r.outputs[0]
    assert "publish: interrupted" in first_run, first_run
    assert "not finished: run `digestbot publish --week 2024-W16` again" in first_run
    assert r.copies_before_kill < r.tally.expected, "the signal stopped nothing"
    assert r.leased_at_kill == 0, "rows were left held by the stopped process"
    assert r.lost == 0, r.tally.lost
    assert r.duplicates == 0, r.tally.duplicates
    assert not r.tally.unexpected


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_no_copy_twice(tmp_path: Path, postgres_url: str) -> None:
    cfg = config(tmp_path, "postgres", postgres_url)
    cfg.n_email = 1000  # enough rows that both workers claim some (256 per claim)
    w = two_workers(cfg, "two-workers")
    print(
        f"two workers: exit {w.returncodes} in {w.seconds:.1f}s, lost {len(w.tally.lost)}, "
        f"duplicates {w.tally.duplicates}, emails by worker {dict(w.sent_by)}"
    )
    assert w.returncodes == [0, 0], w.outputs
    assert not w.tally.lost and not w.tally.unexpected
    assert w.tally.duplicates == []
    assert w.sent_by["worker0"] > 0 and w.sent_by["worker1"] > 0, w.sent_by
