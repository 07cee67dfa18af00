"""Administration: catalog import, units, staff and tokens, the postal plan, the calendar."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StrictBool
from starlette.concurrency import run_in_threadpool

from api.deps import Caller, Svc
from api.params import Code, Day, Moment
from api.problems import ApiProblem
from dossiers.admin import staffing
from dossiers.admin.catalog import ImportReport, UnitView, import_catalog, parse_catalog
from dossiers.admin.staffing import (
    BackupRef,
    CalendarOverride,
    IssuedToken,
    PostalPlan,
    ProbationOutcome,
    RevokedTokens,
    SeriesRef,
    StaffCreated,
    StaffEmail,
)
from storage.db import session_scope

router = APIRouter(prefix="/admin", tags=["admin"])


class UnitBody(BaseModel):
    code: str = Field(max_length=32)
    name: str = Field(min_length=1, max_length=255)
    kind: str = Field(max_length=16)
    level: Literal["province", "commune", "district", "ministry"] = "commune"
    area: str = Field(default="urban", max_length=16)
    place: str = Field(default="", max_length=128)
    valid_from: Day


class MergeBody(BaseModel):
    into: Code
    on: Day


class ContactBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    phone: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=255)
    enterprise: str = Field(default="", max_length=255)


class StaffBody(BaseModel):
    id: str = Field(max_length=64)
    name: str = Field(min_length=1, max_length=255)
    role: str = Field(max_length=16)
    unit_code: Code | None = None
    employer: str = Field(default="civil_servant", max_length=16)
    probation_until: Day | None = None
    supervisor_id: Code | None = None
    #: Where deadline alerts go (dossiers of its unit about to be overdue).
    email: str = Field(default="", max_length=254)


class TokenBody(BaseModel):
    label: str = Field(default="", max_length=128)
    expires_at: Moment | None = None


class EvaluationBody(BaseModel):
    passed: bool
    note: str = Field(min_length=1, max_length=4000)


class BackupBody(BaseModel):
    unit_code: Code
    staff_id: Code
    covers_staff_id: Code | None = None
    valid_from: Day
    valid_to: Day


class PostalBody(BaseModel):
    unit_code: Code
    field_code: str = Field(max_length=32)
    procedure_code: str | None = Field(default=None, max_length=32)
    postal_from: Day | None = None
    note: str = Field(default="", max_length=2000)


class SeriesBody(BaseModel):
    unit_code: Code
    form_symbol: str = Field(min_length=1, max_length=32)
    series: str = Field(min_length=1, max_length=32)
    collector_name: str = Field(min_length=1, max_length=255)
    collector_tax_code: str = Field(default="", max_length=32)
    collector_address: str = Field(default="", max_length=512)
    issuer_tax_code: str = Field(default="", max_length=32)
    mandate: str = Field(default="", max_length=2000)
    valid_from: Day
    valid_to: Day | None = None


class OverrideBody(BaseModel):
    day: Day
    working: StrictBool
    note: str = Field(min_length=1, max_length=255)


CATALOG_BODY = {
    "requestBody": {
        "required": True,
        "description": "The catalog, as JSON or YAML (the format of data/sample_catalog.yaml).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/catalog", openapi_extra=CATALOG_BODY)
async def import_catalog_file(
    request: Request, who: Caller, svc: Svc, replace: bool = Query(default=False)
) -> ImportReport:
    """Import a catalog as JSON or YAML in the request body; ``replace`` retires the rest."""
    who.require("admin")
    s = svc.settings
    limit = s.catalog_max_bytes
    too_large = ApiProblem(
        413,
        "catalog_too_large",
        f"tệp danh mục tối đa {limit} byte (a catalog file is at most {limit} bytes)",
        max_bytes=limit,
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    raw = bytearray()
    async for chunk in request.stream():  # chunked bodies too: counted as they arrive
        raw += chunk
        if len(raw) > limit:
            raise too_large
    # Parsing and importing are CPU-bound: in a worker thread, so health checks still answer.
    return await run_in_threadpool(
        _import_catalog, svc, bytes(raw), replace, s.catalog_max_depth, s.catalog_max_nodes
    )


def _import_catalog(
    svc: Svc, raw: bytes, replace: bool, max_depth: int, max_nodes: int
) -> ImportReport:
    spec = parse_catalog(raw, max_depth=max_depth, max_nodes=max_nodes)
    with session_scope(svc.sessions) as session:
        return import_catalog(session, spec, replace=replace, today=svc.dossiers.today())


@router.post("/units", status_code=201)
def create_unit(body: UnitBody, who: Caller, svc: Svc) -> UnitView:
    with session_scope(svc.sessions) as session:
        return UnitView.of(staffing.create_unit(session, who, **body.model_dump()))


@router.post("/units/{code}/merge")
def merge_unit(code: str, body: MergeBody, who: Caller, svc: Svc) -> UnitView:
    with session_scope(svc.sessions) as session:
        return UnitView.of(
            staffing.merge_units(session, who, absorbed=code, into=body.into, on=body.on)
        )


@router.put("/units/{code}/postal-contact")
def postal_contact(code: str, body: ContactBody, who: Caller, svc: Svc) -> UnitView:
    with session_scope(svc.sessions) as session:
        return UnitView.of(staffing.set_postal_contact(session, who, code, body.model_dump()))


@router.get("/units/{code}/postal-plan")
def postal_plan(code: str, who: Caller, svc: Svc) -> PostalPlan:
    who.require("admin", "counter", "auditor")
    from dossiers.access import check_unit

    with session_scope(svc.sessions) as session:
        check_unit(who, code, session)
        return staffing.postal_plan(session, code)


@router.post("/postal-plan", status_code=201)
def plan_postal(body: PostalBody, who: Caller, svc: Svc) -> PostalPlan:
    with session_scope(svc.sessions) as session:
        staffing.plan_postal(session, who, **body.model_dump())
        return staffing.postal_plan(session, body.unit_code)


# ``dev_certificate`` is answered for counter clerks only: unset, it stays out of the body.
@router.post("/staff", status_code=201, response_model_exclude_unset=True)
def create_staff(body: StaffBody, who: Caller, svc: Svc) -> StaffCreated:
    """One unit of work: a refusal at any step (the certificate included) creates nothing."""
    data = body.model_dump()
    with session_scope(svc.sessions) as session:
        staff = staffing.create_staff(
            session, who, staff_id=data.pop("id"), **data, today=svc.dossiers.today()
        )
        session.flush()  # the row's own constraints fail here, before a certificate is made
        answer = StaffCreated(id=staff.id, role=staff.role, unit_code=staff.unit_code)
        if staff.role == "counter":
            # Scans are signed with the clerk's own certificate (TT 01/2023 Art. 8); an id the
            # PKI refuses raises here and rolls the row back.
            answer.dev_certificate = svc.enroll_clerk(staff.id, data["name"])
    return answer


class EmailBody(BaseModel):
    email: str = Field(max_length=254)


@router.put("/staff/{staff_id}/email")
def staff_email(staff_id: str, body: EmailBody, who: Caller, svc: Svc) -> StaffEmail:
    """Where the staff member's deadline alerts go; an empty address stops them."""
    with session_scope(svc.sessions) as session:
        return staffing.set_email(session, who, staff_id, body.email)


@router.post("/staff/{staff_id}/tokens", status_code=201)
def create_token(staff_id: str, body: TokenBody, who: Caller, svc: Svc) -> IssuedToken:
    """The token is shown once; only its SHA-256 is kept."""
    with session_scope(svc.sessions) as session:
        token = staffing.new_token(
            session, who, staff_id, label=body.label, expires_at=body.expires_at
        )
    return IssuedToken(staff_id=staff_id, token=token)


@router.delete("/staff/{staff_id}/tokens")
def revoke_tokens(staff_id: str, who: Caller, svc: Svc) -> RevokedTokens:
    with session_scope(svc.sessions) as session:
        n = staffing.revoke_tokens(session, who, staff_id, now=svc.clock())
    return RevokedTokens(staff_id=staff_id, revoked=n)


@router.post("/staff/{staff_id}/probation-evaluation")
def evaluate(staff_id: str, body: EvaluationBody, who: Caller, svc: Svc) -> ProbationOutcome:
    with session_scope(svc.sessions) as session:
        staff = staffing.evaluate_probation(
            session, who, staff_id, passed=body.passed, note=body.note, now=svc.clock()
        )
        return ProbationOutcome.of(staff)


@router.post("/backups", status_code=201)
def assign_backup(body: BackupBody, who: Caller, svc: Svc) -> BackupRef:
    with session_scope(svc.sessions) as session:
        row = staffing.assign_backup(session, who, **body.model_dump())
        session.flush()  # the id is the row's default, given when it is written
        return BackupRef.of(row)


@router.put("/calendar/{day}")
def calendar_override(day: Day, body: OverrideBody, who: Caller, svc: Svc) -> CalendarOverride:
    if body.day != day:
        raise ApiProblem(422, "day_mismatch", "the body's day differs from the path's")
    with session_scope(svc.sessions) as session:
        row = staffing.set_calendar_override(
            session, who, day=day, working=body.working, note=body.note
        )
        return CalendarOverride.of(row)


@router.post("/receipt-series", status_code=201)
def receipt_series(body: SeriesBody, who: Caller, svc: Svc) -> SeriesRef:
    """Register a receipt series a unit issues from, and for whom (the mandate)."""
    with session_scope(svc.sessions) as session:
        row = staffing.register_series(session, who, **body.model_dump())
        session.flush()  # the id is the row's default, given when it is written
        return SeriesRef.of(row)
