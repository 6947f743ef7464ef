"""The search index: SQLite FTS5 over every paper, for ``/paper`` and ``/search?q=``.

Derived data: it can be rebuilt from the content store at any time (``rebuild``) or brought
up to date incrementally (``sync``, one fingerprint per paper), in memory or in a file.

How a query is matched (the parsing half is the pure ``digestbot.search.query``):

- ``parse_query`` first tells an arXiv id or URL apart from keywords (and refuses empty or
  over-long input), so the caller can answer an id with the paper itself.
- Keywords are split into terms (whitespace and punctuation; a switch between CJK and
  other scripts also starts a new term, so ``Transformer长上下文`` is two terms). Every term
  must match (AND), case-insensitively.
- A term of three characters or more is a substring match over the ``trigram``-tokenized
  columns: titles, summaries, authors, tags and the arXiv id.
- The trigram tokenizer cannot match one or two characters, so each paper also carries two
  "grams" columns written by us: every CJK unigram and bigram of its text and every short
  (one- or two-character) word, separated by spaces. A short term ``注意``, ``图`` or ``RL``
  is the phrase `` 注意 `` in those columns, which the trigram tokenizer matches exactly.
  Both kinds of terms live in one FTS5 table, so any mix is one MATCH expression.
- User text never reaches FTS5 syntax: each term becomes a double-quoted string.

The word index answers the same question faster. Trigram matching of a common word reads
the position lists of each of its trigrams over most papers (15-40 ms for two common words
over 100,000 papers); ``words_fts`` (contentless, ``unicode61``) holds each paper's words
(CJK blanked), its grams, and each CJK run as its bigrams in order, and ``vocab_fts``
holds every distinct word of three letters or more. A query whose terms are all
``word_able`` is answered there, with the same papers the trigrams would find
(tests/test_search_words.py holds the two to that):

- a term of ASCII letters and digits is a substring of a word exactly when it is held by
  a word of the vocabulary: it becomes any of those words (``gpt`` → ``gpt``,
  ``chatgpt``, ``gpt4`` ...); held by none, nothing matches; held by more than
  ``_MAX_EXPANSION``, the query goes to the trigrams;
- a short term is its grams token, as before;
- a CJK term is the phrase of its bigrams in the sequence columns (runs are kept apart by
  a token no bigram equals, so the phrase never joins two runs).

Other terms (inner punctuation ``gpt-4``, letters beyond ASCII ``naïve``) and any query
holding one go to the trigram tables, as before. Both indexes are written for every
paper; ``SearchIndex(words=False)`` reads only the trigrams.

Ranking: tier 0 is the papers whose English or Chinese title (or id) holds every term;
when there are at most ``exact_limit`` of them, they are ordered by a bm25 over their title
text computed here (term-frequency saturation and length, every term weighing the same:
FTS5's own bm25 first visits every paper holding each term for its document frequency,
5-16 ms a query at 100,000 papers); tier 1 is the other matches. Ties, and all of tier 1,
go by upvotes then newest. Rowids are assigned in (upvotes desc, date desc) order, so that
is FTS5's natural order: tier 1 and the total come from one pass over the matches that
stops after ``count_limit`` rows (the total is a lower bound, ``total_exact=False``, above
that), and a title tier larger than ``exact_limit`` is read in that order too.

Result cards: each row of ``papers`` also holds the paper as a result card shows it
(``render.context.PaperCard``: display titles, summaries already shortened to the
budgets the index was opened with, tags, links), so a page of results is built from the
index alone. An index written with other budgets is started afresh, as is one from another
schema version.

The file lives beside the content store's parse cache, ``<content>/.cache/search.sqlite3``
(``INDEX_FILE_NAME``). Its tables, and the row each paper puts in them, are
:mod:`digestbot.search.tables`'s.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from digestbot.errors import DigestbotError
from digestbot.models import Paper, PaperHead
from digestbot.render.context import PaperCard
from digestbot.search.query import (
    is_cjk,
    parse_query,
    term_expr,
    word_able,
    words_expr,
)
from digestbot.search.tables import (
    CARD_COLUMNS,
    FTS_TABLES,
    HIT_COLUMNS,
    MERGED,
    META_COLUMNS,
    SCHEMA,
    SEQ_MAX,
    TABLES,
    TEXT_COLUMNS,
    TITLE_COLUMNS,
    TWORDS_COLUMNS,
    WORDS_COLUMNS,
    add_vocab,
    fingerprint,
    links_text,
    rank_base,
    row_of,
    words_row,
)

#: The index file's name inside the content store's cache folder (``<content>/.cache``).
INDEX_FILE_NAME: Final = "search.sqlite3"
#: The trigram tokenizer arrived in SQLite 3.34.0.
MIN_SQLITE: Final = (3, 34, 0)
#: Bumped whenever the tables or what goes into them change; a mismatch rebuilds the file.
#: 2: result cards (their own table). 3: the fingerprint covers the summaries' digest,
#: not their text (a rebuild, in the child for a large store, instead of every row
#: rewritten in-process). 4: the word index (``words_fts``) and its vocabulary.
SCHEMA_VERSION: Final = 4
#: Highest ``limit`` and ``offset`` a search accepts.
MAX_LIMIT: Final = 100
MAX_OFFSET: Final = 10_000

# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    """One paper found: enough to list it, and its result card (``None`` only for hits
    made elsewhere than the index); the service holds the full Paper."""

    arxiv_id: str
    title_en: str
    title_zh: str
    date: dt.date
    score: int = 0
    card: PaperCard | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of hits, and how many papers match in all.

    ``total_exact`` is False when more papers match than were counted: ``total`` is then a
    lower bound (show it as "1000+"), always above the last hit of this page.
    """

    hits: list[Hit]
    total: int
    total_exact: bool = True


EMPTY_RESULT: Final = SearchResult([], 0)


# -- the index --------------------------------------------------------------------------

#: SQLite's page cache: large while building the index, small for queries (it is resident
#: memory of a long-running process; the file's pages stay in the OS cache either way).
_BUILD_CACHE_KIB = 64 * 1024
_QUERY_CACHE_KIB = 2 * 1024
#: An ASCII term held by more of the vocabulary's words than this is searched by trigrams.
_MAX_EXPANSION = 100
#: The title tier's ordering (a bm25 over the title text, without the document frequency
#: FTS5's bm25 scans every holder of a term for): term-frequency saturation, length weight.
_K1, _B = 1.2, 0.75


class SearchIndexError(DigestbotError):
    """The search index cannot be used here: SQLite too old, or its file cannot be written."""


class SearchIndex:
    """Full-text search over the store's papers; rebuildable, shared by the bot and the web.

    ``path=None`` keeps the index in memory; a path keeps it in a file that ``sync`` brings
    up to date at the next start (a file from another schema version, or one SQLite cannot
    read, is started afresh). One connection behind a lock: safe from any thread.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        exact_limit: int = 200,
        count_limit: int = 200,
        zh_chars: int = 120,
        en_words: int = 60,
        words: bool = True,
    ) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise SearchIndexError(
                f"search needs SQLite >= 3.34 for the trigram tokenizer; this Python has "
                f"{sqlite3.sqlite_version}: use a newer Python build or system SQLite"
            )
        self.path = path
        self.exact_limit = exact_limit
        self.count_limit = count_limit
        #: the budgets the result cards' summaries are shortened to (the settings'
        #: ``summary_zh_chars`` and ``summary_en_words``, as the search page's cards)
        self.zh_chars = zh_chars
        self.en_words = en_words
        #: False answers every query from the trigram tables: the reference the word index
        #: is tested against (both are always written)
        self.words = words
        self._lock = threading.RLock()
        try:
            self._conn = self._open()
        except (sqlite3.Error, OSError) as exc:
            raise SearchIndexError(f"cannot open the search index at {path}: {exc}") from exc

    # -- lifecycle --------------------------------------------------------------------------

    @staticmethod
    def _connect(target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            # Pages cached in the process (resident memory); the OS caches the file anyway.
            conn.execute(f"PRAGMA cache_size = -{_QUERY_CACHE_KIB}")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        """Open the file, or start it afresh when it is from another version or unreadable."""
        if self.path is None:
            return self._build(":memory:", [])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect(str(self.path))
        except sqlite3.DatabaseError:
            return self._replace_file([])
        try:
            ok = conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            ok = ok and names >= TABLES
            # a file of this version written while its columns were still changing
            for table, expected in (("papers", META_COLUMNS), ("cards", CARD_COLUMNS)):
                columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                ok = ok and ", ".join(columns) == expected
            ok = ok and conn.execute("SELECT zh_chars, en_words FROM card_budgets").fetchall() == [
                (self.zh_chars, self.en_words)
            ]
        except sqlite3.DatabaseError:
            ok = False
        if ok:
            return conn
        conn.close()
        return self._replace_file([])

    def _build(self, target: str, papers: Iterable[Paper]) -> sqlite3.Connection:
        """A new database at ``target`` holding ``papers``, its FTS5 segments merged into one."""
        conn = self._connect(target)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(f"PRAGMA cache_size = -{_BUILD_CACHE_KIB}")
            conn.execute("BEGIN")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO card_budgets (zh_chars, en_words) VALUES (?, ?)",
                (self.zh_chars, self.en_words),
            )
            for table in MERGED:  # no merging while loading: one merge at the end
                conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 0)")
            self._insert(conn, papers, empty=True)
            for table in MERGED:
                conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
                conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 4)")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA cache_size = -{_QUERY_CACHE_KIB}")
            conn.execute("PRAGMA shrink_memory")
        except BaseException:
            conn.close()
            raise
        return conn

    def _replace_file(
        self, papers: Iterable[Paper], old: sqlite3.Connection | None = None
    ) -> sqlite3.Connection:
        """Build a new file beside the old one, then move it into place (atomic on POSIX)."""
        assert self.path is not None
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            self._build(str(tmp), papers).close()
            if old is not None:
                old.close()
            Path(f"{self.path}-journal").unlink(missing_ok=True)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return self._connect(str(self.path))

    def reopen(self) -> None:
        """Open the file again: another process has replaced it (``build_in_child``)."""
        with self._lock:
            self._conn.close()
            try:
                self._conn = self._open()
            except (sqlite3.Error, OSError) as exc:
                raise SearchIndexError(
                    f"cannot open the search index at {self.path}: {exc}"
                ) from exc

    def close(self) -> None:
        """Close the database connection (the file stays for the next start)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM papers").fetchone()[0])

    def rebuild(self, papers: Iterable[Paper]) -> None:
        """Forget everything and index ``papers`` (the last one wins for a repeated id).

        The new index is built aside and swapped in, so searches see the old one until then
        and a failure leaves the old one in place.
        """
        unique = list({p.arxiv_id: p for p in papers}.values())
        with self._lock:
            if self.path is None:
                new = self._build(":memory:", unique)
                self._conn.close()
                self._conn = new
            else:
                self._conn = self._replace_file(unique, old=self._conn)

    def sync(
        self,
        papers: Mapping[str, PaperHead],
        whole: Callable[[PaperHead], Paper | None] | None = None,
    ) -> int:
        """Bring the index up to ``papers``: upsert new and changed ones, drop removed ones.

        Returns how many papers were added, changed or removed (0 when it was up to date).
        An empty index is built in one go, as ``rebuild`` does. A paper to write that is
        only a head is read whole with ``whole`` (``Snapshot.whole``); one it cannot read
        (its file changed since the load) is left for the next sync.
        """

        def wholes(heads: Iterable[PaperHead]) -> Iterator[Paper]:
            for head in heads:
                paper = head if isinstance(head, Paper) else None
                if paper is None and whole is not None:
                    paper = whole(head)
                if paper is not None:
                    yield paper

        with self._lock:
            # One pass over the index's rows, holding nothing per row that is unchanged
            # (a dict of every row cost ~20 MB of resident memory at 100,000 papers).
            changed: list[PaperHead] = []
            removed: list[int] = []
            gone = 0
            seen = 0
            for arxiv_id, fp, links, rowid in self._conn.execute(
                "SELECT arxiv_id, fingerprint, links, rowid FROM papers"
            ):
                paper = papers.get(arxiv_id)
                if paper is None:
                    removed.append(rowid)
                    gone += 1
                    continue
                seen += 1
                # the fingerprint covers all but the links, which only the card shows
                if fp != fingerprint(paper) or links != links_text(paper.links):
                    changed.append(paper)
                    removed.append(rowid)
            if seen == 0 and gone == 0:
                if papers:
                    self.rebuild(wholes(papers.values()))
                return len(papers)
            if seen < len(papers):  # papers the index has never seen
                known = {row[0] for row in self._conn.execute("SELECT arxiv_id FROM papers")}
                changed += [paper for arxiv_id, paper in papers.items() if arxiv_id not in known]
                del known
            if not changed and not removed:
                return 0
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(removed), 500):
                    chunk = removed[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    old = conn.execute(
                        f"SELECT rowid, {TEXT_COLUMNS} FROM papers_fts WHERE rowid IN ({marks})",
                        chunk,
                    ).fetchall()
                    gone_words = [words_row(row) for row in old]
                    conn.executemany(  # a contentless table forgets a row given its text
                        f"INSERT INTO words_fts (words_fts, rowid, {WORDS_COLUMNS}) "
                        f"VALUES ('delete', ?{', ?' * 6})",
                        gone_words,
                    )
                    conn.executemany(
                        f"INSERT INTO twords_fts (twords_fts, rowid, {TWORDS_COLUMNS}) "
                        "VALUES ('delete', ?, ?, ?, ?)",
                        [row[:4] for row in gone_words],
                    )
                    for table in ("papers", "cards", *FTS_TABLES):
                        conn.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", chunk)
                self._insert(conn, wholes(changed), empty=False)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return len(changed) + gone

    def _insert(self, conn: sqlite3.Connection, papers: Iterable[Paper], *, empty: bool) -> None:
        budgets = {"zh_chars": self.zh_chars, "en_words": self.en_words}
        rows = [
            row_of(rowid, p, **budgets)
            for rowid, p in self._assign_rowids(conn, papers, empty=empty)
        ]
        conn.executemany(
            f"INSERT INTO papers ({META_COLUMNS}) VALUES (?{', ?' * 7})",
            (row.meta for row in rows),
        )
        conn.executemany(
            f"INSERT INTO cards ({CARD_COLUMNS}) VALUES (?{', ?' * 6})",
            (row.card for row in rows),
        )
        conn.executemany(
            f"INSERT INTO papers_fts (rowid, {TEXT_COLUMNS}) VALUES (?{', ?' * 9})",
            (row.text for row in rows),
        )
        conn.executemany(
            f"INSERT INTO titles_fts (rowid, {TITLE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (row.titles for row in rows),
        )
        conn.executemany(
            f"INSERT INTO words_fts (rowid, {WORDS_COLUMNS}) VALUES (?{', ?' * 6})",
            (row.words for row in rows),
        )
        conn.executemany(
            f"INSERT INTO twords_fts (rowid, {TWORDS_COLUMNS}) VALUES (?, ?, ?, ?)",
            (row.words[:4] for row in rows),
        )
        add_vocab(conn, [row.words for row in rows], every=empty)

    @staticmethod
    def _assign_rowids(
        conn: sqlite3.Connection, papers: Iterable[Paper], *, empty: bool
    ) -> Iterator[tuple[int, Paper]]:
        """Rowids in (upvotes desc, date desc) order, each unique within its (upvotes, day)."""
        ordered = sorted(papers, key=lambda p: (rank_base(p), p.arxiv_id))
        next_seq: dict[int, int] = {}
        for paper in ordered:
            base = rank_base(paper)
            seq = next_seq.get(base)
            if seq is None:
                seq = 0
                if not empty:
                    top = conn.execute(
                        "SELECT max(rowid) FROM papers WHERE rowid BETWEEN ? AND ?",
                        (base, base + SEQ_MAX),
                    ).fetchone()[0]
                    seq = 0 if top is None else top - base + 1
            if seq > SEQ_MAX:
                seq = SearchIndex._free_seq(conn, base)
            next_seq[base] = seq + 1
            yield base + seq, paper

    @staticmethod
    def _free_seq(conn: sqlite3.Connection, base: int) -> int:
        used = {
            row[0] - base
            for row in conn.execute(
                "SELECT rowid FROM papers WHERE rowid BETWEEN ? AND ?", (base, base + SEQ_MAX)
            )
        }
        for seq in range(SEQ_MAX + 1):
            if seq not in used:
                return seq
        raise SearchIndexError(
            f"more than {SEQ_MAX + 1} papers share one date and one upvote count"
        )

    # -- reading ----------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 5, offset: int = 0) -> SearchResult:
        """One page of papers matching ``query`` (keywords, or an arXiv id or URL)."""
        limit = min(max(limit, 0), MAX_LIMIT)
        offset = min(max(offset, 0), MAX_OFFSET)
        parsed = parse_query(query)
        with self._lock:
            if parsed.kind == "id":
                return self._by_id(parsed.arxiv_id, limit, offset)
            if parsed.kind != "keywords":
                return EMPTY_RESULT
            return self._by_terms(parsed.terms, limit, offset)

    def _by_id(self, arxiv_id: str, limit: int, offset: int) -> SearchResult:
        rows = self._conn.execute(
            f"SELECT {HIT_COLUMNS} WHERE p.arxiv_id = ?",
            (arxiv_id,),
        ).fetchall()
        hits = [_hit(row) for row in rows]
        return SearchResult(hits[offset : offset + limit], len(hits))

    def _by_terms(self, terms: Sequence[str], limit: int, offset: int) -> SearchResult:
        """Tier 0 (every term in a title) before tier 1 (the rest); see the module docstring."""
        conn = self._conn
        plan = self._plan(terms)
        if plan is None:
            return EMPTY_RESULT
        table, expr, title_table, title_expr = plan
        need = offset + limit
        cap = max(self.count_limit, need + 1)
        # One pass, in rowid (= upvotes, date) order, stopping after ``cap``: this counts the
        # matches and already holds tier 1 in order, for any page below ``cap``.
        matches = [
            row[0]
            for row in conn.execute(
                f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?", (expr, cap + 1)
            )
        ]
        if not matches:
            return EMPTY_RESULT
        exact = len(matches) <= cap
        # The title tier in rowid order; ordered by how well the titles match when small.
        title = [
            row[0]
            for row in conn.execute(
                f"SELECT rowid FROM {title_table} WHERE {title_table} MATCH ? LIMIT ?",
                (title_expr, max(self.exact_limit + 1, need)),
            )
        ]
        rowids = self._title_order(title, terms) if len(title) <= self.exact_limit else title
        rowids = rowids[:need]
        if len(rowids) < need:  # tier 0 is complete: add tier 1 from the matches
            first = set(rowids)
            rowids += [r for r in matches if r not in first][: need - len(rowids)]
        hits = self._hits(rowids[offset:need])
        if exact:
            return SearchResult(hits, len(matches))
        return SearchResult(hits, cap, total_exact=False)

    def _plan(self, terms: Sequence[str]) -> tuple[str, str, str, str] | None:
        """Which tables answer ``terms``, and their expressions: (table, expression, title
        table, title expression). The word index when every term is ``word_able`` and each
        non-CJK term of three characters or more is held by at most ``_MAX_EXPANSION``
        words of the vocabulary, else the
        trigram index; ``None`` when a term is held by no word at all (nothing matches)."""
        if self.words and all(word_able(term) for term in terms):
            words: dict[str, list[str]] = {}
            for term in terms:
                if len(term) < 3 or is_cjk(term):
                    continue
                words[term] = [
                    row[0]
                    for row in self._conn.execute(
                        "SELECT word FROM vocab_fts WHERE vocab_fts MATCH ? LIMIT ?",
                        (term_expr(term), _MAX_EXPANSION + 1),
                    )
                ]
                if not words[term]:
                    return None
                if len(words[term]) > _MAX_EXPANSION:
                    break
            else:
                return (
                    "words_fts",
                    words_expr(terms, words, ("title_", "body_")),
                    "twords_fts",
                    words_expr(terms, words, ("",)),
                )
        expr = " AND ".join(term_expr(t) for t in terms)
        return "papers_fts", expr, "titles_fts", expr

    def _title_order(self, rowids: Sequence[int], terms: Sequence[str]) -> list[int]:
        """``rowids`` (title matches) best first: a bm25 over each title (the English one
        with the id, and the Chinese one), each against its own average length, summed,
        every term weighing the same; ties by rowid (upvotes, then newest). A paper's
        Chinese title thus never counts against it for an English term, as it did when
        both titles were measured as one text."""
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        # the titles as stored: NFKC would cost more than the ordering (full-width colons)
        fields: dict[int, tuple[str, str]] = {
            rowid: (f"{title_en} {arxiv_id}".lower(), title_zh.lower())
            for rowid, title_en, title_zh, arxiv_id in self._conn.execute(
                f"SELECT rowid, title_en, title_zh, arxiv_id FROM papers WHERE rowid IN ({marks})",
                list(rowids),
            )
        }
        count = max(len(fields), 1)
        averages = [sum(len(f[i]) for f in fields.values()) / count or 1.0 for i in (0, 1)]

        def score(rowid: int) -> float:
            total = 0.0
            for text, average in zip(fields.get(rowid, ("", "")), averages, strict=True):
                norm = _K1 * (1 - _B + _B * len(text) / average)
                for term in terms:
                    tf = text.count(term)
                    total += tf * (_K1 + 1) / (tf + norm)
            return total

        return sorted(rowids, key=lambda rowid: (-score(rowid), rowid))

    def _hits(self, rowids: Sequence[int]) -> list[Hit]:
        if not rowids:
            return []
        marks = ",".join("?" * len(rowids))
        rows = {
            row[0]: row[1:]
            for row in self._conn.execute(
                f"SELECT p.rowid, {HIT_COLUMNS} WHERE p.rowid IN ({marks})",
                list(rowids),
            )
        }
        return [_hit(rows[r]) for r in rowids if r in rows]


def _hit(row: Sequence[object]) -> Hit:
    arxiv_id, title_en, title_zh, date, score, *card_columns = row
    assert isinstance(date, int) and isinstance(score, int)
    day = dt.date.fromordinal(date)
    show_en, show_zh, summary_en, summary_zh, tags, urls = map(str, card_columns)
    card = PaperCard(
        arxiv_id=str(arxiv_id),
        title_en=show_en,
        title_zh=show_zh,
        date=day,
        score=score,
        summary_en=summary_en,
        summary_zh=summary_zh,
        tags=tuple(json.loads(tags)),
        links=tuple((str(key), str(url)) for key, url in json.loads(urls)),
    )
    return Hit(str(arxiv_id), str(title_en), str(title_zh), day, score, card)
