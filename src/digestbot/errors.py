"""The error family users can hit; each message says what to do."""

from __future__ import annotations


class DigestbotError(Exception):
    """Base of every error digestbot reports to a user instead of a traceback."""


class SettingsError(DigestbotError):
    """A setting is missing or malformed."""


class ContentError(DigestbotError):
    """The content store holds a file that does not validate."""


class NoTopics(ContentError):
    """``content/topics.yaml`` is missing or holds no valid topic."""


class FollowError(DigestbotError):
    """What a reader asked to follow is empty or too long to be a topic or a search."""


class WeekError(DigestbotError, ValueError):
    """A week argument is neither an ISO week (2024-W16) nor a date (2024-04-17)."""


class NothingToPublish(DigestbotError):
    """No week has ready papers that were not already published."""


class NotPublished(DigestbotError):
    """A command needs a published issue (export) and the week has none."""


class IssueRefused(DigestbotError):
    """Publishing refuses an issue that holds invalid or draft papers."""


class ImportFailed(DigestbotError):
    """An importer could not reach or understand its source."""


class NoArchivePosts(ImportFailed):
    """``import markdown`` found not one weekly post it could read."""


class SubscriberError(DigestbotError):
    """A subscriber address or language is invalid."""


class TokenError(DigestbotError):
    """A signed token is forged, tampered with or expired."""


class ExpiredToken(TokenError):
    """A correctly signed token that is too old (confirmation links expire)."""


class DeliveryError(DigestbotError):
    """Sending one copy failed."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (429, 4xx SMTP, network, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LedgerUnavailable(DeliveryError):
    """The database stopped answering while sending, longer than a drain waits for it:
    sending stopped (nothing is sent that cannot be recorded); run again to resume."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (403 blocked, 5xx SMTP bounce, chat not found).

    ``deactivate``: the destination is gone (blocked, kicked); ``bounce``: the recipient's
    mailbox refused it (counted; repeated hard bounces deactivate the address).
    """

    def __init__(self, message: str, deactivate: bool = False, bounce: bool = False) -> None:
        super().__init__(message)
        self.deactivate = deactivate
        self.bounce = bounce


class UnsafeContentFile(ContentError):
    """A content file is not a regular file, links outside the store, or is over a size cap."""
