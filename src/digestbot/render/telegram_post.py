"""The channel post's reader-facing pieces: a paper's visible lead and folded rest,
hashtags, part markers, and the button to the issue's web page."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from digestbot.render.text import ELLIPSIS, prefix_utf16, utf16_len

__all__ = [
    "LEAD_WIDTH",
    "IssueButton",
    "hashtag",
    "hashtags",
    "issue_button",
    "part_marker",
    "split_lead",
]

LEAD_WIDTH = 180
"""Most display width (a Han or full-width character counts 2) of a paper's visible line."""

_SENTENCE_END = re.compile(
    r"[。！？!?](?:[\"'”’)）」』】》]*)|\.(?=[\"'”’)）]*(?:\s|$))[\"'”’)）]*"
)
_ABBREV = re.compile(
    r"(?:(?<![A-Za-z])(?:e\.g|i\.e|w\.r\.t|vs|al|cf|figs?|eqs?|secs?|approx|resp|incl|no)"
    r"|(?:^|(?<=\s))[A-Z])$",
    re.IGNORECASE,
)
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60]"
)
_FOLD_MIN = 30
"""A rest narrower than this stays visible instead of going into a folded quote."""
_HASHTAG_JUNK = re.compile(r"\W+")
_HASHTAG_MAX = 64


def _width(text: str) -> int:
    return len(text) + len(_WIDE.findall(text))


def _prefix_width(text: str, width: int) -> str:
    """The longest prefix of ``text`` at most ``width`` wide, ending at a word or a Han
    character (never inside a surrogate pair or a grapheme)."""
    used = 0
    end = 0
    for i, ch in enumerate(text):
        used += 2 if _WIDE.match(ch) else 1
        if used > width:
            break
        end = i + 1
    cut = prefix_utf16(text, utf16_len(text[:end]))
    space = cut.rfind(" ")
    if end < len(text) and space > len(cut) // 2 and not _WIDE.match(text[end]):
        cut = cut[:space]
    return cut.rstrip(" ,，、:：;；")


def split_lead(text: str, width: int = LEAD_WIDTH) -> tuple[str, str]:
    """``text`` as (its first sentence, the rest). A first sentence wider than ``width``
    is cut at a word (or a Han character) and ends with ``…``; the rest goes on from there."""
    text = text.strip()
    end = len(text)
    for m in _SENTENCE_END.finditer(text):
        if text[m.start()] == "." and _ABBREV.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        end = m.end()
        break
    lead, rest = text[:end].rstrip(), text[end:].strip()
    if _width(lead) > width:
        cut = _prefix_width(lead, width - 1)
        clause = max(cut.rfind(c) for c in "，、；：,;:")
        if _width(cut[: clause + 1]) > width // 2:
            cut = cut[:clause]
        lead, rest = cut + ELLIPSIS, text[len(cut) :].lstrip(" ，、；：,;:")
    if _width(rest) <= _FOLD_MIN:  # folding a few words hides nothing: show them
        return text, ""
    return lead, rest


def hashtag(tag: str) -> str | None:
    """``tag`` as a Telegram hashtag (``long-context`` → ``#long_context``), or None when
    nothing of it can be one (no letter: Telegram links no all-digit hashtag)."""
    name = _HASHTAG_JUNK.sub("_", tag.strip()).strip("_")[:_HASHTAG_MAX].rstrip("_")
    if not any(ch.isalpha() for ch in name):
        return None
    return "#" + name


def hashtags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The hashtags of ``tags``, in order, each once (case-insensitively)."""
    out: dict[str, str] = {}
    for tag in tags:
        tagged = hashtag(tag)
        if tagged is not None:
            out.setdefault(tagged.lower(), tagged)
    return tuple(out.values())


def part_marker(number: int, total: int) -> str:
    """The part marker of message ``number`` of ``total``: ``1/2``."""
    return f"{number}/{total}"


@dataclass(frozen=True, slots=True)
class IssueButton:
    """The inline button under an issue's last message: opens its web page."""

    label: str
    url: str

    def markup(self) -> dict[str, list[list[dict[str, str]]]]:
        """The Bot API's ``InlineKeyboardMarkup`` JSON for this one button."""
        return {"inline_keyboard": [[{"text": self.label, "url": self.url}]]}


def _public_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".invalid")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return ip.is_global


def issue_button(public_url: str, week: str, label: str) -> IssueButton | None:
    """The button to ``{public_url}/issues/<week>``, or None when that URL is not one
    Telegram accepts in a button (no public URL, localhost, a private address): the
    message then keeps the link in its text."""
    base = public_url.strip().rstrip("/")
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not _public_host(parts.hostname or ""):
        return None
    return IssueButton(label, f"{base}/issues/{quote(week)}")
