"""The topic routes: `/topics`, `/topics/<slug>` (paged) and `/topics/<slug>/feed.xml`."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digestbot.models import Paper
from digestbot.render.context import paper_view
from digestbot.topicdesk import TopicPaper
from digestbot.web.feed import MEDIA_TYPE as ATOM_MEDIA_TYPE
from digestbot.web.feed import PaperItem, render_topic_atom
from digestbot.web.pages import Pages, negotiate_lang

__all__ = ["TOPIC_PAGE", "TopicPages"]

TOPIC_PAGE = 20
FEED_PAPERS = 50
MAX_OFFSET = 100_000


class TopicPages:
    """Topics and their papers of published issues, in the reader's language."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.service = pages.service

    def routes(self) -> list[Route]:
        return [
            Route("/topics", self.index, methods=["GET"]),
            Route("/topics/{slug}", self.topic, methods=["GET"]),
            Route("/topics/{slug}/feed.xml", self.feed, methods=["GET"]),
        ]

    async def index(self, request: Request) -> Response:
        lang = self.pages.lang(request)
        counts = await self.service.topic_counts()
        return self.pages.page(
            request,
            "web/topics.html.j2",
            lang,
            topics=counts,
            names={c.topic.slug: c.topic.name(lang) for c in counts},
        )

    async def topic(self, request: Request) -> Response:
        pages = self.pages
        lang = pages.lang(request)
        slug = str(request.path_params["slug"])
        topic = self.service.topic(slug)
        if topic is None:
            return pages.not_found(request, lang, "topic_not_found", slug=slug[:60])
        try:
            offset = min(max(int(request.query_params.get("offset", "0")), 0), MAX_OFFSET)
        except ValueError:
            offset = 0
        found = await self.service.topic_papers(slug)
        s = self.service.settings
        page = found[offset : offset + TOPIC_PAGE]
        views = [
            paper_view(
                paper,
                lang,
                number=number,
                zh_chars=s.summary_zh_chars,
                en_words=s.summary_en_words,
            )
            for number, paper in enumerate(self.wholes(page), start=offset + 1)
        ]
        prev_url = self.page_url(request, slug, max(offset - TOPIC_PAGE, 0)) if offset else None
        more = offset + TOPIC_PAGE < len(found)
        next_url = self.page_url(request, slug, offset + TOPIC_PAGE) if more else None
        return pages.page(
            request,
            "web/topic.html.j2",
            lang,
            topic=topic,
            topic_name=topic.name(lang),
            papers=views,
            total=len(found),
            feed_url=f"{pages.base}/topics/{slug}/feed.xml{self.lang_suffix(request)}",
            prev_url=prev_url,
            next_url=next_url,
        )

    async def feed(self, request: Request) -> Response:
        lang = negotiate_lang(request.query_params.get("lang"), None)
        slug = str(request.path_params["slug"])
        topic = self.service.topic(slug)
        if topic is None:
            return self.pages.not_found(request, lang, "topic_not_found", slug=slug[:60])
        published = {r.week: r.published_at for r in await self.service.published_issues()}
        items = []
        for item in (await self.service.topic_papers(slug))[:FEED_PAPERS]:
            paper = self.service.whole(item.paper)
            if paper is not None:
                items.append(PaperItem(paper, item.week, published.get(item.week)))
        body = render_topic_atom(
            items,
            lang,
            slug=slug,
            title=topic.name(lang),
            public_url=self.pages.public_url,
            site_title=self.pages.site,
        )
        return Response(body, media_type=ATOM_MEDIA_TYPE)

    def wholes(self, items: Sequence[TopicPaper]) -> list[Paper]:
        """The papers of ``items`` with their summaries (read from their files when they
        are not held whole); one whose file changed since the load is left out."""
        out = []
        for item in items:
            paper = self.service.whole(item.paper)
            if paper is not None:
                out.append(paper)
        return out

    def page_url(self, request: Request, slug: str, offset: int) -> str:
        params: list[tuple[str, str]] = []
        if offset:
            params.append(("offset", str(offset)))
        params.append(("lang", self.pages.lang(request).value))
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.pages.base}/topics/{slug}{query}"

    def lang_suffix(self, request: Request) -> str:
        return f"?lang={self.pages.lang(request).value}"
