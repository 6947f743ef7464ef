"""What one load of the content store holds: papers, their files, overrides and problems."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from digestbot.models import IssueOverride, Paper, PaperHead, Status
from digestbot.topics import Topic
from digestbot.weeks import Week


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one file, reported as ``path:line: field: message``."""

    path: Path
    line: int
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """What one paper file says on its own: its paper, or its problems (what the cache keeps)."""

    paper: PaperHead | None = None
    """The whole Paper, or its head when the parse cache held it without its summaries."""
    id_line: int = 1
    problems: tuple[Problem, ...] = ()
    invalid_id: str | None = None
    stamp: bytes | None = None
    """The file's stat when it was read (set by the parse cache, which compares it)."""


class PathMap(Mapping[str, Path]):
    """Paper id → file, kept as strings (a Path per paper would cost ~400 bytes each)."""

    __slots__ = ("_names",)

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def __getitem__(self, arxiv_id: str) -> Path:
        return Path(self._names[arxiv_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, arxiv_id: object) -> bool:
        return arxiv_id in self._names

    def set(self, arxiv_id: str, name: str) -> None:
        self._names[arxiv_id] = name

    def discard(self, arxiv_id: str) -> None:
        self._names.pop(arxiv_id, None)


@dataclass(slots=True)
class Snapshot:
    """Everything the store held at one load: valid papers, overrides, and what was wrong.

    ``papers`` holds recent papers whole and the others as heads (no summaries, see
    ``ContentStore.load``): whatever shows a summary asks ``whole(arxiv_id)``."""

    papers: dict[str, PaperHead] = field(default_factory=dict)
    paths: PathMap = field(default_factory=lambda: PathMap())
    overrides: dict[Week, IssueOverride] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    invalid_ids: dict[str, Path] = field(default_factory=dict)
    files: int = 0
    topics: tuple[Topic, ...] = ()
    """The topic list of ``topics.yaml`` (those entries that validated)."""
    reader: Callable[[PaperHead], Paper | None] | None = field(default=None, compare=False)
    """Reads a held-as-head paper whole from its file (set by the store that loaded this)."""

    def whole(self, arxiv_id: str) -> Paper | None:
        """The paper ``arxiv_id`` with its summaries: as held when recent, else read again
        from its file (None when unknown, or when its file no longer gives that paper)."""
        head = self.papers.get(arxiv_id)
        if head is None or isinstance(head, Paper):
            return head
        return None if self.reader is None else self.reader(head)

    def wholes(self, arxiv_ids: Iterable[str]) -> list[Paper]:
        """``whole`` of each known id, in order (unknown ids left out)."""
        out = []
        for pid in arxiv_ids:
            paper = self.whole(pid)
            if paper is not None:
                out.append(paper)
        return out

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    def ready(self) -> dict[str, PaperHead]:
        """The papers that may be published and searched (drafts left out)."""
        return {k: p for k, p in self.papers.items() if p.status is Status.READY}

    def problems_for(self, arxiv_ids: Iterable[str]) -> list[str]:
        """Why each of these papers cannot be published (draft, invalid, missing)."""
        out = []
        for pid in arxiv_ids:
            paper = self.papers.get(pid)
            if pid in self.invalid_ids:
                out.append(f"{pid}: its file {self.invalid_ids[pid]} does not validate")
            elif paper is None:
                out.append(f"{pid}: no such paper in the content store")
            elif paper.status is not Status.READY:
                out.append(f"{pid}: status is draft (set status: ready in {self.paths[pid]})")
        return out
