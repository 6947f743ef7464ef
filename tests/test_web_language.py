"""The reader's language on the web: kept in a cookie and in every link of every page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from test_web import Site, site  # noqa: F401  (the app over a real service)

HREF = re.compile(r'<a [^>]*href="([^"]+)"')


def local_links(page: str) -> list[str]:
    """Every link of a page to this site, outside the footer's language switcher."""
    body = page.split('<p class="langs">')[0]
    return [h.replace("&amp;", "&") for h in HREF.findall(body) if h.startswith("/")]


def test_lang_query_is_kept_in_every_link_and_remembered(site: Site) -> None:  # noqa: F811
    client = site.client
    first = client.get("/?lang=en", headers={"accept-language": "zh-CN"})
    assert 'lang="en"' in first.text.split(">", 2)[1]
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Cookie" in first.headers["vary"]
    pages = ["/?lang=en", "/issues/2024-W16?lang=en", "/papers/2404.08197?lang=en"]
    pages += ["/search?q=CLIP&lang=en", "/subscribe?lang=en", "/issues/2099-W01?lang=en"]
    for path in pages:
        links = local_links(client.get(path).text)
        assert links, path
        for link in links:
            assert parse_qs(urlsplit(link).query).get("lang") == ["en"], (path, link)

    # a link without ?lang (typed, or from elsewhere): the cookie decides, not the browser
    again = client.get("/issues/2024-W16", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert '<html lang="en">' in again.text
    assert "set-cookie" not in again.headers

    # choosing another language switches the cookie
    switched = client.get("/search?lang=zh")
    assert switched.headers["set-cookie"].startswith("lang=zh;")
    assert '<html lang="zh-CN">' in client.get("/", headers={"accept-language": "en"}).text


def test_accept_language_decides_only_the_first_visit(site: Site) -> None:  # noqa: F811
    client = site.client
    first = client.get("/", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in first.text
    assert first.headers["set-cookie"].startswith("lang=en;")
    assert 'href="/issues/2024-W16?lang=en"' in first.text
    later = client.get("/", headers={"accept-language": "zh-CN"})
    assert '<html lang="en">' in later.text


def test_a_bad_lang_cookie_is_ignored(site: Site) -> None:  # noqa: F811
    site.client.cookies.set("lang", "fr")
    r = site.client.get("/", headers={"accept-language": "zh-CN"})
    assert '<html lang="zh-CN">' in r.text
    assert r.headers["set-cookie"].startswith("lang=zh;")


def test_search_pages_keep_the_language(site: Site) -> None:  # noqa: F811
    r = site.client.get("/search?q=model&lang=en")
    assert r.status_code == 200
    assert '<input type="hidden" name="lang" value="en">' in r.text
    found = site.client.get("/search?q=2404.08197&lang=en")
    assert found.status_code == 303
    assert found.headers["location"] == "/papers/2404.08197?lang=en"
