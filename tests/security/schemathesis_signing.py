"""Schemathesis hook (`SCHEMATHESIS_HOOKS`): authenticates what the CLI sends.

The CLI is given placeholder credentials (`-H X-Signature: <PLACEHOLDER>` ...), so it
treats authentication as explicit. Just before each request leaves, this signs its
final bytes (scheme 2) or puts in the school's API key, but only where the
placeholders are still all there: the probes of `ignored_auth` and
`missing_required_header`, which drop or replace a credential, go out unsigned and
must get a 401.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
import schemathesis

from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

PLACEHOLDER = "signed-by-the-hook"
TIMESTAMP_PLACEHOLDER = "0"
SECRET_ENV = "FUZZ_SIGNAL_SECRET"
KEY_ENV = "FUZZ_SCHOOL_KEY"


class SignAtSend(requests.auth.AuthBase):
    """A `requests` auth: it sees the prepared request, body bytes included."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.headers.get("Authorization") == f"Bearer {PLACEHOLDER}":
            request.headers["Authorization"] = f"Bearer {os.environ[KEY_ENV]}"
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if (signature, timestamp) == (PLACEHOLDER, TIMESTAMP_PLACEHOLDER):
            body = request.body
            raw = body.encode() if isinstance(body, str) else body or b""
            assert isinstance(raw, bytes)
            method, target = request.method or "GET", request.path_url
            secret = os.environ[SECRET_ENV].encode()
            request.headers.update(signed_headers(secret, method, target, raw, time.time()))
        return request


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    kwargs["auth"] = SignAtSend()
