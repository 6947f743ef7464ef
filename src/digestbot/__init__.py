"""digestbot: a weekly digest of AI papers with bilingual summaries."""

__version__ = "0.1.0"

import os as _os

# python-telegram-bot 22 warns (PTBDeprecationWarning) whenever it builds a RetryAfter
# unless its time values are timedeltas; ask for those before telegram is imported.
_os.environ.setdefault("PTB_TIMEDELTA", "true")

# httpx imports its command-line client (click, rich, pygments: ~8 MB of a long-running
# process) whenever those packages are installed, and we install rich for progress bars.
# This process never runs httpx's CLI: an import of it fails, and httpx falls back.
import sys as _sys

_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
