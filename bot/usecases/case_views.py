"""Decrypted, read-only views of a case for rendering messages and documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain.choices import Text
from bot.domain.identifiers import case_number, sex_from_iin
from bot.domain.status import CaseStatus
from bot.grammar import person_sex
from bot.texts import Lang, Person, Raw, Texts
from bot.usecases.prompts import render
from storage.crypto import DataCipher
from storage.models import Case, School


def school_name(school: School | None, lang: Lang) -> str | None:
    """The school's name in `lang`, falling back to the other language."""
    if school is None:
        return None
    preferred = school.name_kk if lang is Lang.KK else school.name_ru
    return preferred or school.name_ru or school.name_kk


def authority_name(school: School | None, lang: Lang) -> str | None:
    if school is None:
        return None
    preferred = school.authority_kk if lang is Lang.KK else school.authority_ru
    return preferred or school.authority_ru or school.authority_kk


@dataclass(frozen=True)
class CaseView:
    case_id: str
    number: str
    status: CaseStatus
    child_name: str
    child_iin: str
    child_birth_date: date
    guardian_name: str
    guardian_iin: str | None
    conclusion_number: str
    conclusion_date: date
    conclusion_organization: str
    conclusion_summary: str
    conclusion_valid_until: date | None
    school_id: int | None
    school: str | None
    authority: str | None
    grade: int | None
    deadline_at: datetime | None

    @property
    def child(self) -> Person:
        """The child's name with the sex from the IIN, for declined Russian names."""
        return Person(self.child_name, sex_from_iin(self.child_iin))

    @property
    def guardian(self) -> Person:
        return Person(self.guardian_name, person_sex(self.guardian_iin, self.guardian_name))


def case_view(cipher: DataCipher, case: Case, school: School | None, lang: Lang) -> CaseView:
    """Decrypt a case; raises ValueError when its personal data were already purged."""
    if case.pd_enc is None:
        raise ValueError(f"case {case.id} has no personal data any more")
    return view_from_data(
        case.id,
        CaseStatus(case.status),
        cipher.decrypt_json(case.pd_enc),
        school,
        case.grade,
        case.deadline_at,
        lang,
    )


def view_from_data(
    case_id: str,
    status: CaseStatus,
    pd: dict[str, Any],
    school: School | None,
    grade: int | None,
    deadline_at: datetime | None,
    lang: Lang,
) -> CaseView:
    """Build a view from already decrypted personal data (as stored in `Case.pd_enc`)."""
    child, conclusion = pd["child"], pd["conclusion"]
    return CaseView(
        case_id=case_id,
        number=case_number(case_id),
        status=status,
        child_name=child["full_name"],
        child_iin=child["iin"],
        child_birth_date=date.fromisoformat(child["birth_date"]),
        guardian_name=pd["guardian"]["full_name"],
        guardian_iin=pd["guardian"].get("iin"),
        conclusion_number=conclusion["number"],
        conclusion_date=date.fromisoformat(conclusion["date"]),
        conclusion_organization=conclusion["organization"],
        conclusion_summary=conclusion.get("summary", ""),
        conclusion_valid_until=_optional_date(conclusion.get("valid_until")),
        school_id=school.id if school else None,
        school=school_name(school, lang),
        authority=authority_name(school, lang),
        grade=grade,
        deadline_at=deadline_at,
    )


def _optional_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def validity(view: CaseView) -> Text:
    """How long the VKK conclusion is valid, as the guardian and the school read it.

    The signal may omit the date; saying so is better than a blank a reader may take for
    "indefinitely".
    """
    if view.conclusion_valid_until is None:
        return Text("conclusion.valid_until_unknown")
    until = view.conclusion_valid_until.strftime("%d.%m.%Y")
    return Text("conclusion.valid_until", {"valid_until": until})


def validity_text(texts: Texts, lang: Lang, view: CaseView) -> Raw:
    """`validity` rendered in `lang`, for messages still built as HTML by their service."""
    return Raw(render(texts, lang, validity(view)))
