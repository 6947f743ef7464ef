"""Benchmark: peak memory (VmHWM) of one warm ``ContentStore.load()`` through the parse cache.

Run: python bench/load_peak.py CONTENT_DIR [--bodies] [--all-whole]

In a fresh interpreter: load the store at CONTENT_DIR with its parse cache (as
`digestbot run` does: no Markdown bodies unless ``--bodies``; only the recent weeks' papers
whole, ``RECENT_WEEKS``, unless ``--all-whole``), then print the load time,
cache hits and misses, the peak resident memory (VmHWM) and the resident memory before and
after ``malloc_trim``. Run it twice: the first run of a new code version parses every file
and writes the cache. To compare with an older version, run the same command with that
version's ``src`` first on PYTHONPATH (``git archive <commit> src | tar -x -C /tmp/old``)
over a copy of the content (each version keeps its own cache format).
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from digestbot import models
from digestbot.content import store as content_store
from digestbot.content.cache import PaperCache
from digestbot.content.store import ContentStore, trim_heap


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("content", type=Path)
    ap.add_argument("--bodies", action="store_true", help="keep Markdown bodies (older code)")
    ap.add_argument("--all-whole", action="store_true", help="every paper with its summaries")
    args = ap.parse_args()
    # --bodies: the code of before issue 14 (no ``bodies``, no ``recent_weeks``)
    recent = None if args.all_whole else getattr(content_store, "RECENT_WEEKS", None)
    before = status_mib("VmHWM")
    t0 = time.perf_counter()
    cache = PaperCache.beside(args.content)
    if args.bodies:
        store = ContentStore(args.content, cache=cache)
    else:
        store = ContentStore(args.content, cache=cache, bodies=False, recent_weeks=recent)
    snap = store.load()
    seconds = time.perf_counter() - t0
    assert store.cache is not None
    whole_type = getattr(models, "Paper")  # noqa: B009 (a head is a Paper's base)
    whole = sum(type(p) is whole_type for p in snap.papers.values())
    print(
        f"papers {len(snap.papers)} ({whole} whole), cache hits {store.cache.hits} "
        f"misses {store.cache.misses}, load {seconds:.2f} s"
    )
    print(f"VmHWM before {before:.0f} MiB, after load {status_mib('VmHWM'):.0f} MiB")
    rss = status_mib("VmRSS")
    gc.collect()
    trim_heap()
    print(f"VmRSS after load {rss:.0f} MiB, after malloc_trim {status_mib('VmRSS'):.0f} MiB")


if __name__ == "__main__":
    main()
