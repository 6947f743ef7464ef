"""What a valid paper file and a valid week override look like, as pydantic models."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from digestbot.models import Status

NEW_ID = re.compile(r"^\d{4}\.\d{4,5}$")
OLD_ID = re.compile(r"^[a-z][a-z\-]*(\.[A-Z]{2})?/\d{7}$")
_VERSION = re.compile(r"v\d+$")
_URL = re.compile(r"^https?://[^\s<>\"]+$")


def normalize_arxiv_id(raw: str) -> str:
    """``arXiv:2404.08634v2`` → ``2404.08634``; raise ValueError if it is no arXiv id."""
    value = raw.strip()
    if value.lower().startswith("arxiv:"):
        value = value[6:]
    value = _VERSION.sub("", value)
    if NEW_ID.match(value) or OLD_ID.match(value):
        return value
    raise ValueError(f"{raw!r} is not an arXiv id (expected like 2404.08634)")


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class LinksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = None
    project: str | None = None
    hf: str | None = None

    @field_validator("code", "project", "hf")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not _URL.match(v.strip()):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v.strip()


class PaperFile(BaseModel):
    """The front matter of ``content/papers/<year>/<arxiv id>.md``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    arxiv_id: str
    title_en: NonEmpty
    title_zh: str = ""
    summary_en: str = ""
    summary_zh: str = ""
    date: dt.date
    authors: list[str] = Field(default_factory=list)
    links: LinksFile = Field(default_factory=LinksFile)
    score: int = Field(default=0, ge=0)
    tags: list[str] = Field(default_factory=list)
    auto_tags: list[str] = Field(default_factory=list)
    """What ``digestbot tag`` last set; tags that differ from it are an editor's."""
    status: Status = Status.DRAFT

    @field_validator("arxiv_id", mode="before")
    @classmethod
    def _id(cls, v: object) -> str:
        if isinstance(v, float):  # YAML reads 2404.08634 unquoted as a number
            raise ValueError("quote the id (arxiv_id: '2404.08634'): unquoted it is a number")
        if not isinstance(v, str):
            raise ValueError("must be a string like '2404.08634'")
        return normalize_arxiv_id(v)

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: object) -> object:
        if isinstance(v, dt.datetime):
            return v.date()
        return v


class OverrideFile(BaseModel):
    """``content/issues/<year>-W<nn>.yaml``: an editor's choices for one week."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    papers: list[str] = Field(default_factory=list)
    intro_zh: str = ""
    intro_en: str = ""
    title_zh: str = ""
    title_en: str = ""

    @field_validator("papers", mode="before")
    @classmethod
    def _ids(cls, v: object) -> object:
        if isinstance(v, list):
            return [normalize_arxiv_id(str(x)) if isinstance(x, str) else x for x in v]
        return v
