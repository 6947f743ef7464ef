"""Sample papers and issues for the render tests (no content store, no I/O)."""

from __future__ import annotations

import datetime as dt

from digestbot.models import Issue, Links, Paper, Status
from digestbot.weeks import Week, issue_titles

HOSTILE_TITLES = ("<script>alert(1)</script>", "A & B", "<b", '"quoted"')

SUMMARY_ZH = (
    "我们提出 TransformerFAM，一种新的 Transformer 架构。它利用反馈循环让网络关注自身的"
    "潜在表示，从而在不增加参数的情况下处理无限长的输入序列。实验表明，在 1B、8B 和 24B "
    "规模的 Flan-PaLM 上，长上下文任务的表现都有明显提升。"
)
SUMMARY_EN = (
    "TransformerFAM adds a feedback loop so that a Transformer attends to its own latent "
    "representations, e.g. a working memory, which lets it process indefinitely long inputs "
    "without new weights. On Flan-PaLM 1B, 8B and 24B it improves long-context tasks by 1.5 "
    "points on average. The method is simple and works with existing checkpoints."
)


def make_paper(
    n: int,
    *,
    title_en: str | None = None,
    title_zh: str | None = None,
    summary_en: str = SUMMARY_EN,
    summary_zh: str = SUMMARY_ZH,
    code: str | None = "https://github.com/example/fam",
    project: str | None = None,
    abstract: str = "",
) -> Paper:
    return Paper(
        arxiv_id=f"2404.{10000 + n:05d}",
        title_en=title_en if title_en is not None else f"TransformerFAM {n}: Feedback Attention",
        title_zh=title_zh if title_zh is not None else f"TransformerFAM {n}：反馈注意力即工作记忆",
        date=dt.date(2024, 4, 15) + dt.timedelta(days=n % 5),
        summary_en=summary_en,
        summary_zh=summary_zh,
        authors=("Dongseong Hwang", "Weiran Wang"),
        links=Links(code=code, project=project),
        score=10 + n,
        tags=("llm", "memory"),
        status=Status.READY,
        abstract=abstract,
    )


def make_issue(
    papers: list[Paper] | tuple[Paper, ...] | None = None,
    *,
    count: int = 10,
    intro_zh: str = "",
    intro_en: str = "",
    week: str = "2024-W16",
) -> Issue:
    if papers is None:
        papers = [make_paper(i) for i in range(1, count + 1)]
    w = Week.parse(week)
    start, end = w.monday, w.friday
    zh, en = issue_titles(start, end)
    return Issue(
        week=str(w),
        title_zh=zh,
        title_en=en,
        start=start,
        end=end,
        papers=tuple(papers),
        intro_zh=intro_zh,
        intro_en=intro_en,
    )


def hostile_issue() -> Issue:
    papers = [
        make_paper(
            i,
            title_en=t,
            title_zh=f"{t} 中文",
            summary_en=f"Summary with {t} inside. And <i>tags</i> & entities &amp; too.",
            summary_zh=f"摘要里有 {t}。还有 <i>标签</i> 和 &amp; 实体。",
            code='https://example.com/?a=1&b="2"',
        )
        for i, t in enumerate(HOSTILE_TITLES, 1)
    ]
    return make_issue(papers, intro_zh="导语 <script>x</script> & 更多", intro_en="Intro & <b>")
