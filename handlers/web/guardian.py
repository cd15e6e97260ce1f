"""The guardian's pages under `/a`: the SMS link, the choice, the code, then the case.

`/a/<token>` keeps the link's token in a cookie and answers with `/a/`, so the token
leaves the address bar; nothing personal is shown until the code sent to the signal's
phone opened a session. Then `/a/` shows what the case waits for (the notice, the way
back, the form's question, the summary, the hearing, else the status) and its one form
posts to `/a/`, which calls the chat's use case with the session's actor and answers
with a redirect to `/a/` (post, redirect, get: a reload never answers twice). No case
id is ever in an address or a form: the session says which case it is.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from markupsafe import Markup
from multidict import MultiDictProxy

from bot.domain.choices import Act
from bot.errors import DomainError
from bot.runtime import Services
from bot.usecases import consent, form_answers, guardian_web, hearing, submission
from bot.usecases.access import Actor
from bot.usecases.guardian_web import GUARDIAN_SESSION
from bot.usecases.prompts import Prompt
from handlers.web.context import SERVICES
from handlers.web.presenter import Posted, WebPresenter, parse_choice
from handlers.web.render import error_page, page_lang, redirect, render
from handlers.web.security import read_form, set_private_cookie
from handlers.web.signin import CodeEntry

PREFIX = "/a"
HOME, CODE = f"{PREFIX}/", f"{PREFIX}/code"
LINK_COOKIE = "__Host-hsb-link"
SESSION_COOKIE = "__Host-hsb-guardian"
CHALLENGE_COOKIE = "__Host-hsb-guardian-code"
# Rules' answers that concern the typed text: shown next to the field, not as a page.
FIELD_PROBLEMS = frozenset({"hearing.position_bad"})

CODE_ENTRY = CodeEntry(
    action=CODE,
    again=HOME,
    intro_key="web.guardian.code_intro",
    home=HOME,
    session_cookie=SESSION_COOKIE,
    challenge_cookie=CHALLENGE_COOKIE,
    session_lifetime=GUARDIAN_SESSION,
    # Lax: the SMS link, opened from another app, brings the signed-in guardian back in.
    strict_session=False,
)

routes = web.RouteTableDef()


@routes.get("/")
async def on_home(request: web.Request) -> web.StreamResponse:
    """What the signed-in guardian's case waits for, else the choice of a valid link."""
    svc = request.config_dict[SERVICES]
    token = request.cookies.get(SESSION_COOKIE, "")
    case_id = await guardian_web.case_of_session(svc, token) if token else None
    if case_id is None:
        raw_link = request.cookies.get(LINK_COOKIE, "")
        if not raw_link:
            return error_page(request, 404, "web.link_invalid")
        link = await guardian_web.open_link(svc, raw_link)
        return render(request, "guardian/choice.html", {"link": link})
    return await _case_page(request, case_id)


async def _case_page(
    request: web.Request,
    case_id: str,
    *,
    shown: Prompt | None = None,
    error: Prompt | DomainError | None = None,
    typed: str = "",
) -> web.Response:
    """The case's page: `shown` instead of what the case waits for (search results, the
    notice again), `error` next to the field with the text as typed."""
    svc = request.config_dict[SERVICES]
    lang = page_lang(request)
    page = await guardian_web.guardian_page(svc, case_id, lang)
    presenter = WebPresenter(svc.texts, lang)
    context: dict[str, Any] = {
        "page": page,
        "form": presenter.page(shown or page.prompt),
        "error": None,
        "typed": typed,
    }
    if isinstance(error, DomainError):
        context["error"] = Markup(svc.texts(lang, error.text_key, **error.params))
    elif error is not None:
        context["error"] = presenter.page(error).text
    status = 200 if error is None else 422
    return render(request, "guardian/case.html", context, status)


@routes.post("/")
async def on_answer(request: web.Request) -> web.StreamResponse:
    """A button of the case's form: the chat's use case for it, with the session's actor."""
    svc = request.config_dict[SERVICES]
    form = await read_form(request)
    origin = f"web:{secrets.token_hex(8)}"
    token = request.cookies.get(SESSION_COOKIE, "")
    actor = await guardian_web.act_as(svc, token, origin, page_lang(request)) if token else None
    if actor is None or actor.web_case_id is None:
        return redirect(HOME)
    case_id, typed = actor.web_case_id, form.get("answer", "")
    try:
        prompt = await _act(svc, actor, parse_choice(form.get("choice", "")), form)
    except DomainError as exc:
        if exc.text_key not in FIELD_PROBLEMS:
            raise
        return await _case_page(request, case_id, error=exc, typed=typed)
    if prompt is not None and prompt.purpose.startswith("error:"):
        return await _case_page(request, case_id, error=prompt, typed=typed)
    if prompt is not None and prompt.purpose in _SHOWN_AS_ANSWERED:
        return await _case_page(request, case_id, shown=prompt, typed=typed)
    return redirect(HOME)


# Answers the case's page cannot show by itself: the schools found, the notice again
# after a decline (the case stays declined until the guardian agrees). After any other
# answer the page shows what the case waits for now.
_SHOWN_AS_ANSWERED = frozenset({"schools", "notice"})


async def _act(
    svc: Services, actor: Actor, posted: Posted, form: MultiDictProxy[str]
) -> Prompt | None:
    """Call the use case of the pressed button; its prompt, None for none to show."""
    case_id = actor.web_case_id
    assert case_id is not None
    forms = (svc.sessions, svc.clock, svc.cipher, actor, case_id)
    step, act = posted.step, posted.act
    if act is None:
        return await hearing.state_position(svc.deciding, actor, case_id, form.get("answer", ""))
    if act is Act.ANSWER and step is not None and posted.value is None:
        text = form.get("answer", "")
        return await form_answers.answer(*forms, step, text, only_asked=True)
    if act in (Act.ANSWER, Act.SKIP) and step is not None:
        return await form_answers.choose(*forms, step, posted.value, only_asked=True)
    if act is Act.EDIT and step is not None:
        return await form_answers.edit(*forms, step)
    actions: dict[Act, Callable[[], Awaitable[Prompt | None]]] = {
        Act.AGREE: lambda: consent.agree(svc, actor, case_id, None),
        Act.DECLINE: lambda: consent.decline(svc, actor, case_id, None),
        Act.AGAIN: lambda: consent.ask_again(svc, actor, case_id),
        Act.CONFIRM: lambda: submission.confirm(svc, actor, case_id),
        Act.NO_OBJECTIONS: lambda: hearing.state_position(svc.deciding, actor, case_id, None),
        Act.WITHDRAW: lambda: _withdraw(svc, actor, case_id),
    }
    if act not in actions:
        raise DomainError("web.form_expired", f"no button {act} {step}")
    return await actions[act]()


async def _withdraw(svc: Services, actor: Actor, case_id: str) -> None:
    """The page then shows the way back, or the status the school now decides on."""
    await consent.withdraw(svc, actor, case_id, None)


@routes.post("/start")
async def on_start(request: web.Request) -> web.StreamResponse:
    """ "Continue here": a code to the signal's phone."""
    svc = request.config_dict[SERVICES]
    await read_form(request)
    challenge = await guardian_web.request_code(
        svc, request.cookies.get(LINK_COOKIE, ""), page_lang(request)
    )
    response = redirect(CODE)
    CODE_ENTRY.keep_challenge(response, challenge)
    return response


@routes.get("/code")
async def on_code_page(request: web.Request) -> web.StreamResponse:
    return await CODE_ENTRY.page(request)


@routes.post("/code")
async def on_code(request: web.Request) -> web.StreamResponse:
    """The right code opens a 24-hour session for the link's case."""
    return await CODE_ENTRY.take(request, _confirm_code)


async def _confirm_code(request: web.Request, challenge: str, code: str) -> str:
    svc = request.config_dict[SERVICES]
    link = request.cookies.get(LINK_COOKIE, "")
    return await guardian_web.confirm_code(svc, link, challenge, code, page_lang(request))


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
