"""Benchmark: tagging papers with the topics of content/topics.yaml.

Run: python bench/tag.py [--papers 100000] [--repeat 3] [--baseline-papers 2000]
[--files 100000]

Measures, over ``--papers`` synthetic bilingual papers (bench/common.py) in memory, the
median time of :meth:`TopicMatcher.tags_for` for all of them, against a baseline measured in
the same run over the first ``--baseline-papers``: the first matcher one would write, one
compiled regular expression per term (whole words for Latin terms), tried one after the
other (compared per paper; it is too slow to run over all of them). Then ``digestbot tag --all`` end
to end (load the store, match, rewrite each file) over ``--files`` untagged paper files
(0 skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Generator
from digestbot.content.frontmatter import parse
from digestbot.content.topics import load_topics
from digestbot.models import Paper
from digestbot.topics import Topic, TopicMatcher, normalize, paper_text


def synthetic(n: int) -> list[tuple[str, str]]:
    """(file name, text) of ``n`` untagged synthetic papers."""
    gen = Generator(7)
    start = dt.date(2021, 1, 4)
    out = []
    for i in range(n):
        day = start + dt.timedelta(days=i * 1400 // max(n, 1))
        arxiv_id = f"{day:%y%m}.{20000 + i % 70000:05d}"
        _, text = gen.paper(arxiv_id, day)
        text = re.sub(r"^tags: .*$", "tags: []", text, count=1, flags=re.M)
        out.append((f"{day.year}/{arxiv_id}.md", text))
    return out


def as_paper(text: str) -> Paper:
    meta = parse(text).meta
    return Paper(
        arxiv_id=str(meta["arxiv_id"]),
        title_en=str(meta["title_en"]),
        date=meta["date"],
        title_zh=str(meta["title_zh"]),
        summary_en=str(meta["summary_en"]),
        summary_zh=str(meta["summary_zh"]),
    )


class NaiveMatcher:
    """One regex per term, each searched in turn: the baseline."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.terms: list[tuple[re.Pattern[str], str]] = []
        for topic in topics:
            for term in topic.terms:
                key = re.escape(normalize(term))
                if re.match(r"^[a-z0-9]", normalize(term)):
                    key = rf"(?<![a-z0-9]){key}s?(?![a-z0-9])"
                self.terms.append((re.compile(key), topic.slug))

    def tags_for(self, paper: Paper) -> set[str]:
        text = normalize(paper_text(paper))
        return {slug for pattern, slug in self.terms if pattern.search(text)}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-papers", type=int, default=2000)
    args = ap.parse_args()

    topics = load_topics(REPO / "content").topics
    files = synthetic(max(args.papers, args.files))
    papers = [as_paper(text) for _, text in files[: args.papers]]
    matcher = TopicMatcher(topics)
    naive = NaiveMatcher(topics)
    few = papers[: args.baseline_papers]
    mismatch = sum(1 for p in few if set(matcher.tags_for(p)) != naive.tags_for(p))
    ours = timed(lambda: [matcher.tags_for(p) for p in papers], args.repeat)
    base = timed(lambda: [naive.tags_for(p) for p in few], args.repeat)
    tagged = sum(1 for p in papers if matcher.tags_for(p))
    per_ours = statistics.median(ours) / len(papers)
    per_base = statistics.median(base) / len(few)
    print(f"topics: {len(topics)}, terms: {sum(len(t.terms) for t in topics)}")
    print(f"papers: {len(papers)}, with >= 1 tag: {tagged} ({tagged / len(papers):.1%})")
    print(f"agreement with the baseline: {len(few) - mismatch} of {len(few)} papers")
    print(
        f"TopicMatcher, {len(papers)} papers: median {statistics.median(ours):.2f} s "
        f"({per_ours * 1e6:.1f} us/paper)"
    )
    print(
        f"baseline (one regex per term), {len(few)} papers: median "
        f"{statistics.median(base):.2f} s ({per_base * 1e6:.1f} us/paper)"
    )
    print(f"ratio TopicMatcher / baseline, per paper: {per_ours / per_base:.3f}")

    if args.files:
        with tempfile.TemporaryDirectory(prefix="bench-tag-") as tmp:
            root = Path(tmp) / "content"
            for name, text in files[: args.files]:
                path = root / "papers" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            (root / "topics.yaml").write_text(
                (REPO / "content" / "topics.yaml").read_text(encoding="utf-8"), encoding="utf-8"
            )
            env = dict(os.environ)
            env.update(
                DIGESTBOT_CONTENT_DIR=str(root),
                DIGESTBOT_DATABASE_URL=f"sqlite:///{tmp}/db.sqlite",
            )
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "digestbot", "tag", "--all"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.perf_counter() - t0
            print(f"digestbot tag --all over {args.files} files: {wall:.1f} s")
            print("  " + "\n  ".join(out.strip().splitlines()[-2:]))


if __name__ == "__main__":
    main()
