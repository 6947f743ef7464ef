"""Shared helpers for bench/crash.py, bench/fanout.py and tests/test_crash.py.

- subscribers and databases: :func:`seed`, :func:`reset_postgres`, :func:`ensure_database`;
- the ``digestbot publish`` subprocess: :func:`publish_env`, :func:`publish_cmd`;
- counting what arrived: :func:`email_copies`, :func:`telegram_copies`, :func:`tally`;
- one kill -9 trial end to end: :func:`crash_trial` (used by the bench and the test);
- a counting SMTP server in a process of its own: :class:`CountingSink`;
- the raw SMTP ceiling: :func:`raw_smtp_loop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import multiprocessing
import multiprocessing.sharedctypes
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTENT = REPO / "content"
WEEK = "2024-W16"
TELEGRAM_BASE_ID = 700_000_000
SECRET = "bench-secret-key"
SENDER = "Weekly AI Papers <digest@example.org>"
LANG_CYCLE = ("zh", "en", "both")

for _p in (REPO / "tests", REPO / "src"):
    if str(_p) not in sys.path:
        sys.path.append(str(_p))


# -- subscribers and databases ---------------------------------------------------------------


def email_address(i: int) -> str:
    return f"reader{i:05d}@example.org"


def emails_csv(n: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "lang"])
    for i in range(n):
        writer.writerow([email_address(i), LANG_CYCLE[i % 3]])
    return out.getvalue()


def telegram_users(n: int) -> list[tuple[int, str]]:
    """(user id, language) of ``n`` private-chat subscribers."""
    return [(TELEGRAM_BASE_ID + i, LANG_CYCLE[i % 3]) for i in range(n)]


async def seed_async(url: str, n_email: int, n_telegram: int) -> None:
    """Migrate ``url`` and add the subscribers (email by CSV import, Telegram one by one)."""
    from digestbot.db.engine import make_engine, upgrade
    from digestbot.models import Channel, Language
    from digestbot.subscribers import Subscribers

    engine = make_engine(url)
    try:
        await upgrade(engine)
        subs = Subscribers(engine)
        if n_email:
            report = await subs.import_csv(emails_csv(n_email))
            assert report.added == n_email and not report.rejected, report
        for user_id, lang in telegram_users(n_telegram):
            await subs.upsert(
                Channel.TELEGRAM, str(user_id), Language(lang), "active", confirmed=True
            )
    finally:
        await engine.dispose()


def seed(url: str, n_email: int, n_telegram: int) -> None:
    run_async(seed_async(url, n_email, n_telegram))


def run_async(coro: Any) -> Any:
    """asyncio.run on a thread of its own: callers may already be inside an event loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    import threading

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def reset_postgres(url: str) -> None:
    """Drop and recreate the public schema of ``url`` (a fresh, empty database)."""

    async def reset() -> None:
        from sqlalchemy import text

        from digestbot.db.engine import make_engine

        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        finally:
            await engine.dispose()

    run_async(reset())


def ensure_database(server_url: str, name: str) -> str:
    """``postgresql://…/<name>``, created on the server of ``server_url`` if missing.

    The benches use a database of their own so they never race the test suite's ``test``.
    """
    base = server_url.rsplit("/", 1)[0]

    async def create() -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(base.replace("postgresql://", "postgres://") + "/postgres")
        try:
            found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not found:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_async(create())
    return f"{base}/{name}"


async def ledger_rows_async(url: str) -> list[tuple[str, str, str, int, str | None]]:
    """(channel, address, status, parts_sent, lease_owner) of every delivery row."""
    from sqlalchemy import select

    from digestbot.db.engine import make_engine
    from digestbot.db.tables import deliveries

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        deliveries.c.channel,
                        deliveries.c.address,
                        deliveries.c.status,
                        deliveries.c.parts_sent,
                        deliveries.c.lease_owner,
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return [(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


def ledger_rows(url: str) -> list[tuple[str, str, str, int, str | None]]:
    try:
        rows: list[tuple[str, str, str, int, str | None]] = run_async(ledger_rows_async(url))
    except Exception as exc:
        if "deliveries" in str(exc) or "no such table" in str(exc):
            return []
        raise
    return rows


async def expected_parts_async(url: str, settings_env: Mapping[str, str]) -> dict[str, list[str]]:
    """The issue's Telegram parts per language, rendered as the publisher rendered them."""
    from digestbot.models import Language
    from digestbot.settings import Settings
    from digestbot.wiring import build_service

    settings = Settings(
        content_dir=Path(settings_env["DIGESTBOT_CONTENT_DIR"]),
        database_url=url,
        outbox_dir=Path(settings_env["DIGESTBOT_OUTBOX_DIR"]),
        _env_file=None,
    )
    svc = build_service(settings)
    try:
        issue = await svc.issue_for(WEEK)
        content = svc.content_for(issue)
        return {lang: content.telegram(Language(lang)) for lang in LANG_CYCLE}
    finally:
        await svc.engine.dispose()


# -- the publish subprocess ------------------------------------------------------------------


def publish_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "digestbot", "publish", "--week", WEEK, *extra]


def publish_env(
    *,
    database_url: str,
    outbox: Path,
    smtp_port: int | None = None,
    telegram_url: str | None = None,
    telegram_token: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of one ``digestbot publish`` process (no DIGESTBOT_* inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env.update(
        DIGESTBOT_CONTENT_DIR=str(CONTENT),
        DIGESTBOT_DATABASE_URL=database_url,
        DIGESTBOT_OUTBOX_DIR=str(outbox),
        DIGESTBOT_SECRET_KEY=SECRET,
    )
    if smtp_port is not None:
        env.update(
            DIGESTBOT_SMTP__HOST="127.0.0.1",
            DIGESTBOT_SMTP__PORT=str(smtp_port),
            DIGESTBOT_SMTP__SECURITY="none",
            DIGESTBOT_SMTP__SENDER=SENDER,
        )
    if telegram_url is not None and telegram_token is not None:
        env.update(
            DIGESTBOT_TELEGRAM__TOKEN=telegram_token, DIGESTBOT_TELEGRAM__API_URL=telegram_url
        )
    if extra:
        env.update(extra)
    return env


# -- counting copies -------------------------------------------------------------------------


def email_copies(sink: Any) -> Counter[str]:
    """Copies per envelope recipient the SmtpSink accepted."""
    out: Counter[str] = Counter()
    for m in sink.messages:
        for rcpt in m.rcpt_tos:
            out[rcpt] += 1
    return out


def telegram_copies(fake: Any) -> Counter[tuple[int, str]]:
    """Copies per (chat, exact text) the FakeTelegram delivered."""
    return Counter((m.chat_id, m.text) for m in fake.all_messages())


@dataclass(slots=True)
class Tally:
    """What arrived, against what should have: per destination (email) or (chat, part)."""

    expected: int = 0
    copies: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    """(destination or "chat#part", extra copies)."""
    unexpected: list[str] = field(default_factory=list)

    @property
    def n_duplicates(self) -> int:
        return sum(extra for _d, extra in self.duplicates)


def tally(
    emails: Counter[str],
    messages: Counter[tuple[int, str]],
    n_email: int,
    n_telegram: int,
    parts: Mapping[str, Sequence[str]],
) -> Tally:
    t = Tally()
    wanted_emails = {email_address(i) for i in range(n_email)}
    for address in sorted(wanted_emails):
        t.expected += 1
        n = emails.get(address, 0)
        t.copies += n
        if n == 0:
            t.lost.append(address)
        elif n > 1:
            t.duplicates.append((address, n - 1))
    t.unexpected += [a for a in emails if a not in wanted_emails]
    seen: set[tuple[int, str]] = set()
    for user_id, lang in telegram_users(n_telegram):
        for k, text in enumerate(parts[lang]):
            t.expected += 1
            seen.add((user_id, text))
            n = messages.get((user_id, text), 0)
            t.copies += n
            if n == 0:
                t.lost.append(f"{user_id}#{k}")
            elif n > 1:
                t.duplicates.append((f"{user_id}#{k}", n - 1))
    t.unexpected += [f"{c}:{text[:30]!r}" for c, text in messages if (c, text) not in seen]
    return t


# -- one crash trial -------------------------------------------------------------------------


@dataclass(slots=True)
class CrashConfig:
    n_email: int
    n_telegram: int
    database: str  # "sqlite" or "postgres"
    postgres_url: str | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="digestbot-crash-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    fake_limits: Any = None
    """fake_telegram.RateLimits (tests/fake_telegram) for the stand-in; None: Telegram's own."""
    timeout: float = 600.0


@dataclass(slots=True)
class TrialResult:
    kill_at: float | None
    first_seconds: float
    killed: bool
    copies_before_kill: int
    leased_at_kill: int
    """Rows the dead process held (status sending): claimed, some of them mid-send."""
    resume_seconds: float
    tally: Tally
    unexplained: list[str]
    """Duplicates that were not a leased row's first unrecorded part (must stay empty)."""
    count_429: int
    outputs: list[str]
    email_samples: dict[str, bytes] = field(default_factory=dict)
    """The raw message the sink got for the first subscriber of each language."""

    @property
    def lost(self) -> int:
        return len(self.tally.lost)

    @property
    def duplicates(self) -> int:
        return self.tally.n_duplicates


@contextlib.contextmanager
def transports(cfg: CrashConfig) -> Iterator[tuple[Any, Any]]:
    """A fresh SmtpSink and FakeTelegram (its chats registered) for one trial."""
    from fake_telegram import FakeTelegram
    from smtp_sink import SmtpSink

    kwargs: dict[str, Any] = {}
    if cfg.fake_limits is not None:
        kwargs["limits"] = cfg.fake_limits
    fake = FakeTelegram(**kwargs)
    for user_id, lang in telegram_users(cfg.n_telegram):
        fake.add_private_chat(user_id, f"Reader {user_id}", "zh" if lang == "zh" else "en")
    with SmtpSink() as sink, fake:
        yield sink, fake


def fresh_database(cfg: CrashConfig, name: str) -> str:
    if cfg.database == "postgres":
        assert cfg.postgres_url is not None
        reset_postgres(cfg.postgres_url)
        url = cfg.postgres_url
    else:
        url = f"sqlite:///{cfg.workdir / name / 'digestbot.db'}"
        (cfg.workdir / name).mkdir(parents=True, exist_ok=True)
    seed(url, cfg.n_email, cfg.n_telegram)
    return url


def _spawn(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=out)


def _copies_so_far(sink: Any, fake: Any) -> int:
    return int(sink.data_commands) + len(fake.all_messages())


def crash_trial(
    cfg: CrashConfig,
    name: str,
    kill_at: float | None = None,
    kill_after: int | None = None,
    sig: signal.Signals = signal.SIGKILL,
) -> TrialResult:
    """Publish; send it ``sig`` (SIGKILL) ``kill_at`` seconds after start, or once
    ``kill_after`` copies went out (neither: don't kill); then publish again to completion.

    Then count copies per destination (per (chat, part) for Telegram) and check that every
    duplicate is explained by a row the dead process held, at its first unrecorded part.
    """
    url = fresh_database(cfg, name)
    trial_dir = cfg.workdir / name
    trial_dir.mkdir(parents=True, exist_ok=True)
    log = trial_dir / "publish.log"
    with transports(cfg) as (sink, fake):
        env = publish_env(
            database_url=url,
            outbox=trial_dir / "outbox",
            smtp_port=sink.port if cfg.n_email else None,
            telegram_url=fake.base_url if cfg.n_telegram else None,
            telegram_token=fake.token if cfg.n_telegram else None,
            extra=cfg.extra_env,
        )
        t0 = time.monotonic()
        proc = _spawn(publish_cmd(), env, trial_dir, log)
        killed = False
        if kill_at is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=kill_at)
        elif kill_after is not None:
            while proc.poll() is None and _copies_so_far(sink, fake) < kill_after:
                time.sleep(0.002)
        if (kill_at is not None or kill_after is not None) and proc.poll() is None:
            proc.send_signal(sig)
            killed = True
            kill_at = time.monotonic() - t0
        rc = proc.wait(timeout=cfg.timeout)
        first_seconds = time.monotonic() - t0
        if not killed and rc != 0:
            raise RuntimeError(f"{name}: publish exited {rc}; see {log}")
        before = len(sink.messages) + len(fake.all_messages())
        leased = {
            (ch, addr): parts
            for ch, addr, status, parts, _owner in ledger_rows(url)
            if status == "sending"
        }
        resume_seconds = 0.0
        if killed or rc != 0:
            t1 = time.monotonic()
            again = _spawn(publish_cmd(), env, trial_dir, log)
            rc2 = again.wait(timeout=cfg.timeout)
            resume_seconds = time.monotonic() - t1
            if rc2 != 0:
                raise RuntimeError(f"{name}: the resumed publish exited {rc2}; see {log}")
        parts = run_async(expected_parts_async(url, env))
        result = tally(
            email_copies(sink), telegram_copies(fake), cfg.n_email, cfg.n_telegram, parts
        )
        count_429 = fake.count_429
        wanted = {email_address(i) for i in range(min(3, cfg.n_email))}
        samples = {m.rcpt_tos[0]: m.data for m in sink.messages if m.rcpt_tos[0] in wanted}
    unexplained = []
    for dest, _extra in result.duplicates:
        if "#" in dest:
            chat, part = dest.split("#")
            recorded = leased.get(("telegram", chat))
            if recorded is None or recorded != int(part):
                unexplained.append(dest)
        elif ("email", dest) not in leased:
            unexplained.append(dest)
    return TrialResult(
        kill_at=kill_at,
        first_seconds=first_seconds,
        killed=killed,
        copies_before_kill=before,
        leased_at_kill=len(leased),
        resume_seconds=resume_seconds,
        tally=result,
        unexplained=unexplained,
        count_429=count_429,
        outputs=[log.read_text(encoding="utf-8", errors="replace")],
        email_samples=samples,
    )


@dataclass(slots=True)
class WorkersResult:
    seconds: float
    returncodes: list[int]
    tally: Tally
    count_429: int
    sent_by: Counter[str]
    """Emails each worker sent (the pid in their Message-ID), to show both worked."""
    outputs: list[str]


def two_workers(cfg: CrashConfig, name: str, workers: int = 2) -> WorkersResult:
    """``workers`` publish processes started at once on one (PostgreSQL) database."""
    url = fresh_database(cfg, name)
    trial_dir = cfg.workdir / name
    with transports(cfg) as (sink, fake):
        env = publish_env(
            database_url=url,
            outbox=trial_dir / "outbox",
            smtp_port=sink.port if cfg.n_email else None,
            telegram_url=fake.base_url if cfg.n_telegram else None,
            telegram_token=fake.token if cfg.n_telegram else None,
            extra=cfg.extra_env,
        )
        logs = [trial_dir / f"worker{i}.log" for i in range(workers)]
        t0 = time.monotonic()
        procs = [_spawn(publish_cmd(), env, trial_dir, log) for log in logs]
        rcs = [p.wait(timeout=cfg.timeout) for p in procs]
        seconds = time.monotonic() - t0
        parts = run_async(expected_parts_async(url, env))
        result = tally(
            email_copies(sink), telegram_copies(fake), cfg.n_email, cfg.n_telegram, parts
        )
        count_429 = fake.count_429
        # make_msgid() puts the sending process's pid in every Message-ID
        pids = {str(p.pid): f"worker{i}" for i, p in enumerate(procs)}
        sent_by: Counter[str] = Counter(
            pids.get(str(m.message["Message-ID"]).split(".")[1], "?") for m in sink.messages
        )
    outputs = [log.read_text(encoding="utf-8", errors="replace") for log in logs]
    return WorkersResult(seconds, rcs, result, count_429, sent_by, outputs)


# -- a counting SMTP server in its own process -----------------------------------------------


def _sink_process(
    ready: Any, count: Any, first: Any, last: Any, nbytes: Any, host: str, port: int
) -> None:
    import logging

    from aiosmtpd.smtp import SMTP

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parent = os.getppid()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.monotonic()
            if count.value == 0:
                first.value = now
            last.value = now
            count.value += 1
            nbytes.value += len(envelope.original_content or envelope.content or b"")
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = Handler()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.bench", ident="bench-sink"), host, port
        )
        ready.put(server.sockets[0].getsockname()[1])
        orphaned = asyncio.Event()

        def check() -> None:  # don't outlive the bench (killed, crashed)
            if os.getppid() != parent:
                orphaned.set()
            else:
                loop.call_later(1.0, check)

        check()
        await orphaned.wait()

    asyncio.run(serve())


class CountingSink:
    """aiosmtpd that only counts, in a process of its own (its CPU is not charged to us)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        ctx = multiprocessing.get_context("spawn")
        self.host = host
        self._count = ctx.RawValue("q", 0)
        self._bytes = ctx.RawValue("q", 0)
        self._first = ctx.RawValue("d", 0.0)
        self._last = ctx.RawValue("d", 0.0)
        self._ready: Any = ctx.Queue()
        self._proc = ctx.Process(
            target=_sink_process,
            args=(self._ready, self._count, self._first, self._last, self._bytes, host, 0),
            daemon=True,
        )
        self.port = 0

    def __enter__(self) -> CountingSink:
        self._proc.start()
        self.port = int(self._ready.get(timeout=30))
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.join(timeout=10)

    def reset(self) -> None:
        self._count.value = 0
        self._bytes.value = 0
        self._first.value = 0.0
        self._last.value = 0.0

    @property
    def count(self) -> int:
        return int(self._count.value)

    @property
    def span(self) -> float:
        """Seconds from the first to the last accepted message."""
        return float(self._last.value - self._first.value)

    @property
    def pid(self) -> int:
        return int(self._proc.pid or 0)

    def cpu_seconds(self) -> float:
        import psutil  # type: ignore[import-untyped]

        t = psutil.Process(self.pid).cpu_times()
        return float(t.user + t.system)

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink got {self.count} of {n} messages")
            time.sleep(0.01)


async def raw_smtp_loop(host: str, port: int, message: bytes, n: int, connections: int) -> float:
    """Send ``message`` ``n`` times over ``connections`` aiosmtplib connections; seconds."""
    import aiosmtplib

    left = n
    conns = [
        aiosmtplib.SMTP(hostname=host, port=port, use_tls=False, start_tls=False)
        for _ in range(connections)
    ]
    for c in conns:
        await c.connect()

    async def worker(conn: aiosmtplib.SMTP) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await conn.sendmail("digest@example.org", [email_address(left)], message)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    seconds = time.perf_counter() - t0
    for c in conns:
        await c.quit()
    return seconds


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
