"""Rendering, the pure core: text budgets and escaping, Telegram HTML, email MIME, web pages."""

from __future__ import annotations

from digestbot.render.email import (
    UNSUBSCRIBE_PLACEHOLDER,
    RenderedEmail,
    build_message,
    render_email,
    render_email_message,
)
from digestbot.render.plain import render_text
from digestbot.render.telegram import check_telegram_html, render_telegram, visible_len
from digestbot.render.templates import Templates, default_templates
from digestbot.render.text import escape_html, normalize_spacing_zh, shorten, utf16_len
from digestbot.render.web import (
    ArchiveEntry,
    render_web_archive,
    render_web_issue,
    render_web_page,
    render_web_paper,
)

__all__ = [
    "UNSUBSCRIBE_PLACEHOLDER",
    "ArchiveEntry",
    "RenderedEmail",
    "Templates",
    "build_message",
    "check_telegram_html",
    "default_templates",
    "escape_html",
    "normalize_spacing_zh",
    "render_email",
    "render_email_message",
    "render_telegram",
    "render_text",
    "render_web_archive",
    "render_web_issue",
    "render_web_page",
    "render_web_paper",
    "shorten",
    "utf16_len",
    "visible_len",
]
