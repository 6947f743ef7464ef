"""What the service's commands report: checks, publishes, exports and the status."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from digestbot.content.snapshot import Problem
from digestbot.delivery.issuebook import IssueRecord
from digestbot.models import Destination
from digestbot.summarize.coverage import WeekCoverage

__all__ = ["ChannelReport", "CheckReport", "ExportReport", "PublishReport", "StatusReport"]


@dataclass(slots=True)
class CheckReport:
    files: int
    papers: int
    ready: int
    overrides: int
    problems: list[Problem]
    language_gaps: list[WeekCoverage] = field(default_factory=list)
    """Weeks whose ready papers lack a summary in a language (warnings)."""

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def summary(self) -> str:
        errors = sum(1 for p in self.problems if p.severity == "error")
        warnings = len(self.problems) - errors + len(self.language_gaps)
        head = (
            f"{self.files} files: {self.papers} papers ({self.ready} ready), "
            f"{self.overrides} week overrides"
        )
        if errors:
            return f"{head}; {errors} errors, {warnings} warnings"
        return f"ok: {head}" + (f"; {warnings} warnings" if warnings else "")


@dataclass(slots=True)
class ChannelReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0


@dataclass(slots=True)
class PublishReport:
    week: str
    title: str
    papers: int
    dry_run: bool = False
    already_published: bool = False
    planned: int = 0
    """Destinations planned by this call (0 when the issue was planned before)."""
    destinations: list[tuple[Destination, str]] = field(default_factory=list)
    """A dry run's destinations, listed (a real publish streams them and keeps none)."""
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str, str]] = field(default_factory=list)
    """(channel, address, last error) of rows waiting to be tried again."""
    complete: bool = False
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels.values())

    @property
    def exit_code(self) -> int:
        """0 when every copy went out (or a dry run); 1 with failed or unfinished rows."""
        if self.dry_run:
            return 0
        if self.failed:
            return 1
        return 0 if self.already_published or self.complete else 1

    def _failed_lines(self) -> list[str]:
        out = [
            f"  failed {channel} {address}: {error}" for channel, address, error in self.failures
        ]
        if self.failed > len(self.failures):
            out.append(f"  … and {self.failed - len(self.failures)} more failed")
        if self.failed:
            out.append(
                f"{self.failed} deliveries of {self.week} failed: "
                f"`digestbot publish --retry-failed --week {self.week}` tries them again."
            )
        return out

    def lines(self) -> list[str]:
        out = [f"{self.week} {self.title}: {self.papers} papers"]
        if self.already_published:
            out.append(f"{self.week} is already published: nothing new to send.")
            out.extend(self._failed_lines())
            return out
        if self.dry_run:
            out.append(f"dry run: would send to {self.planned} destinations:")
            for d, transport in self.destinations:
                out.append(f"  {d.channel.value} {d.address} ({d.lang.value}) via {transport}")
            out.extend(self.notes)
            return out
        for name, c in sorted(self.channels.items()):
            line = (
                f"{name}: {c.sent} sent, {c.retried} retried, {c.failed} failed, "
                f"{c.skipped} skipped"
            )
            if c.pending:
                line += f", {c.pending} waiting to retry"
            out.append(line)
        for channel, address, error in self.waiting:
            out.append(f"  waiting {channel} {address}: {error}")
        out.extend(self._failed_lines())
        out.extend(self.notes)
        if self.complete:
            done = f"{self.week} published in {self.seconds:.1f}s"
            but = ", except the failed deliveries above" if self.failed else ""
            out.append(f"{done}{but}.")
        else:
            out.append(
                f"{self.week} not finished: run `digestbot publish --week {self.week}` "
                "again (or keep `digestbot run` going) to resume from the ledger."
            )
        return out


@dataclass(slots=True)
class ExportReport:
    """What ``export markdown`` wrote: (week, path, papers, changed) per post."""

    out: Path
    posts: list[tuple[str, Path, int, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{'wrote' if changed else 'unchanged'} {path} ({week}, {n} paper{'s' * (n != 1)})"
            for week, path, n, changed in self.posts
        ]
        out.extend(self.notes)
        written = sum(changed for *_rest, changed in self.posts)
        total = len(self.posts)
        out.append(
            f"exported {total} post{'s' * (total != 1)} to {self.out}: {written} written, "
            f"{total - written} unchanged"
        )
        return out


@dataclass(slots=True)
class StatusReport:
    last_issue: IssueRecord | None
    subscribers: dict[tuple[str, str], int]
    backlog: int
    papers: int
    next_run: dt.datetime | None = None
    failed: int = 0
    """Deliveries given up (every issue); ``failures``: the newest, (week, channel,
    address, reason)."""
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
