"""What every page answers with: strict headers, private cookies and CSRF tokens.

CSRF uses a signed double-submit cookie: the browser holds a random value in an
HttpOnly cookie, and every form carries its keyed hash, which another site can neither
read nor compute. The value is renewed at sign-in and sign-out.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDict, MultiDictProxy

from handlers.web.context import SERVICES

CSRF_COOKIE = "__Host-hsb-csrf"
CSRF_FIELD = "csrf"
FORM_LIMIT = 8 * 1024
_NEW_CSRF = web.RequestKey("new_csrf", str)

# Nothing but this origin's stylesheet, images, forms and the PDF frame; no script at all.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PDF_CSP = "default-src 'none'; frame-ancestors 'self'"


class FormExpired(Exception):
    """A form without this browser's token: an old page, or another site posting."""


@web.middleware
async def page_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page: no caching (they show personal data), no framing, no referrer."""
    response = await handler(request)
    pdf = response.content_type == "application/pdf"
    response.headers["Content-Security-Policy"] = PDF_CSP if pdf else PAGE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if pdf else "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def set_private_cookie(
    response: web.StreamResponse, name: str, value: str, max_age: int, *, strict: bool = True
) -> None:
    """HttpOnly, Secure, Path=/ (a `__Host-` name requires the last two)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict" if strict else "Lax",
    )


def drop_cookie(response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path="/", secure=True, httponly=True)


def _csrf_value(request: web.Request) -> str:
    if _NEW_CSRF in request:
        return request[_NEW_CSRF]
    return request.cookies.get(CSRF_COOKIE, "")


def csrf_token(request: web.Request) -> str:
    """The token for this browser's forms; a browser without the cookie gets a new one."""
    value = _csrf_value(request)
    if not value:
        value = request[_NEW_CSRF] = secrets.token_urlsafe(32)
    svc = request.config_dict[SERVICES]
    return svc.cipher.blind_index(f"csrf:{value}")


def renew_csrf(request: web.Request) -> None:
    """A new value from this answer on (sign-in, sign-out): old pages' forms stop working."""
    request[_NEW_CSRF] = secrets.token_urlsafe(32)


def keep_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Send the cookie if this answer made a new value."""
    if _NEW_CSRF in request:
        set_private_cookie(response, CSRF_COOKIE, request[_NEW_CSRF], max_age=24 * 3600)


def csrf_valid(request: web.Request, sent: str) -> bool:
    """The form's token matches this browser's cookie."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if not value or not sent:
        return False
    svc = request.config_dict[SERVICES]
    return hmac.compare_digest(svc.cipher.blind_index(f"csrf:{value}"), sent)


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The posted text fields; a form without this browser's token is refused (CSRF)."""
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        raise web.HTTPRequestEntityTooLarge(max_size=FORM_LIMIT, actual_size=request.content_length)
    form = await request.post()
    fields = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
    if not csrf_valid(request, fields.get(CSRF_FIELD, "")):
        raise FormExpired
    return fields
