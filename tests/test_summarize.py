"""``digestbot summarize`` and ``review``: the real LLM client against recorded completions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.errors import ContentError
from digestbot.models import Status
from digestbot.render.text import count_units
from digestbot.summarize.glossary import DEFAULT_GLOSSARY, apply_glossary, load_glossary
from digestbot.summarize.summarizer import polish, polish_zh
from fixtures.stub_server import StubServer, closed_port_url

ABSTRACT = (
    "We add a compressive memory to standard dot-product attention, so that a single block "
    "combines masked local attention with long-range retrieval from memory. Memory and compute "
    "stay bounded however long the input grows. We test it on long-context language modelling, "
    "passkey retrieval over one million tokens and summarisation of whole books."
)
INFINI_ZH = (
    "本文在标准点积注意力中加入压缩记忆 (compressive memory)，使同一个注意力块既能做局部掩码"
    "注意力，也能从记忆中检索长程信息。输入再长，内存和计算都保持有界。作者在长上下文语言建模、"
    "100 万 Token 的密钥检索以及整本书摘要任务上验证了方法，并报告了零样本设置下的表现。"
)


def draft(
    content: Path, pid: str, *, day: str = "2024-04-16", extra: str = "", body: str = ""
) -> Path:
    return write(
        content / "papers" / "2024" / f"{pid}.md",
        f"---\narxiv_id: '{pid}'\ntitle_en: Paper {pid}\ndate: {day}\nstatus: draft\n"
        f"{extra}---\n\n{body}\n",
    )


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def llm_env(env: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGESTBOT_LLM__BASE_URL", f"{stub.url}/v1")
    monkeypatch.setenv("DIGESTBOT_LLM__API_KEY", "test-key")
    monkeypatch.setenv("DIGESTBOT_LLM__MODEL", "test-model")
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "2")
    return env


def test_fills_missing_fields_post_processed(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    content = llm_env / "content"
    path = draft(content, "2404.07143", body=ABSTRACT)
    assert main(["summarize", "--ids", "2404.07143"]) == 0
    out = capsys.readouterr().out
    assert "2404.07143: filled title_zh, summary_zh, summary_en" in out
    assert "summarized 1 paper (3 fields); they stay draft until an editor marks them ready" in out
    assert out.rstrip().endswith(
        "tokens used: 412 prompt + 188 completion = 600 in 1 request (test-model)"
    )
    paper = ContentStore(content).load().papers["2404.07143"]
    assert paper.status is Status.DRAFT
    assert paper.title_zh == "不落下任何上下文：基于 Infini-attention 的高效无限上下文 Transformer"
    assert paper.summary_zh == INFINI_ZH  # （）→ (), spacing, zero-shot → 零样本
    assert paper.summary_en.startswith("Infini-attention adds a compressive memory")
    assert paper.abstract == ABSTRACT  # the body is kept
    assert path.read_text(encoding="utf-8").count("status: draft") == 1

    (request,) = stub.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.headers["user-agent"].startswith("digestbot/")
    payload = request.json()
    assert payload["model"] == "test-model"
    assert payload["response_format"] == {"type": "json_object"}
    system, user = payload["messages"]
    assert "- LLM → 大语言模型" in system["content"]
    assert "- zero-shot → 零样本" in system["content"]
    assert "- AI Agent → AI 智能体" in system["content"]
    assert "Keys to write: title_zh, summary_zh, summary_en" in user["content"]
    assert ABSTRACT in user["content"]


def test_budgets_are_enforced_after_generation(
    llm_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_SUMMARY_ZH_CHARS", "60")
    monkeypatch.setenv("DIGESTBOT_SUMMARY_EN_WORDS", "25")
    draft(llm_env / "content", "2404.07143", body=ABSTRACT)
    assert main(["summarize", "--ids", "2404.07143"]) == 0
    paper = ContentStore(llm_env / "content").load().papers["2404.07143"]
    assert count_units(paper.summary_zh) <= 60
    assert paper.summary_zh.endswith("检索长程信息。")
    assert len(paper.summary_en.split()) <= 25
    assert paper.summary_en.endswith("long-range retrieval.")


def test_only_empty_fields_are_asked_for_and_filled(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    content = llm_env / "content"
    draft(content, "2404.07143", extra="title_zh: 编辑写的标题\n", body=ABSTRACT)
    assert main(["summarize"]) == 0
    out = capsys.readouterr().out
    assert "2404.07143: filled summary_zh, summary_en" in out
    paper = ContentStore(content).load().papers["2404.07143"]
    assert paper.title_zh == "编辑写的标题"
    user = stub.requests_to("/v1/chat/completions")[0].json()["messages"][1]["content"]
    assert "Keys to write: summary_zh, summary_en" in user
    assert "Existing title_zh (keep consistent with it):\n编辑写的标题" in user
    # sample papers are ready and complete: no request for them
    assert len(stub.requests_to("/v1/chat/completions")) == 1

    # a second run has nothing to do
    assert main(["summarize"]) == 0
    out = capsys.readouterr().out
    assert "summarized 0 papers (0 fields)" in out
    assert len(stub.requests_to("/v1/chat/completions")) == 1


def test_week_filter_ready_papers_and_concurrency(
    llm_env: Path,
    stub: StubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content = llm_env / "content"
    monkeypatch.setenv("DIGESTBOT_LLM__CONCURRENCY", "2")
    stub.llm_delay = 0.1
    for n in range(5):
        draft(content, f"2404.0000{n}", body="An abstract of our own words.")
    draft(content, "2404.00009", day="2024-05-06", body="Another week.")
    write(
        content / "papers/2024/2404.00010.md",
        "---\narxiv_id: '2404.00010'\ntitle_en: Ready\ndate: 2024-04-16\nstatus: ready\n"
        "summary_zh: 已审阅。\n---\n",
    )
    write(
        content / "papers/2024/2404.00011.md",
        "---\narxiv_id: '2404.00011'\ntitle_en: Ready, no summary\ndate: 2024-04-16\n"
        "status: ready\n---\n",
    )
    assert main(["summarize", "--week", "2024-W16"]) == 0
    out = capsys.readouterr().out
    # the ready paper with a Chinese summary only is translated (issue 11)
    assert "summarized 6 papers (16 fields), 1 of them by translation" in out
    assert "2404.00010: translated summary_en" in out
    assert "left 1 ready paper with empty fields alone: name them with --ids" in out
    assert stub.llm_max_in_flight == 2
    snap = ContentStore(content).load()
    assert snap.papers["2404.00009"].summary_zh == ""
    assert snap.papers["2404.00010"].summary_en.startswith("An English translation")
    assert snap.papers["2404.00011"].summary_en == ""
    assert snap.papers["2404.00003"].title_zh == "一篇示例论文的中文标题"
    assert snap.papers["2404.00003"].summary_zh == (
        "这是模型为测试生成的中文摘要，介绍了方法 (示例) 与结果。"
    )

    # named explicitly, a ready paper gets its empty fields filled; its status stays
    assert main(["summarize", "--ids", "2404.00011"]) == 0
    paper = ContentStore(content).load().papers["2404.00011"]
    assert paper.summary_zh and paper.summary_en and paper.status is Status.READY


def test_retries_rate_limit_and_reports_bad_answers(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    draft(llm_env / "content", "2404.07143", body=ABSTRACT)
    stub.fail_next("/v1/chat/completions", 429, retry_after="0")
    assert main(["summarize", "--ids", "2404.07143"]) == 0
    assert "tokens used: 412 prompt + 188 completion = 600 in 2 requests" in capsys.readouterr().out

    draft(llm_env / "content", "2404.00001", body="Our words.")
    stub.llm_override = "not-json"
    assert main(["summarize", "--ids", "2404.00001"]) == 1
    out = capsys.readouterr().out
    assert "2404.00001.md: " in out and "did not answer with a JSON object twice" in out
    assert "summarized 0 papers (0 fields), 1 problem" in out
    assert "tokens used: 0 prompt + 0 completion = 0 in 2 requests" in out


def test_offline_llm(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = closed_port_url()
    monkeypatch.setenv("DIGESTBOT_LLM__BASE_URL", url)
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "0")
    draft(env / "content", "2404.00001", body="Our words.")
    draft(env / "content", "2404.00002", body="Our words.")
    assert main(["summarize"]) == 1
    err = capsys.readouterr().err
    host = url.removeprefix("http://")
    assert err.startswith(
        f"error: cannot reach {host}: check your network or DIGESTBOT_LLM__BASE_URL"
    )
    assert err.count("error:") == 1


def test_without_llm_fills_summary_en_from_the_abstract(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_SUMMARY_EN_WORDS", "35")
    content = env / "content"
    draft(content, "2404.07143", body=ABSTRACT)
    draft(content, "2404.00001")  # no abstract: nothing to fall back on
    assert main(["summarize"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no LLM configured: set DIGESTBOT_LLM__BASE_URL")
    assert "DIGESTBOT_LLM__API_KEY and DIGESTBOT_LLM__MODEL" in out
    assert "2404.07143: filled summary_en" in out
    assert "tokens used" not in out
    snap = ContentStore(content).load()
    paper = snap.papers["2404.07143"]
    assert paper.summary_en == (
        "We add a compressive memory to standard dot-product attention, so that a single block "
        "combines masked local attention with long-range retrieval from memory. Memory and "
        "compute stay bounded however long the input grows."
    )
    assert paper.title_zh == "" and paper.summary_zh == ""
    assert snap.papers["2404.00001"].summary_en == ""


def test_dry_run_asks_nothing_and_writes_nothing(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = draft(llm_env / "content", "2404.07143", body=ABSTRACT)
    before = path.read_bytes()
    assert main(["summarize", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2404.07143: would fill title_zh, summary_zh, summary_en" in out
    assert "would summarize 1 paper (3 fields)" in out
    assert stub.requests_to("/v1/chat/completions") == []
    assert path.read_bytes() == before


def test_glossary_file_in_the_store(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    content = llm_env / "content"
    write(content / "glossary.yaml", "LLM: 大模型\nscaling law: 缩放定律\n")
    draft(content, "2404.07143", body=ABSTRACT)
    assert main(["summarize"]) == 0
    system = stub.requests_to("/v1/chat/completions")[0].json()["messages"][0]["content"]
    assert "- LLM → 大模型" in system and "- scaling law → 缩放定律" in system
    assert "零样本" not in system

    write(content / "glossary.yaml", "LLM: [unclosed\n")
    assert main(["summarize"]) == 1
    err = capsys.readouterr().err
    assert f"error: {content / 'glossary.yaml'}:2: the glossary is not valid YAML" in err


def test_repo_glossary_holds_the_defaults() -> None:
    repo_content = Path(__file__).resolve().parents[1] / "content"
    glossary = load_glossary(repo_content)
    for en, zh in DEFAULT_GLOSSARY.items():
        assert glossary[en] == zh


def test_glossary_and_spacing_rules(tmp_path: Path) -> None:
    g = dict(DEFAULT_GLOSSARY)
    assert apply_glossary("在zero-shot和Few-shot设置下", g) == "在零样本和少样本设置下"
    assert apply_glossary("MLLM 与 LLM", g) == "MLLM 与 大语言模型"
    assert apply_glossary("大语言模型 (LLMs) 与 AI Agent", g) == "大语言模型 (LLMs) 与 AI 智能体"
    assert (
        polish_zh("基于GPT-4（一种模型）的LLM agent", g)
        == "基于 GPT-4 (一种模型) 的大语言模型智能体"
    )
    assert polish("title_zh", "  标题\n 第二行 ", g, zh_chars=10, en_words=5) == "标题第二行"
    write(tmp_path / "glossary.yaml", "- a list\n")
    with pytest.raises(ContentError, match="must be a mapping"):
        load_glossary(tmp_path)


# -- review --------------------------------------------------------------------------------------


def test_review_lists_drafts_and_marks_ready(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = env / "content"
    draft(content, "2404.00001", extra="summary_zh: 写好了。\n")
    draft(content, "2404.00002")
    draft(content, "2404.00003", day="2024-05-06", extra="summary_en: Done.\n")
    assert main(["review", "--week", "2024-W16"]) == 0
    out = capsys.readouterr().out
    assert "2404.00001  2024-04-16  Paper 2404.00001  [title_zh✗ summary_zh✓ summary_en✗]" in out
    assert "2404.00003" not in out
    assert "2 drafts in 2024-W16; mark reviewed ones ready with: digestbot review --ready" in out

    assert main(["review", "--ready", "2404.00001", "2404.00002", "2404.00003", "2404.99999"]) == 1
    out = capsys.readouterr().out
    assert "2404.00001: marked ready" in out
    assert "2404.00002: not marked ready: missing a summary (summary_zh or summary_en)" in out
    assert "2404.99999: no such paper in the content store" in out
    assert "marked 2 ready, 2 not" in out
    snap = ContentStore(content).load()
    assert snap.papers["2404.00001"].status is Status.READY
    assert snap.papers["2404.00001"].date == dt.date(2024, 4, 16)
    assert snap.papers["2404.00002"].status is Status.DRAFT
    assert snap.papers["2404.00003"].status is Status.READY


def test_review_ready_again_a_bad_id_and_an_unreadable_file(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = env / "content"
    draft(content, "2404.00001", extra="summary_en: Done.\n")
    broken = write(content / "papers" / "2024" / "2404.00002.md", "---\ntitle_en: [unclosed\n")
    assert main(["review", "--ready", "2404.00001"]) == 0
    assert capsys.readouterr().out == "2404.00001: marked ready\nmarked 1 ready, 0 not\n"

    assert main(["review", "--ready", "arXiv:2404.00001v2", "not-an-id", "2404.00002"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2404.00001: already ready"
    assert lines[1].startswith("not-an-id: ")
    assert lines[2].startswith(f"{broken}:") and ": cannot read: " in lines[2]
    assert lines[3] == "marked 0 ready, 2 not"
    assert broken.read_text(encoding="utf-8") == "---\ntitle_en: [unclosed\n"


def test_review_with_a_bad_week_is_an_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", "--week", "someday"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "someday" in captured.err
