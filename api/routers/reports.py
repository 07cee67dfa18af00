"""Reports and the counter's queue: thin calls into :mod:`dossiers.admin.reports`.

The time is the service clock's, and the targets and staff norms come from settings, so a
report can be re-read against another norm without touching the code.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Caller, Svc
from api.params import Day
from api.problems import ApiProblem
from connect.dvcqg.report import DvcqgSyncReport, sync_rate
from dossiers.admin import reports
from dossiers.admin.reports import (
    DigitizationRates,
    DueSoonLine,
    OnTimeRate,
    OverdueLine,
    ProcedureTime,
    QueueReport,
    UnitStaffing,
)
from dossiers.calendar import local_days, rules_in_force
from dossiers.models import QueueTicket
from storage.db import session_scope

router = APIRouter(tags=["reports"])
UnitQuery = Annotated[str | None, Query(max_length=64)]


class ServeBody(BaseModel):
    dossier_id: str | None = Field(default=None, max_length=48, description="id or code")


# -- answers --------------------------------------------------------------------------------


class OverdueList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(description="The time of the report, ISO 8601 with its UTC offset.")
    items: list[OverdueLine] = Field(description="Earliest due first.")


class DueSoonList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(description="The time of the report, ISO 8601 with its UTC offset.")
    working_days: int = Field(description="Due by the end of this many working days from today.")
    items: list[DueSoonLine] = Field(description="Earliest due first.")


class StaffingReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int
    norms: dict[str, int] = Field(
        description="Dossiers per staff member per year, by area (urban, rural, remote)."
    )
    items: list[UnitStaffing] = Field(description="One-stop units open in the year, by code.")


class ProcessingTimes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date
    items: list[ProcedureTime] = Field(description="By procedure code.")


class Ticket(BaseModel):
    """A queue ticket (số thứ tự) at a unit's counter."""

    model_config = ConfigDict(extra="forbid")

    id: str
    unit_code: str
    day: str = Field(description="The local day it was issued on, YYMMDD.")
    number: int = Field(description="The number called out, from 1 each day.")
    issued_at: str = Field(description="ISO 8601 with its UTC offset.")
    called_at: str | None = Field(description="ISO 8601; null until called.")
    served_at: str | None = Field(description="ISO 8601; null until served.")
    staff_id: str | None = Field(description="Who called it.")
    dossier_id: str | None = Field(description="The dossier the visit opened, if named.")

    @classmethod
    def of(cls, t: QueueTicket) -> Ticket:
        return cls(
            id=t.id,
            unit_code=t.unit_code,
            day=t.day,
            number=t.number,
            issued_at=t.issued_at.isoformat(),
            called_at=t.called_at.isoformat() if t.called_at else None,
            served_at=t.served_at.isoformat() if t.served_at else None,
            staff_id=t.staff_id,
            dossier_id=t.dossier_id,
        )


@router.get("/reports/overdue")
def overdue(who: Caller, svc: Svc, unit_code: UnitQuery = None) -> OverdueList:
    """Open dossiers past their appointment, or counted overdue; most overdue first."""
    now = svc.dossiers.now()
    with session_scope(svc.sessions) as session:
        items = reports.overdue(session, who, now, unit_code)
    return OverdueList(at=now.isoformat(), items=items)


@router.get("/reports/due-soon")
def due_soon(
    who: Caller,
    svc: Svc,
    working_days: int | None = Query(default=None, ge=0, le=30),
    unit_code: UnitQuery = None,
) -> DueSoonList:
    """Open dossiers due by the end of the N-th next working day (settings by default)."""
    now = svc.dossiers.now()
    days = svc.settings.due_soon_working_days if working_days is None else working_days
    with session_scope(svc.sessions) as session:
        calendar = svc.dossiers.calendar(session, rules_in_force(now))
        items = reports.due_soon(session, who, now, calendar, days, unit_code)
    return DueSoonList(at=now.isoformat(), working_days=days, items=items)


@router.get("/reports/on-time")
def on_time(who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None) -> OnTimeRate:
    """The national on-time rate of dossiers whose processing ended on local days start..end."""
    with session_scope(svc.sessions) as session:
        return reports.on_time_rate(session, who, start, end, unit_code)


@router.get("/reports/staffing")
def staffing(
    who: Caller, svc: Svc, year: int | None = Query(default=None, ge=2000, le=2100)
) -> StaffingReport:
    """Dossiers received per one-stop unit against the staff norm of its area (unverified)."""
    s, today = svc.settings, svc.dossiers.today()
    norms = {
        "urban": s.staff_norm_urban,
        "rural": s.staff_norm_rural,
        "remote": s.staff_norm_remote,
    }
    year = year or today.year
    with session_scope(svc.sessions) as session:
        units = reports.staffing(session, who, year, norms, today=today)
    return StaffingReport(year=year, norms=norms, items=units)


@router.get("/reports/processing-time")
def processing_time(
    who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None
) -> ProcessingTimes:
    """Per procedure: wall-clock minutes (mean, median) and working days from reception."""
    with session_scope(svc.sessions) as session:
        calendar = svc.dossiers.calendar(session, rules_in_force(svc.dossiers.now()))
        items = reports.processing_minutes(session, who, start, end, unit_code, calendar=calendar)
    return ProcessingTimes(start=start, end=end, items=items)


@router.post("/queue/{unit_code}/tickets", status_code=201)
def issue_ticket(unit_code: str, who: Caller, svc: Svc) -> Ticket:
    with session_scope(svc.sessions) as session:
        return Ticket.of(reports.issue_ticket(session, who, unit_code, svc.dossiers.now()))


@router.post("/queue/tickets/{ticket_id}/call")
def call_ticket(ticket_id: str, who: Caller, svc: Svc) -> Ticket:
    with session_scope(svc.sessions) as session:
        return Ticket.of(reports.call_ticket(session, who, ticket_id, svc.dossiers.now()))


@router.post("/queue/tickets/{ticket_id}/serve")
def serve_ticket(ticket_id: str, who: Caller, svc: Svc, body: ServeBody | None = None) -> Ticket:
    dossier_id = body.dossier_id if body else None
    with session_scope(svc.sessions) as session:
        ticket = reports.serve_ticket(session, who, ticket_id, svc.dossiers.now(), dossier_id)
        return Ticket.of(ticket)


@router.get("/reports/queue")
def queue(
    who: Caller, svc: Svc, day: Day | None = None, unit_code: UnitQuery = None
) -> QueueReport:
    """Waits from ticket to call at one unit on one local day (today and your unit by default)."""
    who.require(*reports.READERS)
    unit = unit_code or who.unit_code
    if not unit:
        raise ApiProblem(422, "unit_required", "give unit_code: the one-stop unit")
    with session_scope(svc.sessions) as session:
        report = reports.queue_report(
            session,
            who,
            day or svc.dossiers.today(),
            unit,
            target_minutes=svc.settings.queue_wait_target_minutes,
        )
    return report


@router.get("/reports/digitization")
def digitization(
    who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None
) -> DigitizationRates:
    """Digitization and reuse rates of dossiers received from ``start`` to ``end`` (local days,
    inclusive), by the national definitions; the target is 80 %."""
    if end < start:
        raise ApiProblem(422, "range_invalid", "the range ends before it starts")
    with session_scope(svc.sessions) as session:
        return reports.digitization(session, who, start, end, unit_code)


@router.get("/reports/dvcqg-sync")
def dvcqg_sync(
    who: Caller,
    svc: Svc,
    since: Day,
    until: Day,
    unit: UnitQuery = None,
    limit: int = Query(default=200, ge=0, le=1000),
) -> DvcqgSyncReport:
    """Dossiers received on local days ``since`` to ``until`` (inclusive) synced to the
    national portal, per unit, as QĐ 766 counts them; and why each of the others is not."""
    start, end = local_days(since, until)  # range_invalid when it ends before it starts
    with session_scope(svc.sessions) as session:
        return sync_rate(session, who, start, end, unit, limit=limit)
