"""Benchmark: import the whole Markdown archive (../shared/corpus) into a fresh store + database.

Run: python bench/import_corpus.py [--corpus PATH] [--repeat 3]

Each run starts from an empty temp content dir and a new SQLite database and times, with the
same code the CLI runs (``digestbot import markdown``):

- parse + write: read every post, write one paper file each (``import_archive``);
- issues: create the database schema and record each post as a published issue;
- load: ``ContentStore.load()`` of the store just written (what the search index and the
  service read);
- re-import: the second, no-op import of the same archive (parse + compare, issues skipped).

It prints the median of the runs for each phase and the total; the search index build is
timed separately by its own benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from digestbot.content.store import ContentStore
from digestbot.db.engine import make_engine, upgrade
from digestbot.delivery.ledger import Ledger
from digestbot.sources.importer import ImportReport, plural
from digestbot.sources.markdown import ArchivePost, archive_issues, import_archive

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "ai-weekly-paper"
TZ = ZoneInfo("Asia/Shanghai")


def one_run(corpus: Path) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        store = ContentStore(root)
        db = Path(tmp) / "digestbot.db"

        t0 = time.perf_counter()
        report = ImportReport()
        posts = import_archive(store, [corpus], dry_run=False, report=report)
        t1 = time.perf_counter()
        engine_issues = asyncio.run(_record(db, posts))
        t2 = time.perf_counter()
        snap = store.load()
        t3 = time.perf_counter()
        again = ImportReport()
        import_archive(store, [corpus], dry_run=False, report=again)
        asyncio.run(_record(db, posts))
        t4 = time.perf_counter()
        assert not again.new and len(snap.papers) == len(report.new), "re-import was not a no-op"
        return {
            "write": t1 - t0,
            "issues": t2 - t1,
            "load": t3 - t2,
            "reimport": t4 - t3,
            "papers": len(snap.papers),
            "posts": len(posts),
            "issues_new": engine_issues,
            "problems": len(report.problems),
        }


async def _record(db: Path, posts: list[ArchivePost]) -> int:
    engine = make_engine(f"sqlite:///{db}")
    try:
        await upgrade(engine)
        ledger = Ledger(engine)  # what Service.import_markdown does after the files
        new = 0
        for item in archive_issues(posts, tz=TZ, report=ImportReport()):
            new += await ledger.record_published_issue(
                item.issue, item.published_at, source="archive"
            )
        return new
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found at {args.corpus}: pass --corpus PATH", file=sys.stderr)
        return 1
    runs = [one_run(args.corpus) for _ in range(args.repeat)]
    first = runs[0]
    print(
        f"corpus: {args.corpus} — {first['posts']} posts, {first['papers']} papers, "
        f"{first['issues_new']} issues, {plural(int(first['problems']), 'problem')} reported"
    )
    print(f"runs: {args.repeat} (each into an empty temp store + SQLite), {dt.date.today()}")

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    total = [float(r["write"]) + float(r["issues"]) + float(r["load"]) for r in runs]
    rows = [
        ("parse + write paper files", median("write")),
        ("record archive issues (schema + inserts)", median("issues")),
        ("ContentStore.load() after import", median("load")),
        ("import + issues + load (total)", statistics.median(total)),
        ("second import (no-op)", median("reimport")),
    ]
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  median {seconds * 1000:8.1f} ms")
    per_paper = median("write") / max(1, int(first["papers"])) * 1e6
    print(f"  parse + write per paper: {per_paper:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
