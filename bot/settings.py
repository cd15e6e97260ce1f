"""Process configuration, read once at start from the environment and `.env`.

Names follow DESIGN 4.2 exactly (no prefix): peer systems and operators rely on them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.clock import service_zone

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/homeschool.db"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
# Telegram's alphabet for secret_token (1-256 characters); 32 makes it unguessable.
WEBHOOK_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,256}")
SECRET_RULE = "32 to 256 characters of A-Z, a-z, 0-9, _ and -"


class SettingsError(Exception):
    """Configuration is unusable; the message is one line meant for the operator."""


class Settings(BaseSettings):
    """Every setting of DESIGN 4.2, validated so a typo fails at start, not at 3 a.m."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        # `NAME=` (in .env or the environment) means "not set": the default applies.
        env_ignore_empty=True,
    )

    BOT_TOKEN: SecretStr | None = None
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    DATABASE_URL: str = DEFAULT_DATABASE_URL
    REDIS_URL: str | None = None
    HTTP_HOST: str = "127.0.0.1"
    HTTP_PORT: int = Field(default=8080, ge=0, le=65535)
    WEBHOOK_BASE_URL: str | None = None
    # Validated even when unset: webhook mode needs it (`_check_webhook_secret`).
    WEBHOOK_SECRET: SecretStr | None = Field(default=None, validate_default=True)
    SIGNAL_SECRETS: SecretStr = SecretStr("")
    DATA_KEY: SecretStr | None = None
    TIMEZONE: str = "Asia/Almaty"
    SMS_GATEWAY_URL: str | None = None
    SMS_GATEWAY_TOKEN: SecretStr | None = None
    TELEGRAM_RATE_PER_S: float = Field(default=30.0, gt=0, le=1000)
    OUTAGE_ESCALATION_AFTER_S: float = Field(default=600.0, gt=0)
    RETENTION_DAYS: int = Field(default=365, ge=1)
    HEARING_WORKING_DAYS: int = Field(default=2, ge=1, le=10)
    CALENDAR_OVERRIDES: Path | None = None
    LOG_FORMAT: str = Field(default="text", pattern="^(text|json)$")
    PUBLIC_BASE_URL: str | None = None

    @field_validator(
        "BOT_TOKEN",
        "REDIS_URL",
        "WEBHOOK_BASE_URL",
        "WEBHOOK_SECRET",
        "DATA_KEY",
        "SMS_GATEWAY_URL",
        "SMS_GATEWAY_TOKEN",
        "CALENDAR_OVERRIDES",
        "PUBLIC_BASE_URL",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """Treat `NAME=` in `.env` as not set, the way operators expect."""
        return None if value == "" else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"cannot parse {value!r}") from exc
        if url.drivername not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"driver {url.drivername!r} is not supported; use one of {SUPPORTED_DRIVERS}"
            )
        return value

    @field_validator("DATA_KEY")
    @classmethod
    def _check_data_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for part in value.get_secret_value().split(","):
                try:
                    Fernet(part.strip().encode())
                except ValueError as exc:
                    raise ValueError(
                        "each key must be 32 url-safe base64-encoded bytes "
                        "(make one with `homeschool-bot keygen`)"
                    ) from exc
        return value

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _check_webhook_secret(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        """Webhook mode never runs open: without the secret anyone could post updates,
        e.g. a forged contact that links a stranger as a child's guardian."""
        if value is None:
            if info.data.get("WEBHOOK_BASE_URL") is not None:
                raise ValueError(f"webhook mode (WEBHOOK_BASE_URL is set) needs it: {SECRET_RULE}")
            return None
        if not WEBHOOK_SECRET_SHAPE.fullmatch(value.get_secret_value()):
            raise ValueError(f"must be {SECRET_RULE}")
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            service_zone(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("TELEGRAM_API_URL", "WEBHOOK_BASE_URL", "SMS_GATEWAY_URL")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _check_public_base_url(cls, value: str | None) -> str | None:
        """The address people open (SMS links, the pages): scheme, host and port only.

        The pages link to each other by absolute paths, so they must live at its root;
        a query or fragment would end up in the middle of every link built from it.
        """
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an absolute http:// or https:// URL, e.g. https://bala.kz")
        if url.query or url.fragment or url.username or url.password or url.path.strip("/"):
            raise ValueError(
                "must be scheme and host only (the pages live at its root), e.g. https://bala.kz"
            )
        return value.rstrip("/")

    @property
    def signal_secrets(self) -> list[bytes]:
        """Secrets accepted for signed requests; several during a key rotation."""
        raw = self.SIGNAL_SECRETS.get_secret_value()
        return [part.strip().encode() for part in raw.split(",") if part.strip()]

    @property
    def retention(self) -> timedelta:
        """How long closed cases' personal data and untouched dialogs are kept."""
        return timedelta(days=self.RETENTION_DAYS)

    @property
    def zone(self) -> ZoneInfo:
        return service_zone(self.TIMEZONE)

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def data_dir(self) -> Path:
        """Folder for local state of the embedded default (generated key, SQLite file)."""
        url = make_url(self.DATABASE_URL)
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            return Path(url.database).parent
        return Path("var")


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
