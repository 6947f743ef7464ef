"""Writing importer output into the content store without ever touching editors' work.

Every importer turns its source into :class:`Record` values and hands them to
:func:`apply_records`, which decides, per paper:

- no file yet: write a new file with every field the source gave (``status: draft`` for
  Hugging Face and arXiv; ``status: ready`` for an archive of already published posts),
  tagged with the topics of ``topics.yaml`` its titles and summaries mention;
- a file exists, mode :attr:`Mode.REFRESH` (Hugging Face, arXiv): update only the
  machine-owned fields (:data:`~digestbot.content.store.MACHINE_FIELDS`: ``score`` and
  ``links``) and leave every other field and the body as the editor left them;
- a file exists, mode :attr:`Mode.KEEP` (Markdown archive): leave it unchanged.

With ``dry_run`` nothing is written; the report says what would have been.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digestbot.content import frontmatter
from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import MACHINE_FIELDS, ContentStore
from digestbot.models import Paper, Status

__all__ = [
    "ImportProblem",
    "ImportReport",
    "Mode",
    "Outcome",
    "Record",
    "apply_record",
    "apply_records",
    "arxiv_id_from_url",
    "merge_machine_fields",
    "new_file_meta",
    "plural",
]

_LINK_KEYS = ("code", "project", "hf")
_ARXIV_URL = re.compile(
    r"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>.+?)(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)


class Mode(enum.Enum):
    """What to do with a paper whose file already exists."""

    REFRESH = "refresh"  # update machine-owned fields (score, links)
    KEEP = "keep"  # leave the file exactly as it is


class Outcome(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Record:
    """One paper as a source describes it. ``score=None``: the source has no score."""

    arxiv_id: str
    title_en: str
    date: dt.date
    title_zh: str = ""
    summary_en: str = ""
    summary_zh: str = ""
    authors: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)
    score: int | None = None
    abstract: str = ""
    status: Status = Status.DRAFT


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Something an importer could not use, reported as ``where: message``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool = False
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[ImportProblem] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed_ids: list[str] = field(default_factory=list)
    #: Counts a source adds to the summary line (files, issues...); the problems then always
    #: follow, ``0 problems`` included.
    totals: list[str] = field(default_factory=list)
    files: int = 0

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] += n

    def problem(self, where: str, message: str) -> None:
        self.problems.append(ImportProblem(where, message))

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        upd = "would update" if self.dry_run else "updated"
        parts = [
            f"{verb} {plural(len(self.new), 'new paper')}",
            f"{upd} {len(self.updated)}",
            f"unchanged {len(self.unchanged)}",
        ]
        total_skipped = sum(self.skipped.values())
        if total_skipped:
            if len(self.skipped) == 1:
                (reason,) = self.skipped
                parts.append(f"skipped {total_skipped} ({reason})")
            else:
                why = ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
                parts.append(f"skipped {total_skipped} ({why})")
        if self.totals:
            return (
                ", ".join(parts)
                + "; "
                + ", ".join([*self.totals, plural(len(self.problems), "problem")])
            )
        if self.problems:
            parts.append(plural(len(self.problems), "problem"))
        return ", ".join(parts)

    def lines(self) -> list[str]:
        """Problems first (``where: message``), then notes and actions, then the summary line."""
        out = [str(p) for p in self.problems]
        out.extend(self.actions)
        out.extend(self.notes)
        out.append(("dry run: " if self.dry_run else "") + self.summary())
        return out


# -- pure parts ------------------------------------------------------------------------------


def arxiv_id_from_url(url: str) -> str | None:
    """``https://arxiv.org/abs/2404.08634v2`` (or ``/pdf/…``) → ``2404.08634``; else None."""
    m = _ARXIV_URL.match(url.strip())
    if not m:
        return None
    try:
        return normalize_arxiv_id(m.group("id"))
    except ValueError:
        return None


def _clean_links(links: Mapping[str, str]) -> dict[str, str]:
    return {k: v.strip() for k, v in links.items() if k in _LINK_KEYS and v and v.strip()}


def new_file_meta(rec: Record, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """The front matter of a new file for ``rec``: every field, empty ones included for editors.

    ``tags`` are the topics the tagger found; recorded in ``auto_tags`` too, so a later
    ``digestbot tag`` may refresh them until an editor changes them.
    """
    return {
        "arxiv_id": rec.arxiv_id,
        "title_en": rec.title_en,
        "title_zh": rec.title_zh,
        "date": rec.date,
        "status": rec.status.value,
        "score": rec.score or 0,
        "authors": list(rec.authors),
        "links": _clean_links(rec.links),
        "tags": list(tags),
        "auto_tags": list(tags),
        "summary_en": rec.summary_en,
        "summary_zh": rec.summary_zh,
    }


def _as_paper(rec: Record) -> Paper:
    return Paper(
        arxiv_id=rec.arxiv_id,
        title_en=rec.title_en,
        date=rec.date,
        title_zh=rec.title_zh,
        summary_en=rec.summary_en,
        summary_zh=rec.summary_zh,
    )


def merge_machine_fields(meta: Mapping[str, Any], rec: Record) -> dict[str, Any] | None:
    """``meta`` with the machine-owned fields refreshed from ``rec``; None when nothing changes.

    Only keys in :data:`MACHINE_FIELDS` can differ between input and output. Links are merged
    key by key: a link the source gives replaces the stored one; links it lacks are kept.
    """
    out = dict(meta)
    if rec.score is not None and meta.get("score") != rec.score:
        out["score"] = rec.score
    fresh = _clean_links(rec.links)
    if fresh:
        old = meta.get("links")
        merged: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
        merged.update(fresh)
        if merged != old:
            out["links"] = merged
    return out if out != dict(meta) else None


def _describe_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(MACHINE_FIELDS):
        if old.get(key) != new.get(key):
            parts.append(f"{key} {old.get(key)!r} → {new.get(key)!r}")
    return "; ".join(parts)


# -- writing ---------------------------------------------------------------------------------


def _shown(store: ContentStore, path: Path) -> str:
    try:
        return str(path.relative_to(store.root))
    except ValueError:
        return str(path)


def apply_record(
    store: ContentStore,
    rec: Record,
    *,
    mode: Mode,
    dry_run: bool,
    report: ImportReport,
    seen: set[str] | None = None,
) -> Outcome:
    """Write (or plan) one record; record the outcome in ``report``."""
    if seen is not None:
        if rec.arxiv_id in seen:
            report.unchanged.append(rec.arxiv_id)
            return Outcome.UNCHANGED
        seen.add(rec.arxiv_id)
    path = store.find_path(rec.arxiv_id)
    if path is None:
        path = store.paper_path(rec.arxiv_id, rec.date)
        if dry_run:
            report.actions.append(
                f"would write {_shown(store, path)} ({rec.status.value}: {rec.title_en})"
            )
        else:
            tags = store.topic_matcher().tags_for(_as_paper(rec))
            store.write_meta(path, new_file_meta(rec, tags), rec.abstract)
        report.new.append(rec.arxiv_id)
        return Outcome.NEW
    if mode is Mode.KEEP:
        report.unchanged.append(rec.arxiv_id)
        return Outcome.UNCHANGED
    try:
        meta, body = store.read_meta(path)
    except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError) as exc:
        line = exc.line if isinstance(exc, frontmatter.FrontMatterError) else 1
        report.problem(
            f"{path}:{line}",
            f"cannot refresh {rec.arxiv_id}: {exc}; fix the file and import again",
        )
        report.failed_ids.append(rec.arxiv_id)
        return Outcome.FAILED
    merged = merge_machine_fields(meta, rec)
    if merged is None:
        report.unchanged.append(rec.arxiv_id)
        return Outcome.UNCHANGED
    if dry_run:
        report.actions.append(
            f"would update {_shown(store, path)}: {_describe_change(meta, merged)}"
        )
    else:
        store.write_meta(path, merged, body)
    report.updated.append(rec.arxiv_id)
    return Outcome.UPDATED


def apply_records(
    store: ContentStore,
    records: Iterable[Record],
    *,
    mode: Mode,
    dry_run: bool,
    report: ImportReport,
) -> None:
    seen: set[str] = set()
    for rec in records:
        apply_record(store, rec, mode=mode, dry_run=dry_run, report=report, seen=seen)
