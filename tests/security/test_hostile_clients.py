"""Slow, broken and nosy clients against the real `python -m bot run` over loopback.

Raw sockets, because a well-behaved HTTP client cannot stall mid-body, break the
framing or put arbitrary bytes in a header. The process runs the embedded default
(SQLite and a generated key in `./var`), so the modes of the files it creates are
checked too. After every attack the service still answers `/healthz` and its log
holds no traceback and none of the personal data the attack carried.
"""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.signing import signed_headers
from handlers.http.bodies import BODY_READ_TIMEOUT_S
from tests.factories import SIGNAL_PATH, signal_payload
from tests.process import BotProcess, clean_env, free_port, http

pytestmark = pytest.mark.slow

SECRET = b"hostile-clients-secret"
IIN, NAME, PHONE = "150302500123", "Жанболатов Ерасыл", "+77017654321"
STALL_LIMIT_S = 15.0
STOP_LIMIT_S = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """One `bot run` for the module: HTTP API only, embedded default storage."""
    folder = tmp_path_factory.mktemp("hostile")
    env = clean_env(HTTP_PORT=str(free_port()), SIGNAL_SECRETS=SECRET.decode())
    with BotProcess(folder, env) as process:
        asyncio.run(process.start())
        yield process


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.settimeout(30)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def exchange(port: int, request: bytes) -> bytes:
    with connect(port) as sock:
        sock.sendall(request)
        return read_answer(sock)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def signal_head(length: int, **extra: str) -> bytes:
    lines = [f"POST {SIGNAL_PATH} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines.append(f"Content-Length: {length}")
    lines += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in extra.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def personal_body() -> bytes:
    payload = signal_payload(
        child={"iin": IIN, "full_name": NAME}, guardian={"full_name": NAME, "phone": PHONE}
    )
    return json.dumps(payload, ensure_ascii=False).encode()


def assert_still_healthy(server: BotProcess) -> None:
    """The service answers and its log carries no traceback and no personal data."""
    assert http(f"{server.base_url}/healthz")[0] == 200
    log = server.output()
    assert "Traceback" not in log, server.output_tail()
    assert [value for value in (IIN, NAME, PHONE, "7017654321") if value in log] == []


def test_client_stalling_mid_body_is_cut_off_with_408_within_15_s(server: BotProcess) -> None:
    body = personal_body()
    with connect(server.port) as sock:
        sock.sendall(signal_head(len(body)) + body[: len(body) // 2])
        started = time.monotonic()
        answer = read_answer(sock)
        held = time.monotonic() - started

    print(f"\nstalled client cut off after {held:.2f} s")  # noqa: T201
    assert status_of(answer) == 408
    assert BODY_READ_TIMEOUT_S - 1 < held < STALL_LIMIT_S
    assert "body not received within" in server.output()
    assert_still_healthy(server)


def test_client_dropping_mid_upload_logs_one_short_line(server: BotProcess) -> None:
    body = personal_body()
    before = len(server.output().splitlines())
    with connect(server.port) as sock:
        sock.sendall(signal_head(len(body)) + body[:100])
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while "mid-body" not in "\n".join(server.output().splitlines()[before:]):
        assert time.monotonic() < deadline, server.output_tail()
        time.sleep(0.1)

    new_lines = server.output().splitlines()[before:]
    dropped = [line for line in new_lines if "mid-body" in line]
    assert len(dropped) == 1 and len(dropped[0]) < 200, new_lines
    assert [line for line in new_lines if " ERROR " in line] == []
    assert_still_healthy(server)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            signal_head(10).replace(b"Content-Length: 10", b"Transfer-Encoding: chunked")
            + f"{IIN} {PHONE}\r\n".encode()
            + b"0\r\n\r\n",
            id="personal-data-as-chunk-size",
        ),
        pytest.param(
            signal_head(2, **{"X-Ch\x01ld": f"{IIN} {PHONE} {NAME}"}) + b"{}",
            id="control-byte-in-a-header-name",
        ),
        pytest.param(
            signal_head(2, **{"X-Child": f"{IIN} {PHONE} {NAME}\x01"}) + b"{}",
            id="control-byte-in-a-header-value",
        ),
        pytest.param(f"P{IIN} /x HTTP/1.1\r\n\r\n".encode(), id="personal-data-as-method"),
    ],
)
def test_broken_framing_is_a_400_that_echoes_and_logs_no_request_bytes(
    server: BotProcess, request_bytes: bytes
) -> None:
    answer = exchange(server.port, request_bytes)

    assert status_of(answer) == 400
    text = answer.decode(errors="replace")
    assert [value for value in (IIN, PHONE, NAME, "7017654321") if value in text] == []
    assert_still_healthy(server)


def test_oversized_header_is_refused_and_the_server_stays_up(server: BotProcess) -> None:
    huge = signal_head(2, **{"X-Padding": "a" * 20_000}) + b"{}"

    assert status_of(exchange(server.port, huge)) in (400, 431)
    many = signal_head(2, **{f"X-H{n}": "1" for n in range(100)}) + b"{}"
    assert status_of(exchange(server.port, many)) in (400, 431)
    assert_still_healthy(server)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Signature", "sha256=" + "é" * 64),
        ("X-Signature", "sha256=" + "0" * 63),
        ("X-Signature", "sha256=" + "z" * 64),
        ("X-Signature-Timestamp", "١٧٩٥٠٠٠٠٠٠"),
    ],
    ids=["non-ascii-signature", "short-signature", "not-hex", "arabic-digits-timestamp"],
)
def test_malformed_signature_header_is_a_plain_401(
    server: BotProcess, name: str, value: str
) -> None:
    body = b"{}"
    headers = signed_headers(SECRET, "POST", SIGNAL_PATH, body, time.time())
    headers[name] = value
    answer = exchange(server.port, signal_head(len(body), **headers) + body)  # UTF-8 bytes

    assert status_of(answer) == 401, answer
    assert_still_healthy(server)


def test_method_not_allowed_keeps_the_allow_header(server: BotProcess) -> None:
    answer = exchange(
        server.port, b"GET /api/v1/signals/vkk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert status_of(answer) == 405
    assert "\r\nallow: post" in head
    assert_still_healthy(server)


def test_files_of_the_embedded_default_are_private(server: BotProcess) -> None:
    var = server.cwd / "var"
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in [var, *var.iterdir()]
        if path.name in {"var", "homeschool.db", "homeschool.db-wal", "data.key"}
    }

    print(f"\nfile modes: { {k: oct(v) for k, v in modes.items()} }")  # noqa: T201
    assert modes == {
        "var": 0o700,
        "homeschool.db": 0o600,
        "homeschool.db-wal": 0o600,
        "data.key": 0o600,
    }


def test_graceful_stop_does_not_wait_for_stalled_clients(tmp_path: Path) -> None:
    env = clean_env(HTTP_PORT=str(free_port()), SIGNAL_SECRETS=SECRET.decode())
    with BotProcess(tmp_path, env) as process:
        asyncio.run(process.start())
        body = personal_body()
        stalled = [connect(process.port) for _ in range(30)]
        for n, sock in enumerate(stalled):
            # Half of them mid-body, half mid-headers.
            part = signal_head(len(body)) + body[:50] if n % 2 else signal_head(len(body))[:30]
            sock.sendall(part)
        time.sleep(0.5)
        started = time.monotonic()
        code = process.stop()
        took = time.monotonic() - started
        for sock in stalled:
            sock.close()

    print(f"\ngraceful stop with 30 stalled clients took {took:.2f} s")  # noqa: T201
    assert code == 0, process.output_tail()
    assert took < STOP_LIMIT_S
    assert "Traceback" not in process.output()
