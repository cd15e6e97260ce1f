"""The Telegram side of the process: Bot, Dispatcher, routers, polling or webhook."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from bot.fsm_storage import StaffChatsOnly, build_fsm_storage, event_isolation
from bot.response_models import KeepResponseModels
from bot.runtime import Services
from bot.texts import Lang
from handlers.http.bodies import read_limited_body, strict_json
from handlers.http.errors import HttpProblem
from handlers.telegram import errors, unexpected
from handlers.telegram.guardian import commands, consent, form, start
from handlers.telegram.guardian import hearing as guardian_hearing
from handlers.telegram.guardian.views import TelegramPresenter
from handlers.telegram.middlewares import (
    ContextMiddleware,
    TapMiddleware,
    TimingMiddleware,
    UnknownUpdateMiddleware,
)
from handlers.telegram.staff import decisions as staff_decisions
from handlers.telegram.staff import link as staff_link

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024
COMMANDS = ("start", "status", "help", "language", "withdraw", "cancel")


def build_bot(svc: Services) -> Bot:
    """A Bot talking to TELEGRAM_API_URL (Telegram, a local Bot API server, the emulator)."""
    assert svc.settings.BOT_TOKEN is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(svc.settings.TELEGRAM_API_URL))
    session.middleware(KeepResponseModels())
    return Bot(
        svc.settings.BOT_TOKEN.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode="HTML"),
    )


def build_dispatcher(svc: Services) -> Dispatcher:
    """Routers in priority order; one user's updates run one at a time (event isolation)."""
    storage = build_fsm_storage(svc.settings, svc.sessions, svc.cipher, svc.clock)
    isolation = event_isolation(storage)
    present = TelegramPresenter(svc.texts, svc.cipher, svc.clock)
    dp = Dispatcher(
        storage=StaffChatsOnly(storage),
        events_isolation=isolation,
        svc=svc,
        deciding=svc.deciding,
        present=present,
    )
    dp.update.outer_middleware(
        UnknownUpdateMiddleware(svc.metrics.unexpected_updates.labels("unknown").inc)
    )
    context = ContextMiddleware()
    timing = TimingMiddleware(svc.metrics.observer())
    for observer in (dp.message, dp.callback_query):
        observer.outer_middleware(timing)
        observer.outer_middleware(context)
    dp.callback_query.outer_middleware(TapMiddleware())
    dp.include_routers(
        *(
            module.build_router()
            for module in (
                errors,
                staff_link,
                staff_decisions,
                start,
                consent,
                form,
                guardian_hearing,
                commands,
                unexpected,
            )
        )
    )
    return dp


async def publish_commands(bot: Bot, svc: Services) -> None:
    """The command menu in both languages (Telegram picks by the user's app language)."""
    scope = BotCommandScopeAllPrivateChats()
    for lang in Lang:
        commands_ = [
            BotCommand(command=c, description=svc.texts(lang, f"cmd.{c}")) for c in COMMANDS
        ]
        await bot.set_my_commands(commands_, scope=scope, language_code=lang.value)
    default = [BotCommand(command=c, description=svc.texts(Lang.RU, f"cmd.{c}")) for c in COMMANDS]
    await bot.set_my_commands(default, scope=scope)


class PollingOutageLog(logging.Filter):
    """aiogram logs two lines for each failed getUpdates, every 1-5 s of an outage: let
    the first failure and the recovery through, as the outbox's circuit does."""

    def __init__(self) -> None:
        super().__init__()
        self._failing = False

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if template.startswith("Sleep for"):
            return False
        if template.startswith("Failed to fetch updates"):
            first, self._failing = not self._failing, True
            return first
        if template.startswith("Connection established"):
            self._failing = False
        return True


class CheckedWebhook(SimpleRequestHandler):
    """aiogram's webhook handler, with the secret checked before anything else and any
    body that is not an update answered 400 (a 5xx makes Telegram retry for hours)."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """Compare bytes: any header value, non-ASCII included, is just a wrong secret."""
        expected = (self.secret_token or "").encode()
        given = telegram_secret_token.encode("utf-8", "replace")
        return bool(expected) and hmac.compare_digest(given, expected)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            raise HttpProblem(401, "unauthorized", f"missing or wrong {SECRET_HEADER}")
        body = await read_limited_body(request, MAX_UPDATE_BYTES)
        try:
            update = Update.model_validate(strict_json(body), context={"bot": self.bot})
        except ValueError as exc:  # pydantic's ValidationError is one too
            raise HttpProblem(400, "invalid_update", _update_problem(exc)) from None
        result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(
            self.bot, update, **self.data
        )
        return web.Response(body=self._build_response_writer(bot=self.bot, result=result))


def _update_problem(exc: ValueError) -> str:
    """The reason without pydantic's echo of the input (it may carry personal data)."""
    if isinstance(exc, ValidationError):
        return f"not a Telegram update ({exc.error_count()} invalid fields)"
    return str(exc)


@dataclass
class TelegramRunner:
    """Starts and stops the bot in polling or webhook mode."""

    svc: Services
    bot: Bot
    dispatcher: Dispatcher
    _polling: asyncio.Task[None] | None = None
    _polling_log: PollingOutageLog | None = None

    @property
    def webhook_mode(self) -> bool:
        return self.svc.settings.WEBHOOK_BASE_URL is not None

    def mount_webhook(self, app: web.Application) -> None:
        """Updates are processed before the 200 answer: a crash never loses an acked update."""
        secret = self.svc.settings.WEBHOOK_SECRET
        assert secret is not None, "settings refuse webhook mode without WEBHOOK_SECRET"
        CheckedWebhook(
            dispatcher=self.dispatcher,
            bot=self.bot,
            handle_in_background=False,
            secret_token=secret.get_secret_value(),
        ).register(app, path=WEBHOOK_PATH)

    async def start(self) -> None:
        me = await self.bot.get_me()
        self.svc.bot_profile.username = me.username
        await publish_commands(self.bot, self.svc)
        allowed = self.dispatcher.resolve_used_update_types()
        if self.webhook_mode:
            await self._set_webhook()
            log.info("Telegram bot @%s: webhook mode", me.username)
            return
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._polling_log = PollingOutageLog()
        logging.getLogger("aiogram.dispatcher").addFilter(self._polling_log)
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot, handle_signals=False, close_bot_session=False, allowed_updates=allowed
            ),
            name="telegram-polling",
        )
        # Let the task take the dispatcher's running lock now: a SIGTERM right after the
        # start would otherwise find polling "not started" and stop with a traceback.
        await asyncio.sleep(0)
        log.info("Telegram bot @%s: long polling", me.username)

    @property
    def webhook_url(self) -> str:
        return f"{self.svc.settings.WEBHOOK_BASE_URL}{WEBHOOK_PATH}"

    async def _set_webhook(self) -> None:
        secret = self.svc.settings.WEBHOOK_SECRET
        await self.bot.set_webhook(
            self.webhook_url,
            secret_token=secret.get_secret_value() if secret else None,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    async def reassert_webhook(self) -> None:
        """Telegram is back after an outage: set the webhook again if it lost it.

        Polling needs nothing: aiogram's loop retries getUpdates with a capped backoff.
        """
        if not self.webhook_mode:
            return
        info = await self.bot.get_webhook_info()
        if info.url != self.webhook_url:
            await self._set_webhook()
            log.warning("Telegram had lost the webhook; set again")

    async def stop(self) -> None:
        """Stop taking updates by polling (a webhook stops with the HTTP server)."""
        if self._polling is not None:
            await self.dispatcher.stop_polling()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        if self._polling_log is not None:
            logging.getLogger("aiogram.dispatcher").removeFilter(self._polling_log)
            self._polling_log = None

    async def close(self) -> None:
        """Release the FSM storage and the Bot's HTTP session; after `stop`, and after
        the outbox dispatcher has finished the sends it has in flight on that session."""
        await self.dispatcher.storage.close()
        await self.dispatcher.fsm.events_isolation.close()
        await self.bot.session.close()
