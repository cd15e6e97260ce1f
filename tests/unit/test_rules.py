"""Table tests of plain rules: the case state machine, request signatures, settings."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.domain.status import FINAL_STATUSES, CaseEvent, CaseStatus
from bot.domain.transitions import ALLOWED, TransitionNotAllowed, next_status
from bot.errors import DomainError
from bot.settings import DEFAULT_DATABASE_URL, Settings, SettingsError, load_settings
from bot.signing import (
    MAX_SKEW_S,
    SignedRequest,
    signature,
    signature_problem,
    signed_headers,
    url_target,
)
from bot.usecases.form_answers import parse_typed_grade

MALFORMED = "X-Signature must be sha256= and 64 lower-case hex digits"

S = CaseStatus
E = CaseEvent

# --- state machine ------------------------------------------------------------------------

# DESIGN 5, written out by hand: the table in bot.domain.transitions must say the same.
EXPECTED_MOVES: dict[tuple[CaseStatus, CaseEvent], CaseStatus] = {
    (S.RECEIVED, E.NOTICE_SENT): S.NOTIFIED,
    (S.RECEIVED, E.GUARDIAN_UNLINKED): S.AWAITING_LINK,
    (S.AWAITING_LINK, E.GUARDIAN_LINKED): S.NOTIFIED,
    (S.AWAITING_LINK, E.NOTICE_SENT): S.NOTIFIED,
    (S.AWAITING_LINK, E.NO_ANSWER): S.EXPIRED,
    (S.NOTIFIED, E.CONSENT_GIVEN): S.CONSENTED,
    (S.NOTIFIED, E.CONSENT_DECLINED): S.DECLINED,
    (S.NOTIFIED, E.NO_ANSWER): S.EXPIRED,
    (S.DECLINED, E.CONSENT_GIVEN): S.CONSENTED,
    (S.DECLINED, E.NO_ANSWER): S.EXPIRED,
    (S.CONSENTED, E.CONSENT_DECLINED): S.DECLINED,
    (S.CONSENTED, E.APPLICATION_CONFIRMED): S.SUBMITTED,
    (S.CONSENTED, E.NO_ANSWER): S.EXPIRED,
    (S.SUBMITTED, E.DELIVERED_TO_SCHOOL): S.FORWARDED,
    (S.SUBMITTED, E.DEADLINE_PASSED): S.OVERDUE,
    (S.SUBMITTED, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.SUBMITTED, E.PRELIMINARY_REFUSAL): S.HEARING,
    (S.FORWARDED, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.FORWARDED, E.PRELIMINARY_REFUSAL): S.HEARING,
    (S.FORWARDED, E.DEADLINE_PASSED): S.OVERDUE,
    (S.OVERDUE, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.OVERDUE, E.PRELIMINARY_REFUSAL): S.HEARING,
    (S.HEARING, E.POSITION_STATED): S.HEARING,
    (S.HEARING, E.HEARING_LAPSED): S.HEARING,
    (S.HEARING, E.SCHOOL_ACCEPTED): S.ACCEPTED,
    (S.HEARING, E.SCHOOL_REFUSED): S.REFUSED,
}
PRE_DECISION = [
    S.RECEIVED,
    S.AWAITING_LINK,
    S.NOTIFIED,
    S.CONSENTED,
    S.DECLINED,
    S.SUBMITTED,
    S.FORWARDED,
    S.OVERDUE,
    S.HEARING,
]
TERMINAL = [S.ACCEPTED, S.REFUSED, S.EXPIRED, S.CANCELLED]
ALL_PAIRS = list(itertools.product(CaseStatus, CaseEvent))


def test_transitions_table_is_design_table_plus_revocation() -> None:
    expected = {**EXPECTED_MOVES, **{(status, E.REVOKED): S.CANCELLED for status in PRE_DECISION}}

    assert dict(ALLOWED) == expected


@pytest.mark.parametrize(("status", "event"), ALL_PAIRS, ids=lambda v: str(v))
def test_transitions_every_pair_moves_or_raises(status: CaseStatus, event: CaseEvent) -> None:
    if (status, event) in ALLOWED:
        assert next_status(status, event) is ALLOWED[(status, event)]
        return
    with pytest.raises(TransitionNotAllowed) as raised:
        next_status(status, event)
    assert (raised.value.current, raised.value.event) == (status, event)
    assert str(raised.value) == f"{event.value} is not allowed in status {status.value}"


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize("event", list(CaseEvent))
def test_transitions_terminal_status_accepts_no_event(status: CaseStatus, event: CaseEvent) -> None:
    with pytest.raises(TransitionNotAllowed):
        next_status(status, event)


def test_transitions_terminal_statuses_are_the_final_ones() -> None:
    assert set(TERMINAL) == FINAL_STATUSES
    assert set(PRE_DECISION) | set(TERMINAL) == set(CaseStatus)


@pytest.mark.parametrize("status", PRE_DECISION)
def test_transitions_revocation_before_decision_cancels(status: CaseStatus) -> None:
    assert next_status(status, E.REVOKED) is S.CANCELLED


@pytest.mark.parametrize("status", PRE_DECISION)
def test_transitions_open_status_has_a_way_out_besides_revocation(status: CaseStatus) -> None:
    exits = {event for (source, event) in ALLOWED if source is status} - {E.REVOKED}

    assert exits, f"{status} can only be left by revocation"


def test_transitions_every_status_reachable_from_received() -> None:
    reached = {S.RECEIVED}
    frontier = [S.RECEIVED]
    while frontier:
        current = frontier.pop()
        for (source, _event), target in ALLOWED.items():
            if source is current and target not in reached:
                reached.add(target)
                frontier.append(target)

    assert reached == set(CaseStatus)


# --- request signatures -------------------------------------------------------------------

NOW = 1_795_000_000.0
BODY = b'{"signal_id": "KZ-VKK-2026-000123"}'
SECRET = b"current"
TS = str(int(NOW))
PATH = "/api/v1/signals/vkk"
REQUEST = SignedRequest("POST", PATH, BODY)


def sig_of(secret: bytes, timestamp: str, request: SignedRequest = REQUEST) -> str:
    return signature(secret, timestamp, *request)


def test_signature_matches_independent_vector() -> None:
    # printf '1795000000.POST./api/v1/signals/vkk?x=1.{"a":1}' | openssl dgst -sha256 -hmac key
    expected = "sha256=4e736e432516e76e630fdf2daf8993cb0a76475f199d31f6810a06cfd0876cd3"

    assert signature(b"key", "1795000000", "POST", f"{PATH}?x=1", b'{"a":1}') == expected


@pytest.mark.parametrize(
    ("secrets", "timestamp", "sig", "request_", "expected"),
    [
        pytest.param([SECRET], TS, sig_of(SECRET, TS), REQUEST, None, id="valid"),
        pytest.param([b"next", SECRET], TS, sig_of(SECRET, TS), REQUEST, None, id="second-secret"),
        pytest.param(
            [SECRET], str(int(NOW) - MAX_SKEW_S), sig_of(SECRET, str(int(NOW) - 300)), REQUEST,
            None, id="edge-of-window",
        ),
        pytest.param(
            [], TS, sig_of(SECRET, TS), REQUEST,
            "no signal secrets are configured on this server", id="no-secrets",
        ),
        pytest.param(
            [SECRET], None, sig_of(SECRET, TS), REQUEST,
            "missing X-Signature-Timestamp or X-Signature header", id="no-timestamp",
        ),
        pytest.param(
            [SECRET], TS, None, REQUEST,
            "missing X-Signature-Timestamp or X-Signature header", id="no-signature",
        ),
        pytest.param(
            [SECRET], TS, "", REQUEST,
            "missing X-Signature-Timestamp or X-Signature header", id="empty-signature",
        ),
        pytest.param(
            [SECRET], "-5", sig_of(SECRET, "-5"), REQUEST,
            "X-Signature-Timestamp must be unix seconds", id="negative-timestamp",
        ),
        pytest.param(
            [SECRET], f"{NOW}", sig_of(SECRET, f"{NOW}"), REQUEST,
            "X-Signature-Timestamp must be unix seconds", id="fractional-timestamp",
        ),
        pytest.param(
            [SECRET], "１７９５０００００００", sig_of(SECRET, TS), REQUEST,
            "X-Signature-Timestamp must be unix seconds", id="fullwidth-digits",
        ),
        pytest.param(
            [SECRET], str(int(NOW) - 301), sig_of(SECRET, str(int(NOW) - 301)), REQUEST,
            "X-Signature-Timestamp is outside the 300 s window", id="stale",
        ),
        pytest.param(
            [SECRET], str(int(NOW) + 301), sig_of(SECRET, str(int(NOW) + 301)), REQUEST,
            "X-Signature-Timestamp is outside the 300 s window", id="future",
        ),
        pytest.param(
            [SECRET], TS, sig_of(b"other", TS), REQUEST,
            "signature does not match", id="other-secret",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, TS), REQUEST._replace(body=BODY + b" "),
            "signature does not match", id="body-changed",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, TS), REQUEST._replace(method="GET"),
            "signature does not match", id="method-changed",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, TS), REQUEST._replace(path=f"{PATH}/x/revocation"),
            "signature does not match", id="path-changed",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, TS), REQUEST._replace(path=f"{PATH}?a=1"),
            "signature does not match", id="query-added",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, str(int(NOW) - 1)), REQUEST,
            "signature does not match", id="timestamp-changed",
        ),
        pytest.param(
            [SECRET], TS, sig_of(SECRET, TS).removeprefix("sha256="), REQUEST,
            MALFORMED, id="no-prefix",
        ),
        pytest.param([SECRET], TS, sig_of(SECRET, TS).upper(), REQUEST, MALFORMED, id="upper-case"),
        pytest.param([SECRET], TS, sig_of(SECRET, TS)[:-1], REQUEST, MALFORMED, id="short"),
        pytest.param([SECRET], TS, sig_of(SECRET, TS) + "0", REQUEST, MALFORMED, id="long"),
        pytest.param([SECRET], TS, "sha256=" + "g" * 64, REQUEST, MALFORMED, id="not-hex"),
        pytest.param([SECRET], TS, "sha256=" + "é" * 64, REQUEST, MALFORMED, id="non-ascii"),
    ],
)  # fmt: skip
def test_signature_problem_table(
    secrets: list[bytes],
    timestamp: str | None,
    sig: str | None,
    request_: SignedRequest,
    expected: str | None,
) -> None:
    assert signature_problem(secrets, timestamp, sig, request_, NOW) == expected


def test_signature_signed_headers_are_accepted() -> None:
    headers = signed_headers(SECRET, "post", PATH, BODY, NOW + 0.9)

    assert headers["X-Signature-Timestamp"] == TS
    problem = signature_problem(
        [SECRET], headers["X-Signature-Timestamp"], headers["X-Signature"], REQUEST, NOW
    )
    assert problem is None


def test_signature_absurdly_long_timestamp_is_a_problem_not_a_crash() -> None:
    problem = signature_problem([SECRET], "9" * 5000, "sha256=00", REQUEST, NOW)

    assert problem == "X-Signature-Timestamp is outside the 300 s window"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://school.kz", "/"),
        ("https://school.kz/hooks/bot", "/hooks/bot"),
        ("https://school.kz:8443/in?token=a&b=1", "/in?token=a&b=1"),
    ],
)
def test_signature_url_target_is_the_path_as_sent(url: str, target: str) -> None:
    assert url_target(url) == target


# --- settings -----------------------------------------------------------------------------

SETTING_NAMES = [*Settings.model_fields]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment and a working directory without a .env file."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("name", "value", "message_part"),
    [
        ("DATABASE_URL", "not a url", "cannot parse"),
        ("DATABASE_URL", "mysql://x", "driver 'mysql' is not supported"),
        ("DATABASE_URL", "postgresql://db/x", "driver 'postgresql' is not supported"),
        ("DATA_KEY", "abc", "32 url-safe base64-encoded bytes"),
        ("DATA_KEY", "VecWQM9hHr-PD-73gizZCmRuT6BkxmA--Ww_qODNzL4=,short", "32 url-safe base64"),
        ("TIMEZONE", "Mars/Olympus_Mons", "unknown time zone"),
        ("HTTP_PORT", "70000", "less than or equal to 65535"),
        ("HTTP_PORT", "http", "valid integer"),
        ("TELEGRAM_API_URL", "api.telegram.org", "http:// or https://"),
        ("LOG_FORMAT", "xml", "pattern"),
        ("PUBLIC_BASE_URL", "bala.kz", "absolute http:// or https:// URL"),
        ("PUBLIC_BASE_URL", "https://bala.kz/pages", "scheme and host only"),
        ("PUBLIC_BASE_URL", "https://bala.kz/?a=1", "scheme and host only"),
    ],
)
def test_settings_malformed_value_raises_one_line_naming_field(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message_part: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"invalid configuration: {name}: ")
    assert message_part in message


def test_settings_public_base_url_loses_its_trailing_slash(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bala.kz:8443/")

    assert load_settings().PUBLIC_BASE_URL == "https://bala.kz:8443"


def test_settings_several_problems_reported_on_one_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PORT", "70000")
    monkeypatch.setenv("TIMEZONE", "Nowhere/City")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert "HTTP_PORT: " in message and "; TIMEZONE: " in message


def test_settings_defaults_without_environment(clean_env: Path) -> None:
    settings = load_settings()

    assert settings.DATABASE_URL == DEFAULT_DATABASE_URL
    assert (settings.HTTP_HOST, settings.HTTP_PORT, settings.TIMEZONE) == (
        "127.0.0.1",
        8080,
        "Asia/Almaty",
    )
    assert (settings.BOT_TOKEN, settings.DATA_KEY) == (None, None)
    assert settings.signal_secrets == []
    assert settings.data_dir == Path("var")


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("BOT_TOKEN", None),
        ("DATA_KEY", None),
        ("REDIS_URL", None),
        ("WEBHOOK_BASE_URL", None),
        ("DATABASE_URL", DEFAULT_DATABASE_URL),
        ("HTTP_PORT", 8080),
        ("TIMEZONE", "Asia/Almaty"),
        ("TELEGRAM_API_URL", "https://api.telegram.org"),
        ("TELEGRAM_RATE_PER_S", 30.0),
        ("LOG_FORMAT", "text"),
    ],
)
def test_settings_empty_env_value_is_unset(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, default: object
) -> None:
    monkeypatch.setenv(name, "")

    settings = load_settings()

    assert getattr(settings, name) == default


def test_settings_empty_value_in_dotenv_is_unset(clean_env: Path) -> None:
    (clean_env / ".env").write_text("HTTP_PORT=\nDATA_KEY=\nTIMEZONE=Asia/Oral\n")

    settings = load_settings()

    assert (settings.HTTP_PORT, settings.DATA_KEY, settings.TIMEZONE) == (8080, None, "Asia/Oral")


def test_settings_environment_overrides_dotenv(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text("HTTP_PORT=9000\n")
    monkeypatch.setenv("HTTP_PORT", "9100")

    assert load_settings().HTTP_PORT == 9100


def test_settings_signal_secrets_split_on_commas(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNAL_SECRETS", " old , new ,, ")

    assert load_settings().signal_secrets == [b"old", b"new"]


def test_settings_sqlite_data_dir_follows_database_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:////srv/bot/state/db.sqlite")

    assert load_settings().data_dir == Path("/srv/bot/state")


# --- the typed grade ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "grade"),
    [("1", 1), (" 11 ", 11), ("5 класс", 5), ("5-сынып", 5), ("7 СЫНЫП", 7), ("09", 9)],
)
def test_typed_grade_within_1_to_11_is_taken(typed: str, grade: int) -> None:
    assert parse_typed_grade(typed) == grade


@pytest.mark.parametrize("typed", ["0", "12", "-1", "бесінші", "", "5а", "١", "5 класс 6"])
def test_typed_grade_outside_1_to_11_gets_the_grade_answer(typed: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_typed_grade(typed)
    assert caught.value.text_key == "form.bad_grade"


GOOD_WEBHOOK_SECRET = "A-z_0123456789abcdefghijklmnopqrs"  # 33 characters


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"WEBHOOK_BASE_URL": "https://bot.kz"}, "webhook mode (WEBHOOK_BASE_URL is set) needs it"),
        ({"WEBHOOK_BASE_URL": "https://bot.kz", "WEBHOOK_SECRET": "x" * 31}, "must be 32 to 256"),
        ({"WEBHOOK_SECRET": "x" * 257}, "must be 32 to 256"),
        ({"WEBHOOK_SECRET": "x" * 31 + "!"}, "must be 32 to 256"),
        ({"WEBHOOK_SECRET": "ж" * 32}, "must be 32 to 256"),
    ],
    ids=["webhook-without-secret", "short", "long", "punctuation", "cyrillic"],
)
def test_settings_webhook_secret_rule_names_the_setting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert str(raised.value).startswith("invalid configuration: WEBHOOK_SECRET: ")
    assert problem in str(raised.value)
    assert env.get("WEBHOOK_SECRET", "\0") not in str(raised.value)


def test_settings_webhook_mode_with_a_strong_secret_loads(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_BASE_URL", "https://bot.kz")
    monkeypatch.setenv("WEBHOOK_SECRET", GOOD_WEBHOOK_SECRET)

    secret = load_settings().WEBHOOK_SECRET

    assert secret is not None and secret.get_secret_value() == GOOD_WEBHOOK_SECRET
