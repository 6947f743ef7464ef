"""The domain's values: Paper, Issue, Language, Destination. Frozen dataclasses, no I/O."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field


class Language(enum.StrEnum):
    """The language a reader gets: Chinese, English, or both side by side."""

    ZH = "zh"
    EN = "en"
    BOTH = "both"

    @classmethod
    def parse(cls, value: str) -> Language:
        """Accept ``zh``/``en``/``both`` and common spellings (``zh-CN``, ``中文``)."""
        v = value.strip().lower().replace("_", "-")
        if v in ("zh", "cn", "zh-cn", "zh-hans", "zh-tw", "zh-hant", "chinese", "中文"):
            return cls.ZH
        if v.startswith("en") or v in ("english", "英文"):
            return cls.EN
        if v in ("both", "all", "zh+en", "en+zh", "双语"):
            return cls.BOTH
        raise ValueError(f"unknown language {value!r}: use zh, en or both")

    @property
    def shows_zh(self) -> bool:
        return self is not Language.EN

    @property
    def shows_en(self) -> bool:
        return self is not Language.ZH


class Status(enum.StrEnum):
    """Editorial status of a paper: drafts are never published."""

    DRAFT = "draft"
    READY = "ready"


class Channel(enum.StrEnum):
    """How a copy of an issue travels."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    ARCHIVE = "archive"  # the series' Markdown post, written into a folder
    TOPICS = "topics"
    """A personal Telegram message: just the papers of an issue a follower's topics match."""


@dataclass(frozen=True, slots=True)
class Links:
    """Where a paper lives besides arXiv."""

    code: str | None = None
    project: str | None = None
    hf: str | None = None


def summary_digest(summary_en: str, summary_zh: str) -> bytes:
    """A short digest of a paper's two summaries (what a slim paper keeps of them)."""
    text = f"{summary_en}\x1f{summary_zh}".encode()
    return hashlib.blake2b(text, digest_size=8).digest()


def abs_url(arxiv_id: str) -> str:
    """The paper's arXiv abstract page."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"


def hf_url(arxiv_id: str, links: Links) -> str:
    """The paper's Hugging Face page: its ``links.hf``, else the Daily Papers one."""
    return links.hf or f"https://huggingface.co/papers/{arxiv_id}"


@dataclass(frozen=True, slots=True)
class PaperHead:
    """A paper without its long text: what the content store holds of papers outside the
    recent weeks (docs/decisions.md, "Papers off the heap"). Lists, ranking, selection
    and search need no more; whatever shows a summary asks the snapshot for the whole
    :class:`Paper` (``Snapshot.whole``). A ``Paper`` is a ``PaperHead`` too."""

    arxiv_id: str
    title_en: str
    date: dt.date
    title_zh: str = ""
    authors: tuple[str, ...] = ()
    links: Links = field(default_factory=Links)
    score: int = 0
    tags: tuple[str, ...] = ()
    status: Status = Status.DRAFT
    summary_digest: bytes = b""
    """``summary_digest(summary_en, summary_zh)``: the search index's fingerprint uses it."""
    has_summary_en: bool = False
    has_summary_zh: bool = False
    """Whether each summary is non-blank (the coverage report counts the gaps)."""

    @property
    def abs_url(self) -> str:
        return abs_url(self.arxiv_id)

    @property
    def pdf_url(self) -> str:
        return pdf_url(self.arxiv_id)

    @property
    def hf_url(self) -> str:
        return hf_url(self.arxiv_id, self.links)

    def title(self, lang: Language) -> str:
        """The title to show first in ``lang``; English when no Chinese title exists."""
        if lang is Language.ZH and self.title_zh:
            return self.title_zh
        return self.title_en


@dataclass(frozen=True, slots=True)
class Paper(PaperHead):
    """One paper as the content store holds it, summaries included. ``summary_digest`` and
    ``has_summary_*`` are derived from the summaries (whatever is passed for them)."""

    summary_en: str = ""
    summary_zh: str = ""
    abstract: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "summary_digest", summary_digest(self.summary_en, self.summary_zh))
        set_(self, "has_summary_en", bool(self.summary_en.strip()))
        set_(self, "has_summary_zh", bool(self.summary_zh.strip()))

    def head(self) -> PaperHead:
        """This paper without its summaries and body."""
        return PaperHead(
            self.arxiv_id,
            self.title_en,
            self.date,
            self.title_zh,
            self.authors,
            self.links,
            self.score,
            self.tags,
            self.status,
            self.summary_digest,
            self.has_summary_en,
            self.has_summary_zh,
        )

    def summary(self, lang: Language) -> str:
        """The summary in ``lang``, empty when the paper has none in that language (never
        the other language's); BOTH gives the Chinese one, else the English one."""
        if lang is Language.ZH:
            return self.summary_zh
        if lang is Language.EN:
            return self.summary_en
        return self.summary_zh or self.summary_en


@dataclass(frozen=True, slots=True)
class IssueOverride:
    """An editor's override of one week: explicit papers, intros, a custom title."""

    papers: tuple[str, ...] = ()
    intro_zh: str = ""
    intro_en: str = ""
    title_zh: str = ""
    title_en: str = ""


@dataclass(frozen=True, slots=True)
class Issue:
    """One week's digest: the selected papers, in order, with titles in both languages."""

    week: str
    title_zh: str
    title_en: str
    start: dt.date
    end: dt.date
    papers: tuple[Paper, ...]
    intro_zh: str = ""
    intro_en: str = ""

    def title(self, lang: Language) -> str:
        if lang is Language.ZH:
            return self.title_zh
        if lang is Language.EN:
            return self.title_en
        return f"{self.title_zh} / {self.title_en}"

    def intro(self, lang: Language) -> str:
        if lang is Language.ZH:
            return self.intro_zh
        if lang is Language.EN:
            return self.intro_en
        return "\n\n".join(t for t in (self.intro_zh, self.intro_en) if t)

    @property
    def paper_ids(self) -> tuple[str, ...]:
        return tuple(p.arxiv_id for p in self.papers)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one copy of an issue goes: a chat, a mailbox, or an outbox preview slot."""

    channel: Channel
    address: str
    lang: Language
    subscriber_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.channel.value}:{self.address}"
