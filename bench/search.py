"""Benchmark: startup (store load, cache, index) and search latency over 100,000 papers.

Run: python bench/search.py [--papers 100000] [--queries 1000] [--repeat 3]
     python bench/search.py --http 10000,100000 [--http-only] [--dir D] [--reuse] [--archive]
Targets: ``digestbot run`` ready (content loaded + index up to date) <= 10 s for 100,000
files; ContentStore.load() <= 2 s for 10,000 files; search p50 <= 5 ms and p99 <= 20 ms
for ids, English and Chinese keywords. Baselines measured in the same run: the cold parse
of every file (for the cached load), a full rebuild (for the incremental sync), and a naive
linear scan ``every term in title`` over the same papers for the same queries (for search).
``--http`` adds, for each size, HTTP ``/search`` of a real `digestbot run` against SQL
``LIKE`` and a direct FTS5 ``MATCH`` on the same data, and the run's peak memory
(bench/search_http.py); ``--http-only`` skips the in-process part.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import EN_NOUN, ZH_TERMS, Synthetic, make_content
from digestbot.content.cache import PaperCache, default_cache_dir
from digestbot.content.store import ContentStore, Snapshot
from digestbot.models import Paper
from digestbot.search.index import INDEX_FILE_NAME, SearchIndex
from digestbot.search.query import parse_query, split_terms
from search_http import http_rows


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def id_queries(rng: random.Random, made: list[Synthetic], n: int) -> list[str]:
    out = []
    for i in range(n):
        paper = rng.choice(made)
        form = i % 10
        if form < 6:
            out.append(paper.arxiv_id)
        elif form == 6:
            out.append(f"https://arxiv.org/abs/{paper.arxiv_id}v2")
        elif form == 7:
            out.append(f"https://arxiv.org/pdf/{paper.arxiv_id}.pdf")
        elif form == 8:
            out.append(f"https://huggingface.co/papers/{paper.arxiv_id}")
        else:
            out.append(f"arXiv:{paper.arxiv_id[:5]}99999")  # no such paper
    return out


def english_queries(rng: random.Random, made: list[Synthetic], n: int) -> list[str]:
    fixed = ["feedback attention", "CLIP", "Megalodon", "Transformer", "LLM", "RL", "3D"]
    out = []
    for i in range(n):
        paper = rng.choice(made)
        title_words = [w for w in paper.title_en.split(":", 1)[1].split() if w.lower() != "for"]
        form = i % 8
        if form == 0:
            out.append(paper.name)  # a paper's name, as users copy it
        elif form == 1:
            out.append(paper.name.lower()[: max(4, len(paper.name) - 2)])  # a partial name
        elif form in (2, 3):
            out.append(rng.choice(EN_NOUN))  # one topic word, often very common
        elif form in (4, 5):
            out.append(" ".join(rng.sample(title_words, 2)))  # two words of a title
        elif form == 6:
            out.append(" ".join(rng.sample(EN_NOUN, 2)))  # two topic words, anywhere
        else:
            out.append(rng.choice(fixed))
    return out


def chinese_queries(rng: random.Random, made: list[Synthetic], n: int) -> list[str]:
    short = [t for t in ZH_TERMS if len(t) == 2]
    long = [t for t in ZH_TERMS if len(t) >= 3]
    singles = sorted({c for t in ZH_TERMS for c in t})
    fixed = ["反馈注意力", "注意", "图", "Transformer 长上下文", "长上下文", "扩散 模型"]
    out = []
    for i in range(n):
        form = i % 8
        if form in (0, 1):
            out.append(rng.choice(short))  # two characters: the bigram fallback
        elif form == 2:
            out.append(rng.choice(singles))  # one character
        elif form == 3:
            out.append(rng.choice(long))  # three or more: trigram
        elif form == 4:
            out.append(f"{rng.choice(ZH_TERMS)} {rng.choice(ZH_TERMS)}")
        elif form == 5:
            title = rng.choice(made).title_zh.split("：", 1)[1]
            start = rng.randrange(0, max(1, len(title) - 4))
            out.append(title[start : start + 4])  # a piece of a title
        elif form == 6:
            out.append(f"{rng.choice(EN_NOUN)} {rng.choice(ZH_TERMS)}")  # mixed
        else:
            out.append(rng.choice(fixed))
    return out


def linear_scan(papers: list[Paper], query: str, limit: int = 5) -> list[str]:
    """The baseline: every term in the title, by plain substring test, first ``limit``."""
    parsed = parse_query(query)
    if parsed.kind == "id":
        return [p.arxiv_id for p in papers if p.arxiv_id == parsed.arxiv_id][:limit]
    terms = split_terms(query)
    found = []
    for p in papers:
        title = f"{p.title_en} {p.title_zh}".lower()
        if all(t in title for t in terms):
            found.append(p.arxiv_id)
    return found[:limit]


def latency(fn: Callable[[str], object], queries: Sequence[str]) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t0)
    return out


def ready(root: Path, index_path: Path) -> tuple[Snapshot, int]:
    """What ``digestbot run`` does before it serves: load (cached), open and sync the index."""
    snap = ContentStore(root, cache=PaperCache.beside(root)).load()
    with SearchIndex(index_path) as index:
        changed = index.sync(snap.papers)
    return snap, changed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--baseline-queries", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--http", default="", help="sizes for HTTP /search, e.g. 10000,100000")
    ap.add_argument("--http-only", action="store_true")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/digestbot-bench-search"))
    ap.add_argument("--reuse", action="store_true", help="keep content made earlier in --dir")
    ap.add_argument("--like-queries", type=int, default=100)
    ap.add_argument(
        "--archive", action="store_true", help="--http: every paper in a published issue first"
    )
    args = ap.parse_args()
    rng = random.Random(7)
    rows: list[tuple[str, str, str, str]] = []
    for size in [int(x) for x in args.http.split(",") if x]:
        made = make_content(Path("unused"), size - 9, write=False)
        sets = {
            "ids and URLs": id_queries(rng, made, args.queries),
            "English keywords": english_queries(rng, made, args.queries),
            "Chinese keywords": chinese_queries(rng, made, args.queries),
        }
        rows += http_rows(
            args.dir,
            size,
            sets,
            reuse=args.reuse,
            like_queries=args.like_queries,
            archive=args.archive,
        )
        del made, sets
    if args.http_only:
        print_rows(rows, args)
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        t0 = time.perf_counter()
        made = make_content(root, args.papers)
        print(
            f"generated {len(made)} synthetic papers + samples in {time.perf_counter() - t0:.1f} s"
        )
        index_path = default_cache_dir(root) / INDEX_FILE_NAME

        # -- store load: cold (parse everything, write the cache), warm (cache) -----------------
        cold = timed(lambda: ContentStore(root, cache=PaperCache.beside(root)).load(), 1)[0]
        snap = ContentStore(root, cache=PaperCache.beside(root)).load()
        assert not snap.errors, snap.errors[:3]
        n = len(snap.papers)
        warm = statistics.median(
            timed(lambda: ContentStore(root, cache=PaperCache.beside(root)).load(), args.repeat)
        )
        rows.append(
            (
                f"load {n} files, warm cache",
                f"{warm:.2f} s",
                f"cold parse {cold:.2f} s",
                f"{warm / cold:.2f}x",
            )
        )

        # 10,000-file store, no cache (the issue-2 target), in a store of its own
        small = Path(tmp) / "small"
        make_content(small, 10_000, seed=1)
        load10k = statistics.median(timed(lambda: ContentStore(small).load(), args.repeat))
        load10k_warm = timed(lambda: ContentStore(small, cache=PaperCache.beside(small)).load(), 1)
        load10k_warm = timed(
            lambda: ContentStore(small, cache=PaperCache.beside(small)).load(), args.repeat
        )
        rows.append(("load 10,009 files, no cache (target <= 2 s)", f"{load10k:.2f} s", "", ""))
        rows.append(
            (
                "load 10,009 files, warm cache",
                f"{statistics.median(load10k_warm):.2f} s",
                f"no cache {load10k:.2f} s",
                f"{statistics.median(load10k_warm) / load10k:.2f}x",
            )
        )

        # -- index: full rebuild, then incremental syncs ---------------------------------------
        papers = list(snap.papers.values())
        index = SearchIndex(index_path)
        rebuild = timed(lambda: index.rebuild(papers), 1)[0]
        index.close()
        size_mb = sum(p.stat().st_size for p in index_path.parent.glob("search.sqlite3*")) / 1e6

        def sync_nothing() -> None:
            with SearchIndex(index_path) as idx:
                assert idx.sync(snap.papers) == 0

        sync0 = statistics.median(timed(sync_nothing, args.repeat))
        rows.append(
            (f"index rebuild, {n} papers ({size_mb:.0f} MB file)", f"{rebuild:.2f} s", "", "")
        )
        rows.append(
            (
                "index open + sync, nothing changed",
                f"{sync0:.3f} s",
                f"rebuild {rebuild:.2f} s",
                f"{sync0 / rebuild:.3f}x",
            )
        )
        changed = dict(snap.papers)
        for pid in list(changed)[:100]:
            p = changed[pid]
            changed[pid] = dataclasses.replace(p, score=p.score + 1)

        def sync_some() -> None:
            with SearchIndex(index_path) as idx:
                idx.sync(changed)
                idx.sync(snap.papers)

        sync100 = statistics.median(timed(sync_some, args.repeat)) / 2
        rows.append(
            (
                "index open + sync, 100 papers changed",
                f"{sync100:.3f} s",
                f"rebuild {rebuild:.2f} s",
                f"{sync100 / rebuild:.3f}x",
            )
        )
        start = timed(lambda: ready(root, index_path), args.repeat)
        rows.append(
            (
                "`digestbot run` ready: load (cache) + index sync (target <= 10 s)",
                f"{statistics.median(start):.2f} s",
                f"cold parse {cold:.2f} s",
                f"{statistics.median(start) / cold:.2f}x",
            )
        )

        # -- search latency ----------------------------------------------------------------------
        index = SearchIndex(index_path)
        rss = psutil.Process().memory_info().rss / 2**20
        sets = {
            "ids and URLs": id_queries(rng, made, args.queries),
            "English keywords": english_queries(rng, made, args.queries),
            "Chinese keywords (1/3 are 1-2 chars)": chinese_queries(rng, made, args.queries),
        }
        for name, queries in sets.items():
            for q in queries[:50]:
                index.search(q)  # warm the page cache
            lat = latency(lambda q: index.search(q, limit=5), queries)
            base = latency(lambda q: linear_scan(papers, q), queries[: args.baseline_queries])
            lat_ms = [x * 1000 for x in lat]
            rows.append(
                (
                    f"search {name}, {len(queries)} queries: p50 / p99",
                    f"{pct(lat_ms, 0.5):.2f} / {pct(lat_ms, 0.99):.2f} ms",
                    f"scan titles {statistics.median(base) * 1000:.1f} ms",
                    f"{statistics.median(lat) / statistics.median(base):.3f}x",
                )
            )
        web = latency(lambda q: index.search(q, limit=20, offset=20), sets["English keywords"])
        web_ms = [x * 1000 for x in web]
        rows.append(
            (
                "search English, web page 2 (limit 20, offset 20): p50 / p99",
                f"{pct(web_ms, 0.5):.2f} / {pct(web_ms, 0.99):.2f} ms",
                "",
                "",
            )
        )
        index.close()
        rows.append(
            ("resident memory after load + index open (psutil RSS)", f"{rss:.0f} MiB", "", "")
        )

    print(f"papers: {n}")
    print_rows(rows, args)


def print_rows(rows: list[tuple[str, str, str, str]], args: argparse.Namespace) -> None:
    print(f"repeat {args.repeat}, {args.queries} queries per kind")
    print("| what | median | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
