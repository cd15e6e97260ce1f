"""The HTTP server under the application: limits against slow clients, private errors.

aiohttp answers a request it cannot parse itself, before any middleware: it logs the
parser's exception (which quotes the raw bytes: an IIN, a name, a phone number) with a
traceback, and echoes the same text in the 400 body. Our handler class logs one line
naming the kind of error and answers the bare status.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)

# A request line or one header of more than 8 KiB, or more than 64 headers, is refused.
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
MAX_HEADERS = 64
# An idle (or half-sent header) connection is closed after this. Longer than the idle
# timeout of load balancers and HTTP clients (60 s, aiohttp's 15 s), so they close a
# kept-alive connection first: closing it here races with a request reusing it.
KEEPALIVE_S = 75.0
# On stop, requests in flight get this long before they are cancelled.
SHUTDOWN_GRACE_S = 3.0
# After an answer to an unread body (408, 413), the rest may still come in for this
# long (so the client can read the answer) before the connection is closed.
LINGER_S = 2.0


class PrivateRequestHandler(RequestHandler):
    """aiohttp's connection handler with errors answered and logged without request bytes."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Answer `status` with its reason phrase only; log the error's kind, not its text."""
        kind = type(exc).__name__ if exc is not None else "no exception"
        # Like aiohttp: a wrong method is what scanners and TLS on a plain port send.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
        log.log(level, "refused a request aiohttp could not handle: %s %s", status, kind)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer was already being sent")
        response = web.Response(status=status, text=f"{status} {_phrase(status)}\n")
        response.force_close()
        return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class PrivateServer(web.Server):
    """Creates a `PrivateRequestHandler` for each connection."""

    def __call__(self) -> RequestHandler:
        return PrivateRequestHandler(self, loop=self._loop, **self._kwargs)


class PrivateAppRunner(web.AppRunner):
    """`web.AppRunner` with the limits above and `PrivateServer` connections."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(
            app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_GRACE_S,
            keepalive_timeout=KEEPALIVE_S,
            lingering_time=LINGER_S,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_FIELD_BYTES,
            max_headers=MAX_HEADERS,
        )

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return PrivateServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **made._kwargs,
        )
