"""Telegram-shaped API errors raised by emulated methods."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error answered as `{"ok": false, "error_code": ..., "description": ...}`."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """Render the Telegram error body."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    """Build a 400 error, e.g. `bad_request("chat not found")`."""
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    """Build a 403 error, e.g. `forbidden("bot was blocked by the user")`."""
    return ApiError(403, f"Forbidden: {reason}")


def conflict(reason: str) -> ApiError:
    """Build a 409 error used for getUpdates/webhook clashes."""
    return ApiError(409, f"Conflict: {reason}")


def too_many_requests(retry_after: int) -> ApiError:
    """Build a 429 flood-control error with `parameters.retry_after`."""
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def unauthorized() -> ApiError:
    """Build the 401 answered for a wrong bot token."""
    return ApiError(401, "Unauthorized")


def method_not_found() -> ApiError:
    """Build the 404 answered for an unknown method name."""
    return ApiError(404, "Not Found: method not found")
