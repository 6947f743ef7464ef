"""The reading routes: `/` archive, `/issues/<W>`, `/papers/<id>`, `/search`, `/feed.xml`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digestbot.delivery.issuebook import IssueRecord
from digestbot.errors import WeekError
from digestbot.models import Language, Status
from digestbot.render.context import CardView, card_view, paper_path
from digestbot.render.web import (
    TEASER_PAPERS,
    ArchiveEntry,
    highlighter,
    render_web_archive,
    render_web_issue,
    render_web_paper,
    teasers,
)
from digestbot.web.feed import MEDIA_TYPE as ATOM_MEDIA_TYPE
from digestbot.web.feed import FeedItem, render_atom
from digestbot.web.language import negotiate_lang
from digestbot.web.pages import Pages
from digestbot.web.strings import Para, paras
from digestbot.weeks import Week

__all__ = ["Reading"]

#: the home page's summaries of the latest issue: a line or two each
HOME_ZH_CHARS = 60
HOME_EN_WORDS = 30
SEARCH_PAGE = 20
MAX_OFFSET = 10_000
MAX_QUERY = 200
FEED_ISSUES = 20
FEED_ZH_CHARS, FEED_EN_WORDS = 60, 30
"""Each summary in the feed is a teaser (the issue page has the rest): 20 issues of ~15
papers in both languages stay well under 200 KB."""
_VERSIONED_ID = re.compile(r"(.+)v\d+")


class Reading:
    """The published archive as pages and a feed; drafts and unpublished weeks stay private."""

    def __init__(
        self, pages: Pages, archive_version: Callable[[], Awaitable[Hashable]] | None = None
    ) -> None:
        """``archive_version``: changes whenever the published archive may have (the page
        cache's :class:`~digestbot.db.archive_version.ArchiveWatch`); the search page's map
        of each paper's first issue is kept while it stays the same. Without it the map is
        read again on every search."""
        self.pages = pages
        self.service = pages.service
        self.archive_version = archive_version
        self._weeks: tuple[Hashable, dict[str, str]] | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/", self.archive, methods=["GET"]),
            Route("/issues/{week}", self.issue, methods=["GET"]),
            Route("/papers/{arxiv_id:path}", self.paper, methods=["GET"]),
            Route("/search", self.search, methods=["GET"]),
            Route("/feed.xml", self.feed, methods=["GET"]),
        ]

    async def archive(self, request: Request) -> Response:
        """The home page: the latest issue's papers, then every issue by year."""
        pages = self.pages
        lang = pages.lang(request)
        records = await self.service.published_issues()
        entries = [self.entry(r) for r in records]
        latest = await self.service.published_issue(records[0].week) if records else None
        page = render_web_archive(
            entries,
            lang,
            templates=self.service.templates,
            public_url=pages.base,
            extra=pages.extra(request, lang),
            latest=latest,
            zh_chars=HOME_ZH_CHARS,
            en_words=HOME_EN_WORDS,
        )
        return pages.html(page)

    def entry(self, record: IssueRecord) -> ArchiveEntry:
        """An issue as the archive lists it, its teaser from its first papers."""
        firsts = (self.service.paper(pid) for pid in record.paper_ids[:TEASER_PAPERS])
        en, zh = teasers([p for p in firsts if p is not None])
        return ArchiveEntry(
            record.week,
            record.title_zh,
            record.title_en,
            len(record.paper_ids),
            record.published_at,
            teaser_en=en,
            teaser_zh=zh,
        )

    async def issue(self, request: Request) -> Response:
        pages = self.pages
        lang = pages.lang(request)
        raw = str(request.path_params["week"])
        try:
            week = Week.parse(raw)
        except (WeekError, ValueError):
            return pages.not_found(request, lang, "week_invalid", week=raw[:40])
        if str(week) != raw:
            return pages.redirect(f"/issues/{week}", 301, request.url.query)
        issue = await self.service.published_issue(week)
        if issue is None:
            return pages.not_found(request, lang, "issue_not_found", week=str(week))
        records = await self.service.published_issues()  # newest first
        at = next((i for i, r in enumerate(records) if r.week == issue.week), None)
        newer = records[at - 1] if at else None
        older = records[at + 1] if at is not None and at + 1 < len(records) else None
        page = render_web_issue(
            issue,
            lang,
            templates=self.service.templates,
            public_url=pages.base,
            extra=pages.extra(request, lang),
            previous=self.entry(older) if older else None,
            following=self.entry(newer) if newer else None,
        )
        return pages.html(page)

    async def paper(self, request: Request) -> Response:
        pages = self.pages
        lang = pages.lang(request)
        arxiv_id = str(request.path_params["arxiv_id"])
        paper = self.service.paper(arxiv_id)
        if paper is None or paper.status is not Status.READY:
            versioned = _VERSIONED_ID.fullmatch(arxiv_id)
            plain = self.service.paper(versioned.group(1)) if versioned else None
            if plain is not None and plain.status is Status.READY:
                return pages.redirect(paper_path(plain.arxiv_id), 301, request.url.query)
            return pages.not_found(request, lang, "paper_not_found", id=arxiv_id[:80])
        weeks = await self.service.issues_of_paper(paper.arxiv_id)
        page = render_web_paper(
            paper,
            lang,
            issue_week=min(weeks) if weeks else None,
            templates=self.service.templates,
            public_url=pages.base,
            extra=pages.extra(request, lang),
        )
        return pages.html(page)

    async def search(self, request: Request) -> Response:
        pages = self.pages
        lang = pages.lang(request)
        q = request.query_params.get("q", "")
        try:
            offset = min(max(int(request.query_params.get("offset", "0")), 0), MAX_OFFSET)
        except ValueError:
            offset = 0
        query = self.service.parse_query(q)
        notice: list[Para] = []
        views: list[CardView] = []
        issue_weeks: dict[str, str] = {}
        prev_url = next_url = None
        if query.kind == "too_long":
            notice = paras("search_too_long", lang)
        elif query.kind == "id":
            found = self.service.paper(query.arxiv_id)
            if found is not None and found.status is Status.READY:
                return pages.redirect(paper_path(found.arxiv_id), 303, f"lang={lang.value}")
            notice = paras("paper_not_found", lang, id=query.arxiv_id)
        elif query.kind != "empty":
            result = self.service.find_papers(query.text, limit=SEARCH_PAGE, offset=offset)
            issue_weeks = await self.issue_weeks()
            # cards from the index alone (display text, summaries already shortened), shown
            # only for papers the loaded store has as ready: drafts stay private
            ready = self.service.ready_among(hit.arxiv_id for hit in result.hits)
            for number, hit in enumerate(result.hits, start=offset + 1):
                if hit.card is not None and hit.arxiv_id in ready:
                    views.append(card_view(hit.card, lang, number=number))
            if result.total:
                last = offset + len(result.hits)
                total = f"{result.total}" if result.total_exact else f"{result.total}+"
                notice = paras("search_total", lang, total=total)
                if offset or last < result.total:
                    notice += paras("search_range", lang, first=offset + 1, last=last)
                if offset > 0:
                    prev_url = self.search_url(lang, q, max(offset - SEARCH_PAGE, 0))
                if last < result.total and last < MAX_OFFSET:
                    next_url = self.search_url(lang, q, last)
            else:
                notice = paras("search_none", lang)
        else:
            notice = paras("search_prompt", lang)
        return pages.page(
            request,
            "web/search.html.j2",
            lang,
            q=q[: MAX_QUERY * 2],
            papers=views,
            notice=notice,
            prev_url=prev_url,
            next_url=next_url,
            action=f"{pages.base}/search",
            lang_param=lang.value,
            issue_weeks=issue_weeks,
            mark=highlighter(query.terms),
        )

    async def issue_weeks(self) -> dict[str, str]:
        """Each published paper's first issue: arXiv id → week; read again only when the
        archive's version changes (or on every call without ``archive_version``)."""
        version = await self.archive_version() if self.archive_version is not None else None
        if self._weeks is not None and version is not None and self._weeks[0] == version:
            return self._weeks[1]
        weeks: dict[str, str] = {}
        papers = self.service.snapshot().papers
        for record in await self.service.published_issues():  # newest first: oldest wins
            for pid in record.paper_ids:
                # the store's own id string as the key: a map of 100,000 papers then costs
                # its table, not 100,000 more strings (~9 MiB at 100k)
                head = papers.get(pid)
                weeks[pid if head is None else head.arxiv_id] = record.week
        self._weeks = (version, weeks)
        return weeks

    def search_url(self, lang: Language, q: str, offset: int) -> str:
        params: list[tuple[str, str]] = [("q", q)]
        if offset:
            params.append(("offset", str(offset)))
        params.append(("lang", lang.value))
        return f"{self.pages.base}/search?{urlencode(params)}"

    async def feed(self, request: Request) -> Response:
        lang = negotiate_lang(request.query_params.get("lang"), None)
        # the latest issues by when they went out (an imported archive's weeks included)
        records = sorted(
            await self.service.published_issues(),
            key=lambda r: (r.published_at is not None, r.published_at or 0, r.week),
            reverse=True,
        )
        items: list[FeedItem] = []
        for record in records[:FEED_ISSUES]:
            issue = await self.service.published_issue(record.week)
            if issue is not None:
                items.append(FeedItem(issue, record.published_at))
        body = render_atom(
            items,
            lang,
            public_url=self.pages.public_url,
            site_title=self.pages.site,
            zh_chars=FEED_ZH_CHARS,
            en_words=FEED_EN_WORDS,
        )
        return Response(body, media_type=ATOM_MEDIA_TYPE)
