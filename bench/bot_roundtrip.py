"""Benchmark: `/paper` through the real bot and the Bot API stand-in, and memory with the bot on.

Run: python bench/bot_roundtrip.py [--papers 100000] [--queries 200] [--dir DIR] [--reuse]

Starts `digestbot run --no-scheduler` as a subprocess over N papers (the samples plus the
synthetic ones of bench/common.py) with a bot token, python-telegram-bot long-polling the
local stand-in (`tests/fake_telegram`, Telegram's limits on) served by this
process. Then users write to the bot one after another, paced under the 30 messages/s
limit, each from a chat of their own (the stand-in allows one message per second into a
private chat). A round trip is the time from the stand-in queueing the user's update to it
receiving the bot's reply: long-poll wake-up, the update's HTTP response, the handler
(search and rendering), and the sendMessage request.

Queries: arXiv ids and URLs, English keywords, Chinese keywords (a third of them one or two
characters), built as bench/search.py builds them. Baseline, in the same run: `/help`,
which goes through the same transport and handler plumbing without a search. Issue 4 target:
round trip p50 <= 50 ms; resident memory <= 300 MB (read once ready, and again after the
queries).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.append(str(REPO / "tests"))  # the Bot API stand-in, tests/fake_telegram

from common import digestbot_run, make_content, run_env  # noqa: E402
from fake_telegram import FakeTelegram  # noqa: E402
from search import chinese_queries, english_queries, id_queries, pct  # noqa: E402

PACE = 0.04  # seconds between users: 25 replies/s, under the stand-in's 30/s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200, help="per kind")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/digestbot-bench-run"))
    ap.add_argument("--reuse", action="store_true", help="keep the content already in --dir")
    args = ap.parse_args()
    root: Path = args.dir
    content = root / "content"
    reuse = args.reuse and content.is_dir()
    if not reuse and root.exists():
        shutil.rmtree(root)
    made = make_content(content, args.papers - 9, write=not reuse)

    rng = random.Random(20240416)
    n = args.queries
    kinds = {
        "/help (baseline)": ["/help"] * n,
        "ids and URLs": [f"/paper {q}" for q in id_queries(rng, made, n)],
        "English keywords": [f"/paper {q}" for q in english_queries(rng, made, n)],
        "Chinese keywords": [f"/paper {q}" for q in chinese_queries(rng, made, n)],
    }
    # interleaved, so a slow moment of the machine hits every kind alike
    plan = [(kind, queries[i]) for i in range(n) for kind, queries in kinds.items()]

    with FakeTelegram() as tg:
        users = list(range(10_000, 10_000 + len(plan) + 10))
        for user in users:
            tg.add_private_chat(user, language_code="zh-hans" if user % 2 else "en")
        env = run_env(root, TELEGRAM__TOKEN=tg.token, TELEGRAM__API_URL=tg.base_url)
        with digestbot_run(env) as (pid, ready):
            time.sleep(0.5)
            rss_ready = psutil.Process(pid).memory_info().rss
            for user in users[-10:]:  # warm up: first requests open connections
                tg.send_user_message(user, "/help")
                tg.wait_for_messages(user, 1, timeout=30)
            times: dict[str, list[float]] = {kind: [] for kind in kinds}
            for user, (kind, text) in zip(users, plan, strict=False):
                t0 = time.monotonic()
                tg.send_user_message(user, text)
                (reply,) = tg.wait_for_messages(user, 1, timeout=30)
                times[kind].append((reply.sent_at - t0) * 1000)
                time.sleep(max(0.0, PACE - (time.monotonic() - t0)))
            rss_after = psutil.Process(pid).memory_info().rss

    print(f"papers: {args.papers}; {n} queries of each kind, one user each, {1 / PACE:.0f}/s")
    print(
        f"ready in {ready:.2f} s with the bot on; RSS {rss_ready / 2**20:.0f} MiB "
        f"({rss_ready / 1e6:.0f} MB) once ready, {rss_after / 2**20:.0f} MiB "
        f"({rss_after / 1e6:.0f} MB) after the queries (target <= 300 MB)"
    )
    base = statistics.median(times["/help (baseline)"])
    for kind, values in times.items():
        p50 = statistics.median(values)
        print(
            f"{kind:18} round trip p50 {p50:6.1f} ms  p99 {pct(values, 0.99):6.1f} ms  "
            f"max {max(values):6.1f} ms  ratio to /help {p50 / base:4.2f}x"
        )
    worst = max(statistics.median(v) for v in times.values())
    worst_rss = max(rss_ready, rss_after) / 1e6
    ok = worst <= 50 and worst_rss <= 300
    print("PASS" if ok else "FAIL", f"(p50 <= 50 ms: worst {worst:.1f}; RSS {worst_rss:.0f} MB)")


if __name__ == "__main__":
    main()
