"""A dossier as the portal sees it, read from the current rows in one session.

Outbox events carry no personal data (dossiers/outbox.py), so a delivery reads what it sends
when it sends it: the portal always gets the dossier's present state, whatever event is being
delivered. The snapshot is plain data, so a payload builder is a pure function of it and a
province's builder can be swapped without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import (
    ComponentReuse,
    Dossier,
    DossierComponent,
    DossierEvent,
    DossierFee,
    Procedure,
    RepositoryRecord,
    Result,
    ResultReturn,
    Staff,
    SupplementRequest,
    Unit,
)
from storage.models import Document


@dataclass(frozen=True)
class FileRef:
    """A signed document to upload: its bytes are ``object_key`` in the store."""

    document_id: str
    sha256: str
    object_key: str

    @property
    def filename(self) -> str:
        return f"{self.document_id}.pdf"


@dataclass(frozen=True)
class Paper:
    """One file of a dossier component (TaiLieuNop entry); ``file`` is None for a paper that
    was brought but not digitized."""

    key: str
    name: str
    kind: str  # original | copy
    file: FileRef | None
    digitized: bool  # scanned for this dossier
    reuse_flag: int = 0  # 0 new, 1 reused, 2 reused and replaced by a stored result
    replaced_by_code: str = ""


@dataclass(frozen=True)
class Fee:
    code: str
    name: str
    kind: str  # fee | charge
    amount: int
    collect_at: str  # receipt | supplement | return | assessed
    paid: bool


@dataclass(frozen=True)
class ResultDoc:
    code: str
    name: str
    file: FileRef | None  # None until its scan is signed


@dataclass(frozen=True)
class Supplement:
    requested_by: str  # staff name
    reason: str
    items: tuple[str, ...]
    requested_at: datetime
    fulfilled_at: datetime | None
    fulfilled_by: str  # staff name, "" while outstanding
    due_before: datetime | None
    due_after: datetime | None


@dataclass(frozen=True)
class DossierSnapshot:
    id: str
    code: str
    unit_code: str
    unit_name: str
    province_code: str
    procedure_code: str
    procedure_name: str
    field_code: str
    field_name: str
    channel: int
    status: int
    applicant_name: str
    applicant_id_type: str
    applicant_id_number: str
    applicant_phone: str
    applicant_email: str
    collect_at: str
    created_at: datetime
    received_at: datetime | None
    due_at: datetime | None
    finished_at: datetime | None
    returned_at: datetime | None
    holder_code: str | None
    holder_name: str
    agency_name: str  # the competent agency that has (or last had) it; the unit before routing
    return_channel: str  # counter | post | online | "" before the return
    tracking_number: str
    papers: tuple[Paper, ...] = ()
    fees: tuple[Fee, ...] = ()
    results: tuple[ResultDoc, ...] = ()
    supplements: tuple[Supplement, ...] = ()


@dataclass(frozen=True)
class Step:
    """One outbox event of the dossier, as a processing step (CapNhatTienTrinh)."""

    kind: str  # dossier.<action> | document.digitized
    at: datetime
    actor_name: str
    actor_role: str
    actor_unit_name: str
    from_status: int | None
    to_status: int | None
    reason: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.kind.removeprefix("dossier.")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _file(doc: Document | None) -> FileRef | None:
    if doc is None:
        return None
    return FileRef(document_id=doc.id, sha256=doc.sha256, object_key=doc.object_key)


def _names(session: Session, staff_ids: set[str]) -> dict[str, str]:
    if not staff_ids:
        return {}
    rows = session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids)))
    return {sid: name for sid, name in rows}


def _unit_name(session: Session, code: str | None) -> str:
    if not code:
        return ""
    unit = session.get(Unit, code)
    return unit.name if unit is not None else code


def load(session: Session, dossier_id: str) -> DossierSnapshot | None:
    """The dossier's present state, or None if there is no such dossier."""
    d = session.get(Dossier, dossier_id)
    if d is None:
        return None
    proc = session.get(Procedure, d.procedure_id)
    unit = session.get(Unit, d.unit_code)
    papers = _papers(session, d)
    results = tuple(
        ResultDoc(
            code=r.code,
            name=r.name,
            file=_file(session.get(Document, r.document_id) if r.document_id else None),
        )
        for r in session.scalars(
            select(Result).where(Result.dossier_id == d.id).order_by(Result.created_at, Result.id)
        )
    )
    fees = tuple(
        Fee(
            code=f.code,
            name=f.name,
            kind=f.kind,
            amount=int(f.amount),
            collect_at=f.collect_at,
            paid=f.status == "paid",
        )
        for f in session.scalars(
            select(DossierFee)
            .where(DossierFee.dossier_id == d.id)
            .order_by(DossierFee.created_at, DossierFee.code)
        )
    )
    ret = session.scalar(
        select(ResultReturn)
        .where(ResultReturn.dossier_id == d.id)
        .order_by(ResultReturn.created_at.desc())
        .limit(1)
    )
    return DossierSnapshot(
        id=d.id,
        code=d.code or "",
        unit_code=d.unit_code,
        unit_name=unit.name if unit is not None else d.unit_code,
        province_code=unit.province_code if unit is not None else "",
        procedure_code=d.procedure_code,
        procedure_name=proc.name if proc is not None else d.procedure_code,
        field_code=proc.field_code if proc is not None else "",
        field_name=proc.field_name if proc is not None else "",
        channel=d.channel,
        status=d.status,
        applicant_name=d.applicant_name,
        applicant_id_type=d.applicant_id_type,
        applicant_id_number=d.applicant_id_number,
        applicant_phone=d.applicant_phone,
        applicant_email=d.applicant_email,
        collect_at=d.collect_at,
        created_at=_aware(d.created_at) or datetime.now(UTC),
        received_at=_aware(d.received_at),
        due_at=_aware(d.due_at),
        finished_at=_aware(d.finished_at),
        returned_at=_aware(d.returned_at),
        holder_code=d.holder_code,
        holder_name=_unit_name(session, d.holder_code),
        agency_name=_unit_name(
            session,
            str(d.route[d.route_index]) if 0 <= d.route_index < len(d.route or []) else d.unit_code,
        ),
        return_channel=ret.channel if ret is not None else "",
        tracking_number=ret.tracking_number if ret is not None else "",
        papers=papers,
        fees=fees,
        results=results,
        supplements=_supplements(session, d),
    )


def _papers(session: Session, d: Dossier) -> tuple[Paper, ...]:
    """One entry per digitized file of each component, one per reused component, and one per
    component brought on paper only."""
    comps = session.scalars(
        select(DossierComponent)
        .where(DossierComponent.dossier_id == d.id)
        .order_by(DossierComponent.key)
    ).all()
    reuses = {
        r.component_id: r
        for r in session.scalars(select(ComponentReuse).where(ComponentReuse.dossier_id == d.id))
    }
    out: list[Paper] = []
    for c in comps:
        reuse = reuses.get(c.id)
        if reuse is not None:
            record = session.get(RepositoryRecord, reuse.record_id)
            doc = session.get(Document, record.document_id) if record is not None else None
            out.append(
                Paper(
                    key=c.key,
                    name=c.name,
                    kind=c.kind,
                    file=_file(doc),
                    digitized=False,
                    reuse_flag=reuse.flag,
                    replaced_by_code=reuse.replaced_by_code or "",
                )
            )
            continue
        docs = [session.get(Document, str(i)) for i in (c.document_ids or [])]
        files = [f for f in (_file(doc) for doc in docs) if f is not None]
        for f in files:
            out.append(Paper(key=c.key, name=c.name, kind=c.kind, file=f, digitized=True))
        if not files and c.provided > 0:
            out.append(Paper(key=c.key, name=c.name, kind=c.kind, file=None, digitized=False))
    return tuple(out)


def _supplements(session: Session, d: Dossier) -> tuple[Supplement, ...]:
    requests = session.scalars(
        select(SupplementRequest)
        .where(SupplementRequest.dossier_id == d.id)
        .order_by(SupplementRequest.requested_at)
    ).all()
    if not requests:
        return ()
    # The appointment as it stood over time: set at reception, moved by an apology (form 04)
    # and restarted when a supplement is met.
    changes: list[tuple[datetime, datetime]] = []
    for ev in session.scalars(
        select(DossierEvent).where(DossierEvent.dossier_id == d.id).order_by(DossierEvent.id)
    ):
        data = ev.data or {}
        new = _parse(data.get("new_due") if ev.action == "apology" else data.get("due_at"))
        at = _aware(ev.at)
        if new is not None and at is not None and ev.action != "request_supplement":
            changes.append((at, new))

    def due_as_of(moment: datetime) -> datetime | None:
        current = None
        for at, due in changes:
            if at <= moment:
                current = due
        return current

    names = _names(
        session,
        {r.requested_by for r in requests} | {r.fulfilled_by for r in requests if r.fulfilled_by},
    )
    out = []
    for r in requests:
        requested = _aware(r.requested_at) or datetime.now(UTC)
        fulfilled = _aware(r.fulfilled_at)
        out.append(
            Supplement(
                requested_by=names.get(r.requested_by, r.requested_by),
                reason=r.reason,
                items=tuple(str(i) for i in r.items or ()),
                requested_at=requested,
                fulfilled_at=fulfilled,
                fulfilled_by=names.get(r.fulfilled_by or "", r.fulfilled_by or ""),
                due_before=due_as_of(requested),
                due_after=due_as_of(fulfilled) if fulfilled is not None else None,
            )
        )
    return tuple(out)


def step(session: Session, kind: str, at: datetime, payload: dict[str, Any]) -> Step:
    """An event as a processing step: who did it (name, role, their unit) and what."""
    actor_id = str(payload.get("actor_id") or "")
    staff = session.get(Staff, actor_id) if actor_id else None
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    return Step(
        kind=kind,
        at=_aware(at) or datetime.now(UTC),
        actor_name=staff.name if staff is not None else "",
        actor_role=str(payload.get("actor_role") or (staff.role if staff is not None else "")),
        actor_unit_name=_unit_name(session, staff.unit_code if staff is not None else None),
        from_status=payload.get("from_status"),
        to_status=payload.get("to_status"),
        reason=str(payload.get("reason") or ""),
        data=dict(data or {}),
    )
