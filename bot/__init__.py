"""homeschool-bot: the proactive channel for home schooling under order No. 223.

Every entry point (`python -m bot`, the `homeschool-bot` script, tests) imports this
package before aiogram, so aiogram's Telegram types are built on first use rather than
all at start-up (see `bot.aiogram_import`).
"""

from bot.aiogram_import import import_aiogram_lazily

import_aiogram_lazily()
