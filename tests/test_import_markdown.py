"""``digestbot import markdown``: the post parser, week names, and the whole corpus archive."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

from conftest import require_corpus, write
from digestbot.cli import main
from digestbot.content.markdown import parse_post, post_week
from digestbot.content.store import ContentStore
from digestbot.db.engine import make_engine
from digestbot.delivery.ledger import IssueRecord, Ledger
from digestbot.errors import WeekError
from digestbot.models import Status
from digestbot.weeks import Week

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ai-weekly-paper"

POST = """\
## Alpha: A First Example Paper  \n\
[阿尔法：第一篇示例论文](https://arxiv.org/abs/2404.00001 )

第一段摘要，介绍问题。  \n\
第一段的第二行。

第二段摘要，代码见 [https://github.com/example/alpha](https://github.com/example/alpha)。

# Beta Without A Link

这里只有摘要，没有链接。

#  Gamma: Bare URL Line
https://arxiv.org/abs/2404.00003v2

 伽马的摘要以一个空格开头。
## Delta: Points Elsewhere
[德尔塔](https://github.com/example/delta)

德尔塔的摘要。

## Epsilon: PDF Link
 [艾普西隆：PDF 链接](https://arxiv.org/pdf/2404.00005)
艾普西隆的摘要紧跟链接行，另见[项目页](https://example.org/eps)。
"""


def test_parse_post_papers_and_problems() -> None:
    parsed = parse_post(POST)
    ids = [p.arxiv_id for p in parsed.papers]
    assert ids == ["2404.00001", "2404.00003", "2404.00005"]
    alpha, gamma, eps = parsed.papers
    assert alpha.title_en == "Alpha: A First Example Paper"
    assert alpha.title_zh == "阿尔法：第一篇示例论文"
    assert alpha.line == 1
    assert alpha.summary_zh == (
        "第一段摘要，介绍问题。第一段的第二行。\n\n"
        "第二段摘要，代码见 https://github.com/example/alpha。"
    )
    assert gamma.title_en == "Gamma: Bare URL Line" and gamma.title_zh == ""
    assert gamma.summary_zh == "伽马的摘要以一个空格开头。"
    assert eps.title_zh == "艾普西隆：PDF 链接"
    assert eps.summary_zh == "艾普西隆的摘要紧跟链接行，另见项目页 (https://example.org/eps)。"
    problems = {(p.line, p.message.split(":")[0]) for p in parsed.problems}
    assert (11, "'Beta Without A Link'") in problems
    assert any(p.line == 18 and "not an arXiv abstract page" in p.message for p in parsed.problems)
    assert len(parsed.problems) == 2


def test_parse_post_stray_text_and_duplicates() -> None:
    text = (
        "intro line\n\n## A\n[甲](https://arxiv.org/abs/2404.00001)\n\n摘要。\n\n## B\n"
        "[乙](https://arxiv.org/abs/2404.00001v3)\n\n摘要。\n"
    )
    parsed = parse_post(text)
    assert [p.arxiv_id for p in parsed.papers] == ["2404.00001"]
    messages = [(p.line, p.message) for p in parsed.problems]
    assert messages[0] == (1, "text before the first paper heading is not imported")
    assert messages[1][0] == 8 and "appears twice" in messages[1][1]


def test_week_from_file_name() -> None:
    assert post_week(Path("2024/0415-0419.md")) == (
        Week(2024, 16),
        dt.date(2024, 4, 15),
        dt.date(2024, 4, 19),
    )
    week, first, last = post_week(Path("x/2024/1230-0103.md"))
    assert (str(week), first, last) == ("2025-W01", dt.date(2024, 12, 30), dt.date(2025, 1, 3))
    with pytest.raises(WeekError, match=r"MMDD-MMDD\.md"):
        post_week(Path("2024/week16.md"))
    with pytest.raises(WeekError, match="folder named by its year"):
        post_week(Path("posts/0415-0419.md"))
    with pytest.raises(WeekError, match="not inside one ISO week"):
        post_week(Path("2024/0412-0416.md"))


def _records(db: Path) -> list[IssueRecord]:
    async def go() -> list[IssueRecord]:
        engine = make_engine(f"sqlite:///{db}")
        try:
            return await Ledger(engine).list_issues()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_archive_with_problems_imports_the_rest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = env / "archive"
    write(archive / "2024" / "0401-0405.md", POST)
    write(archive / "2024" / "notes.md", "# not a post\n")
    assert main(["import", "markdown", str(archive)]) == 0
    out = capsys.readouterr().out
    post = archive / "2024" / "0401-0405.md"
    assert f"{post}:11: 'Beta Without A Link': expected a line [中文标题](" in out
    assert f"{post}:18: 'Delta: Points Elsewhere': https://github.com/example/delta is not" in out
    assert f"{archive / '2024' / 'notes.md'}:1: name a weekly post" in out
    assert "imported 3 new papers, updated 0, unchanged 0, 3 problems" in out
    snap = ContentStore(env / "content").load()
    for pid in ("2404.00001", "2404.00003", "2404.00005"):
        paper = snap.papers[pid]
        assert paper.status is Status.READY
        assert paper.date == dt.date(2024, 4, 1)
        assert paper.summary_zh and not paper.summary_en
    (issue,) = _records(env / "digestbot.db")
    assert issue.week == "2024-W14" and issue.source == "archive"
    assert issue.title_zh == "每周AI论文速递(240401-240405)"
    assert issue.paper_ids == ("2404.00001", "2404.00003", "2404.00005")


def test_existing_files_are_left_alone_and_dry_run_writes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = env / "archive"
    write(
        archive / "2024" / "0415-0419.md",
        "## Pre-training Small Base LMs with Fewer Tokens\n"
        "[另一个标题](https://arxiv.org/abs/2404.08634)\n\n另一段摘要。\n\n"
        "## A New One\n[新的](https://arxiv.org/abs/2404.00009)\n\n新的摘要。\n",
    )
    sample = env / "content/papers/2024/2404.08634.md"
    before = sample.read_bytes()
    assert main(["import", "markdown", str(archive), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write papers/2024/2404.00009.md (ready: A New One)" in out
    assert "would record issue 2024-W16 每周AI论文速递(240415-240419) (2 papers)" in out
    assert "dry run: would import 1 new paper, would update 0, unchanged 1" in out
    assert not (env / "content/papers/2024/2404.00009.md").exists()
    assert not (env / "digestbot.db").exists()

    assert main(["import", "markdown", str(archive / "2024" / "0415-0419.md")]) == 0
    assert "imported 1 new paper, updated 0, unchanged 1" in capsys.readouterr().out
    assert sample.read_bytes() == before

    # an existing draft stays a draft, and the report says how to publish it
    sample.write_text(before.decode().replace("status: ready", "status: draft"), encoding="utf-8")
    assert main(["import", "markdown", str(archive)]) == 0
    out = capsys.readouterr().out
    assert f"0415-0419.md:1: 2404.08634 is already in {sample} as a draft" in out
    assert "digestbot review --ready 2404.08634" in out


def test_no_posts_at_all_is_an_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "markdown", str(env / "nowhere")]) == 1
    captured = capsys.readouterr()
    assert "no such file or folder" in captured.out
    assert captured.err.startswith("error: no weekly post could be read")


# -- the real archive ----------------------------------------------------------------------------

_HEADING = re.compile(r"^\s{0,3}#{1,2}\s")


def expected_count(path: Path) -> int:
    """Headings whose next non-blank line links an arXiv page (counted independently)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    n = 0
    for i, line in enumerate(lines):
        if not _HEADING.match(line):
            continue
        nxt = next((x for x in lines[i + 1 :] if x.strip()), "")
        if not _HEADING.match(nxt) and re.search(r"https?://arxiv\.org/(abs|pdf)/", nxt):
            n += 1
    return n


@pytest.fixture
def corpus() -> Path:
    return require_corpus(CORPUS)


def test_whole_corpus(
    env: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(env / "archive-content"))
    files = sorted(corpus.rglob("*.md"))
    assert files, "the corpus folder holds no posts"
    assert main(["import", "markdown", str(corpus)]) == 0
    out = capsys.readouterr().out

    snap = ContentStore(env / "archive-content").load()
    assert snap.errors == []
    records = {r.week: r for r in _records(env / "digestbot.db")}
    total = 0
    for path in files:
        week, first, last = post_week(path)
        want = expected_count(path)
        total += want
        parsed = parse_post(path.read_text(encoding="utf-8"))
        assert len(parsed.papers) == want, path
        imported = [p for p in parsed.papers if p.arxiv_id in snap.papers]
        assert len(imported) == want, path
        for p in parsed.papers:
            paper = snap.papers[p.arxiv_id]
            assert first <= paper.date <= last, (path, p.arxiv_id)
            assert paper.date in week
            assert paper.status is Status.READY
            assert paper.summary_zh == p.summary_zh  # survives the YAML round trip
            assert paper.title_en == p.title_en and paper.title_zh == p.title_zh
        for prob in parsed.problems:
            assert f"{path}:{prob.line}: " in out
        if want:
            record = records[str(week)]
            assert record.source == "archive" and record.status == "published"
            assert set(record.paper_ids) == {p.arxiv_id for p in parsed.papers}
        else:
            assert str(week) not in records
    assert len(snap.papers) == total
    assert f"imported {total} new papers" in out

    # the year-crossing week
    crossing = corpus / "2024" / "1230-0103.md"
    if crossing.is_file():
        record = records["2025-W01"]
        assert record.title_zh == "每周AI论文速递(241230-250103)"
        assert all(snap.papers[i].date == dt.date(2024, 12, 30) for i in record.paper_ids)
        assert all(snap.paths[i].parent.name == "2024" for i in record.paper_ids)

    # a second import is a no-op
    contents = {p: p.read_bytes() for p in (env / "archive-content").rglob("*") if p.is_file()}
    assert main(["import", "markdown", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert f"imported 0 new papers, updated 0, unchanged {total}" in out
    assert f"archive issues: 0 recorded, {len(records)} already in the archive" in out
    again = {p: p.read_bytes() for p in (env / "archive-content").rglob("*") if p.is_file()}
    assert again == contents
    assert {r.week: r for r in _records(env / "digestbot.db")} == records
