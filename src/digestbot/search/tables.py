"""The search index's tables, and what a paper puts in each of them.

``papers`` (what a hit lists, and the fingerprint ``sync`` compares) and ``cards`` (the
result card) by rowid; ``papers_fts`` and ``titles_fts`` (trigrams); ``words_fts`` and
``twords_fts`` (the word index, contentless: a removal tells them the old text, read back
from ``papers_fts``) and the vocabulary (``vocab``, ``vocab_fts``). The rowid is the
paper's static rank (upvotes, then newest), so FTS5's natural order is the ranking's.
How they are queried is :mod:`digestbot.search.index`'s; a change to what they hold bumps
its ``SCHEMA_VERSION`` (an index file of another version is rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from digestbot.models import Links, Paper, PaperHead
from digestbot.render.context import PaperCard
from digestbot.search.query import WORDS_TOKENIZER, cjk_sequence, grams, nfkc, word_text

TEXT_COLUMNS = (
    "title_en, title_zh, summary_en, summary_zh, authors, tags, arxiv_id, title_grams, body_grams"
)
TITLE_COLUMNS = "title_en, title_zh, arxiv_id, title_grams"
WORDS_COLUMNS = "title_words, title_grams, title_seq, body_words, body_grams, body_seq"
TWORDS_COLUMNS = "words, grams, seq"
SCHEMA = (
    """CREATE TABLE papers (
        rowid INTEGER PRIMARY KEY,
        arxiv_id TEXT NOT NULL UNIQUE,
        fingerprint BLOB NOT NULL,
        title_en TEXT NOT NULL,
        title_zh TEXT NOT NULL,
        date INTEGER NOT NULL,
        score INTEGER NOT NULL,
        links TEXT NOT NULL
    )""",
    # apart from papers, which sync reads whole at every start: a card is ~1 KB
    """CREATE TABLE cards (
        rowid INTEGER PRIMARY KEY,
        title_en TEXT NOT NULL,
        title_zh TEXT NOT NULL,
        summary_en TEXT NOT NULL,
        summary_zh TEXT NOT NULL,
        tags TEXT NOT NULL,
        urls TEXT NOT NULL
    )""",
    "CREATE TABLE card_budgets (zh_chars INTEGER NOT NULL, en_words INTEGER NOT NULL)",
    f"CREATE VIRTUAL TABLE papers_fts USING fts5({TEXT_COLUMNS}, tokenize = 'trigram')",
    f"CREATE VIRTUAL TABLE titles_fts USING fts5({TITLE_COLUMNS}, tokenize = 'trigram')",
    # contentless: its text is derived from papers_fts's, which a removal reads back
    f"CREATE VIRTUAL TABLE words_fts USING fts5({WORDS_COLUMNS}, content = '', "
    f'tokenize = "{WORDS_TOKENIZER}")',
    # the titles' part of it alone, for the title tier (shorter lists, no column filter)
    f"CREATE VIRTUAL TABLE twords_fts USING fts5({TWORDS_COLUMNS}, content = '', "
    f'tokenize = "{WORDS_TOKENIZER}")',
    "CREATE TABLE vocab (word TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE vocab_fts USING fts5(word, tokenize = 'trigram')",
)
#: The tables a removed paper leaves by rowid (words_fts is told its old text instead).
FTS_TABLES = ("papers_fts", "titles_fts")
MERGED = (*FTS_TABLES, "words_fts", "twords_fts", "vocab_fts")
TABLES = frozenset({"papers", "cards", "card_budgets", *MERGED, "vocab"})
META_COLUMNS = "rowid, arxiv_id, fingerprint, title_en, title_zh, date, score, links"
CARD_COLUMNS = "rowid, title_en, title_zh, summary_en, summary_zh, tags, urls"
#: What a hit reads: the listing, then the card.
HIT_COLUMNS = (
    "p.arxiv_id, p.title_en, p.title_zh, p.date, p.score, c.title_en, c.title_zh, "
    "c.summary_en, c.summary_zh, c.tags, c.urls FROM papers p JOIN cards c ON c.rowid = p.rowid"
)

# Rowid = (upvotes desc, date desc, sequence): FTS5's natural rowid order is our static rank.
SCORE_BITS, DAY_BITS, SEQ_BITS = 20, 20, 16
SCORE_MAX = (1 << SCORE_BITS) - 1
DAY_MAX = (1 << DAY_BITS) - 1
SEQ_MAX = (1 << SEQ_BITS) - 1


def rank_base(paper: PaperHead) -> int:
    score = SCORE_MAX - min(max(paper.score, 0), SCORE_MAX)
    day = DAY_MAX - min(paper.date.toordinal(), DAY_MAX)
    return ((score << DAY_BITS) | day) << SEQ_BITS


def fingerprint(paper: PaperHead) -> bytes:
    """A digest of everything the index holds about ``paper``: changes when any of it does.

    The summaries count through ``paper.summary_digest``, so a paper held without them (a
    ``PaperHead``, see ``ContentStore.recent_weeks``) has the same fingerprint as whole."""
    parts = (
        paper.arxiv_id,
        paper.title_en,
        paper.title_zh,
        paper.summary_digest.hex(),
        "\x1e".join(paper.authors),
        "\x1e".join(paper.tags),
        paper.date.isoformat(),
        str(paper.score),
    )
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Row:
    """What one paper puts in each table."""

    meta: tuple[int | str | bytes, ...]
    card: tuple[int | str, ...]
    text: tuple[int | str, ...]
    titles: tuple[int | str, ...]
    words: tuple[int | str, ...]


def links_text(links: Links) -> str:
    """A paper's links as the ``links`` column holds them: JSON [code, project, hf]."""
    return json.dumps([links.code, links.project, links.hf], ensure_ascii=False)


def row_of(rowid: int, paper: Paper, *, zh_chars: int, en_words: int) -> Row:
    title_en, title_zh = nfkc(paper.title_en), nfkc(paper.title_zh)
    summary_en, summary_zh = nfkc(paper.summary_en), nfkc(paper.summary_zh)
    authors, tags = nfkc(", ".join(paper.authors)), nfkc(" ".join(paper.tags))
    title_grams = grams(title_en, title_zh)
    body_grams = grams(summary_en, summary_zh, authors, tags)
    card = PaperCard.of(paper, zh_chars=zh_chars, en_words=en_words)
    meta = (
        rowid,
        paper.arxiv_id,
        fingerprint(paper),
        paper.title_en,
        paper.title_zh,
        paper.date.toordinal(),
        paper.score,
        links_text(paper.links),
    )
    shown = (
        rowid,
        card.title_en,
        card.title_zh,
        card.summary_en,
        card.summary_zh,
        json.dumps(card.tags, ensure_ascii=False),
        json.dumps(card.links, ensure_ascii=False),
    )
    text = (
        rowid,
        title_en,
        title_zh,
        summary_en,
        summary_zh,
        authors,
        tags,
        paper.arxiv_id,
        title_grams,
        body_grams,
    )
    titles = (rowid, title_en, title_zh, paper.arxiv_id, title_grams)
    return Row(meta, shown, text, titles, words_row(text))


def words_row(text: Sequence[int | str]) -> tuple[int | str, ...]:
    """The word index's row, from the trigram index's (``Row.text``, or one read back)."""
    rowid, title_en, title_zh, summary_en, summary_zh, authors, tags, arxiv_id, tg, bg = text
    assert isinstance(title_en, str) and isinstance(title_zh, str) and isinstance(arxiv_id, str)
    body = [str(summary_en), str(summary_zh), str(authors), str(tags)]
    return (
        rowid,
        word_text(title_en, title_zh, arxiv_id),
        tg,
        cjk_sequence(title_en, title_zh),
        word_text(*body),
        bg,
        cjk_sequence(*body),
    )


def add_vocab(
    conn: sqlite3.Connection, words: Sequence[tuple[int | str, ...]], *, every: bool
) -> None:
    """Put the words of ``words`` (rows of words_fts) of three letters or more in the
    vocabulary, as words_fts's own tokenizer cut and folded them.

    ``every``: the rows are all of words_fts, whose own token list is read; otherwise they
    are tokenized again in a scratch table. Words of removed papers stay: a word no paper
    holds adds a term that matches nothing."""
    source = "main, words_fts"
    if not every:
        conn.execute(
            "CREATE VIRTUAL TABLE temp.new_words USING fts5(title_words, body_words, "
            f"""content = '', tokenize = "{WORDS_TOKENIZER}")"""
        )
        conn.executemany(
            "INSERT INTO temp.new_words (title_words, body_words) VALUES (?, ?)",
            ((row[1], row[4]) for row in words),
        )
        source = "temp, new_words"
    conn.execute(f"CREATE VIRTUAL TABLE temp.new_vocab USING fts5vocab({source}, 'row')")
    try:
        # one pass over the token list (it reads every word's list of papers), kept aside
        # for the two tables that take the new words
        conn.execute(
            "CREATE TEMP TABLE new_terms AS SELECT term FROM temp.new_vocab "
            "WHERE length(term) >= 3 AND term NOT IN (SELECT word FROM vocab)"
        )
        conn.execute("INSERT INTO vocab (word) SELECT term FROM temp.new_terms")
        conn.execute("INSERT INTO vocab_fts (word) SELECT term FROM temp.new_terms")
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.new_terms")
        conn.execute("DROP TABLE temp.new_vocab")
        if not every:
            conn.execute("DROP TABLE temp.new_words")
