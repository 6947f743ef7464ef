"""Loading the content store: every validation error kind, reported as path:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.models import Status

GOOD = """---
arxiv_id: '2404.00001'
title_en: A Good Paper
title_zh: 一篇好论文
date: 2024-04-16
status: ready
score: 3
links:
  code: https://github.com/example/good
---
"""


def store_with(tmp_path: Path, files: dict[str, str]) -> ContentStore:
    root = tmp_path / "content"
    write(root / "papers/2024/2404.00001.md", GOOD)
    for name, text in files.items():
        write(root / name, text)
    return ContentStore(root)


def messages(store: ContentStore) -> list[str]:
    return [str(p) for p in store.load().errors]


def test_sample_content_loads_clean(content_dir: Path) -> None:
    snap = ContentStore(content_dir).load()
    assert snap.errors == []
    assert len(snap.papers) == 9
    assert all(
        p.status is Status.READY and p.title_zh and p.summary_en for p in snap.papers.values()
    )


def test_bad_yaml_reports_its_line(tmp_path: Path) -> None:
    store = store_with(
        tmp_path,
        {"papers/2024/2404.00002.md": "---\narxiv_id: '2404.00002'\ntitle_en: [unclosed\n---\n"},
    )
    (msg,) = messages(store)
    assert msg.startswith(str(tmp_path / "content/papers/2024/2404.00002.md") + ":")
    assert "YAML does not parse" in msg
    line = int(msg.split(":")[1])
    assert line >= 3


def test_missing_field_wrong_type_bad_id(tmp_path: Path) -> None:
    store = store_with(
        tmp_path,
        {
            "papers/2024/2404.00002.md": "---\narxiv_id: '2404.00002'\ndate: 2024-04-16\n---\n",
            "papers/2024/2404.00003.md": (
                "---\narxiv_id: '2404.00003'\ntitle_en: T\ndate: 2024-04-16\nscore: lots\n"
                "authors: 7\n---\n"
            ),
            "papers/2024/bogus.md": (
                "---\narxiv_id: 'not-an-id'\ntitle_en: T\ndate: 2024-04-16\n---\n"
            ),
            "papers/2024/2404.00004.md": (
                "---\narxiv_id: 2404.00004\ntitle_en: T\ndate: 2024-04-16\n---\n"
            ),
        },
    )
    msgs = messages(store)
    text = "\n".join(msgs)
    assert "2404.00002.md:1: title_en: required field is missing" in text
    assert "2404.00003.md:5: score: " in text
    assert "2404.00003.md:6: authors: " in text
    assert "bogus.md:2: arxiv_id: 'not-an-id' is not an arXiv id" in text
    assert "2404.00004.md:2: arxiv_id: quote the id" in text
    # the valid file still loads
    assert "2404.00001" in store.load().papers


def test_duplicate_and_misnamed_files(tmp_path: Path) -> None:
    dup = GOOD.replace("A Good Paper", "Again")
    store = store_with(
        tmp_path,
        {
            "papers/2025/2404.00001.md": dup,
            "papers/2024/2404.99999.md": GOOD,
        },
    )
    text = "\n".join(messages(store))
    assert "duplicate id 2404.00001" in text
    assert "2404.99999.md:2: arxiv_id: 2404.00001 does not match the file name" in text


def test_bad_status_and_unknown_field(tmp_path: Path) -> None:
    store = store_with(
        tmp_path,
        {
            "papers/2024/2404.00002.md": (
                "---\narxiv_id: '2404.00002'\ntitle_en: T\ndate: 2024-04-16\nstatus: published\n"
                "summry_en: typo\n---\n"
            )
        },
    )
    text = "\n".join(messages(store))
    assert "2404.00002.md:5: status: " in text and "'draft' or 'ready'" in text
    assert "2404.00002.md:6: summry_en: unknown field" in text


def test_draft_is_a_warning_but_a_draft_in_an_override_is_an_error(tmp_path: Path) -> None:
    draft = GOOD.replace("2404.00001", "2404.00002").replace("status: ready", "status: draft")
    store = store_with(
        tmp_path,
        {
            "papers/2024/2404.00002.md": draft,
            "issues/2024-W16.yaml": (
                "papers:\n  - '2404.00001'\n  - '2404.00002'\n  - '2404.00077'\n"
            ),
        },
    )
    snap = store.load()
    assert [str(w) for w in snap.warnings] == [
        f"{tmp_path}/content/papers/2024/2404.00002.md:1: status: "
        "draft: not published until an editor sets status: ready"
    ]
    errors = [str(e) for e in snap.errors]
    assert any("2024-W16.yaml:3: papers: 2404.00002 is a draft" in e for e in errors)
    assert any("2024-W16.yaml:4: papers: 2404.00077: no such paper" in e for e in errors)


def test_no_front_matter_and_bad_override_name(tmp_path: Path) -> None:
    store = store_with(
        tmp_path,
        {
            "papers/2024/2404.00002.md": "# just markdown\n",
            "issues/next-week.yaml": "papers: []\n",
        },
    )
    text = "\n".join(messages(store))
    assert "2404.00002.md:1: front matter: file must start with a '---' line" in text
    assert "next-week.yaml:1: file: name an override file by its week" in text


def test_check_command_exit_codes(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "ok: 9 files: 9 papers (9 ready), 0 week overrides"
    write(content_dir / "papers/2024/2404.00002.md", "---\narxiv_id: '2404.00002'\n---\n")
    write(content_dir / "papers/2024/2404.00003.md", "---\n: : :\n---\n")
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.endswith("2404.00002.md:1: title_en: required field is missing") for line in out
    )
    assert any("2404.00003.md:2: front matter: YAML does not parse" in line for line in out)
    assert out[-1].endswith("3 errors, 0 warnings")
