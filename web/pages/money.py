"""Fees, payments and e-receipts on the dossier page; results and their return to the citizen.

The panels (``money/_fees.html``, ``money/_returns.html``) are filled by :func:`dossier_context`
from the cashier's and the returns' own reads; their forms post here, call the same services as
``api/routers/money.py`` and go back to the dossier page with ``?done=<key>``.

One press pays once: the payment form names the fee items it shows, and the cashier pays only
items still due, under the dossier's row lock. A second submission of the same form finds them
paid and is answered as the first was, without a second payment or receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from api.auditing import audit_access
from api.context import AppServices
from api.params import content_disposition
from api.scans import chunks
from dossiers.access import Principal
from dossiers.errors import Conflict
from dossiers.fees.cashier import BLOCKING, METHODS, FeeItem, Payer, ReceiptView
from dossiers.results.returns import POSTAL_STEPS, PostalReturn, ResultView, ReturnLog
from dossiers.workflow.dossier_views import DossierView
from dossiers.workflow.lifecycle import Status
from web.deps import PageRoute, Svc, User
from web.render import page

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

# Who works the fees and returns on the dossier page (the API lets the same roles act).
DESK = ("counter", "admin")
# Notices this module's actions leave on the dossier page (``?done=``).
DONE = ("paid", "voided", "returned", "posted", "postal", "linked")
Text = Annotated[str, Form(max_length=255)]
LongText = Annotated[str, Form(max_length=2000)]


@dataclass
class FeesPanel:
    """What ``money/_fees.html`` shows."""

    items: list[FeeItem]
    due_now: list[FeeItem]
    receipts: list[ReceiptView]
    can_void: bool
    methods: tuple[str, ...] = tuple(METHODS)

    @property
    def due_total(self) -> int:
        return sum(f.amount for f in self.items if f.status == "due")

    @property
    def due_now_total(self) -> int:
        return sum(f.amount for f in self.due_now)

    @property
    def paid_total(self) -> int:
        return sum(f.amount for f in self.items if f.status == "paid")

    @property
    def latest_receipt(self) -> ReceiptView | None:
        issued = [r for r in self.receipts if r.status == "issued"]
        return issued[-1] if issued else None


@dataclass
class ReturnsPanel:
    """What ``money/_returns.html`` shows."""

    results: list[ResultView]
    returns: list[ReturnLog]
    can_return: bool
    fees_due: bool
    address: str
    collect_at: str
    # Where a parcel may go next from each postal status, as the returns allow.
    steps: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(POSTAL_STEPS))

    @property
    def has_document(self) -> bool:
        return any(r.document_id for r in self.results)

    @property
    def parcel_on_way(self) -> bool:
        """A parcel is with the post: the next step is its delivery, not another return."""
        return any(
            isinstance(r, PostalReturn) and r.postal_status in self.steps and not r.completed_at
            for r in self.returns
        )


def may_void(user: Principal) -> bool:
    """Whether to offer the void form: to whom the cashier lets void (the page adds no rule
    of its own; the cashier decides, and refuses in words)."""
    return user.role in ("counter", "admin")


def _due_now(items: list[FeeItem], status: int) -> list[FeeItem]:
    """The items the cashier takes by default: what blocks the dossier, and at the return
    the fees collected with the result (``Cashier.pay`` with no ``fee_ids``)."""
    stages = set(BLOCKING) | ({"return"} if status == Status.PROCESSED else set())
    return [f for f in items if f.status == "due" and f.collect_at in stages]


def dossier_context(
    request: Request, svc: AppServices, user: Principal, dossier: DossierView
) -> dict[str, Any]:
    """What this module's partials on the dossier page need (``dossier/page.html`` includes them)."""
    done = request.query_params.get("done", "")
    context: dict[str, Any] = {
        "money_fees": None,
        "money_returns": None,
        "money_done": done if done in DONE else "",
        "money_time": _parse_time,
    }
    if user.role not in DESK or dossier.code is None:
        return context
    ref = dossier.id
    items = svc.cashier.fees(user, ref)
    receipts = svc.cashier.receipts(user, ref)
    if items or receipts:
        context["money_fees"] = FeesPanel(
            items=items,
            due_now=_due_now(items, dossier.status),
            receipts=receipts,
            can_void=may_void(user),
        )
    if dossier.status in (Status.PROCESSED, Status.RETURNED):
        context["money_returns"] = ReturnsPanel(
            results=svc.returns.results(user, ref),
            returns=svc.returns.returns(user, ref),
            can_return=dossier.status == Status.PROCESSED,
            fees_due=any(f.status == "due" for f in items),
            address=dossier.applicant.address,
            collect_at=dossier.collect_at,
        )
    return context


def _parse_time(value: str | None) -> datetime | None:
    """The read models' ISO 8601 times, for the page's ``when`` formatter."""
    return datetime.fromisoformat(value) if value else None


def _back(ref: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/web/dossiers/{quote(ref, safe='')}?done={done}#money", 303)


def _payer(name: str, address: str, tax_code: str) -> Payer | None:
    return Payer(name.strip(), address.strip(), tax_code.strip()) if name.strip() else None


# -- fees and receipts -----------------------------------------------------------------------


@router.post("/dossiers/{ref}/payments")
def pay(
    ref: str,
    user: User,
    svc: Svc,
    method: Annotated[str, Form(max_length=16)],
    fee_ids: Annotated[list[str], Form(max_length=100)],
    payer_name: Text = "",
    payer_address: Annotated[str, Form(max_length=512)] = "",
    payer_tax_code: Annotated[str, Form(max_length=32)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Take payment for exactly the items the form showed; a repeated press pays nothing more."""
    try:
        svc.cashier.pay(
            user,
            ref,
            method=method,
            fee_ids=fee_ids,
            payer=_payer(payer_name, payer_address, payer_tax_code),
            reference=reference.strip(),
        )
    except Conflict as exc:
        if exc.code not in ("fee_not_due", "nothing_due"):
            raise
        paid = {f.id for f in svc.cashier.fees(user, ref) if f.status == "paid"}
        if not set(fee_ids) <= paid:
            raise
    return _back(ref, "paid")


@router.get("/receipts/{receipt_id}.pdf")
def receipt_pdf(receipt_id: str, user: User, svc: Svc) -> StreamingResponse:
    """The signed e-receipt, inline for printing; downloads are audited as the API's are."""
    receipt = svc.cashier.receipt(user, receipt_id)
    audit_access(
        svc,
        user,
        "receipt.download",
        "receipt",
        receipt.id,
        dossier_id=receipt.dossier_id,
        data={"kind": "pdf"},
    )
    name = f"bien-lai-{receipt.series}-{receipt.number:07d}.pdf"
    return StreamingResponse(
        chunks(svc.store, receipt.pdf_key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(name, "inline")},
    )


@router.post("/receipts/{receipt_id}/void")
def void(
    receipt_id: str,
    user: User,
    svc: Svc,
    reason: LongText,
    replacement_name: Text = "",
    replacement_address: Annotated[str, Form(max_length=512)] = "",
    replacement_tax_code: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Void a receipt, with the reason; with a payer, a replacement is issued."""
    outcome = svc.cashier.void(
        user,
        receipt_id,
        reason=reason.strip(),
        replace_with=_payer(replacement_name, replacement_address, replacement_tax_code),
    )
    return _back(outcome.voided.dossier_id, "voided")


# -- returning the result --------------------------------------------------------------------


@router.post("/dossiers/{ref}/return/counter")
def return_at_counter(
    ref: str,
    user: User,
    svc: Svc,
    recipient_name: Text,
    recipient_id: Annotated[str, Form(max_length=32)],
    relation: Annotated[str, Form(max_length=64)],
) -> Response:
    svc.returns.at_counter(
        user,
        ref,
        recipient_name=recipient_name.strip(),
        recipient_id=recipient_id.strip(),
        relation=relation.strip(),
    )
    return _back(ref, "returned")


@router.post("/dossiers/{ref}/return/post")
def return_by_post(
    ref: str,
    user: User,
    svc: Svc,
    tracking_number: Annotated[str, Form(max_length=64)],
    postal_fee: Annotated[int, Form(ge=0, le=100_000_000)] = 0,
) -> Response:
    svc.returns.by_post(user, ref, tracking_number=tracking_number.strip(), postal_fee=postal_fee)
    return _back(ref, "posted")


@router.post("/returns/{return_id}/postal-status")
def postal_status(
    return_id: str,
    user: User,
    svc: Svc,
    status: Annotated[str, Form(max_length=32)],
    dossier: Annotated[str, Form(max_length=64)],
) -> Response:
    """The parcel moved on; ``delivered`` completes the return."""
    svc.returns.postal_update(user, return_id, status)
    return _back(dossier, "postal")


@router.post("/dossiers/{ref}/return/online")
def return_online(
    request: Request,
    ref: str,
    user: User,
    svc: Svc,
    hours: Annotated[int, Form(ge=1, le=720)] = 72,
) -> Response:
    """Issue the link and show it on this answer only: it is stored hashed and never again."""
    issued = svc.returns.online(user, ref, hours=hours)
    base = svc.settings.public_url.rstrip("/")
    return page(
        request,
        "money/link.html",
        ref=ref,
        link=f"{base}/web/results/{issued.token}",
        expires_at=_parse_time(issued.link_expires_at),
    )
