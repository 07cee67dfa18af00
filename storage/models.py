"""SQLAlchemy models of the pipeline's ledger: scans and the documents they become."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ScanStatus:
    RECEIVED = "received"
    PROCESSING = "processing"
    DIGITIZED = "digitized"
    FAILED = "failed"
    # OCR done, the signature waits for the clerk's PIN/OTP (a remote key that signs only
    # with its holder's confirmation). Not ACTIVE: no worker or sweeper takes it; the clerk's
    # confirmation (POST /api/v1/scans/{id}/confirmation) signs it.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    ACTIVE = (RECEIVED, PROCESSING)


class Step:
    OCR = "ocr"
    SIGN = "sign"


class Scan(Base):
    """One uploaded file on its way to a signed document.

    ``step`` is the next stage to run and ``lease_until`` says whether a worker holds it: a task
    claims the step with a conditional update, renews the lease while it runs, and the sweeper
    re-enqueues a step whose lease expired.
    """

    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(32), index=True, default=ScanStatus.RECEIVED)
    step: Mapped[str | None] = mapped_column(String(16), default=Step.OCR)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_key: Mapped[str] = mapped_column(String(512))
    # A decrypted copy when the citizen's PDF came with its password; the original stays intact.
    source_key: Mapped[str | None] = mapped_column(String(512), default=None)
    clerk_id: Mapped[str] = mapped_column(String(64))
    # The unit whose counter uploaded it: the API shows a scan only to that unit's staff.
    unit_code: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    # Who signs: the clerk (a paper received, stamp top-left) or "unit" (an organization's
    # result, stamp top-right); ``sign_options`` carries stamp lines and a QR payload.
    sign_as: Mapped[str] = mapped_column(String(16), default="clerk", server_default="clerk")
    sign_options: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    pages_total: Mapped[int | None] = mapped_column(Integer, default=None)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    worker: Mapped[str | None] = mapped_column(String(128), default=None)
    reason_code: Mapped[str | None] = mapped_column(String(64), default=None)
    reason_message: Mapped[str | None] = mapped_column(Text, default=None)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ocr_key: Mapped[str | None] = mapped_column(String(512), default=None)
    ocr_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    #: Tesseract models asked for at upload ("eng+fra"); None: Vietnamese first, per page.
    ocr_languages: Mapped[str | None] = mapped_column(String(64), default=None)


class Document(Base):
    """A signed, searchable PDF/A in the object store; at most one per scan."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), unique=True)
    object_key: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(64))
    original_sha256: Mapped[str] = mapped_column(String(64))
    ocr_sha256: Mapped[str] = mapped_column(String(64))
    page_texts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signer_name: Mapped[str] = mapped_column(String(255))
    clerk_id: Mapped[str] = mapped_column(String(64))
    pades_level: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: One entry a page: how it was made (``scan``, ``text``, ``mixed``, ``rasterized``,
    #: ``kept`` for a signed input) and the language it was read in.
    page_info: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Signatures the uploaded file already carried, as verified on arrival.
    input_signatures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Files that were embedded in the upload, stored beside the document (PDF/A-2 forbids them).
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: ``converted`` (we made the PDF/A) or ``as_received`` (a signed input, never rewritten).
    pdfa_source: Mapped[str] = mapped_column(String(16), default="converted")
    #: notAfter of the TSA certificate of the file's newest timestamp: the file must get a new
    #: document timestamp before then (``None``: not known yet, or no timestamp at all).
    archive_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    #: 1 as signed; each archive renewal stores a new object and moves the previous one to
    #: :class:`DocumentVersion`. Renewal commits only if this is still what it read.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: A renewal worker holds the document until then (the TSA call and the upload run outside
    #: a transaction, and a second renewal would leave a WORM-locked orphan behind).
    renewal_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DocumentVersion(Base):
    """A document's earlier file, replaced by an archive renewal and never deleted.

    The renewed file starts with these very bytes, but the object is kept on its own: fixity
    checks it, and an auditor can fetch the file as it was on a given day.
    """

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    archive_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: When the next version took its place.
    superseded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Refusal(Base):
    """An upload refused at the door: what was sent, why, by whom, and where it is kept if at all.

    A refusal is not a scan (nothing will be processed), but its id is the scan id the counter was
    given, so ``GET /scans/{id}`` can answer 410 with the reason instead of a bare 404. The bytes
    are kept only under quarantine policy; several refusals of the same bytes share one object.
    """

    __tablename__ = "refusals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str] = mapped_column(String(64))
    reason_message: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255))
    clerk_id: Mapped[str] = mapped_column(String(64))
    # Scoped like scans: the uploading unit's staff, or readers of the dossier it was sent to.
    unit_code: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    dossier_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: ``quarantine/<id of the first refusal of these bytes>`` while kept, else None.
    quarantine_key: Mapped[str | None] = mapped_column(String(512), index=True, default=None)
    quarantine_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
