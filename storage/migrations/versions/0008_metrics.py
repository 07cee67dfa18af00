"""metrics: service-wide counters in the ledger; scans by finish time

Revision ID: 0008_metrics
Revises: 0007_harvest_indexes
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0008_metrics"
down_revision = "0007_harvest_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("labels", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", "labels"),
    )
    op.create_index("ix_scans_finished_at", "scans", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_scans_finished_at", "scans")
    op.drop_table("metric_counters")
