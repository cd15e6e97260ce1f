"""The school's pages under `/school`: sign-in by phone and SMS code, the inbox, a case.

Each handler reads the form, calls one use case and answers with a page or a redirect
(post, then redirect, then get: a reload never decides twice). Decisions are the use
cases of the staff chat and the school API (`bot.usecases.school_inbox`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import MultiDictProxy

from bot.domain.identifiers import case_number
from bot.errors import Conflict, DomainError, NotFound
from bot.usecases import school_inbox, staff_accounts
from bot.usecases.decisions import REASON_MAX, REASON_MIN, validate_reason
from bot.usecases.hearing import HearingOpen
from bot.usecases.staff_accounts import STAFF_SESSION, StaffMember
from handlers.web.context import SERVICES
from handlers.web.render import error_page, page_lang, redirect, render
from handlers.web.security import drop_cookie, keep_csrf_cookie, read_form, renew_csrf
from handlers.web.signin import CodeEntry

SESSION_COOKIE = "__Host-hsb-school"
CHALLENGE_COOKIE = "__Host-hsb-school-code"
PREFIX = "/school"
HOME, SIGN_IN, CODE = f"{PREFIX}/", f"{PREFIX}/signin", f"{PREFIX}/code"

routes = web.RouteTableDef()
StaffHandler = Callable[[web.Request, StaffMember], Awaitable[web.StreamResponse]]


def staff_page(handler: StaffHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Only for a signed-in staff member, checked again at every request: an account
    removed a moment ago is signed out at its next click."""

    async def page(request: web.Request) -> web.StreamResponse:
        svc = request.config_dict[SERVICES]
        token = request.cookies.get(SESSION_COOKIE, "")
        member = await staff_accounts.staff_of_session(svc, token) if token else None
        if member is None:
            response = redirect(SIGN_IN)
            if token:
                drop_cookie(response, SESSION_COOKIE)
            return response
        return await handler(request, member)

    return page


def _header(request: web.Request, member: StaffMember) -> dict[str, object]:
    return {"member": member, "school_name": member.school(page_lang(request))}


@routes.get("/")
@staff_page
async def on_inbox(request: web.Request, member: StaffMember) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    rows = await school_inbox.list_inbox(svc, member, page_lang(request))
    context = {**_header(request, member), "rows": rows, "zone": svc.settings.zone}
    return render(request, "school/inbox.html", context)


async def _case_context(
    request: web.Request, member: StaffMember, case_id: str
) -> dict[str, object]:
    svc = request.config_dict[SERVICES]
    page = await school_inbox.case_page(svc, member, case_id, page_lang(request))
    return {
        **_header(request, member),
        "case": page,
        "zone": svc.settings.zone,
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
        "errors": {},
        "form": {},
    }


@routes.get("/cases/{case_id}")
@staff_page
async def on_case(request: web.Request, member: StaffMember) -> web.StreamResponse:
    context = await _case_context(request, member, request.match_info["case_id"])
    return render(request, "school/case.html", context)


@routes.get("/cases/{case_id}/application.pdf")
@staff_page
async def on_application_pdf(request: web.Request, member: StaffMember) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    name, pdf = await school_inbox.application_pdf(svc, member, request.match_info["case_id"])
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@routes.post("/cases/{case_id}")
@staff_page
async def on_decision(request: web.Request, member: StaffMember) -> web.StreamResponse:
    """Accept, or refuse on a ground with a reason; a bad field is shown next to it."""
    svc = request.config_dict[SERVICES]
    case_id = request.match_info["case_id"]
    form = await read_form(request)
    decision = form.get("decision")
    if decision not in ("accepted", "refused"):
        return error_page(request, 422, "web.form_expired")
    errors = _refusal_problems(form) if decision == "refused" else {}
    if errors:
        context = await _case_context(request, member, case_id)
        context.update(errors=errors, form=dict(form))
        return render(request, "school/case.html", context, status=422)
    try:
        if decision == "accepted":
            await school_inbox.accept(svc, member, case_id)
        else:
            ground, reason = int(form["ground"]), form["reason"]
            await school_inbox.refuse(svc, member, case_id, ground, reason)
    except HearingOpen as exc:
        return error_page(request, 409, "staff.hearing_open", **exc.params)
    except NotFound:
        return error_page(request, 404, "web.case_unknown")
    except Conflict:
        return error_page(request, 409, "staff.already_decided", case_number=case_number(case_id))
    return redirect(f"{PREFIX}/cases/{case_id}")


def _refusal_problems(form: MultiDictProxy[str]) -> dict[str, str]:
    """Field -> text key of its problem, as the refusal use case would find them."""
    problems = {}
    if form.get("ground") not in ("1", "2", "3"):
        problems["ground"] = "web.ground_missing"
    try:
        validate_reason(form.get("reason", ""))
    except DomainError:
        problems["reason"] = "web.reason_bad"
    return problems


@routes.get("/signin")
async def on_sign_in_page(request: web.Request) -> web.StreamResponse:
    return render(request, "school/signin.html", {"errors": {}, "phone": ""})


@routes.post("/signin")
async def on_sign_in(request: web.Request) -> web.StreamResponse:
    """Ask for a code; the same answer whether the phone has an account or not."""
    svc = request.config_dict[SERVICES]
    form = await read_form(request)
    phone = form.get("phone", "")
    try:
        challenge = await staff_accounts.request_sign_in(svc, phone, page_lang(request))
    except DomainError as exc:
        errors = {"phone": (exc.text_key, exc.params)}
        status = 429 if exc.text_key == "web.code_locked" else 422
        return render(request, "school/signin.html", {"errors": errors, "phone": phone}, status)
    response = redirect(CODE)
    CODE_ENTRY.keep_challenge(response, challenge)
    return response


CODE_ENTRY = CodeEntry(
    action=CODE,
    again=SIGN_IN,
    intro_key="web.code_intro",
    home=HOME,
    session_cookie=SESSION_COOKIE,
    challenge_cookie=CHALLENGE_COOKIE,
    session_lifetime=STAFF_SESSION,
)


@routes.get("/code")
async def on_code_page(request: web.Request) -> web.StreamResponse:
    return await CODE_ENTRY.page(request)


@routes.post("/code")
async def on_code(request: web.Request) -> web.StreamResponse:
    """The code opens an 8-hour session; a wrong one is counted and said so."""
    return await CODE_ENTRY.take(request, _confirm_sign_in)


async def _confirm_sign_in(request: web.Request, challenge: str, code: str) -> str:
    return await staff_accounts.confirm_sign_in(request.config_dict[SERVICES], challenge, code)


@routes.post("/signout")
async def on_sign_out(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    await read_form(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await staff_accounts.sign_out(svc, token)
    renew_csrf(request)
    response = redirect(SIGN_IN)
    drop_cookie(response, SESSION_COOKIE)
    keep_csrf_cookie(request, response)
    return response
