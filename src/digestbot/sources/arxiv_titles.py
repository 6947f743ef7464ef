"""Finding a paper on arXiv by its exact title, for archive posts that link it elsewhere.

``GET {arxiv_url}?search_query=ti:"<title>"&max_results=10`` answers an Atom feed of the
papers whose title holds those words; the one whose title equals the asked title after
normalisation (:func:`~digestbot.sources.markdown.title_key`: NFKC, case-folded, words
only) is the paper. No exact match means no id: a near miss is never taken.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from digestbot.settings import Settings
from digestbot.sources.arxiv import SETTING, parse_feed
from digestbot.sources.http import HttpClient

__all__ = ["find_by_titles", "search_query"]

#: Titles looked up per import at most: an archive with more needs its ids written in.
MAX_TITLES = 50


def search_query(title: str) -> str:
    """The ``search_query`` of an exact-title search (punctuation arXiv chokes on dropped)."""
    words = re.sub(r"[^\w\s-]", " ", title)
    return 'ti:"' + " ".join(words.split()) + '"'


async def find_by_titles(
    settings: Settings, titles: Sequence[str], key: Callable[[str], str]
) -> dict[str, str]:
    """``key(title)`` → arXiv id for each title arXiv has exactly; others are left out.

    Raises SourceUnreachable (an ImportFailed) when arXiv cannot be reached at all.
    """
    src = settings.sources
    found: dict[str, str] = {}
    async with HttpClient(
        setting=SETTING, timeout=src.timeout, retries=min(src.retries, 1), backoff=0.5
    ) as client:
        for n, title in enumerate(titles[:MAX_TITLES]):
            if n and src.arxiv_delay > 0:
                await asyncio.sleep(src.arxiv_delay)
            response = await client.get(
                src.arxiv_url, params={"search_query": search_query(title), "max_results": 10}
            )
            wanted = key(title)
            for entry in parse_feed(response.content).entries:
                if key(entry.title) == wanted:
                    found[wanted] = entry.arxiv_id
                    break
    return found
