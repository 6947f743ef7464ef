"""Ready papers missing a language: ``check`` warns per week, ``summarize`` translates them
(the real LLM client against recorded completions served by the local stub server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.models import Status
from fixtures.stub_server import StubServer


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


# -- summarize: translation of the back catalogue ------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def llm_env(env: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGESTBOT_LLM__BASE_URL", f"{stub.url}/v1")
    monkeypatch.setenv("DIGESTBOT_LLM__API_KEY", "test-key")
    monkeypatch.setenv("DIGESTBOT_LLM__MODEL", "test-model")
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "0")
    return env


def archive(content: Path) -> None:
    """An imported archive: ready papers with a Chinese summary only, over three weeks."""
    ready(
        content,
        "2405.00001",
        day="2024-05-07",
        extra="summary_zh: 大语言模型能给自己的答案打分。\n",
    )
    ready(content, "2405.00003", day="2024-05-08", extra="summary_zh: 第三篇的中文摘要。\n")
    ready(content, "2406.00001", day="2024-06-04", extra="summary_zh: 六月的一篇。\n")
    ready(content, "2406.00002", day="2024-06-05", extra="summary_en: English only here.\n")


def test_summarize_all_translates_the_back_catalogue(
    llm_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    content = llm_env / "content"
    archive(content)
    assert main(["summarize"]) == 0  # without --all or --week: a hint, no request
    out = capsys.readouterr().out
    assert (
        "4 ready papers have a summary in one language only: digestbot summarize --all "
        "(or --week W) translates them"
    ) in out
    assert stub.requests_to("/v1/chat/completions") == []

    assert main(["summarize", "--all"]) == 0
    out = capsys.readouterr().out
    assert "2405.00001: translated summary_en" in out
    assert "2406.00002: translated title_zh, summary_zh" in out
    assert "summarized 4 papers (5 fields), 4 of them by translation" in out
    # the cost line adds up the usage the API reported: 310+300+300+300 prompt tokens
    assert out.rstrip().endswith(
        "tokens used: 1210 prompt + 150 completion = 1360 in 4 requests (test-model)"
    )
    snap = ContentStore(content).load()
    glossed = snap.papers["2405.00001"]
    # the glossary in reverse: 大语言模型 → LLM, 零样本 → zero-shot
    assert glossed.summary_en == (
        "The authors show that LLM can grade their own answers; zero-shot accuracy rises by "
        "5 points on GSM8K."
    )
    assert glossed.summary_zh == "大语言模型能给自己的答案打分。"  # the source is untouched
    assert all(p.status is Status.READY for p in snap.papers.values())
    assert (
        snap.papers["2406.00002"].summary_zh == "这是测试用的中文译文，介绍了方法 (示例) 与结果。"
    )

    requests = stub.requests_to("/v1/chat/completions")
    to_en = next(r for r in requests if "arXiv: 2405.00001\n" in r.json()["messages"][1]["content"])
    system, user = (m["content"] for m in to_en.json()["messages"])
    assert system.startswith("You translate the Chinese summaries")
    assert "- 大语言模型 → LLM" in system and "- 零样本 → zero-shot" in system
    assert "Keys to write: summary_en" in user
    assert "summary_zh to translate:\n大语言模型能给自己的答案打分。" in user

    # resumable: what is written stays written; a rerun asks nothing more
    assert main(["summarize", "--all"]) == 0
    assert "summarized 0 papers (0 fields)" in capsys.readouterr().out
    assert len(stub.requests_to("/v1/chat/completions")) == 4
    assert main(["check"]) == 0
    assert "no summary_en" not in capsys.readouterr().out


def test_an_interrupted_run_resumes_and_a_chinese_answer_is_refused(
    llm_env: Path,
    stub: StubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # one request at a time: which paper meets the failed request does not depend on timing
    monkeypatch.setenv("DIGESTBOT_LLM__CONCURRENCY", "1")
    content = llm_env / "content"
    archive(content)
    ready(content, "2405.00002", day="2024-05-07", extra="summary_zh: 这篇的模型会用中文回答。\n")
    stub.fail_next("/v1/chat/completions", 400)  # one paper fails, the rest are written
    assert main(["summarize", "--week", "2024-W19"]) == 0
    out = capsys.readouterr().out
    assert "2405.00002.md: the model's summary_en holds Chinese text, not written" in out
    assert "summarized 1 paper (1 field" in out and "2 problems" in out
    snap = ContentStore(content).load()
    assert snap.papers["2405.00002"].summary_en == ""
    assert snap.papers["2406.00001"].summary_en == ""  # another week: left alone
    done = [pid for pid in ("2405.00001", "2405.00003") if snap.papers[pid].summary_en]
    assert len(done) == 1

    assert main(["summarize", "--week", "2024-W19"]) == 0  # only what is still missing
    out = capsys.readouterr().out
    assert "summarized 1 paper (1 fields), 1 of them by translation, 1 problem" in out
    asked = [r.json()["messages"][1]["content"] for r in stub.requests_to("/v1/chat/completions")]
    assert sum(f"arXiv: {done[0]}\n" in u for u in asked) == 1


def test_translation_is_concurrency_limited_and_dry_run_asks_nothing(
    llm_env: Path,
    stub: StubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    content = llm_env / "content"
    for n in range(6):
        ready(content, f"2406.0001{n}", day="2024-06-04", extra="summary_zh: 中文摘要。\n")
    assert main(["summarize", "--all", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2406.00010: would translate summary_en" in out
    assert stub.requests_to("/v1/chat/completions") == []

    monkeypatch.setenv("DIGESTBOT_LLM__CONCURRENCY", "2")
    stub.llm_delay = 0.1
    assert main(["summarize", "--all"]) == 0
    assert "summarized 6 papers (6 fields), 6 of them by translation" in capsys.readouterr().out
    assert stub.llm_max_in_flight == 2


def test_summarize_all_with_week_or_ids_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["summarize", "--all", "--week", "2024-W16"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
