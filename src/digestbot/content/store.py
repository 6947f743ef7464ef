"""The content store: load and validate paper files and week overrides; write importer output."""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import os
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from digestbot.content import files, frontmatter
from digestbot.content.files import ContentLimits
from digestbot.content.schema import OverrideFile, PaperFile
from digestbot.content.snapshot import ParsedFile, PathMap, Problem, Snapshot
from digestbot.errors import UnsafeContentFile, WeekError
from digestbot.models import IssueOverride, Links, Paper, PaperHead, Status
from digestbot.weeks import Week

if TYPE_CHECKING:
    from digestbot.content.cache import PaperCache
    from digestbot.topics import TopicMatcher

# Problem, Snapshot, ParsedFile and PathMap live in content/snapshot.py; importers of this
# module get them here too.
__all__ = [
    "MACHINE_FIELDS",
    "ContentStore",
    "ParsedFile",
    "PathMap",
    "Problem",
    "Snapshot",
    "trim_heap",
]

#: The recency rule of ``digestbot run`` and the other commands built on
#: ``wiring.build_store``: papers listed within this many weeks of the newest paper, drafts,
#: and papers named by the overrides of those weeks are held whole (about two months: the
#: weeks an editor previews and publishes, and the latest issues readers open).
RECENT_WEEKS = 8
#: How many papers read whole again from their files (``Snapshot.whole``) are kept.
WHOLE_LRU = 256


#: Fields importers own and may refresh on re-import; everything else belongs to editors.
MACHINE_FIELDS = frozenset({"score", "links"})


def _paper_from(model: PaperFile, body: str) -> Paper:
    return Paper(
        arxiv_id=model.arxiv_id,
        title_en=model.title_en,
        title_zh=model.title_zh,
        summary_en=model.summary_en,
        summary_zh=model.summary_zh,
        date=model.date,
        # names and tags recur across papers: one shared string each (the parse cache
        # keeps the sharing, as marshal writes a shared object once)
        authors=tuple(sys.intern(a) for a in model.authors),
        links=Links(code=model.links.code, project=model.links.project, hf=model.links.hf),
        score=model.score,
        tags=tuple(sys.intern(t) for t in model.tags),
        status=model.status,
        abstract=body.strip(),
    )


def _describe(err: Mapping[str, Any]) -> tuple[str, str]:
    loc = ".".join(str(p) for p in err["loc"]) or "front matter"
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        msg = "required field is missing"
    elif kind == "extra_forbidden":
        msg = "unknown field (check its spelling)"
    return loc, msg


class ContentStore:
    """Paper files under ``<root>/papers/<year>/<id>.md`` and overrides under ``<root>/issues``."""

    def __init__(
        self,
        root: Path,
        *,
        cache: PaperCache | None = None,
        limits: ContentLimits | None = None,
        bodies: bool = True,
        recent_weeks: int | None = None,
    ) -> None:
        self.root = root
        #: None: every paper is held whole. A number: only "recent" papers are (drafts, and
        #: papers listed within that many weeks of the newest paper's date or named by an
        #: override of those weeks); the others are held as ``PaperHead``s and read whole
        #: from their files when shown (``Snapshot.whole``).
        self.recent_weeks = recent_weeks
        self._wholes: OrderedDict[tuple[str, int, int, int, int], Paper] = OrderedDict()
        self._wholes_lock = threading.Lock()
        self.limits = limits or ContentLimits()
        #: Whether papers keep their file's Markdown body (``Paper.abstract``): only the
        #: summarizer reads it, so the long-running process's store leaves it in the file.
        self.bodies = bodies
        self.cache = cache
        if cache is not None:
            cache.variant = f"{self.limits.key}/{'bodies' if bodies else 'no bodies'}"
            cache.recent_days = None if recent_weeks is None else 7 * recent_weeks
        self._override_stamps: list[tuple[str, float, int]] | None = None
        self._last: weakref.ref[Snapshot] | None = None  # the last load, while it is alive
        self._matcher: tuple[list[tuple[str, float, int]], TopicMatcher] | None = None

    @property
    def papers_dir(self) -> Path:
        return self.root / "papers"

    @property
    def issues_dir(self) -> Path:
        return self.root / "issues"

    def paper_path(self, arxiv_id: str, date: dt.date) -> Path:
        return self.papers_dir / f"{date.year}" / f"{arxiv_id.replace('/', '_')}.md"

    def _paper_files(self) -> list[str]:
        """Every paper file, as sorted strings (cheaper than Paths for 100,000 files)."""
        if not self.papers_dir.is_dir():
            return []
        names: list[str] = []
        for dirpath, _dirs, names_here in os.walk(self.papers_dir):
            names.extend(os.path.join(dirpath, n) for n in names_here if n.endswith(".md"))
        names.sort()
        return names

    def load(self) -> Snapshot:
        """Load every file; invalid ones become problems and the rest still load.

        A paper whose file the last load saw unchanged (by the parse cache's stamps) is
        the object that load gave, while its snapshot is still alive: a reload after an
        edit holds the papers once, not twice (~100 MB at 100,000 papers)."""
        previous = self._last() if self._last is not None else None
        snap = self._load_papers(previous)
        del previous
        if self.cache is not None and self.cache.compact_after_parsing():
            # Parsing many files left the papers' strings scattered among freed parser
            # objects (memory a long-running process keeps). Load again from the cache
            # file just written: the same outcome, laid out compactly (~25 MB less RSS at
            # 100,000 papers, for a few seconds more on a cold start).
            del snap
            gc.collect()
            snap = self._load_papers(None)
        overrides = self._override_files()
        for path in overrides:
            snap.files += 1
            self._load_override(path, snap)
        self._load_topics(snap)
        self._override_stamps = _stamps([*overrides, self.topics_path])
        self._hold_recent_whole(snap)
        for paper in snap.papers.values():
            if paper.status is Status.DRAFT:
                snap.problems.append(
                    Problem(
                        snap.paths[paper.arxiv_id],
                        1,
                        "status",
                        "draft: not published until an editor sets status: ready",
                        "warning",
                    )
                )
        snap.problems.sort(key=lambda p: (str(p.path), p.line))
        self._last = weakref.ref(snap)
        return snap

    def recent_cutoff(self, snap: Snapshot) -> dt.date | None:
        """Papers listed on this day or later are held whole (None: every paper is)."""
        if self.recent_weeks is None or not snap.papers:
            return None
        newest = max(p.date for p in snap.papers.values())
        return newest - dt.timedelta(weeks=self.recent_weeks)

    def _hold_recent_whole(self, snap: Snapshot) -> None:
        """The recency rule: recent papers whole, the others as heads (memory the summaries
        of a large back catalogue would take); the parse cache keeps what the snapshot
        holds, so nothing else holds the summaries of old papers."""
        snap.reader = self._reader(snap.paths)
        cutoff = self.recent_cutoff(snap)
        named: set[str] = set()
        if cutoff is not None:
            for week, override in snap.overrides.items():
                if week.sunday >= cutoff:
                    named.update(override.papers)
        for pid, paper in list(snap.papers.items()):
            keep = (
                cutoff is None
                or paper.status is Status.DRAFT
                or paper.date >= cutoff
                or pid in named
            )
            if keep == isinstance(paper, Paper):
                continue
            held: PaperHead | None
            if keep:
                held = self._read_whole(snap.paths, paper)
                if held is None:  # the file went away under us: the next reload sees it
                    continue
            else:
                assert isinstance(paper, Paper)
                held = paper.head()
            snap.papers[pid] = held

    def _reader(self, paths: PathMap) -> Callable[[PaperHead], Paper | None]:
        def read(head: PaperHead) -> Paper | None:
            return self._read_whole(paths, head)

        return read

    def _read_whole(self, paths: PathMap, head: PaperHead) -> Paper | None:
        """``head`` with its summaries: its file parsed again (~150 µs; the last
        ``WHOLE_LRU`` are kept, by the file's stat). A file edited since the load gives the
        paper as it is now (what a reload would hold); None when the file is gone or no
        longer holds a valid paper of that id."""
        if head.arxiv_id not in paths:
            return None
        name = str(paths[head.arxiv_id])
        try:
            st = os.stat(name)
        except OSError:
            return None
        key = (name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        with self._wholes_lock:
            found = self._wholes.get(key)
            if found is not None:
                self._wholes.move_to_end(key)
                return found
        paper = self._parse_paper(Path(name)).paper
        if not isinstance(paper, Paper) or paper.arxiv_id != head.arxiv_id:
            return None
        with self._wholes_lock:
            self._wholes[key] = paper
            while len(self._wholes) > WHOLE_LRU:
                self._wholes.popitem(last=False)
        return paper

    def unchanged_since_load(self) -> bool:
        """True when no paper or override file was added, removed or edited since the last
        ``load``: then a reload would give the same snapshot. Needs the parse cache (which
        holds each file's stat); allocates nothing that outlives the call."""
        if self.cache is None or self._override_stamps is None:
            return False
        if not self.cache.all_unchanged(self._paper_files()):
            return False
        return _stamps([*self._override_files(), self.topics_path]) == self._override_stamps

    @property
    def topics_path(self) -> Path:
        from digestbot.content.topics import TOPICS_FILE

        return self.root / TOPICS_FILE

    def topic_matcher(self) -> TopicMatcher:
        """A matcher of the valid topics of ``topics.yaml`` as the file is now."""
        from digestbot.content.topics import load_topics
        from digestbot.topics import TopicMatcher

        stamp = _stamps([self.topics_path])
        if self._matcher is None or self._matcher[0] != stamp:
            self._matcher = (stamp, TopicMatcher(load_topics(self.root).topics))
        return self._matcher[1]

    def _load_topics(self, snap: Snapshot) -> None:
        from digestbot.content.topics import load_topics

        found = load_topics(self.root)
        snap.topics = tuple(found.topics)
        snap.problems.extend(found.problems)

    def _override_files(self) -> list[Path]:
        if not self.issues_dir.is_dir():
            return []
        return sorted(self.issues_dir.glob("*.y*ml"))

    def _load_papers(self, previous: Snapshot | None) -> Snapshot:
        snap = Snapshot()
        duplicates: dict[str, list[tuple[str, int]]] = {}
        for name in self._paper_files():
            snap.files += 1
            self._load_paper(name, snap, duplicates, previous)
        if self.cache is not None:
            self.cache.save()
        for arxiv_id, holders in duplicates.items():
            self._refuse_duplicate(arxiv_id, holders, snap)
        return snap

    def _refuse_duplicate(
        self, arxiv_id: str, later: list[tuple[str, int]], snap: Snapshot
    ) -> None:
        """Two or more files hold one id: an error on each, naming the others; none served
        (which one is right is the editor's call, not the file system's order)."""
        first = str(snap.paths[arxiv_id])
        holders = [(first, self._parse_paper(Path(first)).id_line), *later]
        del snap.papers[arxiv_id]
        snap.paths.discard(arxiv_id)
        snap.invalid_ids[arxiv_id] = Path(first)
        for name, line in holders:
            others = ", ".join(other for other, _ in holders if other != name)
            snap.problems.append(
                Problem(
                    Path(name),
                    line,
                    "arxiv_id",
                    f"duplicate id {arxiv_id}: also in {others}; keep one file "
                    "(neither is published or shown until then)",
                )
            )

    def _load_paper(
        self,
        name: str,
        snap: Snapshot,
        duplicates: dict[str, list[tuple[str, int]]],
        previous: Snapshot | None,
    ) -> None:
        cached, stamp = (None, None) if self.cache is None else self.cache.lookup(name)
        parsed = cached or self._parse_paper(Path(name))
        if cached is None and self.cache is not None:
            self.cache.store(name, stamp, parsed)
        snap.problems.extend(parsed.problems)
        if parsed.invalid_id is not None:
            snap.invalid_ids[parsed.invalid_id] = Path(name)
        model = parsed.paper
        if model is None:
            return
        if cached is not None and previous is not None and self.cache is not None:
            held = previous.papers.get(model.arxiv_id)
            if (
                type(held) is type(model)
                and previous.paths.name(model.arxiv_id) == name
                and self.cache.seen_unchanged(name, stamp)
            ):
                model = held  # the same file, unchanged: the same paper
        elif cached is None and self.recent_weeks is not None and isinstance(model, Paper):
            # parsed, held as a head while the load goes on (a cold load of 100,000 files would
            # otherwise hold every summary at once): ``_hold_recent_whole`` reads the
            # recent ones whole again once the newest date is known
            model = model.head()
        if model.arxiv_id in snap.papers:
            duplicates.setdefault(model.arxiv_id, []).append((name, parsed.id_line))
            return
        snap.papers[model.arxiv_id] = model
        snap.paths.set(model.arxiv_id, name)

    def _parse_paper(self, path: Path) -> ParsedFile:
        """Read and validate one paper file, on its own (duplicates are checked by the caller)."""
        try:
            text = self._read(path)
        except UnsafeContentFile as exc:
            return ParsedFile(problems=(Problem(path, 1, "file", str(exc)),))
        except (OSError, UnicodeDecodeError) as exc:
            return ParsedFile(problems=(Problem(path, 1, "file", f"cannot read: {exc}"),))
        try:
            doc = frontmatter.parse(text)
        except frontmatter.FrontMatterError as exc:
            return ParsedFile(problems=(Problem(path, exc.line, "front matter", str(exc)),))
        try:
            model = PaperFile.model_validate(doc.meta)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc, msg = _describe(err)
                line = doc.line_of(str(err["loc"][0])) if err["loc"] else 1
                problems.append(Problem(path, line, loc, msg))
            raw_id = doc.meta.get("arxiv_id")
            invalid = raw_id.strip() if isinstance(raw_id, str) else None
            return ParsedFile(problems=tuple(problems), invalid_id=invalid)
        expected = model.arxiv_id.replace("/", "_")
        if path.stem != expected:
            problem = Problem(
                path,
                doc.line_of("arxiv_id"),
                "arxiv_id",
                f"{model.arxiv_id} does not match the file name: rename it to {expected}.md",
            )
            return ParsedFile(problems=(problem,), invalid_id=model.arxiv_id)
        too_long = self._long_summaries(path, model, doc)
        if too_long:
            return ParsedFile(problems=too_long, invalid_id=model.arxiv_id)
        body = doc.body if self.bodies else ""
        return ParsedFile(_paper_from(model, body), doc.line_of("arxiv_id"))

    def _read(self, path: Path) -> str:
        """A content file's text: a regular file inside the store, under the size cap."""
        return files.read_text(path, root=self.root, max_bytes=self.limits.max_file_bytes)

    def _long_summaries(
        self, path: Path, model: PaperFile, doc: frontmatter.Document
    ) -> tuple[Problem, ...]:
        cap = self.limits.max_summary_chars
        return tuple(
            Problem(
                path,
                doc.line_of(name),
                name,
                f"{len(text):,} characters, over the cap of {cap:,}: shorten it "
                "(or raise DIGESTBOT_CONTENT__MAX_SUMMARY_CHARS)",
            )
            for name, text in (("summary_en", model.summary_en), ("summary_zh", model.summary_zh))
            if len(text) > cap
        )

    def _load_override(self, path: Path, snap: Snapshot) -> None:
        try:
            week = Week.parse(path.stem)
        except WeekError:
            snap.problems.append(
                Problem(path, 1, "file", "name an override file by its week, e.g. 2024-W16.yaml")
            )
            return
        try:
            text = self._read(path)
            data = yaml.safe_load(text) or {}
        except UnsafeContentFile as exc:
            snap.problems.append(Problem(path, 1, "file", str(exc)))
            return
        except (OSError, UnicodeDecodeError) as exc:
            snap.problems.append(Problem(path, 1, "file", f"cannot read: {exc}"))
            return
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            snap.problems.append(Problem(path, line, "yaml", f"YAML does not parse: {exc}"))
            return
        doc = frontmatter.Document(data if isinstance(data, dict) else {}, "", "\n" + text, 0)
        try:
            model = OverrideFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc, msg = _describe(err)
                line = doc.line_of(str(err["loc"][0])) - 1 if err["loc"] else 1
                snap.problems.append(Problem(path, max(line, 1), loc, msg))
            return
        for pid in model.papers:
            if pid not in snap.papers and pid not in snap.invalid_ids:
                snap.problems.append(
                    Problem(path, _line_in(text, pid), "papers", f"{pid}: no such paper")
                )
            elif pid in snap.papers and snap.papers[pid].status is not Status.READY:
                snap.problems.append(
                    Problem(
                        path,
                        _line_in(text, pid),
                        "papers",
                        f"{pid} is a draft: set status: ready in {snap.paths[pid]} "
                        "or drop it from this week",
                    )
                )
        snap.overrides[week] = IssueOverride(
            papers=tuple(model.papers),
            intro_zh=model.intro_zh,
            intro_en=model.intro_en,
            title_zh=model.title_zh,
            title_en=model.title_en,
        )

    # -- writing (importers, summarizer) --------------------------------------------------

    def read_meta(self, path: Path) -> tuple[dict[str, Any], str]:
        """A file's front matter and body, for importers and the summarizer to update;
        UnsafeContentFile (naming the file) when the store would refuse to read it."""
        try:
            text = self._read(path)
        except UnsafeContentFile as exc:
            raise UnsafeContentFile(f"{path}: {exc}") from None
        doc = frontmatter.parse(text)
        return doc.meta, doc.body

    def write_meta(self, path: Path, meta: dict[str, Any], body: str = "") -> None:
        """Write a file atomically (temp file + rename), so a crash never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(frontmatter.dump(meta, body), encoding="utf-8")
        os.replace(tmp, path)

    def find_path(self, arxiv_id: str) -> Path | None:
        """The file holding ``arxiv_id``, wherever its year folder is."""
        name = f"{arxiv_id.replace('/', '_')}.md"
        if not self.papers_dir.is_dir():
            return None
        for year_dir in sorted(self.papers_dir.iterdir()):
            candidate = year_dir / name
            if candidate.is_file():
                return candidate
        return None


def _stamps(paths: list[Path]) -> list[tuple[str, float, int]]:
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime, st.st_size))
    return out


def _line_in(text: str, needle: str) -> int:
    idx = text.find(needle)
    return 1 if idx < 0 else text.count("\n", 0, idx) + 1


def trim_heap() -> None:
    """Give the C heap's free pages back to the OS, where the C library allows it.

    A load that parsed many files frees much of what the YAML parser and the old snapshot
    allocated, but glibc keeps those pages (~25 MB at 100,000 papers): ``malloc_trim``
    returns them. Elsewhere (musl, macOS) this does nothing.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
