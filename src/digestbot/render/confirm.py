"""The subscription confirmation email: plain text and HTML, in the subscriber's language."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from digestbot.models import Language
from digestbot.render.templates import Templates, default_templates


def render_confirmation(
    to: str,
    lang: Language,
    confirm_url: str,
    *,
    templates: Templates | None = None,
    sender: str,
    domain: str,
) -> EmailMessage:
    if any(c in to for c in "\r\n"):
        raise ValueError("header injection: CR/LF in the recipient")
    t = templates or default_templates()
    ctx = {"lang": lang.value, "url": confirm_url, "email": to}
    msg = EmailMessage()
    msg["Subject"] = (
        "Confirm your subscription to Weekly AI Papers"
        if lang is Language.EN
        else "请确认订阅「每周AI论文速递」 / Confirm your subscription"
    )
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["X-Digestbot-Kind"] = "confirm"
    msg.set_content(t.render("email/confirm.txt.j2", **ctx))
    msg.add_alternative(t.render("email/confirm.html.j2", **ctx), subtype="html")
    return msg
