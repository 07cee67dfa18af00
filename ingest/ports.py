"""What the pipeline needs from outside, declared here and filled in by the composition root.

The pipeline reads a :class:`PipelineConfig` (plain values, never the settings object), runs on
:class:`PipelineDeps` (database, store, queue, engines) and tells the domain about scans only
through the hooks below: an :class:`UploadTarget` says what an upload belongs to, ``on_signed``
hears about every signed document. So ingest knows nothing of dossiers, and the API process,
which only queues scans, never builds the OCR engine or loads a private key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from asn1crypto import x509
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session, sessionmaker

    from ingest.limits import Limits
    from ocr.engine import OcrEngine
    from signing.backends import SignerRegistry
    from signing.sign import DocumentSigner
    from storage.models import Document, Scan
    from storage.objects import ObjectStore


@dataclass(frozen=True)
class PipelineConfig:
    """The settings the pipeline reads, and no others."""

    #: Scratch space: uploads being spooled, steps being run.
    work_dir: Path
    #: A step does not start with less free space than this in ``work_dir``.
    work_min_free_mb: int
    #: What one upload may cost, checked at upload and again in the worker.
    limits: Limits
    #: Whose certificate signs when an upload names no clerk.
    default_clerk: str
    #: Tries of one step before the scan fails with ``attempts_exhausted``.
    max_attempts: int
    #: Seconds a claimed step is held, and how often its worker renews the hold.
    lease_seconds: float
    heartbeat_seconds: float
    #: Seconds an accepted, idle scan waits before the sweeper queues it again.
    requeue_grace: float
    #: Whether refused uploads' bytes are kept, up to what size, for how many days.
    quarantine_refused: bool
    quarantine_max_bytes: int
    quarantine_days: int
    #: Object-lock retention of signed documents, where the store can lock (0 days: none).
    retention_days: int
    retention_mode: Literal["GOVERNANCE", "COMPLIANCE"]
    #: Tesseract languages of the text layer added to a signed input for the search index.
    ocr_languages: str
    #: The place written into every signature.
    signing_location: str


class Dispatcher(Protocol):
    """How a step is queued; Celery's implementation is :class:`ingest.tasks.CeleryDispatcher`."""

    def send(self, scan_id: str, step: str) -> None:
        """Queue ``step`` of ``scan_id``; may raise when the queue cannot be reached."""
        ...


#: Called in the transaction that creates a scan's signed document (the scan is digitized).
OnSigned = Callable[["Session", "Scan", "Document"], None]


class UploadTarget(Protocol):
    """What an upload belongs to in the domain beyond its clerk (a dossier's paper, a result)."""

    @property
    def dossier_id(self) -> str | None:
        """Recorded with a refusal, so the dossier's readers may learn why it was refused."""
        ...

    def same_upload(self) -> ColumnElement[bool] | None:
        """Which scans were uploaded for this target (the same bytes then count as accepted
        already); ``None``: the clerk's own scans, as for a loose upload."""
        ...

    def record(self, session: Session, scan: Scan) -> None:
        """Add the domain's rows for a new scan, in the transaction that records it."""
        ...


@dataclass(frozen=True)
class PipelineDeps:
    """The services the pipeline runs on.

    The OCR engine, the signers and the certificates are given as builders and built on first
    use: the API process queues scans but must never build the OCR engine or load a key.
    """

    sessions: sessionmaker[Session]
    store: ObjectStore
    dispatcher: Dispatcher
    on_signed: OnSigned
    build_ocr_engine: Callable[[], OcrEngine]
    build_signers: Callable[[], SignerRegistry]
    build_document_signer: Callable[[], DocumentSigner]
    #: Roots trusted when a received file's signatures are checked, and intermediates.
    load_trust_roots: Callable[[], list[x509.Certificate]]
    load_other_certs: Callable[[], list[x509.Certificate]]

    @cached_property
    def ocr_engine(self) -> OcrEngine:
        return self.build_ocr_engine()

    @cached_property
    def signers(self) -> SignerRegistry:
        return self.build_signers()

    @cached_property
    def document_signer(self) -> DocumentSigner:
        return self.build_document_signer()

    @cached_property
    def trust_roots(self) -> list[x509.Certificate]:
        return self.load_trust_roots()

    @cached_property
    def other_certs(self) -> list[x509.Certificate]:
        return self.load_other_certs()


class Pipeline(Protocol):
    """What every pipeline function runs on: the composition root's services provide it."""

    @property
    def pipeline_config(self) -> PipelineConfig: ...

    @property
    def pipeline_deps(self) -> PipelineDeps: ...
