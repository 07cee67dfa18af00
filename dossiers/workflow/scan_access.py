"""Which scans, refused uploads and documents a caller may see.

A scan belongs to the unit whose counter uploaded it; whoever may read a dossier (see
:func:`dossiers.access.dossier_filter`) also sees the scans of its papers and results. A
refused upload keeps its scan id and is scoped the same way, and a document is visible with
its scan. Anything else is answered as if it did not exist, so an id reveals nothing.
"""

from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from dossiers.access import Principal, dossier_filter
from dossiers.models import ComponentScan, Dossier, Result
from storage.models import Document, Refusal, Scan


def visible_scan(session: Session, who: Principal, scan_id: str) -> Scan | None:
    """The scan, if ``who`` may see it: its unit's, or a paper or result of a readable dossier."""
    scan = session.get(Scan, scan_id)
    if scan is None or who.role == "admin":
        return scan
    if who.role == "counter" and scan.unit_code in who.units:
        return scan
    owners = union(
        select(ComponentScan.dossier_id.label("id")).where(ComponentScan.scan_id == scan_id),
        select(Result.dossier_id.label("id")).where(Result.scan_id == scan_id),
    ).subquery()
    linked = session.scalar(
        select(Dossier.id).where(Dossier.id.in_(select(owners.c.id)), dossier_filter(who))
    )
    return scan if linked else None


def visible_refusal(session: Session, who: Principal, scan_id: str) -> Refusal | None:
    """The refusal recorded under ``scan_id``, if ``who`` may see it: the uploading unit's
    counter, a reader of the dossier it was sent to, or an admin."""
    refusal = session.get(Refusal, scan_id)
    if refusal is None:
        return None
    if who.role == "admin" or (who.role == "counter" and refusal.unit_code in who.units):
        return refusal
    if refusal.dossier_id is None:
        return None
    readable = session.scalar(
        select(Dossier.id).where(Dossier.id == refusal.dossier_id, dossier_filter(who))
    )
    return refusal if readable is not None else None


def visible_document(session: Session, who: Principal, doc_id: str) -> Document | None:
    """The document, if ``who`` may see its scan."""
    doc = session.get(Document, doc_id)
    if doc is None or visible_scan(session, who, doc.scan_id) is None:
        return None
    return doc


def document_of(session: Session, scan_id: str) -> str | None:
    """The id of the document a scan became; ``None`` until it is signed and stored."""
    return session.scalar(select(Document.id).where(Document.scan_id == scan_id))
