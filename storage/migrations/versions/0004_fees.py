"""fees, payments, receipts, results and their return

Revision ID: 0004_fees
Revises: 0003_search
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0004_fees"
down_revision = "0003_search"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "receipt_series",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("form_symbol", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("collector_name", sa.String(length=255), nullable=False),
        sa.Column("collector_tax_code", sa.String(length=32), nullable=False),
        sa.Column("collector_address", sa.String(length=512), nullable=False),
        sa.Column("issuer_tax_code", sa.String(length=32), nullable=False),
        sa.Column("mandate", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("form_symbol", "series"),
    )
    with op.batch_alter_table("receipt_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_receipt_series_unit_code"), ["unit_code"], unique=False
        )

    op.create_table(
        "dossier_fees",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("collect_at", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dossier_fees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_fees_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payer_name", sa.String(length=255), nullable=False),
        sa.Column("payer_address", sa.String(length=512), nullable=False),
        sa.Column("payer_tax_code", sa.String(length=32), nullable=False),
        sa.Column("fee_ids", sa.JSON(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("reversed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_dossier_id"), ["dossier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "result_returns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("recipient_name", sa.String(length=255), nullable=False),
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("relation", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.String(length=512), nullable=True),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("postal_fee", sa.BigInteger(), nullable=False),
        sa.Column("postal_status", sa.String(length=24), nullable=False),
        sa.Column("postal_history", sa.JSON(), nullable=False),
        sa.Column("link_sha256", sa.String(length=64), nullable=True),
        sa.Column("link_expires_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_sha256"),
    )
    with op.batch_alter_table("result_returns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_result_returns_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "results",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("scan_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scan_id"),
    )
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_results_dossier_id"), ["dossier_id"], unique=False)

    op.create_table(
        "download_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("return_id", sa.String(length=32), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("client", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["result_returns.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("download_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_download_logs_return_id"), ["return_id"], unique=False)

    op.create_table(
        "receipts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("series_id", sa.String(length=32), nullable=False),
        sa.Column("form_symbol", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_words", sa.String(length=512), nullable=False),
        sa.Column("payer_name", sa.String(length=255), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.Column("voided_by", sa.String(length=64), nullable=True),
        sa.Column("replaces_id", sa.String(length=32), nullable=True),
        sa.Column("xml_key", sa.String(length=512), nullable=False),
        sa.Column("xml_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_key", sa.String(length=512), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["receipts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["receipt_series.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series_id", "number"),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_dossier_id"), ["dossier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_issued_at"), ["issued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipts_unit_code"), ["unit_code"], unique=False)

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sign_as", sa.String(length=16), nullable=False, server_default="clerk")
        )
        batch_op.add_column(sa.Column("sign_options", sa.JSON(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("sign_options")
        batch_op.drop_column("sign_as")

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_unit_code"))
        batch_op.drop_index(batch_op.f("ix_receipts_payment_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_issued_at"))
        batch_op.drop_index(batch_op.f("ix_receipts_dossier_id"))

    op.drop_table("receipts")
    with op.batch_alter_table("download_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_download_logs_return_id"))

    op.drop_table("download_logs")
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_results_dossier_id"))

    op.drop_table("results")
    with op.batch_alter_table("result_returns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_returns_dossier_id"))

    op.drop_table("result_returns")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_unit_code"))
        batch_op.drop_index(batch_op.f("ix_payments_staff_id"))
        batch_op.drop_index(batch_op.f("ix_payments_dossier_id"))

    op.drop_table("payments")
    with op.batch_alter_table("dossier_fees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_fees_dossier_id"))

    op.drop_table("dossier_fees")
    with op.batch_alter_table("receipt_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_series_unit_code"))

    op.drop_table("receipt_series")
