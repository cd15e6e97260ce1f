"""The one-time code's page, for the school's sign-in and the guardian's link alike.

Both ask for the 6 digits sent by SMS, count a wrong answer, lock after five and, for
the right one, open a session: only the use case that checks the code, the cookies and
the page to go to differ (`CodeEntry`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from bot.errors import DomainError, NotFound
from bot.usecases.web_identity import CODE_TTL
from handlers.web.render import redirect, render
from handlers.web.security import (
    drop_cookie,
    keep_csrf_cookie,
    read_form,
    renew_csrf,
    set_private_cookie,
)

Confirm = Callable[[web.Request, str, str], Awaitable[str]]
"""Check (request, challenge, code); return the new session's token or raise the reason."""


@dataclass(frozen=True)
class CodeEntry:
    """One audience's code page: where it posts, where a new code is asked, the intro,
    the page after sign-in, its cookies and the session's lifetime."""

    action: str
    again: str
    intro_key: str
    home: str
    session_cookie: str
    challenge_cookie: str
    session_lifetime: timedelta
    strict_session: bool = True

    def keep_challenge(self, response: web.StreamResponse, challenge: str) -> None:
        """The browser that asked for the code keeps the challenge for its lifetime."""
        max_age = int(CODE_TTL.total_seconds())
        set_private_cookie(response, self.challenge_cookie, challenge, max_age=max_age)

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The code form, for a browser that asked for a code (else where to ask)."""
        if not request.cookies.get(self.challenge_cookie):
            return redirect(self.again)
        return render(request, "code.html", self._context({}))

    async def take(self, request: web.Request, confirm: Confirm) -> web.StreamResponse:
        """The posted code: a session and its home page, or the code page saying why not.

        A link or account that no longer exists (`NotFound`) is that page's error, not
        the code's.
        """
        form = await read_form(request)
        challenge = request.cookies.get(self.challenge_cookie, "")
        try:
            token = await confirm(request, challenge, form.get("code", ""))
        except NotFound:
            raise
        except DomainError as exc:
            status = 429 if exc.text_key == "web.code_locked" else 422
            errors = {"code": (exc.text_key, exc.params)}
            return render(request, "code.html", self._context(errors), status)
        renew_csrf(request)
        response = redirect(self.home)
        set_private_cookie(
            response,
            self.session_cookie,
            token,
            max_age=int(self.session_lifetime.total_seconds()),
            strict=self.strict_session,
        )
        drop_cookie(response, self.challenge_cookie)
        keep_csrf_cookie(request, response)
        return response

    def _context(self, errors: Mapping[str, object]) -> dict[str, object]:
        return {
            "errors": errors,
            "action": self.action,
            "again": self.again,
            "intro_key": self.intro_key,
        }
