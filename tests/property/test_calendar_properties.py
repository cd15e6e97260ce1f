"""Property tests for the working-day calendar (registration time and deadline)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.calendar import INTAKE_END, LUNCH_END, LUNCH_START, WORKDAY_START, WorkingCalendar

ALMATY = ZoneInfo("Asia/Almaty")
ZONES = [ALMATY, UTC, ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York")]

# Submissions from any zone between 2000 and 2035; override dates near the present.
submissions = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from(ZONES),
)
override_days = st.frozensets(st.dates(date(2024, 1, 1), date(2027, 12, 31)), max_size=40)


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    """A calendar with random extra days off and extra working days (disjoint)."""
    days_off = draw(override_days)
    working = draw(override_days) - days_off
    return WorkingCalendar(ALMATY, extra_days_off=days_off, extra_working_days=working)


@given(calendars(), submissions)
def test_registration_time_is_within_intake_hours_of_a_working_day(
    cal: WorkingCalendar, submitted: datetime
) -> None:
    registered = cal.registration_time(submitted)
    assert registered.tzinfo is ALMATY
    assert cal.is_working_day(registered.date())
    assert WORKDAY_START <= registered.time() <= INTAKE_END
    assert not LUNCH_START <= registered.time() < LUNCH_END
    assert registered >= submitted


@given(calendars(), submissions)
def test_registration_time_is_idempotent(cal: WorkingCalendar, submitted: datetime) -> None:
    registered = cal.registration_time(submitted)
    assert cal.registration_time(registered) == registered
    assert cal.deadline(registered) == cal.deadline(submitted)


@given(calendars(), submissions, st.integers(min_value=0, max_value=10))
def test_deadline_is_1730_on_a_working_day_after_registration(
    cal: WorkingCalendar, submitted: datetime, working_days: int
) -> None:
    registered = cal.registration_time(submitted)
    due = cal.deadline(registered, working_days)
    assert cal.is_working_day(due.date())
    assert due.tzinfo is ALMATY
    assert due.time() == INTAKE_END  # results are issued until 17:30
    assert due >= registered  # equal only for a 0-day term registered at 17:30


@given(calendars(), submissions, submissions)
def test_deadline_is_monotone_in_submission_time(
    cal: WorkingCalendar, first: datetime, second: datetime
) -> None:
    earlier, later = sorted((first, second))
    assert cal.deadline(earlier) <= cal.deadline(later)


@given(calendars(), st.dates(date(2000, 1, 1), date(2035, 12, 31)), st.integers(0, 15))
def test_add_working_days_counts_exactly_n_working_days(
    cal: WorkingCalendar, start: date, n: int
) -> None:
    end = cal.add_working_days(start, n)
    span = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(cal.is_working_day(d) for d in span) == n
    assert n == 0 or cal.is_working_day(end)


@given(calendars(), st.dates(date(2000, 1, 1), date(2035, 12, 31)))
def test_next_working_day_skips_only_days_off(cal: WorkingCalendar, day: date) -> None:
    following = cal.next_working_day(day)
    assert following > day
    assert cal.is_working_day(following)
    skipped = [day + timedelta(days=i) for i in range(1, (following - day).days)]
    assert not any(cal.is_working_day(d) for d in skipped)
    assert cal.morning_of(following).time() == time(9, 0)
