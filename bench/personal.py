"""Personal (topic) fan-out: followers' messages through the stand-in at 30 msg/s.

Run: python bench/personal.py [--followers 1000] [--subscribers 300] [--runs 1]

Each run publishes the sample week to ``--subscribers`` Telegram subscribers and, in the same
ledger, one personal message to each of ``--followers`` readers who follow ``long-context``
(two papers of the week); the first ``--subscribers`` followers are subscribers too. The
baseline, measured in the same run: the same publish with no follower. Reported: the
effective rate first message to last (target >= 28 msg/s), personal messages lost or
repeated (target 0), issue copies lost or repeated, and when the last issue copy arrived,
against the baseline (the issue's own deliveries are not starved: they go first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))  # the Bot API stand-in

from _harness import WEEK, median, publish_env, run_async, seed, telegram_users
from fanout import _expected_telegram, run_child

PERSONAL_MARKS = ("match what you follow", "与你关注的主题相关")


async def add_follows(url: str, n: int) -> None:
    from digestbot.db.engine import make_engine
    from digestbot.db.follows import TOPIC, Follows

    engine = make_engine(url)
    try:
        follows = Follows(engine)
        for user_id, lang in telegram_users(n):
            await follows.add(
                "telegram", str(user_id), TOPIC, "long-context", lang.replace("both", "zh")
            )
    finally:
        await engine.dispose()


def one_run(work: Path, subscribers: int, followers: int, tag: str) -> dict[str, Any]:
    from fake_telegram import FakeTelegram

    url = f"sqlite:///{work / f'{tag}.db'}"
    seed(url, 0, subscribers)
    if followers:
        run_async(add_follows(url, followers))
    fake = FakeTelegram()
    for user_id, _lang in telegram_users(max(subscribers, followers)):
        fake.add_private_chat(user_id, "Reader")
    with fake:
        env = publish_env(
            database_url=url,
            outbox=work / "outbox",
            telegram_url=fake.base_url,
            telegram_token=fake.token,
        )
        r = run_child(["e2e", "telegram"], env, work)
        msgs = fake.all_messages()
        r["count_429"] = fake.count_429
    t0 = msgs[0].sent_at
    personal = [m for m in msgs if any(k in m.text for k in PERSONAL_MARKS)]
    issue = [m for m in msgs if m not in personal]
    per_chat: dict[int, int] = {}
    for m in personal:
        per_chat[m.chat_id] = per_chat.get(m.chat_id, 0) + 1
    issue_copies: dict[tuple[int, str], int] = {}
    for m in issue:
        issue_copies[(m.chat_id, m.text)] = issue_copies.get((m.chat_id, m.text), 0) + 1
    r["messages"] = len(msgs)
    r["rate"] = (len(msgs) - 1) / (msgs[-1].sent_at - t0)
    r["personal"] = len(personal)
    r["personal_lost"] = followers - len(per_chat)
    r["personal_repeated"] = sum(n - 1 for n in per_chat.values())
    r["issue_lost"] = _expected_telegram(subscribers, env) - len(issue_copies)
    r["issue_repeated"] = sum(n - 1 for n in issue_copies.values())
    r["issue_done_at"] = max(m.sent_at for m in issue) - t0
    first_personal = min((m.sent_at for m in personal), default=float("nan"))
    r["personal_from"] = first_personal - t0
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--followers", type=int, default=1000)
    ap.add_argument("--subscribers", type=int, default=300)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    ok = True
    rows: dict[str, list[dict[str, Any]]] = {"followers": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="bench-personal-") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            for kind, followers in (("baseline", 0), ("followers", args.followers)):
                r = one_run(work, args.subscribers, followers, f"{kind}-{run}")
                rows[kind].append(r)
                print(
                    f"run {run + 1} {kind}: {r['messages']} messages "
                    f"({r['personal']} personal) in {r['seconds']:.1f}s, "
                    f"{r['rate']:.2f} msg/s first to last; personal lost {r['personal_lost']}, "
                    f"repeated {r['personal_repeated']}; issue copies lost {r['issue_lost']}, "
                    f"repeated {r['issue_repeated']}; last issue copy at "
                    f"{r['issue_done_at']:.1f}s, personal from {r['personal_from']:.1f}s; "
                    f"429s {r['count_429']}, cpu {r['cpu']:.1f}s, peak RSS {r['rss_mb']:.0f} MB",
                    flush=True,
                )
                ok = ok and r["personal_lost"] == 0 and r["personal_repeated"] == 0
                ok = ok and r["issue_lost"] == 0 and r["issue_repeated"] == 0
    rate = median([r["rate"] for r in rows["followers"]])
    base_rate = median([r["rate"] for r in rows["baseline"]])
    done = median([r["issue_done_at"] for r in rows["followers"]])
    base_done = median([r["issue_done_at"] for r in rows["baseline"]])
    print(
        f"{WEEK}: with {args.followers} followers median {rate:.2f} msg/s ({rate / 30:.3f} of 30/s)"
    )
    print(f"baseline (no follower): {base_rate:.2f} msg/s; ratio {rate / base_rate:.3f}")
    print(
        f"last issue copy at {done:.1f}s with followers, {base_done:.1f}s without "
        f"(ratio {done / base_done:.3f})"
    )
    return 0 if ok and rate >= 28 else 1


if __name__ == "__main__":
    raise SystemExit(main())
