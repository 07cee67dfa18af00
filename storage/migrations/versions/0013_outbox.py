"""outbox_events, outbox_deliveries, webhook_subscriptions, external_refs; the citizen's
notification consent on dossiers; staff e-mail for deadline alerts

Revision ID: 0013_outbox
Revises: 0012_scan_status_width
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0013_outbox"
down_revision = "0012_scan_status_width"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch:
        batch.add_column(
            sa.Column("applicant_email", sa.String(255), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("notify_consent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("notify_channels", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("notify_opted_out_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("overdue_alerted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("email", sa.String(255), nullable=False, server_default=""))
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("dossier_id", sa.String(32), nullable=True),
        sa.Column("unit_code", sa.String(32), nullable=True),
        sa.Column("province_code", sa.String(8), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_events_dossier_id", "outbox_events", ["dossier_id"])
    op.create_index("ix_outbox_events_fanned_out", "outbox_events", ["fanned_out"])
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("subscriber", sa.String(64), nullable=False),
        sa.Column("dossier_id", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("last_response", sa.String(512), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "subscriber"),
    )
    op.create_index("ix_outbox_deliveries_event_id", "outbox_deliveries", ["event_id"])
    op.create_index("ix_outbox_deliveries_due", "outbox_deliveries", ["state", "next_at"])
    op.create_index(
        "ix_outbox_deliveries_order", "outbox_deliveries", ["subscriber", "dossier_id", "event_id"]
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("scope_code", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_subscriptions_scope_code", "webhook_subscriptions", ["scope_code"])
    op.create_table(
        "external_refs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("local_id", sa.String(128), nullable=False),
        sa.Column("remote_id", sa.String(256), nullable=False),
        sa.Column("remote_hash", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("system", "kind", "local_id"),
    )


def downgrade() -> None:
    op.drop_table("external_refs")
    op.drop_index("ix_webhook_subscriptions_scope_code", table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_outbox_deliveries_order", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_due", table_name="outbox_deliveries")
    op.drop_index("ix_outbox_deliveries_event_id", table_name="outbox_deliveries")
    op.drop_table("outbox_deliveries")
    op.drop_index("ix_outbox_events_fanned_out", table_name="outbox_events")
    op.drop_index("ix_outbox_events_dossier_id", table_name="outbox_events")
    op.drop_table("outbox_events")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("dossiers") as batch:
        batch.drop_column("overdue_alerted_at")
        batch.drop_column("notify_opted_out_at")
        batch.drop_column("notify_channels")
        batch.drop_column("notify_consent")
        batch.drop_column("applicant_email")
