"""aiosqlite with one trip to its thread per statement.

aiosqlite runs the sqlite3 connection in a thread of its own and hands it each call
through a queue; SQLAlchemy's adapter makes four such calls for every statement
(create the cursor, execute, fetch the rows, close). Each hand-over costs the event
loop a queue put, a thread wake-up and the interpreter lock back (py-spy: a third of
an update's time in `benchmarks/updates.py`). The cursor here does the four in one
call in the thread, and keeps what SQLAlchemy reads afterwards (rows, description,
rowcount, last row id). The connection is aiosqlite's own otherwise (commit, rollback,
close, functions), so the dialect and its events are SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

Row = tuple[Any, ...]


class OneTripCursor:
    """The part of aiosqlite's cursor SQLAlchemy uses, a statement in one thread call."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Row] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneTripCursor:
        return await self._run(lambda cursor: cursor.execute(sql, parameters or ()))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneTripCursor:
        return await self._run(lambda cursor: cursor.executemany(sql, parameters))

    async def _run(self, statement: Any) -> OneTripCursor:
        outcome = await self._connection.in_thread(partial(_whole_statement, statement))
        self.description, self._rows, self.rowcount, self.lastrowid = outcome
        return self

    async def fetchone(self) -> Row | None:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = self.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Row]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []


def _whole_statement(statement: Any, connection: sqlite3.Connection) -> tuple[Any, ...]:
    """Run in the connection's thread: cursor, statement, every row, close."""
    cursor = connection.cursor()
    try:
        statement(cursor)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors make one thread call per statement."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def in_thread(self, work: Any) -> Any:
        """Call `work(sqlite3_connection)` in the connection's thread."""
        return await self._execute(lambda: work(self._conn))  # type: ignore[no-untyped-call]


def one_trip_connector(database_url: str) -> Any:
    """An `async_creator` for SQLAlchemy: the URL's database with `OneTripConnection`."""
    url = make_url(database_url)
    args, options = url.get_dialect()().create_connect_args(url)
    connector = partial(sqlite3.connect, *args, **options)
    return lambda: OneTripConnection(connector, iter_chunk_size=64)
