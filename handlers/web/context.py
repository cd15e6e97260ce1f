"""Typed keys under which the pages find the shared objects on the application."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Services

SERVICES = web.AppKey("web_services", Services)
