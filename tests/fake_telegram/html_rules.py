"""Telegram's HTML parse mode as its server reads it: the tag subset, entities, UTF-16 offsets."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Final

JSONDict = dict[str, Any]

_SPACE: Final = frozenset(" \t\r\n\f\v\x00")
_PLAIN_RUN: Final = re.compile(r"[^&<]*")


class HtmlParseError(ValueError):
    """Text in ``parse_mode=HTML`` that Telegram refuses ("can't parse entities: ...")."""


_SUPPORTED_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_ENTITY_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    offset: int  # UTF-16 offset in the output where the tag's content starts
    expandable: bool = False


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(source: str, pos: int, *, need_semicolon: bool) -> tuple[str, int] | None:
    """Decode the character reference at ``source[pos] == "&"``; (character, next index)."""
    n = len(source)
    end = pos + 1
    if end < n and source[end] == "#":
        end += 1
        is_hex = end < n and source[end] in "xX"
        if is_hex:
            end += 1
        digits = string.hexdigits if is_hex else string.digits
        start = end
        while end < n and source[end] in digits and end - start <= 8:
            end += 1
        if end == start or end - start > 8:
            return None
        value = int(source[start:end], 16 if is_hex else 10)
        if value == 0 or value >= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            return None
        char = chr(value)
    else:
        start = end
        while end < n and source[end].isascii() and source[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(source[start:end])
        if named is None:
            return None
        char = named
    if end < n and source[end] == ";":
        end += 1
    elif need_semicolon:
        return None
    return char, end


def strip_text(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Trim leading/trailing whitespace like Telegram does, shifting entities to match."""
    stripped = text.strip("".join(_SPACE))
    if not stripped:
        return "", []
    lead = utf16_len(text[: len(text) - len(text.lstrip("".join(_SPACE)))])
    total = utf16_len(stripped)
    kept: list[JSONDict] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-flavoured HTML into (visible text, Bot API MessageEntity dicts).

    Ports the rules of Telegram's own parser (tdlib ``parse_html``): the supported tag
    subset, case-insensitive tag names, unknown attributes ignored, ``</>`` closing the
    innermost tag, the entities ``&lt; &gt; &amp; &quot;`` and numeric references. With
    ``strict`` (the default) a ``&`` in text that does not start a complete entity
    (including its ``;``) is an error, as Telegram's documentation demands; Telegram's
    server is laxer and keeps such a ``&`` literally. Leading and trailing whitespace is
    trimmed as Telegram trims it. Raises `HtmlParseError` with Telegram's wording.
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSONDict] = []
    i = 0
    n = len(source)
    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_entity(source, i, need_semicolon=strict)
            if decoded is not None:
                text, i = decoded
                out.append(text)
                utf16 += utf16_len(text)
                continue
            if strict:
                raise HtmlParseError(
                    f'Unescaped "&" at byte offset {_byte_offset(source, i)}; '
                    "write &amp; or a character entity"
                )
        if char != "<":
            # a run of plain text up to the next tag or entity, measured once (the
            # stand-in's cost per message is part of every round trip the benches time)
            match = _PLAIN_RUN.match(source, i + 1)
            end = match.end() if match is not None else i + 1
            run = source[i:end]
            out.append(run)
            utf16 += utf16_len(run)
            i = end
            continue
        begin = i
        if i + 1 < n and source[i + 1] == "/":
            i = _close_tag(source, begin, stack, entities, utf16)
            continue
        i, tag = _open_tag(source, begin, utf16)
        stack.append(tag)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return strip_text("".join(out), entities)


def _open_tag(source: str, begin: int, utf16: int) -> tuple[int, _OpenTag]:
    n = len(source)
    i = begin + 1
    while i < n and source[i] not in _SPACE and source[i] != ">":
        i += 1
    if i >= n:
        raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
    name = source[begin + 1 : i].lower()
    if name not in _SUPPORTED_TAGS:
        raise HtmlParseError(
            f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}'
        )
    argument = ""
    expandable = False
    while True:
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if source[i] == ">":
            i += 1
            break
        attr_begin = i
        while i < n and source[i] not in _SPACE and source[i] not in "=>":
            i += 1
        attr_name = source[attr_begin:i].lower()
        if not attr_name:
            raise HtmlParseError(
                f'Empty attribute name in the tag "{name}" at byte offset '
                f"{_byte_offset(source, begin)}"
            )
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n or source[i] != "=":
            if name == "blockquote" and attr_name == "expandable":
                expandable = True
            continue
        i += 1
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        value, i = _attribute_value(source, i)
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if name == "a" and attr_name == "href":
            argument = value
        elif name == "code" and attr_name == "class" and value.startswith("language-"):
            argument = value.removeprefix("language-")
        elif name == "span" and attr_name == "class" and value.startswith("tg-"):
            argument = value.removeprefix("tg-")
        elif name == "tg-emoji" and attr_name == "emoji-id":
            argument = value
    if name == "span" and argument != "spoiler":
        raise HtmlParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(source, begin)}'
        )
    if name == "tg-emoji" and not argument.isdigit():
        raise HtmlParseError(
            f'Tag "tg-emoji" must have a numeric "emoji-id" at byte offset '
            f"{_byte_offset(source, begin)}"
        )
    return i, _OpenTag(name=name, argument=argument, offset=utf16, expandable=expandable)


def _attribute_value(source: str, i: int) -> tuple[str, int]:
    n = len(source)
    if source[i] not in "'\"":
        # An unquoted name token: letters, digits, periods, hyphens; case-insensitive.
        start = i
        while i < n and ((source[i].isascii() and source[i].isalnum()) or source[i] in ".-"):
            i += 1
        if i < n and source[i] not in _SPACE and source[i] != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {_byte_offset(source, start)}"
            )
        return source[start:i].lower(), i
    quote = source[i]
    i += 1
    value: list[str] = []
    while i < n and source[i] != quote:
        if source[i] == "&":
            decoded = _decode_entity(source, i, need_semicolon=False)
            if decoded is not None:
                char, i = decoded
                value.append(char)
                continue
        value.append(source[i])
        i += 1
    if i < n:
        i += 1  # the closing quote
    return "".join(value), i


def _close_tag(
    source: str, begin: int, stack: list[_OpenTag], entities: list[JSONDict], utf16: int
) -> int:
    n = len(source)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
    i = begin + 2
    while i < n and source[i] not in _SPACE and source[i] != ">":
        i += 1
    end_name = source[begin + 2 : i].lower()
    while i < n and source[i] in _SPACE:
        i += 1
    if i >= n or source[i] != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
    tag = stack.pop()
    if end_name and end_name != tag.name:
        raise HtmlParseError(
            f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
            f'expected "</{tag.name}>", found "</{end_name}>"'
        )
    if utf16 > tag.offset:
        entities.append(_make_entity(tag, utf16 - tag.offset, entities))
    return i + 1


def _make_entity(tag: _OpenTag, length: int, previous: list[JSONDict]) -> JSONDict:
    entity: JSONDict = {"type": _ENTITY_TYPES[tag.name], "offset": tag.offset, "length": length}
    if tag.name == "a":
        entity["url"] = tag.argument
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.argument
    elif tag.name == "blockquote" and tag.expandable:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "code" and tag.argument:
        entity["language"] = tag.argument  # merged into an enclosing <pre>, else dropped below
    elif tag.name == "pre" and previous:
        last = previous[-1]
        if last["type"] == "code" and (last["offset"], last["length"]) == (tag.offset, length):
            previous.pop()
            if last.get("language"):
                entity["language"] = last["language"]
    return entity


def public_entities(entities: list[JSONDict]) -> list[JSONDict]:
    """Drop the language of a lone ``<code class="language-x">``: it only sticks to <pre>."""
    return [
        {k: v for k, v in e.items() if not (e["type"] == "code" and k == "language")}
        for e in entities
    ]
