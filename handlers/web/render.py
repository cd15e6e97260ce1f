"""Pages from templates in the visitor's language, and the errors every page may show.

The language is the visitor's choice (the switch on every page, kept in a cookie), else
the first of Kazakh and Russian their browser asks for (`Accept-Language`), else Kazakh.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import Markup

from bot.domain.timing import local_time
from bot.errors import Conflict, DomainError, NotFound
from bot.texts import DEFAULT_LANG, Lang, parse_lang
from handlers.web.context import SERVICES
from handlers.web.security import FormExpired, csrf_token, keep_csrf_cookie

log = logging.getLogger(__name__)

LANG_COOKIE = "hsb-lang"
LANG_PARAM = "lang"


def browser_lang(header: str) -> Lang | None:
    """The first of our languages in an `Accept-Language` header, by its weight."""
    offers: list[tuple[float, int, Lang]] = []
    for position, part in enumerate(header.split(",")):
        code, _, params = part.strip().partition(";")
        lang = parse_lang(code.strip())
        if lang is None:
            continue
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        offers.append((-weight, position, lang))
    return min(offers)[2] if offers else None


def page_lang(request: web.Request) -> Lang:
    chosen = parse_lang(request.cookies.get(LANG_COOKIE))
    return chosen or browser_lang(request.headers.get("Accept-Language", "")) or DEFAULT_LANG


@web.middleware
async def language_switch(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`?lang=ru` on any page: remember the choice and show the same page without it."""
    chosen = parse_lang(request.query.get(LANG_PARAM))
    if request.method != "GET" or LANG_PARAM not in request.query:
        return await handler(request)
    response = redirect(request.path)
    if chosen is not None:
        response.set_cookie(
            LANG_COOKIE, chosen.value, max_age=365 * 86400, path="/", samesite="Lax", secure=True
        )
    return response


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render `template` with the catalog's texts (`t`), the form token and the language."""
    svc = request.config_dict[SERVICES]
    lang = page_lang(request)

    def t(key: str, **params: object) -> Markup:
        # The catalog escapes every placeholder value; its own markup is ours.
        return Markup(svc.texts(lang, key, **params))

    def duration(left: timedelta) -> Markup:
        minutes = int(left.total_seconds() // 60)
        return t("web.time_left", hours=minutes // 60, minutes=minutes % 60)

    page = {
        "lang": lang.value,
        "t": t,
        "path": request.path,
        "csrf": csrf_token(request),
        "when": lambda moment: local_time(moment, svc.clock.zone),
        "duration": duration,
    }
    response = aiohttp_jinja2.render_template(template, request, {**page, **context}, status=status)
    keep_csrf_cookie(request, response)
    return response


def redirect(location: str) -> web.Response:
    """See other: after a form, or to the page a visitor may see."""
    return web.Response(status=303, headers={"Location": location})


def error_page(request: web.Request, status: int, key: str, **params: object) -> web.Response:
    return render(request, "error.html", {"message_key": key, "params": params}, status=status)


def domain_message(exc: DomainError) -> tuple[int, str, dict[str, object]]:
    """The status and text of a rule's refusal on a page."""
    if isinstance(exc, NotFound):
        own = exc.text_key.startswith("web.")
        return 404, exc.text_key if own else "web.case_unknown", {}
    return (409 if isinstance(exc, Conflict) else 422), exc.text_key, dict(exc.params)


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure is a page in the visitor's language, never a traceback or JSON."""
    try:
        return await handler(request)
    except FormExpired:
        return error_page(request, 403, "web.form_expired")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        key = "web.not_found" if exc.status in (404, 405) else "web.error"
        return error_page(request, exc.status, key)
    except DomainError as exc:
        status, key, params = domain_message(exc)
        return error_page(request, status, key, **params)
    except Exception:
        log.exception("unhandled error on page %s %s", request.method, request.path)
        return error_page(request, 500, "web.error")
