"""scans and documents

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(16), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("original_key", sa.String(512), nullable=False),
        sa.Column("source_key", sa.String(512), nullable=True),
        sa.Column("clerk_id", sa.String(64), nullable=False),
        sa.Column("pages_total", sa.Integer(), nullable=True),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason_message", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("ocr_key", sa.String(512), nullable=True),
        sa.Column("ocr_result", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_scans_status", "scans", ["status"])
    op.create_index("ix_scans_sha256", "scans", ["sha256"])
    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("scan_id", sa.String(32), sa.ForeignKey("scans.id"), nullable=False, unique=True),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(64), nullable=False),
        sa.Column("original_sha256", sa.String(64), nullable=False),
        sa.Column("ocr_sha256", sa.String(64), nullable=False),
        sa.Column("page_texts", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("signer_name", sa.String(255), nullable=False),
        sa.Column("clerk_id", sa.String(64), nullable=False),
        sa.Column("pades_level", sa.String(16), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_index("ix_scans_sha256", "scans")
    op.drop_index("ix_scans_status", "scans")
    op.drop_table("scans")
