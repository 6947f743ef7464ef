"""The word index answers exactly what the trigram index does, faster.

``SearchIndex(words=False)`` answers every query from the trigram tables (substring match,
the reference); the default answers a query whose terms are all ``word_able`` from the
word table and its vocabulary. Both must find the same papers in the same order, after a
build and after any sync that adds, changes and removes papers.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_CONTENT
from digestbot.content.store import ContentStore
from digestbot.models import Paper
from digestbot.search.index import SearchIndex, SearchResult
from digestbot.search.query import parse_query, word_able

# Pieces that stress the two tokenizers' differences: words inside words, short words,
# CJK runs broken by kana punctuation, letters with marks, inner punctuation, underscores.
PIECES = [
    "gpt", "ChatGPT", "GPT-4", "Transformer", "transformers", "former", "trans", "RL", "3D",
    "x2", "naïve", "İstanbul", "snake_case", "RL_agent", "LLaMA", "2404.08634", "v2",
    "注意力", "注意", "长上下文", "上下文", "上下", "模型", "大模型", "图", "アテンション",
    "ア・イ", "ー", "한국어", "，", "。", "、", " ", " ", " ", "-", "(", ")", "'", ".",
    "mem\u00adory", "x\u0301", "R&D", "C++", "e.g.",
]  # fmt: skip
QUERIES = [
    "gpt", "chatgpt", "former", "trans", "transformer", "rl", "3d", "x2", "llama", "2404",
    "08634", "注意", "注意力", "上下文", "长上下文", "下文", "模型", "大模型", "图", "アテ",
    "テンション", "한국", "agent", "case", "snake", "gpt 注意", "rl 模型", "former 上下文",
    "naïve", "gpt-4", "istanbul", "zzz", "上下 长上", "pt-", "t-4", "2404.0", "e_c",
    "ve", "ïve", "08634", "mem\u00adory", "x́", "r&d", "c++",
]  # fmt: skip


def ids(result: SearchResult) -> list[str]:
    return [hit.arxiv_id for hit in result.hits]


def text_of(draw: st.DrawFn, size: int) -> str:
    return "".join(draw(st.lists(st.sampled_from(PIECES), max_size=size)))


@st.composite
def papers(draw: st.DrawFn, start: int = 0) -> list[Paper]:
    out = []
    for i in range(draw(st.integers(1, 12))):
        out.append(
            Paper(
                f"2404.{start + i:05d}",
                text_of(draw, 6) or "x",
                dt.date(2024, 4, 1 + draw(st.integers(0, 20))),
                title_zh=text_of(draw, 4),
                summary_en=text_of(draw, 12),
                summary_zh=text_of(draw, 12),
                authors=(text_of(draw, 3),),
                score=draw(st.integers(0, 5)),
            )
        )
    return out


def both(papers: list[Paper]) -> Iterator[SearchIndex]:
    for words in (True, False):
        idx = SearchIndex(words=words)
        idx.rebuild(papers)
        yield idx


def assert_same(words: SearchIndex, trigrams: SearchIndex) -> None:
    for query in QUERIES:
        for offset in (0, 2):
            got = words.search(query, limit=50, offset=offset)
            want = trigrams.search(query, limit=50, offset=offset)
            assert (ids(got), got.total) == (ids(want), want.total), query


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers(), papers(start=100), st.data())
def test_same_papers_as_the_trigram_index_after_build_and_sync(
    first: list[Paper], later: list[Paper], data: st.DataObject
) -> None:
    words, trigrams = both(first)
    with words, trigrams:
        assert_same(words, trigrams)
        # a sync that removes some, changes some and adds others
        kept = [p for p in first if data.draw(st.booleans())]
        changed = {p.arxiv_id: p for p in kept}
        for p in kept[:2]:
            changed[p.arxiv_id] = Paper(
                p.arxiv_id, p.title_zh or "y", p.date, summary_en=p.title_en, score=p.score + 1
            )
        changed.update((p.arxiv_id, p) for p in later)
        for idx in (words, trigrams):
            idx.sync(changed)
        assert_same(words, trigrams)


def test_the_sample_answers_the_same_both_ways() -> None:
    sample = list(ContentStore(SAMPLE_CONTENT).load().papers.values())
    words, trigrams = both(sample)
    with words, trigrams:
        found = 0
        for a, b in itertools.product(
            ["attention", "memory", "模型", "记忆", "LLM", "RL"], ["", "长"]
        ):
            query = f"{a} {b}"
            got, want = words.search(query, limit=20), trigrams.search(query, limit=20)
            assert ids(got) == ids(want), query
            found += bool(got.hits)
        assert found >= 6


def test_a_cjk_term_does_not_join_two_runs() -> None:
    # "注意" and "意力" apart: the bigrams 注意 意力 are in the text, "注意力" is not
    apart = Paper(
        "2404.00001", "Split", dt.date(2024, 4, 1), title_zh="注意，意力", summary_zh="长上。上下"
    )
    together = Paper("2404.00002", "Whole", dt.date(2024, 4, 1), title_zh="注意力")
    for words in (True, False):
        with SearchIndex(words=words) as idx:
            idx.rebuild([apart, together])
            assert ids(idx.search("注意力")) == ["2404.00002"]
            assert idx.search("长上下").total == 0
            assert ids(idx.search("上下")) == ["2404.00001"]


@pytest.mark.parametrize(
    ("query", "table"),
    [
        ("transformer memory", "words_fts"),
        ("RL 长上下文", "words_fts"),
        ("注意 图", "words_fts"),
        ("gpt-4", "words_fts"),  # inner punctuation: one word
        ("naïve 2404.08634", "words_fts"),
        ("mem\u00adory", "papers_fts"),  # a format character (soft hyphen): trigrams
        ("ア・イ", "papers_fts"),  # kana punctuation inside one CJK term: trigrams
    ],
)
def test_which_index_answers(query: str, table: str) -> None:
    sample = list(ContentStore(SAMPLE_CONTENT).load().papers.values())
    with SearchIndex() as idx:
        idx.rebuild(
            [*sample, Paper("2404.00001", "Transformer memory gpt naïve", dt.date(2024, 4, 1))]
        )
        terms = parse_query(query).terms
        assert all(word_able(t) for t in terms) == (table == "words_fts")
        plan = idx._plan(terms)
        assert plan is not None and plan[0] == table


def test_a_word_no_paper_holds_finds_nothing_at_once() -> None:
    with SearchIndex() as idx:
        idx.rebuild([Paper("2404.00001", "Transformer memory", dt.date(2024, 4, 1))])
        assert idx._plan(["zzzq"]) is None
        assert idx.search("zzzq").total == 0
        assert ids(idx.search("ansfor")) == ["2404.00001"]  # inside a word, as before


def test_a_term_held_by_many_words_falls_back_to_trigrams() -> None:
    papers = [
        Paper(f"2404.{i:05d}", f"Token{i:03d}ization study", dt.date(2024, 4, 1))
        for i in range(120)
    ]
    with SearchIndex() as idx:
        idx.rebuild(papers)
        plan = idx._plan(["token"])
        assert plan is not None and plan[0] == "papers_fts"
        assert idx.search("token", limit=100).total == 120
        plan = idx._plan(["token007ization"])
        assert plan is not None and plan[0] == "words_fts"
        assert ids(idx.search("token007ization")) == ["2404.00007"]
