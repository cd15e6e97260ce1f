"""Callback data of every inline button; each packs to at most 64 bytes (Telegram's limit).

Case ids are UUIDs (36 chars), so `<prefix>:<case_id>:<action>` stays well inside it.
Buttons carry no authority: every press is checked against the presser's identity.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class CaseAction(StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    AGAIN = "again"
    WITHDRAW = "withdraw"
    CONFIRM = "confirm"
    EDIT_SCHOOL = "e_school"
    EDIT_GRADE = "e_grade"
    EDIT_ADDRESS = "e_addr"
    EDIT_NOTE = "e_note"
    SKIP_NOTE = "no_note"
    NO_OBJECTIONS = "no_obj"


class LangCb(CallbackData, prefix="l"):
    code: str


class CaseCb(CallbackData, prefix="c"):
    case_id: str
    action: CaseAction


class GradeCb(CallbackData, prefix="g"):
    case_id: str
    grade: int


class SchoolCb(CallbackData, prefix="s"):
    case_id: str
    school_id: int


class DecisionAction(StrEnum):
    ACCEPT = "ok"
    REFUSE = "no"
    GROUND = "gr"


class DecisionCb(CallbackData, prefix="d"):
    case_id: str
    action: DecisionAction
    ground: int = 0
