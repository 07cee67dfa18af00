"""The domain's side of the pipeline: what an upload belongs to, and what a signature means.

The pipeline (``ingest``) knows nothing of dossiers. It asks an upload's target
(:class:`ingest.ports.UploadTarget`: a :class:`ComponentRef` or a :class:`ResultPaper`) which
scans count as the same upload and lets it add its rows with the scan; the composition root
gives it :func:`on_signed` for every signed document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from dossiers.audit import record
from dossiers.models import ComponentScan, Dossier, Result
from dossiers.outbox import DOCUMENT_DIGITIZED, emit
from dossiers.workflow.service import attach_document
from storage.models import Document, Scan


@dataclass(frozen=True)
class ComponentRef:
    """A scan of one paper of a dossier: one scan per file and component, however many
    counters press "upload" at once; its signed document joins the component."""

    dossier_id: str
    component_id: str

    def same_upload(self) -> ColumnElement[bool]:
        return Scan.id.in_(
            select(ComponentScan.scan_id).where(ComponentScan.component_id == self.component_id)
        )

    def record(self, session: Session, scan: Scan) -> None:
        session.add(
            ComponentScan(
                scan_id=scan.id,
                component_id=self.component_id,
                dossier_id=self.dossier_id,
                sha256=scan.sha256,
            )
        )


@dataclass(frozen=True)
class ResultPaper:
    """An agency's result, signed by the organization; ``add_result`` adds its row (see
    :meth:`dossiers.results.returns.Returns.prepare_result`). The same file counts as the same upload
    for the same clerk, as a loose scan does."""

    add_result: Callable[[Session, Scan], None]
    dossier_id: str | None = None

    def same_upload(self) -> None:
        return None

    def record(self, session: Session, scan: Scan) -> None:
        self.add_result(session, scan)


def on_signed(session: Session, scan: Scan, document: Document) -> None:
    """A scan's document is signed: it joins its dossier (a component's paper or a result), and
    the signature becomes an event of the audit chain, in the transaction that creates it."""
    attach_document(session, scan.id, document.id, document.page_texts)
    component_of = session.scalar(
        select(ComponentScan.dossier_id).where(ComponentScan.scan_id == scan.id)
    )
    dossier_id = component_of or session.scalar(
        select(Result.dossier_id).where(Result.scan_id == scan.id)
    )
    record(
        session,
        actor_id=scan.clerk_id if scan.sign_as == "clerk" else "unit",
        actor_role="pipeline",
        action="document.signed",
        subject_type="document",
        subject_id=document.id,
        dossier_id=dossier_id,
        at=document.signed_at,
        data={
            "scan_id": scan.id,
            "sha256": document.sha256,
            "pades_level": document.pades_level,
            "sign_as": scan.sign_as,
            "signer": document.signer_name,
        },
    )
    if dossier_id is not None:
        dossier = session.get(Dossier, dossier_id)
        if dossier is not None:
            emit(
                session,
                DOCUMENT_DIGITIZED,
                at=document.signed_at,
                dossier=dossier,
                document_id=document.id,
                scan_id=scan.id,
                sha256=document.sha256,
                pages=document.pages,
                result=component_of is None,  # a paper of the dossier, or the agency's result
            )
