"""Hostile files in the content store: special files, links out, oversized files, duplicates.

Each is reported as ``path:line: field: message`` by ``digestbot check`` (run as a user runs
it, with a timeout: a FIFO once hung it) and none of them is published or served.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write
from digestbot.content.store import ContentStore
from digestbot.errors import UnsafeContentFile
from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.wiring import build_service
from test_bot import BOB, Running, running  # noqa: F401 (the bot fixture, used below)
from test_run import free_port, start_run, stop_run
from test_web import TestClient

GOOD_ID = "2404.00001"


def paper(arxiv_id: str, *, title: str = "A Good Paper", summary_en: str = "Short.") -> str:
    return (
        f"---\narxiv_id: '{arxiv_id}'\ntitle_en: {title}\ndate: 2024-04-16\nstatus: ready\n"
        f"summary_en: {summary_en}\n---\n"
    )


def check(cwd: Path, **env: str) -> tuple[int, list[str]]:
    """``digestbot check`` in a child, as a user runs it; 30 s at most (a hang fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "digestbot", "check"],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def one_line(lines: list[str], path: Path) -> str:
    [line] = [ln for ln in lines if ln.startswith(f"{path}:")]
    return line


def test_a_fifo_is_reported_and_hangs_nothing(env: Path, content_dir: Path) -> None:
    fifo = content_dir / "papers/2024/2404.00009.md"
    os.mkfifo(fifo)
    override = content_dir / "issues/2024-W17.yaml"
    override.parent.mkdir(exist_ok=True)
    os.mkfifo(override)
    code, lines = check(env)
    assert code == 1
    assert one_line(lines, fifo) == (
        f"{fifo}:1: file: a FIFO (named pipe), not a regular file: "
        "content files must be plain files; remove it"
    )
    assert one_line(lines, override).startswith(f"{override}:1: file: a FIFO (named pipe)")
    snap = ContentStore(content_dir).load()
    assert len(snap.papers) == 9  # the rest still loads


def test_run_starts_beside_a_fifo(env: Path, content_dir: Path) -> None:
    os.mkfifo(content_dir / "papers/2024/2404.00009.md")
    environ = {**os.environ, "DIGESTBOT_HTTP__PORT": str(free_port())}
    proc, lines = start_run(environ, env)  # says "ready" within 30 s or fails
    try:
        assert lines[-1] == "digestbot ready: 9 papers indexed"
    finally:
        assert stop_run(proc, lines) == 0


def test_links_out_of_the_store_are_refused(env: Path, content_dir: Path) -> None:
    elsewhere = write(env / "elsewhere" / "2404.00002.md", paper("2404.00002", title="Outside"))
    to_outside = content_dir / "papers/2024/2404.00002.md"
    to_outside.symlink_to(elsewhere)
    to_zero = content_dir / "papers/2024/2404.00003.md"
    to_zero.symlink_to("/dev/zero")
    # a link to another file inside the store is fine
    kept = write(content_dir / "notes/2404.00004.md", paper("2404.00004", title="Linked in"))
    (content_dir / "papers/2024/2404.00004.md").symlink_to(kept)
    code, lines = check(env)
    assert code == 1
    assert one_line(lines, to_outside) == (
        f"{to_outside}:1: file: links to {elsewhere.resolve()}, outside the content store "
        f"{content_dir.resolve()}: copy the file into the store instead of linking it"
    )
    assert one_line(lines, to_zero).startswith(
        f"{to_zero}:1: file: links to /dev/zero, outside the content store"
    )
    snap = ContentStore(content_dir).load()
    assert "2404.00002" not in snap.papers and "2404.00003" not in snap.papers
    assert snap.papers["2404.00004"].title_en == "Linked in"


def test_a_file_over_the_size_cap_is_refused_unread(env: Path, content_dir: Path) -> None:
    big = content_dir / "papers/2024/2404.00005.md"
    write(big, paper("2404.00005") + "x" * 2_000_000 + "\n")
    size = big.stat().st_size
    code, lines = check(env)
    assert code == 1
    assert one_line(lines, big) == (
        f"{big}:1: file: {size:,} bytes, over the cap of 1,000,000: shorten it "
        "(or raise DIGESTBOT_CONTENT__MAX_FILE_BYTES)"
    )
    code, lines = check(env, DIGESTBOT_CONTENT__MAX_FILE_BYTES="3000000")
    assert code == 0, lines
    # read and valid once the cap allows it (its week's missing language is only a warning)
    assert lines[-1].startswith("ok: 10 files: 10 papers (10 ready), 0 week overrides")


def test_a_summary_over_the_cap_is_an_error_on_its_line(env: Path, content_dir: Path) -> None:
    long = content_dir / "papers/2024/2404.00006.md"
    write(long, paper("2404.00006", summary_en="w" * 30_000))
    code, lines = check(env)
    assert code == 1
    assert one_line(lines, long) == (
        f"{long}:6: summary_en: 30,000 characters, over the cap of 20,000: shorten it "
        "(or raise DIGESTBOT_CONTENT__MAX_SUMMARY_CHARS)"
    )
    assert "2404.00006" not in ContentStore(content_dir).load().papers
    code, lines = check(env, DIGESTBOT_CONTENT__MAX_SUMMARY_CHARS="40000")
    assert code == 0, lines


def test_duplicate_ids_are_errors_on_both_files(env: Path, content_dir: Path) -> None:
    first = content_dir / "papers/2024/2404.08197.md"
    second = write(content_dir / "papers/2025/2404.08197.md", paper("2404.08197"))
    code, lines = check(env)
    assert code == 1
    for this, other in ((first, second), (second, first)):
        assert one_line(lines, this) == (
            f"{this}:2: arxiv_id: duplicate id 2404.08197: also in {other}; keep one file "
            "(neither is published or shown until then)"
        )
    second.unlink()
    assert check(env)[0] == 0


def test_a_duplicate_id_has_no_page(env: Path, content_dir: Path) -> None:
    write(content_dir / "papers/2025/2404.08197.md", paper("2404.08197"))
    service = build_service(load_settings())
    with TestClient(create_app(service, manage_lifespan=True)) as client:
        assert client.get("/papers/2404.08197?lang=en").status_code == 404
        assert client.get("/papers/2404.08634?lang=en").status_code == 200


@pytest.fixture
def duplicate(content_dir: Path) -> None:
    write(content_dir / "papers/2025/2404.08197.md", paper("2404.08197"))


async def test_paper_answers_not_found_for_a_duplicate_id(
    duplicate: None,
    running: Running,  # noqa: F811 (the fixture imported above)
) -> None:
    [reply] = await running.say(BOB, "/paper 2404.08197")
    assert "2404.08197 is not in the digest" in running.text(reply)


def test_an_importer_updating_a_linked_out_file_is_told_which(tmp_path: Path) -> None:
    root = tmp_path / "content"
    elsewhere = write(tmp_path / "elsewhere.md", paper("2404.00002"))
    linked = root / "papers/2024/2404.00002.md"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(elsewhere)
    store = ContentStore(root)
    assert store.find_path("2404.00002") == linked  # importers look the file up, then read it
    with pytest.raises(UnsafeContentFile) as refused:
        store.read_meta(linked)
    assert str(refused.value).startswith(f"{linked}: links to {elsewhere}, outside the content")
