"""Working-day calendar: registration time and 2-working-day deadline on real KZ dates.

Expected dates come from order No. 223 annex 1 (hours, lunch break and the next-working-day
rule) and from `holidays.country_holidays("KZ")` 0.109 (0.101, the floor, gives the same 2026),
which the tests below also query directly so that a package upgrade that changes a date fails
loudly here instead of moving deadlines silently.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pytest

from bot.clock import service_zone
from bot.domain.calendar import WorkingCalendar, load_calendar, parse_overrides
from bot.settings import Settings

ALMATY = ZoneInfo("Asia/Almaty")
CAL = load_calendar(ALMATY)  # the packaged override file, as in production


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """Return an Asia/Almaty wall-clock time."""
    return datetime(y, mo, d, h, mi, tzinfo=ALMATY)


# (submitted, registered, deadline). Sources are in the comments.
REAL_DATES = [
    pytest.param(
        # Annex 1: on a working day within 09:00-17:30 registration is immediate; Mon + 2 = Wed.
        at(2026, 11, 30, 10),
        at(2026, 11, 30, 10),
        at(2026, 12, 2, 17, 30),
        id="monday-10am",
    ),
    pytest.param(
        # Fri + 2 working days skips the weekend: Mon 30 Nov (1), Tue 1 Dec (2).
        at(2026, 11, 27, 10),
        at(2026, 11, 27, 10),
        at(2026, 12, 1, 17, 30),
        id="friday-10am",
    ),
    pytest.param(
        # After 17:30 on Friday -> next working day Monday 09:00; Mon + 2 = Wed.
        at(2026, 11, 27, 18),
        at(2026, 11, 30, 9),
        at(2026, 12, 2, 17, 30),
        id="friday-evening",
    ),
    pytest.param(
        # Before 09:00 on a working day -> 09:00 the same day.
        at(2026, 12, 1, 8, 59),
        at(2026, 12, 1, 9),
        at(2026, 12, 3, 17, 30),
        id="before-0900",
    ),
    pytest.param(
        # 17:30 is the last minute of intake (annex 1: "09:00-17:30"), so it is still that day.
        at(2026, 12, 1, 17, 30),
        at(2026, 12, 1, 17, 30),
        at(2026, 12, 3, 17, 30),
        id="exactly-1730",
    ),
    pytest.param(
        # 17:31 is after intake -> Wed 2 Dec 09:00; Wed + 2 = Fri 4 Dec.
        at(2026, 12, 1, 17, 31),
        at(2026, 12, 2, 9),
        at(2026, 12, 4, 17, 30),
        id="at-1731",
    ),
    pytest.param(
        # Annex 1 item 7: lunch break 13:00-14:30. Confirmed at 13:00 -> registered at 14:30.
        at(2026, 11, 30, 13),
        at(2026, 11, 30, 14, 30),
        at(2026, 12, 2, 17, 30),
        id="lunch-1300",
    ),
    pytest.param(
        # 14:29 is still the lunch break -> 14:30 the same day.
        at(2026, 11, 30, 14, 29),
        at(2026, 11, 30, 14, 30),
        at(2026, 12, 2, 17, 30),
        id="lunch-1429",
    ),
    pytest.param(
        # 12:59 is before the break and 14:30 after it: both registered as they are.
        at(2026, 11, 30, 12, 59),
        at(2026, 11, 30, 12, 59),
        at(2026, 12, 2, 17, 30),
        id="before-lunch-1259",
    ),
    pytest.param(
        at(2026, 11, 30, 14, 30),
        at(2026, 11, 30, 14, 30),
        at(2026, 12, 2, 17, 30),
        id="after-lunch-1430",
    ),
    pytest.param(
        # Lunch on a day off is just a day off: Saturday 13:30 -> Monday 09:00.
        at(2026, 11, 28, 13, 30),
        at(2026, 11, 30, 9),
        at(2026, 12, 2, 17, 30),
        id="lunch-on-saturday",
    ),
    pytest.param(
        # Constitution Day moved to 15 March from 2027 and is not kept in 2026, so Monday
        # 31 Aug 2026 is a working day (holidays 0.100 still observed Sun 30 Aug on it; fixed
        # in 0.101, the floor in pyproject.toml). Fri 28 Aug evening -> Mon 31 Aug 09:00;
        # Tue 1 Sep (1), Wed 2 Sep (2).
        at(2026, 8, 28, 18),
        at(2026, 8, 31, 9),
        at(2026, 9, 2, 17, 30),
        id="31-aug-2026-working",
    ),
    pytest.param(
        # Saturday is a day off -> Monday 09:00.
        at(2026, 11, 28, 12),
        at(2026, 11, 30, 9),
        at(2026, 12, 2, 17, 30),
        id="saturday",
    ),
    pytest.param(
        # Nauryz 21-23 Mar 2026 is Sat-Mon; holidays 0.109 moves Sat/Sun to Tue 24 and Wed 25.
        # Fri 20 Mar 10:00 is registered at once; working days after: Thu 26 (1), Fri 27 (2).
        at(2026, 3, 20, 10),
        at(2026, 3, 20, 10),
        at(2026, 3, 27, 17, 30),
        id="day-before-nauryz",
    ),
    pytest.param(
        # Fri 20 Mar after 17:30 -> first working day after Nauryz is Thu 26 Mar; + 2 = Mon 30.
        at(2026, 3, 20, 18),
        at(2026, 3, 26, 9),
        at(2026, 3, 30, 17, 30),
        id="evening-before-nauryz",
    ),
    pytest.param(
        # New Year 2026: 1-2 Jan are Thu-Fri, no transfer in holidays 0.109 (and none decreed:
        # 5-6 Jan 2026 were working days). Mon 5 Jan 09:00; Tue 6 (1), 7 Jan Orthodox
        # Christmas, Thu 8 (2).
        at(2025, 12, 31, 18),
        at(2026, 1, 5, 9),
        at(2026, 1, 8, 17, 30),
        id="new-year-2026",
    ),
    pytest.param(
        # New Year 2027: 1 Jan Fri, 2 Jan Sat observed on Mon 4 Jan (holidays 0.109). Tue 5 Jan;
        # Wed 6 (1), Thu 7 Orthodox Christmas (never moved), Fri 8 (2).
        at(2026, 12, 31, 18),
        at(2027, 1, 5, 9),
        at(2027, 1, 8, 17, 30),
        id="new-year-2027",
    ),
    pytest.param(
        # New Year 2027 falls inside the term: Wed 30 Dec + 2 = Thu 31 Dec (1), Tue 5 Jan (2).
        at(2026, 12, 30, 12),
        at(2026, 12, 30, 12),
        at(2027, 1, 5, 17, 30),
        id="term-across-new-year-2027",
    ),
    pytest.param(
        # Independence Day Wed 16 Dec 2026 (one day since 2022). Tue evening -> Thu 17 Dec;
        # Fri 18 (1), Mon 21 (2).
        at(2026, 12, 15, 18),
        at(2026, 12, 17, 9),
        at(2026, 12, 21, 17, 30),
        id="independence-day-eve",
    ),
    pytest.param(
        # Submitted on Independence Day itself -> Thu 17 Dec 09:00, same as above.
        at(2026, 12, 16, 11),
        at(2026, 12, 17, 9),
        at(2026, 12, 21, 17, 30),
        id="on-independence-day",
    ),
    pytest.param(
        # Kurban Ait 2026 = Wed 27 May (holidays 0.109 estimate, pinned in the packaged override
        # file). Mon 25 May + 2 = Tue 26 (1), Thu 28 (2).
        at(2026, 5, 25, 12),
        at(2026, 5, 25, 12),
        at(2026, 5, 28, 17, 30),
        id="term-across-kurban-ait-2026",
    ),
    pytest.param(
        # Tue 26 May after 17:30 -> Thu 28 May 09:00; Fri 29 (1), Mon 1 Jun (2).
        at(2026, 5, 26, 17, 31),
        at(2026, 5, 28, 9),
        at(2026, 6, 1, 17, 30),
        id="kurban-ait-2026-eve",
    ),
    pytest.param(
        # Government decree for 2024 (holidays 0.109 KazakhstanStaticHolidays, 2024: day off
        # moved from Sat 4 May to Wed 8 May): Sat 4 May 2024 is a working day. Then 7 May
        # Defender of the Fatherland Day, 8 May moved day off, 9 May Victory Day:
        # Mon 6 (1), Fri 10 (2).
        at(2024, 5, 3, 18),
        at(2024, 5, 4, 9),
        at(2024, 5, 10, 17, 30),
        id="moved-working-saturday-2024",
    ),
    pytest.param(
        # holidays 0.109, 2025: day off moved from Sun 5 Jan to Fri 3 Jan, so Sun 5 Jan 2025 is
        # working. Sat 4 Jan -> Sun 5 Jan 09:00; Mon 6 (1), 7 Jan Christmas, Wed 8 (2).
        at(2025, 1, 4, 12),
        at(2025, 1, 5, 9),
        at(2025, 1, 8, 17, 30),
        id="moved-working-sunday-2025",
    ),
]


@pytest.mark.parametrize(("submitted", "registered", "deadline"), REAL_DATES)
def test_registration_time_real_dates_match_order_223(
    submitted: datetime, registered: datetime, deadline: datetime
) -> None:
    actual = CAL.registration_time(submitted)
    assert actual == registered
    assert actual.tzinfo is ALMATY


@pytest.mark.parametrize(("submitted", "registered", "deadline"), REAL_DATES)
def test_deadline_real_dates_end_of_second_working_day(
    submitted: datetime, registered: datetime, deadline: datetime
) -> None:
    assert CAL.deadline(registered) == deadline
    assert CAL.deadline(submitted) == deadline  # raw submission time is normalised first


@pytest.mark.parametrize(
    ("submitted_utc", "registered"),
    [
        # Almaty is UTC+5 all year since 1 Mar 2024: 12:30Z is 17:30 local (still Friday).
        (datetime(2026, 11, 27, 12, 30, tzinfo=UTC), at(2026, 11, 27, 17, 30)),
        # 12:31Z is 17:31 local -> Monday 09:00.
        (datetime(2026, 11, 27, 12, 31, tzinfo=UTC), at(2026, 11, 30, 9)),
        # 03:59Z Tuesday is 08:59 local -> 09:00 local.
        (datetime(2026, 12, 1, 3, 59, tzinfo=UTC), at(2026, 12, 1, 9)),
    ],
)
def test_registration_time_other_zone_uses_almaty_wall_clock(
    submitted_utc: datetime, registered: datetime
) -> None:
    actual = CAL.registration_time(submitted_utc)
    assert actual == registered
    assert actual.utcoffset() == registered.utcoffset()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 20), True),  # Friday before Nauryz
        (date(2026, 3, 23), False),  # Nauryz (Monday)
        (date(2026, 3, 24), False),  # Nauryz observed (for Sat 21)
        (date(2026, 3, 25), False),  # Nauryz observed (for Sun 22)
        (date(2026, 5, 11), False),  # Victory Day (Sat 9 May) observed on Monday
        (date(2026, 5, 27), False),  # Kurban Ait 2026
        (date(2026, 7, 6), False),  # Capital Day
        (date(2026, 8, 31), True),  # holidays 0.109: no Constitution Day in 2026 (15 Mar from 2027)
        (date(2026, 10, 26), False),  # Republic Day (Sun 25 Oct) observed on Monday
        (date(2026, 12, 16), False),  # Independence Day
        (date(2024, 5, 4), True),  # Saturday made working by the 2024 transfer
        (date(2024, 5, 8), False),  # the day off it was moved to
        (date(2025, 1, 3), False),  # day off moved from Sun 5 Jan 2025
        (date(2025, 1, 5), True),  # Sunday made working
        (date(2013, 12, 28), True),  # Saturday worked for Fri 3 Jan 2014 (filed under 2014)
    ],
)
def test_is_working_day_known_kz_days(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "name_part"),
    [
        (date(2026, 3, 24), "Nowruz"),
        (date(2026, 5, 27), "Eid al-Adha"),
        (date(2026, 12, 16), "Independence"),
        (date(2027, 1, 4), "New Year"),
        (date(2024, 5, 8), "substituted"),
    ],
)
def test_holidays_package_kz_still_lists_dates_the_table_relies_on(
    day: date, name_part: str
) -> None:
    known = holidays.country_holidays("KZ", years=day.year, language="en_US")
    assert name_part in known.get(day, "")


def test_holidays_package_kz_2026_has_no_day_transfers() -> None:
    known = holidays.country_holidays("KZ", years=[2026, 2027], language="en_US")
    transfers_2026 = [d for d, name in known.items() if d.year == 2026 and "substituted" in name]
    assert transfers_2026 == []
    assert [d for d in known.weekend_workdays if d.year == 2026] == []


def test_is_working_day_overrides_win_over_package() -> None:
    cal = WorkingCalendar(
        ALMATY,
        extra_days_off=frozenset({date(2026, 12, 1)}),
        extra_working_days=frozenset({date(2026, 12, 16), date(2026, 11, 28)}),
    )
    assert cal.is_working_day(date(2026, 12, 1)) is False  # a Tuesday made a day off
    assert cal.is_working_day(date(2026, 12, 16)) is True  # a package holiday cancelled
    assert cal.is_working_day(date(2026, 11, 28)) is True  # a Saturday made working


def test_working_calendar_same_date_both_ways_raises() -> None:
    with pytest.raises(ValueError, match="2026-12-01"):
        WorkingCalendar(
            ALMATY,
            extra_days_off=frozenset({date(2026, 12, 1)}),
            extra_working_days=frozenset({date(2026, 12, 1)}),
        )


def test_next_working_day_is_strictly_after_a_working_day() -> None:
    assert CAL.next_working_day(date(2026, 11, 30)) == date(2026, 12, 1)


def test_add_working_days_zero_returns_day_and_negative_raises() -> None:
    assert CAL.add_working_days(date(2026, 11, 28), 0) == date(2026, 11, 28)
    with pytest.raises(ValueError, match="n must be >= 0"):
        CAL.add_working_days(date(2026, 11, 30), -1)


def test_deadline_zero_working_days_is_end_of_registration_day() -> None:
    assert CAL.deadline(at(2026, 11, 28, 12), working_days=0) == at(2026, 11, 30, 17, 30)


def test_morning_of_is_0900_local() -> None:
    actual = CAL.morning_of(date(2026, 12, 2))
    assert actual == at(2026, 12, 2, 9)
    assert actual.tzinfo is ALMATY
    assert actual.time() == time(9, 0)


@pytest.mark.parametrize("method", ["registration_time", "deadline"])
def test_naive_datetime_is_rejected(method: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(CAL, method)(datetime(2026, 11, 30, 10, 0))


def test_is_working_day_datetime_argument_raises() -> None:
    with pytest.raises(TypeError, match="must be a date"):
        CAL.is_working_day(at(2026, 11, 30, 10))


# --- override file ------------------------------------------------------------------------


def test_load_calendar_packaged_file_pins_kurban_ait_2026() -> None:
    assert date(2026, 5, 27) in CAL.extra_days_off
    assert CAL.zone is ALMATY


def test_load_calendar_packaged_file_entries_are_meaningful() -> None:
    # A day off on a weekend or a working day that is already working would be dead weight.
    bare = WorkingCalendar(ALMATY)
    for day in CAL.extra_days_off:
        assert day.weekday() < 5, day
    for day in CAL.extra_working_days:
        assert not bare.is_working_day(day), day


def test_load_calendar_good_file(tmp_path: Path) -> None:
    path = tmp_path / "overrides.toml"
    path.write_text(
        "# a decree moving a day off\n"
        '[[day_off]]\ndate = "2026-12-18"\nreason = "Decree No. 1"\n\n'
        "[[day_off]]\ndate = 2026-12-21\nreason = 'native TOML date'\n\n"
        '[[working_day]]\ndate = "2026-12-12"\nreason = "Decree No. 1"\n',
        encoding="utf-8",
    )
    cal = load_calendar(ALMATY, path)
    # Added to the packaged file, not instead of it: Kurban Ait 2026 stays pinned.
    assert cal.extra_days_off == frozenset(
        {date(2026, 5, 27), date(2026, 12, 18), date(2026, 12, 21)}
    )
    assert cal.extra_working_days == frozenset({date(2026, 12, 12)})
    # Independence-day eve from the table, now with Fri 18 and Mon 21 Dec off too.
    assert cal.deadline(at(2026, 12, 15, 18)) == at(2026, 12, 23, 17, 30)
    assert cal.registration_time(at(2026, 12, 11, 18)) == at(2026, 12, 12, 9)


def test_load_calendar_empty_file_keeps_the_packaged_overrides(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("# nothing decreed yet\n", encoding="utf-8")
    assert load_calendar(ALMATY, path) == CAL


def test_load_calendar_operator_file_wins_where_both_name_a_date(tmp_path: Path) -> None:
    # The confirmed Kurban Ait could fall on another day than the packaged pin.
    path = tmp_path / "overrides.toml"
    path.write_text(
        '[[working_day]]\ndate = "2026-05-27"\nreason = "confirmed: Kurban Ait on 26 May"\n\n'
        '[[day_off]]\ndate = "2026-05-26"\nreason = "Kurban Ait 2026, confirmed date"\n',
        encoding="utf-8",
    )
    cal = load_calendar(ALMATY, path)
    assert cal.is_working_day(date(2026, 5, 27)) is True
    assert cal.is_working_day(date(2026, 5, 26)) is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[day_off]\n", "not valid TOML"),
        ('[[holiday]]\ndate = "2026-05-27"\nreason = "x"\n', "unknown top-level key"),
        ('day_off = "2026-05-27"\n', "must be an array of tables"),
        (
            '[[day_off]]\ndate = "2026-05-27"\n',
            r"\[\[day_off\]\] entry 1: missing key\(s\) \['reason'\]",
        ),
        ('[[day_off]]\ndate = "2026-05-27"\nreason = " "\n', "'reason' must be a non-empty"),
        (
            '[[day_off]]\ndate = "2026-05-27"\nreason = "x"\nnote = "y"\n',
            r"unknown key\(s\) \['note'\]",
        ),
        ('[[day_off]]\ndate = "27.05.2026"\nreason = "x"\n', "'date' must be a date like"),
        ('[[day_off]]\ndate = "2026-13-01"\nreason = "x"\n', "is not a real date"),
        ("[[day_off]]\ndate = 2026-05-27T09:00:00\nreason = 'x'\n", "'date' must be a date"),
        (
            '[[working_day]]\ndate = "2026-11-28"\nreason = "a"\n'
            '[[working_day]]\ndate = "2026-11-28"\nreason = "b"\n',
            r"\[\[working_day\]\] entry 2: 2026-11-28 repeats entry 1",
        ),
        (
            '[[day_off]]\ndate = "2026-11-28"\nreason = "a"\n'
            '[[working_day]]\ndate = "2026-11-28"\nreason = "b"\n',
            "2026-11-28 is both",
        ),
    ],
)
def test_load_calendar_malformed_file_raises_naming_file_and_entry(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "bad_overrides.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        load_calendar(ALMATY, path)
    assert str(info.value).startswith(f"{path}: ")


def test_parse_overrides_entry_error_names_the_entry() -> None:
    text = (
        '[[day_off]]\ndate = "2026-05-27"\nreason = "ok"\n'
        '[[day_off]]\ndate = "2026-02-30"\nreason = "typo"\n'
    )
    with pytest.raises(ValueError, match=re.escape("ops.toml: [[day_off]] entry 2: 'date'")):
        parse_overrides(text, "ops.toml")


def test_load_calendar_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_calendar(ALMATY, tmp_path / "absent.toml")


# --- the zone data ---------------------------------------------------------------------------


def test_service_zone_is_utc_plus_5_from_the_package_whatever_the_host_says(
    tmp_path: Path,
) -> None:
    # A host database older than 2024a: Almaty still on UTC+6 (here: Dhaka's rules under its name).
    fake = tmp_path / "Asia"
    fake.mkdir()
    (fake / "Almaty").write_bytes(
        resources.files("tzdata").joinpath("zoneinfo", "Asia", "Dhaka").read_bytes()
    )
    zoneinfo.reset_tzpath(to=[str(tmp_path)])
    try:
        host = ZoneInfo.no_cache("Asia/Almaty")
        assert datetime(2026, 8, 31, 9, tzinfo=host).utcoffset() == timedelta(hours=6)
        zone = service_zone("Asia/Almaty")
    finally:
        zoneinfo.reset_tzpath()
    assert datetime(2026, 8, 31, 9, tzinfo=zone).utcoffset() == timedelta(hours=5)
    assert Settings(TIMEZONE="Asia/Almaty").zone is zone


@pytest.mark.parametrize("name", ["", "Asia/Nowhere", "../etc/passwd", "Asia//Almaty"])
def test_service_zone_unknown_name_raises(name: str) -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        service_zone(name)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # Wednesday 10:00 to Friday 17:30: 3 h + 3 h (Wed), 7 h (Thu), 7 h (Fri).
        (datetime(2026, 11, 25, 10, 0), datetime(2026, 11, 27, 17, 30), 20.0),
        # The lunch break and the evening do not count.
        (datetime(2026, 11, 25, 12, 30), datetime(2026, 11, 25, 15, 0), 1.0),
        # Friday 17:00 to Monday 09:30: half an hour on Friday, half an hour on Monday.
        (datetime(2026, 11, 27, 17, 0), datetime(2026, 11, 30, 9, 30), 1.0),
        # A deadline passed: nothing is left.
        (datetime(2026, 11, 26, 10, 0), datetime(2026, 11, 25, 17, 30), 0.0),
    ],
)
def test_working_time_between_counts_service_hours_only(
    start: datetime, end: datetime, hours: float
) -> None:
    calendar = WorkingCalendar(ALMATY)

    left = calendar.working_time_between(start.replace(tzinfo=ALMATY), end.replace(tzinfo=ALMATY))

    assert left.total_seconds() / 3600 == hours
