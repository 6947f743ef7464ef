"""Benchmark: the web app under 100 concurrent clients, against a bare Starlette page.

Run: python bench/web_load.py [--clients 100] [--seconds 4] [--rounds 3]

Builds a store of the sample content plus the imported corpus archive
(`digestbot import markdown ../shared/corpus/ai-weekly-paper`: 44 archive issues, ~620
papers), starts the real `digestbot run --no-scheduler` (SQLite), and a bare Starlette
app serving one 8 KB HTML page under the same uvicorn settings, each in a process of its
own. A raw asyncio HTTP/1.1 client (keep-alive, ``Accept-Encoding: gzip``, as browsers
send) keeps ``--clients`` requests in flight for ``--seconds`` per round, cycling through
every issue and paper of the archive. Prints p50/p99 latency, requests/s and errors per
route, medians over ``--rounds``, and the ratio of each route's req/s to the bare page's
measured in the same run, and the server process's CPU time per request (steadier than
req/s on a shared machine). Targets (issue 10): p99 <= 100 ms, ratio >= 0.5, 0 errors.
Also prints the bytes on the wire of `/` and an issue page with and without gzip.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "ai-weekly-paper"
sys.path.insert(0, str(REPO / "bench"))

import psutil  # noqa: E402

from common import digestbot_run, free_port, run_env  # noqa: E402

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

PARAS = "".join(f"<p>paragraph {i:03d} " + "lorem ipsum " * 6 + "</p>" for i in range(120))
PAGE = ("<!doctype html><html><body>" + PARAS)[: 8192 - 14] + "</body></html>"
assert len(PAGE) == 8192

async def page(request):
    return HTMLResponse(PAGE)

app = Starlette(routes=[Route("/", page)])
"""


@dataclass
class Round:
    latencies: list[float]
    errors: int
    seconds: float
    wire_bytes: int
    cpu_us: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """Send one request, read one response; its status and its bytes on the wire."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    if length:
        await reader.readexactly(length)
    return status, len(head) + length


async def load(
    port: int, paths: Sequence[str], clients: int, seconds: float, gzip: bool = True
) -> Round:
    latencies: list[float] = []
    errors = 0
    wire = 0
    deadline = time.perf_counter() + seconds
    accept = b"Accept-Encoding: gzip\r\n" if gzip else b""

    async def client(n: int) -> None:
        nonlocal errors, wire
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = n
        try:
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)].encode()
                i += clients
                request = b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n" + accept + b"\r\n"
                started = time.perf_counter()
                try:
                    status, size = await _one(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                if status != 200:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                wire += size
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return Round(latencies, errors, time.perf_counter() - started, wire)


def wire_size(port: int, path: str, gzip: bool) -> int:
    async def once() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        accept = b"Accept-Encoding: gzip\r\n" if gzip else b""
        request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\n" + accept + b"\r\n"
        status, size = await _one(reader, writer, request)
        writer.close()
        assert status == 200, (path, status)
        return size

    return asyncio.run(once())


def measure(port: int, pid: int, paths: Sequence[str], clients: int, seconds: float) -> Round:
    """One round of load, with the server process's CPU time per request."""
    server = psutil.Process(pid)
    before = sum(server.cpu_times()[:2])
    result = asyncio.run(load(port, paths, clients, seconds))
    result.cpu_us = (sum(server.cpu_times()[:2]) - before) / max(1, len(result.latencies)) * 1e6
    return result


@contextlib.contextmanager
def bare_server(folder: Path) -> Iterator[tuple[int, int]]:
    """The 8 KB Starlette page under uvicorn, in a process of its own."""
    (folder / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log", "--lifespan", "off"),
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                wire_size(port, "/", gzip=False)
                break
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def prepare(root: Path) -> dict[str, str]:
    shutil.copytree(REPO / "content", root / "content")
    env = run_env(root, SECRET_KEY="bench-web-load-secret-key-0123456789")
    subprocess.run(
        [sys.executable, "-m", "digestbot", "import", "markdown", str(CORPUS)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [sys.executable, "-m", "digestbot", "publish", "--week", "2024-W16"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return env


def archive_paths(root: Path) -> tuple[list[str], list[str]]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(root / "digestbot.db")) as db:
        rows = db.execute("SELECT week, paper_ids FROM issues WHERE status='published'").fetchall()
    weeks = sorted(f"/issues/{week}" for week, _ in rows)
    papers = sorted({f"/papers/{p}" for _, ids in rows for p in json.loads(ids)})
    return weeks, papers


def report(name: str, rounds: list[Round], bare_rps: float | None) -> float:
    rps = statistics.median(r.rps for r in rounds)
    p50 = statistics.median(r.quantile(0.50) for r in rounds)
    p99 = statistics.median(r.quantile(0.99) for r in rounds)
    errors = sum(r.errors for r in rounds)
    ratio = f"{rps / bare_rps:.2f}" if bare_rps else "1.00"
    kb = statistics.median(r.wire_bytes / max(1, len(r.latencies)) for r in rounds) / 1024
    cpu = statistics.median(r.cpu_us for r in rounds)
    print(
        f"| {name} | {p50:.1f} | {p99:.1f} | {rps:.0f} | {ratio} | {errors} | {kb:.1f} "
        f"| {cpu:.0f} |",
        flush=True,
    )
    return rps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="digestbot-web-load-") as tmp:
        root = Path(tmp)
        env = prepare(root)
        weeks, papers = archive_paths(root)
        print(f"archive: {len(weeks)} issues, {len(papers)} papers; {args.clients} clients")
        routes = {
            "/": ["/"],
            "/issues/<W>": weeks,
            "/papers/<id>": papers,
            "/feed.xml": ["/feed.xml"],
        }
        results: dict[str, list[Round]] = {name: [] for name in ["bare 8 KB page", *routes]}
        with bare_server(root) as (bare_port, bare_pid), digestbot_run(env) as (pid, _):
            port = int(env["DIGESTBOT_HTTP__PORT"])
            sizes = {
                path: (wire_size(port, path, False), wire_size(port, path, True))
                for path in ("/", weeks[-1], "/feed.xml")
            }
            for paths in routes.values():  # warm: each page rendered once
                asyncio.run(load(port, paths, args.clients, 1.0 + len(paths) / 200))
            for _ in range(args.rounds):  # interleaved, so drift hits every route alike
                results["bare 8 KB page"].append(
                    measure(bare_port, bare_pid, ["/"], args.clients, args.seconds)
                )
                for name, paths in routes.items():
                    results[name].append(measure(port, pid, paths, args.clients, args.seconds))
        print(
            "\n| route | p50 ms | p99 ms | req/s | ratio to bare | errors | KB/response "
            "| server CPU µs/request |"
        )
        print("|---|---|---|---|---|---|---|---|")
        bare = report("bare 8 KB page", results["bare 8 KB page"], None)
        for name in routes:
            report(name, results[name], bare)
        print("\n| page | bytes on the wire, identity | gzip | ratio |")
        print("|---|---|---|---|")
        for path, (plain, packed) in sizes.items():
            print(f"| `{path}` | {plain:,} | {packed:,} | {packed / plain:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
