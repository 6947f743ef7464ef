"""The content store's parse cache: each paper file's validated result, keyed by its stat.

Parsing YAML and validating it costs about 150 µs a file, so 100,000 files take 15-20 s.
``ContentStore(root, cache=PaperCache(path))`` keeps each file's outcome (its Paper, or its
problems) in one ``marshal`` file and re-parses only files whose size, mtime, ctime or inode
changed. Problems are cached too, so the validation report is the same with or without it.

Derived data: delete the file at any time. It is ignored (and rewritten) when it was made by
another version of the parsing code, Python or PyYAML/pydantic, or cannot be read. Files
changed less than ``RACY_SECONDS`` before they were read are not cached: a second edit within
the file system's timestamp granularity could otherwise go unnoticed. ``marshal`` builds plain
values only (never runs code); the cache lives beside the content and is as trusted as it.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import marshal
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Final

import pydantic
import yaml

from digestbot import models
from digestbot.content import files, frontmatter, schema, snapshot, store
from digestbot.content.snapshot import ParsedFile, Problem
from digestbot.models import Links, Paper, PaperHead, Status

log = logging.getLogger("digestbot.content")

#: Folder, inside the content directory, for derived files (this cache, the search index).
CACHE_DIR_NAME: Final = ".cache"
CACHE_FILE_NAME: Final = "papers.marshal"
FORMAT: Final = "digestbot-paper-cache-6"
_MAGIC: Final = FORMAT.encode() + b"\n"
RACY_SECONDS: Final = 2.0

#: (st_size, st_mtime_ns, st_ctime_ns, st_ino) of a file, packed (65 bytes in memory
#: instead of ~200 for a tuple of four ints), or None when it cannot be stat'ed.
Stamp = bytes | None
_STAMP = struct.Struct("<qqqQ")

_STATUS = {s.value: s for s in Status}
_NO_LINKS = Links()
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    EOFError,
    KeyError,
    IndexError,
    OverflowError,
    struct.error,
)
#: Each part of the file is one ``marshal`` blob after its length.
_LENGTH = struct.Struct("<Q")

#: The cache file's columns: one list each, one item per file, files sorted by path.
#: Columns rather than one tuple per file: decoding then allocates each column's objects
#: together, so the short-lived ones (ints, the lists) free whole memory pools instead of
#: leaving holes between the strings the papers keep (~40 MB of RSS at 100,000 papers).
#: The file is ``FORMAT`` + newline, a header blob ``(key, column names, rows, CHUNK,
#: newest date)``, the ``path`` column in one blob per ``CHUNK`` paths, the ``stamp``
#: column as one ``bytes`` of packed stamps, then per ``CHUNK`` rows one blob of the other
#: columns' slices and one of the long text (``ColumnReader`` reads it; ``PaperCache.save``
#: writes it).
_COLUMNS: Final = (
    "path",
    "stamp",
    "id_line",
    "problems",
    "invalid_id",
    "arxiv_id",
    "title_en",
    "date",
    "title_zh",
    "summary_digest",
    "summary_flags",
    "authors",
    "code",
    "project",
    "hf",
    "score",
    "tags",
    "status",
)
#: The long text (summaries, body): per chunk, ``(summary_en, summary_zh, abstract)`` lists
#: (None for a row stored without them); a reader keeps only the rows it holds whole, so a
#: start-up never builds the summaries of the whole back catalogue, not even for a moment.
_TEXTS: Final = ("summary_en", "summary_zh", "abstract")
CHUNK: Final = 2048


def default_cache_dir(content_root: Path) -> Path:
    """Where derived files live for a content directory: ``<content>/.cache``."""
    return content_root / CACHE_DIR_NAME


@functools.cache
def code_key() -> str:
    """Changes whenever the code or libraries that decide a file's outcome change."""
    digest = hashlib.blake2b(digest_size=16)
    modules = (store, snapshot, files, schema, frontmatter, models, sys.modules[__name__])
    for module in modules:
        if module.__file__:
            digest.update(Path(module.__file__).read_bytes())
    versions = (sys.version, str(marshal.version), pydantic.VERSION, yaml.__version__)
    digest.update("\x1f".join(versions).encode())
    digest.update(str(hasattr(yaml, "CSafeLoader")).encode())
    return digest.hexdigest()


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _STAMP.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _row(parsed: ParsedFile) -> tuple[Any, ...]:
    """One file's row without its path and stamp: the values of ``_ROW_COLUMNS``, then of
    ``_TEXTS`` (None for a paper held without its summaries)."""
    problems = tuple((p.line, p.field, p.message, p.severity) for p in parsed.problems)
    row: tuple[Any, ...] = (parsed.id_line, problems, parsed.invalid_id)
    paper = parsed.paper
    if paper is None:
        return row + (None,) * (len(_ROW_COLUMNS) + len(_TEXTS) - len(row))
    row += (
        paper.arxiv_id,
        paper.title_en,
        paper.date.toordinal(),
        paper.title_zh,
        paper.summary_digest,
        paper.has_summary_en | paper.has_summary_zh << 1,
        paper.authors,
        paper.links.code,
        paper.links.project,
        paper.links.hf,
        paper.score,
        paper.tags,
        paper.status.value,
    )
    if isinstance(paper, Paper):
        return (*row, paper.summary_en, paper.summary_zh, paper.abstract)
    return (*row, None, None, None)


class DamagedCache(ValueError):
    """The cache file is ours but cannot be decoded (it is then rewritten)."""


def _write_blob(out: BinaryIO, value: Any) -> None:
    blob = marshal.dumps(value)
    out.write(_LENGTH.pack(len(blob)))
    out.write(blob)


def _read_blob(src: BinaryIO, size: int) -> Any:
    (length,) = _LENGTH.unpack(src.read(_LENGTH.size))
    if length > size - src.tell():
        raise DamagedCache("a part is longer than the rest of the file")
    blob = src.read(length)
    return marshal.loads(blob)


def write_columns(out: BinaryIO, key: str, columns: dict[str, list[Any]]) -> None:
    """Write ``columns`` (emptied as it goes) under ``key``: the header, the ``path`` and
    ``stamp`` columns whole, then per ``CHUNK`` rows one blob of the other columns' slices
    and one of the long text (``_TEXTS``). The save streams its rows instead
    (:meth:`PaperCache.save`); this writes any columns, for tests of a broken file."""
    paths = columns.get("path")
    rows = len(paths) if isinstance(paths, list) else 0
    texts = [columns.pop(name, None) for name in _TEXTS]
    dates = columns.get("date")
    newest = (
        max((d for d in dates if isinstance(d, int)), default=0) if isinstance(dates, list) else 0
    )
    names = tuple(columns)
    _write_head(
        out, key, names, rows, newest, columns.pop("path", None), columns.pop("stamp", None)
    )
    rest = [columns.pop(name) for name in list(columns)]
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        _write_blob(out, tuple(_part(c, start, stop) for c in rest))
        _write_blob(out, tuple(_part(t, start, stop) for t in texts))


def _write_head(
    out: BinaryIO, key: str, names: tuple[str, ...], rows: int, newest: int, paths: Any, stamps: Any
) -> None:
    """The file up to its first chunk: ``FORMAT``, the header, the paths (one blob per
    ``CHUNK`` of them: a blob of 100,000 paths is 7 MB held at once) and the stamps."""
    out.write(_MAGIC)
    _write_blob(out, (key, names, rows, CHUNK, newest))
    if isinstance(paths, list):
        for start in range(0, rows, CHUNK):
            _write_blob(out, paths[start : start + CHUNK])
    else:
        _write_blob(out, paths)
    _write_blob(out, stamps)


def _part(column: Any, start: int, stop: int) -> Any:
    if isinstance(column, list):
        return column[start:stop]
    return [None] * (stop - start) if column is None else column


_ROW_COLUMNS: Final = _COLUMNS[2:]  # what a row chunk holds (path and stamp come first)


class ColumnReader:
    """A cache file opened for one load: its paths and stamps, and one row chunk at a time.

    A load looks files up in path order, which is the file's row order: each chunk is
    decoded once, and only one chunk's objects exist besides what the papers keep. The
    long text (``_TEXTS``) of a chunk is kept only for the rows held whole: every row when
    ``recent_days`` is None, else drafts and papers listed within ``recent_days`` of the
    newest paper (``ContentStore.recent_weeks``)."""

    def __init__(self, src: BinaryIO, key: str, recent_days: int | None) -> None:
        """Raises ``WrongKey`` when the file was written under another key or version,
        ``DamagedCache`` (or a decode error) when it is ours but broken."""
        self.src = src
        self.size = os.fstat(src.fileno()).st_size
        if src.read(len(_MAGIC)) != _MAGIC:
            if self.size == 0 or src.tell() < len(_MAGIC):
                raise DamagedCache("too short")
            raise WrongKey
        their_key, names, rows, chunk, newest = _read_blob(src, self.size)
        if their_key != key:
            raise WrongKey
        if tuple(names) != _COLUMNS or not isinstance(rows, int) or not isinstance(chunk, int):
            raise DamagedCache("other columns")
        if chunk < 1 or not isinstance(newest, int):
            raise DamagedCache("bad header")
        self.rows, self.chunk = rows, chunk
        self.paths: list[str] = []
        for _ in range(0, rows, chunk):
            part = _read_blob(src, self.size)
            if not isinstance(part, list) or len(part) > chunk:
                raise DamagedCache("column path is not lists of paths")
            self.paths += part
        self._stamps: bytes = _read_blob(src, self.size)
        if len(self.paths) != rows:
            raise DamagedCache(f"column path is not a list of {rows}")
        if not isinstance(self._stamps, bytes) or len(self._stamps) != rows * _STAMP.size:
            raise DamagedCache(f"column stamp is not {rows} stamps")
        if not all(isinstance(p, str) for p in self.paths):
            raise DamagedCache("a path is not a string")
        self.offsets: list[int] = []
        for _ in range(0, rows, chunk):  # where each chunk starts; checks the lengths
            self.offsets.append(src.tell())
            for _blob in range(2):
                (length,) = _LENGTH.unpack(src.read(_LENGTH.size))
                if length > self.size - src.tell():
                    raise DamagedCache("a part is longer than the rest of the file")
                src.seek(length, os.SEEK_CUR)
        self.cutoff = None if recent_days is None else newest - recent_days
        self._index = -1
        self._rows: dict[str, list[Any]] = {}
        self._raw_index = -1
        self._raw: list[list[Any]] = []

    def close(self) -> None:
        self.src.close()
        self._rows, self._raw = {}, []

    def stamp(self, i: int) -> bytes:
        size = _STAMP.size
        return self._stamps[i * size : (i + 1) * size]

    def find(self, path: str) -> int | None:
        i = bisect.bisect_left(self.paths, path)
        return i if i < self.rows and self.paths[i] == path else None

    def parsed(self, i: int) -> ParsedFile:
        """Row ``i`` (decoding its chunk if it is not the current one)."""
        index, j = divmod(i, self.chunk)
        if index != self._index:
            self._rows = {}
            self._rows = self._read_chunk(index)
            self._index = index
        return _decode(Path(self.paths[i]), self._rows, j, self.stamp(i))

    def row(self, i: int) -> tuple[Any, ...]:
        """Row ``i`` as written, long text included (what a save copies), decoding its
        chunk if it is not the one last asked here."""
        index, j = divmod(i, self.chunk)
        if index != self._raw_index:
            self._raw = []
            chunk = self._read_chunk(index, whole=True)
            self._raw = [chunk[name] for name in (*_ROW_COLUMNS, *_TEXTS)]
            self._raw_index = index
        return tuple(column[j] for column in self._raw)

    def _read_chunk(self, index: int, *, whole: bool = False) -> dict[str, list[Any]]:
        start = index * self.chunk
        n = min(self.chunk, self.rows - start)
        self.src.seek(self.offsets[index])
        parts = _read_blob(self.src, self.size)
        texts = _read_blob(self.src, self.size)
        for group, width in ((parts, len(_ROW_COLUMNS)), (texts, len(_TEXTS))):
            if not isinstance(group, tuple) or len(group) != width:
                raise DamagedCache(f"chunk at row {start} has other columns")
            if not all(isinstance(c, list) and len(c) == n for c in group):
                raise DamagedCache(f"chunk at row {start} is not {n} rows")
        rows = dict(zip(_ROW_COLUMNS, parts, strict=True))
        cutoff = self.cutoff
        if cutoff is not None and not whole:
            dates, statuses, draft = rows["date"], rows["status"], Status.DRAFT.value
            kept = [
                j
                for j in range(n)
                if dates[j] is not None and (dates[j] >= cutoff or statuses[j] == draft)
            ]
            texts = tuple(_only(text, kept, n) for text in texts)
        rows.update(zip(_TEXTS, texts, strict=True))
        return rows


def _only(text: list[Any], kept: list[int], n: int) -> list[Any]:
    out: list[Any] = [None] * n
    for j in kept:
        out[j] = text[j]
    return out


class WrongKey(Exception):
    """The cache file was written by another version or under another key: ignored."""


def _decode(path: Path, columns: dict[str, list[Any]], i: int, stamp: Stamp) -> ParsedFile:
    c = columns
    paper: PaperHead | None = None
    if c["arxiv_id"][i] is not None:
        code, project, hf = c["code"][i], c["project"][i], c["hf"][i]
        head = (
            c["arxiv_id"][i],
            c["title_en"][i],
            _date(c["date"][i]),
            c["title_zh"][i],
            c["authors"][i],
            _NO_LINKS
            if code is None and project is None and hf is None
            else Links(code, project, hf),
            c["score"][i],
            c["tags"][i],
            _STATUS[c["status"][i]],
        )
        summary_en = c["summary_en"][i]
        if summary_en is None:
            flags = c["summary_flags"][i]
            paper = PaperHead(*head, c["summary_digest"][i], bool(flags & 1), bool(flags & 2))
        else:
            paper = Paper(
                *head,
                summary_en=summary_en,
                summary_zh=c["summary_zh"][i],
                abstract=c["abstract"][i],
            )
    return ParsedFile(
        paper,
        c["id_line"][i],
        tuple(
            Problem(path, line, field, message, sev)
            for line, field, message, sev in c["problems"][i]
        ),
        c["invalid_id"][i],
        stamp,
    )


@functools.lru_cache(maxsize=8192)
def _date(ordinal: int) -> dt.date:
    return dt.date.fromordinal(ordinal)


def _merge_seen(
    hits: list[str], rows: array.array[int], stamps: bytes, fresh: _Spill | None
) -> tuple[list[str], bytes, array.array[int]]:
    """The files of a load in path order, their stamps packed, and where each one's row
    is: ``hits`` (in path order; ``rows`` their rows in the old file, ``stamps`` theirs)
    and the ``fresh`` ones it parsed (spilled row ``k`` as ``-1 - k``). Every stamp kept
    is a real one: a racy or unreadable file is not kept."""
    order = fresh.order() if fresh is not None else range(0)
    names = fresh.paths if fresh is not None else []
    fresh_stamps = fresh.stamps if fresh is not None else b""
    out: list[str] = []
    packed = bytearray()
    sources = array.array("q")
    size, i, j = _STAMP.size, 0, 0
    while i < len(hits) or j < len(order):
        if j == len(order) or (i < len(hits) and hits[i] < names[order[j]]):
            out.append(hits[i])
            packed += stamps[i * size : (i + 1) * size]
            sources.append(rows[i])
            i += 1
        else:
            k = order[j]
            out.append(names[k])
            packed += fresh_stamps[k * size : (k + 1) * size]
            sources.append(-1 - k)
            j += 1
    return out, bytes(packed), sources


class _Spill:
    """The rows of the files a load parsed, appended to an unnamed temporary file beside
    the cache as they come: a cold load of 100,000 files holds their paths, stamps and
    offsets, not their text (~200 MB at that size), until the save copies them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[str] = []
        self.stamps = bytearray()  # packed, one per path
        self._offsets = array.array("q", [0])
        self._file: BinaryIO | None = None
        self.lost = False  # a row could not be written: the save must not write the file

    def add(self, path: str, stamp: bytes, row: tuple[Any, ...]) -> None:
        try:
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._file = tempfile.TemporaryFile(dir=self.folder)  # noqa: SIM115 (close)
            self._file.seek(self._offsets[-1])
            self._file.write(marshal.dumps(row))
            self._offsets.append(self._file.tell())
        except (OSError, ValueError) as exc:
            if not self.lost:
                log.warning("paper cache: cannot keep parsed files in %s: %s", self.folder, exc)
            self.lost = True
            return
        self.paths.append(path)
        self.stamps += stamp

    def order(self) -> list[int] | range:
        """The rows in path order (the order they came in, as a load reads sorted files)."""
        paths = self.paths
        if all(paths[k] < paths[k + 1] for k in range(len(paths) - 1)):
            return range(len(paths))
        return sorted(range(len(paths)), key=paths.__getitem__)

    def row(self, k: int) -> tuple[Any, ...]:
        assert self._file is not None
        self._file.seek(self._offsets[k])
        row: tuple[Any, ...] = marshal.loads(
            self._file.read(self._offsets[k + 1] - self._offsets[k])
        )
        return row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class PaperCache:
    """One file holding every paper file's parse outcome; used by ``ContentStore.load``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What else decides a file's outcome (the store's size caps); part of the key.
        self.variant = ""
        #: Rows whose long text a read keeps (see ``ColumnReader``); set by the store.
        self.recent_days: int | None = None
        # Columns read from disk: opened by a load's first lookup, closed by its save.
        self._disk: ColumnReader | None = None
        self._disk_read = False
        # What the last load saw, for ``all_unchanged``: its files in order and their
        # stamps packed. Not its ParsedFiles: keeping those for the next load to reuse cost
        # 10 MiB of resident memory at 100,000 papers (a reload decodes the file instead).
        self._seen: list[str] = []
        self._seen_stamps = b""
        # This load so far: the files it parsed (their rows spilled to a temporary file),
        # and the files the cache file answered (their rows and stamps, not their
        # ParsedFiles: 12 MB at 100,000 papers, at the load's peak). A save streams both
        # into the new file one chunk at a time.
        self._fresh = _Spill(path.parent)
        self._hit_paths: list[str] = []
        self._hit_rows = array.array("q")
        self._hit_stamps = bytearray()
        self._dirty = False
        self._parsed = 0  # files parsed (not served from the cache) since the last save
        self._parsed_last_load = 0
        self._written = False  # whether the last save wrote the file
        self.hits = 0
        self.misses = 0

    @classmethod
    def beside(cls, content_root: Path) -> PaperCache:
        """The cache at ``<content>/.cache/papers.marshal``."""
        return cls(default_cache_dir(content_root) / CACHE_FILE_NAME)

    def _open(self) -> ColumnReader | None:
        try:
            src = self.path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("paper cache %s unreadable, parsing every file: %s", self.path, exc)
            return None
        try:
            return ColumnReader(src, self.key, self.recent_days)
        except WrongKey:
            pass
        except OSError as exc:
            log.warning("paper cache %s unreadable, parsing every file: %s", self.path, exc)
        except _DECODE_ERRORS:  # DamagedCache is a ValueError
            log.warning("paper cache %s is damaged; it will be rewritten", self.path)
        src.close()
        return None

    def close(self) -> None:
        """Close the cache file a lookup opened (``save`` does this too)."""
        self._close_disk()

    def _close_disk(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    @property
    def key(self) -> str:
        """The code's key and the store's caps: a file written under another is ignored."""
        return f"{code_key()}:{self.variant}"

    def lookup(self, path: str) -> tuple[ParsedFile | None, Stamp]:
        """The cached outcome for ``path`` if the file is unchanged, and its current stamp."""
        stamp = _stamp(path)
        if not self._disk_read:
            self._disk_read = True
            self._disk = self._open()
        disk = self._disk
        i = None if stamp is None or disk is None else disk.find(path)
        if disk is None or i is None or disk.stamp(i) != stamp:
            self.misses += 1
            return None, stamp
        try:
            parsed = disk.parsed(i)
        except (OSError, *_DECODE_ERRORS):
            log.warning("paper cache %s is damaged; it will be rewritten", self.path)
            self._close_disk()
            self._forget_hits()  # their rows cannot be read again: parsed at the next load
            self._dirty = True
            self.misses += 1
            return None, stamp
        assert stamp is not None  # equal to the row's
        self._hit_paths.append(path)
        self._hit_rows.append(i)
        self._hit_stamps += stamp
        self.hits += 1
        return parsed, stamp

    def _forget_hits(self) -> None:
        self._hit_paths, self._hit_rows, self._hit_stamps = [], array.array("q"), bytearray()

    def store(self, path: str, stamp: Stamp, parsed: ParsedFile) -> None:
        """Remember ``parsed`` for ``path`` as it was at ``stamp`` (taken before reading it)."""
        self._dirty = True
        self._parsed += 1
        if stamp is None or _STAMP.unpack(stamp)[1] > time.time_ns() - int(RACY_SECONDS * 1e9):
            return
        self._fresh.add(path, stamp, _row(parsed))

    def all_unchanged(self, paths: list[str]) -> bool:
        """Whether ``paths`` are exactly the files of the last load, none changed since."""
        if paths != self._seen:
            return False
        size, stamps = _STAMP.size, self._seen_stamps
        return all(
            _stamp(path) == stamps[i * size : (i + 1) * size] for i, path in enumerate(paths)
        )

    def seen_unchanged(self, path: str, stamp: Stamp) -> bool:
        """Whether the last load saw ``path`` with this same ``stamp`` (its paper is then
        the one that load gave; a reload reuses it)."""
        seen = self._seen
        i = bisect.bisect_left(seen, path)
        if stamp is None or i == len(seen) or seen[i] != path:
            return False
        size = _STAMP.size
        return self._seen_stamps[i * size : (i + 1) * size] == stamp

    #: After parsing at least this many files (and writing the cache), the store loads
    #: again from the cache file for a compact memory layout.
    COMPACT_AFTER: Final = 5000

    def compact_after_parsing(self) -> bool:
        """True when the last load parsed many files and the cache file now holds them:
        what it saw is forgotten, so the next load decodes the whole file."""
        if self._parsed_last_load < self.COMPACT_AFTER or not self._written:
            return False
        self._parsed_last_load = 0
        self._seen, self._seen_stamps = [], b""
        self._close_disk()
        self._disk_read = False
        return True

    def save(self) -> None:
        """Write what this load saw, if anything changed; remember its files' stamps.

        The new file is written one chunk at a time, each row copied from the old file or
        from the rows this load parsed: a save holds one chunk's text, whatever the size
        of the store (decoding every row first cost ~150 MB at 100,000 papers)."""
        disk = self._disk
        previous = disk.rows if disk is not None else len(self._seen)
        fresh, self._fresh = self._fresh, _Spill(self.path.parent)
        hits, rows, stamps = self._hit_paths, self._hit_rows, bytes(self._hit_stamps)
        self._forget_hits()
        self._seen, self._seen_stamps, sources = _merge_seen(hits, rows, stamps, fresh)
        self._disk_read = False  # the next load reads the file again
        self._parsed_last_load, self._parsed = self._parsed, 0
        self._written = False
        try:
            if not self._dirty and len(self._seen) == previous:
                return
            self._dirty = False
            if fresh.lost:  # a parsed row is missing: the file would not say the truth
                log.warning("cannot write paper cache %s: see the warning above", self.path)
                return
            try:
                self._write(self._seen, self._seen_stamps, sources, disk, fresh)
            except _DECODE_ERRORS:  # the old file, read again (OSError is the new one's)
                log.warning("paper cache %s is damaged; it will be rewritten", self.path)
                names, packed, sources = _merge_seen([], array.array("q"), b"", fresh)
                self._write(names, packed, sources, None, fresh)
        finally:
            self._close_disk()
            fresh.close()

    def _write(
        self,
        paths: list[str],
        packed: bytes,
        sources: array.array[int],
        disk: ColumnReader | None,
        fresh: _Spill,
    ) -> None:
        """Write the file of ``paths`` (stamps ``packed``); row ``k`` is the old file's row
        ``sources[k]``, or the spilled row of a parsed file where that is -1. An error
        writing it is logged: the next load parses again what the file does not hold."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as out, tempfile.TemporaryFile(dir=self.path.parent) as body:
                newest = _write_rows(body, paths, sources, disk, fresh)
                _write_head(out, self.key, _COLUMNS, len(paths), newest, paths, packed)
                body.seek(0)
                shutil.copyfileobj(body, out, 1 << 16)
            os.replace(tmp, self.path)
            self._written = True
        except OSError as exc:
            log.warning("cannot write paper cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def _write_rows(
    out: BinaryIO,
    paths: list[str],
    sources: array.array[int],
    disk: ColumnReader | None,
    fresh: _Spill,
) -> int:
    """The chunks of the file (see :meth:`PaperCache._write`); the newest paper's date."""
    width, date_at = len(_ROW_COLUMNS), _ROW_COLUMNS.index("date")
    newest = 0
    for start in range(0, len(paths), CHUNK):
        columns: list[list[Any]] = [[] for _ in range(width + len(_TEXTS))]
        for k in range(start, min(start + CHUNK, len(paths))):
            source = sources[k]
            if source >= 0:
                assert disk is not None
                row = disk.row(source)
            else:
                row = fresh.row(-1 - source)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
            date = row[date_at]
            if isinstance(date, int) and date > newest:
                newest = date
        _write_blob(out, tuple(columns[:width]))
        _write_blob(out, tuple(columns[width:]))
    return newest
