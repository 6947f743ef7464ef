"""Ledger bench: plan time per 100k rows and claim time per batch, at any list size.

Run: python bench/claim.py [--sizes 10000 100000 1000000] [--batch 256] [--no-postgres]
                           [--no-sqlite] [--pg-database NAME]

Each (database, size) runs in a fresh child process: plan ``size`` email rows from a
stream of destinations (``Ledger.plan``, as the publisher's plan does, ANALYZE included on
PostgreSQL), then drain them without sending: claim a batch, record it as sent (the group
commit's ``write_batch``), until nothing is left. It prints the plan's seconds per 100k
rows, claim milliseconds per batch (median, p90, and the median of the first and last
tenth of the drain: flat means the claim doesn't grow with the list or with the drain's
progress) and the child's peak RSS (VmHWM: flat means planning doesn't hold the list).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ensure_database, median, reset_postgres

HERE = Path(__file__).resolve()


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return float("nan")


async def child(url: str, size: int, batch: int) -> dict[str, Any]:
    from digestbot.db.engine import make_engine, upgrade
    from digestbot.delivery.ledger import Ledger
    from digestbot.models import Channel, Destination, Issue, Language, Paper, Status

    engine = make_engine(url)
    await upgrade(engine)
    ledger = Ledger(engine)
    paper = Paper("2404.09173", "TransformerFAM", dt.date(2024, 4, 16), status=Status.READY)
    issue = Issue(
        "2024-W16", "速递", "Papers", dt.date(2024, 4, 15), dt.date(2024, 4, 19), (paper,)
    )
    langs = (Language.ZH, Language.EN, Language.BOTH)

    async def destinations() -> AsyncIterator[tuple[Destination, str]]:
        for i in range(size):
            yield Destination(Channel.EMAIL, f"reader{i:07d}@example.org", langs[i % 3], i), "smtp"

    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    record = await ledger.plan(issue, destinations(), frozenset({"email"}))
    plan_seconds = time.perf_counter() - t0
    rss_plan = peak_rss_mb()
    claims: list[float] = []
    owner = "bench:1:claim"
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        while True:
            c0 = time.perf_counter()
            rows = await ledger.claim(record.id, owner, batch)
            if not rows:
                break
            claims.append(time.perf_counter() - c0)
            await ledger.write_batch(owner, (), [(r.id, 1) for r in rows], conn=conn)
    drain_seconds = time.perf_counter() - t0
    await engine.dispose()
    tenth = max(len(claims) // 10, 1)
    ordered = sorted(claims)
    return {
        "size": size,
        "plan_per_100k": plan_seconds / size * 100_000,
        "plan_seconds": plan_seconds,
        "claims": len(claims),
        "claim_median_ms": 1000 * median(claims),
        "claim_p90_ms": 1000 * ordered[min(int(0.9 * len(ordered)), len(ordered) - 1)],
        "claim_first_tenth_ms": 1000 * median(claims[:tenth]),
        "claim_last_tenth_ms": 1000 * median(claims[-tenth:]),
        "drain_seconds": drain_seconds,
        "rss_before_plan_mb": rss_before,
        "rss_after_plan_mb": rss_plan,
        "peak_rss_mb": peak_rss_mb(),
    }


def run(url: str, size: int, batch: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(HERE), "--child", url, str(size), str(batch)],
        capture_output=True,
        text=True,
        check=False,
        timeout=7200,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {url} {size} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(asyncio.run(child(argv[1], int(argv[2]), int(argv[3])))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--batch", type=int, default=256, help="rows per claim (the drain's window)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--pg-server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--pg-database", default="digestbot_bench", help="created if missing")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="digestbot-claim-"))
    pg = None if args.no_postgres else ensure_database(args.pg_server, args.pg_database)
    print(f"== plan and claim: sizes {args.sizes}, {args.batch} rows per claim ==")
    for db in ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if pg else []):
        for size in args.sizes:
            if db == "sqlite":
                url = f"sqlite:///{work / f'claim-{size}.db'}"
            else:
                assert pg is not None
                reset_postgres(pg)
                url = pg
            r = run(url, size, args.batch)
            print(
                f"{db:8s} {size:>9,}: plan {r['plan_seconds']:7.2f}s ({r['plan_per_100k']:.2f} s "
                f"per 100k rows); claim {r['claim_median_ms']:.1f} ms per batch median, p90 "
                f"{r['claim_p90_ms']:.1f}, first tenth {r['claim_first_tenth_ms']:.1f}, last "
                f"tenth {r['claim_last_tenth_ms']:.1f} ({r['claims']} claims); drain "
                f"{r['drain_seconds']:.1f}s; RSS {r['rss_before_plan_mb']:.0f} MB before the "
                f"plan, peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
            if db == "sqlite":
                Path(url.split("///", 1)[1]).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
