"""Alembic on SQLite and PostgreSQL: the stairway, and the models match the migrations."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage.migrate import alembic_config, downgrade_to, upgrade_to_head
from storage.models import Base
from tests.conftest import Database


def current_revision(sync: Connection) -> str | None:
    return MigrationContext.configure(sync).get_current_revision()


def user_tables(sync: Connection) -> set[str]:
    return set(inspect(sync).get_table_names()) - {"alembic_version"}


def model_diff(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def test_migrations_fixture_database_is_at_head(database: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    async with database.engine.connect() as conn:
        revision = await conn.run_sync(current_revision)
        tables = await conn.run_sync(user_tables)

    assert revision == head
    assert tables == set(Base.metadata.tables)


async def test_migrations_stairway_down_to_base_and_up_again(database: Database) -> None:
    await downgrade_to(database.engine, "base")
    async with database.engine.connect() as conn:
        at_base = (await conn.run_sync(current_revision), await conn.run_sync(user_tables))

    await upgrade_to_head(database.engine)
    async with database.engine.connect() as conn:
        again = (await conn.run_sync(current_revision), await conn.run_sync(user_tables))
        diff = await conn.run_sync(model_diff)

    assert at_base == (None, set())
    assert again == (revisions_oldest_first()[-1], set(Base.metadata.tables))
    assert diff == []


async def test_migrations_each_revision_downgrades_one_step_and_back(database: Database) -> None:
    revisions = revisions_oldest_first()
    for revision in reversed(revisions):
        await downgrade_to(database.engine, "-1")
        await upgrade_to_head(database.engine)
        async with database.engine.connect() as conn:
            assert await conn.run_sync(current_revision) == revisions[-1], revision


async def test_migrations_models_match_schema(database: Database) -> None:
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(model_diff)

    assert diff == []


async def test_migrations_upgrade_at_head_is_a_no_op(database: Database) -> None:
    await upgrade_to_head(database.engine)

    async with database.engine.connect() as conn:
        diff = await conn.run_sync(model_diff)
        revision = await conn.run_sync(current_revision)

    assert (diff, revision) == ([], revisions_oldest_first()[-1])


async def test_migrations_diff_detects_schema_drift(database: Database) -> None:
    """The comparison is not vacuous: a schema that lost an index and a column differs."""
    async with database.engine.begin() as conn:
        await conn.exec_driver_sql("DROP INDEX ix_cases_child_iin_hash")
        await conn.exec_driver_sql("ALTER TABLE fsm_states ADD COLUMN stray INTEGER")

    async with database.engine.connect() as conn:
        diff = await conn.run_sync(model_diff)

    found = sorted(
        (entry[0], entry[1].name) if entry[0] == "add_index" else (entry[0], entry[3].name)
        for entry in diff
    )
    assert found == [("add_index", "ix_cases_child_iin_hash"), ("remove_column", "stray")]
