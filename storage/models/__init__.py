"""ORM models; importing this package registers every table on `Base.metadata`."""

from storage.models.audit import AuditEvent
from storage.models.base import Base, UtcDateTime, table_of
from storage.models.cases import Application, Case, ConsentRecord, ConsentText, Document
from storage.models.fsm import FsmRecord
from storage.models.guardians import Guardian
from storage.models.outbox import OutboxMessage
from storage.models.schools import School, SchoolWord, StaffChat
from storage.models.starts import GuardianStart
from storage.models.tokens import LinkToken
from storage.models.web import SignInCode, StaffAccount, WebSession

__all__ = [
    "Application",
    "AuditEvent",
    "Base",
    "Case",
    "ConsentRecord",
    "ConsentText",
    "Document",
    "FsmRecord",
    "Guardian",
    "GuardianStart",
    "LinkToken",
    "OutboxMessage",
    "School",
    "SchoolWord",
    "SignInCode",
    "StaffAccount",
    "StaffChat",
    "UtcDateTime",
    "WebSession",
    "table_of",
]
