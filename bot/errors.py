"""Error types the edges map to answers: HTTP statuses or polite chat messages."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the service raises on purpose."""


class DomainError(AppError):
    """A rule said no; `text_key` (with `params`) names the message shown to a person."""

    def __init__(self, text_key: str, detail: str = "", **params: object) -> None:
        super().__init__(detail or text_key)
        self.text_key = text_key
        self.params = params


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""


class Conflict(DomainError):
    """The request contradicts what already happened (duplicate decision, other content)."""


class DeliveryError(AppError):
    """Sending failed; `retryable` tells the dispatcher whether to try again."""

    def __init__(self, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.retry_after = retry_after


class StartupError(AppError):
    """The service cannot start; one line for the operator that names the setting to fix.

    The command line prints it and exits with code 2, like a malformed setting.
    """

    def __init__(self, setting: str, cause: str) -> None:
        super().__init__(f"{setting}: {cause}")
        self.setting = setting
        self.cause = cause
