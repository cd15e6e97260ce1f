"""The test suite. Tests (and the benchmarks, which import this package first) load aiogram
as `homeschool-bot run` does, through bot.aiogram_import, before anything else imports it."""

from bot.aiogram_import import import_aiogram_lazily

import_aiogram_lazily()
