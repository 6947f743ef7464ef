"""Crash test: kill -9 a publish at random points, restart it, count every copy.

Run: python bench/crash.py [--trials 10] [--email 2000] [--telegram 300] [--db sqlite|postgres]

Issue 3: a publish to 2,000 email and 300 Telegram subscribers killed with SIGKILL at
random points in at least 10 trials; after restart every destination has its copy (0 lost);
duplicates at most one per message in flight at the kill. Then two ``digestbot publish``
processes started at once on one PostgreSQL database: no destination gets two copies.

The SMTP sink (tests/smtp_sink.py) and the Telegram stand-in (with Telegram's own flood
limits) run in this process; ``digestbot publish --week 2024-W16`` runs as a subprocess.
A first, uninterrupted run measures the expected duration; each trial kills at a time
drawn uniformly from it, then runs the same command again to completion (exit 0).
Copies are counted per recipient (email) and per (chat, part) (Telegram). A duplicate is
"explained" when the dead process held that row (status sending) and the duplicated part
is the first one its ledger row had not recorded as sent: exactly a message in flight.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    CrashConfig,
    TrialResult,
    crash_trial,
    ensure_database,
    median,
    two_workers,
)

SMTP_CONNECTIONS = 4  # SmtpSettings.connections default: the SMTP sender's in-flight window
TELEGRAM_CONCURRENCY = 64  # TelegramSender default: rows sending to Telegram at once
UNRECORDED = 32  # Publisher default: sent rows per transport waiting for their sent mark


def in_flight_bound(n_telegram: int) -> int:
    return SMTP_CONNECTIONS + UNRECORDED + min(TELEGRAM_CONCURRENCY + UNRECORDED, n_telegram)


def line(i: int | str, r: TrialResult) -> str:
    kill = f"{r.kill_at:6.2f}s" if r.kill_at is not None else "   -   "
    state = "killed" if r.killed else "done  "
    return (
        f"{i!s:>5} {kill} {state} {r.copies_before_kill:7d} {r.leased_at_kill:7d} "
        f"{r.lost:5d} {r.duplicates:5d} {len(r.unexplained):11d} {r.resume_seconds:8.2f}s "
        f"{r.count_429:5d}"
    )


HEADER = (
    "trial    kill   state  before  leased  lost  dups  unexplained   resume   429s\n"
    "                       (copies (rows of                                       \n"
    "                        out)    the dead)                                     "
)


class _NoClientDisconnect(logging.Filter):
    """The stand-in logs a traceback when a killed publisher hangs up mid-request."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "ClientDisconnect"


def main() -> int:
    logging.getLogger("uvicorn.error").addFilter(_NoClientDisconnect())
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--email", type=int, default=2000)
    ap.add_argument("--telegram", type=int, default=300)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--seed", type=int, default=20240416)
    ap.add_argument(
        "--pg-server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server; the bench uses a database of its own, digestbot_bench",
    )
    ap.add_argument("--no-workers", action="store_true", help="skip the two-worker run on PG")
    args = ap.parse_args()

    pg_url: str | None = None
    if args.db == "postgres" or not args.no_workers:
        pg_url = ensure_database(args.pg_server, "digestbot_bench")
    cfg = CrashConfig(args.email, args.telegram, args.db, postgres_url=pg_url)
    rng = random.Random(args.seed)
    print(
        f"crash test: {args.email} email + {args.telegram} Telegram subscribers, {args.db}, "
        f"{args.trials} trials, seed {args.seed}; work dir {cfg.workdir}"
    )

    calib = crash_trial(cfg, "calibration", None)
    expected = calib.first_seconds
    print(
        f"uninterrupted run: {expected:.1f}s, {calib.tally.expected} copies due, "
        f"{calib.tally.copies} delivered, lost {calib.lost}, duplicates {calib.duplicates}, "
        f"429s {calib.count_429}"
    )
    print(HEADER)
    print(line("-", calib))
    results: list[TrialResult] = []
    for i in range(1, args.trials + 1):
        kill_at = rng.uniform(0.0, expected)
        r = crash_trial(cfg, f"trial{i:02d}", kill_at)
        results.append(r)
        print(line(i, r), flush=True)
        if r.tally.lost:
            print(f"      LOST: {r.tally.lost[:10]}")
        if r.tally.duplicates:
            shown = ", ".join(d for d, _n in r.tally.duplicates[:8])
            more = "" if len(r.tally.duplicates) <= 8 else f" (+{len(r.tally.duplicates) - 8})"
            print(f"      duplicated: {shown}{more}")
        if r.unexplained:
            print(f"      NOT IN FLIGHT AT THE KILL: {r.unexplained}")
        if r.tally.unexpected:
            print(f"      UNEXPECTED: {r.tally.unexpected[:5]}")

    lost = sum(r.lost for r in results)
    dups = [r.duplicates for r in results]
    unexplained = sum(len(r.unexplained) for r in results)
    killed = sum(r.killed for r in results)
    bound = in_flight_bound(args.telegram)
    print(
        f"totals: {len(results)} trials ({killed} killed mid-run), "
        f"{sum(r.tally.expected for r in results)} copies due, lost {lost}, "
        f"duplicates {sum(dups)} (max {max(dups, default=0)} per trial, "
        f"median {median([float(d) for d in dups]):.0f}; in-flight window {bound} = "
        f"{SMTP_CONNECTIONS} + {UNRECORDED} SMTP + "
        f"{min(TELEGRAM_CONCURRENCY + UNRECORDED, args.telegram)} Telegram), "
        f"duplicates not in flight at the kill {unexplained}, "
        f"median resume {median([r.resume_seconds for r in results]):.1f}s"
    )
    ok = lost == 0 and unexplained == 0 and max(dups, default=0) <= bound

    if not args.no_workers:
        assert pg_url is not None
        pg = CrashConfig(args.email, args.telegram, "postgres", postgres_url=pg_url)
        t0 = time.monotonic()
        w = two_workers(pg, "two-workers")
        print(
            f"two workers on PostgreSQL: exit codes {w.returncodes}, {w.seconds:.1f}s, "
            f"{w.tally.expected} copies due, {w.tally.copies} delivered, "
            f"lost {len(w.tally.lost)}, duplicates {w.tally.n_duplicates}, "
            f"429s {w.count_429}; emails by worker {dict(sorted(w.sent_by.items()))} "
            f"({time.monotonic() - t0:.1f}s with setup)"
        )
        if w.tally.duplicates:
            print(f"      duplicated: {w.tally.duplicates[:10]}")
        ok = ok and not w.tally.lost and not w.tally.duplicates and w.returncodes == [0, 0]
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
