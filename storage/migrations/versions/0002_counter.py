"""the counter: units, staff, tokens, procedures, dossiers and their history

Revision ID: 0002_counter
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0002_counter"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "code_counters",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "day"),
    )
    op.create_table(
        "procedures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("field_code", sa.String(length=32), nullable=False),
        sa.Column("field_name", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("agency_codes", sa.JSON(), nullable=False),
        sa.Column("processing_days", sa.Integer(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("fees", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("sample", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "version"),
    )
    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procedures_code"), ["code"], unique=False)

    op.create_table(
        "units",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("province_code", sa.String(length=8), nullable=False),
        sa.Column("place", sa.String(length=128), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("successor_code", sa.String(length=32), nullable=True),
        sa.Column("postal_contact", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["successor_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_units_province_code"), ["province_code"], unique=False)

    op.create_table(
        "dossiers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=True),
        sa.Column("procedure_id", sa.String(length=32), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("applicant_name", sa.String(length=255), nullable=False),
        sa.Column("applicant_id_type", sa.String(length=16), nullable=False),
        sa.Column("applicant_id_number", sa.String(length=32), nullable=False),
        sa.Column("applicant_phone", sa.String(length=32), nullable=False),
        sa.Column("applicant_address", sa.String(length=512), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("collect_at", sa.String(length=16), nullable=False),
        sa.Column("rules_version", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=True),
        sa.Column("pending_reception_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=True),
        sa.Column("original_due_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("route_index", sa.Integer(), nullable=False),
        sa.Column("holder_code", sa.String(length=32), nullable=True),
        sa.Column("supplement_count", sa.Integer(), nullable=False),
        sa.Column("counted_overdue", sa.Boolean(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("returned_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["procedure_id"],
            ["procedures.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossiers_applicant_id_number"), ["applicant_id_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dossiers_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dossiers_holder_code"), ["holder_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dossiers_procedure_code"), ["procedure_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_dossiers_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_dossiers_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "postal_assignments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("field_code", sa.String(length=32), nullable=False),
        sa.Column("procedure_code", sa.String(length=32), nullable=True),
        sa.Column("postal_from", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("postal_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postal_assignments_unit_code"), ["unit_code"], unique=False
        )

    op.create_table(
        "queue_tickets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("called_at", UTCDateTime(), nullable=True),
        sa.Column("served_at", UTCDateTime(), nullable=True),
        sa.Column("staff_id", sa.String(length=64), nullable=True),
        sa.Column("dossier_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_code", "day", "number"),
    )
    with op.batch_alter_table("queue_tickets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_queue_tickets_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "staff",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("employer", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("probation_until", sa.Date(), nullable=True),
        sa.Column("supervisor_id", sa.String(length=64), nullable=True),
        sa.Column("probation_evaluation", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["staff.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "backup_assignments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("covers_staff_id", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("backup_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backup_assignments_staff_id"), ["staff_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backup_assignments_unit_code"), ["unit_code"], unique=False
        )

    op.create_table(
        "dossier_components",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("digitize", sa.Boolean(), nullable=False),
        sa.Column("provided", sa.Integer(), nullable=False),
        sa.Column("document_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dossier_components", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_components_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "dossier_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.Integer(), nullable=True),
        sa.Column("to_status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dossier_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_events_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "dossier_forms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("form_no", sa.String(length=4), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("qr_payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dossier_forms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dossier_forms_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("from_party", sa.String(length=64), nullable=False),
        sa.Column("to_party", sa.String(length=64), nullable=False),
        sa.Column("given_by", sa.String(length=64), nullable=False),
        sa.Column("handed_at", UTCDateTime(), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=True),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handovers_dossier_id"), ["dossier_id"], unique=False)

    op.create_table(
        "supplement_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("fulfilled_at", UTCDateTime(), nullable=True),
        sa.Column("fulfilled_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("supplement_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplement_requests_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "component_scans",
        sa.Column("scan_id", sa.String(length=32), nullable=False),
        sa.Column("component_id", sa.String(length=32), nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("component_id", "sha256"),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["dossier_components.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
        ),
        sa.PrimaryKeyConstraint("scan_id"),
    )
    with op.batch_alter_table("component_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_component_scans_component_id"), ["component_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_component_scans_dossier_id"), ["dossier_id"], unique=False
        )

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_code", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_scans_unit_code"), ["unit_code"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_unit_code"))
        batch_op.drop_column("unit_code")

    with op.batch_alter_table("component_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_component_scans_dossier_id"))
        batch_op.drop_index(batch_op.f("ix_component_scans_component_id"))

    op.drop_table("component_scans")
    with op.batch_alter_table("supplement_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplement_requests_dossier_id"))

    op.drop_table("supplement_requests")
    with op.batch_alter_table("handovers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handovers_dossier_id"))

    op.drop_table("handovers")
    with op.batch_alter_table("dossier_forms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_forms_dossier_id"))

    op.drop_table("dossier_forms")
    with op.batch_alter_table("dossier_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_events_dossier_id"))

    op.drop_table("dossier_events")
    with op.batch_alter_table("dossier_components", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossier_components_dossier_id"))

    op.drop_table("dossier_components")
    with op.batch_alter_table("backup_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backup_assignments_unit_code"))
        batch_op.drop_index(batch_op.f("ix_backup_assignments_staff_id"))

    op.drop_table("backup_assignments")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_staff_id"))

    op.drop_table("api_tokens")
    op.drop_table("staff")
    with op.batch_alter_table("queue_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queue_tickets_unit_code"))

    op.drop_table("queue_tickets")
    with op.batch_alter_table("postal_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postal_assignments_unit_code"))

    op.drop_table("postal_assignments")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dossiers_unit_code"))
        batch_op.drop_index(batch_op.f("ix_dossiers_status"))
        batch_op.drop_index(batch_op.f("ix_dossiers_procedure_code"))
        batch_op.drop_index(batch_op.f("ix_dossiers_holder_code"))
        batch_op.drop_index(batch_op.f("ix_dossiers_due_at"))
        batch_op.drop_index(batch_op.f("ix_dossiers_applicant_id_number"))

    op.drop_table("dossiers")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_province_code"))

    op.drop_table("units")
    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procedures_code"))

    op.drop_table("procedures")
    op.drop_table("code_counters")
    op.drop_table("calendar_overrides")
