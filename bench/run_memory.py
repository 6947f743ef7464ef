"""Benchmark: peak memory (VmHWM) of `digestbot run` at each kind of start, and at a reload.

Run: python bench/run_memory.py DIR [--papers 100000] [--wait 45]

Over the content in ``DIR/content`` (made by bench/common.py when missing, with the
database beside it; ``bench/search.py --http N --dir D`` leaves one in ``D/N``), starts the
real `digestbot run --no-scheduler` and reads its peak resident memory once it is ready:

1. cold: the parse cache deleted (every file parsed; the search index kept);
2. warm: nothing changed since (the baseline);
3. after an edit: one paper file changed while the service was down (the cache rewritten);
4. a reload: one paper file changed while the service runs; VmHWM after it reloaded (it
   looks every 30 s; a request asks sooner) — the old snapshot serves meanwhile.

The edited file is put back as it was (its mtime set in the past) at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import digestbot_run, make_content, run_env
from search_http import status_kib


def mib(pid: int, field: str = "VmHWM") -> int:
    return status_kib(pid, field) // 1024


def age(path: Path, seconds: float) -> None:
    past = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(past, past))


def start(root: Path, label: str) -> None:
    with digestbot_run(run_env(root)) as (pid, ready):
        print(f"| {label} | {ready:.1f} s | {mib(pid)} MiB | {mib(pid, 'VmRSS')} MiB |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--wait", type=float, default=45.0, help="seconds to wait for the reload")
    args = ap.parse_args()
    root: Path = args.dir
    content = root / "content"
    if not content.is_dir():
        make_content(content, args.papers - 9)
    papers = sorted((content / "papers").rglob("*.md"))
    edited = papers[len(papers) // 2]
    text = edited.read_text(encoding="utf-8")
    print("| start | ready | VmHWM | VmRSS when measured |")
    print("|---|---|---|---|")
    try:
        (content / ".cache" / "papers.marshal").unlink(missing_ok=True)
        start(root, "cold: no parse cache")
        start(root, "warm")
        edited.write_text(text + "\n", encoding="utf-8")
        age(edited, 60)
        start(root, "warm, one file edited while down")
        env = run_env(root)
        with (
            digestbot_run(env) as (pid, ready),
            httpx.Client(
                base_url=f"http://127.0.0.1:{env['DIGESTBOT_HTTP__PORT']}", timeout=60
            ) as client,
        ):
            before = mib(pid)
            edited.write_text(text, encoding="utf-8")
            age(edited, 50)
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                time.sleep(5)
                client.get("/search", params={"q": "model"})
            print(
                f"| reload after one edit, service up (VmHWM ready: {before} MiB) | "
                f"{ready:.1f} s | {mib(pid)} MiB | {mib(pid, 'VmRSS')} MiB |"
            )
    finally:
        edited.write_text(text, encoding="utf-8")
        age(edited, 40)


if __name__ == "__main__":
    main()
