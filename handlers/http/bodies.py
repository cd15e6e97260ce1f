"""Reading request bodies and writing answers the same way on every route."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from handlers.http.errors import HttpProblem

MAX_BODY_BYTES = 64 * 1024


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )


async def read_limited_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the raw body, refusing with 413 as soon as it is known to exceed `limit`."""
    too_large = HttpProblem(413, "body_too_large", f"the body must be at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(request: web.Request, body: bytes) -> Any:
    """Decode a JSON body: 415 for another media type, 400 for malformed JSON."""
    if request.content_type != "application/json":
        raise HttpProblem(415, "unsupported_media_type", "send the body as application/json")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpProblem(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        # `[[[[...` fits in 64 KiB yet exhausts the decoder's recursion limit.
        raise HttpProblem(400, "invalid_json", "the body is nested too deeply") from None
