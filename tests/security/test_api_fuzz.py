"""Fuzzing the HTTP API: schemathesis against the `/openapi.json` the server serves.

The application runs as `homeschool-bot run` assembles it (`run_application`: HTTP
API, outbox dispatcher, scheduler; no bot token) on its own event loop in a thread, on
a temporary SQLite file and a free loopback port; schemathesis' synchronous client
talks to it over real HTTP. (A `python -m bot run` subprocess would test the same
wiring but costs 30+ s of imports on a shared CI machine.)

Requests to the signed endpoints are signed on their final bytes and the decision API
gets a valid school key, so the fuzzer reaches body validation and the services instead
of bouncing off 401. Some cases aim at seeded case and signal ids and valid signals, so
the 200/202/409 paths are hit too. Every answer must be documented (status, media type,
body schema), never a 5xx, and data the schema calls invalid must never be accepted.
Each operation gets a bounded number of examples so CI stays short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from bot.app import run_application
from bot.runtime import Services
from bot.settings import Settings
from bot.signing import signed_headers
from bot.usecases.schools import issue_school_api_key
from handlers.http.openapi import build_openapi
from handlers.http.schemas import ValidationErrorAnswer
from tests.conftest import DATA_KEY, SIGNAL_SECRET
from tests.factories import signal_payload
from tests.security import schemathesis_signing
from tests.storage.case_setup import add_school, mark_forwarded, open_case

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25
START_TIMEOUT_S = 30.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Taken from the code's own description; the test itself reads the one the server serves.
OPERATIONS = [
    (method.upper(), path)
    for path, methods in build_openapi()["paths"].items()
    for method in methods
]


@dataclass(frozen=True)
class LiveApi:
    base: str
    api_key: str
    decidable_case_ids: list[str]
    revocable_signal_ids: list[str]
    valid_signals: list[dict[str, Any]]


class SigningSession(requests.Session):
    """Authenticates what the fuzzer sends: HMAC on the exact bytes, or the school's key."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self._api_key = api_key

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = request.path_url.split("?")[0]
        method = request.method or "GET"
        if path.endswith("/decision"):
            request.headers["Authorization"] = f"Bearer {self._api_key}"
        elif path.startswith("/api/v1/"):
            body = request.body
            raw = (
                body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else b""
            )
            target = request.path_url
            request.headers.update(signed_headers(SIGNAL_SECRET, method, target, raw, time.time()))
        return super().send(request, **kwargs)


async def _seed(svc: Services) -> tuple[str, list[str], list[str], list[dict[str, Any]]]:
    """A school with a key, cases waiting for its decision, cases to revoke, and valid
    signals (one of them twice with other content), so re-sends give 200 and 409."""
    school = await add_school(svc)
    key = (await issue_school_api_key(svc, school.bin)).key
    now = svc.clock.now()
    decidable = []
    for _ in range(4):
        case_id = await open_case(svc, school=school)
        await mark_forwarded(svc, case_id, now + timedelta(days=2))
        decidable.append(case_id)
    revocable = [f"FUZZ-REVOKE-{n}" for n in range(4)]
    for signal_id in revocable:
        await open_case(svc, signal_id=signal_id)
    signals = [signal_payload(school={"bin": school.bin, "grade": 3}) for _ in range(3)]
    signals.append({**signals[0], "conclusion": {**signals[0]["conclusion"], "summary": "x"}})
    return key, decidable, revocable, signals


class ServerThread(threading.Thread):
    """`run_application` (the wiring of `homeschool-bot run`) on its own event loop."""

    def __init__(self, settings_: Settings) -> None:
        super().__init__(name="fuzzed-api", daemon=True)
        self.settings = settings_
        self.ready: queue.Queue[LiveApi | BaseException] = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the test thread, which fails with it
            self.ready.put(exc)

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        async with run_application(self.settings) as running:
            seeded = await _seed(running.svc)
            self.ready.put(LiveApi(f"http://127.0.0.1:{running.port}", *seeded))
            await self._stopping.wait()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(timeout=30)


class RecordKeeper(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.levelname} {record.name}: {text}")


@pytest.fixture(scope="module")
def server_log() -> Iterator[RecordKeeper]:
    """Every log record of the process, at DEBUG, while the fuzzed server runs."""
    keeper, root = RecordKeeper(), logging.getLogger()
    level = root.level
    root.addHandler(keeper)
    root.setLevel(logging.DEBUG)
    yield keeper
    root.removeHandler(keeper)
    root.setLevel(level)


@pytest.fixture(scope="module")
def live_api(
    tmp_path_factory: pytest.TempPathFactory, server_log: RecordKeeper
) -> Iterator[LiveApi]:
    """The real application on a free loopback port over a temporary SQLite file."""
    folder = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(
        _env_file=None,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'fuzz.db'}",
        DATA_KEY=DATA_KEY,
        SIGNAL_SECRETS=SIGNAL_SECRET.decode(),
        HTTP_HOST="127.0.0.1",
        HTTP_PORT=0,
    )
    server = ServerThread(settings_)
    server.start()
    try:
        started = server.ready.get(timeout=START_TIMEOUT_S)
        if isinstance(started, BaseException):
            raise started
        yield started
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api.base}/openapi.json")


def _aimed(operation: Any, key: str, values: list[Any]) -> st.SearchStrategy[Any]:
    """Positive cases whose body, or path parameter `key`, is one of `values`."""

    def build(value: Any) -> st.SearchStrategy[Any]:
        fixed = {"body": value} if key == "body" else {"path_parameters": {key: value}}
        strategy: st.SearchStrategy[Any] = operation.as_strategy(GenerationMode.POSITIVE, **fixed)
        return strategy

    return st.sampled_from(values).flatmap(build)


def _cases(operation: Any, live: LiveApi) -> st.SearchStrategy[Any]:
    """Positive and negative cases, plus positive ones aimed at ids and bodies that exist."""
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    params = {p.name for p in operation.path_parameters}
    known = {"case_id": live.decidable_case_ids, "signal_id": live.revocable_signal_ids}
    strategies.extend(_aimed(operation, name, known[name]) for name in params & known.keys())
    if operation.path == "/api/v1/signals/vkk":
        strategies.append(_aimed(operation, "body", live.valid_signals))
    return st.one_of(strategies)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_operation_fuzzed_answers_are_documented_and_never_5xx(
    live_api: LiveApi, api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    session = SigningSession(live_api.api_key)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, live_api))
    def fuzz(case: Any) -> None:
        response = case.call(base_url=live_api.base, session=session, timeout=10)
        case.validate_response(response, checks=CHECKS)

    fuzz()


@pytest.mark.parametrize(
    "body",
    [{"decision": "refused"}, {"decision": "refused", "ground": 2, "reason": "  x   y  "}],
    ids=["no-ground", "blank-reason"],
)
def test_decision_api_refusal_with_missing_or_blank_reason_answers_documented_422(
    live_api: LiveApi, body: dict[str, Any]
) -> None:
    response = requests.post(
        f"{live_api.base}/api/v1/cases/{live_api.decidable_case_ids[0]}/decision",
        json=body,
        headers={"Authorization": f"Bearer {live_api.api_key}"},
        timeout=10,
    )
    assert response.status_code == 422
    ValidationErrorAnswer.model_validate_json(response.content)


CLI_EXAMPLES_PER_OPERATION = 30
CLI_TIME_LIMIT_S = 60.0
# Schema-valid bodies these operations may still refuse with 422: check digits, the
# plausibility rules relative to the clock, and a reason's length after cleaning are
# rules a JSON schema cannot state. Every other answer is as the CLI expects.
UNSTATABLE_RULES = (
    'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404", "409", "422"]'
)


def _cli_config(live: LiveApi) -> str:
    """schemathesis.toml: where 422 is a valid answer, and ids that exist."""
    return f"""
[[operations]]
include-path = "/api/v1/signals/vkk"
{UNSTATABLE_RULES}

[[operations]]
include-path = "/api/v1/cases/{{case_id}}/decision"
parameters = {{ case_id = "{live.decidable_case_ids[-1]}" }}
{UNSTATABLE_RULES}

[[operations]]
include-path = "/api/v1/signals/vkk/{{signal_id}}/revocation"
parameters = {{ signal_id = "{live.revocable_signal_ids[-1]}" }}
"""


def test_schemathesis_cli_with_every_check_finds_nothing(live_api: LiveApi, tmp_path: Path) -> None:
    """`schemathesis run --checks all` as CI would run it: every phase (coverage with
    undeclared methods and missing headers, fuzzing, stateful), signed by a hook."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(_cli_config(live_api))
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_signing",
        "PYTHONPATH": str(Path(__file__).parents[2]),
        schemathesis_signing.SECRET_ENV: SIGNAL_SECRET.decode(),
        schemathesis_signing.KEY_ENV: live_api.api_key,
    }
    placeholder = schemathesis_signing.PLACEHOLDER
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
            "run", f"{live_api.base}/openapi.json", "--checks", "all",
            "--max-examples", str(CLI_EXAMPLES_PER_OPERATION), "--generation-deterministic",
            "--workers", "1", "--report", "json", "--report-dir", str(tmp_path),
            "-H", f"X-Signature: {placeholder}",
            "-H", f"X-Signature-Timestamp: {schemathesis_signing.TIMESTAMP_PLACEHOLDER}",
            "-H", f"Authorization: Bearer {placeholder}",
        ],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    took = time.monotonic() - started
    report = json.loads(next(tmp_path.glob("json-*.json")).read_text())

    cases = report["test_cases"]
    print(  # noqa: T201
        f"\nschemathesis --checks all: {cases['generated']} examples, "
        f"{report['operations']['tested']} operations, {len(report['failures'])} failures, "
        f"{took:.1f} s"
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert (report["stop_reason"], report["failures"], report["errors"]) == ("completed", [], [])
    assert cases["generated"] > 300 and cases["with_failures"] == 0
    assert took < CLI_TIME_LIMIT_S


def test_api_fuzzing_left_no_traceback_or_personal_data_in_the_log(
    live_api: LiveApi, server_log: RecordKeeper
) -> None:
    """Runs after the fuzzing above (same module-scoped server): its log must be clean."""
    log = "\n".join(server_log.lines)
    assert "HTTP API listening" in log  # the handler did see the server's records
    assert "Traceback" not in log
    assert "unhandled error" not in log
    # Every seeded and posted signal names children and guardians like these.
    people = [p for signal in live_api.valid_signals for p in (signal["child"], signal["guardian"])]
    secrets = ["Сейтқали", *(p["iin"] for p in people), *(p.get("phone", "") for p in people)]
    assert [s for s in secrets if s and s in log] == []
