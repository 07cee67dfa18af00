"""Dossier endpoints: thin calls into :class:`dossiers.service.DossierService`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.auditing import audit_access
from api.deps import Caller, Svc
from api.params import Code, Count, Moment, content_disposition
from api.problems import ApiProblem
from api.scans import accept_scan, chunks, upload_openapi
from dossiers.access import dossier_filter
from dossiers.lifecycle import CHANNELS, LABELS_VI, Status
from dossiers.models import (
    ComponentReuse,
    ComponentScan,
    Dossier,
    DossierComponent,
    DossierEvent,
    DossierForm,
    Handover,
)
from dossiers.service import ApplicantIn, completeness
from storage.db import session_scope
from storage.models import Document, Scan

router = APIRouter(tags=["dossiers"])


class ApplicantBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    id_type: str = Field(default="CCCD", max_length=16)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=512)


class CreateBody(BaseModel):
    procedure_code: str = Field(max_length=32)
    applicant: ApplicantBody
    channel: int = Field(default=1, ge=1, le=3)
    collect_at: str = Field(default="counter", max_length=32)
    sets: int = Field(default=1, ge=1, le=20)
    unit_code: str | None = Field(default=None, max_length=32)


class CheckBody(BaseModel):
    provided: dict[Code, Count] = Field(max_length=200)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class SupplementRequestBody(BaseModel):
    items: list[Annotated[str, Field(max_length=512)]] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=4000)
    contact: str = Field(default="", max_length=255)


class NoteBody(BaseModel):
    note: str = Field(default="", max_length=4000)


class ReuseBody(BaseModel):
    record_id: str = Field(max_length=32)
    replaced_by_code: str | None = Field(default=None, max_length=160)


class ApologyBody(BaseModel):
    new_due: Moment
    reason: str = Field(min_length=1, max_length=4000)


@router.post("/dossiers", status_code=201)
def create_dossier(body: CreateBody, who: Caller, svc: Svc) -> JSONResponse:
    """Open a dossier (status 1) for a procedure in force today."""
    a = body.applicant
    dossier_id = svc.dossiers.create(
        who,
        procedure_code=body.procedure_code,
        applicant=ApplicantIn(a.name, a.id_type, a.id_number.strip(), a.phone, a.address),
        channel=body.channel,
        collect_at=body.collect_at,
        sets=body.sets,
        unit_code=body.unit_code,
    )
    return JSONResponse(
        dossier_body(svc, who, dossier_id),
        status_code=201,
        headers={"Location": f"/api/v1/dossiers/{dossier_id}"},
    )


@router.get("/dossiers")
def list_dossiers(
    who: Caller,
    svc: Svc,
    status: int | None = Query(default=None, ge=1, le=10),
    unit_code: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    before: str | None = Query(
        default=None, max_length=64, description="id cursor from the last page"
    ),
) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        stmt = select(Dossier).where(dossier_filter(who))
        if status is not None:
            stmt = stmt.where(Dossier.status == status)
        if unit_code:
            stmt = stmt.where(Dossier.unit_code == unit_code)
        if before:
            stmt = stmt.where(Dossier.id < before)
        rows = list(session.scalars(stmt.order_by(Dossier.id.desc()).limit(limit)))
        items = [_summary(d) for d in rows]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/search")
def search_dossiers(
    who: Caller,
    svc: Svc,
    q: str = Query(max_length=256, description="code, ID number, name or words of the scans"),
    limit: int = Query(default=20, ge=1, le=200),
) -> dict[str, Any]:
    """Accents optional: "nguyen van an" finds "Nguyễn Văn An". Only dossiers you may read."""
    from dossiers.search import search

    with session_scope(svc.sessions) as session:
        visible = select(Dossier.id).where(dossier_filter(who))
        hits = search(session, q, dossier_ids=visible, limit=limit)
        found = {
            d.id: d
            for d in session.scalars(
                select(Dossier).where(Dossier.id.in_({h.dossier_id for h in hits}))
            )
        }
        return {
            "items": [
                {
                    **_summary(found[h.dossier_id]),
                    "source": h.source,
                    "ref_id": h.ref_id,
                    "snippet": h.snippet,
                }
                for h in hits
                if h.dossier_id in found
            ]
        }


@router.get("/dossiers/{ref}")
def get_dossier(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    body = dossier_body(svc, who, ref)
    audit_access(
        svc,
        who,
        "personal_data.read",
        "dossier",
        body["id"],
        dossier_id=body["id"],
        data={"fields": ["applicant"]},
    )
    return body


@router.post("/dossiers/{ref}/components/check")
def check_components(ref: str, body: CheckBody, who: Caller, svc: Svc) -> dict[str, Any]:
    """Record the papers brought; answers what is still missing."""
    return svc.dossiers.check_components(who, ref, body.provided)


@router.post("/dossiers/{ref}/receive")
def receive(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    """Receive a complete dossier: code, appointment, signed form 01."""
    result = svc.dossiers.receive(who, ref)
    return {**dossier_body(svc, who, result["id"]), **result}


@router.post("/dossiers/{ref}/confirm-reception")
def confirm_reception(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    result = svc.dossiers.confirm_reception(who, ref)
    return {**dossier_body(svc, who, result["id"]), **result}


@router.post("/dossiers/{ref}/refuse")
def refuse(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.refuse(who, ref, body.reason)
    return dossier_body(svc, who, ref)


@router.post("/dossiers/{ref}/supplement-request")
def supplement_request(
    ref: str, body: SupplementRequestBody, who: Caller, svc: Svc
) -> dict[str, Any]:
    result = svc.dossiers.request_supplement(
        who, ref, items=body.items, reason=body.reason, contact=body.contact
    )
    return {**dossier_body(svc, who, ref), **result}


@router.post("/dossiers/{ref}/supplement")
def supplement(ref: str, body: NoteBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.supplement(who, ref, note=body.note)
    return dossier_body(svc, who, ref)


@router.post("/dossiers/{ref}/route")
def route(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.route(who, ref)
    return dossier_body(svc, who, ref)


@router.post("/dossiers/{ref}/take")
def take(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.take(who, ref)
    return dossier_body(svc, who, ref)


@router.post("/dossiers/{ref}/forward")
def forward(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.forward(who, ref)
    return {"code": ref, "forwarded": True}


@router.post("/dossiers/{ref}/finish")
def finish(ref: str, body: NoteBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.finish(who, ref, note=body.note)
    return {"code": ref, "status": int(Status.PROCESSED)}


@router.post("/dossiers/{ref}/withdraw")
def withdraw(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.withdraw(who, ref, body.reason)
    return dossier_body(svc, who, ref)


@router.post("/dossiers/{ref}/stop")
def stop(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.stop(who, ref, body.reason)
    return {"code": ref, "status": int(Status.STOPPED)}


@router.post("/dossiers/{ref}/apology")
def apology(ref: str, body: ApologyBody, who: Caller, svc: Svc) -> dict[str, Any]:
    svc.dossiers.apology(who, ref, new_due=body.new_due, reason=body.reason)
    return dossier_body(svc, who, ref)


@router.get("/dossiers/{ref}/components/{component_id}/reusable")
def reusable(ref: str, component_id: str, who: Caller, svc: Svc) -> dict[str, Any]:
    """Valid papers of the same owner and type already in the repository."""
    return {"items": svc.dossiers.reusable(who, ref, component_id)}


@router.post("/dossiers/{ref}/components/{component_id}/reuse")
def reuse(ref: str, component_id: str, body: ReuseBody, who: Caller, svc: Svc) -> dict[str, Any]:
    """Take the paper from the repository instead of scanning it again."""
    return svc.dossiers.reuse(
        who, ref, component_id, body.record_id, replaced_by_code=body.replaced_by_code
    )


@router.get("/dossiers/{ref}/events")
def events(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        dossier = svc.dossiers.find(session, who, ref)
        rows = session.scalars(
            select(DossierEvent)
            .where(DossierEvent.dossier_id == dossier.id)
            .order_by(DossierEvent.id)
        )
        return {
            "items": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor_id,
                    "action": e.action,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "reason": e.reason,
                    "data": e.data,
                }
                for e in rows
            ]
        }


@router.get("/dossiers/{ref}/handovers")
def handovers(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    """The process-control sheet's rows."""
    with session_scope(svc.sessions) as session:
        dossier = svc.dossiers.find(session, who, ref)
        return {"items": [_handover(h) for h in _handover_rows(session, dossier.id)]}


@router.get("/dossiers/{ref}/forms")
def forms(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        dossier = svc.dossiers.find(session, who, ref)
        rows = session.scalars(
            select(DossierForm)
            .where(DossierForm.dossier_id == dossier.id)
            .order_by(DossierForm.issued_at)
        )
        return {"items": [_form(f) for f in rows]}


@router.post("/dossiers/{ref}/forms/06", status_code=201)
def control_sheet(ref: str, who: Caller, svc: Svc) -> dict[str, Any]:
    """Issue the process-control sheet as it stands now (signed, stored)."""
    who.require("counter", "agency", "admin")
    with session_scope(svc.sessions) as session:
        dossier_id = svc.dossiers.find(session, who, ref).id
    form = svc.dossiers.issue_form(who, dossier_id, "06")
    if form is None:
        raise ApiProblem(409, "forms_disabled", "form signing is switched off (SOHOA_SIGN_FORMS)")
    return _form(form)


@router.get("/dossiers/{ref}/forms/{form_id}/file")
def form_file(ref: str, form_id: str, who: Caller, svc: Svc) -> StreamingResponse:
    with session_scope(svc.sessions) as session:
        dossier = svc.dossiers.find(session, who, ref)
        form = session.get(DossierForm, form_id)
        if form is None or form.dossier_id != dossier.id:
            raise ApiProblem(404, "form_not_found", f"no form {form_id} in this dossier")
        key, name = form.object_key, f"mau-{form.form_no}-{dossier.code or dossier.id}.pdf"
        dossier_id = dossier.id
    audit_access(svc, who, "form.download", "form", form_id, dossier_id=dossier_id)
    return StreamingResponse(
        chunks(svc.store, key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name)},
    )


@router.post(
    "/dossiers/{ref}/components/{component_id}/scans",
    status_code=202,
    openapi_extra=upload_openapi(),
)
async def upload_component_scan(
    ref: str, component_id: str, request: Request, who: Caller, svc: Svc
) -> JSONResponse:
    """Scan one paper of a dossier; the signed document attaches to the component."""
    from ingest.pipeline import ComponentRef

    dossier_id, unit_code = await run_in_threadpool(
        svc.dossiers.component_for_upload, who, ref, component_id
    )
    return await accept_scan(
        request,
        svc,
        clerk_id=lambda _: _clerk_for(who, svc),
        unit_code=unit_code,
        component=ComponentRef(dossier_id, component_id),
    )


def _clerk_for(who: Any, svc: Svc) -> str:
    """The scan is signed with the uploader's own certificate (TT 01/2023 Art. 8)."""
    return who.staff_id if who.role == "counter" else svc.settings.default_clerk


def dossier_body(svc: Svc, who: Any, ref: str) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        d = svc.dossiers.find(session, who, ref)
        comps = list(
            session.scalars(
                select(DossierComponent)
                .where(DossierComponent.dossier_id == d.id)
                .order_by(DossierComponent.key)
            )
        )
        scans: dict[str, list[dict[str, str]]] = {}
        for link, status in session.execute(
            select(ComponentScan, Scan.status)
            .join(Scan, Scan.id == ComponentScan.scan_id)
            .where(ComponentScan.dossier_id == d.id)
        ):
            scans.setdefault(link.component_id, []).append(
                {"scan_id": link.scan_id, "status": status}
            )
        docs = {
            doc.id: doc.object_key
            for doc in session.scalars(
                select(Document).where(Document.id.in_([i for c in comps for i in c.document_ids]))
            )
        }
        reuses = {
            r.component_id: {
                "record_id": r.record_id,
                "flag": r.flag,
                "replaced_by_code": r.replaced_by_code,
            }
            for r in session.scalars(
                select(ComponentReuse).where(ComponentReuse.dossier_id == d.id)
            )
        }
        body = _summary(d)
        body.update(
            {
                "applicant": {
                    "name": d.applicant_name,
                    "id_type": d.applicant_id_type,
                    "id_number": d.applicant_id_number,
                    "phone": d.applicant_phone,
                    "address": d.applicant_address,
                },
                "channel_label": CHANNELS.get(d.channel, ""),
                "collect_at": d.collect_at,
                "sets": d.sets,
                "rules_version": d.rules_version,
                "original_due_at": _iso(d.original_due_at),
                "route": d.route,
                "route_index": d.route_index,
                "supplement_count": d.supplement_count,
                "counted_overdue": d.counted_overdue,
                "pending_reception_by": d.pending_reception_by,
                "received_by": d.received_by,
                "confirmed_by": d.confirmed_by,
                "finished_at": _iso(d.finished_at),
                "returned_at": _iso(d.returned_at),
                "components": [
                    {
                        "id": c.id,
                        "key": c.key,
                        "name": c.name,
                        "kind": c.kind,
                        "count": c.count,
                        "required": c.required,
                        "digitize": c.digitize,
                        "provided": c.provided,
                        "document_ids": [i for i in c.document_ids if i in docs],
                        "scans": scans.get(c.id, []),
                        "reused": reuses.get(c.id),
                    }
                    for c in comps
                ],
                "completeness": completeness(comps),
            }
        )
        return body


def _summary(d: Dossier) -> dict[str, Any]:
    return {
        "id": d.id,
        "code": d.code,
        "procedure_code": d.procedure_code,
        "unit_code": d.unit_code,
        "status": d.status,
        "status_label": LABELS_VI[Status(d.status)],
        "channel": d.channel,
        "applicant_name": d.applicant_name,
        "received_at": _iso(d.received_at),
        "due_at": _iso(d.due_at),
        "holder_code": d.holder_code,
        "url": f"/api/v1/dossiers/{d.code or d.id}",
    }


def _handover_rows(session: Any, dossier_id: str) -> list[Handover]:
    return list(
        session.scalars(
            select(Handover).where(Handover.dossier_id == dossier_id).order_by(Handover.id)
        )
    )


def _handover(h: Handover) -> dict[str, Any]:
    return {
        "from": h.from_party,
        "to": h.to_party,
        "given_by": h.given_by,
        "handed_at": h.handed_at.isoformat(),
        "taken_by": h.taken_by,
        "taken_at": _iso(h.taken_at),
        "due_at": _iso(h.due_at),
        "result": h.result,
        "note": h.note,
    }


def _form(f: DossierForm) -> dict[str, Any]:
    return {
        "id": f.id,
        "form_no": f.form_no,
        "sha256": f.sha256,
        "size": f.size,
        "issued_by": f.issued_by,
        "issued_at": f.issued_at.isoformat(),
        "qr_payload": f.qr_payload,
        "file_url": f"/api/v1/dossiers/{f.dossier_id}/forms/{f.id}/file",
    }


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
