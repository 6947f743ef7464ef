"""Issue emails: render once per language, then build each recipient's MIME message."""

from __future__ import annotations

import datetime as dt
import email.policy
import functools
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit

from digestbot.models import Issue, Language
from digestbot.render.context import issue_context
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import escape_html, normalize_whitespace
from digestbot.weeks import TITLE_EN

__all__ = [
    "POLICY",
    "UNSUBSCRIBE_PLACEHOLDER",
    "RenderedEmail",
    "build_message",
    "check_header",
    "inline_css",
    "render_email",
    "render_email_message",
]

UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
"""Stands for the recipient's unsubscribe URL in both parts of a :class:`RenderedEmail`."""
PREFERENCES_PLACEHOLDER = "%%PREFERENCES_URL%%"
"""Stands for the recipient's preferences URL (same signed token as the unsubscribe link)."""


def preferences_url(unsubscribe_url: str) -> str:
    """The preferences page of the recipient of ``unsubscribe_url``: ``/preferences/<token>``
    takes the same signed token as ``/unsubscribe/<token>``."""
    head, sep, token = unsubscribe_url.rpartition("/unsubscribe/")
    return f"{head}/preferences/{token}" if sep else unsubscribe_url


# refold_source="none": headers set with set_raw (List-Unsubscribe) are written as given.
# A long URL must stay `<https://…>` on one line; folding would turn it into an RFC 2047
# encoded word, which mail clients do not read as a link (no one-click unsubscribe).
POLICY = email.policy.SMTP.clone(cte_type="7bit", refold_source="none")
"""CRLF line ends; bodies as quoted-printable or base64, so any SMTP server takes them."""

_LIST_ID_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.cache
def _inliner() -> Any:
    # imported on the first mail: a process that only serves pages never loads it (1.5 MiB)
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def inline_css(html: str) -> str:
    """Move the document's ``<style>`` rules into ``style=""`` attributes (no remote CSS)."""
    return str(_inliner().inline(html))


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One issue's email in one language, shared by every recipient of that language.

    ``text`` and ``html`` hold :data:`UNSUBSCRIBE_PLACEHOLDER` where each recipient's
    unsubscribe link goes.
    """

    subject: str
    text: str
    html: str
    lang: Language
    week: str

    def personalize(self, unsubscribe_url: str) -> tuple[str, str]:
        """The text and HTML parts with the placeholders replaced by ``unsubscribe_url``
        and the preferences URL of the same recipient."""
        prefs = preferences_url(unsubscribe_url)
        return (
            self.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url).replace(
                PREFERENCES_PLACEHOLDER, prefs
            ),
            self.html.replace(UNSUBSCRIBE_PLACEHOLDER, escape_html(unsubscribe_url)).replace(
                PREFERENCES_PLACEHOLDER, escape_html(prefs)
            ),
        )


def render_email(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    zh_chars: int = 120,
    en_words: int = 60,
    public_url: str = "http://127.0.0.1:8000",
    bot_url: str = "",
) -> RenderedEmail:
    """Render ``issue`` in ``lang``: a plain-text part and an HTML part with inlined CSS.
    The footer links to the recipient's preferences page and, given ``bot_url``, the bot."""
    tpl = templates if templates is not None else default_templates()
    ctx = issue_context(issue, lang, zh_chars=zh_chars, en_words=en_words, public_url=public_url)
    subject = normalize_whitespace(issue.title(lang))
    ctx.update(
        subject=subject,
        unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER,
        preferences_url=PREFERENCES_PLACEHOLDER,
        bot_url=bot_url,
    )
    text = tpl.render("email/issue.txt.j2", **ctx).strip() + "\n"
    html = inline_css(tpl.render("email/issue.html.j2", **ctx))
    return RenderedEmail(subject=subject, text=text, html=html, lang=lang, week=issue.week)


def check_header(name: str, value: str) -> None:
    """Raise ValueError if a header value could inject headers (CR, LF) or holds NUL."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain CR or LF (header injection): {value!r}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL: {value!r}")


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: str,
    unsubscribe_url: str,
    list_id: str,
    message_id_domain: str,
    date: dt.datetime | None = None,
    list_unsubscribe_post: bool = True,
    list_name: str = TITLE_EN,
) -> EmailMessage:
    """One recipient's ``multipart/alternative`` message (plain text, then HTML).

    Headers: Subject, From, To, Date, Message-ID (``@message_id_domain``), List-Id
    (``list_name <list_id.message_id_domain>``), List-Unsubscribe (``<unsubscribe_url>``)
    and, unless turned off, List-Unsubscribe-Post (RFC 8058 one-click). Raises
    ValueError if a header value holds CR or LF, or ``list_id`` is not a dot-atom.
    """
    values = {
        "Subject": rendered.subject,
        "From": sender,
        "To": to,
        "unsubscribe_url": unsubscribe_url,
        "list_id": list_id,
        "list_name": list_name,
        "message_id_domain": message_id_domain,
    }
    for name, value in values.items():
        check_header(name, value)
    if not unsubscribe_url.isascii():
        raise ValueError("the unsubscribe URL must be ASCII (percent-encode it)")
    if not _LIST_ID_RE.fullmatch(f"{list_id}.{message_id_domain}"):
        raise ValueError(f"list_id and domain must form a dot-atom: {list_id}.{message_id_domain}")
    if date is None:
        date = dt.datetime.now(dt.UTC)
    elif date.tzinfo is None:
        date = date.replace(tzinfo=dt.UTC)

    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=message_id_domain)
    msg["List-Id"] = f"{list_name} <{list_id}.{message_id_domain}>"
    msg.set_raw("List-Unsubscribe", f"<{unsubscribe_url}>")
    if list_unsubscribe_post:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text, html = rendered.personalize(unsubscribe_url)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def render_email_message(
    issue: Issue,
    lang: Language,
    *,
    templates: Templates | None = None,
    zh_chars: int = 120,
    en_words: int = 60,
    public_url: str = "http://127.0.0.1:8000",
    sender: str = "digestbot <digest@localhost>",
    to: str = "preview@localhost",
    unsubscribe_url: str | None = None,
    list_id: str = "weekly-ai-papers",
    message_id_domain: str | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    """A whole message for previews and outboxes: :func:`render_email` then
    :func:`build_message`, with ``{public_url}/unsubscribe/preview`` as the link and the
    public URL's host as the domain unless given."""
    rendered = render_email(
        issue,
        lang,
        templates=templates,
        zh_chars=zh_chars,
        en_words=en_words,
        public_url=public_url,
    )
    base = public_url.rstrip("/")
    domain = message_id_domain or urlsplit(base).hostname or "localhost"
    return build_message(
        rendered,
        sender=sender,
        to=to,
        unsubscribe_url=unsubscribe_url or f"{base}/unsubscribe/preview",
        list_id=list_id,
        message_id_domain=domain,
        date=date,
    )
