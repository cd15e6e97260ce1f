"""A consent answered on the web has no Telegram account: `telegram_user_id` may be null.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.alter_column("telegram_user_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    # Web answers have no account to put back; they keep 0, which no Telegram user has.
    op.execute("UPDATE consent_records SET telegram_user_id = 0 WHERE telegram_user_id IS NULL")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.alter_column("telegram_user_id", existing_type=sa.BigInteger(), nullable=False)
