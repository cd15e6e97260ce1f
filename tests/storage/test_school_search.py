"""School search on SQLite and PostgreSQL: words looked up in an index, folded like people
type them, kept in step with the registry import, filled in for schools stored before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bot.runtime import Services
from bot.usecases.registry import RegistryLine, import_school_registry
from storage.migrate import downgrade_to, upgrade_to_head
from storage.repositories.schools import find_schools, search_words
from tests.conftest import Database
from tests.factories import make_bin

GYMNASIUM = {"name_kk": "Абай атындағы № 7 гимназия", "name_ru": "Гимназия № 7 имени Абая"}
SCHOOL_12 = {
    "name_kk": "№ 12 жалпы орта білім беретін мектеп",
    "name_ru": "Общеобразовательная школа №12",
    "locality": "Қосшы",
}


async def add_schools(svc: Services, *schools: dict[str, str]) -> list[str]:
    bins = [make_bin() for _ in schools]
    lines = [
        RegistryLine(number=n + 2, cells={"bin": bin_, **cells})
        for n, (bin_, cells) in enumerate(zip(bins, schools, strict=True))
    ]
    report = await import_school_registry(svc, lines)
    assert report.imported == len(schools), report.rejections
    return bins


async def found(svc: Services, query: str, limit: int = 8) -> list[str]:
    async with svc.sessions() as session:
        return [school.bin for school in await find_schools(session, query, limit)]


def test_search_words_fold_case_and_split_at_signs() -> None:
    assert search_words("ҚОСШЫ ауданы, №12", None, "") == {"қосшы", "ауданы", "12"}
    assert search_words("Школа\u0306") == search_words("Школӑ")  # decomposed й -> NFC


async def test_find_schools_matches_word_prefixes_of_every_typed_word(
    services: Services,
) -> None:
    gymnasium, school_12 = await add_schools(services, GYMNASIUM, SCHOOL_12)

    assert await found(services, "гимназия") == [gymnasium]
    assert await found(services, "ГИМН абая") == [gymnasium]
    assert await found(services, "ҚОСШЫ") == [school_12]  # Kazakh capitals, locality
    assert await found(services, "школа № 12") == [school_12]  # "№12" is stored as "12"
    assert await found(services, "мектеп 7") == []  # every word must match one school
    assert await found(services, school_12) == [school_12]  # by BIN
    assert await found(services, "№ ,") == []  # no word typed at all


async def test_find_schools_returns_the_first_schools_by_id_up_to_the_limit(
    services: Services,
) -> None:
    bins = await add_schools(services, *({"name_ru": f"Школа № {n}"} for n in range(12)))

    assert await found(services, "школа", limit=8) == bins[:8]


async def test_find_schools_follows_a_renamed_school_on_reimport(services: Services) -> None:
    [bin_] = await add_schools(services, {"name_ru": "Школа-лицей № 3", "locality": "Косшы"})
    line = RegistryLine(
        number=2, cells={"bin": bin_, "name_ru": "Гимназия № 3", "locality": "Астана"}
    )

    await import_school_registry(services, [line])

    assert await found(services, "гимназия") == [bin_]
    assert await found(services, "лицей") == []
    assert await found(services, "косшы") == []
    assert await found(services, "астана гимназия") == [bin_]


async def test_find_schools_reads_the_word_index(services: Services, database: Database) -> None:
    await add_schools(services, GYMNASIUM, SCHOOL_12)
    query = "SELECT school_id FROM school_words WHERE word >= :low AND word < :high"
    params = {"low": "гимн", "high": "гимн\U0010ffff"}
    async with database.engine.connect() as conn:
        if database.backend == "sqlite":
            plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {query}"), params)).all()
            detail = " ".join(str(row[-1]) for row in plan)
            assert "USING" in detail and "INDEX" in detail, detail
        else:
            await conn.execute(text("SET enable_seqscan = off"))
            plan = (await conn.execute(text(f"EXPLAIN {query}"), params)).all()
            detail = " ".join(str(row[0]) for row in plan)
            assert "pk_school_words" in detail, detail
        rows = (await conn.execute(text(query), params)).all()
    assert len(rows) == 1


async def test_migration_fills_in_words_of_schools_stored_before_it(
    services: Services, database: Database, tmp_path: Path
) -> None:
    await downgrade_to(database.engine, "0003")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO schools (bin, name_kk, name_ru, locality, created_at, updated_at)"
                " VALUES (:bin, :kk, :ru, :locality, :now, :now)"
            ),
            {
                "bin": "123456789012",
                "kk": "Абай мектебі",
                "ru": None,
                "locality": "Қосшы",
                "now": now,
            },
        )

    await upgrade_to_head(database.engine)

    assert await found(services, "абай қосшы") == ["123456789012"]
