"""The guardian's pages under `/a`: the SMS link, the choice, the code, the case's status.

`/a/<token>` keeps the link's token in a cookie and answers with `/a/`, so the token
leaves the address bar; nothing personal is shown until the code sent to the signal's
phone opened a session. Consent and the form stay in Telegram until their use cases
are channel-neutral; the status page says so and gives the deep link.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.errors import DomainError
from bot.usecases import guardian_web
from bot.usecases.guardian_web import GUARDIAN_SESSION
from bot.usecases.web_identity import CODE_TTL
from handlers.web.context import SERVICES
from handlers.web.render import error_page, page_lang, redirect, render
from handlers.web.security import (
    drop_cookie,
    keep_csrf_cookie,
    read_form,
    renew_csrf,
    set_private_cookie,
)

PREFIX = "/a"
HOME, CODE = f"{PREFIX}/", f"{PREFIX}/code"
LINK_COOKIE = "__Host-hsb-link"
SESSION_COOKIE = "__Host-hsb-guardian"
CHALLENGE_COOKIE = "__Host-hsb-guardian-code"

routes = web.RouteTableDef()


@routes.get("/")
async def on_home(request: web.Request) -> web.StreamResponse:
    """The case's status for a signed-in guardian, else the choice of a valid link."""
    svc = request.config_dict[SERVICES]
    token = request.cookies.get(SESSION_COOKIE, "")
    case_id = await guardian_web.case_of_session(svc, token) if token else None
    raw_link = request.cookies.get(LINK_COOKIE, "")
    if case_id is None:
        if not raw_link:
            return error_page(request, 404, "web.link_invalid")
        link = await guardian_web.open_link(svc, raw_link)
        return render(request, "guardian/choice.html", {"link": link})
    page = await guardian_web.guardian_page(svc, case_id, page_lang(request))
    telegram = svc.bot_profile.deep_link(raw_link) if raw_link and page.needs_telegram else None
    return render(request, "guardian/status.html", {"page": page, "telegram_link": telegram})


@routes.post("/start")
async def on_start(request: web.Request) -> web.StreamResponse:
    """ "Continue here": a code to the signal's phone."""
    svc = request.config_dict[SERVICES]
    await read_form(request)
    challenge = await guardian_web.request_code(
        svc, request.cookies.get(LINK_COOKIE, ""), page_lang(request)
    )
    response = redirect(CODE)
    set_private_cookie(response, CHALLENGE_COOKIE, challenge, max_age=int(CODE_TTL.total_seconds()))
    return response


def _code_context(errors: Mapping[str, object]) -> dict[str, object]:
    return {"errors": errors, "action": CODE, "again": HOME, "intro_key": "web.guardian.code_intro"}


@routes.get("/code")
async def on_code_page(request: web.Request) -> web.StreamResponse:
    if not request.cookies.get(CHALLENGE_COOKIE):
        return redirect(HOME)
    return render(request, "code.html", _code_context({}))


@routes.post("/code")
async def on_code(request: web.Request) -> web.StreamResponse:
    """The right code opens a 24-hour session for the link's case."""
    svc = request.config_dict[SERVICES]
    form = await read_form(request)
    try:
        token = await guardian_web.confirm_code(
            svc,
            request.cookies.get(LINK_COOKIE, ""),
            request.cookies.get(CHALLENGE_COOKIE, ""),
            form.get("code", ""),
        )
    except DomainError as exc:
        if exc.text_key == "web.link_invalid":
            raise
        status = 429 if exc.text_key == "web.code_locked" else 422
        errors = {"code": (exc.text_key, exc.params)}
        return render(request, "code.html", _code_context(errors), status)
    renew_csrf(request)
    response = redirect(HOME)
    # Lax: the SMS link, opened from another app, brings the signed-in guardian back in.
    set_private_cookie(
        response, SESSION_COOKIE, token, max_age=int(GUARDIAN_SESSION.total_seconds()), strict=False
    )
    drop_cookie(response, CHALLENGE_COOKIE)
    keep_csrf_cookie(request, response)
    return response


@routes.get("/documents/{kind}")
async def on_document(request: web.Request) -> web.StreamResponse:
    """A PDF of the session's own case (the application, the receipt, the refusal)."""
    svc = request.config_dict[SERVICES]
    token = request.cookies.get(SESSION_COOKIE, "")
    case_id = await guardian_web.case_of_session(svc, token) if token else None
    if case_id is None:
        return redirect(HOME)
    name, pdf = await guardian_web.guardian_document(svc, case_id, request.match_info["kind"])
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@routes.get("/{token}")
async def on_link(request: web.Request) -> web.StreamResponse:
    """The SMS's link: keep its token in a cookie (the session's `Max-Age`), then `/a/`."""
    svc = request.config_dict[SERVICES]
    raw = request.match_info["token"]
    await guardian_web.open_link(svc, raw)
    response = redirect(HOME)
    set_private_cookie(
        response, LINK_COOKIE, raw, max_age=int(GUARDIAN_SESSION.total_seconds()), strict=False
    )
    return response
