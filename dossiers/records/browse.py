"""Reads for the auditor's pages: signed documents found by words, dossier, id or date; one
document with where it belongs; the latest audit events; sampled fixity checks and their runs.

Scoping is :mod:`dossiers.access`'s and :mod:`dossiers.workflow.scan_access`'s: a document is
visible with its scan (a paper or result of a dossier the caller may read, a counter's own
unit's scan, anything for an admin); audit events as :func:`dossiers.audit.list_events` shows
them. Every list is read in a fixed number of statements, whatever its length.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select, true, union
from sqlalchemy.orm import Session

from dossiers.access import Principal, dossier_filter
from dossiers.audit import READERS, AuditEvent, record
from dossiers.models import (
    ComponentScan,
    Dossier,
    DossierComponent,
    DossierForm,
    Receipt,
    RepositoryRecord,
    Result,
    Unit,
)
from dossiers.records.fixity import FixityReport, check_items
from dossiers.records.search import MAX_LIMIT as SEARCH_LIMIT
from dossiers.records.search import SOURCE_DOCUMENT, SOURCE_DOSSIER, search
from dossiers.workflow.scan_access import visible_document
from storage.models import Document, DocumentVersion, Scan

if TYPE_CHECKING:
    from storage.objects import ObjectStore

MAX_PAGE = 100
MAX_DOSSIERS = 10  # dossiers listed beside the documents a search finds
FIXITY_ACTION = "fixity.check"
MAX_FIXITY_SAMPLE = 500
# Ids of failed objects kept in a run's audit event; the counts are always complete.
MAX_FIXITY_LISTED = 100


# -- documents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentFilter:
    """What the auditor typed: any combination, all of them must hold.

    ``signed_from`` is inclusive and ``signed_until`` exclusive (the caller turns days of its
    time zone into instants).
    """

    text: str = ""
    dossier: str = ""  # a dossier's code or id
    document_id: str = ""
    signed_from: datetime | None = None
    signed_until: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.text or self.dossier or self.document_id or self.signed_from or self.signed_until
        )


@dataclass(frozen=True)
class DocumentRow:
    """A signed document as a list shows it, with the paper or result it stands for."""

    id: str
    title: str | None
    doc_type: str | None
    kind: str | None  # component | result | None (a scan outside any dossier)
    dossier_id: str | None
    dossier_code: str | None
    unit_code: str | None
    unit_name: str | None
    signed_at: datetime
    signer: str
    pages: int
    pades_level: str
    snippet: str | None = None


@dataclass(frozen=True)
class DossierHit:
    id: str
    code: str | None
    applicant_name: str
    procedure_code: str
    unit_code: str
    unit_name: str | None
    status: int
    snippet: str


@dataclass(frozen=True)
class Found:
    documents: list[DocumentRow]
    more: bool  # a next page exists
    dossiers: list[DossierHit] = field(default_factory=list)
    # The words matched more entries than one search reads: only the most relevant are listed.
    capped: bool = False


def _dossier_of() -> ColumnElement[Any]:
    return func.coalesce(ComponentScan.dossier_id, Result.dossier_id)


def _document_rows() -> Select[*tuple[Any, ...]]:
    """Documents with their scan, paper or result, dossier and unit: one row each."""
    unit_code = func.coalesce(Dossier.unit_code, Scan.unit_code)
    return (
        select(
            Document.id,
            func.coalesce(DossierComponent.name, Result.name).label("title"),
            func.coalesce(DossierComponent.key, Result.code).label("doc_type"),
            ComponentScan.scan_id.label("component_scan"),
            Result.id.label("result_id"),
            Dossier.id.label("dossier_id"),
            Dossier.code.label("dossier_code"),
            unit_code.label("unit_code"),
            Unit.name.label("unit_name"),
            Document.signed_at,
            Document.signer_name,
            Document.pages,
            Document.pades_level,
        )
        .select_from(Document)
        .join(Scan, Scan.id == Document.scan_id)
        .outerjoin(ComponentScan, ComponentScan.scan_id == Document.scan_id)
        .outerjoin(DossierComponent, DossierComponent.id == ComponentScan.component_id)
        .outerjoin(Result, Result.scan_id == Document.scan_id)
        .outerjoin(Dossier, Dossier.id == _dossier_of())
        .outerjoin(Unit, Unit.code == unit_code)
    )


def _document_scope(principal: Principal) -> ColumnElement[bool]:
    """:func:`~dossiers.workflow.scan_access.visible_scan` as a WHERE clause over
    :func:`_document_rows`: the dossier it belongs to is readable, or it is the counter's own
    unit's scan, or the caller is an admin."""
    if principal.role == "admin":
        return true()
    # An outer-joined dossier that is missing makes the filter NULL: not visible.
    linked = Dossier.id.is_not(None) & dossier_filter(principal)
    if principal.role == "counter" and principal.units:
        return or_(linked, Scan.unit_code.in_(principal.units))
    return linked


def _row(r: Any, snippet: str | None = None) -> DocumentRow:
    kind = "component" if r.component_scan else "result" if r.result_id else None
    return DocumentRow(
        id=r.id,
        title=r.title,
        doc_type=r.doc_type,
        kind=kind,
        dossier_id=r.dossier_id,
        dossier_code=r.dossier_code,
        unit_code=r.unit_code,
        unit_name=r.unit_name,
        signed_at=r.signed_at,
        signer=r.signer_name,
        pages=r.pages,
        pades_level=r.pades_level,
        snippet=snippet,
    )


def find_documents(
    session: Session,
    principal: Principal,
    wanted: DocumentFilter,
    *,
    offset: int = 0,
    limit: int = 25,
) -> Found:
    """Documents the caller may see that match ``wanted``, newest signature first.

    Words go through :func:`dossiers.records.search.search` (accents optional, scoped to the
    caller's dossiers): a document matches by its own text or by its dossier's code and
    applicant. The dossiers the words found are listed too, on the first page.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit is 1..{MAX_PAGE}")
    offset = max(0, offset)
    stmt = _document_rows().where(_document_scope(principal))
    snippets: dict[str, str] = {}
    dossiers: list[DossierHit] = []
    capped = False
    if wanted.text:
        visible = select(Dossier.id).where(dossier_filter(principal))
        hits = search(session, wanted.text, dossier_ids=visible, limit=SEARCH_LIMIT)
        capped = len(hits) >= SEARCH_LIMIT
        doc_ids = [h.ref_id for h in hits if h.source == SOURCE_DOCUMENT]
        found_dossiers = list(dict.fromkeys(h.dossier_id for h in hits))
        for h in hits:
            if h.source == SOURCE_DOCUMENT:
                snippets.setdefault(h.ref_id, h.snippet)
        if offset == 0 and found_dossiers:
            dossiers = _dossier_hits(session, hits, found_dossiers[:MAX_DOSSIERS])
        by_dossier = [h.dossier_id for h in hits if h.source == SOURCE_DOSSIER]
        if not (doc_ids or by_dossier):
            return Found([], False, dossiers, capped)
        # One set of ids, so the page's query looks documents up by key instead of scanning.
        matched = union(
            select(Document.id).where(Document.id.in_(doc_ids)),
            select(Document.id)
            .join(ComponentScan, ComponentScan.scan_id == Document.scan_id)
            .where(ComponentScan.dossier_id.in_(by_dossier)),
            select(Document.id)
            .join(Result, Result.scan_id == Document.scan_id)
            .where(Result.dossier_id.in_(by_dossier)),
        ).subquery()
        stmt = stmt.where(Document.id.in_(select(matched.c.id)))
    if wanted.dossier:
        column = Dossier.code if "-" in wanted.dossier else Dossier.id
        stmt = stmt.where(column == wanted.dossier)
    if wanted.document_id:
        stmt = stmt.where(Document.id == wanted.document_id)
    if wanted.signed_from is not None:
        stmt = stmt.where(Document.signed_at >= wanted.signed_from)
    if wanted.signed_until is not None:
        stmt = stmt.where(Document.signed_at < wanted.signed_until)
    rows = session.execute(
        stmt.order_by(Document.signed_at.desc(), Document.id.desc()).offset(offset).limit(limit + 1)
    ).all()
    documents = [_row(r, snippets.get(r.id)) for r in rows[:limit]]
    return Found(documents, len(rows) > limit, dossiers, capped)


def _dossier_hits(session: Session, hits: Sequence[Any], ids: list[str]) -> list[DossierHit]:
    """The dossiers ``ids`` (already scoped by the search), in the order the search ranked them."""
    rows = {
        d.id: (d, unit_name)
        for d, unit_name in session.execute(
            select(Dossier, Unit.name)
            .outerjoin(Unit, Unit.code == Dossier.unit_code)
            .where(Dossier.id.in_(ids))
        ).all()
    }
    snippet: dict[str, str] = {}
    for h in hits:
        snippet.setdefault(h.dossier_id, h.snippet)
    out = []
    for dossier_id in ids:
        if dossier_id not in rows:
            continue
        d, unit_name = rows[dossier_id]
        out.append(
            DossierHit(
                id=d.id,
                code=d.code,
                applicant_name=d.applicant_name,
                procedure_code=d.procedure_code,
                unit_code=d.unit_code,
                unit_name=unit_name,
                status=d.status,
                snippet=snippet[dossier_id],
            )
        )
    return out


# -- one document -----------------------------------------------------------------------------


def dossier_of_document(session: Session, doc_id: str) -> str | None:
    """The dossier a document is a paper or result of, if any (for its audit events)."""
    return session.scalar(
        select(_dossier_of())
        .select_from(Document)
        .outerjoin(ComponentScan, ComponentScan.scan_id == Document.scan_id)
        .outerjoin(Result, Result.scan_id == Document.scan_id)
        .where(Document.id == doc_id)
    )


@dataclass(frozen=True)
class Version:
    """Another signed scan of the same paper (a rescan, a second page set)."""

    id: str
    signed_at: datetime
    signer: str
    pages: int


@dataclass(frozen=True)
class DocumentEvent:
    seq: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str


@dataclass(frozen=True)
class DocumentDetail:
    document: Document
    row: DocumentRow
    scan_filename: str
    scanned_at: datetime
    dossier_status: int | None
    component_kind: str | None  # original | copy
    repository_code: str | None
    valid_until: date | None
    permanent: bool
    versions: list[Version]
    events: list[DocumentEvent]


def document_detail(
    session: Session, principal: Principal, doc_id: str, *, events: int = 50
) -> DocumentDetail | None:
    """The document if ``principal`` may see it (``None`` otherwise, as if it did not exist),
    with its dossier, paper, repository record, the other scans of the same paper and, for
    auditors and admins, its latest audit events."""
    doc = visible_document(session, principal, doc_id)
    if doc is None:
        return None
    r = session.execute(_document_rows().where(Document.id == doc.id)).one()
    extra = session.execute(
        select(
            Scan.filename,
            Scan.created_at,
            Dossier.status,
            DossierComponent.kind,
            DossierComponent.document_ids,
            RepositoryRecord.code,
            RepositoryRecord.valid_until,
            RepositoryRecord.permanent,
        )
        .select_from(Document)
        .join(Scan, Scan.id == Document.scan_id)
        .outerjoin(ComponentScan, ComponentScan.scan_id == Document.scan_id)
        .outerjoin(DossierComponent, DossierComponent.id == ComponentScan.component_id)
        .outerjoin(Result, Result.scan_id == Document.scan_id)
        .outerjoin(Dossier, Dossier.id == _dossier_of())
        .outerjoin(RepositoryRecord, RepositoryRecord.document_id == Document.id)
        .where(Document.id == doc.id)
    ).one()
    others = [d for d in (extra.document_ids or []) if d != doc.id]
    versions = [
        Version(v.id, v.signed_at, v.signer_name, v.pages)
        for v in session.execute(
            select(Document.id, Document.signed_at, Document.signer_name, Document.pages)
            .where(Document.id.in_(others))
            .order_by(Document.signed_at.desc())
        ).all()
    ]
    history: list[DocumentEvent] = []
    if principal.role in READERS:
        history = [
            DocumentEvent(e.seq, e.at, e.actor_id, e.actor_role, e.action)
            for e in session.execute(
                select(
                    AuditEvent.seq,
                    AuditEvent.at,
                    AuditEvent.actor_id,
                    AuditEvent.actor_role,
                    AuditEvent.action,
                )
                .where(AuditEvent.subject_type == "document", AuditEvent.subject_id == doc.id)
                .order_by(AuditEvent.seq.desc())
                .limit(events)
            ).all()
        ]
    session.expunge(doc)
    return DocumentDetail(
        document=doc,
        row=_row(r),
        scan_filename=extra.filename,
        scanned_at=extra.created_at,
        dossier_status=extra.status,
        component_kind=extra.kind,
        repository_code=extra.code,
        valid_until=extra.valid_until,
        permanent=bool(extra.permanent),
        versions=versions,
        events=history,
    )


# -- the audit log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    seq: int
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    subject_type: str
    subject_id: str
    dossier_id: str | None
    dossier_code: str | None
    hash: str


def latest_events(
    session: Session,
    principal: Principal,
    *,
    actor_id: str | None = None,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[EventRow]:
    """Audit events newest first, scoped as :func:`dossiers.audit.list_events` scopes them
    (auditors: their province's dossiers; admins: everything); pass the last ``seq`` shown as
    ``before_seq`` for the next page."""
    principal.require(*READERS)
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit is 1..{MAX_PAGE}")
    stmt = select(
        AuditEvent.seq,
        AuditEvent.at,
        AuditEvent.actor_id,
        AuditEvent.actor_role,
        AuditEvent.action,
        AuditEvent.subject_type,
        AuditEvent.subject_id,
        AuditEvent.dossier_id,
        Dossier.code.label("dossier_code"),
        AuditEvent.hash,
    ).outerjoin(Dossier, Dossier.id == AuditEvent.dossier_id)
    if principal.role != "admin":
        visible = select(Dossier.id).where(dossier_filter(principal))
        stmt = stmt.where(AuditEvent.dossier_id.in_(visible))
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    rows = session.execute(stmt.order_by(AuditEvent.seq.desc()).limit(limit)).all()
    return [EventRow(**r._asdict()) for r in rows]


# -- fixity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixityRun:
    """One sampled check, as its audit event recorded it."""

    seq: int
    at: datetime
    actor_id: str
    scope: str  # a province code, or "all"
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.data.get("ok"))


def _fixity_scope(principal: Principal) -> str:
    return "all" if principal.role == "admin" else str(principal.province_code or "")


def fixity_candidates(
    session: Session, principal: Principal, size: int
) -> list[tuple[str, str, str, str]]:
    """Up to ``size`` (kind, row id, object key, recorded sha256) drawn at random from what the
    ledger vouches for (see :func:`dossiers.records.fixity.recorded`), within the caller's
    dossiers: originals, signed documents, forms and receipts."""
    principal.require(*READERS)
    if not 1 <= size <= MAX_FIXITY_SAMPLE:
        raise ValueError(f"size is 1..{MAX_FIXITY_SAMPLE}")
    admin = principal.role == "admin"
    visible = select(Dossier.id).where(dossier_filter(principal))
    linked = union(
        select(ComponentScan.scan_id.label("id")).where(ComponentScan.dossier_id.in_(visible)),
        select(Result.scan_id.label("id")).where(Result.dossier_id.in_(visible)),
    ).subquery()
    scans = true() if admin else Scan.id.in_(select(linked.c.id))
    docs = true() if admin else Document.scan_id.in_(select(linked.c.id))
    shuffled = func.random()
    items: list[tuple[str, str, str, str]] = []
    for r in session.execute(
        select(Scan.id, Scan.original_key, Scan.sha256).where(scans).order_by(shuffled).limit(size)
    ):
        items.append(("original", r.id, r.original_key, r.sha256))
    for r in session.execute(
        select(Document.id, Document.object_key, Document.sha256)
        .where(docs)
        .order_by(shuffled)
        .limit(size)
    ):
        items.append(("document", r.id, r.object_key, r.sha256))
    for r in session.execute(
        select(DocumentVersion.id, DocumentVersion.object_key, DocumentVersion.sha256)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(docs)
        .order_by(shuffled)
        .limit(size)
    ):
        items.append(("document_version", r.id, r.object_key, r.sha256))
    for r in session.execute(
        select(DossierForm.id, DossierForm.object_key, DossierForm.sha256)
        .where(true() if admin else DossierForm.dossier_id.in_(visible))
        .order_by(shuffled)
        .limit(size)
    ):
        items.append(("form", r.id, r.object_key, r.sha256))
    for rc in session.execute(
        select(Receipt.id, Receipt.xml_key, Receipt.xml_sha256, Receipt.pdf_key, Receipt.pdf_sha256)
        .where(true() if admin else Receipt.dossier_id.in_(visible))
        .order_by(shuffled)
        .limit(size)
    ):
        items.append(("receipt", rc.id, rc.xml_key, rc.xml_sha256))
        items.append(("receipt", rc.id, rc.pdf_key, rc.pdf_sha256))
    random.shuffle(items)
    return items[:size]


def rehash(store: ObjectStore, items: Sequence[tuple[str, str, str, str]]) -> FixityReport:
    """Re-hash a sample as :func:`dossiers.records.fixity.check` re-hashes the whole store."""
    return check_items(store, items)


def record_fixity(
    session: Session, principal: Principal, report: FixityReport, *, sample: int, at: datetime
) -> AuditEvent:
    """The run as an audit event: who checked what share of which scope, and which objects
    failed, by kind and row id (keys and hashes stay in the ledger)."""

    failed = [
        {"kind": e["kind"], "id": e["id"], "problem": problem}
        for problem, entries in (
            ("mismatch", report.mismatches),
            ("missing", report.missing),
            ("unreadable", report.unreadable),
        )
        for e in entries
    ]

    return record(
        session,
        actor_id=principal.staff_id,
        actor_role=principal.role,
        action=FIXITY_ACTION,
        subject_type="fixity",
        subject_id=_fixity_scope(principal),
        data={
            "sample": sample,
            "ok": report.ok,
            "checked": report.checked,
            "bytes": report.bytes,
            "mismatched": len(report.mismatches),
            "missing": len(report.missing),
            "unreadable": len(report.unreadable),
            "failed": failed[:MAX_FIXITY_LISTED],
        },
        at=at,
    )


def fixity_runs(session: Session, principal: Principal, *, limit: int = 10) -> list[FixityRun]:
    """The latest sampled checks of the caller's scope (an admin sees every scope's)."""
    principal.require(*READERS)
    stmt = select(AuditEvent).where(
        AuditEvent.action == FIXITY_ACTION, AuditEvent.subject_type == "fixity"
    )
    if principal.role != "admin":
        scope = _fixity_scope(principal)
        stmt = stmt.where(AuditEvent.subject_id == scope if scope else false())
    rows = session.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit))
    return [FixityRun(e.seq, e.at, e.actor_id, e.subject_id, dict(e.data)) for e in rows]
