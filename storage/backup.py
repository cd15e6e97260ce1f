"""SQLite copies for `backup` and `restore`, their checks, and the lock that keeps a
restore from replacing a database a process is using.

A copy is made with `VACUUM INTO` from a connection of its own: it reads one
transaction's snapshot, so it is consistent while `run` keeps writing (WAL lets the
writer go on meanwhile), and it is compact. The copy is checked with
`PRAGMA integrity_check` before it takes the target's name, and it is created 0600 since
it holds (encrypted) personal data and the pseudonymous case ids.

Every process that opens a SQLite database through `bot.assembly.open_services` holds a
shared `flock` on `<database>.lock`; `restore` takes it exclusively, so it refuses while
any of them runs, and a process starting during a restore refuses to start. The kernel
drops the lock when a process dies, even on SIGKILL, so a crash never leaves it behind.
SQLite's own locks cannot tell this: an idle WAL reader holds none.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.migrate import alembic_config

BUSY_TIMEOUT_MS = 10_000


class BackupError(Exception):
    """A copy cannot be made or used; the message is one line for the operator."""


class DatabaseInUse(BackupError):
    """Another process holds the database's lock (a running service, or a restore)."""


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def lock_file(database: Path) -> Path:
    return database.with_name(f"{database.name}.lock")


@contextmanager
def database_lock(database: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the database's lock (shared for users, exclusive for a restore) or raise
    DatabaseInUse at once; never waits."""
    fd = os.open(lock_file(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(str(database)) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class CopyReport:
    path: Path
    size: int
    revision: str | None


def backup_database(source: Path, target: Path) -> CopyReport:
    """Copy the live database `source` to `target` (replaced only by a checked copy)."""
    if not source.is_file():
        raise BackupError(f"there is no database file at {source}")
    _refuse_same_file(source, target)
    partial = _new_private_file(target)
    try:
        with closing(_open_existing(source)) as connection:
            connection.execute("VACUUM INTO ?", (str(partial),))
        revision = check_copy(partial)
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return CopyReport(target, target.stat().st_size, revision)


def check_copy(path: Path) -> str | None:
    """Integrity and schema revision of a copy: the revision (None for an empty schema),
    or BackupError saying what is wrong."""
    if not path.is_file():
        raise BackupError(f"there is no file at {path}")
    try:
        with closing(_open_existing(path)) as connection:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is damaged: {'; '.join(problems[:3])}")
            if list(connection.execute("PRAGMA foreign_key_check")):
                raise BackupError(f"{path} is damaged: rows refer to missing rows")
            try:
                versions = [row[0] for row in connection.execute(_REVISION_QUERY)]
            except sqlite3.OperationalError:
                raise BackupError(
                    f"{path} is not a homeschool-bot database (it records no schema revision)"
                ) from None
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise BackupError(f"{path} is not a readable SQLite database ({exc})") from None
        raise BackupError(f"{path} is damaged: {exc}") from None
    revision = versions[0] if versions else None
    _check_known(path, revision)
    return revision


_REVISION_QUERY = "SELECT version_num FROM alembic_version"


def _check_known(path: Path, revision: str | None) -> None:
    if revision is None:
        return
    # Alembic only here: `run` and every command open the database through this module.
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        raise BackupError(
            f"{path} is at schema revision {revision!r}, which this release does not know "
            "(it was made by a newer release; restore it with that one)"
        ) from None


def place_copy(backup: Path, target: Path) -> Path:
    """Copy `backup` to a private file next to `target`, to be migrated and then
    `swap_in`; the caller holds the exclusive lock."""
    _refuse_same_file(target, backup)
    partial = _new_private_file(target)
    try:
        with closing(_open_existing(backup)) as source, closing(_open_existing(partial)) as copy:
            source.backup(copy)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial


def swap_in(partial: Path, target: Path) -> Path | None:
    """Give `partial` the name `target`; the database it replaces (with its WAL folded
    in) is kept as `<target>.replaced-<UTC time>`, whose path is returned."""
    kept = None
    if target.exists():
        with closing(_open_existing(target)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = target.with_name(f"{target.name}.replaced-{stamp}")
        os.replace(target, kept)
    for leftover in ("-wal", "-shm"):
        target.with_name(target.name + leftover).unlink(missing_ok=True)
    _fsync(partial)
    os.replace(partial, target)
    _fsync(target.parent)
    return kept


def _refuse_same_file(database: Path, other: Path) -> None:
    """Copying a database onto itself (or its WAL) would destroy it."""
    names = {database.resolve()} | {
        database.resolve().with_name(database.name + suffix) for suffix in ("-wal", "-shm")
    }
    if other.resolve() in names:
        raise BackupError(f"{other} is the database itself; choose another path")


def _open_existing(path: Path) -> sqlite3.Connection:
    """A connection that never creates a missing file (sqlite3.connect would)."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def _new_private_file(target: Path) -> Path:
    """An empty 0600 file in the target's folder (same file system: the rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return partial


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)
