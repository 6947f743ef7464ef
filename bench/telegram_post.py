"""Benchmark: render an issue's Telegram post (all three languages) against plain text.

Run: python bench/telegram_post.py [--repeat 200]
Renders the sample week 2024-W16 (9 papers) and a long issue (20 papers with long
summaries, several messages) with ``render_telegram``; the baseline, in the same run, is
``render_text`` of the same issues. Uses only functions that exist before and after issue 11,
so the same script measures an older tree (``PYTHONPATH=<old tree>/src``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from digestbot.content.store import ContentStore
from digestbot.models import Issue, Language, Paper
from digestbot.render.plain import render_text
from digestbot.render.telegram import render_telegram
from digestbot.selection import make_issue, select_papers
from digestbot.weeks import Week

REPO = Path(__file__).resolve().parents[1]
URL = "https://digest.example.com"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1000


def long_issue(sample: list[Paper], week: Week) -> Issue:
    papers = []
    for i in range(20):
        p = sample[i % len(sample)]
        papers.append(
            type(p)(
                **{
                    **{name: getattr(p, name) for name in p.__slots__},
                    "arxiv_id": f"2404.{20000 + i:05d}",
                    "summary_en": (p.summary_en + " ") * 4,
                    "summary_zh": p.summary_zh * 4,
                }
            )
        )
    return make_issue(week, papers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    snap = ContentStore(REPO / "content").load()
    week = Week(2024, 16)
    sample = select_papers(snap.papers, week)
    for name, issue in (
        ("sample (9 papers)", make_issue(week, sample)),
        ("long (20 papers)", long_issue(sample, week)),
    ):
        tg = median_ms(
            lambda issue=issue: [
                render_telegram(issue, lang, zh_chars=400, en_words=200, public_url=URL)
                for lang in Language
            ],
            args.repeat,
        )
        text = median_ms(
            lambda issue=issue: [render_text(issue, lang, public_url=URL) for lang in Language],
            args.repeat,
        )
        messages = sum(
            len(render_telegram(issue, lang, zh_chars=400, en_words=200, public_url=URL))
            for lang in Language
        )
        print(
            f"{name}: telegram, 3 languages ({messages} messages): median {tg:.2f} ms; "
            f"baseline text: median {text:.2f} ms; ratio {tg / text:.1f}x"
        )


if __name__ == "__main__":
    main()
