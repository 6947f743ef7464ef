"""Setting papers' ``tags`` from the topic list, without ever overwriting an editor's tags.

The rule is the importers' rule for editor fields, applied to ``tags``: what the tagger
writes it also records in ``auto_tags``; while ``tags`` still equals ``auto_tags`` (or is
empty) the tags are the machine's and a new run may replace them; once an editor changed
``tags``, they are the editor's and stay as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digestbot.content import frontmatter
from digestbot.content.store import ContentStore
from digestbot.models import Paper
from digestbot.topics import TopicMatcher

__all__ = ["TagReport", "editor_owns_tags", "retag_meta", "tag_papers"]


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def editor_owns_tags(meta: Mapping[str, Any]) -> bool:
    """True when an editor wrote the file's tags (they differ from what the tagger wrote)."""
    tags = _as_list(meta.get("tags"))
    return bool(tags) and tags != _as_list(meta.get("auto_tags"))


def retag_meta(meta: Mapping[str, Any], tags: tuple[str, ...]) -> dict[str, Any] | None:
    """``meta`` with machine tags set to ``tags``; None when nothing changes or an editor
    owns the tags."""
    if editor_owns_tags(meta):
        return None
    wanted = list(tags)
    if _as_list(meta.get("tags")) == wanted and _as_list(meta.get("auto_tags")) == wanted:
        return None
    out = dict(meta)
    out["tags"] = wanted
    out["auto_tags"] = list(wanted)  # a second list: YAML would write an anchor for one
    return out


@dataclass(slots=True)
class TagReport:
    """What a tag run did (or, in a dry run, would do)."""

    dry_run: bool = False
    papers: int = 0
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Papers whose tags an editor wrote (left as they are)."""
    tagged: int = 0
    """Papers with at least one tag after the run."""
    untagged: list[Paper] = field(default_factory=list)
    by_llm: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.tagged / self.papers if self.papers else 1.0

    def lines(self) -> list[str]:
        out = [*self.problems, *self.notes]
        if self.untagged:
            out.append(f"untagged ({len(self.untagged)}): no topic term in their text")
            out.extend(
                f"  {p.arxiv_id}  {p.title_en}"
                for p in sorted(self.untagged, key=lambda p: p.arxiv_id)
            )
        verb = "would set" if self.dry_run else "set"
        summary = (
            f"{verb} tags on {len(self.changed)} of {self.papers} papers, "
            f"kept editor tags on {len(self.kept)}"
        )
        if self.by_llm:
            summary += f", {len(self.by_llm)} chosen by the LLM"
        out.append(("dry run: " if self.dry_run else "") + summary)
        out.append(
            f"coverage: {self.tagged} of {self.papers} papers "
            f"({self.coverage:.1%}) have at least one tag"
        )
        return out


def tag_papers(
    store: ContentStore,
    paths: Mapping[str, Path],
    papers: Iterable[Paper],
    matcher: TopicMatcher,
    *,
    dry_run: bool,
    report: TagReport,
    picked: Mapping[str, tuple[str, ...]] | None = None,
) -> TagReport:
    """Tag ``papers`` (whose files are ``paths``) from the topic terms; ``picked`` holds the
    topics an LLM chose for papers no term matched (slugs not in the list are dropped)."""
    for paper in papers:
        report.papers += 1
        tags = matcher.tags_for(paper)
        if not tags and picked and picked.get(paper.arxiv_id):
            tags = tuple(t.slug for t in matcher.ordered(picked[paper.arxiv_id]))
            if tags:
                report.by_llm.append(paper.arxiv_id)
        path = paths[paper.arxiv_id]
        try:
            meta, body = store.read_meta(path)
        except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError) as exc:
            line = exc.line if isinstance(exc, frontmatter.FrontMatterError) else 1
            report.problems.append(f"{path}:{line}: cannot tag {paper.arxiv_id}: {exc}")
            continue
        if editor_owns_tags(meta):
            report.kept.append(paper.arxiv_id)
            report.tagged += 1
            continue
        if not tags:
            # no term matches (any more): machine tags an LLM picked earlier stay
            tags = tuple(_as_list(meta.get("auto_tags")))
        new = retag_meta(meta, tags)
        if new is not None:
            report.changed.append(paper.arxiv_id)
            if not dry_run:
                store.write_meta(path, new, body)
        if tags:
            report.tagged += 1
        else:
            report.untagged.append(paper)
    return report
