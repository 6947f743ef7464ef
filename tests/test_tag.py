"""``digestbot tag``: tags from topic terms, editors' tags kept, importers tagging new papers,
and the coverage of the imported back catalogue."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.content.store import ContentStore

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ai-weekly-paper"
MEGALODON = "content/papers/2024/2404.08801.md"


def front(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---")[1]


def clear_tags(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^tags: .*$", "tags: []", text, count=1, flags=re.M), "utf-8")


def tags_of(content_dir: Path, arxiv_id: str) -> tuple[str, ...]:
    return ContentStore(content_dir).load().papers[arxiv_id].tags


def test_tag_all_keeps_editor_tags_and_tags_the_rest(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = env / MEGALODON
    assert "tags: [language-models, long-context, architecture]" in front(paper)
    untagged = env / "content/papers/2024/2404.08634.md"
    clear_tags(untagged)

    assert main(["tag", "--all"]) == 0
    out = capsys.readouterr().out
    assert "set tags on 1 of 9 papers, kept editor tags on 8" in out
    assert "coverage: 9 of 9 papers (100.0%) have at least one tag" in out
    # the editor's tags, even ones that are no topic, stay as written
    assert tags_of(content_dir, "2404.08801") == ("language-models", "long-context", "architecture")
    found = tags_of(content_dir, "2404.08634")
    assert "pretraining" in found  # "预训练" / "Pre-training" in its titles
    assert "auto_tags:" in front(untagged)

    # a second run changes nothing; an editor who edits the machine's tags owns them
    assert main(["tag", "--all"]) == 0
    assert "set tags on 0 of 9 papers" in capsys.readouterr().out
    text = untagged.read_text(encoding="utf-8")
    untagged.write_text(text.replace("tags:\n- ", "tags:\n- my-pick\n- ", 1), "utf-8")
    assert main(["tag", "--all"]) == 0
    assert "kept editor tags on 9" in capsys.readouterr().out
    assert tags_of(content_dir, "2404.08634") == ("my-pick", *found)


def test_dry_run_writes_nothing_and_week_limits_the_papers(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (content_dir / "papers/2024").glob("*.md"):
        clear_tags(path)
    before = {p: p.read_text(encoding="utf-8") for p in (content_dir / "papers").rglob("*.md")}
    assert main(["tag", "--week", "2024-W16", "--dry-run"]) == 0
    out = capsys.readouterr().out
    after = {p: p.read_text(encoding="utf-8") for p in (content_dir / "papers").rglob("*.md")}
    assert after == before
    assert "dry run: would set tags on 8 of 9 papers, kept editor tags on 0" in out
    assert "untagged (1): no topic term in their text\n  2404.11614  Dynamic Typography" in out
    assert main(["tag", "--week", "2024-04-22"]) == 0
    assert "set tags on 0 of 0 papers" in capsys.readouterr().out


def test_no_topic_list_says_what_to_do(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (content_dir / "topics.yaml").unlink()
    assert main(["tag"]) == 1
    assert "no topics in" in capsys.readouterr().err


POST = """\
## LongAgent: Scaling Language Model Agents to 128k Context
[LongAgent：把语言模型智能体扩展到 128k 上下文](https://arxiv.org/abs/2402.11550)

我们提出一个多智能体协作框架，处理超长上下文的问答。
"""


def test_import_tags_new_papers(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    post = write(env / "posts/2024/0219-0223.md", POST)
    assert main(["import", "markdown", str(post)]) == 0
    path = content_dir / "papers/2024/2402.11550.md"
    assert "auto_tags:" in front(path)
    assert tags_of(content_dir, "2402.11550") == ("agents", "long-context")


def test_back_catalogue_coverage(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the corpus is not at {CORPUS}: CI must provide ../shared/corpus")
        pytest.skip(f"the corpus is not at {CORPUS} (it lives in ../shared/corpus)")
    store = env / "catalogue"
    monkeypatch.setenv("DIGESTBOT_CONTENT_DIR", str(store))
    assert main(["import", "markdown", str(CORPUS)]) == 0
    write(store / "topics.yaml", (env / "content/topics.yaml").read_text(encoding="utf-8"))
    capsys.readouterr()
    assert main(["tag", "--all"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"coverage: (\d+) of (\d+) papers \(([\d.]+)%\)", out)
    assert m is not None, out
    tagged, total = int(m.group(1)), int(m.group(2))
    print(out.splitlines()[-1])  # the figure, for the record (pytest -s)
    assert total == len(ContentStore(store).load().papers) > 500
    assert tagged / total >= 0.90
    assert out.count("\n  ") == total - tagged  # each untagged paper listed


PROMPT_REPORT = """---
arxiv_id: '2406.06608'
title_en: 'The Prompt Report: A Systematic Survey of Prompting Techniques'
title_zh: 提示词报告：提示词技术的系统调查
date: 2024-06-10
status: ready
tags: []
summary_zh: 提示词报告：提示词技术的系统调查。
---
"""


def test_llm_picks_topics_for_papers_no_term_matched(
    env: Path,
    content_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from fixtures.stub_server import StubServer

    write(content_dir / "papers/2024/2406.06608.md", PROMPT_REPORT)
    with StubServer() as stub:
        monkeypatch.setenv("DIGESTBOT_LLM__BASE_URL", f"{stub.url}/v1")
        monkeypatch.setenv("DIGESTBOT_LLM__MODEL", "test-model")
        assert main(["tag", "--dry-run"]) == 0
        assert "the LLM was not asked about the 1 untagged papers" in capsys.readouterr().out
        assert stub.requests_to("/v1/chat/completions") == []
        assert main(["tag"]) == 0
        out = capsys.readouterr().out
        [request] = stub.requests_to("/v1/chat/completions")
    system = request.json()["messages"][0]["content"]
    assert "- long-context: Long context / 长上下文" in system
    assert "set tags on 1 of 1 papers, kept editor tags on 0, 1 chosen by the LLM" in out
    assert tags_of(content_dir, "2406.06608") == ("agents", "evaluation")  # not-a-topic dropped
    # without the LLM, a run leaves its picks alone (no term matches that paper)
    monkeypatch.delenv("DIGESTBOT_LLM__BASE_URL")
    assert main(["tag", "--all"]) == 0
    assert tags_of(content_dir, "2406.06608") == ("agents", "evaluation")
