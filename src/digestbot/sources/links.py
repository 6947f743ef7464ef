"""Links in a paper's text: file URLs as ``links.code`` / ``links.project`` / ``links.hf`` (pure).

Archive posts mention a paper's code, demo and model pages inside the summary ("代码见
https://github.com/…"). :func:`take_links` finds those URLs (bare, ``<…>`` or Markdown
``[label](url)``), files them, and returns the text without them:

- the first GitHub (or GitLab, Codeberg, Bitbucket) repository → ``code`` (its root URL);
- the first ``*.github.io`` page, else the first other non-arXiv page (a project domain, a
  Hugging Face model, space or dataset) → ``project``;
- a Hugging Face paper page (``huggingface.co/papers/<id>``) → ``hf``.

arXiv URLs stay in the text (they name other papers). A sentence that only announced a
link ("代码见 <url>。", at most :data:`SHORT_SENTENCE` units once the URL is gone) is
dropped; in a longer one just the URL goes, with the punctuation it leaves dangling.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from digestbot.content.schema import normalize_arxiv_id
from digestbot.render.text import count_units, normalize_whitespace

__all__ = ["SHORT_SENTENCE", "LinksFound", "classify", "file_links", "hf_paper_id", "take_links"]

#: A sentence that held a URL and has at most this many units left is dropped whole.
SHORT_SENTENCE = 20

_CODE_HOSTS = frozenset({"github.com", "gitlab.com", "codeberg.org", "bitbucket.org"})
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]"
_MD_LINK = re.compile(r"\[(?P<label>[^\]]*)\]\(\s*<?(?P<url>[^)\s>]+)>?\s*\)")
_BARE = re.compile(rf"<?(?P<url>https?://{_URL_CHARS}+)>?")
_HOLE = "\x00"
_SENTENCE = re.compile(r"[^。！？!?]*(?:[。！？!?]+[”’」』）)]*|$)")
_TIDY = (
    (re.compile(r"[:：]\s*(?=[，,。；;！？!?、]|$)"), ""),
    (re.compile(r"\(\s*\)|（\s*）|\[\s*\]"), ""),
    (re.compile(r"([，,、；;])\s*(?:[，,、；;]\s*)+"), r"\1"),
    (re.compile(r"[，,、；;]\s*(?=[。！？!?]|$)"), ""),
    (re.compile(r"^\s*[，,、；;。]\s*"), ""),
)


@dataclass(frozen=True, slots=True)
class LinksFound:
    """The text without its links, and the links filed by kind (``code``, ``project``, ``hf``)."""

    text: str
    links: dict[str, str] = field(default_factory=dict)


def _is_arxiv(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "arxiv.org" or host.endswith(".arxiv.org")


def _trim(url: str) -> str:
    return url.rstrip(".,;:!?'")


def classify(url: str) -> tuple[str, str] | None:
    """``(kind, url)`` for one URL: ``code`` (repo root), ``pages`` (``*.github.io``),
    ``hf`` (a paper page), ``other``; None for arXiv and for bare site roots of code hosts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    segments = [s for s in parts.path.split("/") if s]
    if not host or _is_arxiv(url):
        return None
    if host in _CODE_HOSTS:
        if len(segments) < 2:
            return ("other", url) if segments else None
        repo = segments[1].removesuffix(".git")
        return "code", f"https://{host}/{segments[0]}/{repo}"
    if host.endswith(".github.io"):
        return "pages", url
    if host == "huggingface.co" and segments[:1] == ["papers"]:
        return ("hf", url) if len(segments) > 1 else None
    return "other", url


def hf_paper_id(url: str) -> str | None:
    """``https://huggingface.co/papers/2404.08634`` → ``2404.08634`` (a paper page names its
    arXiv id); None for any other URL."""
    found = classify(url)
    if found is None or found[0] != "hf":
        return None
    try:
        return normalize_arxiv_id(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    except ValueError:
        return None


def file_links(urls: Iterable[str]) -> dict[str, str]:
    """The ``links`` mapping for URLs in order of appearance (see the module docstring)."""
    firsts: dict[str, str] = {}
    for url in urls:
        found = classify(url)
        if found is not None:
            firsts.setdefault(found[0], found[1])
    out: dict[str, str] = {}
    if "code" in firsts:
        out["code"] = firsts["code"]
    project = firsts.get("pages") or firsts.get("other")
    if project:
        out["project"] = project
    if "hf" in firsts:
        out["hf"] = firsts["hf"]
    return out


def _tidy(sentence: str) -> str:
    s = sentence.replace(_HOLE, " ")
    s = normalize_whitespace(s)
    for pattern, repl in _TIDY:
        s = pattern.sub(repl, s)
    return normalize_whitespace(s)


def _paragraph(text: str, urls: list[str]) -> str:
    def md(m: re.Match[str]) -> str:
        label, url = m.group("label").strip(), _trim(m.group("url"))
        label_is_url = label.startswith(("http://", "https://"))
        if _is_arxiv(url):
            if not label or label_is_url or label.rstrip("/") == url.rstrip("/"):
                return url
            return f"{label} ({url})"
        urls.append(url)
        return _HOLE if not label or label_is_url else label

    def bare(m: re.Match[str]) -> str:
        url = _trim(m.group("url"))
        if _is_arxiv(url):
            return m.group(0)
        urls.append(url)
        return _HOLE + m.group("url")[len(url) :]

    holed = _BARE.sub(bare, _MD_LINK.sub(md, text))
    if _HOLE not in holed:
        return normalize_whitespace(holed)
    kept: list[str] = []
    for m in _SENTENCE.finditer(holed):
        sentence = m.group(0)
        if not sentence.strip():
            continue
        if _HOLE in sentence:
            rest = _tidy(sentence)
            if count_units(rest) <= SHORT_SENTENCE:
                continue
            sentence = rest
        kept.append(sentence)
    return _tidy("".join(kept))


def take_links(text: str) -> LinksFound:
    """Take non-arXiv URLs out of ``text`` (paragraphs split at blank lines) and file them."""
    urls: list[str] = []
    paragraphs = [_paragraph(p, urls) for p in re.split(r"\n\s*\n", text.strip())]
    return LinksFound("\n\n".join(p for p in paragraphs if p), file_links(urls))
