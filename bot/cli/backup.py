"""`homeschool-bot backup PATH` and `restore PATH`: SQLite copies that are proven usable.

PostgreSQL has its own tools for this (pg_dump, WAL archiving), which the README gives;
these commands say so rather than half-do it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.settings import Settings
from bot.startup import cause_of, is_startup_failure
from storage.backup import (
    BackupError,
    DatabaseInUse,
    backup_database,
    check_copy,
    database_lock,
    place_copy,
    sqlite_file,
    swap_in,
)
from storage.migrate import upgrade_to_head
from storage.session import create_engine


def main(args: argparse.Namespace, settings: Settings) -> int:
    """Run `backup` or `restore`; exit code 2 when it cannot be done, nothing changed."""
    database = sqlite_file(settings.DATABASE_URL)
    if database is None:
        tool = "pg_dump" if args.command == "backup" else "pg_restore"
        _err(
            f"homeschool-bot: {args.command} works on SQLite only; DATABASE_URL is PostgreSQL: "
            f"use {tool} (README, section 'Backups')"
        )
        return 2
    try:
        if args.command == "backup":
            _backup(settings, database, args.path)
        else:
            _restore(settings, database, args.path)
    except DatabaseInUse:
        _err(
            f"homeschool-bot: DATABASE_URL: {database} is in use by a running homeschool-bot "
            "(run or another command); stop it first, nothing was changed"
        )
        return 2
    except (BackupError, OSError) as exc:
        _err(f"homeschool-bot: {args.command} failed, nothing was changed: {_reason(exc)}")
        return 2
    return 0


def _backup(settings: Settings, database: Path, target: Path) -> None:
    report = backup_database(database, target)
    _out(
        f"backup written to {report.path} ({report.size} bytes, integrity ok, "
        f"schema revision {report.revision or 'none'}, readable by its owner only)"
    )
    _out(f"keep {_key_source(settings)} too, stored apart from the copy: {_WITHOUT_KEY}")


def _restore(settings: Settings, database: Path, backup: Path) -> None:
    revision = check_copy(backup)
    database.parent.mkdir(parents=True, exist_ok=True)
    with database_lock(database, exclusive=True):
        partial = place_copy(backup, database)
        try:
            asyncio.run(_migrate(partial))
            head = check_copy(partial)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        kept = swap_in(partial, database)
    moved = f"revision {revision or 'none'}" + (f", migrated to {head}" if head != revision else "")
    _out(f"restored {backup} into {database} ({moved}, integrity ok)")
    if kept is not None:
        _out(f"the database it replaced is kept as {kept}")
    _out(f"start the service with the {_key_source(settings)} of the backup: {_WITHOUT_KEY}")


async def _migrate(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_to_head(engine)
    except Exception as exc:
        if is_startup_failure(exc):
            failure = f"migrating it to the latest schema failed: {cause_of(exc)}"
            raise BackupError(failure) from None
        raise
    finally:
        await engine.dispose()


_WITHOUT_KEY = "without that key the personal data in the backup cannot be read"


def _key_source(settings: Settings) -> str:
    if settings.DATA_KEY is not None:
        return "DATA_KEY"
    return f"data key file {settings.data_dir / 'data.key'} (DATA_KEY is not set)"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {(exc.strerror or str(exc)).lower()}"
    return str(exc)


def _out(line: str) -> None:
    print(line)  # noqa: T201


def _err(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201
