"""Administration of units and people: staff, tokens, merges, the postal handover plan,
probation, backups and calendar corrections.

These follow the district plan for handing the one-stop counters to the postal service: the
handover goes field by field from a date per unit; a probationer (two months at most) receives
only under a supervising civil servant; a backup covers an absent colleague; a merged unit's
dossiers keep their codes and pass to its successor.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.access import Principal, issue_token, validate_role
from dossiers.admin.catalog import UNIT_CODE
from dossiers.errors import Conflict, Forbidden, InvalidInput, NotFound
from dossiers.models import (
    ApiToken,
    BackupAssignment,
    CalendarOverrideRow,
    PostalAssignment,
    ReceiptSeries,
    Staff,
    Unit,
)
from dossiers.workflow.consent import normalize_email

PROBATION_MAX_DAYS = 62  # "at most two months"
# The same rule as a clerk id in the PKI (file name, token label): it must start with a letter
# or digit, or the certificate is refused after the row exists.
STAFF_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


# -- read models -----------------------------------------------------------------------------


class PostalPlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field_code: str = Field(description="The field (lĩnh vực) handed over.")
    procedure_code: str | None = Field(description="One procedure of the field; null: all of it.")
    postal_from: date | None = Field(
        description="From this day postal staff receive it; null: civil servants keep it."
    )
    note: str


class PostalPlan(BaseModel):
    """A unit's handover plan to the postal service, earliest first."""

    model_config = ConfigDict(extra="forbid")

    unit_code: str
    items: list[PostalPlanItem]


class StaffCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    role: str
    unit_code: str | None
    dev_certificate: bool | None = Field(
        default=None,
        description="Counter clerks only: whether a development-PKI certificate was issued "
        "(false where certificates come from a licensed CA).",
    )


class IssuedToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: str
    token: str = Field(description="The bearer token; shown this once, only its SHA-256 is kept.")


class RevokedTokens(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: str
    revoked: int = Field(description="How many tokens were still valid and are now revoked.")


class ProbationEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["passed", "failed"]
    by: str = Field(description="Staff id of the evaluator.")
    at: str = Field(description="When, ISO 8601 with its UTC offset.")
    note: str


class ProbationOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    active: bool = Field(description="Kept on (passed) or deactivated (failed).")
    evaluation: ProbationEvaluation | None

    @classmethod
    def of(cls, staff: Staff) -> ProbationOutcome:
        evaluation = staff.probation_evaluation
        return cls(
            id=staff.id,
            active=staff.active,
            evaluation=None if evaluation is None else ProbationEvaluation(**evaluation),
        )


class BackupRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    unit_code: str
    staff_id: str

    @classmethod
    def of(cls, row: BackupAssignment) -> BackupRef:
        return cls(id=row.id, unit_code=row.unit_code, staff_id=row.staff_id)


class CalendarOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    working: bool = Field(description="true: a working day (a compensating Saturday); false: off.")
    note: str = Field(description="The announcement the correction follows.")

    @classmethod
    def of(cls, row: CalendarOverrideRow) -> CalendarOverride:
        return cls(day=row.day, working=row.working, note=row.note)


class SeriesRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    unit_code: str
    form_symbol: str = Field(description="Receipt form symbol (ký hiệu mẫu) as registered.")
    series: str = Field(description="Receipt series (ký hiệu) as registered.")

    @classmethod
    def of(cls, row: ReceiptSeries) -> SeriesRef:
        return cls(
            id=row.id, unit_code=row.unit_code, form_symbol=row.form_symbol, series=row.series
        )


# -- changes ---------------------------------------------------------------------------------


def _unit(session: Session, code: str) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound(f"no unit {code}", code="unit_not_found")
    return unit


def create_unit(
    session: Session,
    principal: Principal,
    *,
    code: str,
    name: str,
    kind: str,
    level: str,
    area: str = "urban",
    place: str = "",
    valid_from: date,
) -> Unit:
    principal.require("admin")
    if not UNIT_CODE.match(code):
        raise InvalidInput("a unit code looks like 000.00.16.H08", code="unit_code_invalid")
    if kind not in ("one_stop", "agency") or area not in ("urban", "rural", "remote"):
        raise InvalidInput("kind is one_stop|agency, area urban|rural|remote", code="unit_invalid")
    if session.get(Unit, code) is not None:
        raise Conflict(f"unit {code} exists", code="unit_exists")
    unit = Unit(
        code=code,
        name=name,
        kind=kind,
        level=level,
        area=area,
        place=place,
        province_code=code[-3:],
        valid_from=valid_from,
        postal_contact={},
    )
    session.add(unit)
    return unit


def merge_units(
    session: Session, principal: Principal, *, absorbed: str, into: str, on: date
) -> Unit:
    """Close ``absorbed`` the day before ``on``; its dossiers stay and its successor sees them."""
    principal.require("admin")
    old, new = _unit(session, absorbed), _unit(session, into)
    if old.code == new.code or new.valid_to is not None:
        raise Conflict("merge into a different unit that is still open", code="merge_invalid")
    if old.valid_to is not None:
        raise Conflict(
            f"unit {old.code} was already closed on {old.valid_to}", code="merge_invalid"
        )
    old.valid_to = on - timedelta(days=1)
    old.successor_code = new.code
    return old


def set_postal_contact(
    session: Session, principal: Principal, code: str, contact: dict[str, str]
) -> Unit:
    principal.require("admin")
    unit = _unit(session, code)
    if not contact.get("name"):
        raise InvalidInput("the contact needs at least a name", code="contact_invalid")
    unit.postal_contact = {
        k: str(v)[:255] for k, v in contact.items() if k in ("name", "phone", "email", "enterprise")
    }
    return unit


def create_staff(
    session: Session,
    principal: Principal,
    *,
    staff_id: str,
    name: str,
    role: str,
    unit_code: str | None,
    employer: str = "civil_servant",
    probation_until: date | None = None,
    supervisor_id: str | None = None,
    email: str = "",
    today: date,
) -> Staff:
    """A new account; ``email`` is where deadline alerts for its unit's dossiers go."""
    principal.require("admin")
    validate_role(role)
    email = normalize_email(email)
    if not STAFF_ID.fullmatch(staff_id):
        raise InvalidInput(
            "a staff id starts with a-z or 0-9 and uses a-z, 0-9, '.', '_' or '-'",
            code="staff_id_invalid",
        )
    if session.get(Staff, staff_id) is not None:
        raise Conflict(f"staff {staff_id} exists", code="staff_exists")
    if employer not in ("civil_servant", "postal"):
        raise InvalidInput("employer is civil_servant or postal", code="staff_invalid")
    if role in ("counter", "agency") and not unit_code:
        raise InvalidInput(f"a {role} account belongs to a unit", code="unit_required")
    if unit_code:
        _unit(session, unit_code)
    if probation_until is not None:
        if probation_until > today + timedelta(days=PROBATION_MAX_DAYS):
            raise InvalidInput("probation lasts at most two months", code="probation_too_long")
        supervisor = session.get(Staff, supervisor_id) if supervisor_id else None
        if (
            supervisor is None
            or supervisor.employer != "civil_servant"
            or supervisor.unit_code != unit_code
        ):
            raise InvalidInput(
                "a probationer needs a supervising civil servant of the same unit",
                code="supervisor_required",
            )
    staff = Staff(
        id=staff_id,
        name=name,
        role=role,
        unit_code=unit_code,
        employer=employer,
        probation_until=probation_until,
        supervisor_id=supervisor_id,
        email=email,
        active=True,
    )
    session.add(staff)
    return staff


def new_token(
    session: Session,
    principal: Principal,
    staff_id: str,
    *,
    label: str = "",
    expires_at: datetime | None = None,
) -> str:
    principal.require("admin")
    return issue_token(session, staff_id, label=label, expires_at=expires_at)


class StaffEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    email: str = Field(description="Where deadline alerts go; empty: none.")


def set_email(session: Session, principal: Principal, staff_id: str, email: str) -> StaffEmail:
    """Where a staff member's deadline alerts go (empty: nowhere)."""
    principal.require("admin")
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"no staff {staff_id}", code="staff_not_found")
    staff.email = normalize_email(email)
    return StaffEmail(id=staff.id, email=staff.email)


def revoke_tokens(session: Session, principal: Principal, staff_id: str, *, now: datetime) -> int:
    principal.require("admin")
    rows = list(
        session.scalars(
            select(ApiToken).where(ApiToken.staff_id == staff_id, ApiToken.revoked_at.is_(None))
        )
    )
    for row in rows:
        row.revoked_at = now
    return len(rows)


def evaluate_probation(
    session: Session, principal: Principal, staff_id: str, *, passed: bool, note: str, now: datetime
) -> Staff:
    """End a probation with its recorded evaluation (the supervisor or an admin)."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"no staff {staff_id}", code="staff_not_found")
    if principal.role != "admin" and principal.staff_id != staff.supervisor_id:
        raise Forbidden(
            "only the supervisor or an admin evaluates a probation", code="not_supervisor"
        )
    if staff.probation_until is None:
        raise Conflict(f"{staff_id} is not on probation", code="not_on_probation")
    if not note.strip():
        raise InvalidInput("the evaluation needs a written note", code="note_required")
    staff.probation_evaluation = {
        "result": "passed" if passed else "failed",
        "by": principal.staff_id,
        "at": now.isoformat(),
        "note": note,
    }
    staff.probation_until = None
    staff.active = passed
    return staff


def assign_backup(
    session: Session,
    principal: Principal,
    *,
    unit_code: str,
    staff_id: str,
    covers_staff_id: str | None,
    valid_from: date,
    valid_to: date,
) -> BackupAssignment:
    principal.require("admin")
    _unit(session, unit_code)
    staff = session.get(Staff, staff_id)
    if staff is None or staff.role != "counter":
        raise InvalidInput("a backup is a counter staff member", code="backup_invalid")
    if valid_to < valid_from:
        raise InvalidInput("the assignment ends before it starts", code="dates_invalid")
    row = BackupAssignment(
        unit_code=unit_code,
        staff_id=staff_id,
        covers_staff_id=covers_staff_id,
        valid_from=valid_from,
        valid_to=valid_to,
        created_by=principal.staff_id,
    )
    session.add(row)
    return row


def plan_postal(
    session: Session,
    principal: Principal,
    *,
    unit_code: str,
    field_code: str,
    procedure_code: str | None,
    postal_from: date | None,
    note: str = "",
) -> PostalAssignment:
    """Record from when postal staff take a field (or one procedure); None keeps it with the
    civil servants (e.g. same-day certification)."""
    principal.require("admin")
    _unit(session, unit_code)
    row = session.scalar(
        select(PostalAssignment).where(
            PostalAssignment.unit_code == unit_code,
            PostalAssignment.field_code == field_code,
            PostalAssignment.procedure_code.is_(None)
            if procedure_code is None
            else PostalAssignment.procedure_code == procedure_code,
        )
    )
    if row is None:
        row = PostalAssignment(
            unit_code=unit_code, field_code=field_code, procedure_code=procedure_code
        )
        session.add(row)
    row.postal_from, row.note = postal_from, note
    return row


def postal_plan(session: Session, unit_code: str) -> PostalPlan:
    rows = session.scalars(
        select(PostalAssignment)
        .where(PostalAssignment.unit_code == unit_code)
        .order_by(PostalAssignment.postal_from)
    )
    items = [
        PostalPlanItem(
            field_code=r.field_code,
            procedure_code=r.procedure_code,
            postal_from=r.postal_from,
            note=r.note,
        )
        for r in rows
    ]
    return PostalPlan(unit_code=unit_code, items=items)


def set_calendar_override(
    session: Session, principal: Principal, *, day: date, working: bool, note: str
) -> CalendarOverrideRow:
    principal.require("admin")
    if not note.strip():
        raise InvalidInput("say which announcement this follows", code="note_required")
    row = session.get(CalendarOverrideRow, day)
    if row is None:
        row = CalendarOverrideRow(day=day)
        session.add(row)
    row.working, row.note, row.created_by = working, note, principal.staff_id
    return row


def register_series(
    session: Session,
    principal: Principal,
    *,
    unit_code: str,
    form_symbol: str,
    series: str,
    collector_name: str,
    collector_tax_code: str = "",
    collector_address: str = "",
    issuer_tax_code: str = "",
    mandate: str = "",
    valid_from: date,
    valid_to: date | None = None,
) -> ReceiptSeries:
    """A receipt series as registered with the tax authority (form 01/ĐKTĐ-CTĐT)."""
    principal.require("admin")
    _unit(session, unit_code)
    if session.scalar(
        select(ReceiptSeries.id).where(
            ReceiptSeries.form_symbol == form_symbol, ReceiptSeries.series == series
        )
    ):
        raise Conflict(f"series {form_symbol} {series} exists", code="series_exists")
    row = ReceiptSeries(
        unit_code=unit_code,
        form_symbol=form_symbol,
        series=series,
        collector_name=collector_name,
        collector_tax_code=collector_tax_code,
        collector_address=collector_address,
        issuer_tax_code=issuer_tax_code,
        mandate=mandate,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    session.add(row)
    return row
