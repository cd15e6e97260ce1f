"""Mount the pages on the one aiohttp application: `/school`, `/a` and the stylesheet.

Each audience is a sub-application, so its middlewares (headers, language, errors as
pages) apply to its pages only and the HTTP API keeps its JSON answers.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.runtime import Services
from handlers.web import guardian, school
from handlers.web.context import SERVICES
from handlers.web.render import language_switch, page_errors, redirect
from handlers.web.security import page_headers

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/web"


def mount_pages(app: web.Application, svc: Services) -> None:
    """Add the school's and the guardian's pages and the static files to the application."""
    app[SERVICES] = svc
    app.router.add_get(school.PREFIX, _to_school_home)  # before the sub-app claims the prefix
    app.add_subapp(school.PREFIX, _page_app(school.routes))
    app.add_subapp(guardian.PREFIX, _page_app(guardian.routes))
    app.router.add_static(STATIC_PREFIX, STATIC, append_version=False)


def _page_app(routes: web.RouteTableDef) -> web.Application:
    pages = web.Application(middlewares=[page_headers, page_errors, language_switch])
    aiohttp_jinja2.setup(
        pages,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.add_routes(routes)
    return pages


async def _to_school_home(request: web.Request) -> web.StreamResponse:
    return redirect(school.HOME)
