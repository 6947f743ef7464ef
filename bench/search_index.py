"""Benchmark: in-process ``SearchIndex.search`` latency, word index against trigrams.

Run: python bench/search_index.py DIR [--papers 100000] [--queries 1000] [--slowest 5]

Over the index a `digestbot run` wrote for ``DIR/<papers>/content`` (``bench/search.py
--http <papers> --dir DIR`` makes both), time a first page of 20 results for the same
English and Chinese query sets as bench/search.py, once through the default index (the
word index where a query allows it) and once with ``SearchIndex(words=False)`` (the trigram
tables for every query: the baseline, measured in the same run on the same file), each
set run twice with the second timed. Prints p50 / p90 / p99 / max, the ratio of the p99s,
the share of queries the word index answered, and the slowest queries of each.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import make_content
from digestbot.search.index import INDEX_FILE_NAME, SearchIndex
from digestbot.search.query import parse_query
from search import chinese_queries, english_queries, id_queries, pct


def timed(index: SearchIndex, queries: list[str]) -> list[tuple[float, str]]:
    for q in queries:  # warm: the file's pages in the OS cache
        index.search(q, limit=20)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, limit=20)
        out.append(((time.perf_counter() - t0) * 1000, q))
    return out


def by_words(index: SearchIndex, query: str) -> bool:
    plan = index._plan(parse_query(query).terms)
    return plan is not None and plan[0] == "words_fts"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--slowest", type=int, default=5)
    args = ap.parse_args()
    path = args.dir / str(args.papers) / "content" / ".cache" / INDEX_FILE_NAME
    if not path.is_file():
        sys.exit(f"no index at {path}: run bench/search.py --http {args.papers} --dir {args.dir}")
    rng = random.Random(7)  # the same queries as bench/search.py's HTTP sets
    made = make_content(Path("unused"), args.papers - 9, write=False)
    id_queries(rng, made, args.queries)  # drawn first there: the same stream after it
    sets = {
        "English": english_queries(rng, made, args.queries),
        "Chinese": chinese_queries(rng, made, args.queries),
    }
    print("| queries | index | p50 | p90 | p99 | max (ms) | answered by words |")
    print("|---|---|---|---|---|---|---|")
    slow: list[str] = []
    for name, queries in sets.items():
        p99 = {}
        for words in (True, False):
            with SearchIndex(path, words=words) as index:
                got = timed(index, queries)
                share = sum(by_words(index, q) for q in queries) / len(queries)
            values = [t for t, _ in got]
            p99[words] = pct(values, 0.99)
            label = "words (default)" if words else "trigrams (`words=False`)"
            print(
                f"| {name} | {label} | {pct(values, 0.5):.2f} | {pct(values, 0.9):.2f} | "
                f"{p99[words]:.2f} | {max(values):.2f} | {share:.0%} |"
            )
            worst = sorted(got, reverse=True)[: args.slowest]
            slow.append(f"{name}, {label}: " + ", ".join(f"{q!r} {t:.1f}" for t, q in worst))
        print(f"| {name} | p99 ratio words / trigrams | | | {p99[True] / p99[False]:.2f} | | |")
    print()
    for line in slow:
        print("slowest:", line)


if __name__ == "__main__":
    main()
