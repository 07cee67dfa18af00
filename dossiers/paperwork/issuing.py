"""Issuing a form for a dossier: gather its data, render, sign with the unit certificate,
store, and record it. The rendering itself lives in :mod:`dossiers.paperwork.forms`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.access import Principal
from dossiers.models import Dossier, DossierComponent, DossierForm, Handover, Procedure, Unit
from dossiers.paperwork import forms
from storage import metrics

if TYPE_CHECKING:
    from dossiers.kernel import DossierKernel
    from dossiers.workflow.lookup import StatusLookup

ID_LABELS = {"CCCD": "Số CCCD", "CMND": "Số CMND", "HC": "Số hộ chiếu", "MST": "Mã số thuế"}
KIND_LABELS = {"original": "Bản chính", "copy": "Bản sao"}
PARTY_CITIZEN = "Công dân / tổ chức"


def issue(
    service: DossierKernel,
    session: Session,
    dossier: Dossier,
    form_no: str,
    principal: Principal,
    tmp: Path,
    kwargs: dict[str, Any],
    *,
    lookup: StatusLookup | None = None,
) -> DossierForm:
    """Render, sign, store and record form ``form_no``; with ``lookup``, form 01 also tells
    the citizen how to follow the dossier on the public status page."""
    unit = session.get(Unit, dossier.unit_code)
    proc = session.get(Procedure, dossier.procedure_id)
    assert unit is not None and proc is not None
    now = service.now()
    ctx = context(service, session, dossier, principal)
    rendered = tmp / f"form-{form_no}.pdf"
    appointment = None
    if form_no == "01":
        assert dossier.received_at is not None and dossier.due_at is not None
        appointment = dossier.due_at
        comps = session.scalars(
            select(DossierComponent)
            .where(DossierComponent.dossier_id == dossier.id)
            .order_by(DossierComponent.key)
        )
        forms.render_receipt(
            ctx,
            components=[
                forms.ComponentLine(c.name, KIND_LABELS.get(c.kind, c.kind), max(c.provided, 0))
                for c in comps
                if c.provided
            ],
            sets=dossier.sets,
            processing_time=(
                "Trong ngày"
                if proc.processing_days == 0
                else f"{proc.processing_days} ngày làm việc"
            ),
            received_at=dossier.received_at,
            appointment=dossier.due_at,
            collect_at=_collect_label(dossier.collect_at, unit),
            fees=[
                forms.FeeLine(f["name"], int(f["amount"]))
                for f in proc.fees
                if f.get("collect_at") == "receipt"
            ],
            out=rendered,
            status_link=(
                forms.StatusLink(lookup.line(dossier.code), lookup.url(dossier.code))
                if lookup is not None and dossier.code
                else None
            ),
        )
    elif form_no == "02":
        forms.render_supplement_request(
            ctx,
            items=kwargs["items"],
            reason=kwargs["reason"],
            contact=kwargs.get("contact", ""),
            out=rendered,
        )
    elif form_no == "03":
        forms.render_refusal(ctx, reason=kwargs["reason"], out=rendered)
    elif form_no == "04":
        forms.render_apology(
            ctx,
            original_due=kwargs["original_due"],
            new_due=kwargs["new_due"],
            reason=kwargs["reason"],
            out=rendered,
        )
    elif form_no == "06":
        rows = session.scalars(
            select(Handover).where(Handover.dossier_id == dossier.id).order_by(Handover.id)
        )
        names = {code: name for code, name in session.execute(select(Unit.code, Unit.name))}
        forms.render_control_sheet(
            ctx,
            received_at=dossier.received_at or dossier.created_at,
            rows=[
                forms.HandoverRow(
                    from_party=_party(h.from_party, names),
                    to_party=_party(h.to_party, names),
                    handed_at=h.handed_at,
                    due_at=h.due_at,
                    result=h.result,
                    note=_note(h),
                )
                for h in rows
            ],
            out=rendered,
        )
    else:
        raise forms.FormError(f"no form {form_no}", code="form_unknown")
    signed = tmp / f"form-{form_no}-signed.pdf"
    assert service.form_signer is not None
    result = service.form_signer(rendered, signed, unit.name)
    metrics.add(session, metrics.SIGNATURES, {"kind": "form"})
    key = f"forms/{dossier.id}/{form_no}-{now.strftime('%Y%m%dT%H%M%S%f')}.pdf"
    digest = hashlib.sha256(signed.read_bytes()).hexdigest()
    service.store.put_file(
        key,
        signed,
        content_type="application/pdf",
        sha256=digest,
        metadata={"dossier-id": dossier.id, "form": form_no},
    )
    row = DossierForm(
        dossier_id=dossier.id,
        form_no=form_no,
        object_key=key,
        sha256=digest,
        size=signed.stat().st_size,
        issued_by=principal.staff_id,
        issued_at=result.signing_time if result is not None else now,
        qr_payload=forms.qr_payload(form_no, ctx, appointment=appointment),
    )
    session.add(row)
    return row


def context(
    service: DossierKernel, session: Session, dossier: Dossier, principal: Principal
) -> forms.FormContext:
    """What every paper of this dossier prints: unit, codes, applicant, time, issuer."""
    unit = session.get(Unit, dossier.unit_code)
    proc = session.get(Procedure, dossier.procedure_id)
    assert unit is not None and proc is not None
    return forms.FormContext(
        unit_name=unit.name,
        unit_code=unit.code,
        dossier_code=dossier.code or dossier.id,
        procedure_code=proc.code,
        procedure_name=proc.name,
        applicant=forms.Applicant(
            name=dossier.applicant_name,
            id_type=ID_LABELS.get(dossier.applicant_id_type, dossier.applicant_id_type),
            id_number=dossier.applicant_id_number,
            phone=dossier.applicant_phone,
            address=dossier.applicant_address,
        ),
        issued_at=service.now(),
        staff_name=principal.name,
        place=unit.place,
        system_name=service.system_name,
        fonts=service.fonts,
    )


def _collect_label(collect_at: str, unit: Unit) -> str:
    if collect_at == "post":
        return "Qua dịch vụ bưu chính công ích (địa chỉ của người nộp)"
    if collect_at == "online":
        return "Trực tuyến, trên Cổng dịch vụ công"
    return f"Bộ phận Một cửa - {unit.name}"


def _party(code: str, names: dict[str, str]) -> str:
    if code == "citizen":
        return PARTY_CITIZEN
    return names.get(code, code)


def _note(h: Handover) -> str:
    parts = [h.note] if h.note else []
    if h.taken_at:
        parts.append(f"Nhận: {h.taken_by}")
    return "; ".join(parts)
