"""The topic list ``<content>/topics.yaml``: read and validate it, reporting ``path:line`` problems.

The file is a YAML list, one mapping per topic::

    - slug: long-context
      name_zh: 长上下文
      name_en: Long context
      terms_zh: [长上下文, 长文本]
      terms_en: [long context, context window]

Every key is required and no other key is allowed; a slug is lower-case words joined by
hyphens and appears once; names are unique; each language has at least one term, and no
term is empty. A topic with a problem is left out; the others still load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from digestbot.content.store import Problem
from digestbot.topics import Topic

__all__ = ["TOPICS_FILE", "TopicList", "load_topics", "parse_topics"]

TOPICS_FILE = "topics.yaml"
_KEYS = ("slug", "name_zh", "name_en", "terms_zh", "terms_en")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(slots=True)
class TopicList:
    """The topics that validated, and what was wrong with the file."""

    topics: list[Topic] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load_topics(content_dir: Path) -> TopicList:
    """``<content_dir>/topics.yaml``; no topics (and no problem) when the file is absent."""
    path = content_dir / TOPICS_FILE
    if not path.is_file():
        return TopicList()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return TopicList(problems=[Problem(path, 1, "file", f"cannot read: {exc}")])
    return parse_topics(text, path)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _text(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value).strip()
    return None


def parse_topics(text: str, path: Path) -> TopicList:
    """Validate the text of a topic file (``path`` is only for the problems' location)."""
    out = TopicList()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        out.problems.append(Problem(path, line, "yaml", f"YAML does not parse: {exc}"))
        return out
    if root is None:
        return out
    if not isinstance(root, yaml.SequenceNode):
        out.problems.append(
            Problem(path, _line(root), "topics", "write a list: one '- slug: …' entry per topic")
        )
        return out
    seen: dict[str, int] = {}
    for entry in root.value:
        topic = _topic(entry, path, out.problems)
        if topic is None:
            continue
        keys = [("slug", topic.slug), ("name_zh", topic.name_zh), ("name_en", topic.name_en)]
        clash = False
        for key, value in keys:
            mark = f"{key}:{value.casefold()}"
            if mark in seen:
                out.problems.append(
                    Problem(
                        path,
                        _line(entry),
                        key,
                        f"duplicate {key} {value!r}: also on line {seen[mark]}; keep one",
                    )
                )
                clash = True
            else:
                seen[mark] = _line(entry)
        if not clash:
            out.topics.append(topic)
    return out


def _topic(entry: yaml.Node, path: Path, problems: list[Problem]) -> Topic | None:
    if not isinstance(entry, yaml.MappingNode):
        problems.append(
            Problem(path, _line(entry), "topic", "each topic is a mapping with slug, names, terms")
        )
        return None
    before = len(problems)
    values: dict[str, yaml.Node] = {}
    for key_node, value_node in entry.value:
        key = _text(key_node) or ""
        if key not in _KEYS:
            problems.append(
                Problem(
                    path,
                    _line(key_node),
                    key or "key",
                    f"unknown key (use {', '.join(_KEYS)})",
                )
            )
            continue
        values[key] = value_node
    for key in _KEYS:
        if key not in values:
            problems.append(Problem(path, _line(entry), key, "required key is missing"))
    strings: dict[str, str] = {}
    for key in ("slug", "name_zh", "name_en"):
        node = values.get(key)
        if node is None:
            continue
        value = _text(node)
        if not value:
            problems.append(Problem(path, _line(node), key, "must be a non-empty text"))
        elif key == "slug" and not _SLUG.match(value):
            problems.append(
                Problem(path, _line(node), key, f"{value!r}: use lower-case words-with-hyphens")
            )
        else:
            strings[key] = value
    terms: dict[str, tuple[str, ...]] = {}
    for key in ("terms_zh", "terms_en"):
        node = values.get(key)
        if node is None:
            continue
        found = _terms(node, key, path, problems)
        if found is not None:
            terms[key] = found
    if len(problems) > before:
        return None
    return Topic(
        slug=strings["slug"],
        name_zh=strings["name_zh"],
        name_en=strings["name_en"],
        terms_zh=terms["terms_zh"],
        terms_en=terms["terms_en"],
    )


def _terms(
    node: yaml.Node, key: str, path: Path, problems: list[Problem]
) -> tuple[str, ...] | None:
    if not isinstance(node, yaml.SequenceNode):
        problems.append(Problem(path, _line(node), key, "write a list: [term, term]"))
        return None
    out = []
    ok = True
    for item in node.value:
        value = _text(item)
        if not value:
            problems.append(Problem(path, _line(item), key, "empty term: remove it or fill it"))
            ok = False
        else:
            out.append(value)
    if ok and not out:
        problems.append(Problem(path, _line(node), key, "no terms: give at least one"))
        return None
    return tuple(out) if ok else None
