"""The citizen's reusable data repository (kho dữ liệu): every digitized paper with its
digitization code, so nobody is asked for the same paper twice.

A component's document enters the repository when its signed document exists; a result's too,
hidden until it is returned. A later dossier of the same owner can take a valid record instead
of a new scan; the rates of digitization and reuse follow the national definitions (QĐ 766:
a dossier counts as digitized when a file is attached to a component or to its result, as
reused when at least one component came from the repository).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from dossiers.access import Principal, check_unit, unit_filter
from dossiers.errors import Conflict, InvalidInput, NotFound
from dossiers.models import (
    ComponentReuse,
    ComponentScan,
    Dossier,
    DossierComponent,
    Procedure,
    RepositoryRecord,
    Result,
)
from dossiers.records.search import fold
from dossiers.workflow.codes import next_in_sequence
from storage.models import Document, Scan

TARGET_RATE = 0.8


class DigitizationCodes(Protocol):
    def next_code(self, session: Session, owner_id: str, doc_type: str, number: str) -> str: ...


class OwnerTypeNumberCode:
    """``<owner ID>.<document type>.<number/symbol>.<NN>`` as seen in production one-stop
    systems (TT 01/2023 Art. 10's own structure was not found); NN counts repeats."""

    name = "owner-type-number"

    def next_code(self, session: Session, owner_id: str, doc_type: str, number: str) -> str:
        stem = ".".join(_part(p) for p in (owner_id, doc_type, number or "0"))
        n = next_in_sequence(session, f"dgt:{stem}"[:64], "all")
        if n > 99:
            raise Conflict(f"more than 99 records for {stem}", code="sequence_exhausted")
        return f"{stem}.{n:02d}"


def _part(value: str) -> str:
    """Codes travel in URLs and XML: letters without accents, digits and '-' only."""
    return re.sub(r"[^a-z0-9-]+", "-", fold(value)).strip("-").upper()[:40] or "0"


def publish(
    session: Session,
    *,
    document: Document,
    dossier: Dossier,
    kind: str,
    doc_type: str,
    title: str,
    digitizer_id: str,
    hidden: bool,
    now: datetime,
    valid_until: date | None = None,
    scope: str = "",
    codes: DigitizationCodes | None = None,
) -> RepositoryRecord:
    """Enter a signed document into the repository (once per document)."""
    existing = session.scalar(
        select(RepositoryRecord).where(RepositoryRecord.document_id == document.id)
    )
    if existing is not None:
        return existing
    fields = dict(document.fields or {})
    numbers = fields.get("document_numbers") or []
    dates = fields.get("dates") or []
    number = numbers[0] if numbers else ""
    proc = session.get(Procedure, dossier.procedure_id)
    assert proc is not None
    record = RepositoryRecord(
        seq=next_in_sequence(session, "repository", "all"),
        code=(codes or OwnerTypeNumberCode()).next_code(
            session, dossier.applicant_id_number, doc_type, number
        ),
        owner_id=dossier.applicant_id_number,
        owner_id_type=dossier.applicant_id_type,
        doc_type=doc_type,
        title=title,
        number_symbol=number[:64],
        issue_date=_first_date(dates),
        issuer=str(fields.get("issuing_body") or "")[:255],
        valid_until=valid_until,
        permanent=valid_until is None and kind == "result",
        scope=scope,
        kind=kind,
        digitizer_id=digitizer_id,
        digitized_at=now,
        dossier_id=dossier.id,
        dossier_code=dossier.code or "",
        procedure_code=proc.code,
        field_code=proc.field_code,
        unit_code=dossier.unit_code,
        document_id=document.id,
        fields=fields,
        text="\n".join(document.page_texts or [])[:200_000],
        hidden=hidden,
        updated_at=now,
    )
    session.add(record)
    return record


def touch(session: Session, record: RepositoryRecord, now: datetime, **changes: Any) -> None:
    """Change a record and move it to the end of the change feed."""
    for key, value in changes.items():
        setattr(record, key, value)
    record.seq = next_in_sequence(session, "repository", "all")
    record.updated_at = now


def reveal_results(session: Session, dossier_id: str, now: datetime) -> int:
    """A returned dossier's results become visible to the citizen and the harvesters."""
    rows = list(
        session.scalars(
            select(RepositoryRecord).where(
                RepositoryRecord.dossier_id == dossier_id,
                RepositoryRecord.kind == "result",
                RepositoryRecord.hidden.is_(True),
            )
        )
    )
    for row in rows:
        touch(session, row, now, hidden=False)
    return len(rows)


def on_document(session: Session, scan_id: str, document: Document, now: datetime) -> None:
    """Called by the pipeline in the transaction that creates the document."""
    scan = session.get(Scan, scan_id)
    result = session.scalar(select(Result).where(Result.scan_id == scan_id))
    if result is not None:
        dossier = session.get(Dossier, result.dossier_id)
        assert dossier is not None
        publish(
            session,
            document=document,
            dossier=dossier,
            kind="result",
            doc_type=result.code,
            title=result.name,
            digitizer_id=result.uploaded_by,
            hidden=result.hidden,
            valid_until=result.valid_until,
            scope=result.scope,
            now=now,
        )
        return
    link = session.get(ComponentScan, scan_id)
    if link is None:
        return
    comp = session.get(DossierComponent, link.component_id)
    dossier = session.get(Dossier, link.dossier_id)
    if comp is None or dossier is None or not comp.digitize:
        return
    publish(
        session,
        document=document,
        dossier=dossier,
        kind="component",
        doc_type=comp.key,
        title=comp.name,
        digitizer_id=scan.clerk_id if scan else "",
        hidden=False,
        now=now,
    )


# -- reuse ------------------------------------------------------------------------------------


def reusable(
    session: Session, dossier: Dossier, comp: DossierComponent, today: date
) -> list[RepositoryRecord]:
    """Valid records of the same owner and paper type, newest first."""
    return list(
        session.scalars(
            select(RepositoryRecord)
            .where(
                RepositoryRecord.owner_id == dossier.applicant_id_number,
                RepositoryRecord.doc_type == comp.key,
                RepositoryRecord.hidden.is_(False),
                RepositoryRecord.deleted.is_(False),
                or_(
                    RepositoryRecord.permanent.is_(True),
                    RepositoryRecord.valid_until.is_(None),
                    RepositoryRecord.valid_until >= today,
                ),
                RepositoryRecord.dossier_id != dossier.id,
            )
            .order_by(RepositoryRecord.digitized_at.desc())
        )
    )


def reuse(
    session: Session,
    dossier: Dossier,
    comp: DossierComponent,
    record_id: str,
    *,
    by: str,
    now: datetime,
    replaced_by_code: str | None = None,
) -> ComponentReuse:
    if session.get(ComponentReuse, comp.id) is not None:
        raise Conflict("this component already reuses a record", code="already_reused")
    candidates = {r.id: r for r in reusable(session, dossier, comp, now.date())}
    record = candidates.get(record_id)
    if record is None:
        raise NotFound(
            "no valid record of this owner and paper type to reuse", code="record_not_reusable"
        )
    if replaced_by_code is not None and not replaced_by_code.strip():
        raise InvalidInput("the replacing result code is empty", code="reuse_invalid")
    row = ComponentReuse(
        component_id=comp.id,
        dossier_id=dossier.id,
        record_id=record.id,
        flag=2 if replaced_by_code else 1,
        replaced_by_code=replaced_by_code,
        by=by,
        at=now,
    )
    session.add(row)
    comp.provided = max(comp.provided, comp.count)
    return row


# -- rates ------------------------------------------------------------------------------------


def rates(
    session: Session,
    principal: Principal,
    start: datetime,
    end: datetime,
    unit_code: str | None = None,
) -> dict[str, Any]:
    """Digitization and reuse rates of dossiers received in [start, end), per unit."""
    principal.require("counter", "auditor", "admin")
    scope = unit_filter(principal, Dossier.unit_code)
    if unit_code is not None:
        check_unit(principal, unit_code, session)
        scope = and_(scope, Dossier.unit_code == unit_code)
    received = (
        select(Dossier.id, Dossier.unit_code)
        .where(scope, Dossier.received_at >= start, Dossier.received_at < end)
        .subquery()
    )
    reused = select(ComponentReuse.dossier_id)
    with_file = union(select(RepositoryRecord.dossier_id), reused)
    rows = session.execute(
        select(
            received.c.unit_code,
            func.count(),
            func.count().filter(received.c.id.in_(with_file)),
            func.count().filter(received.c.id.in_(reused)),
        )
        .group_by(received.c.unit_code)
        .order_by(received.c.unit_code)
    ).all()
    units = [_rate_line(u, total, dig, reu) for u, total, dig, reu in rows]
    total = sum(u["received"] for u in units)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "target": TARGET_RATE,
        **_rate_line(
            None, total, sum(u["digitized"] for u in units), sum(u["reused"] for u in units)
        ),
        "units": units,
    }


def _rate_line(unit: str | None, total: int, digitized: int, reused: int) -> dict[str, Any]:
    line: dict[str, Any] = {
        "received": total,
        "digitized": digitized,
        "reused": reused,
        "digitization_rate": digitized / total if total else None,
        "reuse_rate": reused / total if total else None,
    }
    if unit is not None:
        line["unit_code"] = unit
    line["meets_target"] = bool(total) and (digitized / total) >= TARGET_RATE
    return line


def _first_date(values: list[Any]) -> date | None:
    for value in values:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            continue
    return None
