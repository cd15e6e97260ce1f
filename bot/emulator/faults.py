"""Fault injection: make the next N calls of a method fail with a chosen error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.emulator.errors import ApiError

DEFAULT_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: injected failure",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Fault:
    """A pending injected failure for `method` (lower-case), optionally for one chat."""

    method: str
    remaining: int
    error_code: int
    description: str
    retry_after: int | None
    chat_id: int | None

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        """Tell whether this fault applies to a call of `method` for `chat_id`."""
        if self.method != method or self.remaining <= 0:
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)


class FaultInjector:
    """Queue of injected failures consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        *,
        times: int,
        error_code: int,
        description: str | None,
        retry_after: int | None,
        chat_id: int | None,
    ) -> None:
        """Register a failure for the next `times` calls of `method`."""
        if error_code == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
        text = description or DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        fault = Fault(method.lower(), times, error_code, text, retry_after, chat_id)
        self._faults.append(fault)

    def take(self, method: str, chat_id: int | str | None) -> ApiError | None:
        """Consume and return the error for this call, or None if no fault applies."""
        for fault in self._faults:
            if fault.matches(method.lower(), chat_id):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()
