"""The bot's views: pure replies, with every content and user string escaped exactly once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from digestbot.bot import views
from digestbot.delivery.issuebook import IssueRecord
from digestbot.models import Language, Links, Paper, Status
from digestbot.render.telegram import check_telegram_html, visible_text
from digestbot.reports import PublishReport, StatusReport

TITLE_EN = "<script>alert('x')</script> Tom & Jerry: <b>not bold</b> </a> &amp; co"
TITLE_ZH = "<script>猫</script> 猫 & 鼠：<b>不加粗</b> </a>"
SUMMARY_EN = "It shows 1 < 2 & 3 > 2 for <b>all</b> inputs; a fake </a> closes nothing."
BUDGET = views.SummaryBudget(zh_chars=120, en_words=60)

HOSTILE = Paper(
    arxiv_id="2405.09999",
    title_en=TITLE_EN,
    title_zh=TITLE_ZH,
    date=dt.date(2024, 5, 2),
    summary_en=SUMMARY_EN,
    summary_zh="我们证明 1 < 2 对<b>所有</b>输入成立。",
    links=Links(code='https://example.org/code?a=1&b="2"'),
    status=Status.READY,
)


def test_paper_card_escapes_titles_summary_and_links() -> None:
    html = views.paper_card(
        HOSTILE, ["2024-W18"], Language.EN, public_url="https://d.example", budget=BUDGET
    )
    check_telegram_html(html)
    lines = html.splitlines()
    assert lines[0] == (
        "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Tom &amp; Jerry: "
        "&lt;b&gt;not bold&lt;/b&gt; &lt;/a&gt; &amp;amp; co</b>"
    )
    assert lines[1] == (
        "<i>&lt;script&gt;猫&lt;/script&gt; 猫 &amp; 鼠：&lt;b&gt;不加粗&lt;/b&gt; &lt;/a&gt;</i>"
    )
    assert (
        "It shows 1 &lt; 2 &amp; 3 &gt; 2 for &lt;b&gt;all&lt;/b&gt; inputs; "
        "a fake &lt;/a&gt; closes nothing." in lines
    )
    assert '<a href="https://example.org/code?a=1&amp;b=&#34;2&#34;">Code</a>' in html
    assert html.count("<a ") == html.count("</a>") == 5  # arXiv, PDF, Code, HF, the issue
    shown = visible_text(html).splitlines()
    assert shown[:2] == [TITLE_EN, TITLE_ZH]
    assert SUMMARY_EN in shown


def test_paper_card_in_chinese_puts_the_chinese_title_first() -> None:
    html = views.paper_card(HOSTILE, [], Language.ZH, public_url="https://d.example", budget=BUDGET)
    check_telegram_html(html)
    shown = visible_text(html).splitlines()
    assert shown[:2] == [TITLE_ZH, TITLE_EN]
    assert "我们证明 1 < 2 对<b>所有</b>输入成立。" in shown
    assert shown[-1] == "下一期将收录。"


def test_link_escapes_the_url_and_the_label() -> None:
    assert views.link('https://x.org/?q="a"&b', "<PDF>") == (
        '<a href="https://x.org/?q=&quot;a&quot;&amp;b">&lt;PDF&gt;</a>'
    )


@dataclass(frozen=True)
class Hit:
    arxiv_id: str
    title_en: str
    title_zh: str
    date: dt.date


@dataclass(frozen=True)
class Page:
    hits: list[Hit]
    total: int
    total_exact: bool = True


def test_search_results_escape_the_query_and_titles_but_not_button_labels() -> None:
    hit = Hit("2405.09999", TITLE_EN, TITLE_ZH, dt.date(2024, 5, 2))
    reply = views.search_results(
        Page([hit], 7), "<b>tom</b> & jerry", 0, "0123456789ab", Language.EN
    )
    check_telegram_html(reply.html)
    assert reply.html.startswith("🔎 <b>“&lt;b&gt;tom&lt;/b&gt; &amp; jerry”</b>: papers 1 of 7")
    assert f"1. {TITLE_EN}" in visible_text(reply.html).splitlines()
    assert reply.keyboard is not None
    [(paper,), (more,)] = reply.keyboard
    assert paper.label == "1. <script>alert('x')</script> Tom & Jerry: <b>…"  # plain text
    assert (paper.data, more.data) == ("p:2405.09999", "q:0123456789ab:1")

    nothing = views.search_results(Page([], 0), "<script>", 0, "", Language.EN)
    check_telegram_html(nothing.html)
    assert "“&lt;script&gt;”" in nothing.html and nothing.keyboard is None


def test_publish_preview_and_report_escape_titles_and_notes() -> None:
    report = PublishReport(
        week="2024-W18",
        title="<i>Week</i> & more",
        papers=1,
        dry_run=True,
        planned=1,
        notes=["channel <-100> & friends"],
    )
    preview = views.publish_preview(report, Language.EN)
    check_telegram_html(preview.html)
    assert visible_text(preview.html).splitlines() == [
        "Publish 2024-W18?",
        "<i>Week</i> & more",
        "1 paper → 1 destination",
        "channel <-100> & friends",
    ]
    assert preview.keyboard is not None
    assert [b.data for b in preview.keyboard[0]] == ["pub:2024-W18", "cancel:2024-W18"]

    done = views.delivery_report(report, Language.EN)
    check_telegram_html(done)
    assert visible_text(done).splitlines()[:2] == [
        "Delivery report",
        "2024-W18 <i>Week</i> & more: 1 paper",
    ]


def test_status_escapes_the_issue_title() -> None:
    published = dt.datetime(2024, 5, 4, 1, 0, tzinfo=dt.UTC)
    record = IssueRecord(
        id=1,
        week="2024-W18",
        title_zh="<b>第18周</b> & 更多",
        title_en="<b>W18</b> & more",
        paper_ids=("2405.09999",),
        status="published",
        channels=frozenset({"telegram"}),
        source="bot",
        created_at=published,
        published_at=published,
    )
    report = StatusReport(
        last_issue=record, subscribers={("telegram", "active"): 2}, backlog=0, papers=3
    )
    html = views.status_text(report, Language.EN)
    check_telegram_html(html)
    assert visible_text(html).splitlines()[1] == (
        "Last issue: 2024-W18 <b>W18</b> & more (1 papers, published 2024-05-04 01:00 UTC)"
    )
