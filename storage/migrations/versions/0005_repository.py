"""the reusable data repository and component reuse

Revision ID: 0005_repository
Revises: 0004_fees
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0005_repository"
down_revision = "0004_fees"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "repository_records",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=160), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("owner_id_type", sa.String(length=16), nullable=False),
        sa.Column("doc_type", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("number_symbol", sa.String(length=64), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digitizer_id", sa.String(length=64), nullable=False),
        sa.Column("digitized_at", UTCDateTime(), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("dossier_code", sa.String(length=48), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("field_code", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("document_id"),
        sa.UniqueConstraint("seq"),
    )
    with op.batch_alter_table("repository_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repository_records_doc_type"), ["doc_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repository_records_dossier_id"), ["dossier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repository_records_field_code"), ["field_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repository_records_owner_id"), ["owner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_repository_records_unit_code"), ["unit_code"], unique=False
        )

    op.create_table(
        "component_reuses",
        sa.Column("component_id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("flag", sa.Integer(), nullable=False),
        sa.Column("replaced_by_code", sa.String(length=160), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["dossier_components.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["repository_records.id"],
        ),
        sa.PrimaryKeyConstraint("component_id"),
    )
    with op.batch_alter_table("component_reuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_reuses_dossier_id"), ["dossier_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("component_reuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_reuses_dossier_id"))

    op.drop_table("component_reuses")
    with op.batch_alter_table("repository_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repository_records_unit_code"))
        batch_op.drop_index(batch_op.f("ix_repository_records_owner_id"))
        batch_op.drop_index(batch_op.f("ix_repository_records_field_code"))
        batch_op.drop_index(batch_op.f("ix_repository_records_dossier_id"))
        batch_op.drop_index(batch_op.f("ix_repository_records_doc_type"))

    op.drop_table("repository_records")
