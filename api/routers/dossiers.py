"""Dossier endpoints: thin calls into :class:`dossiers.workflow.service.DossierService`.

The bodies are the domain's read models (:mod:`dossiers.workflow.dossier_views`); what exists only in
HTTP is declared here: the URLs a client follows, list envelopes and the page cursor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, computed_field
from starlette.concurrency import run_in_threadpool

from api.auditing import audit_access
from api.deps import Caller, Svc
from api.params import Code, Count, Moment, content_disposition
from api.problems import ApiProblem
from api.scans import (
    ComponentScanAccepted,
    accept_scan,
    chunks,
    clerk_for,
    upload_openapi,
    upload_responses,
)
from dossiers.access import Principal
from dossiers.workflow.dossier_views import (
    Completeness,
    DossierSummary,
    DossierView,
    EventView,
    FormView,
    HandoverView,
    Reception,
    ReusableRecord,
    ReuseView,
    SearchResult,
    SupplementRequested,
)
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn

router = APIRouter(tags=["dossiers"])


class ApplicantBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    id_type: str = Field(default="CCCD", max_length=16)
    id_number: str = Field(min_length=1, max_length=32)
    phone: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=512)
    email: str = Field(
        default="", max_length=254, description="For notifications by e-mail, with consent."
    )


class CreateBody(BaseModel):
    procedure_code: str = Field(max_length=32)
    applicant: ApplicantBody
    channel: int = Field(default=1, ge=1, le=3)
    collect_at: str = Field(default="counter", max_length=32)
    sets: int = Field(default=1, ge=1, le=20)
    unit_code: str | None = Field(default=None, max_length=32)
    notify_consent: bool = Field(
        default=False,
        description="The citizen agrees to be told of the dossier's progress; without it "
        "nothing is sent. Withdrawn at any time through the link in each message.",
    )
    notify_channels: list[Literal["email", "sms", "zalo"]] = Field(
        default_factory=list,
        max_length=3,
        description="Where to notify: email (needs applicant.email), sms and zalo (need a "
        "Vietnamese mobile number in applicant.phone).",
    )


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


# -- answers ---------------------------------------------------------------------------------


def dossier_url(ref: str) -> str:
    return f"/api/v1/dossiers/{ref}"


class DossierSummaryOut(DossierSummary):
    # pydantic's documented form; mypy does not follow a decorator over a property.
    @computed_field(  # type: ignore[prop-decorator]
        description="Where the dossier is read (by code once it has one)."
    )
    @property
    def url(self) -> str:
        return dossier_url(self.code or self.id)


class DossierOut(DossierView, DossierSummaryOut):
    """A dossier with its applicant, route, papers and completeness."""


class ReceptionOut(DossierOut, Reception):
    """The dossier after reception: coded and due, or waiting for a supervisor's confirmation."""


class SupplementRequestOut(DossierOut, SupplementRequested):
    """The dossier after a supplement request (form 02 issued)."""


class DossierPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[DossierSummaryOut]
    next: str | None = Field(
        description="Pass as ``before`` for the next page; null on the last page."
    )


class SearchResultOut(SearchResult, DossierSummaryOut):
    """A dossier found by a search, with where the words were found."""


class SearchResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SearchResultOut] = Field(description="Most relevant first.")


class Forwarded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The dossier as named in the path (code or id).")
    forwarded: bool


class StatusChanged(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The dossier as named in the path (code or id).")
    status: Status = Field(description="The dossier's new national status code.")


class ReusableRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ReusableRecord] = Field(description="Newest first.")


class EventList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[EventView] = Field(description="Oldest first.")


class HandoverList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[HandoverView] = Field(description="The control sheet's rows, in order.")


class FormOut(FormView):
    # pydantic's documented form; mypy does not follow a decorator over a property.
    @computed_field(  # type: ignore[prop-decorator]
        description="Where the signed PDF is downloaded."
    )
    @property
    def file_url(self) -> str:
        return f"{dossier_url(self.dossier_id)}/forms/{self.id}/file"


class FormList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[FormOut] = Field(description="In issue order.")


def _upload_body() -> dict[str, Any]:
    """The upload's multipart body for the document; its answers are declared on the route."""
    return {"requestBody": upload_openapi()["requestBody"]}


# -- the workflow ----------------------------------------------------------------------------


@router.post("/dossiers", status_code=201, response_model=DossierOut)
def create_dossier(body: CreateBody, who: Caller, svc: Svc, response: Response) -> DossierOut:
    """Open a dossier (status 1) for a procedure in force today."""
    a = body.applicant
    dossier_id = svc.dossiers.create(
        who,
        procedure_code=body.procedure_code,
        applicant=ApplicantIn(
            a.name, a.id_type, a.id_number.strip(), a.phone, a.address, a.email.strip()
        ),
        channel=body.channel,
        collect_at=body.collect_at,
        sets=body.sets,
        unit_code=body.unit_code,
        notify_consent=body.notify_consent,
        notify_channels=body.notify_channels,
    )
    response.headers["Location"] = dossier_url(dossier_id)
    return _dossier(svc, who, dossier_id)


@router.get("/dossiers", response_model=DossierPage)
def list_dossiers(
    who: Caller,
    svc: Svc,
    status: int | None = Query(default=None, ge=1, le=10),
    unit_code: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    before: str | None = Query(
        default=None, max_length=64, description="id cursor from the last page"
    ),
) -> DossierPage:
    rows = svc.dossiers.listing(who, status=status, unit_code=unit_code, before=before, limit=limit)
    items = [DossierSummaryOut(**dict(d)) for d in rows]
    return DossierPage(items=items, next=items[-1].id if len(items) == limit else None)


@router.get("/search", response_model=SearchResults)
def search_dossiers(
    who: Caller,
    svc: Svc,
    q: str = Query(max_length=256, description="code, ID number, name or words of the scans"),
    limit: int = Query(default=20, ge=1, le=200),
) -> SearchResults:
    """Accents optional: "nguyen van an" finds "Nguyễn Văn An". Only dossiers you may read."""
    hits = svc.dossiers.search(who, q, limit=limit)
    return SearchResults(items=[SearchResultOut(**dict(h)) for h in hits])


@router.get("/dossiers/{ref}", response_model=DossierOut)
def get_dossier(ref: str, who: Caller, svc: Svc) -> DossierOut:
    body = _dossier(svc, who, ref)
    audit_access(
        svc,
        who,
        "personal_data.read",
        "dossier",
        body.id,
        dossier_id=body.id,
        data={"fields": ["applicant"]},
    )
    return body


@router.post("/dossiers/{ref}/components/check", response_model=Completeness)
def check_components(ref: str, body: CheckBody, who: Caller, svc: Svc) -> Completeness:
    """Record the papers brought; answers what is still missing."""
    return svc.dossiers.check_components(who, ref, body.provided)


@router.post("/dossiers/{ref}/receive", response_model=ReceptionOut)
def receive(ref: str, who: Caller, svc: Svc) -> ReceptionOut:
    """Receive a complete dossier: code, appointment, signed form 01."""
    result = svc.dossiers.receive(who, ref)
    return ReceptionOut(**{**dict(svc.dossiers.view(who, result.id)), **dict(result)})


@router.post("/dossiers/{ref}/confirm-reception", response_model=ReceptionOut)
def confirm_reception(ref: str, who: Caller, svc: Svc) -> ReceptionOut:
    result = svc.dossiers.confirm_reception(who, ref)
    return ReceptionOut(**{**dict(svc.dossiers.view(who, result.id)), **dict(result)})


@router.post("/dossiers/{ref}/refuse", response_model=DossierOut)
def refuse(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.refuse(who, ref, body.reason)
    return _dossier(svc, who, ref)


@router.post("/dossiers/{ref}/supplement-request", response_model=SupplementRequestOut)
def supplement_request(
    ref: str, body: SupplementRequestBody, who: Caller, svc: Svc
) -> SupplementRequestOut:
    result = svc.dossiers.request_supplement(
        who, ref, items=body.items, reason=body.reason, contact=body.contact
    )
    return SupplementRequestOut(**{**dict(svc.dossiers.view(who, ref)), **dict(result)})


@router.post("/dossiers/{ref}/supplement", response_model=DossierOut)
def supplement(ref: str, body: NoteBody, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.supplement(who, ref, note=body.note)
    return _dossier(svc, who, ref)


@router.post("/dossiers/{ref}/route", response_model=DossierOut)
def route(ref: str, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.route(who, ref)
    return _dossier(svc, who, ref)


@router.post("/dossiers/{ref}/take", response_model=DossierOut)
def take(ref: str, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.take(who, ref)
    return _dossier(svc, who, ref)


@router.post("/dossiers/{ref}/forward", response_model=Forwarded)
def forward(ref: str, who: Caller, svc: Svc) -> Forwarded:
    svc.dossiers.forward(who, ref)
    return Forwarded(code=ref, forwarded=True)


@router.post("/dossiers/{ref}/finish", response_model=StatusChanged)
def finish(ref: str, body: NoteBody, who: Caller, svc: Svc) -> StatusChanged:
    svc.dossiers.finish(who, ref, note=body.note)
    return StatusChanged(code=ref, status=Status.PROCESSED)


@router.post("/dossiers/{ref}/withdraw", response_model=DossierOut)
def withdraw(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.withdraw(who, ref, body.reason)
    return _dossier(svc, who, ref)


@router.post("/dossiers/{ref}/stop", response_model=StatusChanged)
def stop(ref: str, body: ReasonBody, who: Caller, svc: Svc) -> StatusChanged:
    svc.dossiers.stop(who, ref, body.reason)
    return StatusChanged(code=ref, status=Status.STOPPED)


@router.post("/dossiers/{ref}/apology", response_model=DossierOut)
def apology(ref: str, body: ApologyBody, who: Caller, svc: Svc) -> DossierOut:
    svc.dossiers.apology(who, ref, new_due=body.new_due, reason=body.reason)
    return _dossier(svc, who, ref)


@router.get("/dossiers/{ref}/components/{component_id}/reusable", response_model=ReusableRecords)
def reusable(ref: str, component_id: str, who: Caller, svc: Svc) -> ReusableRecords:
    """Valid papers of the same owner and type already in the repository."""
    return ReusableRecords(items=svc.dossiers.reusable(who, ref, component_id))


@router.post("/dossiers/{ref}/components/{component_id}/reuse", response_model=ReuseView)
def reuse(ref: str, component_id: str, body: ReuseBody, who: Caller, svc: Svc) -> ReuseView:
    """Take the paper from the repository instead of scanning it again."""
    return svc.dossiers.reuse(
        who, ref, component_id, body.record_id, replaced_by_code=body.replaced_by_code
    )


@router.get("/dossiers/{ref}/events", response_model=EventList)
def events(ref: str, who: Caller, svc: Svc) -> EventList:
    return EventList(items=svc.dossiers.events(who, ref))


@router.get("/dossiers/{ref}/handovers", response_model=HandoverList)
def handovers(ref: str, who: Caller, svc: Svc) -> HandoverList:
    """The process-control sheet's rows."""
    return HandoverList(items=svc.dossiers.handovers(who, ref))


@router.get("/dossiers/{ref}/forms", response_model=FormList)
def forms(ref: str, who: Caller, svc: Svc) -> FormList:
    return FormList(items=[FormOut(**dict(f)) for f in svc.dossiers.forms(who, ref)])


@router.post("/dossiers/{ref}/forms/06", status_code=201, response_model=FormOut)
def control_sheet(ref: str, who: Caller, svc: Svc) -> FormOut:
    """Issue the process-control sheet as it stands now (signed, stored)."""
    form = svc.dossiers.issue_control_sheet(who, ref)
    if form is None:
        raise ApiProblem(409, "forms_disabled", "form signing is switched off (SOHOA_SIGN_FORMS)")
    return FormOut(**dict(form))


@router.get(
    "/dossiers/{ref}/forms/{form_id}/file",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The form as issued: a PDF signed with the unit's certificate.",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def form_file(ref: str, form_id: str, who: Caller, svc: Svc) -> StreamingResponse:
    file = svc.dossiers.form_file(who, ref, form_id)
    audit_access(svc, who, "form.download", "form", form_id, dossier_id=file.dossier_id)
    return StreamingResponse(
        chunks(svc.store, file.object_key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(file.filename)},
    )


@router.post(
    "/dossiers/{ref}/components/{component_id}/scans",
    status_code=202,
    response_model=ComponentScanAccepted,
    responses=upload_responses(ComponentScanAccepted),
    openapi_extra=_upload_body(),
)
async def upload_component_scan(
    ref: str, component_id: str, request: Request, who: Caller, svc: Svc
) -> JSONResponse:
    """Scan one paper of a dossier; the signed document attaches to the component."""
    from dossiers.workflow.scanhooks import ComponentRef

    dossier_id, unit_code = await run_in_threadpool(
        svc.dossiers.component_for_upload, who, ref, component_id
    )
    return await accept_scan(
        request,
        svc,
        clerk_id=lambda _: clerk_for(who, svc),
        unit_code=unit_code,
        component=ComponentRef(dossier_id, component_id),
    )


def _dossier(svc: Svc, who: Principal, ref: str) -> DossierOut:
    return DossierOut(**dict(svc.dossiers.view(who, ref)))
