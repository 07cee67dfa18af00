"""What the dossier workflow answers: read models of a dossier, its papers, history, hand-overs
and forms, built from the ledger rows.

The API serializes these models as they are, so their field names and formats are the wire
contract: times are ISO 8601 strings as :meth:`datetime.isoformat` writes them (with their
offset, ``+00:00`` as stored), and every field a dossier may not have yet is present with
``null``. Every model forbids unknown fields, so a key that one side writes and the other does
not declare fails loudly instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.models import (
    ComponentReuse,
    ComponentScan,
    Dossier,
    DossierComponent,
    DossierEvent,
    DossierForm,
    Handover,
    Procedure,
    RepositoryRecord,
)
from dossiers.records.search import SearchHit
from dossiers.workflow.lifecycle import CHANNELS, LABELS_VI, Status
from storage.models import Document, Scan


def _isoformat(value: datetime) -> str:
    return value.isoformat()


# A time on the wire: ``isoformat()`` (``+00:00``, not pydantic's ``Z``), as clients parse it.
IsoDateTime = Annotated[
    datetime,
    PlainSerializer(_isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class ReadModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- a dossier -------------------------------------------------------------------------------


class DossierSummary(ReadModel):
    """A dossier in a list: who, what, where it stands and when it is due."""

    id: str = Field(description="Internal id, fixed at creation; the code comes on reception.")
    code: str | None = Field(
        description="Dossier code `<unit code>-<YYMMDD>-<NNNN>` (TT 01/2018), given on "
        "reception; null before."
    )
    procedure_code: str = Field(
        description="National code of the administrative procedure (TTHC), e.g. `1.001193`."
    )
    unit_code: str = Field(
        description="Electronic code of the receiving one-stop unit (QĐ 20/2020)."
    )
    status: Status = Field(
        description="National status code (DVCQG TrangThaiHoSo): 1 new, 2 received, "
        "3 refused, 4 processing, 5 supplement requested, 6 awaiting payment of fees, "
        "7 withdrawn, 8 stopped, 9 processed, 10 result returned."
    )
    status_label: str = Field(description="The status's Vietnamese name.")
    channel: int = Field(description="How it was filed: 1 in person, 2 online, 3 by post.")
    applicant_name: str
    received_at: IsoDateTime | None = Field(description="Reception time; null before.")
    due_at: IsoDateTime | None = Field(
        description="Appointment for the result, as moved by any apology (form 04)."
    )
    holder_code: str | None = Field(
        description="Unit holding the dossier now (the one-stop unit or an agency); null once "
        "handed back to the citizen."
    )

    @classmethod
    def of(cls, d: Dossier) -> DossierSummary:
        return cls(**_summary_fields(d))


def _summary_fields(d: Dossier) -> dict[str, Any]:
    return {
        "id": d.id,
        "code": d.code,
        "procedure_code": d.procedure_code,
        "unit_code": d.unit_code,
        "status": d.status,
        "status_label": LABELS_VI[Status(d.status)],
        "channel": d.channel,
        "applicant_name": d.applicant_name,
        "received_at": d.received_at,
        "due_at": d.due_at,
        "holder_code": d.holder_code,
    }


class ApplicantView(ReadModel):
    name: str
    id_type: str = Field(
        description="CCCD (citizen ID card), CMND (old ID card), HC (passport) or MST (tax code)."
    )
    id_number: str
    phone: str
    address: str
    email: str


class NotifyView(ReadModel):
    """What the citizen agreed to hear, and on which channels (read when each message leaves)."""

    consent: bool
    channels: list[str] = Field(description="email, sms, zalo: the channels chosen.")
    opted_out_at: IsoDateTime | None = Field(description="When the citizen opted out, if ever.")


class ScanLink(ReadModel):
    scan_id: str
    status: str = Field(
        description="The scan's status: received, processing, awaiting_confirmation (the "
        "clerk's PIN/OTP signs it), digitized, failed."
    )


class ReuseLink(ReadModel):
    record_id: str = Field(description="The repository (kho dữ liệu) record reused.")
    flag: int = Field(
        description="National flag DuocTaiSuDung: 1 reused, 2 reused and replaced by the "
        "stored result named in replaced_by_code."
    )
    replaced_by_code: str | None


class MissingComponent(ReadModel):
    id: str
    key: str
    name: str
    count: int = Field(description="Copies required.")
    provided: int = Field(description="Copies brought so far.")


class Completeness(ReadModel):
    """Whether every required paper was brought in the required number of copies."""

    complete: bool
    missing: list[MissingComponent] = Field(description="Required papers still short.")


def completeness(components: Iterable[DossierComponent]) -> Completeness:
    missing = [
        MissingComponent(id=c.id, key=c.key, name=c.name, count=c.count, provided=c.provided)
        for c in components
        if c.required and c.provided < c.count
    ]
    return Completeness(complete=not missing, missing=missing)


class ComponentView(ReadModel):
    """One paper (thành phần hồ sơ) the procedure asks for, and what stands for it."""

    id: str
    key: str = Field(description="The paper's key in the procedure, also its document type.")
    name: str
    kind: str = Field(description="original (bản chính) or copy (bản sao).")
    count: int = Field(description="Copies required.")
    required: bool
    digitize: bool = Field(description="Whether the paper must be scanned and signed.")
    provided: int = Field(description="Copies brought so far.")
    document_ids: list[str] = Field(description="Signed documents made from its scans.")
    scans: list[ScanLink]
    reused: ReuseLink | None = Field(description="Taken from the repository instead of a scan.")


class DossierView(DossierSummary):
    """A dossier with its applicant, route, papers and completeness."""

    applicant: ApplicantView
    notify: NotifyView
    channel_label: str = Field(description="The channel's Vietnamese name.")
    collect_at: str = Field(description="Where the result is collected: counter, post, online.")
    sets: int = Field(description="Number of sets (bộ) of the dossier.")
    rules_version: str | None = Field(
        description="Deadline rules in force at reception, kept for the dossier's life."
    )
    original_due_at: IsoDateTime | None = Field(
        description="The first appointment, before any apology moved it."
    )
    route: list[str] = Field(
        description="Unit codes of the competent agencies, in order (liên thông)."
    )
    route_index: int = Field(
        description="Index in route of the agency working on it; -1 while at the counter."
    )
    supplement_count: int = Field(description="Supplement requests made by agencies.")
    counted_overdue: bool = Field(
        description="Counted late by the national scoring (an agency's second supplement request)."
    )
    pending_reception_by: str | None = Field(
        description="Probationer whose reception waits for their supervisor's confirmation."
    )
    received_by: str | None
    confirmed_by: str | None = Field(description="Supervisor who confirmed the reception.")
    finished_at: IsoDateTime | None = Field(
        description="When it was processed, refused, withdrawn or stopped."
    )
    returned_at: IsoDateTime | None = Field(description="When the result was returned.")
    components: list[ComponentView]
    completeness: Completeness


def dossier_view(session: Session, d: Dossier) -> DossierView:
    """The whole dossier as its counter and agencies read it."""
    comps = list(
        session.scalars(
            select(DossierComponent)
            .where(DossierComponent.dossier_id == d.id)
            .order_by(DossierComponent.key)
        )
    )
    # In the catalog's order, the order the guidance reads them out and the citizen hands them
    # over (the key only breaks ties, e.g. a paper the catalog no longer lists).
    proc = session.get(Procedure, d.procedure_id)
    order = {c["key"]: i for i, c in enumerate(proc.components if proc else [])}
    comps.sort(key=lambda c: (order.get(c.key, len(order)), c.key))
    scans: dict[str, list[ScanLink]] = {}
    for link, status in session.execute(
        select(ComponentScan, Scan.status)
        .join(Scan, Scan.id == ComponentScan.scan_id)
        .where(ComponentScan.dossier_id == d.id)
    ):
        scans.setdefault(link.component_id, []).append(
            ScanLink(scan_id=link.scan_id, status=status)
        )
    # A component lists only documents that exist (a document id may outlive its row).
    documents = set(
        session.scalars(
            select(Document.id).where(Document.id.in_([i for c in comps for i in c.document_ids]))
        )
    )
    reuses = {
        r.component_id: ReuseLink(
            record_id=r.record_id, flag=r.flag, replaced_by_code=r.replaced_by_code
        )
        for r in session.scalars(select(ComponentReuse).where(ComponentReuse.dossier_id == d.id))
    }
    return DossierView(
        **_summary_fields(d),
        applicant=ApplicantView(
            name=d.applicant_name,
            id_type=d.applicant_id_type,
            id_number=d.applicant_id_number,
            phone=d.applicant_phone,
            address=d.applicant_address,
            email=d.applicant_email,
        ),
        notify=NotifyView(
            consent=d.notify_consent,
            channels=list(d.notify_channels or []),
            opted_out_at=d.notify_opted_out_at,
        ),
        channel_label=CHANNELS.get(d.channel, ""),
        collect_at=d.collect_at,
        sets=d.sets,
        rules_version=d.rules_version,
        original_due_at=d.original_due_at,
        route=d.route,
        route_index=d.route_index,
        supplement_count=d.supplement_count,
        counted_overdue=d.counted_overdue,
        pending_reception_by=d.pending_reception_by,
        received_by=d.received_by,
        confirmed_by=d.confirmed_by,
        finished_at=d.finished_at,
        returned_at=d.returned_at,
        components=[
            ComponentView(
                id=c.id,
                key=c.key,
                name=c.name,
                kind=c.kind,
                count=c.count,
                required=c.required,
                digitize=c.digitize,
                provided=c.provided,
                document_ids=[i for i in c.document_ids if i in documents],
                scans=scans.get(c.id, []),
                reused=reuses.get(c.id),
            )
            for c in comps
        ],
        completeness=completeness(comps),
    )


class SearchResult(DossierSummary):
    """A dossier found by a search, with where the words were found."""

    source: str = Field(
        description="`dossier`: its code or applicant fields; `document`: the text of a scan."
    )
    ref_id: str = Field(description="The dossier's id, or the document's id.")
    snippet: str = Field(description="The matching text, folded (no diacritics, lowercase).")

    @classmethod
    def of_hit(cls, d: Dossier, hit: SearchHit) -> SearchResult:
        return cls(**_summary_fields(d), source=hit.source, ref_id=hit.ref_id, snippet=hit.snippet)


# -- answers of workflow actions ----------------------------------------------------------------


class Reception(ReadModel):
    id: str
    pending_confirmation: bool = Field(
        description="True when a probationer received it: no code until their supervisor confirms."
    )


SupplementStage = Literal["counter", "agency"]


class SupplementRequested(ReadModel):
    stage: SupplementStage = Field(
        description="Who asked: the counter while checking, or the agency processing it."
    )
    counted_overdue: bool = Field(
        description="Counted late by the national scoring (an agency's second request)."
    )


# -- history, hand-overs, forms ----------------------------------------------------------------


class EventView(ReadModel):
    """One step of the dossier's history."""

    at: IsoDateTime
    actor: str = Field(description="Staff id of who did it.")
    action: str = Field(description="What was done: create, check, receive, route, take, …")
    from_status: int | None = Field(description="Status before; null at creation.")
    to_status: int | None = Field(description="Status after.")
    reason: str
    data: dict[str, Any] = Field(description="Details of the step, by action.")

    @classmethod
    def of(cls, e: DossierEvent) -> EventView:
        return cls(
            at=e.at,
            actor=e.actor_id,
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            reason=e.reason,
            data=e.data,
        )


class HandoverView(ReadModel):
    """A row of the process-control sheet (form 06): who gave the dossier to whom, and when."""

    model_config = ConfigDict(serialize_by_alias=True)

    from_party: str = Field(serialization_alias="from", description="Unit code, or `citizen`.")
    to_party: str = Field(serialization_alias="to", description="Unit code, or `citizen`.")
    given_by: str
    handed_at: IsoDateTime
    taken_by: str | None = Field(description="Who at the receiving side acknowledged it.")
    taken_at: IsoDateTime | None
    due_at: IsoDateTime | None = Field(description="The dossier's appointment at hand-over.")
    result: str | None = Field(
        description="Hand-over against the appointment (by local day): early, on_time, late."
    )
    note: str

    @classmethod
    def of(cls, h: Handover) -> HandoverView:
        return cls(
            from_party=h.from_party,
            to_party=h.to_party,
            given_by=h.given_by,
            handed_at=h.handed_at,
            taken_by=h.taken_by,
            taken_at=h.taken_at,
            due_at=h.due_at,
            result=h.result,
            note=h.note,
        )


class FormView(ReadModel):
    """A signed form issued for a dossier."""

    id: str
    form_no: str = Field(
        description="01 receipt and appointment, 02 supplement request, 03 refusal, "
        "04 apology and new date, 06 process-control sheet."
    )
    sha256: str = Field(description="Of the signed PDF.")
    size: int = Field(description="Bytes.")
    issued_by: str
    issued_at: IsoDateTime = Field(description="Signing time.")
    qr_payload: str = Field(description="The JSON text of the QR code printed on the form.")
    dossier_id: str = Field(exclude=True)

    @classmethod
    def of(cls, f: DossierForm) -> FormView:
        return cls(
            id=f.id,
            form_no=f.form_no,
            sha256=f.sha256,
            size=f.size,
            issued_by=f.issued_by,
            issued_at=f.issued_at,
            qr_payload=f.qr_payload,
            dossier_id=f.dossier_id,
        )


@dataclass(frozen=True)
class FormFile:
    """Where a form's PDF is stored and the name it is downloaded under."""

    object_key: str
    filename: str
    dossier_id: str


# -- the repository, from a dossier's side -----------------------------------------------------


class ReusableRecord(ReadModel):
    """A valid paper of the same owner and type in the repository (kho dữ liệu)."""

    id: str
    code: str = Field(description="Digitization code `<owner ID>.<document type>.<number>.<NN>`.")
    title: str
    kind: str = Field(description="component (a dossier's paper) or result (an agency's).")
    digitized_at: IsoDateTime
    dossier_code: str = Field(description="The dossier it was digitized for.")
    valid_until: date | None = Field(description="Last valid day; null when without end.")
    document_id: str

    @classmethod
    def of(cls, r: RepositoryRecord) -> ReusableRecord:
        return cls(
            id=r.id,
            code=r.code,
            title=r.title,
            kind=r.kind,
            digitized_at=r.digitized_at,
            dossier_code=r.dossier_code,
            valid_until=r.valid_until,
            document_id=r.document_id,
        )


class ReuseView(ReadModel):
    component_id: str
    record_id: str
    flag: int = Field(
        description="National flag DuocTaiSuDung: 1 reused, 2 reused and replaced by a stored "
        "result's code."
    )
