"""The content store's parse cache: same report with or without it, re-parse only what changed."""

from __future__ import annotations

import logging
import os
import shutil
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from conftest import SAMPLE_CONTENT, write
from digestbot.content import cache as cache_module
from digestbot.content import cachefile
from digestbot.content.cache import CACHE_FILE_NAME, PaperCache, default_cache_dir
from digestbot.content.files import ContentLimits
from digestbot.content.store import ContentStore, Snapshot
from digestbot.models import Paper

GOOD = """---
arxiv_id: '{id}'
title_en: Paper {id}
title_zh: 论文 {id}
date: 2024-04-16
status: {status}
score: 3
authors: [A. Author]
links:
  code: https://github.com/example/x
tags: [memory]
summary_en: One line.
---

Body of {id}.
"""


def age(*paths: Path, seconds: float = 60) -> None:
    """Date files back, out of the window where a same-size edit could go unnoticed."""
    past = time.time_ns() - int(seconds * 1e9)
    for path in paths:
        os.utime(path, ns=(past, past))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The sample content plus a draft, three invalid files and a duplicate id."""
    dest = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, dest)
    write(dest / "papers/2024/2404.00001.md", GOOD.format(id="2404.00001", status="draft"))
    write(
        dest / "papers/2024/2404.00002.md", "---\narxiv_id: '2404.00002'\ndate: 2024-04-16\n---\n"
    )
    write(dest / "papers/2024/2404.00003.md", "---\n: : :\n---\n")
    write(dest / "papers/2024/2404.99999.md", GOOD.format(id="2404.00004", status="ready"))
    write(dest / "papers/2025/2404.08634.md", GOOD.format(id="2404.08634", status="ready"))
    write(dest / "issues/2024-W16.yaml", "papers:\n  - '2404.00001'\n  - '2404.00077'\n")
    age(*dest.rglob("*.md"))
    return dest


def load(root: Path) -> tuple[Snapshot, PaperCache]:
    cache = PaperCache.beside(root)
    return ContentStore(root, cache=cache).load(), cache


def report(snap: Snapshot) -> list[str]:
    return [f"{p.severity}: {p}" for p in snap.problems]


def test_the_report_is_the_same_with_and_without_the_cache(root: Path) -> None:
    plain = ContentStore(root).load()
    assert len(plain.errors) >= 5 and plain.warnings  # the fixture is as bad as intended
    first, cache = load(root)
    assert (cache.hits, cache.misses) == (0, plain.files - 1)
    assert (default_cache_dir(root) / CACHE_FILE_NAME).is_file()
    second, cache = load(root)
    assert (cache.hits, cache.misses) == (plain.files - 1, 0)
    for snap in (first, second):
        assert report(snap) == report(plain)  # invalid files are reported again, from the cache
        assert snap.papers == plain.papers
        assert snap.paths == plain.paths
        assert snap.invalid_ids == plain.invalid_ids
        assert snap.overrides == plain.overrides
        assert snap.files == plain.files
    assert "duplicate id 2404.08634" in "\n".join(report(second))


def test_only_changed_files_are_parsed_again(root: Path) -> None:
    load(root)
    fam = root / "papers/2024/2404.09173.md"
    fam.write_text(fam.read_text(encoding="utf-8").replace("score: 31", "score: 32"), "utf-8")
    fixed = root / "papers/2024/2404.00003.md"
    fixed.write_text(GOOD.format(id="2404.00003", status="ready"), "utf-8")
    (root / "papers/2024/2404.08197.md").unlink()
    added = write(root / "papers/2024/2404.00005.md", GOOD.format(id="2404.00005", status="ready"))
    age(fam, fixed, added, seconds=30)
    snap, cache = load(root)
    assert cache.misses == 3
    assert snap.papers["2404.09173"].score == 32
    assert "2404.00003" in snap.papers and "2404.00005" in snap.papers
    assert "2404.08197" not in snap.papers
    assert report(snap) == report(ContentStore(root).load())
    again, cache = load(root)
    assert cache.misses == 0
    assert again == snap


def test_a_file_edited_just_now_is_not_trusted_to_the_cache(root: Path) -> None:
    load(root)
    path = root / "papers/2024/2404.09173.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("score: 31", "score: 41"), encoding="utf-8")
    snap = load(root)[0]
    assert snap.papers["2404.09173"].score == 41
    # a second edit of the same size within the file system's timestamp granularity
    stat = path.stat()
    path.write_text(text.replace("score: 31", "score: 51"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    snap = load(root)[0]
    assert snap.papers["2404.09173"].score == 51


def test_a_damaged_or_foreign_cache_is_ignored_and_rewritten(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = report(ContentStore(root).load())
    path = default_cache_dir(root) / CACHE_FILE_NAME
    for damage in (b"", b"\x00garbage", b"\xe9" * 1000):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(damage)
        snap, cache = load(root)
        assert cache.hits == 0
        assert report(snap) == expected
        assert load(root)[1].misses == 0  # rewritten
    monkeypatch.setattr(cache_module, "code_key", lambda: "another version of the code")
    snap, cache = load(root)
    assert cache.hits == 0 and report(snap) == expected


def test_a_cache_that_cannot_be_written_only_logs(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    cache = PaperCache(blocker / "papers.marshal")
    with caplog.at_level(logging.WARNING, logger="digestbot.content"):
        snap = ContentStore(root, cache=cache).load()
    assert report(snap) == report(ContentStore(root).load())
    assert "cannot write paper cache" in caplog.text


def test_one_cache_object_serves_repeated_loads(root: Path) -> None:
    cache = PaperCache.beside(root)
    store = ContentStore(root, cache=cache)
    first = store.load()
    second = store.load()  # from the file the first wrote: nothing parsed
    assert (cache.misses, cache.hits) == (first.files - 1, first.files - 1)
    assert second == first
    # it keeps no papers between loads: with the file gone, every file is parsed again
    (default_cache_dir(root) / CACHE_FILE_NAME).unlink()
    third = store.load()
    assert cache.misses == 2 * (first.files - 1) and third == first
    assert (default_cache_dir(root) / CACHE_FILE_NAME).is_file()


def test_a_cold_load_is_loaded_again_from_the_cache_it_wrote(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # after parsing many files the store decodes the file it just wrote (a compact memory
    # layout for a long-running process): same report, every file then a cache hit
    monkeypatch.setattr(PaperCache, "COMPACT_AFTER", 3)
    cache = PaperCache.beside(root)
    store = ContentStore(root, cache=cache)
    snap = store.load()
    assert report(snap) == report(ContentStore(root).load())
    assert (cache.misses, cache.hits) == (snap.files - 1, snap.files - 1)
    again = store.load()  # nothing parsed this time: no second pass
    assert again == snap and cache.hits == 2 * (snap.files - 1)


def test_unchanged_since_load_sees_edits_additions_and_overrides(root: Path) -> None:
    store = ContentStore(root, cache=PaperCache.beside(root))
    assert not store.unchanged_since_load()  # nothing loaded yet
    store.load()
    assert store.unchanged_since_load()
    paper = root / "papers" / "2024" / "2404.00001.md"
    paper.write_text(GOOD.format(id="2404.00001", status="ready"))
    age(paper)
    assert not store.unchanged_since_load()  # edited
    store.load()
    assert store.unchanged_since_load()
    added = root / "papers" / "2024" / "2404.00005.md"
    added.write_text(GOOD.format(id="2404.00005", status="ready"))
    age(added)
    assert not store.unchanged_since_load()  # added
    store.load()
    added.unlink()
    assert not store.unchanged_since_load()  # removed
    store.load()
    override = root / "issues" / "2024-W16.yaml"
    override.write_text("papers:\n  - '2404.00001'\n")
    assert not store.unchanged_since_load()  # an override changed
    store.load()
    assert store.unchanged_since_load()
    assert ContentStore(root).unchanged_since_load() is False  # no cache: always reload


def write_columns(out: BinaryIO, key: str, columns: dict[str, Any]) -> None:
    """Write any ``columns`` (emptied as it goes) in the cache file's layout under ``key``:
    the header, the ``path`` and ``stamp`` columns, then per chunk one blob of the other
    columns' slices and one of the long text. For files that are ours but broken."""
    paths = columns.get("path")
    rows = len(paths) if isinstance(paths, list) else 0
    texts = [columns.pop(name, None) for name in cachefile.TEXTS]
    dates = columns.get("date")
    newest = (
        max((d for d in dates if isinstance(d, int)), default=0) if isinstance(dates, list) else 0
    )
    names = tuple(columns)
    path, stamp = columns.pop("path", None), columns.pop("stamp", None)
    cachefile.write_head(out, key, names, rows, newest, path, stamp)
    rest = [columns.pop(name) for name in list(columns)]
    for start in range(0, rows, cachefile.CHUNK):
        stop = min(start + cachefile.CHUNK, rows)
        cachefile.write_blob(out, tuple(_part(c, start, stop) for c in rest))
        cachefile.write_blob(out, tuple(_part(t, start, stop) for t in texts))


def _part(column: Any, start: int, stop: int) -> Any:
    if isinstance(column, list):
        return column[start:stop]
    return [None] * (stop - start) if column is None else column


def test_a_cache_with_the_right_key_but_broken_columns_is_rewritten(root: Path) -> None:
    expected = report(ContentStore(root).load())
    path = default_cache_dir(root) / CACHE_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ContentStore(root, cache=PaperCache(path)).cache.key  # type: ignore[union-attr]
    columns: dict[str, Any] = dict.fromkeys(cachefile.COLUMNS, 7)  # not lists
    for broken in (
        columns,
        {"path": []},
        {**{name: [] for name in cachefile.COLUMNS}, "path": [1]},
    ):
        with path.open("wb") as out:
            write_columns(out, key, dict(broken))
        snap, cache = load(root)
        assert cache.hits == 0 and report(snap) == expected
        assert load(root)[1].misses == 0  # rewritten
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # cut short
    snap, cache = load(root)
    assert cache.hits == 0 and report(snap) == expected
    assert load(root)[1].misses == 0


def test_a_cache_written_under_other_size_caps_is_not_used(root: Path) -> None:
    load(root)
    cache = PaperCache.beside(root)
    ContentStore(root, cache=cache, limits=ContentLimits(max_summary_chars=5)).load()
    assert cache.hits == 0  # every file validated again under the new cap
    assert load(root)[1].hits == 0  # and back


def test_a_store_without_bodies_leaves_them_in_the_files(root: Path) -> None:
    # the long-running process's store (wiring.build_store) keeps no Markdown bodies: only
    # the summarizer reads them, through a store of its own
    full = ContentStore(root).load()
    assert full.papers["2404.00001"].abstract == "Body of 2404.00001."
    for _ in range(2):  # parsed, then from the cache
        lean = ContentStore(root, cache=PaperCache.beside(root), bodies=False).load()
        assert report(lean) == report(full)
        assert lean.papers == {k: replace(p, abstract="") for k, p in full.papers.items()}
    # a store that keeps bodies does not take body-less papers from that cache
    assert ContentStore(root, cache=PaperCache.beside(root)).load().papers == full.papers


LONG = """---
arxiv_id: '{id}'
title_en: Long paper {id}
date: {date}
status: ready
summary_en: {text}
summary_zh: {text_zh}
---
"""
PAPERS, SUMMARY_CHARS = 120, 15_000  # each summary under the 20,000-character cap
HELD = PAPERS * SUMMARY_CHARS * 3  # bytes of every summary held at once (zh: 2 a character)


def long_store(tmp_path: Path) -> Path:
    """PAPERS papers with long summaries, all old but the last (a week after the rest)."""
    root = tmp_path / "long"
    for n in range(PAPERS):
        date = "2024-05-01" if n == PAPERS - 1 else "2024-01-02"
        text = f"Words of paper {n} " + "x" * (SUMMARY_CHARS - 30)
        text_zh = "中" * SUMMARY_CHARS
        path = write(
            root / f"papers/2024/2401.{n:05d}.md",
            LONG.format(id=f"2401.{n:05d}", date=date, text=text, text_zh=text_zh),
        )
        age(path)
    return root


def test_a_cold_load_never_holds_the_old_summaries_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a first start of a large store: each file parsed is kept as a head, its row in a
    # temporary file, and the save copies one chunk at a time (was: every summary in
    # memory until the save, 200 MB more at 100,000 papers)
    monkeypatch.setattr(cachefile, "CHUNK", 8)
    root = long_store(tmp_path)
    store = ContentStore(root, cache=PaperCache.beside(root), recent_weeks=1)
    tracemalloc.start()
    try:
        snap = store.load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < HELD / 4, f"peak {peak:,} bytes"
    old, recent = snap.papers["2401.00000"], snap.papers[f"2401.{PAPERS - 1:05d}"]
    assert not isinstance(old, Paper) and isinstance(recent, Paper)
    whole = snap.whole("2401.00000")
    assert whole is not None and whole.summary_en.startswith("Words of paper 0 xxx")
    again = ContentStore(root, cache=PaperCache.beside(root), recent_weeks=1)
    assert again.load() == snap and again.cache is not None and again.cache.misses == 0
    assert list((root / ".cache").iterdir()) == [root / ".cache" / CACHE_FILE_NAME]


def test_a_save_after_one_edit_holds_one_chunk_of_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every paper whole (the search index's store): the load holds every summary, and
    # the save that rewrites the file after one edit adds one chunk's worth, not a copy
    monkeypatch.setattr(cachefile, "CHUNK", 8)
    root = long_store(tmp_path)
    cache = PaperCache.beside(root)
    store = ContentStore(root, cache=cache)
    store.load()
    edited = root / "papers/2024/2401.00007.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Words", "Edited words"))
    age(edited)
    added: list[int] = []
    save = PaperCache.save

    def measured(self: PaperCache) -> None:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        save(self)
        added.append(tracemalloc.get_traced_memory()[1] - before)

    monkeypatch.setattr(PaperCache, "save", measured)
    tracemalloc.start()
    try:
        snap = store.load()
    finally:
        tracemalloc.stop()
    assert cache.misses == PAPERS + 1 and added and added[0] < HELD / 4, added
    assert report(snap) == [], report(snap)
    assert snap.papers["2401.00007"].summary_en.startswith("Edited words")  # type: ignore[union-attr]
    monkeypatch.undo()
    fresh = PaperCache.beside(root)
    assert ContentStore(root, cache=fresh).load() == snap and fresh.misses == 0


def test_a_reload_holds_the_unchanged_papers_once(root: Path) -> None:
    # while the last snapshot is alive (a service reloading), a paper whose file did not
    # change is the object that snapshot holds: memory for the changed papers only
    store = ContentStore(root, cache=PaperCache.beside(root), recent_weeks=1)
    first = store.load()
    edited = root / "papers/2024/2404.09173.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("score: 31", "score: 32"))
    age(edited, seconds=30)
    second = store.load()
    assert second.papers["2404.09173"].score == 32
    assert first.papers["2404.09173"].score == 31  # the old snapshot is left as it was
    reused = [pid for pid, paper in second.papers.items() if paper is first.papers.get(pid)]
    assert sorted(reused) == sorted(set(first.papers) - {"2404.09173"})
    assert second == ContentStore(root, recent_weeks=1).load()
    # another process (a `digestbot check`) parses the next edit and rewrites the cache
    # file first: the reload then finds the file in the cache, but not as it last saw it
    edited.write_text(edited.read_text(encoding="utf-8").replace("score: 32", "score: 33"))
    age(edited, seconds=20)
    ContentStore(root, cache=PaperCache.beside(root), recent_weeks=1).load()
    third = store.load()
    assert third.papers["2404.09173"].score == 33
    del first, second, third
    fourth = store.load()  # nothing alive to take from: every paper decoded again
    assert fourth == ContentStore(root, recent_weeks=1).load()
