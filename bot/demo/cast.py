"""Who plays in the demo and what they say: valid identifiers, the signal, the school.

Everything is made up but passes the same validation as real data (IIN/BIN check
digits, a Kazakh mobile number, dates that fit together), so the demo exercises the
real intake rules rather than a shortcut around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from bot.domain.deadlines import WorkingDays
from bot.domain.identifiers import check_digit
from bot.texts import Lang

WORKING_MORNING = time(10, 0)
SCHOOL_CHAT_ID = -1001000000012
STAFF_USER_ID = 700_000_112
GUARDIAN_USER_ID = 700_000_101
GUARDIAN_PHONE = "+77011234567"
REFUSAL_GROUND = 1


def working_morning(now: datetime, calendar: WorkingDays) -> datetime:
    """10:00 of today if it is a working day, else of the next one (in `now`'s zone).

    The demo runs "on a working morning" whatever the hour, so nothing waits for the
    service's hours or for daytime.
    """
    day = now.date()
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, WORKING_MORNING, tzinfo=now.tzinfo)


def make_iin(birth: date, serial: int, *, female: bool = False) -> str:
    """A valid IIN for `birth`: the first serial from `serial` that admits a check digit."""
    century = {18: 1, 19: 3, 20: 5}[birth.year // 100] + (1 if female else 0)
    return _with_check_digit(f"{birth:%y%m%d}{century}", serial)


def make_bin(serial: int) -> str:
    """A valid BIN of a legal entity registered in April 2005."""
    return _with_check_digit("0405400", serial)


def _with_check_digit(prefix: str, serial: int) -> str:
    for number in range(serial, serial + 100):
        first = f"{prefix}{number % 10000:04d}"
        digit = check_digit(first)
        if digit is not None:
            return first + str(digit)
    raise ValueError(f"no check digit for {prefix} near serial {serial}")


SCHOOL_BIN = make_bin(12)


@dataclass(frozen=True)
class Cast:
    """The people and their lines in one language."""

    lang: Lang
    guardian_first_name: str
    guardian_full_name: str
    child_full_name: str
    organization: str
    summary: str
    address: str
    school_names: dict[str, str]
    school_chat_title: str
    staff_first_name: str
    refusal_reason: str
    hearing_position: str

    def registry_cells(self) -> dict[str, str]:
        """One line of the school registry, with the staff group as the school's inbox."""
        return {"bin": SCHOOL_BIN, "telegram_chat_id": str(SCHOOL_CHAT_ID), **self.school_names}

    def signal(self, now: datetime) -> dict[str, Any]:
        """A VKK conclusion issued this morning (DESIGN 4.3)."""
        child_birth = date(now.year - 10, 3, 2)
        return {
            "signal_id": f"KZ-VKK-{now:%Y}-000123",
            "issued_at": (now - timedelta(minutes=45)).isoformat(),
            "conclusion": {
                "number": "1234",
                "date": now.date().isoformat(),
                "valid_until": (now.date() + timedelta(days=180)).isoformat(),
                "recommendation": "home_schooling",
                "organization": self.organization,
                "summary": self.summary,
            },
            "child": {
                "iin": make_iin(child_birth, 123),
                "full_name": self.child_full_name,
                "birth_date": child_birth.isoformat(),
            },
            "guardian": {
                "iin": make_iin(date(1988, 6, 1), 457, female=True),
                "full_name": self.guardian_full_name,
                "phone": GUARDIAN_PHONE,
            },
            "school": {"bin": SCHOOL_BIN, "grade": 4},
        }


KAZAKH = Cast(
    lang=Lang.KK,
    guardian_first_name="Айгүл",
    guardian_full_name="Сейтқали Айгүл Маратқызы",
    child_full_name="Сейтқали Әлихан Нұрланұлы",
    organization="Қарасай аудандық орталық ауруханасы",
    summary="Оқу жылының соңына дейін үйде жеке оқыту ұсынылады.",
    address="Алматы облысы, Қарасай ауданы, Қаскелең қ., Абай к-сі, 10",
    school_names={
        "name_kk": "Қаскелең қаласындағы № 12 жалпы орта білім беретін мектеп",
        "name_ru": "Общеобразовательная школа № 12 г. Каскелен",
        "authority_kk": "Алматы облысының білім басқармасы",
        "authority_ru": "Управление образования Алматинской области",
        "locality": "Қаскелең",
    },
    school_chat_title="№ 12 мектеп: өтініштер",
    staff_first_name="Гүлнар",
    refusal_reason="ДКК қорытындысындағы баланың ЖСН-і туу туралы куәлікпен сәйкес келмейді.",
    hearing_position="Туу туралы куәлікте ЖСН дұрыс, ДКК қорытындысын қайта тексеруді сұраймын.",
)

RUSSIAN = Cast(
    lang=Lang.RU,
    guardian_first_name="Айгуль",
    guardian_full_name="Сейткали Айгуль Маратовна",
    child_full_name="Сейткали Алихан Нурланович",
    organization="Карасайская районная центральная больница",
    summary="Рекомендовано индивидуальное обучение на дому до конца учебного года.",
    address="Алматинская область, Карасайский район, г. Каскелен, ул. Абая, 10",
    # Known by its Russian name only, so the school's staff chat speaks Russian too.
    school_names={
        "name_ru": "Общеобразовательная школа № 12 г. Каскелен",
        "authority_ru": "Управление образования Алматинской области",
        "locality": "Каскелен",
    },
    school_chat_title="Школа № 12: заявления",
    staff_first_name="Гульнар",
    refusal_reason="ИИН ребёнка в заключении ВКК не совпадает со свидетельством о рождении.",
    hearing_position="ИИН в свидетельстве о рождении верный, прошу перепроверить заключение ВКК.",
)

CASTS = {Lang.KK: KAZAKH, Lang.RU: RUSSIAN}
