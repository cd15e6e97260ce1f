"""Reading request bodies and writing answers the same way on every route."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from handlers.http.errors import HttpProblem

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
BODY_READ_TIMEOUT_S = 10.0
MAX_NUMBER_DIGITS = 20
T = TypeVar("T", int, float)


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )


async def read_limited_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the raw body: 413 as soon as it is known to exceed `limit`, 408 when the
    client stalls, and one log line (no traceback) when it drops the connection.

    Without the time limit a client that stops mid-body holds its request, and a
    graceful stop, for as long as it likes.
    """
    too_large = HttpProblem(413, "body_too_large", f"the body must be at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_S):
            async for chunk in request.content.iter_chunked(16 * 1024):
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        log.info(
            "%s %s: body not received within %s s",
            request.method,
            request.path,
            BODY_READ_TIMEOUT_S,
        )
        raise HttpProblem(
            408, "request_timeout", f"the body was not received within {BODY_READ_TIMEOUT_S:g} s"
        ) from None
    except ConnectionResetError:
        log.info("%s %s: the client closed the connection mid-body", request.method, request.path)
        raise HttpProblem(400, "incomplete_body", "the connection closed mid-body") from None
    return b"".join(chunks)


class _Refused(ValueError):
    """A JSON text the strict parser refuses although the standard library would take it."""


def _number(literal: str, convert: Callable[[str], T]) -> T:
    if sum(char.isdigit() for char in literal) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    value = convert(literal)
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused("a number is out of range")
    return value


def _non_finite(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("an object has a duplicate key")
    return obj


_STRICT = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_int=partial(_number, convert=int),
    parse_float=partial(_number, convert=float),
    parse_constant=_non_finite,
)


def strict_json(body: bytes) -> Any:
    """Decode JSON as the contract reads it, refusing what would be read two ways.

    Duplicate keys (which one counts?), `NaN`/`Infinity` and numbers of more than
    20 digits (Python refuses beyond 4,300 and every digit costs time) are errors,
    not values. Raises ValueError with a message for the sender.
    """
    try:
        # As `json.loads(body, ...)` reads bytes, with one decoder for every request.
        return _STRICT.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        # `[[[[...` fits in 64 KiB yet exhausts the decoder's recursion limit.
        raise ValueError("the body is nested too deeply") from None


def parse_json(request: web.Request, body: bytes) -> Any:
    """Decode a JSON body: 415 for another media type, 400 for JSON `strict_json` refuses."""
    if request.content_type != "application/json":
        raise HttpProblem(415, "unsupported_media_type", "send the body as application/json")
    try:
        return strict_json(body)
    except ValueError as exc:
        raise HttpProblem(400, "invalid_json", str(exc)) from None
