"""dossier search: folded texts and their full-text index

Revision ID: 0003_search
Revises: 0002_counter
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from dossiers.search import drop_dialect_objects, install_dialect_objects
from storage.models import UTCDateTime

revision = "0003_search"
down_revision = "0002_counter"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dossier_id", "source", "ref_id", name="uq_search_entries_ref"),
    )
    # SQLite: the FTS5 table and its triggers; PostgreSQL: the tsvector column and GIN index.
    install_dialect_objects(op.get_bind())


def downgrade() -> None:
    drop_dialect_objects(op.get_bind())
    op.drop_table("search_entries")
