"""Benchmark: how soon `digestbot run` is ready (content loaded, index synced) and its memory.

Run: python bench/run_ready.py [--papers 100000] [--repeat 3] [--dir /tmp/digestbot-100k]

Starts the real `digestbot run` as a subprocess over a content store of N papers (the
sample papers plus synthetic ones from bench/common.py) and times it from launch to its
"digestbot ready" line, then reads its resident memory. The first start parses every file
and builds the search index (cold: the baseline); later starts reuse the parse cache and
the index file (warm). Targets (issue 4): ready within 10 s, resident memory <= 300 MB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from common import digestbot_run, make_content, run_env  # noqa: E402


def start_once(root: Path) -> tuple[float, float]:
    """Seconds from launch to the ready line, and RSS (MiB) once ready."""
    with digestbot_run(run_env(root)) as (pid, ready):
        time.sleep(0.5)
        return ready, psutil.Process(pid).memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/digestbot-bench-run"))
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the content (and its caches) already in --dir: warm starts only",
    )
    args = ap.parse_args()
    root = args.dir
    if not (args.reuse and (root / "content").is_dir()):
        if root.exists():
            shutil.rmtree(root)
        make_content(root / "content", args.papers - 9)
    cold_t, cold_rss = start_once(root)
    warm = [start_once(root) for _ in range(args.repeat)]
    warm_t = statistics.median(t for t, _ in warm)
    warm_rss = statistics.median(r for _, r in warm)
    print(f"papers: {args.papers}")
    first = "first start" if args.reuse else "cold start (parse every file, build the index)"
    print(f"{first}: {cold_t:.2f} s, RSS {cold_rss:.0f} MiB")
    print(
        f"warm start, median of {args.repeat}: {warm_t:.2f} s (target <= 10 s), "
        f"RSS {warm_rss:.0f} MiB (target <= 300 MB); ratio to cold {warm_t / cold_t:.2f}x"
    )


if __name__ == "__main__":
    main()
