"""Reading content files safely: regular files inside the store only, never past a size cap.

A FIFO named ``*.md`` would block ``open``; a link to ``/dev/zero`` would read forever; a
link to ``/etc/...`` would publish a file the editors never wrote. So a file is checked by
``stat`` before it is opened, opened with ``O_NONBLOCK`` (a FIFO swapped in after the check
cannot block), checked again on the open descriptor, and read for at most cap + 1 bytes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from digestbot.errors import UnsafeContentFile

#: Defaults of ``DIGESTBOT_CONTENT__MAX_FILE_BYTES`` and ``__MAX_SUMMARY_CHARS``.
MAX_FILE_BYTES: Final = 1_000_000
MAX_SUMMARY_CHARS: Final = 20_000

_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_CHUNK: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class ContentLimits:
    """How large a content file, and a summary in it, may be."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_summary_chars: int = MAX_SUMMARY_CHARS

    @property
    def key(self) -> str:
        """Part of the parse cache's key: other limits give other outcomes."""
        return f"{self.max_file_bytes}/{self.max_summary_chars}"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _refuse_special(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UnsafeContentFile(
            f"{_kind(mode)}, not a regular file: content files must be plain files; remove it"
        )


def _refuse_large(size: int, cap: int) -> None:
    if size > cap:
        raise UnsafeContentFile(
            f"{size:,} bytes, over the cap of {cap:,}: shorten it "
            "(or raise DIGESTBOT_CONTENT__MAX_FILE_BYTES)"
        )


def inside(real: str, root_real: str) -> bool:
    """Whether the resolved path ``real`` lies within the resolved folder ``root_real``."""
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def read_bytes(path: str | Path, *, root: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, which must resolve inside ``root``.

    Raises UnsafeContentFile (special file, link outside the store, over ``max_bytes``) or
    OSError (missing, unreadable)."""
    name = os.fspath(path)
    root_real = os.path.realpath(root)
    real = os.path.realpath(name)
    if not inside(real, root_real):
        raise UnsafeContentFile(
            f"links to {real}, outside the content store {root_real}: "
            "copy the file into the store instead of linking it"
        )
    st = os.stat(name)
    _refuse_special(st.st_mode)
    _refuse_large(st.st_size, max_bytes)
    fd = os.open(real, _OPEN_FLAGS)
    try:
        _refuse_special(os.fstat(fd).st_mode)  # replaced between the stat and the open
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    _refuse_large(len(data), max_bytes)
    return data


def read_text(path: str | Path, *, root: str | Path, max_bytes: int) -> str:
    """``read_bytes`` decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_bytes(path, root=root, max_bytes=max_bytes).decode("utf-8")
