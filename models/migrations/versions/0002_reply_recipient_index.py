"""Index replies by lower-cased recipient, for loop protection's per-reply look-ups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the expression index."""
    op.create_index("ix_outbound_reply_to_addr_lower", "outbound_reply", [sa.text("lower(to_addr)")])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_outbound_reply_to_addr_lower", table_name="outbound_reply")
