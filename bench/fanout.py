"""Fan-out benchmark: email through an SMTP sink, Telegram through the rate-limited stand-in.

Run: python bench/fanout.py [--emails 10000] [--runs 3] [--telegram 1000] [--tg-runs 1]
                            [--only email|telegram]

Issue 3 targets:

- Email fan-out to 10,000 subscribers through an SMTP sink on loopback, end to end
  including ledger writes, on SQLite and on PostgreSQL: messages/s against the raw ceiling
  measured in the same run (a bare aiosmtplib loop sending one pre-rendered message over
  the same number of connections to the same sink): >= 0.8 of it; peak memory <= 200 MB;
  CPU seconds per 1,000 messages reported.
- Telegram fan-out to 1,000 private subscribers through the stand-in enforcing 30
  messages/s: effective rate >= 28 messages/s (>= 93% of the limit), zero messages lost.
  Baselines: the 30/s limit itself, and a bare python-telegram-bot loop paced by the same
  RateLimiter.

The counting SMTP sink runs in a process of its own, so its CPU is not charged to
digestbot. Every measured run (end to end, raw ceiling, bare PTB loop) is a fresh child
process of this script (``--child``); its CPU time and peak RSS come from getrusage.
The end-to-end child runs ``Service.publish`` (plan: one ledger row per subscriber, then
drain: checkpoint, build the personalised message, send, mark sent) on a database seeded
beforehand with the subscribers; the seeding is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    LANG_CYCLE,
    WEEK,
    CountingSink,
    email_address,
    ensure_database,
    median,
    publish_env,
    raw_smtp_loop,
    reset_postgres,
    run_async,
    seed,
    telegram_copies,
    telegram_users,
)

HERE = Path(__file__).resolve()


# -- children: each measured run is a fresh process ------------------------------------------


def usage() -> tuple[float, float]:
    """(CPU seconds so far, peak RSS in MB) of this process.

    The peak is VmHWM: Linux's ru_maxrss survives execve, so a child's would include the
    RSS this bench had when it forked the child.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = float(ru.ru_maxrss)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak_kb = float(line.split()[1])
    return ru.ru_utime + ru.ru_stime, peak_kb / 1024


async def child_e2e(only: str) -> dict[str, Any]:
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    async with build_service(load_settings()) as svc:
        cpu0, _ = usage()
        t0 = time.perf_counter()
        report = await svc.publish(WEEK, only=only)
        seconds = time.perf_counter() - t0
        cpu1, rss = usage()
    sent = sum(c.sent for c in report.channels.values())
    failed = sum(c.failed for c in report.channels.values())
    return {
        "seconds": seconds,
        "cpu": cpu1 - cpu0,
        "rss_mb": rss,
        "sent": sent,
        "failed": failed,
        "complete": report.complete,
    }


async def child_raw(port: int, n: int, connections: int) -> dict[str, Any]:
    """The ceiling: one pre-rendered issue email, sent ``n`` times, no ledger, no rendering."""
    from digestbot.models import Language
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    svc = build_service(load_settings())
    try:
        issue = await svc.issue_for(WEEK)
        message = svc.content_for(issue).email_message(email_address(0), Language.BOTH)
    finally:
        await svc.engine.dispose()
    data = message.as_bytes()
    cpu0, _ = usage()
    seconds = await raw_smtp_loop("127.0.0.1", port, data, n, connections)
    cpu1, rss = usage()
    return {"seconds": seconds, "cpu": cpu1 - cpu0, "rss_mb": rss, "sent": n, "bytes": len(data)}


async def child_ptb(base_url: str, token: str, n: int, concurrency: int) -> dict[str, Any]:
    """A bare python-telegram-bot loop: the issue's parts to ``n`` chats, paced by the same
    RateLimiter as the sender (no ledger; a 429 from the strict stand-in is waited out and
    counted, nothing else is handled)."""
    from telegram import Bot, LinkPreviewOptions
    from telegram.constants import ParseMode
    from telegram.error import RetryAfter
    from telegram.request import HTTPXRequest

    from digestbot.delivery.ratelimit import RateLimiter
    from digestbot.delivery.telegram import retry_after_seconds
    from digestbot.models import Language
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    svc = build_service(load_settings())
    try:
        content = svc.content_for(await svc.issue_for(WEEK))
        parts = {lang: content.telegram(Language(lang)) for lang in LANG_CYCLE}
    finally:
        await svc.engine.dispose()
    limiter = RateLimiter()
    bot = Bot(
        token,
        base_url=base_url,
        request=HTTPXRequest(connection_pool_size=concurrency + 8),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
    )
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for user_id, lang in telegram_users(n):
        queue.put_nowait((user_id, lang))
    no_preview = LinkPreviewOptions(is_disabled=True)
    sent = refused = 0

    async def worker() -> None:
        nonlocal sent, refused
        while not queue.empty():
            user_id, lang = queue.get_nowait()
            for text in parts[lang]:
                while True:
                    await limiter.acquire(user_id, "private")
                    try:
                        await bot.send_message(
                            user_id,
                            text,
                            parse_mode=ParseMode.HTML,
                            link_preview_options=no_preview,
                        )
                    except RetryAfter as exc:
                        refused += 1
                        await asyncio.sleep(retry_after_seconds(exc))
                        continue
                    break
                sent += 1

    async with bot:
        cpu0, _ = usage()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        cpu1, rss = usage()
    await limiter.close()
    return {"seconds": seconds, "cpu": cpu1 - cpu0, "rss_mb": rss, "sent": sent, "429s": refused}


def run_child(args: Sequence[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--child", *args]
    profile = os.environ.get("BENCH_PYSPY")  # a folder: profile each child with py-spy
    if profile and args[0] != "raw":
        out_file = Path(profile) / f"{args[0]}-{time.time_ns()}.txt"
        spy = ["py-spy", "record", "-r", "200", "-f", "raw", "-o", str(out_file), "--"]
        command = [*spy, *command]
    out = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- email ------------------------------------------------------------------------------------


def bench_email(n: int, runs: int, connections: int, pg_url: str | None, work: Path) -> bool:
    print(
        f"\n== email fan-out: {n} subscribers, {connections} SMTP connections, {runs} runs "
        f"each (sink in process {os.getpid()}'s child) =="
    )
    dbs = ["sqlite"] + (["postgres"] if pg_url else [])
    results: dict[str, list[dict[str, Any]]] = {"raw": [], **{db: [] for db in dbs}}
    with CountingSink() as sink:
        print(f"sink pid {sink.pid} on port {sink.port}")
        for run in range(runs):
            for kind in ["raw", *dbs]:
                sink.reset()
                sink_cpu0 = sink.cpu_seconds()
                if kind == "sqlite":
                    url = f"sqlite:///{work / f'email-{run}.db'}"
                elif kind == "postgres":
                    assert pg_url is not None
                    reset_postgres(pg_url)
                    url = pg_url
                else:
                    url = f"sqlite:///{work / 'raw.db'}"
                seed(url, n if kind != "raw" else 0, 0)
                env = publish_env(
                    database_url=url,
                    outbox=work / "outbox",
                    smtp_port=sink.port,
                    extra={"DIGESTBOT_SMTP__CONNECTIONS": str(connections)},
                )
                if kind == "raw":
                    r = run_child(["raw", str(sink.port), str(n), str(connections)], env, work)
                else:
                    r = run_child(["e2e", "email"], env, work)
                    assert r["complete"] and r["failed"] == 0, r
                sink.wait_for(n, timeout=30)
                r["sink_count"] = sink.count
                r["sink_span"] = sink.span
                r["sink_cpu"] = sink.cpu_seconds() - sink_cpu0
                r["rate"] = n / r["seconds"]
                results[kind].append(r)
                print(
                    f"run {run + 1} {kind:8s}: {r['seconds']:6.2f}s  {r['rate']:7.1f} msg/s  "
                    f"cpu {r['cpu']:6.2f}s ({1000 * r['cpu'] / n:5.2f} s/1k msgs)  "
                    f"peak RSS {r['rss_mb']:6.1f} MB  sink got {r['sink_count']} "
                    f"(sink cpu {r['sink_cpu']:.1f}s)",
                    flush=True,
                )
                if sink.count != n:
                    print(f"  LOST: the sink got {sink.count} of {n}")
    raw_rate = median([r["rate"] for r in results["raw"]])
    ok = True
    print(f"\nraw ceiling (median of {runs}): {raw_rate:.1f} msg/s")
    for db in dbs:
        rate = median([r["rate"] for r in results[db]])
        cpu = median([1000 * r["cpu"] / n for r in results[db]])
        rss = max(r["rss_mb"] for r in results[db])
        ratio = rate / raw_rate
        print(
            f"{db:8s} end to end (median of {runs}): {rate:.1f} msg/s = {ratio:.2f} of the raw "
            f"ceiling (target >= 0.80); {cpu:.2f} CPU s per 1,000 messages; "
            f"peak RSS {rss:.1f} MB (target <= 200)"
        )
        ok = ok and ratio >= 0.8 and rss <= 200
    raw_cpu = median([1000 * r["cpu"] / n for r in results["raw"]])
    print(f"raw loop: {raw_cpu:.2f} CPU s per 1,000 messages")
    return ok


# -- telegram ---------------------------------------------------------------------------------


def bench_telegram(n: int, runs: int, work: Path) -> bool:
    from fake_telegram import FakeTelegram

    print(f"\n== Telegram fan-out: {n} private subscribers, stand-in at 30 msg/s, {runs} runs ==")
    ok = True
    rows: dict[str, list[dict[str, Any]]] = {"e2e": [], "ptb": []}
    for run in range(runs):
        for kind in ("e2e", "ptb"):
            url = f"sqlite:///{work / f'tg-{kind}-{run}.db'}"
            seed(url, 0, n if kind == "e2e" else 0)
            fake = FakeTelegram()
            for user_id, _lang in telegram_users(n):
                fake.add_private_chat(user_id, "Reader")
            with fake:
                env = publish_env(
                    database_url=url,
                    outbox=work / "outbox",
                    telegram_url=fake.base_url,
                    telegram_token=fake.token,
                )
                if kind == "e2e":
                    r = run_child(["e2e", "telegram"], env, work)
                else:
                    r = run_child(["ptb", fake.base_url, fake.token, str(n), "64"], env, work)
                msgs = fake.all_messages()
                copies = telegram_copies(fake)
                r["count_429"] = fake.count_429
                r["over_limit"] = fake.over_limit
            span = msgs[-1].sent_at - msgs[0].sent_at if len(msgs) > 1 else float("nan")
            r["messages"] = len(msgs)
            r["span_rate"] = (len(msgs) - 1) / span
            r["wall_rate"] = len(msgs) / r["seconds"]
            r["duplicates"] = sum(c - 1 for c in copies.values() if c > 1)
            expected = _expected_telegram(n, env)
            r["lost"] = expected - len(copies)
            rows[kind].append(r)
            print(
                f"run {run + 1} {kind}: {len(msgs)} messages in {r['seconds']:.2f}s: "
                f"{r['span_rate']:.2f} msg/s first-to-last, {r['wall_rate']:.2f} msg/s over the "
                f"whole call; lost {r['lost']}, duplicates {r['duplicates']}, "
                f"429s {r['count_429']} (over the limit per scope: {r['over_limit']}), "
                f"cpu {r['cpu']:.2f}s, peak RSS {r['rss_mb']:.0f} MB",
                flush=True,
            )
            ok = ok and r["lost"] == 0 and r["duplicates"] == 0
    for kind in ("e2e", "ptb"):
        span = median([r["span_rate"] for r in rows[kind]])
        wall = median([r["wall_rate"] for r in rows[kind]])
        print(
            f"{kind}: median {span:.2f} msg/s first-to-last ({span / 30:.3f} of 30/s), "
            f"{wall:.2f} msg/s over the whole call ({wall / 30:.3f} of 30/s)"
        )
    e2e = median([r["span_rate"] for r in rows["e2e"]])
    ptb = median([r["span_rate"] for r in rows["ptb"]])
    print(f"digestbot / bare PTB loop: {e2e / ptb:.3f}; target >= 28 msg/s (0.93 of the limit)")
    return ok and e2e >= 28


def _expected_telegram(n: int, env: dict[str, str]) -> int:
    from _harness import expected_parts_async

    parts = run_async(expected_parts_async(env["DIGESTBOT_DATABASE_URL"], env))
    return sum(len(parts[lang]) for _u, lang in telegram_users(n))


# -- main -------------------------------------------------------------------------------------


def child(argv: Sequence[str]) -> None:
    kind = argv[0]
    if kind == "e2e":
        result = asyncio.run(child_e2e(argv[1]))
    elif kind == "raw":
        result = asyncio.run(child_raw(int(argv[1]), int(argv[2]), int(argv[3])))
    elif kind == "ptb":
        result = asyncio.run(child_ptb(argv[1], argv[2], int(argv[3]), int(argv[4])))
    else:
        raise SystemExit(f"unknown child {kind}")
    print(json.dumps(result))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emails", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4, help="DIGESTBOT_SMTP__CONNECTIONS")
    ap.add_argument("--telegram", type=int, default=1000)
    ap.add_argument("--tg-runs", type=int, default=1)
    ap.add_argument("--only", choices=["email", "telegram"])
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()

    import tempfile

    work = Path(tempfile.mkdtemp(prefix="digestbot-fanout-"))
    t0 = time.monotonic()
    ok = True
    if args.only in (None, "email"):
        pg = None if args.no_postgres else ensure_database(args.pg_server, "digestbot_bench")
        ok = bench_email(args.emails, args.runs, args.connections, pg, work) and ok
    if args.only in (None, "telegram"):
        ok = bench_telegram(args.telegram, args.tg_runs, work) and ok
    print(f"\n{'PASS' if ok else 'FAIL'} ({time.monotonic() - t0:.0f}s, work dir {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
