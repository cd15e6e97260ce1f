"""Bring a database to the head revision with Alembic, from async code.

Alembic (with Mako and its dialect modules, about a fifth of a second of imports) is
loaded only when there is something to migrate: every start checks the database's
`alembic_version` against the head revision read from the migration files' names and
`revision` lines, and a database already at head is left alone without Alembic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration without an ini file; `connection` is reused when given."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The head revision, read from the migration files without importing them.

    None when the files do not form one line of revisions as written (a branch, a
    `revision` that is not a plain string): the caller then asks Alembic, which knows.
    `tests/storage/test_migration_names.py` holds this equal to Alembic's head.
    """
    revisions: dict[str, str | None] = {}
    for path in VERSIONS_DIR.glob("[0-9]*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None or revision.group(1) in revisions:
            return None
        revisions[revision.group(1)] = down.group(1)
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def at_head(sync: Connection) -> bool:
    """Whether the database's `alembic_version` names exactly the head revision."""
    head = head_revision()
    if head is None or not inspect(sync).has_table("alembic_version"):
        return False
    stamped = sync.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(stamped) == [head]


def _upgrade(sync: Connection) -> None:
    if at_head(sync):
        return
    from alembic import command

    command.upgrade(alembic_config(sync), "head")


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Apply every pending migration; a no-op, without Alembic, on an up-to-date database."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def downgrade_to(engine: AsyncEngine, revision: str) -> None:
    """Step the schema back (used by the migration stairway test)."""
    from alembic import command

    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
