"""HMAC request signatures of DESIGN 4.3 (scheme 2), for signals in and school webhooks out.

Scheme 2 signs `"<timestamp>.<METHOD>.<path>.<raw body>"`: binding the method and the
path (query string included) means a captured request cannot be replayed onto another
endpoint, e.g. a signal's headers onto a revocation of someone else's case.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
MAX_SKEW_S = 300
_PREFIX = "sha256="
_HEX_LENGTH = 64
_LOWER_HEX = frozenset(string.digits + "abcdef")


class SignedRequest(NamedTuple):
    """What a signature covers besides the timestamp."""

    method: str
    path: str
    body: bytes


def signature(secret: bytes, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Return the header value `sha256=<hex>` for a request sent at `timestamp`."""
    target = path.encode("utf-8", "surrogateescape")  # the bytes as sent, see aiohttp
    message = b".".join([timestamp.encode(), method.upper().encode(), target, body])
    return _PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def url_target(url: str) -> str:
    """The path a client sends for `url`, query string included (`/` for a bare host)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def signed_headers(
    secret: bytes, method: str, path: str, body: bytes, now: float
) -> dict[str, str]:
    """Headers that authenticate the request to a peer that holds `secret`."""
    timestamp = str(int(now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, method, path, body),
    }


def _well_formed(sig: str) -> bool:
    digest = sig.removeprefix(_PREFIX)
    return sig.startswith(_PREFIX) and len(digest) == _HEX_LENGTH and set(digest) <= _LOWER_HEX


def signature_problem(
    secrets: Sequence[bytes],
    timestamp: str | None,
    sig: str | None,
    request: SignedRequest,
    now: float,
) -> str | None:
    """Explain why `request` is not authentic, or return None when it is.

    Headers are checked for shape before anything is computed, so any byte a client
    can put in them ends in a plain refusal, never an exception. Every configured
    secret is tried (key rotation) with a constant-time comparison; the timestamp
    window bounds how long a captured request can be replayed.
    """
    if not secrets:
        return "no signal secrets are configured on this server"
    if not timestamp or not sig:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    if not timestamp.isascii() or not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} must be unix seconds"
    # Length first: int() of thousands of digits is refused by Python (and slow).
    if len(timestamp) > 12 or abs(now - int(timestamp)) > MAX_SKEW_S:
        return f"{TIMESTAMP_HEADER} is outside the {MAX_SKEW_S} s window"
    if not _well_formed(sig):
        return f"{SIGNATURE_HEADER} must be sha256= and 64 lower-case hex digits"
    method, path, body = request
    expected = sig.encode("ascii")
    matches = [
        hmac.compare_digest(signature(s, timestamp, method, path, body).encode(), expected)
        for s in secrets
    ]
    return None if any(matches) else "signature does not match"
