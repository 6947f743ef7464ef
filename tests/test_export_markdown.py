"""``digestbot export markdown`` and the archive destination of ``publish``: the series' posts."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.db.engine import make_engine
from digestbot.delivery.ledger import Ledger
from digestbot.sources.markdown import parse_post
from fixtures.stub_server import closed_port_url

APRIL = """\
# Sparse Routing For Tiny Models
[微型模型的稀疏路由](https://arxiv.org/abs/2404.00011)

本文让小模型只激活一部分专家，在（三个）基准上减少了计算量。

第二段说明训练只用了一张GPU卡。

#  Counting Tokens Honestly
https://arxiv.org/abs/2404.00012v2

我们统计了分词器在中英文混合文本上的差异。代码见 https://github.com/example/honest-count 。
"""

CROSSING = """\
## A Year-End Benchmark
[一个年末的基准](https://arxiv.org/abs/2412.00013)

这个基准在年末发布，用来比较长上下文模型。
"""

APRIL_EXPORTED = """\
## Sparse Routing For Tiny Models
[微型模型的稀疏路由](https://arxiv.org/abs/2404.00011)

本文让小模型只激活一部分专家，在 (三个) 基准上减少了计算量。

第二段说明训练只用了一张 GPU 卡。

## Counting Tokens Honestly
https://arxiv.org/abs/2404.00012

我们统计了分词器在中英文混合文本上的差异。
"""


@pytest.fixture
def archive(env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two posts imported (arXiv offline); one is a year-crossing week filed under 2025."""
    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", closed_port_url() + "/arxiv/query")
    folder = env / "archive"
    write(folder / "2024" / "0401-0405.md", APRIL)
    write(folder / "2025" / "1230-0103.md", CROSSING)
    assert main(["import", "markdown", str(folder)]) == 0
    return folder


def test_export_all_writes_the_series_posts_and_leaves_identical_files_alone(
    env: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = env / "posts"
    assert main(["export", "markdown", "--all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    april, crossing = out / "2024" / "0401-0405.md", out / "2024" / "1230-0103.md"
    assert printed == [
        f"wrote {april} (2024-W14, 2 papers)",
        f"wrote {crossing} (2025-W01, 1 paper)",
        f"exported 2 posts to {out}: 2 written, 0 unchanged",
    ]
    assert april.read_text(encoding="utf-8") == APRIL_EXPORTED
    # the first day's year names the folder, whichever folder the import read it from
    assert crossing.read_text(encoding="utf-8").startswith(
        "## A Year-End Benchmark\n[一个年末的基准](https://arxiv.org/abs/2412.00013)\n\n"
    )
    # a second export rewrites nothing; a changed file is put back
    stamp = april.stat().st_mtime_ns
    crossing.write_text("edited by hand\n", encoding="utf-8")
    assert main(["export", "markdown", "--all", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"exported 2 posts to {out}: 1 written, 1 unchanged"
    )
    assert april.stat().st_mtime_ns == stamp
    assert crossing.read_text(encoding="utf-8").startswith("## A Year-End Benchmark\n")


def test_export_one_week_and_the_latest(
    env: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = env / "posts"
    assert main(["export", "markdown", "--week", "2024-04-03", "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md")) == ["2024/0401-0405.md"]
    assert main(["export", "markdown", "--out", str(out / "latest")]) == 0
    assert [p.name for p in (out / "latest").rglob("*.md")] == ["1230-0103.md"]
    capsys.readouterr()
    assert main(["export", "markdown", "--week", "2024-W20", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 2024-W20 has not been published: publish it first")


def test_export_then_import_gives_back_the_same_papers_and_issues(
    env: Path, archive: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = env / "posts"
    assert main(["export", "markdown", "--all", "--out", str(out)]) == 0
    # into a fresh store and database
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(env / "second"))
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", f"sqlite:///{env / 'second.db'}")
    assert main(["import", "markdown", str(out)]) == 0
    capsys.readouterr()
    from digestbot.content.store import ContentStore

    first = ContentStore(env / "content").load().papers
    second = ContentStore(env / "second").load().papers
    assert set(second) == {"2404.00011", "2404.00012", "2412.00013"}
    for pid, paper in second.items():
        before = first[pid]
        assert (paper.title_en, paper.title_zh, paper.summary_zh, paper.date) == (
            before.title_en,
            before.title_zh,
            before.summary_zh,
            before.date,
        )
    assert second["2412.00013"].date == dt.date(2024, 12, 30)
    assert issues(env / "second.db") == issues(env / "digestbot.db")
    # and exporting again from the second store gives the same bytes
    again = env / "again"
    assert main(["export", "markdown", "--all", "--out", str(again)]) == 0
    for path in out.rglob("*.md"):
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes()
    # the parsed posts agree paper by paper with what was imported from the originals
    parsed = parse_post((out / "2024" / "0401-0405.md").read_text(encoding="utf-8"))
    assert [p.arxiv_id for p in parsed.papers] == ["2404.00011", "2404.00012"]


def issues(db: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    async def go() -> list[tuple[str, str, tuple[str, ...]]]:
        engine = make_engine(f"sqlite:///{db}")
        try:
            return [(r.week, r.title_zh, r.paper_ids) for r in await Ledger(engine).list_issues()]
        finally:
            await engine.dispose()

    return asyncio.run(go())


# -- publish: the archive as one more destination -------------------------------------------


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], check=True, capture_output=True, text=True
    ).stdout


def test_publish_writes_the_post_once_and_commits_it(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = env / "site-archive"
    folder.mkdir()
    git(folder, "init", "-q")
    git(folder, "config", "user.email", "editor@example.org")
    git(folder, "config", "user.name", "Editor")
    monkeypatch.setenv("DIGESTBOT_ARCHIVE__DIR", str(folder))
    monkeypatch.setenv("DIGESTBOT_ARCHIVE__GIT_COMMIT", "true")
    assert main(["publish", "--week", "2024-W16"]) == 0
    out = capsys.readouterr().out
    assert "archive: 1 sent, 0 retried, 0 failed, 0 skipped" in out
    post = folder / "2024" / "0415-0419.md"
    text = post.read_text(encoding="utf-8")
    assert text.startswith("## ") and "(https://arxiv.org/abs/2404.08634)" in text
    assert git(folder, "log", "--format=%s") == "2024-W16: 每周AI论文速递(240415-240419)\n"
    assert git(folder, "status", "--porcelain") == ""
    # the same post as export markdown writes
    assert main(["export", "markdown", "--week", "2024-W16", "--out", str(env / "x")]) == 0
    assert (env / "x" / "2024" / "0415-0419.md").read_text(encoding="utf-8") == text

    # published: a second run writes nothing and commits nothing
    stamp = post.stat().st_mtime_ns
    assert main(["publish", "--week", "2024-W16"]) == 0
    assert "already published" in capsys.readouterr().out
    assert post.stat().st_mtime_ns == stamp
    assert len(git(folder, "log", "--format=%s").splitlines()) == 1


def test_publish_without_git_repository_fails_the_archive_row_saying_why(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = env / "plain-folder"
    monkeypatch.setenv("DIGESTBOT_ARCHIVE__DIR", str(folder))
    monkeypatch.setenv("DIGESTBOT_ARCHIVE__GIT_COMMIT", "true")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(env))
    assert main(["publish", "--week", "2024-W16"]) == 1
    out = capsys.readouterr().out
    assert "is not in a git repository: run git init there" in out
    assert (folder / "2024" / "0415-0419.md").is_file()  # written; only the commit failed
