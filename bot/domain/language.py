"""The two languages of the service (order No. 223: the state and the official one)."""

from __future__ import annotations

from enum import StrEnum


class Lang(StrEnum):
    KK = "kk"
    RU = "ru"


DEFAULT_LANG = Lang.KK
