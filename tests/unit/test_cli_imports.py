"""`--help` and `keygen` start at once: they load no Telegram, SQL or PDF code.

Each command runs as `python -X importtime -m bot ...` in a fresh interpreter, and the
modules it imported are read from the import-time log on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

HEAVY = (
    "aiogram",
    "aiohttp",
    "sqlalchemy",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "redis",
    "apscheduler",
    "typst",
    "fontTools",
    "pydantic",
)


def imported(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done.stdout, modules


@pytest.mark.parametrize(
    "args", [["--help"], ["keygen"], ["demo", "--help"], ["schools", "import", "--help"]]
)
def test_cli_light_commands_import_no_telegram_sql_or_pdf(args: list[str]) -> None:
    _, modules = imported(*args)

    assert "bot.cli" in modules  # the log is read right
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_cli_keygen_prints_a_working_data_key() -> None:
    output, _ = imported("keygen")

    key = output.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_cli_migrate_loads_aiogram_with_types_built_on_first_use(tmp_path: Path) -> None:
    """The composition root, not `import bot`, calls bot.aiogram_import before aiogram loads."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bot.cli\n"
            "assert 'aiogram' not in sys.modules\n"
            "code = bot.cli.main(['migrate'])\n"
            "from aiogram.types import Update\n"
            "print(code, Update.__pydantic_complete__)\n",
        ],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert done.stdout.strip().splitlines()[-1] == "0 False"
