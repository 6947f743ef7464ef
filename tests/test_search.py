"""The search index: id and URL parsing, CJK and English matching, ranking, sync, hostile input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, SAMPLE_CONTENT, require_corpus
from digestbot.content.store import ContentStore
from digestbot.models import Language, Links, Paper, PaperHead, Status
from digestbot.render.context import card_view, paper_view
from digestbot.search.index import SCHEMA_VERSION, SearchIndex, SearchIndexError, SearchResult
from digestbot.search.query import MAX_QUERY_CHARS, parse_query, split_terms

FAM = "2404.09173"  # TransformerFAM: Feedback attention is working memory


@pytest.fixture(scope="module")
def sample() -> dict[str, Paper]:
    return ContentStore(SAMPLE_CONTENT).load().papers


@pytest.fixture(scope="module")
def index(sample: dict[str, Paper]) -> Iterator[SearchIndex]:
    with SearchIndex() as idx:
        idx.rebuild(sample.values())
        yield idx


def ids(result: SearchResult) -> list[str]:
    return [hit.arxiv_id for hit in result.hits]


# -- parse_query ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2404.08634",
        "  2404.08634v2 ",
        "arXiv:2404.08634",
        "arxiv: 2404.08634",
        "https://arxiv.org/abs/2404.08634v1",
        "http://arxiv.org/abs/2404.08634",
        "arxiv.org/abs/2404.08634",
        "https://arxiv.org/pdf/2404.08634.pdf",
        "https://arxiv.org/pdf/2404.08634v3",
        "https://www.arxiv.org/html/2404.08634v1",
        "https://huggingface.co/papers/2404.08634",
        "https://huggingface.co/papers/2404.08634?utm_source=x#comments",
        "<https://arxiv.org/abs/2404.08634>",
        "(2404.08634).",
        "２４０４．０８６３４",  # full-width digits, as a Chinese keyboard may type them
    ],
)
def test_ids_and_urls_are_ids(text: str) -> None:
    query = parse_query(text)
    assert query.kind == "id"
    assert query.arxiv_id == "2404.08634"


@pytest.mark.parametrize(
    ("text", "arxiv_id"),
    [
        ("hep-th/9901001", "hep-th/9901001"),
        ("https://arxiv.org/abs/cs.AI/0101001v2", "cs.AI/0101001"),
        ("arXiv:cs/0112017", "cs/0112017"),
    ],
)
def test_old_style_ids(text: str, arxiv_id: str) -> None:
    assert parse_query(text) == parse_query(text)  # pure
    query = parse_query(text)
    assert (query.kind, query.arxiv_id) == ("id", arxiv_id)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ('"" * () -', "empty"),
        ("2404.08634 attention", "keywords"),
        ("https://example.com/abs/2404.08634", "keywords"),
        ("2404.086", "keywords"),
        ("反馈注意力", "keywords"),
        ("x" * MAX_QUERY_CHARS, "keywords"),
        ("x" * (MAX_QUERY_CHARS + 1), "too_long"),
    ],
)
def test_query_kinds(text: str, kind: str) -> None:
    assert parse_query(text).kind == kind


def test_terms_split_on_spaces_punctuation_and_script_changes() -> None:
    assert split_terms("Transformer长上下文") == ["transformer", "长上下文"]
    assert split_terms("“反馈注意力”，Transformer") == ["反馈注意力", "transformer"]
    assert split_terms("(CLIP) GPT-4o C++ the of") == ["clip", "gpt-4o", "c", "the"]
    assert split_terms("ＬＬＭ llm LLM") == ["llm"]


def test_a_4000_character_query_is_refused_at_once(index: SearchIndex) -> None:
    text = "注意力 attention " * 300
    assert len(text) > 4000
    assert parse_query(text).kind == "too_long"
    # its words match papers: an empty result means it was refused, not searched
    assert index.search("注意力 attention").total > 0
    assert index.search(text) == SearchResult([], 0)


# -- matching on the sample content -----------------------------------------------------------


def test_id_lookup(index: SearchIndex, sample: dict[str, Paper]) -> None:
    for text in ("2404.08634", "https://arxiv.org/pdf/2404.08634.pdf", "arXiv:2404.08634v2"):
        result = index.search(text)
        assert ids(result) == ["2404.08634"]
        hit = result.hits[0]
        paper = sample["2404.08634"]
        assert (hit.title_en, hit.title_zh, hit.date, hit.score) == (
            paper.title_en,
            paper.title_zh,
            paper.date,
            paper.score,
        )
    assert index.search("2404.99999").total == 0


@pytest.mark.parametrize(
    "text",
    [
        "反馈注意力",  # five characters: trigram
        "工作记忆",
        "feedback attention",
        "Feedback ATTENTION",
        "transformerfam",
        "FAM",  # inside a word: trigram substring
        "Transformer 长上下文",  # mixed scripts, two terms
        "Transformer长上下文",
        "反馈 Working",
        "Hwang",  # an author
        "long-context",  # a tag
        "2404.091",  # part of an id
    ],
)
def test_transformer_fam_is_found(index: SearchIndex, text: str) -> None:
    assert FAM in ids(index.search(text, limit=10)), text


def test_short_chinese_queries_find_papers(index: SearchIndex, sample: dict[str, Paper]) -> None:
    for term in ("注意", "记忆", "图", "模型"):
        expected = {
            p.arxiv_id
            for p in sample.values()
            if term in p.title_zh + p.summary_zh + p.title_en + p.summary_en
        }
        result = index.search(term, limit=20)
        assert expected, term
        assert set(ids(result)) == expected, term
        assert result.total == len(expected)
    assert FAM in ids(index.search("注意", limit=20))


def test_english_keywords(index: SearchIndex) -> None:
    assert ids(index.search("CLIP")) == ["2404.08197"]
    assert "2404.08801" in ids(index.search("megalodon"))
    assert "2404.08801" in ids(index.search("LLM pretraining"))


def test_every_term_must_match(index: SearchIndex) -> None:
    assert ids(index.search("feedback attention")) == [FAM]
    assert index.search("feedback megalodon").total == 0
    assert index.search("注意 CLIP").total == 0


def test_garbage_finds_nothing(index: SearchIndex) -> None:
    for text in ("zzqxv", "qqqqqqqqqqqqqqqqq", "🦜🦜🦜", "ǂǂǂ", "龘龘", "\x00\x01", "---"):
        assert index.search(text) == SearchResult([], 0), text


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"attention',
        'attention"',
        "attention*",
        "*",
        "-attention",
        "NOT attention",
        "attention NOT memory",
        "attention OR memory",
        "attention AND",
        "NEAR(attention memory, 2)",
        "(attention",
        "attention)",
        "title_en: attention",
        "{title_en}: attention",
        "^attention",
        "attention + memory",
        "'; DROP TABLE papers; --",
        "\\",
        "注意\u0000力",
        "\ud800attention",
        "a" * 200,
        "🦜" * 100,
    ],
)
def test_hostile_fts_syntax_is_plain_text(index: SearchIndex, text: str) -> None:
    result = index.search(text)
    assert result.total >= len(result.hits)
    if text.strip('"*-^()').lower() == "attention":
        assert FAM in ids(result)


_FTS_WORDS = ["NEAR", "AND", "OR", "NOT", "attention", "注意", "图", "CLIP", "title_en", "\ud800"]
_FTS_CHARS = st.sampled_from([*"\"*-+^():{}[],.\\'`~!@#$%&|;<>?/= \t\n\x00", *_FTS_WORDS])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(_FTS_CHARS, max_size=40).map("".join)))
def test_any_text_is_safe(index: SearchIndex, text: str) -> None:
    query = parse_query(text)
    assert query.kind in ("id", "keywords", "empty", "too_long")
    for offset in (0, 3):
        result = index.search(text, limit=5, offset=offset)
        assert len(result.hits) <= 5
        assert result.total >= len(result.hits)


# -- ranking and pages --------------------------------------------------------------------------


def test_title_matches_come_first(index: SearchIndex, sample: dict[str, Paper]) -> None:
    mixed = 0
    for text in ("attention", "模型", "transformer", "LLM", "记忆"):
        result = index.search(text, limit=20)
        term = split_terms(text)[0]
        in_title = [term in (sample[i].title_en + sample[i].title_zh).lower() for i in ids(result)]
        assert in_title == sorted(in_title, reverse=True), text
        mixed += any(in_title) and not all(in_title)
    assert mixed >= 3


def test_ties_break_by_upvotes_then_date(sample: dict[str, Paper]) -> None:
    day = dt.date(2024, 4, 16)
    papers = [
        Paper(f"2404.0000{i}", f"Same words {i}", day - dt.timedelta(days=i % 2), score=s)
        for i, s in enumerate((1, 5, 5, 9))
    ]
    with SearchIndex() as idx:
        idx.rebuild(papers)
        # title tier, bm25 equal for all: upvotes desc, then newest
        assert ids(idx.search("same words", limit=10)) == [
            "2404.00003",
            "2404.00002",
            "2404.00001",
            "2404.00000",
        ]


def _all_pages(idx: SearchIndex, text: str, size: int) -> list[str]:
    out: list[str] = []
    offset = 0
    while True:
        result = idx.search(text, limit=size, offset=offset)
        if not result.hits:
            assert offset >= result.total or not result.total_exact
            return out
        out += ids(result)
        offset += size
        assert result.total > len(out) - 1


@pytest.mark.parametrize("limits", [(500, 500), (2, 2), (0, 1)])
def test_pages_cover_every_match_once(sample: dict[str, Paper], limits: tuple[int, int]) -> None:
    exact_limit, count_limit = limits
    with SearchIndex(exact_limit=exact_limit, count_limit=count_limit) as idx:
        idx.rebuild(sample.values())
        for text in ("模型", "the", "图", "attention"):
            everything = ids(idx.search(text, limit=100))
            for size in (1, 2, 3):
                assert _all_pages(idx, text, size) == everything, (text, size)
            assert len(everything) == len(set(everything))


def test_a_large_result_reports_a_lower_bound(sample: dict[str, Paper]) -> None:
    with SearchIndex(exact_limit=1, count_limit=2) as idx:
        idx.rebuild(sample.values())
        result = idx.search("模型", limit=1)
        assert not result.total_exact
        assert result.total == 2
        deep = idx.search("模型", limit=1, offset=3)
        assert deep.total > 3 and len(deep.hits) == 1
        exact = idx.search("CLIP")
        assert exact.total_exact and exact.total == 1


# -- keeping the index up to date -------------------------------------------------------------


def test_sync_upserts_and_deletes_only_what_changed(
    tmp_path: Path, sample: dict[str, Paper]
) -> None:
    path = tmp_path / ".cache" / "search.sqlite3"
    with SearchIndex(path) as idx:
        assert idx.sync(sample) == 9
        assert idx.sync(sample) == 0
    with SearchIndex(path) as idx:  # a restart: nothing to do
        assert len(idx) == 9
        assert idx.sync(sample) == 0
        changed = dict(sample)
        changed[FAM] = dataclasses.replace(
            sample[FAM], title_en="Looped memory", title_zh="循环记忆", summary_zh="", score=99
        )
        del changed["2404.08197"]
        changed["2405.00001"] = Paper("2405.00001", "A brand new CLIP", dt.date(2024, 5, 1))
        assert idx.sync(changed) == 3
        assert len(idx) == 9
        assert ids(idx.search("looped memory")) == [FAM]
        assert idx.search("反馈注意力").total == 0
        assert idx.search("循环记忆").hits[0].title_en == "Looped memory"
        assert ids(idx.search("CLIP")) == ["2405.00001"]
        assert idx.search("2404.08197").total == 0
        assert idx.sync(changed) == 0


def test_a_file_from_another_version_or_garbage_is_rebuilt(
    tmp_path: Path, sample: dict[str, Paper]
) -> None:
    path = tmp_path / "search.sqlite3"
    with SearchIndex(path) as idx:
        idx.sync(sample)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with SearchIndex(path) as idx:
        assert len(idx) == 0
        assert idx.sync(sample) == 9
    path.write_bytes(b"this is not a database" * 100)
    with SearchIndex(path) as idx:
        assert len(idx) == 0
        assert idx.sync(sample) == 9
        assert FAM in ids(idx.search("反馈注意力"))


def test_an_index_with_other_card_budgets_or_the_first_schema_is_rebuilt(
    tmp_path: Path, sample: dict[str, Paper]
) -> None:
    path = tmp_path / "search.sqlite3"
    with SearchIndex(path) as idx:
        idx.sync(sample)
    with SearchIndex(path, en_words=10) as idx:  # DIGESTBOT_SUMMARY_EN_WORDS changed
        assert len(idx) == 0
        assert idx.sync(sample) == 9
        card = idx.search("CLIP").hits[0].card
        assert card is not None and len(card.summary_en.split()) <= 10
    with SearchIndex(path, en_words=10) as idx:
        assert len(idx) == 9
    # a file of schema 1 (no result cards) is started afresh
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with SearchIndex(path, en_words=10) as idx:
        assert len(idx) == 0
        idx.sync(sample)
    # so is one of this version whose papers table lacks a card column
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE cards DROP COLUMN urls")
    conn.close()
    with SearchIndex(path, en_words=10) as idx:
        assert len(idx) == 0
        assert idx.sync(sample) == 9
        assert idx.search("CLIP").hits[0].card is not None


# -- result cards: a search page needs no full paper -------------------------------------


def _card_papers(sample: dict[str, Paper]) -> list[Paper]:
    """The samples, and papers whose cards are harder: long, missing, spaced summaries."""
    day = dt.date(2024, 4, 18)
    return [
        *sample.values(),
        Paper(
            "2405.00011",
            "  A  long\n title ",
            day,
            title_zh="长  标题",
            summary_en="word " * 200 + "end.",
            summary_zh="长" * 400,
            links=Links(code="https://github.com/x/y", project="javascript:alert(1)"),
            tags=("reasoning", "odd tag"),
            score=7,
            status=Status.READY,
        ),
        Paper("2405.00012", "Only English", day, summary_en="One line.", status=Status.READY),
        Paper(
            "2405.00013",
            "Same title",
            day,
            title_zh="Same  title",
            summary_zh="只有中文。",
            links=Links(hf="https://hf.co/x"),
            status=Status.READY,
        ),
        Paper(
            "2405.00014",
            "Paragraphs",
            day,
            summary_en="First.\n\n  Second   one.",
            summary_zh="第一段。\n\n第二段。",
            status=Status.READY,
        ),
    ]


@pytest.mark.parametrize("lang", list(Language))
def test_result_cards_show_what_the_paper_view_shows(
    sample: dict[str, Paper], lang: Language
) -> None:
    # what the search page shows of a hit, from the index alone, equals what it showed
    # from the full paper: titles, shortened summaries (or the other language's,
    # labelled), links that are safe, date, score and tags
    papers = _card_papers(sample)
    with SearchIndex(zh_chars=30, en_words=12) as idx:
        idx.rebuild(papers)
        for paper in papers:
            hit = idx.search(paper.arxiv_id).hits[0]
            assert hit.card is not None
            card = card_view(hit.card, lang, number=3)
            full = paper_view(paper, lang, number=3, zh_chars=30, en_words=12)
            shown = ("number", "arxiv_id", "title_en", "title_zh", "summaries", "links", "path")
            for name in (*shown, "other_summary", "date", "score", "tags"):
                assert getattr(card, name) == getattr(full, name), (paper.arxiv_id, name)


def test_a_change_of_links_alone_reaches_the_cards(sample: dict[str, Paper]) -> None:
    with SearchIndex() as idx:
        idx.sync(sample)
        changed = dict(sample)
        changed[FAM] = dataclasses.replace(sample[FAM], links=Links(code="https://c.example/x"))
        assert idx.sync(changed) == 1
        card = idx.search(FAM).hits[0].card
        assert card is not None and ("code", "https://c.example/x") in card.links
        assert idx.sync(changed) == 0


def test_an_index_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(SearchIndexError, match="cannot open the search index"):
        SearchIndex(blocker / "search.sqlite3")


def test_rebuild_replaces_everything(sample: dict[str, Paper]) -> None:
    with SearchIndex() as idx:
        idx.rebuild(sample.values())
        idx.rebuild([sample[FAM]])
        assert len(idx) == 1
        assert idx.search("CLIP").total == 0


def test_concurrent_searches(index: SearchIndex) -> None:
    queries = ["注意", "attention", "2404.08634", "图 模型", "CLIP", "反馈注意力"]
    expected = {q: index.search(q, limit=9) for q in queries}
    failures: list[str] = []

    def worker() -> None:
        for _ in range(30):
            for q in queries:
                if index.search(q, limit=9) != expected[q]:
                    failures.append(q)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# -- the real archive: ~700 papers in weekly Markdown posts --------------------------------------

_HEADING = re.compile(r"^#{1,3}\s+(.+?)\s*$")
_ZH_LINK = re.compile(r"^\[(.+)\]\(https?://arxiv\.org/abs/([^)\s]+?)\)\s*$")


def _corpus_papers() -> dict[str, Paper]:
    papers: dict[str, Paper] = {}
    for path in sorted((CORPUS / "2024").glob("*.md")):
        day = dt.date(2024, int(path.stem[:2]), int(path.stem[2:4]))
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[:-1]):
            heading = _HEADING.match(line)
            link = _ZH_LINK.match(lines[i + 1].strip())
            if not heading or not link:
                continue
            body: list[str] = []
            for nxt in lines[i + 2 :]:
                if _HEADING.match(nxt):
                    break
                body.append(nxt)
            arxiv_id = re.sub(r"v\d+$", "", link.group(2))
            papers[arxiv_id] = Paper(
                arxiv_id,
                heading.group(1),
                day,
                title_zh=link.group(1),
                summary_zh=" ".join(b.strip() for b in body if b.strip()),
                status=Status.READY,
            )
    return papers


@pytest.fixture(scope="module")
def corpus() -> dict[str, Paper]:
    require_corpus(CORPUS / "2024")
    papers = _corpus_papers()
    assert len(papers) > 500
    return papers


@pytest.fixture(scope="module")
def corpus_index(corpus: dict[str, Paper]) -> Iterator[SearchIndex]:
    with SearchIndex(count_limit=10_000) as idx:  # exact totals, to compare with brute force
        idx.rebuild(corpus.values())
        yield idx


def _brute_force(corpus: dict[str, Paper], term: str) -> set[str]:
    """Papers holding ``term``: a substring, or a whole word for short non-CJK terms."""
    out = set()
    for p in corpus.values():
        text = "\n".join((p.title_en, p.title_zh, p.summary_en, p.summary_zh, p.arxiv_id))
        text = text.lower()
        if len(term) <= 2 and term.isascii():  # a word ends where Chinese text starts
            text = re.sub(r"[\u4e00-\u9fff]+", " ", text)
        if len(term) <= 2 and term.isascii():
            if re.search(rf"(?<![^\W_]){re.escape(term)}(?![^\W_])", text):
                out.add(p.arxiv_id)
        elif term in text:
            out.add(p.arxiv_id)
    return out


def test_corpus_every_id_is_found(corpus: dict[str, Paper], corpus_index: SearchIndex) -> None:
    for arxiv_id in corpus:
        assert ids(corpus_index.search(f"https://arxiv.org/abs/{arxiv_id}v1")) == [arxiv_id]


def test_corpus_chinese_title_pieces_find_their_paper(
    corpus: dict[str, Paper], corpus_index: SearchIndex
) -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]{3,}")
    checked = 0
    for paper in list(corpus.values())[::5]:
        runs = cjk.findall(paper.title_zh)
        if not runs:
            continue
        piece = max(runs, key=len)[:6]
        assert paper.arxiv_id in ids(corpus_index.search(piece, limit=100)), piece
        checked += 1
    assert checked > 50


def test_corpus_english_titles_find_their_paper_first(
    corpus: dict[str, Paper], corpus_index: SearchIndex
) -> None:
    checked = 0
    for paper in corpus.values():
        title = paper.title_en
        if title.count(":") != 1 or len(title.split(":")[0]) < 5:
            continue
        name = title.split(":")[0]
        if not re.fullmatch(r"[\w\-]+", name):
            continue  # one word, like COCONut or Megalodon
        if sum(name.lower() in p.title_en.lower() for p in corpus.values()) > 1:
            continue  # a name shared by several titles
        assert ids(corpus_index.search(name))[:1] == [paper.arxiv_id], name
        checked += 1
    assert checked > 30


@pytest.mark.parametrize(
    "term",
    [
        "注意",
        "图",
        "视频",
        "模型",
        "强化学习",
        "扩散模型",
        "transformer",
        "clip",
        "llm",
        "3d",
        "rl",
    ],
)
def test_corpus_matches_equal_brute_force(
    corpus: dict[str, Paper], corpus_index: SearchIndex, term: str
) -> None:
    expected = _brute_force(corpus, term)
    result = corpus_index.search(term, limit=100, offset=0)
    assert expected, term
    assert result.total == len(expected), term
    everything = ids(result)
    offset = 100
    while offset < result.total:
        everything += ids(corpus_index.search(term, limit=100, offset=offset))
        offset += 100
    assert set(everything) == expected


@pytest.mark.parametrize(
    "text", ["diffusion", "视频 生成", "Transformer 长上下文", "agent", "CLIP"]
)
def test_corpus_title_matches_first(
    corpus: dict[str, Paper], corpus_index: SearchIndex, text: str
) -> None:
    terms = split_terms(text)
    result = corpus_index.search(text, limit=100)
    assert result.hits, text
    in_title = [
        all(t in (corpus[i].title_en + " " + corpus[i].title_zh).lower() for t in terms)
        for i in ids(result)
    ]
    assert in_title == sorted(in_title, reverse=True), text


def test_a_large_empty_index_is_built_in_a_child_process(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a long-running process keeps the memory an index build allocates: a large store's
    # empty index is built by a spawned child, then reopened here
    from digestbot.search import index_child
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    monkeypatch.setattr(index_child, "MIN_PAPERS", 5)
    # budgets other than the defaults: the child shortens the result cards to the parent's,
    # or the parent would find the file's cards wrong and index everything again itself
    monkeypatch.setenv("DIGESTBOT_SUMMARY_EN_WORDS", "12")
    built: list[Path] = []
    real = index_child.build_in_child

    def spy(index_path: Path, content_root: Path, *args: Any, **kwargs: Any) -> None:
        built.append(index_path)
        real(index_path, content_root, *args, **kwargs)

    monkeypatch.setattr(index_child, "build_in_child", spy)
    service = build_service(load_settings())
    try:
        assert service.build_index() == 0, "the child indexed everything already"
        card = service.find_papers("CLIP").hits[0].card
        assert card is not None and len(card.summary_en.split()) <= 12
        assert built == [service.index.path]
        assert len(service.index) == 9
        assert service.find_papers("反馈注意力").hits[0].arxiv_id == "2404.09173"
        assert service.build_index() == 0 and len(built) == 1  # not empty: synced here
    finally:
        service.index.close()


def test_an_index_sync_that_failed_is_retried_though_no_file_changed(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digestbot.settings import load_settings
    from digestbot.wiring import build_service

    service = build_service(load_settings())
    try:
        real = service.index.sync
        calls: list[int] = []

        def failing(papers: Mapping[str, PaperHead], whole: object = None) -> int:
            calls.append(len(papers))
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(service.index, "sync", failing)
        with pytest.raises(sqlite3.OperationalError):
            service.build_index()
        monkeypatch.setattr(service.index, "sync", real)
        assert service.build_index() == 9  # the store is unchanged, the sync still runs
        assert calls == [9]
        # once synced, an unchanged store skips the reload and the sync
        monkeypatch.setattr(service.index, "sync", failing)
        assert service.build_index() == 0 and calls == [9]
    finally:
        service.index.close()


def test_a_chinese_title_does_not_count_against_an_english_term() -> None:
    # two English titles of one length holding the term once: the one with more upvotes
    # first, whether or not it also has a Chinese title (measured as one text with its
    # English title, the longer text ranked it last)
    day = dt.date(2024, 4, 16)
    papers = [
        Paper(
            "2404.00001", "Feedback attention is memory", day, score=31, title_zh="反馈注意力即记忆"
        ),
        Paper("2404.00002", "Latent memory attention loops", day, score=0),
    ]
    with SearchIndex() as idx:
        idx.rebuild(papers)
        assert ids(idx.search("attention", limit=10)) == ["2404.00001", "2404.00002"]
        # and a Chinese term is measured against the Chinese titles alone
        assert ids(idx.search("注意力", limit=10)) == ["2404.00001"]
