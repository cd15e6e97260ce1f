"""Authentication of peer systems: HMAC-signed requests (DESIGN 4.3)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignedRequest, signature_problem
from handlers.http.context import CLOCK, SIGNAL_SECRETS
from handlers.http.errors import HttpProblem

log = logging.getLogger(__name__)


def require_signature(request: web.Request, body: bytes) -> None:
    """Refuse with 401 unless method, path as sent and body carry a current signature."""
    secrets = request.app[SIGNAL_SECRETS]
    problem = signature_problem(
        secrets,
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        SignedRequest(request.method, request.raw_path, body),
        request.app[CLOCK].timestamp(),
    )
    if problem is not None:
        log.warning("rejected signed request to %s: %s", request.path, problem)
        raise HttpProblem(401, "unauthorized", problem)
