"""Build a large search index in a child process, so the long-running one stays small.

Building the index of 100,000 papers allocates ~350 MB of short-lived Python objects
(rows, CJK n-grams) that a process keeps as resident memory long after. ``digestbot run``
builds an empty index of a large store in a spawned child instead: the child loads the
store (from the parse cache the parent just wrote), writes the index file and exits; the
parent reopens the file and syncs what changed in between. The child is
``python -m digestbot.search.index_child INDEX CONTENT MAX_FILE_BYTES MAX_SUMMARY_CHARS
ZH_CHARS EN_WORDS`` (a fresh interpreter: nothing of the parent's main module, threads or
loop is carried over; the caps are the parent's, so both share one parse cache, and so are
the result cards' budgets, so the parent keeps the file it reopens).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from digestbot.content.cache import PaperCache
from digestbot.content.files import ContentLimits
from digestbot.content.store import ContentStore
from digestbot.errors import DigestbotError
from digestbot.search.index import SearchIndex

#: Stores with fewer ready papers are indexed in-process (a child costs ~1 s to start).
MIN_PAPERS = 5000


class IndexBuildError(DigestbotError):
    """The child that builds the search index failed."""


def _build(
    index_path: str,
    content_root: str,
    max_file_bytes: str,
    max_summary_chars: str,
    zh_chars: str,
    en_words: str,
) -> None:
    root = Path(content_root)
    limits = ContentLimits(int(max_file_bytes), int(max_summary_chars))
    # every paper whole (recent_weeks=None): the cache's long text, not one file per paper
    store = ContentStore(root, cache=PaperCache.beside(root), limits=limits, bodies=False)
    snap = store.load()
    ready = snap.ready()
    with SearchIndex(Path(index_path), zh_chars=int(zh_chars), en_words=int(en_words)) as index:
        index.sync(ready, snap.reader)


def build_in_child(
    index_path: Path,
    content_root: Path,
    limits: ContentLimits | None = None,
    timeout: float = 3600.0,
    *,
    card_budgets: tuple[int, int] = (120, 60),
) -> None:
    """Build the index file at ``index_path`` for the store at ``content_root`` (read with
    ``limits``, the parent's, so the child shares its parse cache; result cards shortened
    to ``card_budgets``, (Chinese characters, English words), the parent index's); wait."""
    module = "digestbot.search.index_child"
    caps = limits or ContentLimits()
    command = [sys.executable, "-m", module, str(index_path), str(content_root)]
    command += [str(caps.max_file_bytes), str(caps.max_summary_chars)]
    command += [str(card_budgets[0]), str(card_budgets[1])]
    try:
        done = subprocess.run(command, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise IndexBuildError(f"building the search index took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise IndexBuildError(
            f"building the search index in a child process failed (exit code "
            f"{done.returncode}); its error is above. Delete {index_path} and start again."
        )


if __name__ == "__main__":
    _build(*sys.argv[1:7])
