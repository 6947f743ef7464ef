"""The Markdown-archive importer: parse weekly digest posts, write ready papers, find issues.

A post is one Markdown file per week, ``<year>/<MMDD>-<MMDD>.md`` (first and last day of the
week; a week that crosses a year boundary, ``2024/1230-0103.md``, ends in the next year).
Each paper in it is::

    ## English Title                 (``#`` or ``##``; stray spaces allowed)
    [中文标题](https://arxiv.org/abs/2404.08634)   (or a bare arXiv URL)

    One or more paragraphs of Chinese summary.

:func:`parse_post` is pure: it returns the papers and the problems (with line numbers) of one
post. :func:`import_archive` writes the papers (``status: ready``, the summary from the post,
dated the first day of the file's week, i.e. its Monday) and leaves files that already exist
untouched; :func:`archive_issues` then gives each post as a published issue, which the
service records in the delivery ledger, so the web archive and ``/paper`` cover the back
catalogue. Importing twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from digestbot.content import frontmatter
from digestbot.content.store import ContentStore
from digestbot.errors import WeekError
from digestbot.models import Issue, Paper, Status
from digestbot.render.polish import polish_zh
from digestbot.render.text import normalize_whitespace
from digestbot.selection import make_issue
from digestbot.sources.importer import (
    ImportReport,
    Mode,
    Outcome,
    Record,
    apply_record,
    arxiv_id_from_url,
    plural,
)
from digestbot.sources.links import LinksFound, file_links, hf_paper_id, take_links
from digestbot.summarize.glossary import DEFAULT_GLOSSARY
from digestbot.weeks import Week

__all__ = [
    "ArchivePost",
    "ParsedPost",
    "PostPaper",
    "PostProblem",
    "archive_issues",
    "collect_posts",
    "import_archive",
    "parse_post",
    "post_week",
    "title_key",
    "unlinked_titles",
]

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,2})[ \t]+(?P<title>.*?)[ \t]*#*[ \t]*$")
_LINK_LINE = re.compile(r"^\s*\[(?P<text>[^\]]*)\]\(\s*<?(?P<url>[^)\s>]+)>?\s*\)\s*(?P<rest>.*)$")
_BARE_URL = re.compile(r"^\s*<?(?P<url>https?://[^\s>]+)>?\s*$")
_READY_LINE = re.compile(r"^status:[ \t]*['\"]?ready['\"]?[ \t]*$", re.MULTILINE)
_FILE_NAME = re.compile(r"^(\d{2})(\d{2})-(\d{2})(\d{2})\.md$")


@dataclass(frozen=True, slots=True)
class PostPaper:
    """One paper found in a post; ``line`` is the line of its heading.

    ``links`` holds the code / project / Hugging Face URLs taken out of its text. A paper
    linked to something other than arXiv has an empty ``arxiv_id`` and that URL in ``link``
    (``link_line`` is where): the importer looks it up on arXiv by its title.
    """

    arxiv_id: str
    title_en: str
    title_zh: str
    summary_zh: str
    line: int
    links: Mapping[str, str] = field(default_factory=dict)
    link: str = ""
    link_line: int = 0


@dataclass(frozen=True, slots=True)
class PostProblem:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ParsedPost:
    papers: tuple[PostPaper, ...]
    problems: tuple[PostProblem, ...]


def _summary(lines: Sequence[str], glossary: Mapping[str, str]) -> LinksFound:
    """Paragraphs (split at blank lines) without their links, polished like summarizer output.

    Each paragraph is whitespace-normalised; non-arXiv URLs become ``links``
    (:func:`take_links`); the text then gets :func:`polish_zh`, joined by a blank line.
    """
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in lines:
        if raw.strip():
            current.append(raw.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    found = take_links("\n\n".join(paragraphs))
    return LinksFound(polish_zh(found.text, glossary), found.links)


def parse_post(text: str, glossary: Mapping[str, str] | None = None) -> ParsedPost:
    """Parse one weekly post into papers and problems (1-based line numbers).

    Chinese titles and summaries are polished with ``glossary`` (default: the built-in one).
    """
    if glossary is None:
        glossary = DEFAULT_GLOSSARY
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    headings = [i for i, line in enumerate(lines) if _HEADING.match(line)]
    papers: list[PostPaper] = []
    problems: list[PostProblem] = []
    seen: dict[str, int] = {}

    first = headings[0] if headings else len(lines)
    stray = next((i for i in range(first) if lines[i].strip()), None)
    if stray is not None:
        problems.append(
            PostProblem(stray + 1, "text before the first paper heading is not imported")
        )

    for n, start in enumerate(headings):
        end = headings[n + 1] if n + 1 < len(headings) else len(lines)
        m = _HEADING.match(lines[start])
        assert m is not None
        title_en = normalize_whitespace(m.group("title"))
        if not title_en:
            problems.append(PostProblem(start + 1, "empty heading: not imported"))
            continue
        link_at = next((i for i in range(start + 1, end) if lines[i].strip()), None)
        if link_at is None:
            problems.append(
                PostProblem(
                    start + 1,
                    f"{title_en!r}: no arXiv link under the heading; not imported "
                    "(add a line [中文标题](https://arxiv.org/abs/<id>))",
                )
            )
            continue
        link_line = lines[link_at]
        title_zh = ""
        url: str | None = None
        body_from = link_at + 1
        lm = _LINK_LINE.match(link_line)
        bm = _BARE_URL.match(link_line)
        if lm:
            url = lm.group("url")
            label = lm.group("text").strip()
            title_zh = "" if label.startswith(("http://", "https://")) else label
            title_zh = polish_zh(title_zh, glossary)
        elif bm:
            url = bm.group("url")
        if url is None:
            problems.append(
                PostProblem(
                    link_at + 1,
                    f"{title_en!r}: expected a line [中文标题](https://arxiv.org/abs/<id>) "
                    "after the heading; not imported",
                )
            )
            continue
        arxiv_id = arxiv_id_from_url(url) or hf_paper_id(url)
        summary = _summary(lines[body_from:end], glossary)
        if arxiv_id is None:
            elsewhere = file_links([url])
            papers.append(
                PostPaper(
                    arxiv_id="",
                    title_en=title_en,
                    title_zh=title_zh,
                    summary_zh=summary.text,
                    line=start + 1,
                    links={**elsewhere, **summary.links},
                    link=url,
                    link_line=link_at + 1,
                )
            )
            continue
        if arxiv_id in seen:
            problems.append(
                PostProblem(
                    start + 1,
                    f"{arxiv_id} appears twice in this post (first at line {seen[arxiv_id]})",
                )
            )
            continue
        seen[arxiv_id] = start + 1
        papers.append(
            PostPaper(
                arxiv_id=arxiv_id,
                title_en=title_en,
                title_zh=title_zh,
                summary_zh=summary.text,
                line=start + 1,
                links=summary.links,
            )
        )
    return ParsedPost(tuple(papers), tuple(problems))


# -- files and weeks ---------------------------------------------------------------------------


def _candidate(year: int, m1: int, d1: int, m2: int, d2: int) -> tuple[dt.date, dt.date] | None:
    """The first and last day named by ``MMDD-MMDD`` when the first day is in ``year``."""
    try:
        first = dt.date(year, m1, d1)
        last = dt.date(year, m2, d2)
        if last < first:
            last = dt.date(year + 1, m2, d2)
    except ValueError:
        return None
    return first, last


def _fits(first: dt.date, last: dt.date) -> bool:
    return (last - first).days <= 6 and Week.of(first) == Week.of(last)


def post_week(path: Path, today: dt.date | None = None) -> tuple[Week, dt.date, dt.date]:
    """The week, first day and last day of ``<year>/<MMDD>-<MMDD>.md``.

    Real archives file a week that crosses a year under either year (``2024/1230-0103.md`` and
    ``2025/1230-0103.md`` both mean 2024-12-30 … 2025-01-03), so the folder's year, the year
    before and the year after are all tried, for days that fit inside one ISO week. A week in
    the folder's year (its first or last day in it) comes first, one whose first day is a
    Monday before one whose first day is not; then a week in the year before or after, in the
    same order. A week that starts after ``today`` (default: the local date) has not happened
    and is never chosen. Raises WeekError saying how to name the file when no week, or more
    than one at the same rank, fits the name.
    """
    m = _FILE_NAME.match(path.name)
    if not m:
        raise WeekError(
            f"name a weekly post by its first and last day, MMDD-MMDD.md (got {path.name})"
        )
    year_name = path.parent.name
    if not re.fullmatch(r"\d{4}", year_name):
        raise WeekError(f"put {path.name} in a folder named by its year, e.g. 2024/{path.name}")
    year = int(year_name)
    m1, d1, m2, d2 = (int(g) for g in m.groups())
    today = today or dt.date.today()
    named = [c for y in (year, year - 1, year + 1) if (c := _candidate(y, m1, d1, m2, d2))]
    if not named:
        raise WeekError(f"{path.name} does not name real days around {year}")
    fitting = [c for c in named if _fits(*c)]
    past = [c for c in fitting if c[0] <= today]
    natural = [c for c in past if year in (c[0].year, c[1].year)]
    chosen = next(
        (
            level
            for level in (
                [c for c in natural if c[0].weekday() == 0],
                natural,
                [c for c in past if c[0].weekday() == 0],
                past,
            )
            if level
        ),
        [],
    )
    if len(chosen) == 1:
        first, last = chosen[0]
        return Week.of(first), first, last
    if len(chosen) > 1:
        weeks = " or ".join(f"{Week.of(f)} ({f} … {la})" for f, la in chosen)
        raise WeekError(
            f"{path.name} in {year_name}/ could be {weeks}: none starts on a Monday; "
            "rename it to the Monday-to-Friday days of its week"
        )
    if fitting:
        raise WeekError(
            f"{path.name} in {year_name}/ names a week that has not happened yet "
            f"({fitting[0][0]} … {fitting[0][1]}); check its name and year folder"
        )
    raise WeekError(
        f"{path.name} spans {named[0][0]} … {named[0][1]}, which is not inside one ISO week "
        "(Mon–Sun) in or around "
        f"{year}; name the file by the first and last day of one week"
    )


@dataclass(slots=True)
class ArchivePost:
    """One parsed post file with its week."""

    path: Path
    week: Week
    first: dt.date
    last: dt.date
    papers: tuple[PostPaper, ...] = ()
    problems: tuple[PostProblem, ...] = ()
    records: list[Record] = field(default_factory=list)


def collect_posts(paths: Iterable[Path], report: ImportReport) -> list[Path]:
    """Every ``.md`` file named by the arguments (folders are walked), sorted; misses reported."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            for dirpath, dirnames, names in os.walk(path):
                dirnames.sort()
                out.extend(Path(dirpath) / n for n in sorted(names) if n.endswith(".md"))
        elif path.is_file():
            out.append(path)
        else:
            report.problem(str(path), "no such file or folder")
    unique = sorted(set(out), key=lambda p: (p.parent.name, p.name, str(p)))
    return unique


def _records(post: ArchivePost) -> list[Record]:
    return [
        Record(
            arxiv_id=p.arxiv_id,
            title_en=p.title_en,
            title_zh=p.title_zh,
            summary_zh=p.summary_zh,
            date=post.first,
            links=p.links,
            status=Status.READY if p.summary_zh else Status.DRAFT,
        )
        for p in post.papers
    ]


def title_key(title: str) -> str:
    """A title compared for an exact match: NFKC, case-folded, words only (``-`` kept)."""
    return " ".join(re.findall(r"[\w-]+", unicodedata.normalize("NFKC", title).casefold()))


def unlinked_titles(paths: Iterable[Path]) -> list[str]:
    """The English titles of papers the posts link somewhere other than arXiv (no reports)."""
    titles: list[str] = []
    for path in collect_posts(paths, ImportReport()):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # import_archive reports it
        titles.extend(p.title_en for p in parse_post(text).papers if not p.arxiv_id)
    return list(dict.fromkeys(titles))


def _resolve(
    post: ArchivePost, found: Mapping[str, str] | None, report: ImportReport
) -> tuple[PostPaper, ...]:
    """The post's papers with an arXiv id; the others (looked up by title) reported once."""
    out: list[PostPaper] = []
    for p in post.papers:
        if p.arxiv_id:
            out.append(p)
            continue
        arxiv_id = (found or {}).get(title_key(p.title_en))
        if arxiv_id:
            report.notes.append(
                f"{post.path}:{p.link_line}: {p.title_en!r} links {p.link}; "
                f"arXiv has it as {arxiv_id} (found by its title)"
            )
            out.append(dataclasses.replace(p, arxiv_id=arxiv_id))
            continue
        why = "" if found is None else f" (arXiv has no paper titled exactly {p.title_en!r})"
        report.problem(
            f"{post.path}:{p.link_line}",
            f"link: not an arXiv link; add the arXiv id{why}: {p.link}",
        )
    return tuple(out)


def import_archive(
    store: ContentStore,
    paths: Iterable[Path],
    *,
    dry_run: bool,
    report: ImportReport,
    step: Callable[[str], None] | None = None,
    begin: Callable[[int], None] | None = None,
    found: Mapping[str, str] | None = None,
    glossary: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> list[ArchivePost]:
    """Parse every post and write its papers; return the posts (for :func:`archive_issues`).

    Files that already exist are left unchanged. A problem in one post (a heading without
    an arXiv link, a file that is not named by its week) is reported as ``path:line: …``
    and everything else is still imported. A paper linked elsewhere than arXiv takes its id
    from ``found`` (:func:`title_key` → arXiv id, what a title search on arXiv gave; None
    when arXiv could not be asked) or is reported.
    """
    files = collect_posts(paths, report)
    report.files = len(files)
    if begin is not None:
        begin(len(files))
    posts: list[ArchivePost] = []
    seen: set[str] = set()
    for path in files:
        try:
            week, first, last = post_week(path, today)
        except WeekError as exc:
            report.problem(f"{path}:1", f"{exc}; file not imported")
            if step is not None:
                step(f"{path}: skipped")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report.problem(f"{path}:1", f"cannot read: {exc}")
            if step is not None:
                step(f"{path}: unreadable")
            continue
        parsed = parse_post(text, glossary)
        post = ArchivePost(path, week, first, last, parsed.papers, parsed.problems)
        for prob in parsed.problems:
            report.problem(f"{path}:{prob.line}", prob.message)
        post.papers = _resolve(post, found, report)
        new_before = len(report.new)
        for rec, paper in zip(_records(post), post.papers, strict=True):
            if rec.status is Status.DRAFT:
                report.problem(
                    f"{path}:{paper.line}",
                    f"{rec.arxiv_id} has no summary in the post: imported as a draft",
                )
            first_time = rec.arxiv_id not in seen
            outcome = apply_record(
                store, rec, mode=Mode.KEEP, dry_run=dry_run, report=report, seen=seen
            )
            if outcome is Outcome.UNCHANGED and first_time:
                _note_existing_draft(store, rec.arxiv_id, f"{path}:{paper.line}", report)
            post.records.append(rec)
        if not parsed.papers and not parsed.problems:
            report.problem(f"{path}:1", "no papers in this post; no issue recorded")
        posts.append(post)
        if step is not None:
            step(
                f"{path.parent.name}/{path.name}: {plural(len(post.papers), 'paper')} "
                f"({len(report.new) - new_before} new), week {week}"
            )
    return posts


def _note_existing_draft(
    store: ContentStore, arxiv_id: str, where: str, report: ImportReport
) -> None:
    """An archive paper whose file exists as a draft stays a draft: say so."""
    existing = store.find_path(arxiv_id)
    if existing is None:
        return
    try:
        text = existing.read_text(encoding="utf-8")
        if _READY_LINE.search(text.split("\n---", 1)[0]):  # common case: skip the YAML parse
            return
        meta = frontmatter.parse(text).meta
    except (OSError, UnicodeDecodeError, frontmatter.FrontMatterError):
        return
    if meta.get("status") != Status.READY.value:
        report.notes.append(
            f"{where}: {arxiv_id} is already in {existing} as a draft and was left unchanged; "
            f"mark it ready with: digestbot review --ready {arxiv_id}"
        )


def _published_at(last: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """When an archive post counts as published: 09:00 local on the day after its last day."""
    return dt.datetime.combine(last + dt.timedelta(days=1), dt.time(9, 0), tzinfo=tz)


@dataclass(frozen=True, slots=True)
class ArchiveIssue:
    """A post with papers, as the issue it published and when it counts as published."""

    issue: Issue
    published_at: dt.datetime
    papers: int


def archive_issues(
    posts: Sequence[ArchivePost], *, tz: dt.tzinfo, report: ImportReport
) -> list[ArchiveIssue]:
    """Each post with papers as a published issue, for the service to record (``archive``).

    A week with a second post is reported: its papers are imported, but only the first
    file becomes the issue.
    """
    found: list[ArchiveIssue] = []
    by_week: dict[Week, ArchivePost] = {}
    for post in posts:
        if not post.records:
            continue
        if post.week in by_week:
            report.problem(
                f"{post.path}:1",
                f"week {post.week} is also {by_week[post.week].path}: "
                "its papers are imported but only the first file becomes the issue",
            )
            continue
        by_week[post.week] = post
        papers = [
            Paper(
                arxiv_id=r.arxiv_id,
                title_en=r.title_en,
                date=r.date,
                title_zh=r.title_zh,
                summary_zh=r.summary_zh,
                status=r.status,
            )
            for r in post.records
        ]
        issue = make_issue(post.week, papers)
        found.append(ArchiveIssue(issue, _published_at(post.last, tz), len(papers)))
    return found
