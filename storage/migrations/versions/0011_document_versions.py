"""documents: archive horizon, version and renewal lease; document_versions: the files that
archive renewals replaced, kept for fixity and audit

Revision ID: 0011_document_versions
Revises: 0010_refusals
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0011_document_versions"
down_revision = "0010_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("archive_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("renewal_lease_until", UTCDateTime(), nullable=True))
        batch.create_index("ix_documents_archive_until", ["archive_until"])
    op.create_table(
        "document_versions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("archive_until", UTCDateTime(), nullable=True),
        sa.Column("superseded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version"),
    )
    op.create_index("ix_document_versions_document_id", "document_versions", ["document_id"])


def downgrade() -> None:
    op.drop_table("document_versions")
    with op.batch_alter_table("documents") as batch:
        batch.drop_index("ix_documents_archive_until")
        batch.drop_column("renewal_lease_until")
        batch.drop_column("version")
        batch.drop_column("archive_until")
