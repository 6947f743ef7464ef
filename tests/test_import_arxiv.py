"""``digestbot import arxiv``: the real client against recorded Atom feeds, error entry included."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.content.store import ContentStore
from digestbot.errors import ImportFailed
from digestbot.models import Status
from digestbot.sources.arxiv import parse_feed
from digestbot.sources.http import HttpClient
from digestbot.sources.importer import ImportReport
from fixtures.stub_server import FIXTURES, StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def arxiv_env(env: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_URL", f"{stub.url}/arxiv/query")
    monkeypatch.setenv("DIGESTBOT_SOURCES__ARXIV_DELAY", "0")
    monkeypatch.setenv("DIGESTBOT_SOURCES__RETRIES", "1")
    return env


def test_parse_feed_unwraps_title_and_abstract() -> None:
    feed = parse_feed((FIXTURES / "arxiv" / "two.xml").read_bytes())
    assert feed.errors == ()
    first, second = feed.entries
    assert first.arxiv_id == "2404.07143"
    assert first.title == (
        "Leave No Context Behind: Efficient Infinite Context Transformers with Infini-attention"
    )
    assert "\n" not in first.abstract and first.abstract.startswith("We add a compressive")
    assert first.authors == ("Tsendsuren Munkhdalai", "Manaal Faruqui", "Siddharth Gopal")
    assert first.published == dt.datetime(2024, 4, 10, 17, 59, 59, tzinfo=dt.UTC)
    assert second.arxiv_id == "2404.05719"


def test_error_entry_is_detected_in_a_200_answer() -> None:
    feed = parse_feed((FIXTURES / "arxiv" / "error-2404.0714.xml").read_bytes())
    assert feed.entries == ()
    assert feed.errors == ("incorrect id format for 2404.0714",)


def test_not_a_feed_is_a_clear_error() -> None:
    with pytest.raises(ImportFailed, match=r"not an Atom feed .*'Rate exceeded\.'"):
        parse_feed(b"Rate exceeded.")


def test_import_fills_title_abstract_authors_date(
    arxiv_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "arxiv", "arXiv:2404.07143v1", "https://arxiv.org/abs/2404.05719"]) == 0
    out = capsys.readouterr().out
    assert "imported 2 new papers, updated 0, unchanged 0" in out
    snap = ContentStore(arxiv_env / "content").load()
    paper = snap.papers["2404.07143"]
    assert paper.status is Status.DRAFT
    assert paper.title_en.endswith("Transformers with Infini-attention")
    assert paper.date == dt.date(2024, 4, 10)
    assert paper.authors[0] == "Tsendsuren Munkhdalai"
    assert paper.abstract.startswith("We add a compressive memory")
    assert snap.paths["2404.07143"] == arxiv_env / "content/papers/2024/2404.07143.md"
    (request,) = stub.requests_to("/arxiv/query")
    assert request.query["id_list"] == ["2404.07143,2404.05719"]
    assert request.query["max_results"] == ["2"]

    # again: nothing changes (arXiv owns no field an import may refresh)
    before = (arxiv_env / "content/papers/2024/2404.07143.md").read_bytes()
    assert main(["import", "arxiv", "2404.07143"]) == 0
    assert "imported 0 new papers, updated 0, unchanged 1" in capsys.readouterr().out
    assert (arxiv_env / "content/papers/2024/2404.07143.md").read_bytes() == before


def test_error_entry_is_reported_and_the_rest_imported(
    arxiv_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "arxiv", "2404.07143", "2404.0714", "2404.99003", "banana"]) == 1
    out = capsys.readouterr().out
    assert "arXiv 2404.0714: arXiv says: incorrect id format for 2404.0714" in out
    assert "arXiv 2404.99003: arXiv has no such paper; check the id" in out
    assert "arXiv banana: 'banana' is not an arXiv id" in out
    assert "imported 1 new paper, updated 0, unchanged 0, 3 problems" in out
    assert (arxiv_env / "content/papers/2024/2404.07143.md").is_file()
    assert not (arxiv_env / "content/papers/2024/2404.0714.md").exists()
    asked = [r.query["id_list"][0] for r in stub.requests_to("/arxiv/query")]
    # the batch came back as an error: each id was asked on its own
    assert asked == [
        "2404.07143,2404.0714,2404.99003",
        "2404.07143",
        "2404.0714",
        "2404.99003",
    ]


def test_dry_run(arxiv_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "arxiv", "2404.07143", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write papers/2024/2404.07143.md (draft: Leave No Context Behind" in out
    assert not (arxiv_env / "content/papers/2024/2404.07143.md").exists()


async def test_one_request_per_delay(stub: StubServer) -> None:
    from digestbot.sources.arxiv import fetch_entries

    report = ImportReport()
    ids = ["2404.07143", "2404.0714"]
    start = time.monotonic()
    async with HttpClient(setting="X", retries=0) as client:
        entries = await fetch_entries(
            client, f"{stub.url}/arxiv/query", ids, delay=0.2, report=report
        )
    elapsed = time.monotonic() - start
    assert [e.arxiv_id for e in entries] == ["2404.07143"]
    assert len(stub.requests_to("/arxiv/query")) == 3
    assert elapsed >= 0.4  # three requests, two gaps of 0.2 s
    assert report.failed_ids == ["2404.0714"]


def test_plain_text_answer_is_an_error(
    arxiv_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.arxiv_plain["2404.07143"] = b"Rate exceeded."
    assert main(["import", "arxiv", "2404.07143"]) == 1
    err = capsys.readouterr().err
    assert "error: arXiv answered with something that is not an Atom feed" in err
    assert "wait a minute" in err


def test_retry_on_503(
    arxiv_env: Path, stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.fail_next("/arxiv/query", 503, retry_after="0")
    assert main(["import", "arxiv", "2404.07143"]) == 0
    assert "imported 1 new paper" in capsys.readouterr().out
    assert len(stub.requests_to("/arxiv/query")) == 2
