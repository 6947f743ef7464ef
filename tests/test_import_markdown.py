"""``digestbot import markdown``: the post parser, week names, and the whole corpus archive."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

from conftest import require_corpus, write
from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.db.engine import make_engine
from digestbot.delivery.issuebook import IssueRecord
from digestbot.delivery.ledger import Ledger
from digestbot.errors import WeekError
from digestbot.models import Status
from digestbot.sources.markdown import parse_post, post_week
from digestbot.weeks import Week
from fixtures.stub_server import StubServer, closed_port_url

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ai-weekly-paper"

POST = """\
## Alpha: A First Example Paper  \n\
[阿尔法：第一篇示例论文](https://arxiv.org/abs/2404.00001 )

第一段摘要，介绍问题。  \n\
第一段的第二行。

第二段摘要（对比了基线）。代码见 [https://github.com/example/alpha](https://github.com/example/alpha)。

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
艾普西隆的摘要紧跟链接行，另见[项目页](https://example.org/eps)。它在8个任务上超过LLM基线，\
用了 zero-shot 设置，更多例子在 https://eps-demo.github.io/ 上可以看到。
"""


def test_parse_post_papers_and_problems() -> None:
    parsed = parse_post(POST)
    ids = [p.arxiv_id for p in parsed.papers]
    assert ids == ["2404.00001", "2404.00003", "", "2404.00005"]
    alpha, gamma, delta, eps = parsed.papers
    assert alpha.title_en == "Alpha: A First Example Paper"
    assert alpha.title_zh == "阿尔法：第一篇示例论文"
    assert alpha.line == 1
    # the code link leaves the text (its short sentence with it) for links.code;
    # full-width parentheses become half-width with a space outside
    assert alpha.summary_zh == "第一段摘要，介绍问题。第一段的第二行。\n\n第二段摘要 (对比了基线)。"
    assert alpha.links == {"code": "https://github.com/example/alpha"}
    assert delta.link == "https://github.com/example/delta" and delta.link_line == 18
    assert delta.links == {"code": "https://github.com/example/delta"}
    assert gamma.title_en == "Gamma: Bare URL Line" and gamma.title_zh == ""
    assert gamma.summary_zh == "伽马的摘要以一个空格开头。"
    assert eps.title_zh == "艾普西隆：PDF 链接"
    # glossary terms, spacing between Chinese and Latin text; the *.github.io page is the
    # project (before the other domain), the long sentence keeps its text without the URL
    assert eps.summary_zh == (
        "艾普西隆的摘要紧跟链接行，另见项目页。它在 8 个任务上超过大语言模型基线，"
        "用了零样本设置，更多例子在上可以看到。"
    )
    assert eps.links == {"project": "https://eps-demo.github.io/"}
    problems = {(p.line, p.message.split(":")[0]) for p in parsed.problems}
    assert problems == {(11, "'Beta Without A Link'")}


def test_a_hugging_face_paper_page_names_the_arxiv_id() -> None:
    text = "## Zeta\n[泽塔](https://huggingface.co/papers/2404.00007)\n\n泽塔的摘要。\n"
    (paper,) = parse_post(text).papers
    assert (paper.arxiv_id, paper.title_zh, paper.link) == ("2404.00007", "泽塔", "")


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
    crossing = ("2025-W01", dt.date(2024, 12, 30), dt.date(2025, 1, 3))
    # a week that crosses a year, filed under its first day's year or its last day's
    for folder in ("x/2024", "x/2025"):
        week, first, last = post_week(Path(folder) / "1230-0103.md", dt.date(2026, 6, 1))
        assert (str(week), first, last) == crossing
    # not a Monday: the days that fit one week in the folder's year
    week, first, last = post_week(Path("2024/0417-0419.md"), dt.date(2026, 6, 1))
    assert (str(week), first, last) == ("2024-W16", dt.date(2024, 4, 17), dt.date(2024, 4, 19))
    with pytest.raises(WeekError, match=r"MMDD-MMDD\.md"):
        post_week(Path("2024/week16.md"))
    with pytest.raises(WeekError, match="folder named by its year"):
        post_week(Path("posts/0415-0419.md"))
    with pytest.raises(WeekError, match="not inside one ISO week"):
        post_week(Path("2024/0411-0418.md"))


def test_week_never_in_the_future_and_never_a_guess() -> None:
    today = dt.date(2025, 1, 2)
    # 2025/1230-0103.md read on 2025-01-02: the week that began on Monday 2024-12-30
    assert post_week(Path("2025/1230-0103.md"), today)[0] == Week(2025, 1)
    # 2025-01-06 is a Monday, but four days away: refused, not filed
    with pytest.raises(WeekError, match=r"0106-0110\.md in 2025/ names a week that has not"):
        post_week(Path("2025/0106-0110.md"), today)
    # Tue-Wed fits neither 2024 (Sun-Mon) nor one week; 2023 and 2025 both fit: an error
    with pytest.raises(WeekError, match=r"could be 2023-W01 .* or 2025-W02 .*rename it"):
        post_week(Path("2024/0107-0108.md"), dt.date(2026, 6, 1))


def _records(db: Path) -> list[IssueRecord]:
    async def go() -> list[IssueRecord]:
        engine = make_engine(f"sqlite:///{db}")
        try:
            return await Ledger(engine).list_issues()
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """arXiv cannot be reached: its URL is a local port where nothing listens."""
    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", closed_port_url() + "/arxiv/query")


def test_archive_with_problems_imports_the_rest(
    env: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = env / "archive"
    write(archive / "2024" / "0401-0405.md", POST)
    write(archive / "2024" / "notes.md", "# not a post\n")
    assert main(["import", "markdown", str(archive)]) == 0
    out = capsys.readouterr().out
    post = archive / "2024" / "0401-0405.md"
    problems = [
        f"{post}:11: 'Beta Without A Link': expected a line [中文标题](",
        f"{post}:18: link: not an arXiv link; add the arXiv id: https://github.com/example/delta",
        f"{archive / '2024' / 'notes.md'}:1: name a weekly post",
    ]
    lines = out.splitlines()
    for problem in problems:  # each printed once
        assert sum(line.startswith(problem) for line in lines) == 1, problem
    assert "could not look up 1 title on arXiv (cannot reach 127.0.0.1:" in out
    assert lines[-1] == (
        "imported 3 new papers, updated 0, unchanged 0; "
        "2 files, 3 papers, 1 issue (1 recorded, 0 already in the archive), 3 problems"
    )
    snap = ContentStore(env / "content").load()
    for pid in ("2404.00001", "2404.00003", "2404.00005"):
        paper = snap.papers[pid]
        assert paper.status is Status.READY
        assert paper.date == dt.date(2024, 4, 1)
        assert paper.summary_zh and not paper.summary_en
    assert snap.papers["2404.00001"].links.code == "https://github.com/example/alpha"
    assert snap.papers["2404.00005"].links.project == "https://eps-demo.github.io/"
    assert "http" not in snap.papers["2404.00005"].summary_zh
    (issue,) = _records(env / "digestbot.db")
    assert issue.week == "2024-W14" and issue.source == "archive"
    assert issue.title_zh == "每周AI论文速递(240401-240405)"
    assert issue.paper_ids == ("2404.00001", "2404.00003", "2404.00005")


def test_a_week_in_the_future_is_refused_with_its_path(
    env: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = env / "archive"
    write(
        archive / "2024" / "0401-0405.md",
        "## A\n[甲](https://arxiv.org/abs/2404.00021)\n\n摘要。\n",
    )
    future = write(
        archive / "2099" / "0105-0109.md", "## B\n[乙](https://arxiv.org/abs/2404.00022)\n"
    )
    assert main(["import", "markdown", str(archive)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith(f"{future}:1:")] == [
        f"{future}:1: 0105-0109.md in 2099/ names a week that has not happened yet "
        "(2099-01-05 … 2099-01-09); check its name and year folder; file not imported"
    ]
    assert lines[-1].endswith(
        "2 files, 1 paper, 1 issue (1 recorded, 0 already in the archive), 1 problem"
    )
    assert [r.week for r in _records(env / "digestbot.db")] == ["2024-W14"]
    assert "2404.00022" not in ContentStore(env / "content").load().papers


def test_non_arxiv_link_found_on_arxiv_by_its_exact_title(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = env / "archive"
    post = write(
        archive / "2025" / "1230-0103.md",
        "## DeepSeek-V3 Technical Report\n"
        "[DeepSeek-V3 技术报告](https://github.com/deepseek-ai/DeepSeek-V3/blob/main/x.pdf)\n\n"
        "一个混合专家模型的技术报告。\n\n"
        "## DeepSeek-V3 Technical Report, Annotated\n"
        "[带注释的报告](https://example.org/annotated.pdf)\n\n"
        "一份注释。\n",
    )
    with StubServer() as stub:
        monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", stub.url + "/arxiv/query")
        monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_DELAY", "0")
        assert main(["import", "markdown", str(archive)]) == 0
        asked = [r.query["search_query"][0] for r in stub.requests_to("/arxiv/query")]
    assert asked == [
        'ti:"DeepSeek-V3 Technical Report"',
        'ti:"DeepSeek-V3 Technical Report Annotated"',
    ]
    out = capsys.readouterr().out
    assert f"{post}:2: 'DeepSeek-V3 Technical Report' links https://github.com/deepseek-ai/" in out
    assert "arXiv has it as 2412.19437 (found by its title)" in out
    # the near miss in the recorded answer is not taken; the second title is not on arXiv
    assert (
        f"{post}:7: link: not an arXiv link; add the arXiv id (arXiv has no paper titled "
        "exactly 'DeepSeek-V3 Technical Report, Annotated')"
    ) in out
    assert out.splitlines()[-1].endswith(
        "1 file, 1 paper, 1 issue (1 recorded, 0 already in the archive), 1 problem"
    )
    paper = ContentStore(env / "content").load().papers["2412.19437"]
    assert paper.date == dt.date(2024, 12, 30)  # filed under 2025, dated in its week
    assert paper.links.code == "https://github.com/deepseek-ai/DeepSeek-V3"
    (issue,) = _records(env / "digestbot.db")
    assert (issue.week, issue.paper_ids) == ("2025-W01", ("2412.19437",))


def test_existing_files_are_left_alone_and_dry_run_writes_nothing(
    env: Path, offline: None, capsys: pytest.CaptureFixture[str]
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


def test_no_posts_at_all_is_an_error(
    env: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
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
    env: Path,
    offline: None,
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(env / "archive-content"))
    files = sorted(corpus.rglob("*.md"))
    assert files, "the corpus folder holds no posts"
    assert main(["import", "markdown", str(corpus)]) == 0
    out = capsys.readouterr().out

    snap = ContentStore(env / "archive-content").load()
    assert snap.errors == []
    records = {r.week: r for r in _records(env / "digestbot.db")}
    total = problems = 0
    for path in files:
        week, first, last = post_week(path)
        want = expected_count(path)
        total += want
        parsed = parse_post(path.read_text(encoding="utf-8"))
        linked = [p for p in parsed.papers if p.arxiv_id]
        assert len(linked) == want, path
        imported = [p for p in linked if p.arxiv_id in snap.papers]
        assert len(imported) == want, path
        for p in parsed.papers:
            if not p.arxiv_id:  # offline: reported once, where its link is
                where = f"{path}:{p.link_line}: link: not an arXiv link; add the arXiv id"
                assert out.count(where) == 1
                problems += 1
        problems += len(parsed.problems) + (not parsed.papers and not parsed.problems)
        for p in linked:
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
            assert set(record.paper_ids) == {p.arxiv_id for p in linked}
        else:
            assert str(week) not in records
    assert len(snap.papers) == total
    assert out.splitlines()[-1] == (
        f"imported {total} new papers, updated 0, unchanged 0; {len(files)} files, "
        f"{total} papers, {len(records)} issues ({len(records)} recorded, 0 already in the "
        f"archive), {problems} problems"
    )
    links = [p.links for p in snap.papers.values()]
    assert sum(bool(link.code) for link in links) >= 100
    assert sum(bool(link.project) for link in links) >= 50
    assert not any("https://github.com" in p.summary_zh for p in snap.papers.values())

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
    assert f"imported 0 new papers, updated 0, unchanged {total}; " in out
    assert f"({0} recorded, {len(records)} already in the archive), {problems} problems" in out
    again = {p: p.read_bytes() for p in (env / "archive-content").rglob("*") if p.is_file()}
    assert again == contents
    assert {r.week: r for r in _records(env / "digestbot.db")} == records


def test_a_week_with_two_posts_becomes_one_issue(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(env / "archive" / "a" / "2024" / "0401-0405.md", POST)
    second = write(
        env / "archive" / "b" / "2024" / "0401-0405.md",
        "## Zeta: Another One\n[泽塔](https://arxiv.org/abs/2404.00006)\n\n泽塔的摘要。\n",
    )
    assert main(["import", "markdown", str(env / "archive"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{second}:1: week 2024-W14 is also {first}: its papers are imported" in out
    assert out.count("would record issue 2024-W14") == 1
    assert not (env / "digestbot.db").exists()

    assert main(["import", "markdown", str(env / "archive")]) == 0
    out = capsys.readouterr().out
    assert "2 files, 4 papers, 1 issue (1 recorded, 0 already in the archive)" in out
    (issue,) = _records(env / "digestbot.db")
    assert issue.paper_ids == ("2404.00001", "2404.00003", "2404.00005")
    assert "2404.00006" in ContentStore(env / "content").load().papers
