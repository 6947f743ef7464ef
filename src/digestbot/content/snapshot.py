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

    def name(self, arxiv_id: str) -> str | None:
        """The file of ``arxiv_id`` as the string kept, or None."""
        return self._names.get(arxiv_id)

    def set(self, arxiv_id: str, name: str) -> None:
        self._names[arxiv_id] = name

    def discard(self, arxiv_id: str) -> None:
        self._names.pop(arxiv_id, None)


class Ready(Mapping[str, PaperHead]):
    """The ready papers of a map of papers, as a read-only view of it."""

    __slots__ = ("_count", "_papers")

    def __init__(self, papers: Mapping[str, PaperHead]) -> None:
        self._papers = papers
        self._count = sum(1 for p in papers.values() if p.status is Status.READY)

    def __getitem__(self, arxiv_id: str) -> PaperHead:
        paper = self._papers[arxiv_id]
        if paper.status is not Status.READY:
            raise KeyError(arxiv_id)
        return paper

    def __iter__(self) -> Iterator[str]:
        return (k for k, p in self._papers.items() if p.status is Status.READY)

    def __len__(self) -> int:
        return self._count


@dataclass(slots=True, weakref_slot=True)
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

    def ready(self) -> Ready:
        """The papers that may be published and searched (drafts left out): a view of
        ``papers``, not a second map of them (~5 MiB at 100,000 papers, at start-up's peak)."""
        return Ready(self.papers)

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
