"""Reading and writing ``---``-fenced YAML front matter with a Markdown body."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_Loader: Any
_Dumper: Any
try:  # the C loader is ten times faster; fall back where libyaml is missing
    _Loader, _Dumper = yaml.CSafeLoader, yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on the platform's PyYAML build
    _Loader, _Dumper = yaml.SafeLoader, yaml.SafeDumper

_FENCE = re.compile(r"^---[ \t]*$", re.MULTILINE)

#: Order in which fields are written, so files diff cleanly in git.
FIELD_ORDER = (
    "arxiv_id",
    "title_en",
    "title_zh",
    "date",
    "status",
    "score",
    "authors",
    "links",
    "tags",
    "auto_tags",
    "summary_en",
    "summary_zh",
)


class FrontMatterError(ValueError):
    """The file has no front matter, or its YAML does not parse."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed file: its front matter mapping, its body, and where the front matter ends."""

    meta: dict[str, Any]
    body: str
    meta_text: str
    body_line: int

    def line_of(self, field: str) -> int:
        """The 1-based line of ``field:`` in the file, or 1 where it is absent."""
        pattern = re.compile(rf"^{re.escape(field)}\s*:", re.MULTILINE)
        m = pattern.search(self.meta_text)
        if not m:
            return 1
        return self.meta_text.count("\n", 0, m.start()) + 2


def parse(text: str) -> Document:
    """Split and parse a file; raise FrontMatterError with a line number on failure."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.startswith("---"):
        raise FrontMatterError("file must start with a '---' line opening the YAML front matter", 1)
    first_nl = text.find("\n")
    if first_nl < 0:
        raise FrontMatterError("front matter is never closed with a '---' line", 1)
    closing = _FENCE.search(text, first_nl + 1)
    if closing is None:
        raise FrontMatterError("front matter is never closed with a '---' line", 1)
    meta_text = text[first_nl + 1 : closing.start()]
    body_start = text.find("\n", closing.end())
    body = "" if body_start < 0 else text[body_start + 1 :]
    try:
        meta = yaml.load(meta_text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc)
        raise FrontMatterError(f"YAML does not parse: {problem}", line) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be a mapping of field: value", 2)
    body_line = text.count("\n", 0, closing.end()) + 2
    return Document(meta, body, meta_text, body_line)


def dump(meta: dict[str, Any], body: str = "") -> str:
    """Serialise front matter (known fields first, in a stable order) and a body."""
    ordered = {k: meta[k] for k in FIELD_ORDER if k in meta}
    ordered.update({k: v for k, v in meta.items() if k not in ordered})
    yaml_text = yaml.dump(
        ordered,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
        default_flow_style=False,
    )
    out = f"---\n{yaml_text}---\n"
    if body.strip():
        out += "\n" + body.strip("\n") + "\n"
    return out
