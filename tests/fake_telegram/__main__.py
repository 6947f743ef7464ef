"""``python -m fake_telegram`` (from ``tests/``): serve the stand-in until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence

from .server import FakeTelegram


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a FakeTelegram until interrupted and print its base_url (manual use, benches)."""
    parser = argparse.ArgumentParser(prog="python -m fake_telegram", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default="123456789:TEST-fake-telegram-token")
    parser.add_argument("--username", default="digest_test_bot")
    parser.add_argument("--no-rate-limits", action="store_true", help="disable flood control")
    parser.add_argument(
        "--no-auto-create",
        dest="auto_create",
        action="store_false",
        help="answer 'chat not found' for unregistered private chats (default: create them)",
    )
    parser.add_argument("--channel", type=int, action="append", default=[], metavar="CHAT_ID")
    parser.add_argument("--group", type=int, action="append", default=[], metavar="CHAT_ID")
    args = parser.parse_args(argv)
    fake = FakeTelegram(
        args.token,
        bot_username=args.username,
        host=args.host,
        port=args.port,
        rate_limits=not args.no_rate_limits,
        auto_create_private=args.auto_create,
    )
    for chat_id in args.channel:
        fake.add_channel(chat_id, f"Channel {chat_id}")
    for chat_id in args.group:
        fake.add_group(chat_id, f"Group {chat_id}")
    with fake:
        print(f"base_url={fake.base_url}", flush=True)
        print(f"token={fake.token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
