"""Set the stage (emulator, app, temporary database, shifted clock), play, report.

The app starts through `bot.app.run_application`, the code path of `homeschool-bot run`;
only the settings differ: built here from the demo's own values alone, so neither the
user's `.env` nor their environment (a real token, a Redis, a webhook URL) can leak in.
Like `bot/app.py`, this module assembles the whole application, so it may reach the
scheduler's calendar.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.app import RunningApp, run_application
from bot.clock import ShiftedClock
from bot.demo.cast import (
    CASTS,
    GUARDIAN_PHONE,
    GUARDIAN_USER_ID,
    SCHOOL_CHAT_ID,
    STAFF_USER_ID,
    Cast,
    working_morning,
)
from bot.demo.scene import DemoFailed, Scene
from bot.demo.story import Ending, Guardian, HealthSystem, SchoolStaff, play
from bot.demo.transcript import Transcript
from bot.domain.calendar import load_calendar
from bot.emulator import TelegramEmulator
from bot.settings import Settings
from bot.texts import Lang
from bot.usecases.registry import RegistryLine, import_school_registry
from storage.repositories.cases import get_case

TOKEN = "777000:offline-demo-token"
BOT_USERNAME = "homeschool_demo_bot"
STORY_TIMEOUT_S = 20.0
DEFAULT_OUT = Path("demo-output")


@dataclass(frozen=True)
class DemoOptions:
    lang: Lang = Lang.KK
    refuse: bool = False
    out: Path | None = None


@dataclass(frozen=True)
class Outcome:
    ending: Ending
    registration_number: str | None
    story_s: float
    """From the health signal to the guardian's result: start-up and shutdown left out."""


class _DemoSettings(Settings):
    """Settings from the given values only: no `.env`, no environment variables."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def demo_settings(folder: Path, telegram_api_url: str, signal_secret: str) -> Settings:
    """A throw-away SQLite database, a fresh data key and the emulator as Telegram."""
    values: dict[str, object] = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_api_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": 0,
        "SIGNAL_SECRETS": signal_secret,
        "DATA_KEY": Fernet.generate_key().decode(),
    }
    return _DemoSettings(**values)  # type: ignore[arg-type]


def output_folder(out: Path | None) -> tuple[Path, str]:
    """The folder for the PDFs and how it was chosen (said in the transcript)."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out.resolve(), "given with --out"
    stamp = datetime.now(UTC).astimezone().strftime("%Y%m%d-%H%M%S")
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        folder = DEFAULT_OUT / f"{stamp}{suffix}"
        with contextlib.suppress(FileExistsError):
            folder.mkdir(parents=True)
            return folder.resolve(), "a new folder in the current directory"
    raise DemoFailed(f"cannot create a new folder in {DEFAULT_OUT.resolve()}")


@dataclass(frozen=True)
class _Stage:
    settings: Settings
    emu: TelegramEmulator
    app: RunningApp
    http: aiohttp.ClientSession
    clock: ShiftedClock
    signal_secret: str

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.HTTP_HOST}:{self.app.port}"


@asynccontextmanager
async def _stage() -> AsyncIterator[_Stage]:
    """The emulator, then the app against it, on a working morning; closed in reverse."""
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="homeschool-demo-") as tmp:
        async with TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME) as emu:
            assert emu.base_url is not None
            settings = demo_settings(Path(tmp), emu.base_url, secret)
            zone = settings.zone
            clock = ShiftedClock(working_morning(datetime.now(zone), load_calendar(zone)), zone)
            async with (
                run_application(settings, clock=clock) as app,
                aiohttp.ClientSession() as http,
            ):
                yield _Stage(settings, emu, app, http, clock, secret)


async def perform(options: DemoOptions, transcript: Transcript) -> Outcome:
    """Start everything offline, play the story and close everything again."""
    cast = CASTS[options.lang]
    async with _stage() as stage:
        _introduce(transcript, stage)
        await _import_school(stage.app, cast)
        scene = Scene(stage.emu, transcript, stage.app.svc.texts, options.lang, STORY_TIMEOUT_S)
        secret = stage.signal_secret.encode()
        health = HealthSystem(scene, stage.http, stage.api_url, secret, stage.clock)
        user = stage.emu.user(
            GUARDIAN_USER_ID,
            cast.guardian_first_name,
            language_code=options.lang.value,
            phone=GUARDIAN_PHONE,
        )
        group = stage.emu.group(SCHOOL_CHAT_ID, cast.school_chat_title)
        staff = SchoolStaff(
            scene, group.member(STAFF_USER_ID, cast.staff_first_name), cast, refuse=options.refuse
        )
        transcript.name_chat(user.chat_id, "guardian")
        transcript.name_chat(group.id, "school chat")
        async with transcript.following(stage.emu):
            guardian = Guardian(scene, user, cast)
            started = time.monotonic()
            ending = await play(scene, health, guardian, staff, cast.signal(stage.clock.now()))
            story_s = time.monotonic() - started
        async with stage.app.svc.sessions() as session:
            case = await get_case(session, ending.case_id)
    return Outcome(ending, case.registration_number if case is not None else None, story_s)


def _introduce(transcript: Transcript, stage: _Stage) -> None:
    settings, start = stage.settings, stage.clock.now()
    emulator = f"{settings.TELEGRAM_API_URL} (bot @{BOT_USERNAME}; no token, no network)"
    transcript.line(f"  Telegram  built-in Bot API emulator at {emulator}")
    transcript.line(
        f"  the app   {stage.api_url} (the code path of `run`), temporary SQLite database"
    )
    transcript.line(f"  clock     {start:%a %d.%m.%Y %H:%M} {settings.TIMEZONE}, a working morning")
    transcript.line("")


async def _import_school(app: RunningApp, cast: Cast) -> None:
    """Register the school the way `schools import` does, its staff group as inbox."""
    report = await import_school_registry(app.svc, [RegistryLine(2, cast.registry_cells())])
    if report.imported != 1:
        raise DemoFailed(f"the school registry refused the demo school: {report.rejections}")
