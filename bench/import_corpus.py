"""Benchmark: import the whole Markdown archive (../shared/corpus) into a fresh store + database.

Run: python bench/import_corpus.py [--corpus PATH] [--repeat 5]

Each run starts from an empty temp content dir and a new SQLite database and times, with the
same code the CLI runs (``digestbot import markdown``):

- parse + write: read every post, write one paper file each (``import_archive``);
- issues: create the database schema and record each post as a published issue;
- load: ``ContentStore.load()`` of the store just written (what the search index and the
  service read);
- re-import: the second, no-op import of the same archive (parse + compare, issues skipped);
- export: ``export markdown --all`` of every recorded issue through the service;
- import of the export: the exported posts into a fresh store and database.

The baseline, measured in the same run, is reading and parsing every post without writing.
Papers linked elsewhere than arXiv are not looked up (no network): they count as problems.

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
from digestbot.sources.markdown import (
    ArchivePost,
    archive_issues,
    collect_posts,
    import_archive,
    parse_post,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "ai-weekly-paper"
TZ = ZoneInfo("Asia/Shanghai")


def one_run(corpus: Path) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        store = ContentStore(root)
        db = Path(tmp) / "digestbot.db"

        t = time.perf_counter()
        files = collect_posts([corpus], ImportReport())
        parsed = sum(len(parse_post(f.read_text(encoding="utf-8")).papers) for f in files)
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
        out = Path(tmp) / "exported"
        exported = asyncio.run(_export(root, db, out))
        t5 = time.perf_counter()
        back = ImportReport()
        back_store = ContentStore(Path(tmp) / "back")
        back_posts = import_archive(back_store, [out], dry_run=False, report=back)
        asyncio.run(_record(Path(tmp) / "back.db", back_posts))
        t6 = time.perf_counter()
        assert len(back.new) == len(snap.papers) and not back.problems, "export did not round-trip"
        links = [p.links for p in snap.papers.values()]
        return {
            "parse": t0 - t,
            "write": t1 - t0,
            "issues": t2 - t1,
            "load": t3 - t2,
            "reimport": t4 - t3,
            "export": t5 - t4,
            "import_export": t6 - t5,
            "parsed": parsed,
            "papers": len(snap.papers),
            "posts": len(posts),
            "exported": exported,
            "issues_new": engine_issues,
            "problems": len(report.problems),
            "code": sum(bool(link.code) for link in links),
            "project": sum(bool(link.project) for link in links),
        }


async def _export(content: Path, db: Path, out: Path) -> int:
    """``digestbot export markdown --all --out OUT`` through the service, as the CLI does."""
    from digestbot.settings import Settings
    from digestbot.wiring import build_service

    settings = Settings(content_dir=content, database_url=f"sqlite:///{db}", _env_file=None)
    async with build_service(settings) as svc:
        report = await svc.export_markdown(None, out, every=True)
    return len(report.posts)


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
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found at {args.corpus}: pass --corpus PATH", file=sys.stderr)
        return 1
    runs = [one_run(args.corpus) for _ in range(args.repeat)]
    first = runs[0]
    print(
        f"corpus: {args.corpus} — {first['posts']} posts, {first['papers']} papers, "
        f"{first['issues_new']} issues, {plural(int(first['problems']), 'problem')} reported; "
        f"links recovered: {first['code']} code, {first['project']} project; "
        f"{first['exported']} posts exported"
    )
    print(
        f"runs: {args.repeat} (each into an empty temp store + SQLite, arXiv not asked), "
        f"{dt.date.today()}"
    )

    def median(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)

    total = [float(r["write"]) + float(r["issues"]) + float(r["load"]) for r in runs]
    base = median("parse")
    rows = [
        ("baseline: read + parse every post (no writes)", base),
        ("parse + write paper files", median("write")),
        ("record archive issues (schema + inserts)", median("issues")),
        ("ContentStore.load() after import", median("load")),
        ("import + issues + load (total)", statistics.median(total)),
        ("second import (no-op)", median("reimport")),
        ("export markdown --all", median("export")),
        ("import of the export into a fresh store", median("import_export")),
    ]
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(
            f"  {name:<{width}}  median {seconds * 1000:8.1f} ms  "
            f"({seconds / base if base else 0:5.1f}x baseline)"
        )
    per_paper = median("write") / max(1, int(first["papers"])) * 1e6
    print(f"  parse + write per paper: {per_paper:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
