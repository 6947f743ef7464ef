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
The file's format is :mod:`digestbot.content.cachefile`'s.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import functools
import hashlib
import logging
import marshal
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Final

import pydantic
import yaml

from digestbot import models
from digestbot.content import cachefile, files, frontmatter, schema, snapshot, store
from digestbot.content.cachefile import (
    COLUMNS,
    DECODE_ERRORS,
    STAMP,
    ColumnReader,
    Stamp,
    WrongKey,
    row_of,
    write_head,
    write_rows,
)
from digestbot.content.snapshot import ParsedFile

log = logging.getLogger("digestbot.content")

#: Folder, inside the content directory, for derived files (this cache, the search index).
CACHE_DIR_NAME: Final = ".cache"
CACHE_FILE_NAME: Final = "papers.marshal"
RACY_SECONDS: Final = 2.0


def default_cache_dir(content_root: Path) -> Path:
    """Where derived files live for a content directory: ``<content>/.cache``."""
    return content_root / CACHE_DIR_NAME


@functools.cache
def code_key() -> str:
    """Changes whenever the code or libraries that decide a file's outcome change."""
    digest = hashlib.blake2b(digest_size=16)
    here = sys.modules[__name__]
    modules = (store, snapshot, files, schema, frontmatter, models, cachefile, here)
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
    return STAMP.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _merge_seen(
    hits: list[str], rows: array.array[int], stamps: bytes, fresh: _Spill
) -> tuple[list[str], bytes, array.array[int]]:
    """The files of a load in path order, their stamps packed, and where each one's row
    is: ``hits`` (in path order; ``rows`` their rows in the old file, ``stamps`` theirs)
    and the ``fresh`` ones it parsed (spilled row ``k`` as ``-1 - k``). Every stamp kept
    is a real one: a racy or unreadable file is not kept."""
    order, names, fresh_stamps = fresh.order(), fresh.paths, fresh.stamps
    out: list[str] = []
    packed = bytearray()
    sources = array.array("q")
    size, i, j = STAMP.size, 0, 0
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
        except DECODE_ERRORS:  # DamagedCache is a ValueError
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
        except (OSError, *DECODE_ERRORS):
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
        if stamp is None or STAMP.unpack(stamp)[1] > time.time_ns() - int(RACY_SECONDS * 1e9):
            return
        self._fresh.add(path, stamp, row_of(parsed))

    def all_unchanged(self, paths: list[str]) -> bool:
        """Whether ``paths`` are exactly the files of the last load, none changed since."""
        if paths != self._seen:
            return False
        size, stamps = STAMP.size, self._seen_stamps
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
        size = STAMP.size
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
            except DECODE_ERRORS:  # the old file, read again (OSError is the new one's)
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
                newest = write_rows(body, paths, sources, disk, fresh.row)
                write_head(out, self.key, COLUMNS, len(paths), newest, paths, packed)
                body.seek(0)
                shutil.copyfileobj(body, out, 1 << 16)
            os.replace(tmp, self.path)
            self._written = True
        except OSError as exc:
            log.warning("cannot write paper cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
