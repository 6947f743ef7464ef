"""Property: whatever an editor wrote survives re-import (any source) and re-summarize."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digestbot.content.store import MACHINE_FIELDS, ContentStore
from digestbot.models import Status
from digestbot.settings import Settings
from digestbot.sources.importer import (
    ImportReport,
    Mode,
    Record,
    apply_record,
    merge_machine_fields,
)
from digestbot.summarize.summarizer import FIELDS, SummarizeReport, choose_tasks, summarize
from fixtures.stub_server import StubServer

PID = "2404.07143"

text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    max_size=30,
)
maybe_empty = st.one_of(st.just(""), text)
title = text.filter(lambda s: s.strip() != "")
url = st.sampled_from(
    ["https://github.com/example/a", "https://example.org/b", "https://huggingface.co/papers/x"]
)
links = st.dictionaries(st.sampled_from(["code", "project", "hf"]), url, max_size=3)
days = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2024, 12, 31))

editor_meta = st.fixed_dictionaries(
    {
        "arxiv_id": st.just(PID),
        "title_en": title,
        "title_zh": maybe_empty,
        "summary_zh": maybe_empty,
        "summary_en": maybe_empty,
        "date": days,
        "status": st.sampled_from(["draft", "ready"]),
        "score": st.integers(min_value=0, max_value=10_000),
        "authors": st.lists(title, max_size=3),
        "links": links,
        "tags": st.lists(st.text(alphabet="abcdefghij-", min_size=1, max_size=8), max_size=3),
    }
)
records = st.builds(
    Record,
    arxiv_id=st.just(PID),
    title_en=title,
    date=days,
    title_zh=maybe_empty,
    summary_en=maybe_empty,
    summary_zh=maybe_empty,
    authors=st.lists(title, max_size=3).map(tuple),
    links=links,
    score=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    abstract=maybe_empty,
    status=st.sampled_from([Status.DRAFT, Status.READY]),
)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def _settings(root: Path, llm_url: str | None) -> Settings:
    llm: dict[str, Any] = {"base_url": llm_url, "model": "m"} if llm_url else {}
    return Settings(content_dir=root, llm=llm, sources={"retries": 0})


def _editor_fields(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in MACHINE_FIELDS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meta=editor_meta, refresh=records)
def test_merge_touches_only_machine_fields(meta: dict[str, Any], refresh: Record) -> None:
    assert {"score", "links"} == MACHINE_FIELDS
    merged = merge_machine_fields(meta, refresh)
    if merged is not None:
        assert _editor_fields(merged) == _editor_fields(meta)
        if refresh.score is not None:
            assert merged["score"] == refresh.score
        for key, value in refresh.links.items():
            assert merged["links"][key] == value


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    meta=editor_meta,
    body=maybe_empty,
    refresh=records,
    archive=records,
    use_llm=st.booleans(),
)
def test_editor_fields_survive_reimport_and_resummarize(
    stub: StubServer,
    meta: dict[str, Any],
    body: str,
    refresh: Record,
    archive: Record,
    use_llm: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        store = ContentStore(root)
        path = store.paper_path(PID, meta["date"])
        store.write_meta(path, meta, body)
        baseline, baseline_body = store.read_meta(path)

        # re-import from a source that refreshes machine fields, then from an archive
        report = ImportReport()
        apply_record(store, refresh, mode=Mode.REFRESH, dry_run=False, report=report)
        apply_record(store, archive, mode=Mode.KEEP, dry_run=False, report=report)
        assert report.new == [] and report.problems == []

        # re-summarize (with the LLM stand-in, or the abstract fallback without one)
        snap = store.load()
        assert PID in snap.papers, snap.problems
        srep = SummarizeReport()
        tasks = choose_tasks(snap, week=None, ids=[PID], report=srep)
        config = _settings(root, f"{stub.url}/v1" if use_llm else None)
        asyncio.run(summarize(store, config, tasks, {}, dry_run=False, report=srep))
        assert srep.problems == []
        if use_llm and tasks:
            assert srep.requests == 1 and srep.done[PID]

        after, after_body = store.read_meta(path)
        assert after_body.strip() == baseline_body.strip()
        for key, value in baseline.items():
            if key in MACHINE_FIELDS:
                continue
            if key in FIELDS and not str(value or "").strip():
                continue  # empty: the summarizer may fill it
            assert after[key] == value, key
        if refresh.score is not None:
            assert after["score"] == refresh.score
        assert after["status"] == baseline["status"]
