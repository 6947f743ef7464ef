"""Telegram's HTML parse mode: what it accepts, visible length, cutting and packing messages."""

from __future__ import annotations

import re
from collections.abc import Sequence

from digestbot.render.text import ELLIPSIS, prefix_utf16, utf16_len

__all__ = [
    "ALLOWED_TAGS",
    "MAX_ENTITIES",
    "MESSAGE_LIMIT",
    "SEPARATOR",
    "check_telegram_html",
    "count_entities",
    "pack_blocks",
    "pack_groups",
    "truncate_html",
    "visible_len",
    "visible_text",
]

MESSAGE_LIMIT = 4096
"""Telegram's limit on a message's text, in UTF-16 units after entity parsing."""
MAX_ENTITIES = 100
"""Telegram ignores formatting entities past the 100th in one message."""
SEPARATOR = "\n\n"
"""What goes between two blocks (header, papers, footer) in one message."""

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
        "span",
        "tg-emoji",
    }
)
_ALLOWED_ATTRS: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "blockquote": frozenset({"expandable"}),
    "span": frozenset({"class"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
_REQUIRED_ATTRS: dict[str, str] = {"a": "href", "span": "class", "tg-emoji": "emoji-id"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG_RE = re.compile(r"<[^<>]*>")
_ENTITY_RE = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,8})|#([0-9]{1,8})|([A-Za-z][A-Za-z0-9]*));")
_OPEN_TAG_RE = re.compile(r"<[A-Za-z]")
_TOKEN_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s\"'<>/=]+(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'"
    r"|[^\s\"'<>=`]+))?)*)\s*(/?)>"
    r"|&(?:#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);"
    r"|[<>&]"
)
_ATTR_RE = re.compile(r"([^\s\"'<>/=]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=`]+)))?")
_PARSE_RE = re.compile(r"(<[^<>]*>)|(&#?[0-9A-Za-z]+;)|([^<&]+)")
_EMPTY_PAIR_RE = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?></\1>")


def _decode_entity(m: re.Match[str]) -> str:
    hex_, dec, name = m.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name, m.group(0))
    code = int(hex_, 16) if hex_ is not None else int(dec)
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return m.group(0)


def visible_text(html: str) -> str:
    """The text Telegram shows for ``html``: tags removed, entities decoded."""
    text = _TAG_RE.sub("", html)
    if "&" in text:
        text = _ENTITY_RE.sub(_decode_entity, text)
    return text


def visible_len(html: str) -> int:
    """Length of ``html`` after Telegram's entity parsing, in UTF-16 code units."""
    return utf16_len(visible_text(html))


def count_entities(html: str) -> int:
    """How many formatting entities ``html`` makes (one per opening tag)."""
    return len(_OPEN_TAG_RE.findall(html))


def _check_attr_value(value: str, pos: int) -> None:
    for m in re.finditer(r"&[^;\s&<>]*;?|[<>]", value):
        tok = m.group(0)
        ent = _ENTITY_RE.fullmatch(tok)
        if ent is None or _decode_entity(ent) == tok:
            raise ValueError(f"bare {tok[0]!r} in an attribute of the tag at offset {pos}")


def check_telegram_html(html: str) -> None:
    """Raise ValueError unless ``html`` is text Telegram accepts with ``parse_mode=HTML``.

    Checks: only supported tags (b strong i em u ins s strike del a code pre blockquote
    tg-spoiler, span class="tg-spoiler", tg-emoji) with only their attributes
    (``a`` needs ``href``); tags balanced and properly nested, nothing inside ``code``,
    only ``code`` inside ``pre``, no ``a`` inside ``a``; every ``<``, ``>`` and ``&``
    outside a tag is an entity, named ones limited to ``&lt; &gt; &amp; &quot;``.
    """
    stack: list[str] = []
    for m in _TOKEN_RE.finditer(html):
        tok = m.group(0)
        pos = m.start()
        if tok in ("<", ">", "&"):
            raise ValueError(f"bare {tok!r} at offset {pos}: escape it as an entity")
        if tok[0] == "&":
            ent = _ENTITY_RE.fullmatch(tok)
            if ent is None or _decode_entity(ent) == tok:
                raise ValueError(f"unsupported entity {tok!r} at offset {pos}")
            continue
        closing, name, attrs, self_closing = m.group(1), m.group(2).lower(), m.group(3), m.group(4)
        if name not in ALLOWED_TAGS:
            raise ValueError(f"unsupported tag <{name}> at offset {pos}")
        if self_closing:
            raise ValueError(f"self-closing tag <{name}/> at offset {pos}")
        if closing:
            if attrs.strip():
                raise ValueError(f"closing tag </{name}> with attributes at offset {pos}")
            if not stack or stack[-1] != name:
                expected = f"</{stack[-1]}>" if stack else "no closing tag"
                raise ValueError(f"unbalanced </{name}> at offset {pos}: expected {expected}")
            stack.pop()
            continue
        seen: dict[str, str] = {}
        for a in _ATTR_RE.finditer(attrs):
            attr = a.group(1).lower()
            value = next((v for v in a.groups()[1:] if v is not None), "")
            if attr not in _ALLOWED_ATTRS.get(name, frozenset()):
                raise ValueError(f"attribute {attr!r} not allowed on <{name}> at offset {pos}")
            if attr in seen:
                raise ValueError(f"duplicate attribute {attr!r} on <{name}> at offset {pos}")
            _check_attr_value(value, pos)
            seen[attr] = value
        required = _REQUIRED_ATTRS.get(name)
        if required is not None and not seen.get(required, "").strip():
            raise ValueError(f"<{name}> needs a {required!r} attribute at offset {pos}")
        if name == "span" and seen.get("class") != "tg-spoiler":
            raise ValueError(f'only <span class="tg-spoiler"> is supported (offset {pos})')
        if "code" in stack or ("pre" in stack and name != "code"):
            raise ValueError(f"<{name}> inside <{stack[-1]}> at offset {pos}")
        if name == "a" and "a" in stack:
            raise ValueError(f"<a> inside <a> at offset {pos}")
        stack.append(name)
    if stack:
        raise ValueError(f"unclosed <{stack[-1]}>")


def truncate_html(html: str, max_visible: int, ellipsis: str = ELLIPSIS) -> str:
    """Cut ``html`` so its visible text is at most ``max_visible`` UTF-16 units.

    Cuts only between characters of text (never inside a tag, an entity or a
    grapheme), appends ``ellipsis`` and closes every tag still open.
    """
    if visible_len(html) <= max_visible:
        return html
    room = max_visible - utf16_len(ellipsis)
    out: list[str] = []
    stack: list[str] = []
    used = 0
    for m in _PARSE_RE.finditer(html):
        tag, entity, text = m.groups()
        if tag is not None:
            name_m = re.match(r"<(/?)([A-Za-z][A-Za-z0-9-]*)", tag)
            if name_m is not None:
                if name_m.group(1):
                    if stack and stack[-1] == name_m.group(2).lower():
                        stack.pop()
                else:
                    stack.append(name_m.group(2).lower())
            out.append(tag)
            continue
        piece = entity if entity is not None else text
        width = visible_len(piece)
        if used + width <= room:
            out.append(piece)
            used += width
            continue
        if text is not None:
            out.append(prefix_utf16(text, room - used))
        break
    result = "".join(out).rstrip() + (ellipsis if room >= 0 else "")
    result += "".join(f"</{name}>" for name in reversed(stack))
    prev = None
    while prev != result:
        prev, result = result, _EMPTY_PAIR_RE.sub("", result)
    return result


def pack_blocks(
    blocks: Sequence[str],
    limit: int = MESSAGE_LIMIT,
    *,
    max_entities: int = MAX_ENTITIES,
    separator: str = SEPARATOR,
) -> list[str]:
    """Pack whole blocks, in order, into as few messages as fit ``limit`` visible
    UTF-16 units and ``max_entities`` entities each. A block over either alone
    raises ValueError."""
    groups = pack_groups(blocks, limit, max_entities=max_entities, separator=separator)
    return [separator.join(blocks[i] for i in group) for group in groups]


def pack_groups(
    blocks: Sequence[str], limit: int, *, max_entities: int, separator: str
) -> list[list[int]]:
    """:func:`pack_blocks` as the indices of the blocks each message holds."""
    sep_len = visible_len(separator)
    groups: list[list[int]] = []
    current: list[int] = []
    cur_len = cur_entities = 0
    for i, block in enumerate(blocks):
        length, entities = visible_len(block), count_entities(block)
        if length > limit or entities > max_entities:
            raise ValueError(
                f"a block of {length} visible units and {entities} entities "
                f"exceeds the limit of {limit} units and {max_entities} entities"
            )
        if current and (
            cur_len + sep_len + length > limit or cur_entities + entities > max_entities
        ):
            groups.append(current)
            current, cur_len, cur_entities = [], 0, 0
        cur_len += (sep_len if current else 0) + length
        cur_entities += entities
        current.append(i)
    if current:
        groups.append(current)
    return groups
