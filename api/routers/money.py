"""Fees, payments, e-receipts and the daily reconciliation; results and their return."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auditing import audit_access
from api.deps import Caller, PublicLimit, Svc
from api.params import Amount, Code, Day, content_disposition
from api.problems import ApiProblem
from api.scans import ScanAccepted, accept_scan, chunks, upload_openapi, upload_responses
from dossiers.fees.cashier import (
    FeeItem,
    Payer,
    PaymentTaken,
    ReceiptView,
    Reconciliation,
    VoidOutcome,
)
from dossiers.results.returns import (
    CounterReturn,
    IssuedLink,
    LinkedResult,
    PostalReturn,
    ResultView,
    ReturnLog,
    UncollectedDossier,
)

router = APIRouter(tags=["fees and results"])
public = APIRouter(prefix="/public", tags=["public"], dependencies=[PublicLimit])


class PayerBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    address: str = Field(default="", max_length=512)
    tax_code: str = Field(default="", max_length=32)


class PayBody(BaseModel):
    method: Literal["cash", "transfer"]
    fee_ids: list[Code] | None = Field(default=None, max_length=100)
    payer: PayerBody | None = None
    reference: str = Field(default="", max_length=64)


class VoidBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    replacement_payer: PayerBody | None = None


class AssessBody(BaseModel):
    items: list[tuple[Annotated[str, Field(max_length=255)], Amount]] = Field(
        min_length=1, max_length=20
    )
    reason: str = Field(min_length=1, max_length=2000)


class CounterReturnBody(BaseModel):
    recipient_name: str = Field(min_length=1, max_length=255)
    recipient_id: str = Field(min_length=1, max_length=32)
    relation: str = Field(min_length=1, max_length=64)


class PostBody(BaseModel):
    tracking_number: str = Field(min_length=1, max_length=64)
    postal_fee: Amount


class PostalStatusBody(BaseModel):
    status: Literal["in_transit", "delivered", "returned_to_sender"]


class LinkBody(BaseModel):
    hours: int = Field(default=72, ge=1, le=720)


# -- answers --------------------------------------------------------------------------------


class FeeList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[FeeItem] = Field(description="Oldest first.")


class ReceiptList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ReceiptView] = Field(description="In the order issued, voided ones included.")


class ResultList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ResultView] = Field(description="In the order added.")


class ReturnList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ReturnLog] = Field(description="Every attempt to return the result, oldest first.")


class UncollectedList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[UncollectedDossier] = Field(description="Longest waiting first.")


class PublicResult(LinkedResult):
    url: str = Field(description="The signed PDF, through the same link.")


class PublicResultList(BaseModel):
    """What a returned result's link shows."""

    model_config = ConfigDict(extra="forbid")

    expires_at: str | None = Field(description="ISO 8601 with its UTC offset.")
    items: list[PublicResult]


def _file(media: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route whose success is a file of one media type."""
    return {200: {"content": {media: {"schema": {"type": "string", "format": "binary"}}}}}


def _payer(body: PayerBody | None) -> Payer | None:
    return Payer(body.name, body.address, body.tax_code) if body else None


@router.get("/dossiers/{ref}/fees")
def fees(ref: str, who: Caller, svc: Svc) -> FeeList:
    return FeeList(items=svc.cashier.fees(who, ref))


@router.post("/dossiers/{ref}/payment-request")
def payment_request(ref: str, body: AssessBody, who: Caller, svc: Svc) -> FeeList:
    """The agency asks for a financial obligation; the dossier waits in status 6."""
    svc.cashier.request_payment(who, ref, items=body.items, reason=body.reason)
    return FeeList(items=svc.cashier.fees(who, ref))


@router.post("/dossiers/{ref}/payments", status_code=201)
def pay(ref: str, body: PayBody, who: Caller, svc: Svc) -> PaymentTaken:
    """Take payment for the fees due now and issue the e-receipt (XML and signed PDF)."""
    return svc.cashier.pay(
        who,
        ref,
        method=body.method,
        fee_ids=body.fee_ids,
        payer=_payer(body.payer),
        reference=body.reference,
    )


@router.get("/dossiers/{ref}/receipts")
def receipts(ref: str, who: Caller, svc: Svc) -> ReceiptList:
    return ReceiptList(items=svc.cashier.receipts(who, ref))


@router.post("/receipts/{receipt_id}/void")
def void(receipt_id: str, body: VoidBody, who: Caller, svc: Svc) -> VoidOutcome:
    """Void a receipt; with ``replacement_payer`` a replacement is issued and linked."""
    return svc.cashier.void(
        who, receipt_id, reason=body.reason, replace_with=_payer(body.replacement_payer)
    )


@router.get(
    "/receipts/{receipt_id}/xml", response_class=Response, responses=_file("application/xml")
)
def receipt_xml(receipt_id: str, who: Caller, svc: Svc) -> StreamingResponse:
    """The e-receipt as issued (XML)."""
    return _receipt_file(receipt_id, "xml", who, svc)


@router.get(
    "/receipts/{receipt_id}/pdf", response_class=Response, responses=_file("application/pdf")
)
def receipt_pdf(receipt_id: str, who: Caller, svc: Svc) -> StreamingResponse:
    """The e-receipt for printing (PDF)."""
    return _receipt_file(receipt_id, "pdf", who, svc)


# Two routes rather than one ``{kind}``: a GET of ``/receipts/{id}/void`` is then a 405 naming
# POST, not a 422 about an unknown kind.
def _receipt_file(
    receipt_id: str, kind: Literal["xml", "pdf"], who: Caller, svc: Svc
) -> StreamingResponse:
    receipt = svc.cashier.receipt(who, receipt_id)
    audit_access(
        svc,
        who,
        "receipt.download",
        "receipt",
        receipt.id,
        dossier_id=receipt.dossier_id,
        data={"kind": kind},
    )
    key = receipt.xml_key if kind == "xml" else receipt.pdf_key
    media = "application/xml" if kind == "xml" else "application/pdf"
    name = f"bien-lai-{receipt.series}-{receipt.number:07d}.{kind}"
    return StreamingResponse(
        chunks(svc.store, key),
        media_type=media,
        headers={"Content-Disposition": content_disposition(name)},
    )


@router.get("/reconciliation", response_model=Reconciliation, responses=_file("application/pdf"))
def reconciliation(
    who: Caller,
    svc: Svc,
    day: Day,
    unit_code: str = Query(max_length=64),
    staff_id: str | None = Query(default=None, max_length=64),
    format: Literal["json", "pdf"] = "json",
) -> Reconciliation | Response:
    """Receipts issued and voided, totals by method, against the payments of the day; with
    ``format=pdf``, the signed reconciliation sheet."""
    if format == "json":
        return svc.cashier.reconciliation(who, unit_code, day, staff_id)
    with tempfile.TemporaryDirectory() as tmp:
        out = svc.cashier.reconciliation_pdf(
            who, unit_code, day, staff_id, Path(tmp) / "doi-chieu.pdf"
        )
        data = out.read_bytes()
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(f"doi-chieu-{unit_code}-{day}.pdf")},
    )


# -- results and return ---------------------------------------------------------------------


@router.post(
    "/dossiers/{ref}/results",
    status_code=202,
    response_model=ScanAccepted,
    responses=upload_responses(ScanAccepted),
    # The multipart body only: the answers are declared above.
    openapi_extra={"requestBody": upload_openapi()["requestBody"]},
)
async def upload_result(
    ref: str,
    request: Request,
    who: Caller,
    svc: Svc,
    code: str = Query(max_length=32, description="result type, e.g. KQ.G10.000005"),
    name: str = Query(max_length=255),
    valid_until: Day | None = None,
    scope: str = Query(default="", max_length=255),
) -> JSONResponse:
    """The agency's result paper: digitized, then signed by the organization (top right)."""
    upload = await run_in_threadpool(
        svc.returns.prepare_result,
        who,
        ref,
        code=code,
        name=name,
        valid_until=valid_until,
        scope=scope,
    )
    return await accept_scan(
        request,
        svc,
        clerk_id=lambda _: who.staff_id,
        unit_code=upload.unit_code,
        sign_as="unit",
        sign_options=upload.sign_options,
        target=upload.target,
    )


@router.get("/dossiers/{ref}/results")
def results(ref: str, who: Caller, svc: Svc) -> ResultList:
    return ResultList(items=svc.returns.results(who, ref))


@router.post("/dossiers/{ref}/return/counter")
def return_at_counter(ref: str, body: CounterReturnBody, who: Caller, svc: Svc) -> CounterReturn:
    return svc.returns.at_counter(
        who,
        ref,
        recipient_name=body.recipient_name,
        recipient_id=body.recipient_id,
        relation=body.relation,
    )


@router.post("/dossiers/{ref}/return/post", status_code=201)
def return_by_post(ref: str, body: PostBody, who: Caller, svc: Svc) -> PostalReturn:
    return svc.returns.by_post(
        who, ref, tracking_number=body.tracking_number, postal_fee=body.postal_fee
    )


@router.post("/returns/{return_id}/postal-status")
def postal_status(return_id: str, body: PostalStatusBody, who: Caller, svc: Svc) -> PostalReturn:
    return svc.returns.postal_update(who, return_id, body.status)


@router.post("/dossiers/{ref}/return/online", status_code=201)
def return_online(ref: str, body: LinkBody, who: Caller, svc: Svc) -> IssuedLink:
    """An expiring link for the citizen; the token is in this answer only."""
    return svc.returns.online(who, ref, hours=body.hours)


@router.get("/dossiers/{ref}/returns")
def returns(ref: str, who: Caller, svc: Svc) -> ReturnList:
    return ReturnList(items=svc.returns.returns(who, ref))


@router.get("/reports/uncollected")
def uncollected(
    who: Caller,
    svc: Svc,
    days: int = Query(default=0, ge=0, le=3650, description="days since the result was ready"),
) -> UncollectedList:
    """Processed dossiers whose result has not reached the citizen."""
    return UncollectedList(items=svc.returns.uncollected(who, now=svc.clock(), days=days))


@public.get("/results/{token}")
def link(token: str, svc: Svc) -> PublicResultList:
    """What a returned result's link shows; the token is the credential."""
    found = svc.returns.link(token)
    return PublicResultList(
        expires_at=found.expires_at,
        items=[
            PublicResult(**item.model_dump(), url=f"/public/results/{token}/{item.document_id}")
            for item in found.items
        ],
    )


@public.get(
    "/results/{token}/{document_id}", response_class=Response, responses=_file("application/pdf")
)
def link_download(token: str, document_id: str, request: Request, svc: Svc) -> StreamingResponse:
    client = (
        f"{request.client.host if request.client else '-'} {request.headers.get('user-agent', '')}"
    )
    doc = svc.returns.download(token, document_id, client=client)
    if doc is None:  # pragma: no cover - download raises instead
        raise ApiProblem(404, "document_not_found", "no such result")
    return StreamingResponse(
        chunks(svc.store, doc.object_key),
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(f"ket-qua-{doc.id}.pdf"),
            "X-Content-SHA256": doc.sha256,
        },
    )
