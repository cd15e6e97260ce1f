"""Staff accounts in the database: found by phone after a DATA_KEY rotation, one account
per phone, and a removed one given back."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.errors import DomainError
from bot.runtime import Services
from bot.usecases import staff_accounts
from bot.usecases.registry import RegistryLine, import_school_registry
from bot.usecases.rekey import rekey_personal_data
from tests.conftest import Database
from tests.factories import make_bin, make_phone
from tests.security.test_rekey import with_key


async def _school(svc: Services) -> str:
    bin_ = make_bin()
    line = RegistryLine(number=2, cells={"bin": bin_, "name_ru": "Школа № 3"})
    assert (await import_school_registry(svc, [line])).imported == 1
    return bin_


async def test_staff_accounts_found_by_phone_after_the_old_key_is_dropped(
    database: Database, services: Services
) -> None:
    bin_, phone = await _school(services), make_phone()
    await staff_accounts.add_staff(services, bin_, "Гүлнар Ахметова", phone)
    new_key = Fernet.generate_key().decode()
    both = with_key(services, f"{new_key},{services.settings.DATA_KEY.get_secret_value()}")

    report = await rekey_personal_data(both)
    alone = with_key(services, new_key)
    removed = await staff_accounts.remove_staff(alone, bin_, phone)

    assert report.rewritten["staff_accounts"] == 1 and report.undecryptable.total() == 0
    assert (removed.name, removed.phone) == ("Гүлнар Ахметова", phone)


async def test_staff_accounts_one_per_phone_and_a_removed_one_comes_back(
    database: Database, services: Services
) -> None:
    first, second, phone = await _school(services), await _school(services), make_phone()
    added, _ = await staff_accounts.add_staff(services, first, "Марат Исаев", phone)
    with pytest.raises(DomainError) as taken:
        await staff_accounts.add_staff(services, second, "Марат Исаев", phone)
    await staff_accounts.remove_staff(services, first, phone)
    again, school = await staff_accounts.add_staff(
        services, second, "Марат Исаев", phone, authority=True
    )
    _, at_first = await staff_accounts.list_staff(services, first)
    _, at_second = await staff_accounts.list_staff(services, second)

    assert taken.value.text_key == "web.phone_taken"
    assert again.id == added.id and school.bin == second
    assert at_first == [] and [(a.id, a.role) for a in at_second] == [(added.id, "authority")]
