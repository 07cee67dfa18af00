"""refusals: uploads refused at the door, their reason and their (optional) quarantined bytes

Revision ID: 0010_refusals
Revises: 0009_document_inputs
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0010_refusals"
down_revision = "0009_document_inputs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("reason_message", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("clerk_id", sa.String(64), nullable=False),
        sa.Column("unit_code", sa.String(32), nullable=True),
        sa.Column("dossier_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("quarantine_key", sa.String(512), nullable=True),
        sa.Column("quarantine_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_refusals_sha256", "refusals", ["sha256"])
    op.create_index("ix_refusals_unit_code", "refusals", ["unit_code"])
    op.create_index("ix_refusals_dossier_id", "refusals", ["dossier_id"])
    op.create_index("ix_refusals_quarantine_key", "refusals", ["quarantine_key"])


def downgrade() -> None:
    op.drop_table("refusals")
