"""The secret key that signs links and the webhook: from settings, or made once and kept.

Without ``DIGESTBOT_SECRET_KEY`` digestbot makes a random key on its first start and keeps
it in a file only its user can read (mode 0600), so links sent yesterday still work after
a restart. The file is beside the database: ``<database file>.secret-key`` for SQLite; in
the working directory (``./digestbot.secret-key``) for PostgreSQL and in-memory SQLite.
Several processes on PostgreSQL must share one key: set ``DIGESTBOT_SECRET_KEY`` for all.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from pathlib import Path

from pydantic import SecretStr

from digestbot.errors import SettingsError
from digestbot.settings import OLD_DEFAULT_SECRET, Settings

__all__ = ["MIN_WEBHOOK_KEY_BYTES", "key_file", "with_secret_key"]

log = logging.getLogger("digestbot")

MIN_WEBHOOK_KEY_BYTES = 32
_FILE_NAME = "digestbot.secret-key"


def key_file(database_url: str) -> Path:
    """Where the made key is kept for this database."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            return Path(path).with_name(Path(path).name + ".secret-key")
    return Path(_FILE_NAME)


def with_secret_key(settings: Settings) -> Settings:
    """``settings`` with a secret key: the configured one, else the kept (or a new) one."""
    configured = settings.secret_key.get_secret_value()
    if configured == OLD_DEFAULT_SECRET:
        raise SettingsError(
            "DIGESTBOT_SECRET_KEY is the old built-in example key, which anyone can read in "
            "digestbot's source and use to forge confirm and unsubscribe links: set it to a "
            "long random string (python -c 'import secrets; print(secrets.token_hex(32))'), "
            "or unset it and digestbot makes and keeps one"
        )
    if configured:
        return settings
    path = key_file(settings.database_url)
    key = _read_or_make(path)
    return settings.model_copy(update={"secret_key": SecretStr(key)})


def _read_or_make(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise SettingsError(
            f"no DIGESTBOT_SECRET_KEY is set and the key file {path} cannot be made "
            f"({exc.strerror}): set DIGESTBOT_SECRET_KEY, or make that folder writable"
        ) from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    log.warning(
        "made a secret key for signing links and kept it in %s (mode 0600): back it up with "
        "the database, or set DIGESTBOT_SECRET_KEY",
        path,
    )
    return key


def _read(path: Path) -> str:
    """The kept key; waits a moment for a process that is writing it right now."""
    for _ in range(50):
        try:
            key = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"the secret key file {path} cannot be read ({exc}): fix its permissions "
                "or set DIGESTBOT_SECRET_KEY"
            ) from None
        if key:
            _warn_if_readable(path)
            return key
        time.sleep(0.02)
    raise SettingsError(
        f"the secret key file {path} is empty: delete it (links sent so far stop working) "
        "or set DIGESTBOT_SECRET_KEY"
    )


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "the secret key file %s can be read by other users: run chmod 600 %s", path, path
        )
