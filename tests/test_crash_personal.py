"""kill -9 a real `digestbot publish` during the personal (topic) fan-out, run it again: every
follower gets their message; only messages in flight at the kill may repeat."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from _harness import publish_cmd, publish_env, run_async, seed, telegram_users
from fake_telegram import FakeTelegram, RateLimits

FOLLOWERS = 80
TELEGRAM_CONCURRENCY = 64  # TelegramSender default
UNRECORDED = 32  # Publisher default
MARKS = ("match what you follow", "与你关注的主题相关")
SLOW_ENOUGH = {  # fast, but slow enough that a kill lands mid fan-out
    "DIGESTBOT_TELEGRAM__GLOBAL_RATE": "200",
    "DIGESTBOT_TELEGRAM__PRIVATE_RATE": "100",
}


async def follow_all(url: str) -> None:
    from digestbot.db.engine import make_engine
    from digestbot.db.follows import TOPIC, Follows

    engine = make_engine(url)
    try:
        for user_id, lang in telegram_users(FOLLOWERS):
            await Follows(engine).add(
                "telegram", str(user_id), TOPIC, "long-context", "en" if lang == "en" else "zh"
            )
    finally:
        await engine.dispose()


def personal(fake: FakeTelegram) -> Counter[int]:
    return Counter(m.chat_id for m in fake.all_messages() if any(k in m.text for k in MARKS))


def test_kill_during_personal_fanout_loses_no_follower(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'digestbot.db'}"
    seed(url, 0, 0)
    run_async(follow_all(url))
    limits = RateLimits(
        global_messages=1000, private_messages=100, group_messages=100, group_window=1.0
    )
    fake = FakeTelegram(limits=limits)
    for user_id, _lang in telegram_users(FOLLOWERS):
        fake.add_private_chat(user_id, f"Reader {user_id}")
    with fake, (tmp_path / "publish.log").open("ab") as log:
        env = publish_env(
            database_url=url,
            outbox=tmp_path / "outbox",
            telegram_url=fake.base_url,
            telegram_token=fake.token,
            extra=SLOW_ENOUGH,
        )
        first = subprocess.Popen(publish_cmd(), env=env, cwd=tmp_path, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while first.poll() is None and sum(personal(fake).values()) < FOLLOWERS // 3:
            assert time.monotonic() < deadline, "no personal message went out"
            time.sleep(0.002)
        assert first.poll() is None, "publish finished before the kill: slow it down"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        before = sum(personal(fake).values())
        assert 0 < before < FOLLOWERS
        again = subprocess.run(publish_cmd(), env=env, cwd=tmp_path, stdout=log, stderr=log)
        assert again.returncode == 0
        got = personal(fake)
        texts = [m.text for m in fake.all_messages() if any(k in m.text for k in MARKS)]
    # each carries the follower's papers, also those sent by the resumed run
    assert all("Megalodon" in t and "TransformerFAM" in t for t in texts)
    assert set(got) == {u for u, _lang in telegram_users(FOLLOWERS)}  # nobody lost
    repeats = sum(n - 1 for n in got.values())
    assert repeats <= TELEGRAM_CONCURRENCY + UNRECORDED
    print(f"killed after {before} personal messages; {repeats} repeated after the resume")
