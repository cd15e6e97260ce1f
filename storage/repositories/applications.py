"""Application rows: the form's answers beside the case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Application


async def require_application(session: AsyncSession, case_id: str) -> Application:
    """The case's application; a submitted case always has one (raises otherwise)."""
    result = await session.execute(select(Application).where(Application.case_id == case_id))
    return result.scalar_one()


async def get_last_form_update(session: AsyncSession, case_id: str) -> datetime | None:
    """When the guardian last changed the case's form; None without a form."""
    return await session.scalar(
        select(func.max(Application.updated_at)).where(Application.case_id == case_id)
    )
