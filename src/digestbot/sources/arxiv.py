"""The arXiv importer: fetch papers by id from the export API (Atom) and write drafts.

``GET {arxiv_url}?id_list=ID1,ID2&max_results=N`` answers an Atom feed with one ``<entry>``
per paper (``<id>``, ``<title>``, ``<summary>``, ``<author><name>``, ``<published>``). arXiv
reports errors with HTTP 200 too: the feed then holds a single entry titled ``Error`` whose
``<id>`` is under ``…/api/errors``, and the summary says what was wrong. That entry is
reported, never imported; in a batch of several ids it makes the importer ask for each id on
its own, so one bad id does not sink the others. arXiv asks for one request per 3 seconds
(``DIGESTBOT_SOURCES__ARXIV_DELAY``).

New papers become drafts with title, abstract (the file's body), authors and date (the day
of the first version, UTC). Existing files are not changed (arXiv has no machine-owned field).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from digestbot.content.schema import normalize_arxiv_id
from digestbot.content.store import ContentStore
from digestbot.errors import ImportFailed
from digestbot.render.text import normalize_whitespace
from digestbot.settings import Settings
from digestbot.sources.http import HttpClient
from digestbot.sources.importer import (
    ImportReport,
    Mode,
    Record,
    apply_records,
    arxiv_id_from_url,
)

__all__ = ["BATCH", "ArxivEntry", "ArxivFeed", "fetch_entries", "import_arxiv", "parse_feed"]

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
#: Ids asked for per request.
BATCH = 50
SETTING = "DIGESTBOT_SOURCES__ARXIV_URL"


@dataclass(frozen=True, slots=True)
class ArxivEntry:
    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    published: dt.datetime

    def record(self) -> Record:
        return Record(
            arxiv_id=self.arxiv_id,
            title_en=self.title,
            date=self.published.astimezone(dt.UTC).date(),
            authors=self.authors,
            abstract=self.abstract,
        )


@dataclass(frozen=True, slots=True)
class ArxivFeed:
    """A parsed answer: the papers, and the error messages arXiv sent as entries."""

    entries: tuple[ArxivEntry, ...]
    errors: tuple[str, ...]


def _find_text(el: ET.Element, path: str) -> str:
    found = el.find(path, NS)
    return normalize_whitespace(found.text or "") if found is not None else ""


def parse_feed(text: str | bytes) -> ArxivFeed:
    """Parse an export-API Atom feed; raise ImportFailed if it is not one."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        shown = text[:80] if isinstance(text, str) else text[:80].decode("utf-8", "replace")
        raise ImportFailed(
            f"arXiv answered with something that is not an Atom feed ({shown.strip()!r}): "
            f"wait a minute and try again, or check {SETTING}"
        ) from None
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ImportFailed(f"arXiv answered with <{root.tag}>, not an Atom feed: check {SETTING}")
    entries: list[ArxivEntry] = []
    errors: list[str] = []
    for entry in root.findall("atom:entry", NS):
        id_url = _find_text(entry, "atom:id")
        title = _find_text(entry, "atom:title")
        summary = _find_text(entry, "atom:summary")
        if "/api/errors" in id_url or title == "Error":
            errors.append(summary or id_url or "arXiv reported an error without a message")
            continue
        arxiv_id = arxiv_id_from_url(id_url)
        if arxiv_id is None or not title:
            # arXiv answers an unknown but well-formed id with an empty entry.
            continue
        published_raw = _find_text(entry, "atom:published")
        try:
            published = dt.datetime.fromisoformat(published_raw)
        except ValueError:
            errors.append(f"{arxiv_id}: unreadable <published> {published_raw!r}")
            continue
        if published.tzinfo is None:
            published = published.replace(tzinfo=dt.UTC)
        authors = tuple(
            name for a in entry.findall("atom:author", NS) if (name := _find_text(a, "atom:name"))
        )
        raw_summary = entry.find("atom:summary", NS)
        abstract = _unwrap(raw_summary.text or "") if raw_summary is not None else ""
        entries.append(ArxivEntry(arxiv_id, title, abstract, authors, published))
    return ArxivFeed(tuple(entries), tuple(errors))


def _unwrap(text: str) -> str:
    """arXiv hard-wraps abstracts; keep paragraph breaks (blank lines), join the rest."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


class _Pacer:
    """At most one request per ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.last: float | None = None

    async def wait(self) -> None:
        if self.last is not None and self.delay > 0:
            gap = self.delay - (time.monotonic() - self.last)
            if gap > 0:
                await asyncio.sleep(gap)
        self.last = time.monotonic()


async def fetch_entries(
    client: HttpClient,
    url: str,
    ids: Sequence[str],
    *,
    delay: float,
    report: ImportReport,
    step: Callable[[str], None] | None = None,
) -> list[ArxivEntry]:
    """Fetch ``ids`` in batches, one request per ``delay`` seconds; report errors and misses."""
    pacer = _Pacer(delay)
    found: dict[str, ArxivEntry] = {}
    done = 0

    async def ask(batch: Sequence[str]) -> ArxivFeed:
        await pacer.wait()
        response = await client.get(
            url, params={"id_list": ",".join(batch), "max_results": len(batch)}
        )
        return parse_feed(response.content)

    for start in range(0, len(ids), BATCH):
        batch = list(ids[start : start + BATCH])
        feed = await ask(batch)
        if feed.errors and len(batch) > 1:
            # One bad id makes arXiv answer only the error: ask for each id on its own.
            for one in batch:
                single = await ask([one])
                for msg in single.errors:
                    report.problem(f"arXiv {one}", f"arXiv says: {msg}")
                    report.failed_ids.append(one)
                found.update({e.arxiv_id: e for e in single.entries})
        else:
            for msg in feed.errors:
                report.problem(f"arXiv {','.join(batch)}", f"arXiv says: {msg}")
                report.failed_ids.extend(batch)
            found.update({e.arxiv_id: e for e in feed.entries})
        done += len(batch)
        if step is not None:
            step(f"fetched {done} of {len(ids)} ids from arXiv")
    for arxiv_id in ids:
        if arxiv_id not in found and arxiv_id not in report.failed_ids:
            report.problem(f"arXiv {arxiv_id}", "arXiv has no such paper; check the id")
            report.failed_ids.append(arxiv_id)
    return [found[i] for i in ids if i in found]


async def import_arxiv(
    store: ContentStore,
    settings: Settings,
    raw_ids: Sequence[str],
    *,
    dry_run: bool,
    report: ImportReport,
    step: Callable[[str], None] | None = None,
    begin: Callable[[int], None] | None = None,
) -> None:
    """Import papers by id (``2404.08634``, ``arXiv:2404.08634v2`` or an arXiv URL)."""
    ids: list[str] = []
    for raw in raw_ids:
        try:
            arxiv_id = arxiv_id_from_url(raw) or normalize_arxiv_id(raw)
        except ValueError as exc:
            report.problem(f"arXiv {raw}", str(exc))
            report.failed_ids.append(raw)
            continue
        if arxiv_id not in ids:
            ids.append(arxiv_id)
    if not ids:
        return
    src = settings.sources
    if begin is not None:
        begin(-(-len(ids) // BATCH))
    async with HttpClient(
        setting=SETTING, timeout=src.timeout, retries=src.retries, backoff=max(src.arxiv_delay, 0.1)
    ) as client:
        entries = await fetch_entries(
            client, src.arxiv_url, ids, delay=src.arxiv_delay, report=report, step=step
        )
    apply_records(
        store, [e.record() for e in entries], mode=Mode.REFRESH, dry_run=dry_run, report=report
    )
