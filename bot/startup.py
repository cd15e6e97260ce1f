"""Start-up failures as one line that names the setting to fix and the cause.

An operator starting the service at night reads the last line it printed; a 170-line
traceback of asyncpg or aiohttp internals hides the one fact that matters (which
setting, what is wrong). These functions turn the failures of each start-up step into a
`StartupError`; the command line prints it and exits with code 2.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.errors import StartupError
from bot.settings import Settings

# asyncpg's errors reach us as "<class 'asyncpg.exceptions.X'>: text" in some versions.
_CLASS_PREFIX = re.compile(r"^<class '[\w.]+'>: ")


def shown_url(settings: Settings) -> str:
    """DATABASE_URL as it may appear in a log: with its password hidden."""
    return make_url(settings.DATABASE_URL).render_as_string(hide_password=True)


def database_unusable(settings: Settings, exc: BaseException) -> StartupError:
    """The database cannot be opened, reached or written."""
    url = make_url(settings.DATABASE_URL)
    shown = shown_url(settings)
    if url.drivername.startswith("sqlite"):
        path = Path(url.database or "")
        if path.is_dir():
            return StartupError(
                "DATABASE_URL", f"{path} is a folder, not a database file ({shown})"
            )
        if isinstance(exc, FileExistsError):
            cause = f"{exc.filename} is a file, not a folder"
        elif isinstance(exc, OSError):
            cause = f"{exc.filename or path}: {_os_cause(exc)}"
        else:
            cause = cause_of(exc)
        return StartupError("DATABASE_URL", f"cannot use {path}: {cause} ({shown})")
    if isinstance(exc, OSError):
        where = f"{url.host or 'localhost'}:{url.port or 5432}"
        return StartupError(
            "DATABASE_URL", f"cannot connect to {where}: {_os_cause(exc)} ({shown})"
        )
    return StartupError("DATABASE_URL", f"the server refused: {cause_of(exc)} ({shown})")


def migration_failed(settings: Settings, exc: BaseException) -> StartupError:
    """Bringing the schema to the latest revision failed; nothing was changed by it."""
    cause = cause_of(exc)
    if _alembic_refused(exc) and "locate revision" in cause:
        cause += ", a revision of a newer release: run that release, or restore a backup"
    return StartupError(
        "DATABASE_URL",
        f"migration to the latest schema failed, the database is left as it was: "
        f"{cause} ({shown_url(settings)})",
    )


def cannot_listen(settings: Settings, exc: OSError) -> StartupError:
    """The HTTP server cannot bind its address."""
    where = f"{settings.HTTP_HOST}:{settings.HTTP_PORT}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError(
            "HTTP_PORT",
            f"{where} is already in use by another program; stop it or choose another HTTP_PORT",
        )
    if exc.errno == errno.EACCES:
        return StartupError("HTTP_PORT", f"not allowed to listen on {where} (a port below 1024?)")
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return StartupError("HTTP_HOST", f"cannot listen on {where}: {_os_cause(exc)}")
    return StartupError("HTTP_PORT", f"cannot listen on {where}: {_os_cause(exc)}")


def key_file_unusable(settings: Settings, exc: OSError) -> StartupError:
    """The generated data key of the embedded default cannot be read or written."""
    return StartupError(
        "DATA_KEY",
        f"not set, and the generated key in {settings.data_dir / 'data.key'} cannot be used: "
        f"{_os_cause(exc)}",
    )


def is_startup_failure(exc: BaseException) -> bool:
    """Errors of the database, its driver or the file system, never a bug of ours."""
    return isinstance(exc, SQLAlchemyError | OSError) or _alembic_refused(exc)


def _alembic_refused(exc: BaseException) -> bool:
    """Alembic's CommandError, without importing Alembic: a start that did not need to
    migrate never loaded it, and then `exc` cannot be one."""
    alembic_errors = sys.modules.get("alembic.util.exc")
    return alembic_errors is not None and isinstance(exc, alembic_errors.CommandError)


def cause_of(exc: BaseException) -> str:
    """The first line of what the driver or Alembic said, without class names."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, OSError):
        return _os_cause(exc)
    else:
        text = str(exc)
    first = _CLASS_PREFIX.sub("", text.strip()).splitlines()
    return first[0] if first else type(exc).__name__


def _os_cause(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    if exc.strerror:
        return exc.strerror.rstrip(".").lower()
    return (str(exc) or type(exc).__name__).rstrip(".").lower()
