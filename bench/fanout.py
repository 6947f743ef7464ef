"""Fan-out benchmark: email through an SMTP sink, Telegram through the rate-limited stand-in.

Run: python bench/fanout.py [--subscribers 10000 100000] [--runs 3] [--telegram 1000]
                            [--tg-runs 1] [--only email|telegram] [--pg-database NAME]

Email (issues 3 and 14): ``Service.publish`` to N email subscribers through a counting
SMTP sink on loopback, end to end including ledger writes, on SQLite and PostgreSQL,
against a fair ceiling measured in the same run: the better of

- a bare aiosmtplib loop over the same number of connections sending the run's own mix
  (each recipient gets their language's mail as digestbot writes it: zh, en and both in
  turn, 28 kB on average), written to DATA the way the SMTP sender writes it, with the
  connections' setup and QUIT inside the timing; and
- a sequential stdlib ``smtplib`` loop on one connection sending the same mix.

Targets (issue 14): >= 0.85 of the fair ceiling and peak RSS <= 150 MB at every size;
plan time per 100k rows and claim time per batch reported (flat across sizes). Each
run also reports sent marks per ledger transaction. ``--subscribers 1000000`` works (the
subscribers are seeded in bulk; budget about an hour per database on two cores).

Telegram (issues 3 and 14): 1,000 private subscribers through the stand-in enforcing 30
messages/s in any sliding second: effective rate, lost, duplicates, 429s and messages over
30 in a sliding second; baseline a bare python-telegram-bot loop paced by the same
RateLimiter and the same answer-time hook. Targets (issue 14, with ``--cpu-hog``, a busy
loop on one core): >= 29 msg/s first to last and 0 over the limit. Quiet re-measure:
``python bench/fanout.py --only telegram --tg-runs 3 --cpu-hog`` (and without the hog).

The counting SMTP sink runs in a process of its own, so its CPU is not charged to
digestbot. Every measured run is a fresh child process of this script (``--child``); its
CPU time comes from getrusage and its peak RSS from VmHWM. The database is seeded
beforehand; the seeding is not timed.
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

from _ceiling import seed_emails
from _harness import (
    LANG_CYCLE,
    WEEK,
    CountingSink,
    ensure_database,
    median,
    publish_env,
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
        timings = _instrument(svc.ledger)
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
        **timings,
    }


def _instrument(ledger: Any) -> dict[str, list[float]]:
    """Time the ledger's plan and claims, and count sent marks per transaction (the
    methods are wrapped on this instance only; they do what they always do)."""
    timings: dict[str, list[float]] = {"plan": [], "claim": [], "claim_rows": [], "marks": []}
    plan, claim, write_batch = ledger.plan, ledger.claim, ledger.write_batch

    async def timed_plan(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await plan(*args, **kwargs)
        finally:
            timings["plan"].append(time.perf_counter() - t0)

    async def timed_claim(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        rows = await claim(*args, **kwargs)
        if rows:
            timings["claim"].append(time.perf_counter() - t0)
            timings["claim_rows"].append(len(rows))
        return rows

    async def counted_write(owner: str, checkpoints: Any = (), sent: Any = (), **kw: Any) -> Any:
        if sent:
            timings["marks"].append(len(sent))
        return await write_batch(owner, checkpoints, sent, **kw)

    ledger.plan, ledger.claim, ledger.write_batch = timed_plan, timed_claim, counted_write
    return timings


async def child_raw(port: int, n: int, connections: int) -> dict[str, Any]:
    """The aiosmtplib ceiling: the run's mix of mails, no ledger, no rendering."""
    from _ceiling import aiosmtplib_loop, mix_messages

    messages = await mix_messages()
    cpu0, _ = usage()
    seconds = await aiosmtplib_loop("127.0.0.1", port, messages, n, connections)
    cpu1, rss = usage()
    return {"seconds": seconds, "cpu": cpu1 - cpu0, "rss_mb": rss, "sent": n}


def child_smtplib(port: int, n: int) -> dict[str, Any]:
    """The stdlib ceiling: the same mix in turn over one smtplib connection."""
    from _ceiling import mix_messages, smtplib_loop

    messages = asyncio.run(mix_messages())
    cpu0, _ = usage()
    seconds = smtplib_loop("127.0.0.1", port, messages, n)
    cpu1, rss = usage()
    return {"seconds": seconds, "cpu": cpu1 - cpu0, "rss_mb": rss, "sent": n}


async def child_ptb(base_url: str, token: str, n: int, concurrency: int) -> dict[str, Any]:
    """A bare python-telegram-bot loop: the issue's parts to ``n`` chats, paced by the same
    RateLimiter as the sender (no ledger; a 429 from the strict stand-in is waited out and
    counted, nothing else is handled)."""
    from telegram import Bot, LinkPreviewOptions
    from telegram.constants import ParseMode
    from telegram.error import RetryAfter
    from telegram.request import HTTPXRequest

    from digestbot.delivery.ratelimit import RateLimiter
    from digestbot.delivery.telegram import answering_request, retry_after_seconds
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
        request=answering_request(connection_pool_size=concurrency + 8),
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
                    try:
                        async with limiter.sending(user_id, "private"):
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


def run_child(
    args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 900
) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--child", *args]
    profile = os.environ.get("BENCH_PYSPY")  # a folder: profile each child with py-spy
    if profile and args[0] not in ("raw", "smtplib"):
        out_file = Path(profile) / f"{args[0]}-{time.time_ns()}.txt"
        spy = ["py-spy", "record", "-r", "200", "-f", "raw", "-o", str(out_file), "--"]
        command = [*spy, *command]
    out = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- email ------------------------------------------------------------------------------------


def bench_email(
    sizes: Sequence[int],
    runs: int,
    connections: int,
    pg_url: str | None,
    work: Path,
    kinds: Sequence[str] = (),
) -> bool:
    ok = True
    with CountingSink() as sink:
        print(f"sink pid {sink.pid} on port {sink.port}")
        for n in sizes:
            ok = bench_email_size(sink, n, runs, connections, pg_url, work, kinds) and ok
    return ok


def bench_email_size(
    sink: CountingSink,
    n: int,
    runs: int,
    connections: int,
    pg_url: str | None,
    work: Path,
    only_kinds: Sequence[str] = (),
) -> bool:
    print(
        f"\n== email fan-out: {n} subscribers, {connections} SMTP connections, {runs} runs "
        "of each kind, interleaved =="
    )
    dbs = ["sqlite"] + (["postgres"] if pg_url else [])
    kinds = [k for k in ["raw", "smtplib", *dbs] if not only_kinds or k in only_kinds]
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    timeout = max(900.0, n / 50)
    raw_env = publish_env(database_url=f"sqlite:///{work / 'raw.db'}", outbox=work / "outbox")
    seed_emails(raw_env["DIGESTBOT_DATABASE_URL"], 0)
    for run in range(runs):
        for kind in kinds:
            sink.reset()
            sink_cpu0 = sink.cpu_seconds()
            if kind == "raw":
                r = run_child(["raw", str(sink.port), str(n), str(connections)], raw_env, work)
            elif kind == "smtplib":
                r = run_child(["smtplib", str(sink.port), str(n)], raw_env, work)
            else:
                if kind == "sqlite":
                    url = f"sqlite:///{work / f'email-{n}-{run}.db'}"
                else:
                    assert pg_url is not None
                    reset_postgres(pg_url)
                    url = pg_url
                t0 = time.perf_counter()
                seed_emails(url, n)
                seeded = time.perf_counter() - t0
                env = publish_env(
                    database_url=url,
                    outbox=work / "outbox",
                    smtp_port=sink.port,
                    extra={"DIGESTBOT_SMTP__CONNECTIONS": str(connections)},
                )
                r = run_child(["e2e", "email"], env, work, timeout=timeout)
                r["seeded"] = seeded
                assert r["complete"] and r["failed"] == 0, {k: r[k] for k in ("complete", "failed")}
                if kind == "sqlite":
                    Path(url.split("///", 1)[1]).unlink(missing_ok=True)
            sink.wait_for(n, timeout=60)
            r["sink_count"] = sink.count
            r["sink_cpu"] = sink.cpu_seconds() - sink_cpu0
            r["rate"] = n / r["seconds"]
            results[kind].append(r)
            extra = ""
            if kind in dbs:
                extra = (
                    f"  plan {sum(r['plan']):.2f}s, claim median "
                    f"{1000 * median(r['claim']):.1f} ms/batch (p90 "
                    f"{1000 * percentile(r['claim'], 0.9):.1f}, {len(r['claim'])} claims of "
                    f"~{median(r['claim_rows']):.0f}), "
                    f"{sum(r['marks']) / max(len(r['marks']), 1):.1f} sent marks/transaction"
                )
            print(
                f"run {run + 1} {kind:8s}: {r['seconds']:7.2f}s {r['rate']:7.1f} msg/s  "
                f"cpu {1000 * r['cpu'] / n:5.2f} s/1k msgs  peak RSS {r['rss_mb']:6.1f} MB  "
                f"sink got {r['sink_count']} (sink cpu {r['sink_cpu']:.1f}s){extra}",
                flush=True,
            )
            if sink.count != n:
                print(f"  LOST: the sink got {sink.count} of {n}")
                return False
    if "raw" not in results or "smtplib" not in results:
        print("(no ceiling measured: --kinds left a raw loop out)")
        return True
    raw = median([r["rate"] for r in results["raw"]])
    stdlib = median([r["rate"] for r in results["smtplib"]])
    ceiling = max(raw, stdlib)
    print(
        f"\n{n} subscribers, medians of {runs}: aiosmtplib mix loop {raw:.1f} msg/s, stdlib "
        f"smtplib loop {stdlib:.1f} msg/s: fair ceiling {ceiling:.1f} msg/s"
    )
    ok = True
    for db in [d for d in dbs if d in results]:
        rs = results[db]
        rate = median([r["rate"] for r in rs])
        rss = max(r["rss_mb"] for r in rs)
        plan_per_100k = median([sum(r["plan"]) / n * 100_000 for r in rs])
        claim_ms = median([1000 * median(r["claim"]) for r in rs])
        marks = median([sum(r["marks"]) / max(len(r["marks"]), 1) for r in rs])
        print(
            f"{db:8s}: {rate:.1f} msg/s = {rate / ceiling:.2f} of the fair ceiling (target "
            f">= 0.85; {rate / raw:.2f} of the aiosmtplib loop, {rate / stdlib:.2f} of "
            f"smtplib); {median([1000 * r['cpu'] / n for r in rs]):.2f} CPU s per 1,000; "
            f"peak RSS {rss:.1f} MB (target <= 150); plan {plan_per_100k:.2f} s per 100k "
            f"rows; claim {claim_ms:.1f} ms per batch; {marks:.1f} sent marks per transaction"
        )
        ok = ok and rate / ceiling >= 0.85 and rss <= 150
    return ok


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


# -- telegram ---------------------------------------------------------------------------------


def over_the_limit(times: Sequence[float], limit: int = 30, window: float = 1.0) -> int:
    """How many of ``times`` were the (limit+1)-th or later in the sliding window before them."""
    ordered = sorted(times)
    over, first = 0, 0
    for last, t in enumerate(ordered):
        while ordered[first] <= t - window:
            first += 1
        if last - first + 1 > limit:
            over += 1
    return over


def bench_telegram(n: int, runs: int, work: Path, cpu_hog: bool = False) -> bool:
    print(f"\n== Telegram fan-out: {n} private subscribers, stand-in at 30 msg/s, {runs} runs ==")
    hog = None
    if cpu_hog:  # a busy loop on one core for the whole Telegram part
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        print(f"CPU hog: pid {hog.pid}, a busy loop alongside every run")
    try:
        return _bench_telegram(n, runs, work)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def _bench_telegram(n: int, runs: int, work: Path) -> bool:
    from fake_telegram import FakeTelegram

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
            r["over"] = over_the_limit([m.sent_at for m in msgs])
            expected = _expected_telegram(n, env)
            r["lost"] = expected - len(copies)
            rows[kind].append(r)
            print(
                f"run {run + 1} {kind}: {len(msgs)} messages in {r['seconds']:.2f}s: "
                f"{r['span_rate']:.2f} msg/s first-to-last, {r['wall_rate']:.2f} msg/s over the "
                f"whole call; lost {r['lost']}, duplicates {r['duplicates']}, "
                f"429s {r['count_429']} (over the limit per scope: {r['over_limit']}), "
                f"over 30 in a sliding second {r['over']}, "
                f"cpu {r['cpu']:.2f}s, peak RSS {r['rss_mb']:.0f} MB",
                flush=True,
            )
            ok = ok and r["lost"] == 0 and r["duplicates"] == 0 and r["over"] == 0
    for kind in ("e2e", "ptb"):
        span = median([r["span_rate"] for r in rows[kind]])
        wall = median([r["wall_rate"] for r in rows[kind]])
        print(
            f"{kind}: median {span:.2f} msg/s first-to-last ({span / 30:.3f} of 30/s), "
            f"{wall:.2f} msg/s over the whole call ({wall / 30:.3f} of 30/s)"
        )
    e2e = median([r["span_rate"] for r in rows["e2e"]])
    ptb = median([r["span_rate"] for r in rows["ptb"]])
    print(
        f"digestbot / bare PTB loop: {e2e / ptb:.3f}; target >= 29 msg/s first to last and 0 "
        "over 30 in any sliding second (issue 14, with --cpu-hog)"
    )
    return ok and e2e >= 29


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
    elif kind == "smtplib":
        result = child_smtplib(int(argv[1]), int(argv[2]))
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
    ap.add_argument(
        "--subscribers", "--emails", type=int, nargs="+", default=[10_000], dest="subscribers"
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4, help="DIGESTBOT_SMTP__CONNECTIONS")
    ap.add_argument("--telegram", type=int, default=1000)
    ap.add_argument("--tg-runs", type=int, default=1)
    ap.add_argument("--cpu-hog", action="store_true", help="a busy loop beside the Telegram runs")
    ap.add_argument("--only", choices=["email", "telegram"])
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--pg-database", default="digestbot_bench", help="created if missing")
    ap.add_argument(
        "--kinds",
        nargs="+",
        default=[],
        choices=["raw", "smtplib", "sqlite", "postgres"],
        help="email runs to make (default: all; the ratios need raw and smtplib)",
    )
    args = ap.parse_args()

    import tempfile

    work = Path(tempfile.mkdtemp(prefix="digestbot-fanout-"))
    t0 = time.monotonic()
    ok = True
    if args.only in (None, "email"):
        pg = None if args.no_postgres else ensure_database(args.pg_server, args.pg_database)
        ok = bench_email(args.subscribers, args.runs, args.connections, pg, work, args.kinds) and ok
    if args.only in (None, "telegram"):
        ok = bench_telegram(args.telegram, args.tg_runs, work, args.cpu_hog) and ok
    print(f"\n{'PASS' if ok else 'FAIL'} ({time.monotonic() - t0:.0f}s, work dir {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
