"""Fees at the counter: what a dossier owes, payments, e-receipts, voids and the daily count.

Postal staff collect state fees for the agency and issue its e-receipts under mandate. A
receipt's number comes from its series' counter inside the transaction that records the
payment, and its XML and signed PDF are made in that same transaction: if anything fails the
number goes back, so a series never has a gap. A receipt is never deleted; it is voided with a
reason, and a replacement names the receipt it replaces.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dossiers import calendar as cal
from dossiers.access import Principal, check_unit
from dossiers.errors import Conflict, InvalidInput, NotFound
from dossiers.fees.amounts import amount_in_words
from dossiers.models import (
    Dossier,
    DossierFee,
    Payment,
    Procedure,
    Receipt,
    ReceiptSeries,
    Unit,
)
from dossiers.workflow.codes import next_in_sequence
from dossiers.workflow.lifecycle import Status
from storage import metrics

if TYPE_CHECKING:
    from dossiers.kernel import DossierKernel

METHODS = {"cash": "TM", "transfer": "CK"}
BLOCKING = ("receipt", "supplement", "assessed")  # must be paid before the dossier goes on


@dataclass(frozen=True)
class Payer:
    name: str
    address: str = ""
    tax_code: str = ""


# -- read models ------------------------------------------------------------------------------


class FeeItem(BaseModel):
    """A fee or charge a dossier owes, or has paid."""

    model_config = ConfigDict(extra="forbid")

    id: str
    code: str = Field(
        description="The procedure's fee code; NV-01, NV-02, … for amounts the agency assessed."
    )
    name: str
    kind: str = Field(description="fee: a state fee (lệ phí); charge: for a service (phí).")
    amount: int = Field(description="VND.")
    collect_at: str = Field(
        description="When it is collected: receipt (at reception), supplement, return (with "
        "the result) or assessed (by the agency; the dossier waits in status 6 until paid)."
    )
    status: str = Field(description="due or paid.")
    payment_id: str | None = Field(description="The payment that settled it; null while due.")

    @classmethod
    def of(cls, f: DossierFee) -> FeeItem:
        return cls(
            id=f.id,
            code=f.code,
            name=f.name,
            kind=f.kind,
            amount=f.amount,
            collect_at=f.collect_at,
            status=f.status,
            payment_id=f.payment_id,
        )


class ReceiptLineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The fee's name as printed on the receipt.")
    amount: int = Field(description="VND.")


class ReceiptView(BaseModel):
    """An e-receipt (biên lai điện tử) as issued, with where to fetch its XML and PDF."""

    model_config = ConfigDict(extra="forbid")

    id: str
    form_symbol: str = Field(description="Form symbol (ký hiệu mẫu) registered for the series.")
    series: str = Field(description="Receipt series (ký hiệu biên lai).")
    number: int = Field(description="Number within the series, gap-free from 1.")
    number_text: str = Field(description="The number as printed: seven digits, zero-padded.")
    issued_at: str = Field(description="ISO 8601 with its UTC offset.")
    method: str = Field(description="cash or transfer.")
    amount: int = Field(description="Total in VND.")
    amount_words: str = Field(description="The total in Vietnamese words, as printed.")
    payer_name: str
    lines: list[ReceiptLineItem]
    status: str = Field(description="issued or voided (never deleted).")
    void_reason: str | None = Field(description="Why it was voided; null while issued.")
    replaces_id: str | None = Field(description="The voided receipt this one replaces.")
    dossier_id: str
    staff_id: str = Field(description="Who issued it.")
    xml_sha256: str
    pdf_sha256: str
    xml_url: str
    pdf_url: str

    @classmethod
    def of(cls, r: Receipt) -> ReceiptView:
        return cls(
            id=r.id,
            form_symbol=r.form_symbol,
            series=r.series,
            number=r.number,
            number_text=f"{r.number:07d}",
            issued_at=r.issued_at.isoformat(),
            method=r.method,
            amount=r.amount,
            amount_words=r.amount_words,
            payer_name=r.payer_name,
            lines=[ReceiptLineItem.model_validate(line) for line in r.lines],
            status=r.status,
            void_reason=r.void_reason,
            replaces_id=r.replaces_id,
            dossier_id=r.dossier_id,
            staff_id=r.staff_id,
            xml_sha256=r.xml_sha256,
            pdf_sha256=r.pdf_sha256,
            xml_url=f"/api/v1/receipts/{r.id}/xml",
            pdf_url=f"/api/v1/receipts/{r.id}/pdf",
        )


class PaymentTaken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str
    receipt: ReceiptView
    status: int = Field(description="The dossier's status after the payment (national code).")


class VoidOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voided: ReceiptView
    replacement: ReceiptView | None = Field(
        description="The receipt issued in its place; null when the payment was reversed."
    )


class Reconciliation(BaseModel):
    """One counter's day (đối chiếu): receipts issued and voided against the payments taken."""

    model_config = ConfigDict(extra="forbid")

    unit_code: str
    day: date = Field(description="The local day (Asia/Ho_Chi_Minh).")
    staff_id: str | None = Field(description="The one collector counted; null: all of them.")
    issued: int = Field(description="Receipts still valid.")
    voided: int = Field(description="Receipts voided.")
    totals: dict[str, int] = Field(
        description="Valid receipts' amounts by method (cash, transfer), VND."
    )
    total: int = Field(description="VND.")
    payments: dict[str, int] = Field(
        description="Payments taken and not reversed, by method (cash, transfer), VND."
    )
    payments_total: int = Field(description="VND.")
    balanced: bool = Field(description="The receipts' totals equal the payments' by method.")
    receipts: list[ReceiptView] = Field(description="By series and number.")


def create_fees(
    session: Session,
    dossier: Dossier,
    proc: Procedure,
    stages: Sequence[str] = ("receipt", "return"),
) -> None:
    """The procedure's fee items of ``stages`` become the dossier's, once each: at reception
    those collected at receipt and at return, at a supplement those collected then."""
    have = set(session.scalars(select(DossierFee.code).where(DossierFee.dossier_id == dossier.id)))
    for f in proc.fees:
        if f["collect_at"] not in stages or f["code"] in have:
            continue
        session.add(
            DossierFee(
                dossier_id=dossier.id,
                code=f["code"],
                name=f["name"],
                kind=f["kind"],
                amount=int(f["amount"]),
                collect_at=f["collect_at"],
            )
        )


def unpaid(session: Session, dossier_id: str, stages: Sequence[str]) -> list[DossierFee]:
    return list(
        session.scalars(
            select(DossierFee)
            .where(
                DossierFee.dossier_id == dossier_id,
                DossierFee.status == "due",
                DossierFee.collect_at.in_(stages),
            )
            .order_by(DossierFee.created_at, DossierFee.code)
        )
    )


class Cashier:
    def __init__(self, dossiers: DossierKernel) -> None:
        self.dossiers = dossiers

    # -- fees ---------------------------------------------------------------------------------

    def fees(self, principal: Principal, ref: str) -> list[FeeItem]:
        with self.dossiers.tx() as session:
            dossier = self.dossiers.find(session, principal, ref)
            rows = session.scalars(
                select(DossierFee)
                .where(DossierFee.dossier_id == dossier.id)
                .order_by(DossierFee.created_at)
            )
            return [FeeItem.of(f) for f in rows]

    def request_payment(
        self, principal: Principal, ref: str, *, items: Sequence[tuple[str, int]], reason: str
    ) -> None:
        """The agency assesses what the applicant must pay before it goes on (status 6)."""
        if not items or any(amount <= 0 or not name.strip() for name, amount in items):
            raise InvalidInput(
                "name each amount to pay, in VND above zero", code="payment_items_invalid"
            )
        svc = self.dossiers
        with svc.tx() as session:
            dossier = svc.find(session, principal, ref, lock=True)
            svc.require_holder(principal, dossier)
            for i, (name, amount) in enumerate(items, 1):
                session.add(
                    DossierFee(
                        dossier_id=dossier.id,
                        code=f"NV-{i:02d}",
                        name=name,
                        kind="fee",
                        amount=amount,
                        collect_at="assessed",
                    )
                )
            svc.move(
                session,
                dossier,
                principal,
                "await_payment",
                reason=reason,
                items=[{"name": n, "amount": a} for n, a in items],
            )

    # -- payments and receipts -------------------------------------------------------------

    def pay(
        self,
        principal: Principal,
        ref: str,
        *,
        method: str,
        fee_ids: Sequence[str] | None = None,
        payer: Payer | None = None,
        reference: str = "",
    ) -> PaymentTaken:
        """Take payment for due fee items (all that are due now by default) and issue the
        receipt. A dossier waiting for payment goes on when nothing blocking is left."""
        if method not in METHODS:
            raise InvalidInput("method is cash or transfer", code="method_invalid")
        svc = self.dossiers
        with svc.tx() as session:
            dossier = svc.find(session, principal, ref, lock=True)
            svc.require_counter(principal, dossier)
            if dossier.status in (Status.NEW, Status.REFUSED, Status.WITHDRAWN, Status.STOPPED):
                raise Conflict(
                    f"dossier in status {dossier.status} takes no payment",
                    code="illegal_transition",
                )
            due = {
                f.id: f
                for f in session.scalars(
                    select(DossierFee).where(
                        DossierFee.dossier_id == dossier.id, DossierFee.status == "due"
                    )
                )
            }
            if fee_ids is None:
                stages = list(BLOCKING) + (["return"] if dossier.status == Status.PROCESSED else [])
                chosen = [f for f in due.values() if f.collect_at in stages]
            else:
                missing = sorted(set(fee_ids) - set(due))
                if missing:
                    raise Conflict(
                        f"fee items {missing} are not due (paid or unknown)", code="fee_not_due"
                    )
                chosen = [due[i] for i in fee_ids]
            if not chosen:
                raise Conflict("nothing is due on this dossier", code="nothing_due")
            now = svc.now()
            who = payer or Payer(dossier.applicant_name, dossier.applicant_address)
            payment = Payment(
                dossier_id=dossier.id,
                unit_code=dossier.unit_code,
                staff_id=principal.staff_id,
                method=method,
                reference=reference,
                amount=sum(f.amount for f in chosen),
                payer_name=who.name,
                payer_address=who.address,
                payer_tax_code=who.tax_code,
                fee_ids=[f.id for f in chosen],
                paid_at=now,
            )
            session.add(payment)
            session.flush()
            for f in chosen:
                f.status, f.payment_id = "paid", payment.id
            receipt = self._issue(
                session, dossier, payment, principal, [(f.name, f.amount) for f in chosen], who
            )
            svc.event(
                session,
                dossier,
                principal,
                "payment",
                dossier.status,
                amount=payment.amount,
                method=method,
                receipt=receipt.number,
                series=receipt.series,
            )
            if dossier.status == Status.AWAITING_PAYMENT and not unpaid(
                session, dossier.id, BLOCKING
            ):
                svc.move(
                    session,
                    dossier,
                    principal,
                    "paid" if dossier.route_index >= 0 else "paid_before_routing",
                )
            return PaymentTaken(
                payment_id=payment.id, receipt=ReceiptView.of(receipt), status=dossier.status
            )

    def _series(self, session: Session, unit_code: str, day: date) -> ReceiptSeries:
        series = session.scalar(
            select(ReceiptSeries)
            .where(
                ReceiptSeries.unit_code == unit_code,
                ReceiptSeries.valid_from <= day,
                or_(ReceiptSeries.valid_to.is_(None), ReceiptSeries.valid_to >= day),
            )
            .order_by(ReceiptSeries.valid_from.desc())
            .limit(1)
        )
        if series is None:
            raise Conflict(
                f"unit {unit_code} has no receipt series in use on {day}; an admin "
                "registers one (POST /api/v1/admin/receipt-series)",
                code="no_receipt_series",
            )
        return series

    def _issue(
        self,
        session: Session,
        dossier: Dossier,
        payment: Payment,
        principal: Principal,
        lines: list[tuple[str, int]],
        payer: Payer,
        *,
        replaces: Receipt | None = None,
    ) -> Receipt:
        from dossiers.fees import receipts_doc as rd

        svc = self.dossiers
        now = svc.now()
        series = self._series(session, dossier.unit_code, now.astimezone(cal.VN_TZ).date())
        number = next_in_sequence(session, f"receipt:{series.id}", "all")
        if number > 9_999_999:
            raise Conflict(
                f"series {series.series} is full; register a new one", code="sequence_exhausted"
            )
        unit = session.get(Unit, dossier.unit_code)
        assert unit is not None
        doc = rd.ReceiptDoc(
            form_symbol=series.form_symbol,
            series=series.series,
            number=number,
            issued_at=now,
            payment_method=METHODS[payment.method],
            collector=rd.ReceiptParty(
                series.collector_name, series.collector_tax_code, series.collector_address
            ),
            issuer=rd.ReceiptParty(unit.name, series.issuer_tax_code, unit.place),
            mandate=series.mandate,
            payer=rd.ReceiptParty(payer.name, payer.tax_code, payer.address),
            lines=tuple(rd.ReceiptLine(name, amount) for name, amount in lines),
            dossier_code=dossier.code or "",
            procedure_code=dossier.procedure_code,
            status_lookup=(
                svc.status_lookup.line(dossier.code) if svc.status_lookup and dossier.code else ""
            ),
            related=rd.RelatedReceipt(
                1, replaces.form_symbol, replaces.series, replaces.number, replaces.issued_at
            )
            if replaces
            else None,
        )
        base = f"receipts/{series.id}/{number:07d}"
        xml = rd.receipt_xml(doc)
        xml_sha = hashlib.sha256(xml).hexdigest()
        svc.store.put(
            f"{base}.xml",
            io.BytesIO(xml),
            content_type="application/xml",
            sha256=xml_sha,
            metadata={"dossier-id": dossier.id},
        )
        pdf_sha = self._pdf(doc, f"{base}.pdf", unit.name, dossier.id)
        if svc.form_signer is not None:
            metrics.add(session, metrics.SIGNATURES, {"kind": "receipt"})
        receipt = Receipt(
            series_id=series.id,
            form_symbol=series.form_symbol,
            series=series.series,
            number=number,
            payment_id=payment.id,
            dossier_id=dossier.id,
            unit_code=dossier.unit_code,
            staff_id=principal.staff_id,
            issued_at=now,
            method=payment.method,
            amount=doc.total,
            amount_words=amount_in_words(doc.total),
            payer_name=payer.name,
            lines=[{"name": n, "amount": a} for n, a in lines],
            replaces_id=replaces.id if replaces else None,
            xml_key=f"{base}.xml",
            xml_sha256=xml_sha,
            pdf_key=f"{base}.pdf",
            pdf_sha256=pdf_sha,
        )
        session.add(receipt)
        session.flush()
        return receipt

    def _pdf(self, doc: Any, key: str, unit_name: str, dossier_id: str) -> str:
        from dossiers.fees import receipts_doc as rd

        svc = self.dossiers
        with tempfile.TemporaryDirectory() as tmp:
            rendered = rd.render_receipt_pdf(
                doc, Path(tmp) / "receipt.pdf", system_name=svc.system_name, fonts=svc.fonts
            )
            final = rendered
            if svc.form_signer is not None:
                final = Path(tmp) / "signed.pdf"
                svc.form_signer(rendered, final, unit_name)
            digest = hashlib.sha256(final.read_bytes()).hexdigest()
            svc.store.put_file(
                key,
                final,
                content_type="application/pdf",
                sha256=digest,
                metadata={"dossier-id": dossier_id},
            )
        return digest

    def void(
        self,
        principal: Principal,
        receipt_id: str,
        *,
        reason: str,
        replace_with: Payer | None = None,
    ) -> VoidOutcome:
        """Void a receipt. With ``replace_with`` a replacement is issued for the same payment
        (the fees stay paid); without, the payment is reversed and its fees are due again."""
        if not reason.strip():
            raise InvalidInput("a void needs its reason", code="reason_required")
        svc = self.dossiers
        with svc.tx() as session:
            receipt = session.get(Receipt, receipt_id, with_for_update=True)
            if receipt is None:
                raise NotFound(f"no receipt {receipt_id}", code="receipt_not_found")
            dossier = svc.find(session, principal, receipt.dossier_id, lock=True)
            svc.require_counter(principal, dossier)
            if receipt.status != "issued":
                raise Conflict(
                    f"receipt {receipt.series}/{receipt.number} is already {receipt.status}",
                    code="receipt_voided",
                )
            now = svc.now()
            receipt.status, receipt.void_reason = "voided", reason
            receipt.voided_at, receipt.voided_by = now, principal.staff_id
            payment = session.get(Payment, receipt.payment_id)
            assert payment is not None
            replacement = None
            if replace_with is not None:
                payment.payer_name, payment.payer_address = replace_with.name, replace_with.address
                payment.payer_tax_code = replace_with.tax_code
                lines = [(line["name"], int(line["amount"])) for line in receipt.lines]
                replacement = self._issue(
                    session, dossier, payment, principal, lines, replace_with, replaces=receipt
                )
            else:
                payment.reversed_at = now
                for fee in session.scalars(
                    select(DossierFee).where(DossierFee.payment_id == payment.id)
                ):
                    fee.status, fee.payment_id = "due", None
            svc.event(
                session,
                dossier,
                principal,
                "receipt_void",
                dossier.status,
                reason=reason,
                receipt=receipt.number,
                series=receipt.series,
                replacement=replacement.number if replacement else None,
            )
            return VoidOutcome(
                voided=ReceiptView.of(receipt),
                replacement=ReceiptView.of(replacement) if replacement else None,
            )

    def receipts(self, principal: Principal, ref: str) -> list[ReceiptView]:
        with self.dossiers.tx() as session:
            dossier = self.dossiers.find(session, principal, ref)
            rows = session.scalars(
                select(Receipt)
                .where(Receipt.dossier_id == dossier.id)
                .order_by(Receipt.issued_at, Receipt.number)
            )
            return [ReceiptView.of(r) for r in rows]

    def receipt(self, principal: Principal, receipt_id: str) -> Receipt:
        with self.dossiers.tx() as session:
            receipt = session.get(Receipt, receipt_id)
            if receipt is None:
                raise NotFound(f"no receipt {receipt_id}", code="receipt_not_found")
            self.dossiers.find(session, principal, receipt.dossier_id)
            session.expunge(receipt)
            return receipt

    # -- reconciliation ------------------------------------------------------------------------

    def reconciliation(
        self, principal: Principal, unit_code: str, day: date, staff_id: str | None = None
    ) -> Reconciliation:
        """Receipts of one counter and day (and one staff member if named) against payments."""
        principal.require("counter", "auditor", "admin")
        with self.dossiers.tx() as session:
            check_unit(principal, unit_code, session)
            start = datetime.combine(day, datetime.min.time(), tzinfo=cal.VN_TZ)
            end = start + timedelta(days=1)
            rq = select(Receipt).where(
                Receipt.unit_code == unit_code, Receipt.issued_at >= start, Receipt.issued_at < end
            )
            pq = select(Payment).where(
                Payment.unit_code == unit_code, Payment.paid_at >= start, Payment.paid_at < end
            )
            if staff_id:
                rq = rq.where(Receipt.staff_id == staff_id)
                pq = pq.where(Payment.staff_id == staff_id)
            receipts = list(session.scalars(rq.order_by(Receipt.series, Receipt.number)))
            payments = list(session.scalars(pq))
            totals: dict[str, int] = {m: 0 for m in METHODS}
            for r in receipts:
                if r.status == "issued":
                    totals[r.method] += r.amount
            paid: dict[str, int] = {m: 0 for m in METHODS}
            for p in payments:
                if p.reversed_at is None:
                    paid[p.method] += p.amount
            return Reconciliation(
                unit_code=unit_code,
                day=day,
                staff_id=staff_id,
                issued=sum(1 for r in receipts if r.status == "issued"),
                voided=sum(1 for r in receipts if r.status == "voided"),
                totals=totals,
                total=sum(totals.values()),
                payments=paid,
                payments_total=sum(paid.values()),
                balanced=totals == paid,
                receipts=[ReceiptView.of(r) for r in receipts],
            )

    def reconciliation_pdf(
        self, principal: Principal, unit_code: str, day: date, staff_id: str | None, out: Path
    ) -> Path:
        from dossiers.fees import receipts_doc as rd

        report = self.reconciliation(principal, unit_code, day, staff_id)
        with self.dossiers.tx() as session:
            unit = session.get(Unit, unit_code)
            assert unit is not None
            unit_name = unit.name
        rows = [
            (
                r.series,
                r.number,
                r.payer_name,
                r.amount,
                r.method,
                "replacement" if r.replaces_id and r.status == "issued" else r.status,
            )
            for r in report.receipts
        ]
        with tempfile.TemporaryDirectory() as tmp:
            rendered = rd.render_reconciliation(
                unit_name=unit_name,
                staff_name=staff_id or "Tất cả nhân viên",
                day=day,
                rows=rows,
                totals=report.totals,
                issued_count=report.issued,
                voided_count=report.voided,
                out=Path(tmp) / "reconciliation.pdf",
                fonts=self.dossiers.fonts,
            )
            if self.dossiers.form_signer is not None:
                self.dossiers.form_signer(rendered, out, unit_name)
            else:
                out.write_bytes(rendered.read_bytes())
        return out
