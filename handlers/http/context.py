"""Typed keys under which the aiohttp application carries shared objects."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Services
from bot.usecases.intake_queue import SignalIntake

SERVICES = web.AppKey("services", Services)
INTAKE = web.AppKey("intake", SignalIntake)
