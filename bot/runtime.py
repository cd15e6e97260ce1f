"""The bundle of long-lived objects handed to handlers, services and jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.domain.deadlines import WorkingDays
from bot.metrics import Metrics
from bot.settings import Settings
from bot.texts import Texts
from storage.crypto import DataCipher
from storage.outbox import OUTBOX_DIRTY


@dataclass(frozen=True)
class Services:
    """Built once by `bot.app`; tests build their own with a frozen clock."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: DataCipher
    clock: Clock
    calendar: WorkingDays
    texts: Texts
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    bot_profile: BotProfile = field(default_factory=lambda: BotProfile())
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def deciding(self) -> Deciding:
        """What the school's decisions and the hearing are given (`Deciding`)."""
        return Deciding(
            self.sessions,
            self.clock,
            self.calendar,
            self.cipher,
            self.texts,
            self.settings.HEARING_WORKING_DAYS,
        )

    @property
    def guardian_links(self) -> GuardianLinks:
        """Where a guardian's one-time link points (`GuardianLinks`)."""
        return GuardianLinks(self.settings.PUBLIC_BASE_URL, self.bot_profile)

    @property
    def opening(self) -> Opening:
        """What opening cases from health signals is given (`Opening`)."""
        return Opening(
            sessions=self.sessions,
            cipher=self.cipher,
            clock=self.clock,
            texts=self.texts,
            retention_days=self.settings.RETENTION_DAYS,
            sms_gateway_url=self.settings.SMS_GATEWAY_URL,
            links=self.guardian_links,
        )

    @property
    def forwarding(self) -> Forwarding:
        """What sending a package, or word of it, to a school is given (`Forwarding`)."""
        return Forwarding(self.cipher, self.clock, self.texts, self.settings.zone)

    @property
    def delivering(self) -> Delivering:
        """What the outbox dispatcher and its senders are given (`Delivering`)."""
        settings = self.settings
        return Delivering(
            engine=self.engine,
            sessions=self.sessions,
            cipher=self.cipher,
            clock=self.clock,
            outbox_wakeup=self.outbox_wakeup,
            bot_token=settings.BOT_TOKEN,
            telegram_rate_per_s=settings.TELEGRAM_RATE_PER_S,
            outage_escalation_after_s=settings.OUTAGE_ESCALATION_AFTER_S,
            sms_gateway_url=settings.SMS_GATEWAY_URL,
            sms_gateway_token=settings.SMS_GATEWAY_TOKEN,
        )


@dataclass(frozen=True)
class Deciding:
    """What a school's decision and its hearing touch: the case rows and the outbox
    (sessions, cipher), the time and the working-day calendar of the hearing's window
    (`hearing_days` long), and the texts of the messages to the guardian and the school."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    calendar: WorkingDays
    cipher: DataCipher
    texts: Texts
    hearing_days: int


@dataclass(frozen=True)
class Opening:
    """What opening a case from a health signal touches: the case rows and the outbox
    (sessions, cipher), the time, the notice's texts with the retention period its
    consent names, and, with an SMS gateway, where the guardian's link points."""

    sessions: async_sessionmaker[AsyncSession]
    cipher: DataCipher
    clock: Clock
    texts: Texts
    retention_days: int
    sms_gateway_url: str | None
    links: GuardianLinks


@dataclass(frozen=True)
class Forwarding:
    """What a package to a school and the school's other notes touch, inside the
    caller's transaction: the case's encrypted data and the outbox (cipher), the time,
    the texts, and the service's time zone in which their times are shown."""

    cipher: DataCipher
    clock: Clock
    texts: Texts
    zone: ZoneInfo


@dataclass(frozen=True)
class Delivering:
    """What sending the outbox touches: the rows (sessions, cipher; the engine for the
    sender's advisory lock), the time, the wakeup a commit with outbox rows sets, the bot
    token that names the sender, Telegram's pace and outage limit, and the SMS gateway."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: DataCipher
    clock: Clock
    outbox_wakeup: asyncio.Event
    bot_token: SecretStr | None
    telegram_rate_per_s: float
    outage_escalation_after_s: float
    sms_gateway_url: str | None
    sms_gateway_token: SecretStr | None


@dataclass(frozen=True)
class GuardianLinks:
    """What a guardian's one-time link is made from: the pages' base URL, else the
    bot's deep link (the profile is filled in once the bot knows its name)."""

    public_base_url: str | None
    bot_profile: BotProfile


@dataclass
class BotProfile:
    """What the bot learns about itself at start (getMe); None while no bot runs."""

    username: str | None = None

    def deep_link(self, token: str) -> str | None:
        return f"https://t.me/{self.username}?start={token}" if self.username else None


def session_factory(
    engine: AsyncEngine, outbox_wakeup: asyncio.Event
) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commit wakes the dispatcher when they wrote outbox rows.

    Each factory gets its own Session subclass so the listener never fires for
    sessions of another Services (tests run several side by side).
    """
    session_class = type("OutboxAwareSession", (Session,), {})

    @event.listens_for(session_class, "after_commit")
    def _wake_dispatcher(session: Session) -> None:
        if session.info.pop(OUTBOX_DIRTY, False):
            outbox_wakeup.set()

    @event.listens_for(session_class, "after_rollback")
    def _forget_outbox(session: Session) -> None:
        session.info.pop(OUTBOX_DIRTY, None)

    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=session_class)
