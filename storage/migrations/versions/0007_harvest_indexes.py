"""harvest indexes: keyset pages by set and by change time

Revision ID: 0007_harvest_indexes
Revises: 0006_audit
Create Date: 2026-11-28
"""

from alembic import op

revision = "0007_harvest_indexes"
down_revision = "0006_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_repository_records_field_seq", "repository_records", ["field_code", "seq"])
    op.create_index("ix_repository_records_unit_seq", "repository_records", ["unit_code", "seq"])
    op.create_index("ix_repository_records_updated_at", "repository_records", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_repository_records_updated_at", "repository_records")
    op.drop_index("ix_repository_records_unit_seq", "repository_records")
    op.drop_index("ix_repository_records_field_seq", "repository_records")
