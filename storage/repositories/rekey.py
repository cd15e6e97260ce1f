"""Encrypted columns read in key order and rewritten only if unchanged (DATA_KEY rotation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base

ENCRYPTED_SUFFIX = "_enc"


@dataclass(frozen=True)
class EncryptedTable:
    """A table holding Fernet tokens: its primary key and its `*_enc` columns."""

    table: Table
    key: Column[Any]
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.table.name


def encrypted_tables() -> list[EncryptedTable]:
    """Every table with encrypted columns, found by the `_enc` naming rule of the models.

    Found rather than listed, so a column added later is rotated without anyone
    remembering this module.
    """
    found = []
    for table in Base.metadata.sorted_tables:
        columns = tuple(c.name for c in table.columns if c.name.endswith(ENCRYPTED_SUFFIX))
        if not columns:
            continue
        [key] = table.primary_key.columns
        found.append(EncryptedTable(table, key, columns))
    return found


async def list_encrypted_rows(
    session: AsyncSession, source: EncryptedTable, after: Any, limit: int
) -> Sequence[Mapping[str, Any]]:
    """Return up to `limit` rows after primary key `after` (None: from the start)."""
    query = select(source.key, *(source.table.c[name] for name in source.columns))
    if after is not None:
        query = query.where(source.key > after)
    result = await session.execute(query.order_by(source.key).limit(limit))
    return [dict(row) for row in result.mappings().all()]


async def replace_if_unchanged(
    session: AsyncSession,
    source: EncryptedTable,
    key: Any,
    old: Mapping[str, bytes],
    new: Mapping[str, Any],
) -> bool:
    """Write `new` only where the row still holds the `old` tokens; return whether it did.

    The service may be running: a row it rewrote meanwhile already carries a token under
    the current key, and overwriting it with the rotated old value would lose that write.
    """
    unchanged = [source.table.c[name] == token for name, token in old.items()]
    statement = update(source.table).where(source.key == key, *unchanged).values(**new)
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
