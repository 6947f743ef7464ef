"""Topics and the term matcher that tags papers with them (pure: no I/O).

A :class:`Topic` has a slug, a name in each language and match terms in both languages.
:class:`TopicMatcher` finds every topic whose terms occur in a text:

- text and terms are compared case-folded, with full-width forms as ASCII and hyphens,
  slashes and underscores read as spaces (``Chain-of-Thought`` matches ``chain of thought``);
- a term that begins (ends) with a Latin letter or digit must begin (end) at a word
  boundary: ``LLM`` does not match inside ``MLLM``; a trailing plural ``s`` is allowed
  (``agent`` matches ``agents``);
- a CJK term matches anywhere inside longer text (``扩散`` in ``视频扩散模型``);
- overlapping terms all count: in ``long context window`` both ``long context`` and
  ``context window`` match (each term is looked for on its own).

Latin terms are looked up by the words the text holds (one set lookup per distinct word, then
a substring check only for a multi-word term whose first word is present); other terms are
found by one regular expression (longest first), searched again from one character after
each match so that overlapping terms are found too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digestbot.models import Language, Paper

__all__ = [
    "Topic",
    "TopicMatcher",
    "fold",
    "keywords_match",
    "matching_papers",
    "normalize",
    "paper_text",
]

_SEPARATORS = re.compile(r"[\s\-_‐‑–—/]+")
_GAP = r"[\s\-_‐‑–—/\u3000]+"
_GAP_RE = re.compile(_GAP)
_WORDS = re.compile(r"[a-z0-9]+")
_LATIN_TERM = re.compile(r"^[a-z0-9][a-z0-9 .+']*$")


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic readers can browse and follow."""

    slug: str
    name_zh: str
    name_en: str
    terms_zh: tuple[str, ...] = ()
    terms_en: tuple[str, ...] = ()

    def name(self, lang: Language) -> str:
        if lang is Language.ZH:
            return self.name_zh
        if lang is Language.EN:
            return self.name_en
        return f"{self.name_zh} / {self.name_en}"

    @property
    def terms(self) -> tuple[str, ...]:
        return self.terms_zh + self.terms_en


# full-width letters and digits (ＬＬＭ, ３Ｄ) as ASCII: what NFKC does to CJK text that
# matters to matching, without its cost (full-width punctuation, in nearly every Chinese text,
# separates words either way and is left alone)
_FOLD: dict[int, int] = {
    c: c - 0xFEE0 for r in ((0xFF10, 0xFF1A), (0xFF21, 0xFF3B), (0xFF41, 0xFF5B)) for c in range(*r)
}
_FULL_WIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def fold(text: str) -> str:
    """Case-folded, with full-width letters and digits as ASCII (the text a paper is matched
    on; separators are left to the matcher)."""
    text = text.casefold()
    if _FULL_WIDTH.search(text) is not None:
        text = text.translate(_FOLD)
    return text


def normalize(text: str) -> str:
    """:func:`fold`, NFKC, and every run of spaces, hyphens, slashes and underscores one space
    (terms, names, searches)."""
    text = unicodedata.normalize("NFKC", fold(text))
    return _SEPARATORS.sub(" ", text).strip()


def paper_text(paper: Paper) -> str:
    """What the matcher reads of a paper: its titles and summaries in both languages."""
    return "\n".join((paper.title_en, paper.title_zh, paper.summary_en, paper.summary_zh))


class TopicMatcher:
    """Which topics a text mentions, by their terms."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self.topics: tuple[Topic, ...] = tuple(topics)
        # one-word Latin terms (and their plural) → slugs; longer Latin terms by their first
        # word → (the term's words joined by spaces, slug); other terms by their text
        self._single: dict[str, set[str]] = {}
        self._multi: dict[str, list[tuple[str, str]]] = {}
        owners: dict[str, set[str]] = {}
        for topic in self.topics:
            for term in topic.terms:
                key = normalize(term)
                if not key:
                    continue
                if _LATIN_TERM.match(key):
                    words = _WORDS.findall(key)
                    if len(words) == 1:
                        for form in (words[0], words[0] + "s"):
                            self._single.setdefault(form, set()).add(topic.slug)
                    else:
                        entry = (" ".join(words), topic.slug)
                        self._multi.setdefault(words[0], []).append(entry)
                else:
                    owners.setdefault(key, set()).add(topic.slug)
        # every term found also finds the terms inside it (``视频扩散`` holds ``扩散``), so
        # one left-to-right scan finds overlapping terms too
        self._inside: dict[str, frozenset[str]] = {
            term: frozenset(s for other, slugs in owners.items() if other in term for s in slugs)
            for term in owners
        }
        longest_first = sorted(owners, key=lambda t: (-len(t), t))
        # a space inside a term stands for any run of separators in the text
        self._substrings = (
            re.compile(
                "|".join(_GAP.join(re.escape(w) for w in t.split(" ")) for t in longest_first)
            )
            if longest_first
            else None
        )
        self._spaced = {t.replace(" ", ""): t for t in owners if " " in t}

    def _term(self, found: str) -> str:
        """The term a substring match stands for (separators in the text read as one space)."""
        if found in self._inside:
            return found
        return self._spaced.get(_GAP_RE.sub("", found), found)

    def match(self, text: str) -> set[str]:
        """The slugs of every topic whose terms occur in ``text``."""
        norm = fold(text)
        found: set[str] = set()
        if self._substrings is not None:
            pos = 0
            while (m := self._substrings.search(norm, pos)) is not None:
                found |= self._inside.get(self._term(m.group()), frozenset())
                pos = m.start() + 1
        words = _WORDS.findall(norm)
        present = set(words)
        for word in present.intersection(self._single):
            found |= self._single[word]
        firsts = present.intersection(self._multi)
        if firsts:
            joined = " " + " ".join(words) + " "
            for word in firsts:
                for term, slug in self._multi[word]:
                    if slug not in found and (f" {term} " in joined or f" {term}s " in joined):
                        found.add(slug)
        return found

    def tags_for(self, paper: Paper) -> tuple[str, ...]:
        """The paper's topics by its terms, in the order of the topic list."""
        found = self.match(paper_text(paper))
        return tuple(t.slug for t in self.topics if t.slug in found)

    def find(self, name: str) -> Topic | None:
        """The topic named ``name``: its slug, Chinese or English name (any case)."""
        key = normalize(name)
        for topic in self.topics:
            if key in (topic.slug, normalize(topic.name_zh), normalize(topic.name_en)):
                return topic
        return None

    def ordered(self, slugs: Sequence[str]) -> tuple[Topic, ...]:
        """The topics of ``slugs`` that exist, in list order."""
        wanted = set(slugs)
        return tuple(t for t in self.topics if t.slug in wanted)


def keywords_match(keywords: str, paper: Paper) -> bool:
    """A saved keyword search matches a paper whose titles or summaries hold every one of
    its words (each matched like a topic term: Latin whole words, Chinese inside text)."""
    words = [w for w in normalize(keywords).split(" ") if w]
    if not words:
        return False
    text = paper_text(paper)
    return all(TopicMatcher([Topic("k", "k", "k", (w,), ())]).match(text) == {"k"} for w in words)


def matching_papers(
    topics: Iterable[str], keywords: Iterable[str], papers: Sequence[Paper]
) -> tuple[Paper, ...]:
    """The papers (in issue order) tagged with one of ``topics`` or matching one of the
    saved ``keywords`` searches."""
    wanted = set(topics)
    searches = list(keywords)
    return tuple(
        p
        for p in papers
        if wanted.intersection(p.tags) or any(keywords_match(k, p) for k in searches)
    )
