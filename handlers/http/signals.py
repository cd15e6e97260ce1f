"""Routes for the health system: signals, revocations, case status (DESIGN 4.3)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.signals import NOW_KEY, VkkSignal
from bot.usecases.revocation import case_timeline, revoke_signal
from handlers.http.auth import require_signature
from handlers.http.bodies import model_response, parse_json, read_limited_body
from handlers.http.context import CIPHER, CLOCK, INTAKE, METRICS, SESSIONS, TEXTS
from handlers.http.schemas import CaseAnswer, IntakeAnswer

routes = web.RouteTableDef()
SIGNAL_PATH = "/api/v1/signals/vkk"


@web.middleware
async def count_signals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answer to the signal endpoint by result, errors included."""
    response = await handler(request)
    if request.path == SIGNAL_PATH and request.method == "POST":
        request.app[METRICS].count_signal(response.status)
    return response


@routes.post(SIGNAL_PATH)
async def on_vkk_signal(request: web.Request) -> web.Response:
    """Accept a VKK recommendation; 202 for a new case, 200 for an identical re-send."""
    body = await read_limited_body(request)
    require_signature(request, body)
    now = request.app[CLOCK].now()
    signal = VkkSignal.model_validate(parse_json(request, body), context={NOW_KEY: now})
    result = await request.app[INTAKE].submit(signal)
    answer = IntakeAnswer(case_id=result.case_id, status=result.status, duplicate=result.duplicate)
    return model_response(answer, status=200 if result.duplicate else 202)


@routes.post("/api/v1/signals/vkk/{signal_id}/revocation")
async def on_vkk_revocation(request: web.Request) -> web.Response:
    """Withdraw a conclusion: the case is cancelled unless the school already decided."""
    body = await read_limited_body(request)
    require_signature(request, body)
    app = request.app
    result = await revoke_signal(
        app[SESSIONS], app[CIPHER], app[CLOCK], app[TEXTS], request.match_info["signal_id"]
    )
    answer = IntakeAnswer(case_id=result.case_id, status=result.status, duplicate=result.duplicate)
    return model_response(answer)


@routes.get("/api/v1/cases/{case_id}")
async def on_case_status(request: web.Request) -> web.Response:
    """Status and milestones of a case, without personal data."""
    body = await read_limited_body(request)
    require_signature(request, body)
    timeline = await case_timeline(request.app[SESSIONS], request.match_info["case_id"])
    answer = CaseAnswer(case_id=timeline.case_id, status=timeline.status, **timeline.times)
    return model_response(answer)
