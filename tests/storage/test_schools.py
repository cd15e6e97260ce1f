"""School registry on SQLite and PostgreSQL: CSV import, invite codes and `/link`, API keys,
and the `schools` / `stats` commands end to end."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from bot.cli import main
from bot.cli.schools import RegistryFileError, import_summary, read_registry
from bot.clock import FrozenClock
from bot.errors import DomainError, NotFound
from bot.runtime import Services
from bot.usecases.registry import ImportReport, import_school_registry
from bot.usecases.schools import (
    LinkOutcome,
    LinkResult,
    create_school_invite,
    issue_school_api_key,
    link_staff_chat,
)
from storage.models import AuditEvent, LinkToken, School, StaffChat
from storage.repositories.schools import school_for_api_key
from storage.repositories.tokens import token_hash
from tests.conftest import DATA_KEY, Database
from tests.factories import make_bin

HEADER = (
    "bin,name_kk,name_ru,authority_kk,authority_ru,locality,telegram_chat_id,"
    "webhook_url,webhook_secret,escalation_chat_id"
)
SECRET = "webhook-secret-Zq81-never-in-clear"
GROUP = -1001234567890


def bad_check_digit(bin_: str) -> str:
    return bin_[:11] + str((int(bin_[11]) + 1) % 10)


def write_csv(folder: Path, content: str, *, encoding: str = "utf-8") -> Path:
    path = folder / "schools.csv"
    path.write_bytes(content.encode(encoding))
    return path


async def import_text(svc: Services, folder: Path, content: str) -> ImportReport:
    return await import_school_registry(svc, read_registry(write_csv(folder, content)))


async def schools_by_bin(svc: Services) -> dict[str, School]:
    async with svc.sessions() as session:
        return {s.bin: s for s in await session.scalars(select(School))}


async def staff_chats(svc: Services) -> dict[int, int]:
    """{chat_id: school_id} of every staff chat."""
    async with svc.sessions() as session:
        return {c.chat_id: c.school_id for c in await session.scalars(select(StaffChat))}


async def raw_dump(database: Database) -> str:
    """Every value of every table, read with plain SQL, as one text."""
    values: list[str] = []
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                values += [render(value) for value in row]
    return "\n".join(values)


def render(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


# --- import ---------------------------------------------------------------------------------


async def test_import_new_schools_creates_rows_chat_and_encrypted_secret(
    services: Services, database: Database, tmp_path: Path
) -> None:
    first, second = make_bin(), make_bin()
    content = (
        f"{HEADER}\n"
        f"{first},№1 мектеп-гимназия,Школа-гимназия №1,Астана әкімдігі,Акимат Астаны,"
        f"Астана,{GROUP},https://school1.example.kz/hook,{SECRET},-100777\n"
        f"{second},,Школа №2,,,,,,,\n"
    )

    report = await import_text(services, tmp_path, content)

    assert (report.created, report.updated, report.rejections) == (2, 0, [])
    schools = await schools_by_bin(services)
    one, two = schools[first], schools[second]
    assert (one.name_kk, one.name_ru, one.authority_ru, one.locality) == (
        "№1 мектеп-гимназия",
        "Школа-гимназия №1",
        "Акимат Астаны",
        "Астана",
    )
    assert (one.webhook_url, one.escalation_chat_id) == ("https://school1.example.kz/hook", -100777)
    assert one.webhook_secret_enc is not None
    assert services.cipher.decrypt_text(one.webhook_secret_enc) == SECRET
    assert (two.name_kk, two.name_ru, two.webhook_url, two.webhook_secret_enc) == (
        None,
        "Школа №2",
        None,
        None,
    )
    assert await staff_chats(services) == {GROUP: one.id}
    assert SECRET not in await raw_dump(database)


async def test_import_again_updates_by_bin_and_keeps_staff_chat(
    services: Services, tmp_path: Path, clock: FrozenClock
) -> None:
    first, second, third = make_bin(), make_bin(), make_bin()
    await import_text(
        services,
        tmp_path,
        f"{HEADER}\n{first},,Старое имя,,,,{GROUP},,,\n{second},,Школа 2,,,,,,,\n",
    )
    created_at = (await schools_by_bin(services))[first].created_at
    clock.advance(timedelta(days=1))

    report = await import_text(
        services,
        tmp_path,
        "bin;name_ru;telegram_chat_id\n"
        f"{first};Новое имя;{GROUP}\n{second};Школа 2;\n{third};Школа 3;-42\n",
    )

    assert (report.created, report.updated, report.rejections) == (1, 2, [])
    schools = await schools_by_bin(services)
    assert [schools[b].name_ru for b in (first, second, third)] == [
        "Новое имя",
        "Школа 2",
        "Школа 3",
    ]
    assert schools[first].created_at == created_at
    assert schools[first].updated_at == clock.now()
    assert await staff_chats(services) == {GROUP: schools[first].id, -42: schools[third].id}
    assert import_summary(report) == "imported 3 schools (1 new, 2 updated), rejected 0 lines"


async def test_import_reports_every_rejection_with_its_line(
    services: Services, tmp_path: Path
) -> None:
    good, last, other = make_bin(), make_bin(), make_bin()
    wrong = bad_check_digit(make_bin())
    b = [make_bin() for _ in range(8)]
    content = (
        f"{HEADER}\n"
        f"{good},,Хорошая школа,,,,{GROUP},,,\n"  # line 2
        f"{wrong},,Школа,,,,,,,\n"  # 3
        "12345,,Школа,,,,,,,\n"  # 4
        ",,Школа без БИН,,,,,,,\n"  # 5
        "\n"  # 6: blank, skipped
        f"{b[0]},,,,,,,,,\n"  # 7
        f"{b[1]},,Школа,,,,-100abc,,,\n"  # 8
        f"{b[2]},,Школа,,,,,,,chat\n"  # 9
        f"{b[3]},,Школа,,,,,ftp://school.kz/hook,s,\n"  # 10
        f"{b[4]},,Школа,,,,,https://school.kz/hook,,\n"  # 11
        f"{b[5]},,Школа,,,,,,lonely-secret,\n"  # 12
        f"{good},,Хорошая школа снова,,,,,,,\n"  # 13
        f"{other},,Другая школа,,,,{GROUP},,,\n"  # 14
        f'{b[6]},,"Школа, с запятой",,,,,,,,extra\n'  # 15
        f"{b[7]},,Школа,,,,0,,,\n"  # 16
        f"{last},,Последняя,,,,,,,\n"  # 17
    )

    report = await import_text(services, tmp_path, content)

    assert [str(r) for r in report.rejections] == [
        f"line 3: bin {wrong}: BIN check digit does not match",
        "line 4: bin 12345: BIN must be exactly 12 digits",
        "line 5: bin is empty",
        f"line 7: bin {b[0]}: no name: fill name_kk or name_ru",
        f"line 8: bin {b[1]}: telegram_chat_id '-100abc' is not a Telegram chat id "
        "(an integer, may be negative)",
        f"line 9: bin {b[2]}: escalation_chat_id 'chat' is not a Telegram chat id "
        "(an integer, may be negative)",
        f"line 10: bin {b[3]}: webhook_url must be an http:// or https:// address",
        f"line 11: bin {b[4]}: webhook_secret is required when webhook_url is given",
        f"line 12: bin {b[5]}: webhook_secret is given without webhook_url",
        f"line 13: bin {good}: repeats line 2; each school once per file",
        f"line 14: bin {other}: telegram_chat_id {GROUP} is already used on line 2 "
        "for another school",
        f"line 15: bin {b[6]}: 1 more value(s) than the header has columns",
        f"line 16: bin {b[7]}: telegram_chat_id '0' is not a Telegram chat id "
        "(an integer, may be negative)",
    ]
    assert (report.created, report.updated) == (2, 0)
    assert set(await schools_by_bin(services)) == {good, last}
    assert import_summary(report) == "imported 2 schools (2 new, 0 updated), rejected 13 lines"


@pytest.mark.parametrize("url", ["ftp://school.kz/h", "http://[::1", "https://", "school.kz/hook"])
async def test_import_webhook_url_not_http_rejected(
    services: Services, tmp_path: Path, url: str
) -> None:
    bin_ = make_bin()

    report = await import_text(
        services, tmp_path, f'bin,name_ru,webhook_url,webhook_secret\n{bin_},Школа,"{url}",s\n'
    )

    assert [str(r) for r in report.rejections] == [
        f"line 2: bin {bin_}: webhook_url must be an http:// or https:// address"
    ]


async def test_import_chat_of_another_school_rejects_line(
    services: Services, tmp_path: Path
) -> None:
    owner, other = make_bin(), make_bin()
    await import_text(services, tmp_path, f"bin,name_ru,telegram_chat_id\n{owner},Первая,{GROUP}\n")

    report = await import_text(
        services,
        tmp_path,
        f"bin,name_ru,telegram_chat_id\n{owner},Первая,\n{other},Вторая,{GROUP}\n",
    )

    assert [str(r) for r in report.rejections] == [
        f"line 3: bin {other}: telegram_chat_id {GROUP} is the inbox of school {owner}"
    ]
    assert (report.created, report.updated) == (0, 1)
    schools = await schools_by_bin(services)
    assert set(schools) == {owner}
    assert await staff_chats(services) == {GROUP: schools[owner].id}


async def test_import_only_invalid_lines_writes_nothing(services: Services, tmp_path: Path) -> None:
    report = await import_text(services, tmp_path, "bin,name_ru\n12345,Школа\n")

    assert (report.imported, len(report.rejections)) == (0, 1)
    async with services.sessions() as session:
        assert list(await session.scalars(select(School))) == []
        assert list(await session.scalars(select(AuditEvent))) == []


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-8-sig", ";"), ("utf-8", ";")],
)
def test_read_registry_bom_and_semicolon(tmp_path: Path, encoding: str, delimiter: str) -> None:
    bin_ = make_bin()
    row = delimiter.join([bin_, "Мектеп", "Школа; «Ромашка»" if delimiter == "," else "Школа"])
    path = write_csv(
        tmp_path, f"BIN{delimiter}name_kk{delimiter}name_ru\r\n{row}\r\n", encoding=encoding
    )

    lines = read_registry(path)

    assert [(line.number, dict(line.cells)) for line in lines] == [
        (
            2,
            {
                "bin": bin_,
                "name_kk": "Мектеп",
                "name_ru": "Школа; «Ромашка»" if delimiter == "," else "Школа",
            },
        )
    ]


def test_read_registry_counts_lines_of_quoted_multiline_cells(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f'bin,name_ru\n{make_bin()},"Школа\nна две строки"\n12345,X\n')

    assert [line.number for line in read_registry(path)] == [2, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("bin,name_ru,phone\n", "bad header: unknown columns phone; allowed: bin, name_kk"),
        ("name_ru,locality\n", "bad header: the header has no bin column"),
        ("bin,locality\n", "bad header: the header needs a name_kk or a name_ru column"),
        ("bin,name_ru,BIN\n", "bad header: columns appear more than once: bin"),
        ("", "the first line must be the header"),
    ],
)
def test_read_registry_bad_header_raises(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(RegistryFileError, match=re.escape(message)):
        read_registry(write_csv(tmp_path, content))


def test_read_registry_unreadable_files_raise(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("bin,name_ru\n000000000000,Шк\n".encode("cp1251"))

    with pytest.raises(RegistryFileError, match="is not UTF-8 text"):
        read_registry(latin)
    with pytest.raises(RegistryFileError, match="cannot read"):
        read_registry(tmp_path / "missing.csv")


# --- invite codes and /link -----------------------------------------------------------------


async def add_school(svc: Services, name_ru: str = "Школа №7", name_kk: str | None = None) -> str:
    bin_ = make_bin()
    async with svc.sessions.begin() as session:
        now = svc.clock.now()
        session.add(
            School(bin=bin_, name_ru=name_ru, name_kk=name_kk, created_at=now, updated_at=now)
        )
    return bin_


async def test_invite_code_stored_only_as_hash(services: Services, database: Database) -> None:
    bin_ = await add_school(services)

    invite = await create_school_invite(services, bin_)

    raw = invite.code.replace("-", "")
    assert re.fullmatch(
        r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", invite.code
    )
    assert invite.expires_at == services.clock.now() + timedelta(hours=72)
    async with services.sessions() as session:
        token = (await session.scalars(select(LinkToken))).one()
    assert (token.purpose, token.token_hash) == ("school_invite", token_hash(raw))
    dump = await raw_dump(database)
    assert raw not in dump and invite.code not in dump


async def test_link_staff_chat_with_code_creates_inbox_and_audit(services: Services) -> None:
    bin_ = await add_school(services, "Школа «Ромашка»", "«Түймедақ» мектебі")
    invite = await create_school_invite(services, bin_)

    result = await link_staff_chat(services, f" {invite.code.lower()} ", GROUP, 5551)

    assert result == LinkResult(LinkOutcome.LINKED, "«Түймедақ» мектебі", "Школа «Ромашка»")
    school = (await schools_by_bin(services))[bin_]
    assert await staff_chats(services) == {GROUP: school.id}
    async with services.sessions() as session:
        chat = (await session.scalars(select(StaffChat))).one()
        token = (await session.scalars(select(LinkToken))).one()
        events = [
            (e.case_id, e.actor, e.event, e.details)
            for e in await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert chat.linked_by_user_id == 5551
    assert token.used_at == services.clock.now()
    assert events[-1] == (
        None,
        "telegram:5551",
        "staff_chat_linked",
        {"school_id": school.id, "chat_id": GROUP, "already_linked": False},
    )


async def test_link_code_works_once(services: Services) -> None:
    invite = await create_school_invite(services, await add_school(services))
    first = await link_staff_chat(services, invite.code, GROUP, 1)

    again = await link_staff_chat(services, invite.code, -100999, 1)

    assert (first.outcome, again.outcome) == (LinkOutcome.LINKED, LinkOutcome.USED)
    assert list(await staff_chats(services)) == [GROUP]


async def test_link_code_expires_after_72_hours(services: Services, clock: FrozenClock) -> None:
    invite = await create_school_invite(services, await add_school(services))
    clock.advance(timedelta(hours=73))

    result = await link_staff_chat(services, invite.code, GROUP, 1)

    assert result == LinkResult(LinkOutcome.EXPIRED)
    assert await staff_chats(services) == {}


async def test_link_code_valid_just_before_expiry(services: Services, clock: FrozenClock) -> None:
    invite = await create_school_invite(services, await add_school(services))
    clock.advance(timedelta(hours=71, minutes=59))

    assert (await link_staff_chat(services, invite.code, GROUP, 1)).outcome is LinkOutcome.LINKED


async def test_link_chat_of_another_school_refused_and_code_kept(services: Services) -> None:
    first = await create_school_invite(services, await add_school(services, "Первая"))
    second = await create_school_invite(services, await add_school(services, "Вторая"))
    await link_staff_chat(services, first.code, GROUP, 1)

    taken = await link_staff_chat(services, second.code, GROUP, 2)
    elsewhere = await link_staff_chat(services, second.code, -100555, 2)

    assert taken == LinkResult(LinkOutcome.CHAT_TAKEN)
    assert elsewhere.outcome is LinkOutcome.LINKED
    assert sorted(await staff_chats(services)) == sorted([GROUP, -100555])


async def test_link_same_chat_again_for_same_school_is_already_linked(services: Services) -> None:
    bin_ = await add_school(services)
    first = await create_school_invite(services, bin_)
    second = await create_school_invite(services, bin_)
    await link_staff_chat(services, first.code, 777, 777)

    result = await link_staff_chat(services, second.code, 777, 777)

    assert result.outcome is LinkOutcome.ALREADY_LINKED and result.linked
    assert list(await staff_chats(services)) == [777]


@pytest.mark.parametrize("code", ["", "   ", "WRONG-CODE-1234", "x" * 300])
async def test_link_unknown_code_refused(services: Services, code: str) -> None:
    await create_school_invite(services, await add_school(services))

    assert await link_staff_chat(services, code, GROUP, 1) == LinkResult(LinkOutcome.UNKNOWN_CODE)
    assert await staff_chats(services) == {}


async def test_invite_unknown_or_invalid_bin_raises(services: Services) -> None:
    with pytest.raises(NotFound, match="no school with BIN"):
        await create_school_invite(services, make_bin())
    with pytest.raises(DomainError, match="BIN check digit does not match"):
        await create_school_invite(services, bad_check_digit(make_bin()))


# --- decision-API keys ----------------------------------------------------------------------


async def test_api_key_stored_hashed_and_finds_school(
    services: Services, database: Database
) -> None:
    bin_ = await add_school(services)

    issued = await issue_school_api_key(services, bin_)

    assert len(issued.key) >= 43
    assert issued.key not in await raw_dump(database)
    async with services.sessions() as session:
        found = await school_for_api_key(session, issued.key)
        wrong = await school_for_api_key(session, issued.key + "x")
        empty = await school_for_api_key(session, "")
    assert found is not None and found.bin == bin_
    assert found.api_key_hash == token_hash(issued.key)
    assert (wrong, empty) == (None, None)


async def test_api_key_new_key_replaces_old(services: Services) -> None:
    bin_ = await add_school(services)
    old = await issue_school_api_key(services, bin_)

    new = await issue_school_api_key(services, bin_)

    async with services.sessions() as session:
        by_old = await school_for_api_key(session, old.key)
        by_new = await school_for_api_key(session, new.key)
    assert by_old is None
    assert by_new is not None and by_new.bin == bin_


async def test_api_key_unknown_bin_raises(services: Services) -> None:
    with pytest.raises(NotFound):
        await issue_school_api_key(services, make_bin())


# --- the commands end to end (SQLite file, real settings) -----------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings from the environment of a fresh folder; logging restored afterwards."""
    db_file = tmp_path / "var" / "cli.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db_file}")
    monkeypatch.setenv("DATA_KEY", DATA_KEY)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield db_file
    root.handlers[:] = handlers
    root.setLevel(level)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_schools_import_invite_key_stats(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, wrong = make_bin(), bad_check_digit(make_bin())
    csv_file = write_csv(
        tmp_path,
        f"bin,name_ru,telegram_chat_id\n{good},Школа №1,{GROUP}\n{wrong},Школа 2,\n",
        encoding="utf-8-sig",
    )

    imported = run_cli(capsys, "schools", "import", str(csv_file))
    invite = run_cli(capsys, "schools", "invite", good)
    key = run_cli(capsys, "schools", "key", good)
    stats = run_cli(capsys, "stats")

    assert imported == (
        0,
        f"line 3: bin {wrong}: BIN check digit does not match\n"
        "imported 1 school (1 new, 0 updated), rejected 1 line\n",
        "",
    )
    with sqlite3.connect(cli_env) as conn:
        schools = conn.execute("SELECT bin, name_ru, api_key_hash FROM schools").fetchall()
        chats = conn.execute("SELECT chat_id FROM staff_chats").fetchall()
        token = conn.execute("SELECT token_hash FROM link_tokens").fetchone()
    code = re.search(r"send /link (\S+) to the bot", invite[1])
    api_key = re.search(r"\n\n    (\S+)\n\n", key[1])
    assert invite[0] == 0 and code is not None
    assert f"school {good} «Школа №1»" in invite[1] and "(Asia/Almaty)" in invite[1]
    assert token == (token_hash(code.group(1).replace("-", "")),)
    assert key[0] == 0 and api_key is not None and "cannot be shown again" in key[1]
    assert schools == [(good, "Школа №1", token_hash(api_key.group(1)))]
    assert chats == [(GROUP,)]
    assert stats[0] == 0
    assert re.search(r"^  received +0$", stats[1], re.MULTILINE)


def test_cli_schools_import_only_errors_exits_1(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path, "bin;name_ru\n12345;Школа\n")

    assert run_cli(capsys, "schools", "import", str(path)) == (
        1,
        "line 2: bin 12345: BIN must be exactly 12 digits\n"
        "imported 0 schools (0 new, 0 updated), rejected 1 line\n",
        "",
    )


def test_cli_schools_import_header_only_exits_1(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path, "bin,name_ru\n")

    code, _, err = run_cli(capsys, "schools", "import", str(path))

    assert (code, err) == (1, f"homeschool-bot: {path} has a header but no school lines\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("bin,name,phone\n1,2,3\n", "bad header: unknown columns name, phone"),
        (b"\xff\xfeb\x00i\x00n\x00", "is not UTF-8 text"),
    ],
)
def test_cli_schools_import_bad_file_exits_2(
    cli_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes,
    message: str,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    code, out, err = run_cli(capsys, "schools", "import", str(path))

    assert (code, out) == (2, "")
    assert err.startswith("homeschool-bot: ") and message in err
    assert not cli_env.exists()  # nothing was opened, let alone written


@pytest.mark.parametrize("action", ["invite", "key"])
def test_cli_schools_unknown_bin_exits_1(
    cli_env: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    bin_ = make_bin()

    assert run_cli(capsys, "schools", action, bin_) == (
        1,
        "",
        f"homeschool-bot: no school with BIN {bin_} in the registry\n",
    )
