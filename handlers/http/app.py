"""The aiohttp application: every HTTP route of the process on one server."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Services
from bot.usecases.intake_queue import SignalIntake
from handlers.http import decisions, ops, signals
from handlers.http.context import (
    CIPHER,
    CLOCK,
    DECIDING,
    ENGINE,
    INTAKE,
    METRICS,
    SESSIONS,
    SIGNAL_SECRETS,
    TEXTS,
)
from handlers.http.errors import error_middleware


def build_web_app(svc: Services) -> web.Application:
    """Create the application; the Telegram webhook route is added by the bot wiring."""
    app = web.Application(middlewares=[signals.count_signals, error_middleware])
    app[CLOCK] = svc.clock
    app[ENGINE] = svc.engine
    app[SESSIONS] = svc.sessions
    app[CIPHER] = svc.cipher
    app[TEXTS] = svc.texts
    app[METRICS] = svc.metrics
    app[SIGNAL_SECRETS] = svc.settings.signal_secrets
    app[DECIDING] = svc.deciding
    app[INTAKE] = SignalIntake(svc.opening)
    app.on_startup.append(_start_intake)
    app.on_shutdown.append(_stop_intake)
    app.add_routes(signals.routes)
    app.add_routes(decisions.routes)
    app.add_routes(ops.routes)
    return app


async def _start_intake(app: web.Application) -> None:
    app[INTAKE].start()


async def _stop_intake(app: web.Application) -> None:
    await app[INTAKE].stop()
