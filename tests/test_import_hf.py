"""``digestbot import hf``: the real client against a local stand-in serving recorded JSON."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.models import Status
from fixtures.stub_server import StubServer, closed_port_url

WEEK_NEW = {
    "2404.07839",  # listed 2024-04-14 18:30 UTC = Monday 02:30 in Shanghai
    "2404.07143",
    "2404.05719",
    "2404.05892",
    "2404.07965",
    "2404.06395",
    "2404.07503",
    "2404.07413",
}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def hf_env(env: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGESTBOT_SOURCES__HF_URL", stub.url)
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "2")
    return env


def papers_dir(env: Path) -> Path:
    return env / "content" / "papers"


def test_week_import_writes_drafts_refreshes_existing_and_drops_withdrawn(
    hf_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (papers_dir(hf_env) / "2024/2404.08634.md").read_text(encoding="utf-8")
    assert main(["import", "hf", "--week", "2024-W16"]) == 0
    out = capsys.readouterr().out
    assert "imported 8 new papers, updated 2, unchanged 0, skipped 1 (withdrawn)" in out

    snap = ContentStore(hf_env / "content").load()
    assert snap.errors == []
    for pid in WEEK_NEW:
        paper = snap.papers[pid]
        assert paper.status is Status.DRAFT
        assert paper.date.isocalendar().week == 16
        assert paper.abstract  # the abstract is the file's body
        assert paper.links.hf == f"https://huggingface.co/papers/{pid}"
    assert snap.papers["2404.07839"].date.isoformat() == "2024-04-15"
    infini = snap.papers["2404.07143"]
    assert infini.score == 120
    assert infini.authors == ("Tsendsuren Munkhdalai", "Manaal Faruqui", "Siddharth Gopal")
    assert infini.summary_en.startswith("A compressive memory inside attention")
    assert snap.papers["2404.07965"].links.code == "https://github.com/microsoft/rho"
    assert snap.papers["2404.06395"].links.project == "https://example.org/minicpm"
    # not in the week (Shanghai time), or withdrawn
    for pid in ("2404.06654", "2404.99002", "2404.99001"):
        assert pid not in snap.papers

    # existing file: only score and links changed
    refreshed = snap.papers["2404.08634"]
    assert refreshed.score == 52
    assert refreshed.links.hf == "https://huggingface.co/papers/2404.08634"
    assert refreshed.links.code == "https://github.com/sanyalsunny111/LLM-Inheritune"
    old_meta = ContentStore(hf_env / "content")
    after_meta, _ = old_meta.read_meta(papers_dir(hf_env) / "2024/2404.08634.md")
    assert after_meta["summary_zh"].startswith("Inheritune")
    assert "status: ready" in before and after_meta["status"] == "ready"

    # paging: the stand-in caps pages at 5 items, 2024-04-16 has 7
    pages = [
        s.query["p"][0]
        for s in stub.requests_to("/api/daily_papers")
        if s.query["date"] == ["2024-04-16"]
    ]
    assert pages == ["0", "1"]
    # one UTC day either side of the local week
    dates = {s.query["date"][0] for s in stub.requests_to("/api/daily_papers")}
    assert dates == {f"2024-04-{d}" for d in range(14, 23)}
    ua = stub.requests_to("/api/daily_papers")[0].headers["user-agent"]
    assert ua.startswith("digestbot/") and "+https://github.com/digestbot" in ua


def test_second_import_changes_nothing(hf_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "hf", "--week", "2024-W16"]) == 0
    capsys.readouterr()
    files = {p: p.read_bytes() for p in papers_dir(hf_env).rglob("*.md")}
    assert main(["import", "hf", "--week", "2024-04-17"]) == 0
    out = capsys.readouterr().out
    assert "imported 0 new papers, updated 0, unchanged 10" in out
    assert {p: p.read_bytes() for p in papers_dir(hf_env).rglob("*.md")} == files


def test_top_and_min_upvotes(hf_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "hf", "--week", "2024-W16", "--top", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would import 2 new papers, would update 1" in out
    assert "skipped 8 (7 not in the top 3, 1 withdrawn)" in out

    assert main(["import", "hf", "--week", "2024-W16", "--min-upvotes", "40"]) == 0
    out = capsys.readouterr().out
    assert "imported 3 new papers, updated 2" in out
    assert "5 below 40 upvotes" in out
    snap = ContentStore(hf_env / "content").load()
    assert {"2404.07143", "2404.07965", "2404.05719"} <= set(snap.papers)
    assert "2404.07413" not in snap.papers


def test_dry_run_writes_nothing(hf_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {p: p.read_bytes() for p in papers_dir(hf_env).rglob("*.md")}
    assert main(["import", "hf", "--week", "2024-W16", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write papers/2024/2404.07143.md (draft:" in out
    assert "would update papers/2024/2404.08634.md: " in out and "score 48 → 52" in out
    assert out.rstrip().endswith(
        "dry run: would import 8 new papers, would update 2, unchanged 0, skipped 1 (withdrawn)"
    )
    assert {p: p.read_bytes() for p in papers_dir(hf_env).rglob("*.md")} == files


def test_one_day_in_the_configured_timezone(
    hf_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "hf", "--date", "2024-04-15", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # Shanghai: the 04-14 18:30 UTC listing counts, the 04-16 ones do not
    assert "2404.07839" in out and "2404.05719" not in out
    assert "would import 2 new papers, would update 1" in out

    monkeypatch.setenv("DIGESTBOT_TIMEZONE", "UTC")
    assert main(["import", "hf", "--date", "2024-04-15", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2404.07839" not in out and "2404.07143" in out


def test_retries_429_then_503_then_succeeds(
    hf_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.fail_next("/api/daily_papers", 429, retry_after="0")
    stub.fail_next("/api/daily_papers", 503, retry_after="0")
    assert main(["import", "hf", "--date", "2024-04-16", "--dry-run"]) == 0
    assert "would import 6 new papers" in capsys.readouterr().out
    statuses = len(stub.requests_to("/api/daily_papers"))
    # two failures, then 04-15 (a page and an empty one), 04-16 (a full page and a short one), 04-17
    assert statuses == 2 + 5


def test_keeps_failing_is_a_clear_error(
    hf_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        stub.fail_next("/api/daily_papers", 503, retry_after="0")
    assert main(["import", "hf", "--date", "2024-04-16"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 127.0.0.1:")
    assert "keeps failing (HTTP 503 after 3 attempts)" in err


def test_offline_says_what_to_check(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = closed_port_url()
    monkeypatch.setenv("DIGESTBOT_SOURCES__HF_URL", url)
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "0")
    assert main(["import", "hf", "--week", "2024-W16"]) == 1
    captured = capsys.readouterr()
    host = url.removeprefix("http://")
    assert captured.err.startswith(
        f"error: cannot reach {host}: check your network or DIGESTBOT_SOURCES__HF_URL"
    )
    assert "Traceback" not in captured.err


def test_bad_week_argument(hf_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "hf", "--week", "2024-W60"]) == 1
    assert "error: 2024 has ISO weeks 1..52, not 60" in capsys.readouterr().err


def test_bad_top_and_date_are_errors_before_any_request(
    hf_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(papers_dir(hf_env).rglob("*.md"))
    assert main(["import", "hf", "--week", "2024-W16", "--top", "0"]) == 1
    assert capsys.readouterr().err == "error: --top must be at least 1\n"
    assert main(["import", "hf", "--date", "2024-13-01"]) == 1
    assert capsys.readouterr().err == "error: --date '2024-13-01': give a day as YYYY-MM-DD\n"
    assert stub.seen == []
    assert sorted(papers_dir(hf_env).rglob("*.md")) == before
