"""The Telegram webhook: never open, the secret checked first, bad bodies a 400.

A forged update on an open webhook could share a victim's phone number as a contact
and link the attacker as the guardian. `run` therefore refuses webhook mode without a
strong `WEBHOOK_SECRET`. With the right secret, Telegram (or whoever holds it) still
gets a 400, never a 5xx, for a body that is not an update: a 5xx is retried for hours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.e2e.harness import Stack, running_stack
from tests.process import clean_env, free_port

pytestmark = pytest.mark.slow

SECRET = "hardening-webhook-secret-0123456789_-AZ"
IIN, PHONE = "150302500123", "+77017654321"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, "webhook mode (WEBHOOK_BASE_URL is set) needs it"),
        ("short-secret", "must be 32 to 256 characters"),
        ("ы" * 40, "must be 32 to 256 characters"),
        ("with spaces " * 4, "must be 32 to 256 characters"),
    ],
    ids=["unset", "short", "cyrillic", "spaces"],
)
def test_run_in_webhook_mode_without_a_strong_secret_refuses_to_start(
    tmp_path: Path, secret: str | None, problem: str
) -> None:
    settings = {"BOT_TOKEN": "1:x", "WEBHOOK_BASE_URL": "https://bot.example.kz"}
    if secret is not None:
        settings["WEBHOOK_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=clean_env(HTTP_PORT=str(free_port()), **settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "WEBHOOK_SECRET" in lines[0] and problem in lines[0]
    assert secret is None or secret not in result.stderr
    assert not (tmp_path / "var").exists()  # nothing was started or created


def raw_post(port: int, headers: bytes, body: bytes) -> int:
    """A POST whose header bytes are exactly `headers` (UTF-8 included); its status."""
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + headers + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def secret_line(value: bytes) -> bytes:
    return SECRET_HEADER.encode() + b": " + value + b"\r\n"


UPDATE = b'{"update_id": 1, "edited_message": null}'
MALFORMED_BODIES = [
    pytest.param(b'{"update_id": 1,', id="truncated-json"),
    pytest.param(b"[" * 10_000 + b"]" * 10_000, id="10000-nested-brackets"),
    pytest.param(b'{"update_id": 1' + b"0" * 5000 + b"}", id="5000-digit-update-id"),
    pytest.param(b'{"update_id": 1, "update_id": 2}', id="duplicate-key"),
    pytest.param(b'{"update_id": NaN}', id="nan"),
    pytest.param(b'{"update_id": "x"}', id="not-an-update"),
    pytest.param(b"[]", id="not-an-object"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
]


@pytest.fixture
async def webhook_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The application in webhook mode against the Telegram emulator."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_stack(
        tmp_path, HTTP_PORT=port, WEBHOOK_BASE_URL=base, WEBHOOK_SECRET=SECRET
    ) as stack:
        yield stack


async def post_raw(stack: Stack, headers: bytes, body: bytes) -> int:
    return await asyncio.to_thread(raw_post, stack.app.port, headers, body)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("секрет".encode() * 8, id="non-ascii"),
        pytest.param(b"\xff\xfe" * 20, id="not-utf8"),
        pytest.param(SECRET.encode()[:-1], id="one-character-short"),
        pytest.param(SECRET.encode() + "й".encode(), id="secret-plus-non-ascii"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_webhook_malformed_or_wrong_secret_is_a_plain_401(
    webhook_stack: Stack, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status = await post_raw(webhook_stack, secret_line(value), UPDATE)

    assert status == 401
    assert "Traceback" not in caplog.text and "unhandled error" not in caplog.text


async def test_webhook_secret_is_checked_before_the_body_is_read(webhook_stack: Stack) -> None:
    # A body that would be a 400 with the secret is a 401 without it.
    assert await post_raw(webhook_stack, b"", b"[" * 10_000) == 401


@pytest.mark.parametrize("body", MALFORMED_BODIES)
async def test_webhook_with_the_secret_answers_400_to_what_is_not_an_update(
    webhook_stack: Stack, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status = await post_raw(webhook_stack, secret_line(SECRET.encode()), body)

    assert status == 400
    assert "Traceback" not in caplog.text and "unhandled error" not in caplog.text
    assert await post_raw(webhook_stack, secret_line(SECRET.encode()), UPDATE) == 200


async def test_webhook_unknown_update_type_is_logged_sanitised_not_printed_raw(
    webhook_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    update = {"update_id": 77, "future_kind": {"text": f"ИИН {IIN}", "phone": PHONE}}
    body = json.dumps(update, ensure_ascii=False).encode()

    with warnings.catch_warnings(record=True) as printed, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        status = await post_raw(webhook_stack, secret_line(SECRET.encode()), body)

    assert status == 200  # Telegram must not redeliver it
    assert [str(w.message) for w in printed if "update" in str(w.message).lower()] == []
    ignored = [r.getMessage() for r in caplog.records if "unknown type" in r.getMessage()]
    assert ignored == ["ignored update 77 of an unknown type (fields: future_kind)"]
    assert IIN not in caplog.text and PHONE not in caplog.text
    metrics = webhook_stack.app.svc.metrics.render().decode()
    assert 'homeschool_unexpected_updates_total{kind="unknown"} 1.0' in metrics
