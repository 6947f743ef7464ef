"""Topics: the term matcher (pure) and the topic list's validation as `digestbot check` shows it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.content.topics import load_topics
from digestbot.models import Paper
from digestbot.topics import Topic, TopicMatcher

TOPICS = [
    Topic("long-context", "长上下文", "Long context", ("长上下文",), ("long context",)),
    Topic("diffusion", "扩散模型", "Diffusion", ("扩散",), ("diffusion",)),
    Topic("video-generation", "视频生成", "Video generation", ("视频生成",), ("video generation",)),
    Topic("windows", "上下文窗口", "Context windows", ("上下文窗口",), ("context window",)),
    Topic("llm", "大模型", "LLMs", ("大模型",), ("llm", "language model")),
    Topic("agents", "智能体", "Agents", ("智能体",), ("agent", "tool use")),
    Topic("reasoning", "推理", "Reasoning", ("思维链",), ("chain-of-thought",)),
]


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher(TOPICS)


def test_cjk_terms_match_inside_longer_text(matcher: TopicMatcher) -> None:
    assert matcher.match("我们提出了一种新的视频扩散模型框架") == {"diffusion"}
    assert matcher.match("本文研究超长上下文建模") == {"long-context"}
    assert matcher.match("多智能体协作") == {"agents"}


def test_latin_terms_match_whole_words_only(matcher: TopicMatcher) -> None:
    assert matcher.match("An MLLM for charts") == set()  # LLM inside MLLM is no match
    assert matcher.match("reagents and diffusions") == {"diffusion"}  # plural s, not reagent
    assert matcher.match("Large Language Models (LLMs) reason") == {"llm"}
    assert matcher.match("基于LLM的系统") == {"llm"}  # next to Chinese is a word boundary
    assert matcher.match("agentic workflows") == set()  # "agent" is not a prefix match


def test_case_and_hyphens_do_not_matter(matcher: TopicMatcher) -> None:
    assert matcher.match("LONG CONTEXT") == {"long-context"}
    assert matcher.match("Long-Context retrieval") == {"long-context"}
    assert matcher.match("Chain of Thought prompting") == {"reasoning"}
    assert matcher.match("ＬＬＭ") == {"llm"}  # full-width letters


def test_overlapping_terms_all_count(matcher: TopicMatcher) -> None:
    assert matcher.match("a long context window") == {"long-context", "windows"}
    assert matcher.match("长上下文窗口") == {"long-context", "windows"}
    assert matcher.match("视频生成与视频扩散") == {"video-generation", "diffusion"}
    assert matcher.match("video generation with tool use agents") == {
        "video-generation",
        "agents",
    }


def test_tags_read_titles_and_summaries_in_both_languages(matcher: TopicMatcher) -> None:
    paper = Paper(
        arxiv_id="2404.00001",
        title_en="A Study",
        date=dt.date(2024, 4, 16),
        title_zh="一项研究",
        summary_en="We train an agent.",
        summary_zh="我们研究扩散。",
    )
    assert matcher.tags_for(paper) == ("diffusion", "agents")  # in list order


def test_find_by_slug_or_either_name(matcher: TopicMatcher) -> None:
    assert matcher.find("long-context") == TOPICS[0]
    assert matcher.find("长上下文") == TOPICS[0]
    assert matcher.find("long context") == TOPICS[0]
    assert matcher.find("robots") is None


def test_shipped_topic_list_is_valid(content_dir: Path) -> None:
    found = load_topics(content_dir)
    assert found.problems == []
    assert 20 <= len(found.topics) <= 35
    assert all(t.terms_zh and t.terms_en for t in found.topics)


BAD = """\
- slug: agents
  name_zh: 智能体
  name_en: Agents
  terms_zh: [智能体]
  terms_en: [agent]
- slug: agents
  name_zh: 代理
  name_en: Proxies
  terms_zh: [代理]
  terms_en: [proxy]
- slug: empty
  name_zh: 空
  name_en: Empty
  terms_zh: []
  terms_en: [empty, '']
- slug: typo
  name_zh: 拼写
  name_en: Typo
  term_zh: [拼写]
  terms_en: [typo]
"""


def test_check_reports_topic_problems_with_path_and_line(
    env: Path, content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(content_dir / "topics.yaml", BAD)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert f"{path}:6: slug: duplicate slug 'agents': also on line 1; keep one" in out
    assert f"{path}:14: terms_zh: no terms: give at least one" in out
    assert f"{path}:15: terms_en: empty term: remove it or fill it" in out
    assert f"{path}:19: term_zh: unknown key" in out
    assert f"{path}:16: terms_zh: required key is missing" in out


def test_spaced_cjk_terms_match_across_separators() -> None:
    vl = TopicMatcher([Topic("vl", "视觉语言", "VL", ("视觉 语言",), ("vision language",))])
    assert vl.match("一个视觉-语言模型") == {"vl"}
    assert vl.match("视觉 语言") == {"vl"}
    assert vl.match("Vision-Language Models") == {"vl"}
    assert vl.match("视觉与语言") == set()
