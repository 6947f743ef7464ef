"""The Hugging Face Daily Papers importer: fetch a week (or a day), filter, write drafts.

``GET {hf_url}/api/daily_papers?date=YYYY-MM-DD&limit=100&p=N`` returns a JSON list of
items; each has a ``paper`` object (``id``, ``title``, ``summary``, ``authors[].name``,
``upvotes``, ``githubRepo``, ``projectPage``, ``ai_summary``, ``submittedOnDailyAt``,
``withdrawnAt``, …) and the item's own ``publishedAt``, ``title``, ``numComments``.

The day a paper was *listed* is ``paper.submittedOnDailyAt`` (else the item's
``publishedAt``), a UTC timestamp, converted to the configured timezone. Hugging Face's own
days are UTC days, so the importer fetches one day either side of the window and keeps only
papers whose local listing day falls inside the requested week (or day). Withdrawn papers are
dropped; ``--min-upvotes`` and ``--top`` filter the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import ContentStore
from digestbot.errors import ImportFailed
from digestbot.models import Language
from digestbot.render.text import normalize_whitespace, shorten
from digestbot.settings import Settings
from digestbot.sources.http import HttpClient
from digestbot.sources.importer import ImportReport, Mode, Record, apply_records
from digestbot.weeks import listing_day

__all__ = [
    "PAGE_SIZE",
    "HfPaper",
    "fetch_daily",
    "fetch_window",
    "import_hf",
    "parse_items",
    "select",
]

#: Items asked for per page; a full page means there may be another one.
PAGE_SIZE = 100
MAX_PAGES = 20
SETTING = "DIGESTBOT_SOURCES__HF_URL"


@dataclass(frozen=True, slots=True)
class HfPaper:
    """One Daily Papers item, reduced to what the content store keeps."""

    record: Record
    listed: dt.date
    upvotes: int
    withdrawn: bool


def _timestamp(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(value: object) -> str:
    return normalize_whitespace(value) if isinstance(value, str) else ""


def _url(value: object) -> str:
    if isinstance(value, str) and value.strip().startswith(("http://", "https://")):
        return value.strip()
    return ""


def parse_items(
    items: Sequence[Any],
    tz: ZoneInfo,
    *,
    where: str,
    report: ImportReport,
    en_words: int = 60,
) -> list[HfPaper]:
    """Turn Daily Papers items into :class:`HfPaper`; malformed items become problems."""
    out: list[HfPaper] = []
    for n, item in enumerate(items, 1):
        paper = item.get("paper") if isinstance(item, Mapping) else None
        if not isinstance(paper, Mapping):
            report.problem(f"{where} item {n}", "has no 'paper' object; skipped")
            continue
        raw_id = paper.get("id")
        try:
            arxiv_id = normalize_arxiv_id(str(raw_id)) if raw_id else ""
        except ValueError as exc:
            report.problem(f"{where} item {n}", f"{exc}; skipped")
            continue
        if not arxiv_id:
            report.problem(f"{where} item {n}", "has no paper.id; skipped")
            continue
        title = _text(paper.get("title")) or _text(item.get("title"))
        if not title:
            report.problem(f"{where} {arxiv_id}", "has no title; skipped")
            continue
        moment = _timestamp(paper.get("submittedOnDailyAt")) or _timestamp(item.get("publishedAt"))
        if moment is None:
            report.problem(f"{where} {arxiv_id}", "has no listing time; skipped")
            continue
        authors = paper.get("authors")
        names = tuple(
            _text(a.get("name"))
            for a in (authors if isinstance(authors, list) else [])
            if isinstance(a, Mapping) and _text(a.get("name"))
        )
        upvotes_raw = paper.get("upvotes", 0)
        upvotes = int(upvotes_raw) if isinstance(upvotes_raw, int | float) else 0
        links = {
            "code": _url(paper.get("githubRepo")),
            "project": _url(paper.get("projectPage")),
            "hf": f"https://huggingface.co/papers/{arxiv_id}",
        }
        ai_summary = _text(paper.get("ai_summary"))
        listed = listing_day(moment, tz)
        record = Record(
            arxiv_id=arxiv_id,
            title_en=title,
            date=listed,
            summary_en=shorten(ai_summary, Language.EN, en_words=en_words) if ai_summary else "",
            authors=names,
            links={k: v for k, v in links.items() if v},
            score=max(0, upvotes),
            abstract=str(paper.get("summary") or "").strip(),
        )
        withdrawn = bool(paper.get("withdrawnAt"))
        out.append(HfPaper(record, listed, max(0, upvotes), withdrawn))
    return out


async def fetch_daily(
    client: HttpClient, base_url: str, day: dt.date, *, page_size: int = PAGE_SIZE
) -> list[Any]:
    """Every item Hugging Face lists for one (UTC) day, following pages.

    The server may cap ``limit`` below what we ask, so a page shorter than ``page_size`` does
    not prove it is the last: pages are followed until one is empty, brings no new paper, or
    is shorter than the first one.
    """
    url = base_url.rstrip("/") + "/api/daily_papers"
    items: list[Any] = []
    ids: set[str] = set()
    first_len: int | None = None
    for page in range(MAX_PAGES):
        response = await client.get(
            url, params={"date": day.isoformat(), "limit": page_size, "p": page}
        )
        try:
            data = response.json()
        except ValueError:
            raise ImportFailed(
                f"{url} answered with something that is not JSON "
                f"({response.text[:80]!r}): check {SETTING}"
            ) from None
        if isinstance(data, Mapping) and "error" in data:
            raise ImportFailed(f"Hugging Face refused {day}: {data['error']}")
        if not isinstance(data, list):
            raise ImportFailed(
                f"{url} answered with a {type(data).__name__}, not a list of papers: "
                f"check {SETTING}"
            )
        fresh = [item for item in data if _item_id(item) not in ids]
        if not fresh:
            break
        items.extend(fresh)
        ids.update(_item_id(item) for item in fresh)
        if first_len is None:
            first_len = len(data)
        elif len(data) < first_len:
            break
    return items


def _item_id(item: Any) -> str:
    paper = item.get("paper") if isinstance(item, Mapping) else None
    return str(paper.get("id")) if isinstance(paper, Mapping) else repr(item)


def select(
    papers: Sequence[HfPaper],
    days: Sequence[dt.date],
    *,
    min_upvotes: int,
    top: int | None,
    report: ImportReport,
) -> list[HfPaper]:
    """Keep papers listed on ``days`` that are not withdrawn, meet ``min_upvotes``, and are
    among the ``top`` most upvoted; count the others as skipped. Order: most upvoted first."""
    window = set(days)
    unique: dict[str, HfPaper] = {}
    for p in papers:
        if p.listed in window:
            unique.setdefault(p.record.arxiv_id, p)
    kept: list[HfPaper] = []
    for p in unique.values():
        if p.withdrawn:
            report.skip("withdrawn")
        elif p.upvotes < min_upvotes:
            report.skip(f"below {min_upvotes} upvotes")
        else:
            kept.append(p)
    kept.sort(key=lambda p: (-p.upvotes, p.listed, p.record.arxiv_id))
    if top is not None and len(kept) > top:
        report.skip(f"not in the top {top}", len(kept) - top)
        kept = kept[: max(0, top)]
    return kept


async def fetch_window(
    client: HttpClient,
    base_url: str,
    days: Sequence[dt.date],
    tz: ZoneInfo,
    *,
    report: ImportReport,
    en_words: int,
    step: Callable[[str], None] | None = None,
) -> list[HfPaper]:
    """Fetch the UTC days covering ``days`` in ``tz`` (one either side) and parse them."""
    first, last = min(days), max(days)
    fetch_days = [first + dt.timedelta(days=i) for i in range(-1, (last - first).days + 2)]
    out: list[HfPaper] = []
    for day in fetch_days:
        items = await fetch_daily(client, base_url, day)
        out.extend(parse_items(items, tz, where=f"hf {day}", report=report, en_words=en_words))
        if step is not None:
            step(f"fetched Hugging Face {day}: {len(items)} listed")
    return out


async def import_hf(
    store: ContentStore,
    settings: Settings,
    days: Sequence[dt.date],
    *,
    min_upvotes: int,
    top: int | None,
    dry_run: bool,
    report: ImportReport,
    step: Callable[[str], None] | None = None,
    begin: Callable[[int], None] | None = None,
) -> None:
    """Import the papers Hugging Face listed on ``days`` (local days in settings.timezone).

    New papers become drafts with every field; existing files get fresh score and links only.
    """
    src = settings.sources
    if begin is not None:
        begin((max(days) - min(days)).days + 3)
    async with HttpClient(setting=SETTING, timeout=src.timeout, retries=src.retries) as client:
        papers = await fetch_window(
            client,
            src.hf_url,
            days,
            settings.tz,
            report=report,
            en_words=settings.summary_en_words,
            step=step,
        )
    kept = select(papers, days, min_upvotes=min_upvotes, top=top, report=report)
    apply_records(
        store, [p.record for p in kept], mode=Mode.REFRESH, dry_run=dry_run, report=report
    )
