"""Round trip: a post written by ``export markdown`` reads back as the same papers and issue.

A property over generated issues (render → parse gives the same ids, titles and summaries;
polishing is idempotent), and the whole corpus: import → export → the exported bodies equal
the originals after normalisation → importing the export gives the same papers, dates and
issues → importing again changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS
from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.db.engine import make_engine
from digestbot.delivery.ledger import Ledger
from digestbot.models import Paper, Status
from digestbot.render.markdown import post_name, render_post
from digestbot.render.polish import polish_zh
from digestbot.selection import make_issue
from digestbot.sources.markdown import parse_post, post_week
from digestbot.summarize.glossary import DEFAULT_GLOSSARY
from digestbot.weeks import Week
from fixtures.stub_server import closed_port_url

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF)
LATIN_WORD = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.", min_size=1)
PUNCT = st.sampled_from(["，", "。", "：", "、", "（", "）", "(", ")", " ", "；", "%", "“", "”"])
GLOSSED = st.sampled_from(["LLM", "zero-shot", "benchmark", "agent", "Transformer"])
ZH_TEXT = st.lists(
    st.one_of(st.text(HAN, min_size=1, max_size=8), LATIN_WORD, PUNCT, GLOSSED), max_size=30
).map(" ".join)
TITLE_EN = st.lists(
    st.one_of(LATIN_WORD, st.sampled_from([":", ",", "(", ")", "?", "&", "'", "—"])),
    min_size=1,
    max_size=12,
).map(" ".join)


@st.composite
def papers(draw: st.DrawFn) -> list[Paper]:
    n = draw(st.integers(1, 6))
    numbers = draw(st.lists(st.integers(1, 99999), min_size=n, max_size=n, unique=True))
    out = []
    for number in numbers:
        title_en = " ".join(draw(TITLE_EN).split())
        if not title_en.strip(" #"):
            title_en = "Untitled"
        paragraphs = draw(st.lists(ZH_TEXT, min_size=1, max_size=3))
        out.append(
            Paper(
                arxiv_id=f"2404.{number:05d}",
                title_en=title_en,
                date=dt.date(2024, 4, 15),
                title_zh=polish_zh(draw(ZH_TEXT), DEFAULT_GLOSSARY),
                summary_zh=polish_zh("\n\n".join(paragraphs), DEFAULT_GLOSSARY),
                status=Status.READY,
            )
        )
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers())
def test_a_rendered_post_parses_back_to_the_same_papers(chosen: list[Paper]) -> None:
    issue = make_issue(Week(2024, 16), chosen)
    text = render_post(issue)
    parsed = parse_post(text)
    assert parsed.problems == ()
    assert [(p.arxiv_id, p.title_en, p.title_zh, p.summary_zh or "") for p in parsed.papers] == [
        (p.arxiv_id, p.title_en, p.title_zh, p.summary_zh) for p in chosen
    ]
    # and its name gives back its week
    assert post_week(Path(str(post_name(issue))), dt.date(2026, 1, 1))[0] == Week(2024, 16)


@settings(max_examples=300, deadline=None)
@given(st.lists(ZH_TEXT, min_size=1, max_size=3).map("\n\n".join))
def test_polishing_is_idempotent(text: str) -> None:
    once = polish_zh(text, DEFAULT_GLOSSARY)
    assert polish_zh(once, DEFAULT_GLOSSARY) == once


# -- the whole corpus ------------------------------------------------------------------------


def _issues(db: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    async def go() -> list[tuple[str, str, tuple[str, ...]]]:
        engine = make_engine(f"sqlite:///{db}")
        try:
            return [(r.week, r.title_zh, r.paper_ids) for r in await Ledger(engine).list_issues()]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_whole_corpus_import_export_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is not at {CORPUS} (it lives in ../shared/corpus)")
    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", closed_port_url() + "/arxiv/query")
    monkeypatch.setenv("DIGESTBOT_SECRET_KEY", "test-secret-key")

    def use(name: str) -> Path:
        monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(tmp_path / name))
        monkeypatch.setenv("DIGESTBOT_DATABASE_URL", f"sqlite:///{tmp_path / name}.db")
        return tmp_path / name

    first = use("first")
    assert main(["import", "markdown", str(CORPUS)]) == 0
    out = tmp_path / "exported"
    assert main(["export", "markdown", "--all", "--out", str(out)]) == 0
    capsys.readouterr()

    # each exported post is the original's papers, normalised, in the original's order
    compared = 0
    for original in sorted(CORPUS.rglob("*.md")):
        week, start, _end = post_week(original)
        parsed = [p for p in parse_post(original.read_text(encoding="utf-8")).papers if p.arxiv_id]
        if not parsed:
            continue
        exported = out / str(start.year) / f"{start:%m%d}-{original.name[5:]}"
        body = exported.read_text(encoding="utf-8")
        again = parse_post(body).papers
        assert [(p.arxiv_id, p.title_en, p.title_zh, p.summary_zh) for p in again] == [
            (p.arxiv_id, p.title_en, p.title_zh, p.summary_zh) for p in parsed
        ], original
        papers = [
            Paper(p.arxiv_id, p.title_en, start, p.title_zh, summary_zh=p.summary_zh)
            for p in parsed
        ]
        assert body == render_post(make_issue(week, papers)), original
        compared += 1
    assert compared == len(_issues(tmp_path / "first.db"))

    # the export imported into a fresh store: the same papers, dates and issues
    second = use("second")
    assert main(["import", "markdown", str(out)]) == 0
    a, b = ContentStore(first).load().papers, ContentStore(second).load().papers
    assert a.keys() == b.keys()
    for pid, paper in a.items():
        other = b[pid]
        assert (paper.title_en, paper.title_zh, paper.summary_zh, paper.date) == (
            other.title_en,
            other.title_zh,
            other.summary_zh,
            other.date,
        ), pid
    assert _issues(tmp_path / "second.db") == _issues(tmp_path / "first.db")

    # and importing the export again is a no-op
    files = {p: p.read_bytes() for p in second.rglob("*.md")}
    capsys.readouterr()
    assert main(["import", "markdown", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"imported 0 new papers, updated 0, unchanged {len(b)}; ")
    assert {p: p.read_bytes() for p in second.rglob("*.md")} == files
