"""Ready papers missing a language: ``check`` warns per week, ``summarize`` translates them
(the real LLM client against recorded completions served by the local stub server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main


def ready(content: Path, pid: str, *, day: str, extra: str) -> Path:
    return write(
        content / "papers" / day[:4] / f"{pid}.md",
        f"---\narxiv_id: '{pid}'\ntitle_en: Paper {pid}\ndate: {day}\nstatus: ready\n{extra}---\n",
    )


def test_check_warns_per_week_how_many_ready_papers_lack_each_language(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    assert "summary_en" not in capsys.readouterr().out  # the sample week is complete
    ready(content_dir, "2404.00001", day="2024-04-17", extra="summary_zh: 只有中文。\n")
    ready(content_dir, "2405.00001", day="2024-05-07", extra="summary_zh: 只有中文。\n")
    ready(content_dir, "2405.00002", day="2024-05-08", extra="summary_en: English only.\n")
    write(
        content_dir / "papers/2024/2405.00003.md",
        "---\narxiv_id: '2405.00003'\ntitle_en: A draft\ndate: 2024-05-08\nstatus: draft\n---\n",
    )
    assert main(["check"]) == 0  # a warning, not an error
    out = capsys.readouterr().out.splitlines()
    assert (
        "2024-W16: 1 of 10 ready papers have no summary_en, 0 no summary_zh; editions in that "
        "language show only their titles and links: digestbot summarize --week 2024-W16 "
        "translates them (warning)"
    ) in out
    assert any(
        line.startswith("2024-W19: 1 of 2 ready papers have no summary_en, 1 no summary_zh;")
        for line in out
    )
    assert out[-1] == "ok: 13 files: 13 papers (12 ready), 0 week overrides; 3 warnings"
