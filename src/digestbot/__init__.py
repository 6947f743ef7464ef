"""digestbot: a weekly digest of AI papers with bilingual summaries."""

__version__ = "0.1.0"

import os as _os

# python-telegram-bot 22 warns (PTBDeprecationWarning) whenever it builds a RetryAfter
# unless its time values are timedeltas; ask for those before telegram is imported.
_os.environ.setdefault("PTB_TIMEDELTA", "true")
