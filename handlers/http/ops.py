"""Operational endpoints: liveness, readiness, metrics and the API description."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from handlers.http.context import CLOCK, ENGINE, METRICS, SESSIONS
from handlers.http.openapi import build_openapi

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.get("/healthz")
async def on_healthz(_request: web.Request) -> web.Response:
    """The process answers; says nothing about its dependencies (see /readyz)."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def on_readyz(request: web.Request) -> web.Response:
    """Ready only when the database answers: a load balancer should stop sending here."""
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("not ready: database unreachable (%s)", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


@routes.get("/metrics")
async def on_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    async with request.app[SESSIONS]() as session:
        await metrics.refresh(session, request.app[CLOCK].now())
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


@routes.get("/openapi.json")
async def on_openapi(_request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
