"""documents: how each page was made, the input's own signatures, attachments kept aside;
scans: the OCR languages asked for at upload

Revision ID: 0009_document_inputs
Revises: 0008_metrics
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_document_inputs"
down_revision = "0008_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.add_column(sa.Column("ocr_languages", sa.String(64), nullable=True))
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("page_info", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("input_signatures", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("pdfa_source", sa.String(16), nullable=False, server_default="converted")
        )


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("pdfa_source")
        batch.drop_column("attachments")
        batch.drop_column("input_signatures")
        batch.drop_column("page_info")
    with op.batch_alter_table("scans") as batch:
        batch.drop_column("ocr_languages")
