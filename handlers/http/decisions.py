"""The school decision API (DESIGN 4.4): `POST /api/v1/cases/{case_id}/decision`."""

from __future__ import annotations

from aiohttp import web

from bot.usecases import decisions
from bot.usecases.decisions import SchoolActor
from bot.usecases.schools_auth import school_by_api_key
from handlers.http.bodies import model_response, parse_json, read_limited_body
from handlers.http.context import DECIDING, SESSIONS
from handlers.http.errors import HttpProblem
from handlers.http.schemas import DecisionAnswer, DecisionRequest

routes = web.RouteTableDef()


@routes.post("/api/v1/cases/{case_id}/decision")
async def on_decision(request: web.Request) -> web.Response:
    """Accept or refuse with the school's API key; another school's case is a 404.

    A first refusal is the preliminary decision (status `hearing`); the final decision
    during an open hearing is a 409 `hearing_open`.
    """
    auth = request.headers.get("Authorization", "")
    key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    school_id = await school_by_api_key(request.app[SESSIONS], key) if key else None
    if school_id is None:
        raise HttpProblem(401, "unauthorized", "send Authorization: Bearer <school API key>")
    body = await read_limited_body(request)
    decision = DecisionRequest.model_validate(parse_json(request, body))
    actor = SchoolActor(school_id=school_id, label=f"api:school:{school_id}")
    case_id, deciding = request.match_info["case_id"], request.app[DECIDING]
    if decision.decision == "accepted":
        result = await decisions.accept(deciding, case_id, actor)
    else:
        assert decision.ground is not None and decision.reason is not None
        result = await decisions.refuse(deciding, case_id, actor, decision.ground, decision.reason)
    answer = DecisionAnswer(
        case_id=result.case_id,
        status=result.status.value,
        registration_number=result.registration_number,
        ground=result.ground,
        hearing_until=result.hearing_until,
    )
    return model_response(answer)
