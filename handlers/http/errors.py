"""One middleware that turns every failure into a JSON answer of the contract."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from bot.errors import Conflict, DomainError, NotFound
from bot.signals import FieldError, field_errors
from handlers.http.schemas import ErrorAnswer, ValidationErrorAnswer

log = logging.getLogger(__name__)
UNREAD_BODY_STATUSES = (408, 413)


class HttpProblem(Exception):
    """A request the API refuses, with its status and a message for the caller."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def json_answer(model: ErrorAnswer | ValidationErrorAnswer, status: int) -> web.Response:
    return web.Response(
        body=model.model_dump_json(), status=status, content_type="application/json"
    )


def _domain_status(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 422


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map problems to answers; anything unexpected is logged and becomes a bare 500."""
    try:
        return await handler(request)
    except HttpProblem as exc:
        refusal = json_answer(ErrorAnswer(error=exc.error, message=exc.message), exc.status)
        if exc.status in UNREAD_BODY_STATUSES:
            refusal.force_close()  # do not wait for the rest of a body we will not read
        return refusal
    except ValidationError as exc:
        return json_answer(ValidationErrorAnswer(errors=field_errors(exc)), 422)
    except DomainError as exc:
        status = _domain_status(exc)
        if status == 422:
            invalid = FieldError(field="body", message=str(exc))
            return json_answer(ValidationErrorAnswer(errors=[invalid]), status)
        return json_answer(ErrorAnswer(error=exc.text_key, message=str(exc)), status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        answer = ErrorAnswer(error=exc.reason.lower().replace(" ", "_"), message=exc.reason)
        response = json_answer(answer, exc.status)
        if "Allow" in exc.headers:  # a 405 names the methods the path does take (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        answer = ErrorAnswer(error="internal_error", message="internal error; it was logged")
        return json_answer(answer, 500)
