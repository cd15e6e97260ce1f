"""HMAC request signatures of DESIGN 4.3, used for signals in and school webhooks out."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
MAX_SKEW_S = 300


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """Return the header value `sha256=<hex>` for `body` sent at `timestamp`."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    """Headers that authenticate `body` to a peer that holds `secret`."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def signature_problem(
    secrets: Sequence[bytes], timestamp: str | None, sig: str | None, body: bytes, now: float
) -> str | None:
    """Explain why a request is not authentic, or return None when it is.

    Every configured secret is tried (key rotation) with a constant-time comparison;
    the timestamp window bounds how long a captured request can be replayed.
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
    matches = [hmac.compare_digest(signature(s, timestamp, body), sig) for s in secrets]
    return None if any(matches) else "signature does not match"
