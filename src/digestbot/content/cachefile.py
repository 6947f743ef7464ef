"""The parse cache's file: its format, read and written one chunk of rows at a time.

The file is ``FORMAT`` + newline, a header blob ``(key, column names, rows, CHUNK, newest
date)``, the ``path`` column in one blob per ``CHUNK`` paths, the ``stamp`` column as one
``bytes`` of packed stamps, then per ``CHUNK`` rows one blob of the other columns' slices
and one of the long text. Every blob is a ``marshal`` value after its length. What is
cached, and when it is trusted, is :mod:`digestbot.content.cache`'s business.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import marshal
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final

from digestbot.content.snapshot import ParsedFile, Problem
from digestbot.models import Links, Paper, PaperHead, Status

FORMAT: Final = "digestbot-paper-cache-6"
_MAGIC: Final = FORMAT.encode() + b"\n"

#: (st_size, st_mtime_ns, st_ctime_ns, st_ino) of a file, packed (65 bytes in memory
#: instead of ~200 for a tuple of four ints), or None when it cannot be stat'ed.
Stamp = bytes | None
STAMP = struct.Struct("<qqqQ")

_STATUS = {s.value: s for s in Status}
_NO_LINKS = Links()
DECODE_ERRORS = (
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
COLUMNS: Final = (
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
TEXTS: Final = ("summary_en", "summary_zh", "abstract")
ROW_COLUMNS: Final = COLUMNS[2:]  # what a row chunk holds (path and stamp come first)
CHUNK: Final = 2048


def row_of(parsed: ParsedFile) -> tuple[Any, ...]:
    """One file's row without its path and stamp: the values of ``ROW_COLUMNS``, then of
    ``TEXTS`` (None for a paper held without its summaries)."""
    problems = tuple((p.line, p.field, p.message, p.severity) for p in parsed.problems)
    row: tuple[Any, ...] = (parsed.id_line, problems, parsed.invalid_id)
    paper = parsed.paper
    if paper is None:
        return row + (None,) * (len(ROW_COLUMNS) + len(TEXTS) - len(row))
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


def write_blob(out: BinaryIO, value: Any) -> None:
    blob = marshal.dumps(value)
    out.write(_LENGTH.pack(len(blob)))
    out.write(blob)


def _read_blob(src: BinaryIO, size: int) -> Any:
    (length,) = _LENGTH.unpack(src.read(_LENGTH.size))
    if length > size - src.tell():
        raise DamagedCache("a part is longer than the rest of the file")
    blob = src.read(length)
    return marshal.loads(blob)


def write_head(
    out: BinaryIO, key: str, names: tuple[str, ...], rows: int, newest: int, paths: Any, stamps: Any
) -> None:
    """The file up to its first chunk: ``FORMAT``, the header, the paths (one blob per
    ``CHUNK`` of them: a blob of 100,000 paths is 7 MB held at once) and the stamps."""
    out.write(_MAGIC)
    write_blob(out, (key, names, rows, CHUNK, newest))
    if isinstance(paths, list):
        for start in range(0, rows, CHUNK):
            write_blob(out, paths[start : start + CHUNK])
    else:
        write_blob(out, paths)
    write_blob(out, stamps)


class ColumnReader:
    """A cache file opened for one load: its paths and stamps, and one row chunk at a time.

    A load looks files up in path order, which is the file's row order: each chunk is
    decoded once, and only one chunk's objects exist besides what the papers keep. The
    long text (``TEXTS``) of a chunk is kept only for the rows held whole: every row when
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
        if tuple(names) != COLUMNS or not isinstance(rows, int) or not isinstance(chunk, int):
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
        if not isinstance(self._stamps, bytes) or len(self._stamps) != rows * STAMP.size:
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
        size = STAMP.size
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
            self._raw = [chunk[name] for name in (*ROW_COLUMNS, *TEXTS)]
            self._raw_index = index
        return tuple(column[j] for column in self._raw)

    def _read_chunk(self, index: int, *, whole: bool = False) -> dict[str, list[Any]]:
        start = index * self.chunk
        n = min(self.chunk, self.rows - start)
        self.src.seek(self.offsets[index])
        parts = _read_blob(self.src, self.size)
        texts = _read_blob(self.src, self.size)
        for group, width in ((parts, len(ROW_COLUMNS)), (texts, len(TEXTS))):
            if not isinstance(group, tuple) or len(group) != width:
                raise DamagedCache(f"chunk at row {start} has other columns")
            if not all(isinstance(c, list) and len(c) == n for c in group):
                raise DamagedCache(f"chunk at row {start} is not {n} rows")
        rows = dict(zip(ROW_COLUMNS, parts, strict=True))
        cutoff = self.cutoff
        if cutoff is not None and not whole:
            dates, statuses, draft = rows["date"], rows["status"], Status.DRAFT.value
            kept = [
                j
                for j in range(n)
                if dates[j] is not None and (dates[j] >= cutoff or statuses[j] == draft)
            ]
            texts = tuple(_only(text, kept, n) for text in texts)
        rows.update(zip(TEXTS, texts, strict=True))
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


def write_rows(
    out: BinaryIO,
    paths: list[str],
    sources: Sequence[int],
    disk: ColumnReader | None,
    fresh_row: Callable[[int], tuple[Any, ...]],
) -> int:
    """The chunks of a file of ``paths``, written to ``out``: row ``k`` is ``disk``'s row
    ``sources[k]`` when that is >= 0, else ``fresh_row(-1 - sources[k])``. Holds one
    chunk of rows at a time; returns the newest paper's date (the header's)."""
    width, date_at = len(ROW_COLUMNS), ROW_COLUMNS.index("date")
    newest = 0
    for start in range(0, len(paths), CHUNK):
        columns: list[list[Any]] = [[] for _ in range(width + len(TEXTS))]
        for k in range(start, min(start + CHUNK, len(paths))):
            source = sources[k]
            if source >= 0:
                assert disk is not None
                row = disk.row(source)
            else:
                row = fresh_row(-1 - source)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
            date = row[date_at]
            if isinstance(date, int) and date > newest:
                newest = date
        write_blob(out, tuple(columns[:width]))
        write_blob(out, tuple(columns[width:]))
    return newest
