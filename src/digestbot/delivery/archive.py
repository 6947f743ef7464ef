"""The Markdown archive: an issue's series post written into a folder, once, as a destination.

:func:`write_post` writes ``<root>/<year>/<MMDD>-<MMDD>.md`` (see
:func:`digestbot.render.markdown.render_post`) atomically and leaves a file that already
holds the same bytes untouched. :class:`ArchiveSender` is the ledger's ``archive`` transport:
with ``DIGESTBOT_ARCHIVE__DIR`` set, ``publish`` plans one more row per issue (channel
``archive``, address: the folder), so the post is written once and a crash resumes it like
any other copy. With ``DIGESTBOT_ARCHIVE__GIT_COMMIT=true`` a changed post is also committed
in the folder's git repository with a message naming the week.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from digestbot.delivery.senders import Content, Job, LeaseLost, write_atomically
from digestbot.errors import PermanentDeliveryError, TransientDeliveryError
from digestbot.models import Issue
from digestbot.render.markdown import post_name, render_post

__all__ = ["ArchiveSender", "commit_post", "write_post"]


def write_post(root: Path, issue: Issue) -> tuple[Path, bool]:
    """Write ``issue``'s post under ``root``; (its path, whether the file changed)."""
    path = root.joinpath(*post_name(issue).parts)
    data = render_post(issue).encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path, False
    except FileNotFoundError:
        pass
    write_atomically(path, data)
    return path, True


def commit_post(root: Path, path: Path, issue: Issue) -> None:
    """``git add`` + ``git commit`` the post in ``root``'s repository (only that file).

    Raises PermanentDeliveryError saying what to fix when ``root`` is not in a git work tree
    or git refuses.
    """
    rel = str(path.relative_to(root))

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )

    try:
        inside = git("rev-parse", "--is-inside-work-tree")
    except OSError as exc:
        raise PermanentDeliveryError(
            f"cannot run git ({exc}): install git or unset DIGESTBOT_ARCHIVE__GIT_COMMIT"
        ) from None
    if inside.returncode != 0:
        raise PermanentDeliveryError(
            f"{root} is not in a git repository: run git init there, or unset "
            "DIGESTBOT_ARCHIVE__GIT_COMMIT"
        )
    steps = (
        ("add", "--", rel),
        ("commit", "-m", f"{issue.week}: {issue.title_zh}", "--", rel),
    )
    for step in steps:
        done = git(*step)
        if done.returncode != 0:
            if step[0] == "commit" and not git("diff", "--cached", "--quiet", "--", rel).returncode:
                return  # nothing staged for this file: already committed
            raise PermanentDeliveryError(
                f"git {step[0]} in {root} failed: {(done.stderr or done.stdout).strip()}"
            )


@dataclass(slots=True)
class ArchiveSender:
    """Writes the issue's post into the archive folder named by the row's address."""

    git_commit: bool = False
    transport: str = "archive"
    concurrency: int = 1
    written: list[Path] = field(default_factory=list)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def deliver(self, job: Job, content: Content) -> int:
        if not await job.checkpoint(0):
            raise LeaseLost(job.delivery.id)
        root = Path(job.delivery.address)
        try:
            path, changed = await asyncio.to_thread(write_post, root, content.issue)
        except OSError as exc:
            raise TransientDeliveryError(
                f"cannot write the post into {root}: {exc.strerror or exc}; "
                "check DIGESTBOT_ARCHIVE__DIR"
            ) from None
        if self.git_commit:
            await asyncio.to_thread(commit_post, root, path, content.issue)
        if changed:
            self.written.append(path)
        return 1
