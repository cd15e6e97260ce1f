"""Typed keys under which the aiohttp application carries what its handlers use.

One key per dependency, so a handler names what it reads (the clock, the sessions, ...)
and none is handed the whole `Services`.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.metrics import Metrics
from bot.runtime import Deciding
from bot.texts import Texts
from bot.usecases.intake_queue import SignalIntake
from storage.crypto import DataCipher
from storage.session import Sessions

CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
CIPHER = web.AppKey("cipher", DataCipher)
TEXTS = web.AppKey("texts", Texts)
METRICS = web.AppKey("metrics", Metrics)
SIGNAL_SECRETS: web.AppKey[list[bytes]] = web.AppKey("signal_secrets")
DECIDING = web.AppKey("deciding", Deciding)
INTAKE = web.AppKey("intake", SignalIntake)
