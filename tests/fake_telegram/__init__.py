"""A local stand-in of the Telegram Bot API that enforces Telegram's rules, for tests and benches.

It lives with the tests (``tests/`` is on ``sys.path`` under pytest; ``bench/_harness.py``
adds it for the benches) and is not shipped in the wheel. Modules, bottom up:
``html_rules`` (the HTML parse mode), ``limits`` (flood control as strict sliding
windows), ``state`` (chats, users, sent messages, updates, and the checks every request
shares), ``controls`` (what tests do and inspect), ``api`` (the Bot API methods),
``server`` (``FakeTelegram``, served from a background thread).

Run standalone for manual or benchmark use, from ``tests/``::

    python -m fake_telegram --port 8081
"""

from .html_rules import HtmlParseError, parse_html
from .limits import FloodControl, RateLimits, SlidingWindow
from .server import FakeTelegram
from .state import SentMessage

__all__ = [
    "FakeTelegram",
    "FloodControl",
    "HtmlParseError",
    "RateLimits",
    "SentMessage",
    "SlidingWindow",
    "parse_html",
]
