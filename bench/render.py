"""Benchmark: load 10,000 paper files, and render one issue in every format and language.

Run: python bench/render.py [--papers 10000] [--repeat 5]
Targets (issue 2): load 10,000 files <= 2 s; render one issue (all formats, one language)
<= 50 ms. Baselines measured in the same run: reading the same files' bytes without
parsing (the I/O floor), and rendering the plain-text format alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from digestbot.content.store import ContentStore
from digestbot.delivery.senders import Content, RenderOptions
from digestbot.models import Language
from digestbot.render.plain import render_text
from digestbot.render.templates import Templates
from digestbot.render.web import render_web_issue
from digestbot.selection import make_issue, select_papers
from digestbot.weeks import Week

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from common import make_content  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def read_bytes(root: Path) -> int:
    return sum(len(p.read_bytes()) for p in (root / "papers").rglob("*.md"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        make_content(root, args.papers - 9)
        store = ContentStore(root)
        snap = store.load()
        assert len(snap.papers) == args.papers, (len(snap.papers), snap.errors[:3])
        load = timed(store.load, args.repeat)
        floor = timed(lambda: read_bytes(root), args.repeat)

    sample = ContentStore(REPO / "content").load()
    week = Week(2024, 16)
    issue = make_issue(week, select_papers(sample.papers, week))
    templates = Templates()
    opts = RenderOptions(templates=templates)

    def render_all(lang: Language) -> None:
        content = Content(issue, opts, lambda c, a: "http://127.0.0.1:8000/unsubscribe/t")
        content.telegram(lang)
        content.email_message("reader@example.com", lang).as_bytes()
        render_web_issue(issue, lang, templates=templates)
        render_text(issue, lang, templates=templates)

    def render_every_language() -> None:
        for lang in Language:
            render_all(lang)

    render_every_language()  # warm the template cache
    rend = timed(render_every_language, max(args.repeat, 20))
    text_only = timed(
        lambda: [render_text(issue, lang, templates=templates) for lang in Language],
        max(args.repeat, 20),
    )
    per_issue = [t / 3 for t in rend]

    ml, mf = statistics.median(load), statistics.median(floor)
    mr, mt = statistics.median(per_issue), statistics.median(text_only) / 3
    print(f"papers: {args.papers} files, repeat {args.repeat}")
    print(f"load {args.papers} files (parse + validate): median {ml:.3f} s  (target <= 2 s)")
    print(f"  baseline: read the same bytes only:     median {mf:.3f} s  ratio {ml / mf:.1f}x")
    print(
        f"render one issue, all 4 formats, one language: median {mr * 1000:.1f} ms "
        "(target <= 50 ms)"
    )
    print(
        f"  baseline: plain-text format only:           median {mt * 1000:.1f} ms  "
        f"ratio {mr / mt:.1f}x"
    )
    every = statistics.median(rend) * 1000
    print(f"render all formats x all 3 languages:         median {every:.1f} ms")


if __name__ == "__main__":
    main()
