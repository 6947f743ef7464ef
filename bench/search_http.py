"""Benchmark half of bench/search.py: HTTP ``/search`` of a real `digestbot run`, and memory.

For a store of N papers in ``DIR/N/content`` (made by bench/common.py, or reused), starts
`digestbot run --no-scheduler` (no bot), then sends each query set to ``/search?q=`` over
HTTP, one request at a time on one keep-alive connection, and times each response (an id
answers with its redirect to the paper page, which is not followed). Baselines over the
same papers, in the same run, in the bench process: ``/healthz`` over the same connection
(the HTTP floor), a direct FTS5 ``MATCH`` on the run's own index file (the first page in
rowid order, no tiers, no count), and SQL ``LIKE`` (every term a substring of title,
summaries, authors or tags, first page by upvotes) on a plain SQLite table of the same
papers. The run's peak resident memory (VmHWM) is read once it is ready and again after
the queries. With ``archive=True`` (``--archive``) every ready paper is first put in a
published issue of its week, recorded in the run's database as an imported archive is, so
each result card links its issue as on a real site.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import digestbot_run, make_content, run_env
from digestbot.content.store import ContentStore
from digestbot.db.engine import make_engine, upgrade
from digestbot.delivery.ledger import Ledger
from digestbot.models import Paper
from digestbot.search.index import INDEX_FILE_NAME
from digestbot.search.query import parse_query, split_terms, term_expr
from digestbot.selection import make_issue
from digestbot.weeks import Week

Row = tuple[str, str, str, str]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: Sequence[float]) -> str:
    return f"{pct(values, 0.5) * 1000:.2f} / {pct(values, 0.99) * 1000:.2f} ms"


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def timed_each(fn: Callable[[str], object], queries: Sequence[str]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t0)
    return out


def like_table(root: Path, target: Path) -> sqlite3.Connection:
    """The same papers as a plain table (the LIKE baseline's data)."""
    snap = ContentStore(root).load()
    conn = sqlite3.connect(target)
    conn.execute("DROP TABLE IF EXISTS p")
    conn.execute(
        "CREATE TABLE p (arxiv_id TEXT PRIMARY KEY, score INT, date TEXT, doc TEXT NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO p VALUES (?, ?, ?, ?)",
        (
            (
                p.arxiv_id,
                p.score,
                p.date.isoformat(),
                " ".join((p.title_en, p.title_zh, p.summary_en, p.summary_zh, *p.authors, *p.tags)),
            )
            for p in snap.ready().values()
        ),
    )
    conn.commit()
    return conn


def search_page(client: httpx.Client, cards: list[int], query: str) -> None:
    """One ``/search`` request; a page that is neither a result page nor an id's redirect
    stops the bench (a fast error page must not pass for a fast search)."""
    r = client.get("/search", params={"q": query, "lang": "en"})
    if r.status_code not in (200, 303):
        raise RuntimeError(f"/search?q={query!r} answered {r.status_code}")
    cards.append(r.text.count('<li class="paper"'))


def publish_archive(root: Path, database_url: str) -> int:
    """Every ready paper in a published issue of its week (once); how many issues."""
    weeks: dict[Week, list[Paper]] = {}
    for paper in ContentStore(root).load().ready().values():
        weeks.setdefault(Week.of(paper.date), []).append(paper)

    async def record() -> int:
        engine = make_engine(database_url)
        try:
            await upgrade(engine)
            ledger = Ledger(engine)
            at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
            for week, papers in sorted(weeks.items(), key=lambda item: str(item[0])):
                papers.sort(key=lambda p: (-p.score, p.arxiv_id))
                await ledger.record_published_issue(make_issue(week, papers), at, source="bench")
            return len(await ledger.list_issues())
        finally:
            await engine.dispose()

    return asyncio.run(record())


def like_search(conn: sqlite3.Connection, query: str) -> list[str]:
    parsed = parse_query(query)
    if parsed.kind == "id":
        sql, args = "SELECT arxiv_id FROM p WHERE arxiv_id = ?", [parsed.arxiv_id]
    else:
        terms = split_terms(query)
        where = " AND ".join("doc LIKE ?" for _ in terms) or "1"
        sql = f"SELECT arxiv_id FROM p WHERE {where} ORDER BY score DESC, date DESC LIMIT 20"
        args = [f"%{t}%" for t in terms]
    return [row[0] for row in conn.execute(sql, args)]


def fts_search(conn: sqlite3.Connection, query: str) -> list[int]:
    parsed = parse_query(query)
    if parsed.kind == "id":
        sql = "SELECT rowid FROM papers WHERE arxiv_id = ?"
        return [row[0] for row in conn.execute(sql, (parsed.arxiv_id,))]
    if parsed.kind != "keywords":
        return []
    expr = " AND ".join(term_expr(t) for t in parsed.terms)
    sql = "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? LIMIT 20"
    return [row[0] for row in conn.execute(sql, (expr,))]


def http_rows(
    base: Path,
    papers: int,
    sets: dict[str, list[str]],
    *,
    reuse: bool,
    like_queries: int,
    archive: bool = False,
) -> list[Row]:
    """The HTTP rows for a store of ``papers`` papers under ``base/<papers>``."""
    root = base / str(papers)
    if not (reuse and (root / "content").is_dir()):
        if root.exists():
            shutil.rmtree(root)
        make_content(root / "content", papers - 9)
    rows: list[Row] = []
    env = run_env(root)
    url = f"http://127.0.0.1:{env['DIGESTBOT_HTTP__PORT']}"
    if archive:
        issues = publish_archive(root / "content", env["DIGESTBOT_DATABASE_URL"])
        rows.append((f"{papers:,} papers: published issues (one per week)", f"{issues:,}", "", ""))
    with digestbot_run(env) as (pid, ready):
        hwm_ready = status_kib(pid, "VmHWM") / 1024
        rows.append((f"{papers:,} papers: `digestbot run` ready", f"{ready:.1f} s", "", ""))
        index_file = root / "content" / ".cache" / INDEX_FILE_NAME
        index = sqlite3.connect(f"file:{index_file}?mode=ro", uri=True)
        like = like_table(root / "content", root / "like.sqlite3")
        total = 0
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(50):
                client.get("/healthz")
            floor = timed_each(lambda q: client.get("/healthz"), [""] * 1000)
            rows.append((f"{papers:,}: HTTP `/healthz` (floor): p50 / p99", ms(floor), "", ""))
            for name, queries in sets.items():
                cards: list[int] = []
                for q in queries[:50]:
                    search_page(client, cards, q)
                cards.clear()
                got = timed_each(functools.partial(search_page, client, cards), queries)
                total += len(queries) + 50
                fts = timed_each(lambda q: fts_search(index, q), queries)
                slow = timed_each(lambda q: like_search(like, q), queries[:like_queries])
                rows.append(
                    (
                        f"{papers:,}: HTTP `/search` {name} "
                        f"({sum(cards) / len(cards):.1f} cards a page): p50 / p99",
                        ms(got),
                        f"FTS5 MATCH {ms(fts)}; LIKE {ms(slow)}",
                        f"{pct(got, 0.5) / pct(fts, 0.5):.1f}x MATCH, "
                        f"{pct(got, 0.5) / pct(slow, 0.5):.3f}x LIKE",
                    )
                )
        hwm_after = status_kib(pid, "VmHWM") / 1024
        rss_after = status_kib(pid, "VmRSS") / 1024
        rows.append(
            (
                f"{papers:,}: run's peak RSS (VmHWM) ready / after {total:,} requests",
                f"{hwm_ready:.0f} / {hwm_after:.0f} MiB",
                f"VmRSS after {rss_after:.0f} MiB",
                "",
            )
        )
        index.close()
        like.close()
    return rows
