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

import contextlib
import datetime as dt
import functools
import hashlib
import logging
import marshal
import os
import sys
import time
from pathlib import Path
from typing import Any, Final

import pydantic
import yaml

from digestbot import models
from digestbot.content import frontmatter, schema, store
from digestbot.content.store import ParsedFile, Problem
from digestbot.models import Links, Paper, Status

log = logging.getLogger("digestbot.content")

#: Folder, inside the content directory, for derived files (this cache, the search index).
CACHE_DIR_NAME: Final = ".cache"
CACHE_FILE_NAME: Final = "papers.marshal"
FORMAT: Final = "digestbot-paper-cache-1"
RACY_SECONDS: Final = 2.0

#: (st_size, st_mtime_ns, st_ctime_ns, st_ino) of a file, or None when it cannot be stat'ed.
Stamp = tuple[int, int, int, int] | None

_STATUS = {s.value: s for s in Status}
_NO_LINKS = Links()
_DECODE_ERRORS = (ValueError, TypeError, EOFError, KeyError, IndexError, OverflowError)


def default_cache_dir(content_root: Path) -> Path:
    """Where derived files live for a content directory: ``<content>/.cache``."""
    return content_root / CACHE_DIR_NAME


@functools.cache
def code_key() -> str:
    """Changes whenever the code or libraries that decide a file's outcome change."""
    digest = hashlib.blake2b(digest_size=16)
    for module in (store, schema, frontmatter, models, sys.modules[__name__]):
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
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _encode(parsed: ParsedFile) -> tuple[Any, ...]:
    paper = parsed.paper
    fields = None
    if paper is not None:
        fields = (
            paper.arxiv_id,
            paper.title_en,
            paper.date.toordinal(),
            paper.title_zh,
            paper.summary_en,
            paper.summary_zh,
            paper.authors,
            paper.links.code,
            paper.links.project,
            paper.links.hf,
            paper.score,
            paper.tags,
            paper.status.value,
            paper.abstract,
        )
    problems = tuple((p.line, p.field, p.message, p.severity) for p in parsed.problems)
    return (fields, parsed.id_line, problems, parsed.invalid_id)


def _decode(path: Path, payload: tuple[Any, ...]) -> ParsedFile:
    fields, id_line, problems, invalid_id = payload
    paper = None
    if fields is not None:
        (aid, t_en, day, t_zh, s_en, s_zh, authors, code, project, hf, score, tags, status, ab) = (
            fields
        )
        links = _NO_LINKS if code is None and project is None and hf is None else None
        paper = Paper(
            aid,
            t_en,
            _date(day),
            t_zh,
            s_en,
            s_zh,
            authors,
            links or Links(code, project, hf),
            score,
            tags,
            _STATUS[status],
            ab,
        )
    return ParsedFile(
        paper,
        id_line,
        tuple(Problem(path, line, field, message, sev) for line, field, message, sev in problems),
        invalid_id,
    )


@functools.lru_cache(maxsize=8192)
def _date(ordinal: int) -> dt.date:
    return dt.date.fromordinal(ordinal)


class PaperCache:
    """One file holding every paper file's parse outcome; used by ``ContentStore.load``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Encoded entries read from disk: used by the first load only, then dropped.
        self._entries: dict[str, tuple[Any, ...]] | None = None
        # What the last load saw, as live objects shared with its Snapshot: later loads
        # reuse them without decoding, and they cost no memory beyond the Snapshot's own.
        self._live: dict[str, tuple[Stamp, ParsedFile]] = {}
        self._fresh: dict[str, tuple[Stamp, ParsedFile]] = {}
        self._dirty = False
        self.hits = 0
        self.misses = 0

    @classmethod
    def beside(cls, content_root: Path) -> PaperCache:
        """The cache at ``<content>/.cache/papers.marshal``."""
        return cls(default_cache_dir(content_root) / CACHE_FILE_NAME)

    def _read(self) -> dict[str, tuple[Any, ...]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("paper cache %s unreadable, parsing every file: %s", self.path, exc)
            return {}
        try:
            fmt, key, entries = marshal.loads(data)
        except _DECODE_ERRORS:
            log.warning("paper cache %s is damaged; it will be rewritten", self.path)
            return {}
        if fmt != FORMAT or key != code_key() or not isinstance(entries, dict):
            return {}
        return entries

    def lookup(self, path: str) -> tuple[ParsedFile | None, Stamp]:
        """The cached outcome for ``path`` if the file is unchanged, and its current stamp."""
        stamp = _stamp(path)
        key = path
        live = self._live.get(key)
        if stamp is not None and live is not None and live[0] == stamp:
            self._fresh[key] = live
            self.hits += 1
            return live[1], stamp
        if self._entries is None:
            self._entries = {} if self._live else self._read()
        entry = self._entries.get(key)
        if stamp is None or entry is None or tuple(entry[0]) != stamp:
            self.misses += 1
            return None, stamp
        try:
            parsed = _decode(Path(path), entry[1])
        except _DECODE_ERRORS:
            self.misses += 1
            return None, stamp
        self._fresh[key] = (stamp, parsed)
        self.hits += 1
        return parsed, stamp

    def store(self, path: str, stamp: Stamp, parsed: ParsedFile) -> None:
        """Remember ``parsed`` for ``path`` as it was at ``stamp`` (taken before reading it)."""
        self._dirty = True
        if stamp is None or stamp[1] > time.time_ns() - int(RACY_SECONDS * 1e9):
            return
        self._fresh[path] = (stamp, parsed)

    def save(self) -> None:
        """Write what this load saw, if anything changed; keep it for the next load."""
        previous = self._live or self._entries or {}
        fresh, self._fresh = self._fresh, {}
        self._live, self._entries = fresh, {}
        if not self._dirty and len(fresh) == len(previous):
            return
        self._dirty = False
        encoded = {key: (stamp, _encode(parsed)) for key, (stamp, parsed) in fresh.items()}
        data = marshal.dumps((FORMAT, code_key(), encoded))
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write paper cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
