"""homeschool-bot: the proactive channel for home schooling under order No. 223.

Importing the package loads nothing else: each command of `bot.cli` imports what it
uses when it runs, and the commands that serve Telegram first import aiogram through
`bot.aiogram_import` (its types built on first use, not all at start-up).
"""
