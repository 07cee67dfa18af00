"""Tables of the counter's domain: units, staff, procedures, dossiers and their history.

They share ``storage.models.Base`` so one Alembic history covers the whole ledger. Codes that
come from the national catalogues (unit codes, procedure codes, status numbers) are stored as
they are printed, so a row can be read against a paper form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime, new_id, utcnow


class Unit(Base):
    """A one-stop location or a competent agency, by its electronic agency code (QĐ 20/2020).

    Units are merged, not deleted: ``valid_to`` closes one and ``successor_code`` names the unit
    that carries on its dossiers.
    """

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # one_stop | agency
    level: Mapped[str] = mapped_column(String(16))  # province | district | commune | ministry
    area: Mapped[str] = mapped_column(String(16), default="urban")  # urban | rural | remote
    province_code: Mapped[str] = mapped_column(String(8), index=True)  # "H08"
    place: Mapped[str] = mapped_column(String(128), default="")  # for "<place>, ngày ..." on forms
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)
    successor_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), default=None)
    # The postal enterprise's contact person for this unit: name, phone, email.
    postal_contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Staff(Base):
    """A person or system account. ``id`` doubles as the clerk id whose certificate signs scans."""

    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # counter | agency | harvester | auditor | admin
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), default=None)
    employer: Mapped[str] = mapped_column(String(16), default="civil_servant")  # or postal
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    probation_until: Mapped[date | None] = mapped_column(Date, default=None)
    supervisor_id: Mapped[str | None] = mapped_column(ForeignKey("staff.id"), default=None)
    # Set when probation ends: {"result": "passed"|"failed", "by": id, "at": iso, "note": str}.
    probation_evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A bearer token, kept only as its SHA-256: a leaked table grants nothing."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Procedure(Base):
    """One version of an administrative procedure (TTHC); a new version never edits an old one."""

    __tablename__ = "procedures"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), index=True)  # "1.001193"
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, default=None)
    name: Mapped[str] = mapped_column(String(512))
    field_code: Mapped[str] = mapped_column(String(32))
    field_name: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(16))  # the level whose units decide it
    # Competent agencies in hand-over order; more than one is an inter-linked (liên thông) route.
    agency_codes: Mapped[list[Any]] = mapped_column(JSON)
    processing_days: Mapped[int] = mapped_column(Integer)  # working days; 0 = same day
    components: Mapped[list[Any]] = mapped_column(JSON)
    fees: Mapped[list[Any]] = mapped_column(JSON, default=list)
    results: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dossier(Base):
    """An application for one procedure, from the counter to the returned result."""

    __tablename__ = "dossiers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str | None] = mapped_column(String(48), unique=True, default=None)
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedures.id"))
    procedure_code: Mapped[str] = mapped_column(String(32), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    channel: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[int] = mapped_column(Integer, index=True, default=1)
    applicant_name: Mapped[str] = mapped_column(String(255))
    applicant_id_type: Mapped[str] = mapped_column(String(16))  # CCCD | MST | HC (passport)
    applicant_id_number: Mapped[str] = mapped_column(String(32), index=True)
    applicant_phone: Mapped[str] = mapped_column(String(32), default="")
    applicant_address: Mapped[str] = mapped_column(String(512), default="")
    sets: Mapped[int] = mapped_column(Integer, default=1)
    collect_at: Mapped[str] = mapped_column(String(16), default="counter")  # counter|post|online
    rules_version: Mapped[str | None] = mapped_column(String(32), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    received_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # A probationer's reception waits for the supervising civil servant's confirmation.
    pending_reception_by: Mapped[str | None] = mapped_column(String(64), default=None)
    confirmed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    original_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True, default=None)
    route: Mapped[list[Any]] = mapped_column(JSON, default=list)
    route_index: Mapped[int] = mapped_column(Integer, default=-1)  # -1: still at the counter
    holder_code: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    supplement_count: Mapped[int] = mapped_column(Integer, default=0)
    counted_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DossierComponent(Base):
    """A paper the procedure asks for, and what the counter received and digitized of it."""

    __tablename__ = "dossier_components"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # original | copy
    count: Mapped[int] = mapped_column(Integer, default=1)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    digitize: Mapped[bool] = mapped_column(Boolean, default=True)
    provided: Mapped[int] = mapped_column(Integer, default=0)
    document_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)


class DossierEvent(Base):
    """One status change or action on a dossier: who, when, why."""

    __tablename__ = "dossier_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[int | None] = mapped_column(Integer, default=None)
    to_status: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Handover(Base):
    """A row of the process-control sheet (form 06): who gave the dossier to whom, and when."""

    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    from_party: Mapped[str] = mapped_column(String(64))  # unit code, or "citizen"
    to_party: Mapped[str] = mapped_column(String(64))
    given_by: Mapped[str] = mapped_column(String(64))
    handed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    taken_by: Mapped[str | None] = mapped_column(String(64), default=None)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    result: Mapped[str | None] = mapped_column(String(16), default=None)  # early|on_time|late
    note: Mapped[str] = mapped_column(Text, default="")


class SupplementRequest(Base):
    """A request for missing papers; the citizen's time until it is met does not count."""

    __tablename__ = "supplement_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stage: Mapped[str] = mapped_column(String(16))  # counter | agency
    items: Mapped[list[Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    fulfilled_by: Mapped[str | None] = mapped_column(String(64), default=None)


class DossierForm(Base):
    """A signed form issued for a dossier (01 receipt, 02, 03, 04, 06), kept in the store."""

    __tablename__ = "dossier_forms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    form_no: Mapped[str] = mapped_column(String(4))
    object_key: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    qr_payload: Mapped[str] = mapped_column(Text)


class CodeCounter(Base):
    """The last dossier number given out per unit and day; bumped in the receiving transaction."""

    __tablename__ = "code_counters"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CalendarOverrideRow(Base):
    """An administrator's correction to the holiday calendar (compensating Saturdays, Tết days)."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")


class QueueTicket(Base):
    """A numbered ticket at a unit's counter: issued, called, served."""

    __tablename__ = "queue_tickets"
    __table_args__ = (UniqueConstraint("unit_code", "day", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    day: Mapped[str] = mapped_column(String(8))
    number: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    staff_id: Mapped[str | None] = mapped_column(String(64), default=None)
    dossier_id: Mapped[str | None] = mapped_column(String(32), default=None)


class PostalAssignment(Base):
    """The district plan: from which date postal staff take a field (or one procedure) at a unit."""

    __tablename__ = "postal_assignments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    field_code: Mapped[str] = mapped_column(String(32))
    procedure_code: Mapped[str | None] = mapped_column(String(32), default=None)
    postal_from: Mapped[date | None] = mapped_column(
        Date, default=None
    )  # None: stays with civil servants
    note: Mapped[str] = mapped_column(Text, default="")


class BackupAssignment(Base):
    """A backup employee covering a counter while someone is absent."""

    __tablename__ = "backup_assignments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff.id"), index=True)
    covers_staff_id: Mapped[str | None] = mapped_column(String(64), default=None)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))


class ComponentScan(Base):
    """A scan uploaded for a dossier component; its document attaches when it is signed."""

    __tablename__ = "component_scans"
    # One scan per file and component, however many counters press "upload" at once.
    __table_args__ = (UniqueConstraint("component_id", "sha256"),)

    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), primary_key=True)
    component_id: Mapped[str] = mapped_column(ForeignKey("dossier_components.id"), index=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
