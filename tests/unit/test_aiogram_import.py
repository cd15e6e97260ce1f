"""aiogram through `bot.aiogram_import`: Telegram types and methods are built on first use.

Each check runs in a fresh interpreter, because the test process has long imported
aiogram; the child prints JSON and the test reads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

# Measured on the 2-core CI machine: ~125 MB through `bot`, ~225 MB with aiogram's
# own import, which builds the whole API. The bound sits between, with room for noise.
IMPORT_RSS_LIMIT_MB = 175


def run_child(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_types_and_methods_wait_for_their_first_use() -> None:
    result = run_child(
        """
        import json, re
        from pathlib import Path
        from bot.aiogram_import import import_aiogram_lazily
        import_aiogram_lazily()  # as bot.cli does for the commands that serve
        import bot.cli
        from aiogram.methods import SendSticker
        from aiogram.types import Sticker, Update
        # VmHWM, not ru_maxrss: the latter carries the parent's peak over fork and exec.
        status = Path("/proc/self/status").read_text()
        rss_mb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024
        before = [Sticker.__pydantic_complete__, SendSticker.__pydantic_complete__]
        update = Update.model_validate({
            "update_id": 1,
            "message": {
                "message_id": 7, "date": 0, "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": False, "first_name": "A"},
                "sticker": {"file_id": "f", "file_unique_id": "u", "type": "regular",
                            "width": 512, "height": 512, "is_animated": False,
                            "is_video": False},
            },
        })
        sticker = update.message.sticker
        method = SendSticker(chat_id=5, sticker=sticker.file_id)
        print(json.dumps({
            "rss_mb": rss_mb, "before": before, "width": sticker.width,
            "method": [method.chat_id, method.sticker],
            "update_built": Update.__pydantic_complete__,
        }))
        """
    )
    assert result["before"] == [False, False]
    assert result["width"] == 512
    assert result["method"] == [5, "f"]
    assert result["update_built"] is True
    assert result["rss_mb"] < IMPORT_RSS_LIMIT_MB, result["rss_mb"]


def test_every_type_and_method_still_builds() -> None:
    """The names aiogram handed to its eager rebuild reach every lazy build."""
    result = run_child(
        """
        import json
        from bot.aiogram_import import import_aiogram_lazily
        import_aiogram_lazily()
        import aiogram.methods, aiogram.types
        from pydantic import BaseModel
        built, failed = 0, []
        for package in (aiogram.types, aiogram.methods):
            for name in package.__all__:
                model = getattr(package, name)
                if not (isinstance(model, type) and issubclass(model, BaseModel)):
                    continue
                if model.__pydantic_generic_metadata__["parameters"]:
                    continue  # generic bases are built per parameter (Response[Message])
                try:
                    model.model_rebuild(raise_errors=True)
                    built += model.__pydantic_complete__
                except Exception as error:
                    failed.append(f"{name}: {error}")
        print(json.dumps({"built": built, "failed": failed}))
        """
    )
    assert result["failed"] == []
    assert result["built"] > 400
