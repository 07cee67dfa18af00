"""scans.status: 32 characters, for ``awaiting_confirmation`` (a remote signature waiting for
the clerk's PIN/OTP)

Revision ID: 0012_scan_status_width
Revises: 0011_document_versions
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_scan_status_width"
down_revision = "0011_document_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    # A waiting scan would not fit the old width: it goes back to "received" at the sign step
    # (its confirmation is then asked again when a worker signs it).
    op.execute("UPDATE scans SET status = 'received' WHERE status = 'awaiting_confirmation'")
    with op.batch_alter_table("scans") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
