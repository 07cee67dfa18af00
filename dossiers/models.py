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
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
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
    email: Mapped[str] = mapped_column(String(255), default="")  # deadline alerts
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
    # The citizen's notifications: given at the counter (consent and the channels chosen), and
    # withdrawn by an opt-out at any time; nothing is sent without consent or after an opt-out.
    applicant_email: Mapped[str] = mapped_column(String(255), default="")
    notify_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # email|sms|zalo
    notify_opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When staff were warned that the deadline is near (once per deadline).
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
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


# -- fees, receipts, results and their return (issue: fees and results) -------------------------


class DossierFee(Base):
    """A fee or charge a dossier owes: from its procedure, or assessed later by the agency."""

    __tablename__ = "dossier_fees"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))  # fee (lệ phí) | charge (phí)
    amount: Mapped[int] = mapped_column(BigInteger)  # VND
    collect_at: Mapped[str] = mapped_column(String(16))  # receipt | supplement | return | assessed
    status: Mapped[str] = mapped_column(String(8), default="due")  # due | paid
    payment_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReceiptSeries(Base):
    """A registered receipt series (ký hiệu mẫu + ký hiệu) a unit issues from, under mandate.

    Which agency collects and on whose mandate the postal counter issues are registration data
    (form 01/ĐKTĐ-CTĐT), kept here as configuration because the legal text is unverified.
    """

    __tablename__ = "receipt_series"
    __table_args__ = (UniqueConstraint("form_symbol", "series"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    form_symbol: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(32))
    collector_name: Mapped[str] = mapped_column(String(255))
    collector_tax_code: Mapped[str] = mapped_column(String(32), default="")
    collector_address: Mapped[str] = mapped_column(String(512), default="")
    issuer_tax_code: Mapped[str] = mapped_column(String(32), default="")
    mandate: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, default=None)


class Payment(Base):
    """Money taken at the counter for one or more fee items of a dossier."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    staff_id: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(8))  # cash | transfer
    reference: Mapped[str] = mapped_column(String(64), default="")
    amount: Mapped[int] = mapped_column(BigInteger)
    payer_name: Mapped[str] = mapped_column(String(255))
    payer_address: Mapped[str] = mapped_column(String(512), default="")
    payer_tax_code: Mapped[str] = mapped_column(String(32), default="")
    fee_ids: Mapped[list[Any]] = mapped_column(JSON)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when its receipt is voided without a replacement: the money went back.
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Receipt(Base):
    """An e-receipt. Never deleted: voided with a reason, and a replacement links back to it."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("series_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    series_id: Mapped[str] = mapped_column(ForeignKey("receipt_series.id"))
    form_symbol: Mapped[str] = mapped_column(String(32))
    series: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    staff_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    method: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_words: Mapped[str] = mapped_column(String(512))
    payer_name: Mapped[str] = mapped_column(String(255))
    lines: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="issued")  # issued | voided
    void_reason: Mapped[str | None] = mapped_column(Text, default=None)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    voided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("receipts.id"), default=None)
    xml_key: Mapped[str] = mapped_column(String(512))
    xml_sha256: Mapped[str] = mapped_column(String(64))
    pdf_key: Mapped[str] = mapped_column(String(512))
    pdf_sha256: Mapped[str] = mapped_column(String(64))


class Result(Base):
    """A result paper of a dossier, digitized and signed by the organization.

    Hidden from the citizen's repository until it is returned.
    """

    __tablename__ = "results"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), unique=True)
    document_id: Mapped[str | None] = mapped_column(String(32), default=None)
    code: Mapped[str] = mapped_column(String(32))  # result type, e.g. KQ.G10.000005
    name: Mapped[str] = mapped_column(String(255))
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    scope: Mapped[str] = mapped_column(String(255), default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ResultReturn(Base):
    """How a dossier's result reached the citizen: at the counter, by post, or by link."""

    __tablename__ = "result_returns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # counter | post | online
    staff_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # At the counter.
    recipient_name: Mapped[str] = mapped_column(String(255), default="")
    recipient_id: Mapped[str] = mapped_column(String(32), default="")
    relation: Mapped[str] = mapped_column(String(64), default="")
    record_key: Mapped[str | None] = mapped_column(String(512), default=None)
    # By post: accepted -> in_transit -> delivered | returned_to_sender.
    tracking_number: Mapped[str] = mapped_column(String(64), default="")
    postal_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    postal_status: Mapped[str] = mapped_column(String(24), default="")
    postal_history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Electronically: a link whose token is stored hashed.
    link_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DownloadLog(Base):
    """Every download of a returned result through its link."""

    __tablename__ = "download_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    return_id: Mapped[str] = mapped_column(ForeignKey("result_returns.id"), index=True)
    document_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    client: Mapped[str] = mapped_column(String(255), default="")


# -- the reusable data repository (kho dữ liệu) ----------------------------------------------


class RepositoryRecord(Base):
    """A digitized paper in the citizen's data repository, with its digitization code.

    ``seq`` is bumped on every change (from a gap-free counter), so harvesters page through
    changes with a keyset cursor. Results stay ``hidden`` until returned; a withdrawn record is
    kept with ``deleted`` set, as OAI-PMH expects.
    """

    __tablename__ = "repository_records"
    # Harvest pages are keyset scans: by set (field or unit) in seq order, or by change time.
    __table_args__ = (
        Index("ix_repository_records_field_seq", "field_code", "seq"),
        Index("ix_repository_records_unit_seq", "unit_code", "seq"),
        Index("ix_repository_records_updated_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    code: Mapped[str] = mapped_column(String(160), unique=True)
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    owner_id_type: Mapped[str] = mapped_column(String(16))
    doc_type: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(512))
    number_symbol: Mapped[str] = mapped_column(String(64), default="")
    issue_date: Mapped[date | None] = mapped_column(Date, default=None)
    issuer: Mapped[str] = mapped_column(String(255), default="")
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    scope: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(16))  # component | result
    digitizer_id: Mapped[str] = mapped_column(String(64))
    digitized_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    dossier_code: Mapped[str] = mapped_column(String(48), default="")
    procedure_code: Mapped[str] = mapped_column(String(32))
    field_code: Mapped[str] = mapped_column(String(32), index=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    document_id: Mapped[str] = mapped_column(String(32), unique=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(Text, default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ComponentReuse(Base):
    """A dossier component satisfied from the repository instead of a new scan.

    ``flag`` follows the national sync flag DuocTaiSuDung: 1 reused, 2 reused with the code of
    the stored result that replaces the paper (MaKetQuaThayThe).
    """

    __tablename__ = "component_reuses"

    component_id: Mapped[str] = mapped_column(ForeignKey("dossier_components.id"), primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id"), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("repository_records.id"))
    flag: Mapped[int] = mapped_column(Integer, default=1)
    replaced_by_code: Mapped[str | None] = mapped_column(String(160), default=None)
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxEvent(Base):
    """Something that happened and must leave the system, written in the change's transaction.

    The id orders events; subscribers receive a dossier's events in that order. ``fanned_out``
    turns true once a delivery row exists for every subscriber configured at that moment.
    """

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(64))  # dossier.<action> | document.digitized | ...
    dossier_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    unit_code: Mapped[str | None] = mapped_column(String(32), default=None)
    province_code: Mapped[str | None] = mapped_column(String(8), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class OutboxDelivery(Base):
    """One event for one subscriber: pending until delivered, dead after too many failures."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber"),
        Index("ix_outbox_deliveries_due", "state", "next_at"),
        Index("ix_outbox_deliveries_order", "subscriber", "dossier_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), index=True)
    subscriber: Mapped[str] = mapped_column(String(64))  # dvcqg | notify.email | webhook:<id>
    dossier_id: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # What the receiver said last (HTTP status, a portal's code), for the delivery log.
    last_response: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookSubscription(Base):
    """An integrator's endpoint for one unit's or one province's events.

    The signing secret is sealed with the installation's key (never stored in the clear); it
    is shown once, when the subscription is made or its secret rotated.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(16))  # unit | province
    scope_code: Mapped[str] = mapped_column(String(32), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)  # kinds, "dossier.*" allowed
    secret_sealed: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ExternalRef(Base):
    """What another system calls one of our things: the portal's file id and hash for a
    document, its code for a dossier. Looked up before uploading again."""

    __tablename__ = "external_refs"
    __table_args__ = (UniqueConstraint("system", "kind", "local_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))  # dvcqg | a province's one-stop system
    kind: Mapped[str] = mapped_column(String(32))  # file | dossier
    local_id: Mapped[str] = mapped_column(String(128))
    remote_id: Mapped[str] = mapped_column(String(256))
    remote_hash: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
