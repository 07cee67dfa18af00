"""Reports and the counter's queue: thin calls into :mod:`dossiers.reports`.

The time is the service clock's, and the targets and staff norms come from settings, so a
report can be re-read against another norm without touching the code.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Caller, Svc
from api.params import Day
from api.problems import ApiProblem
from dossiers import reports
from dossiers.calendar import rules_in_force
from dossiers.models import QueueTicket
from storage.db import session_scope

router = APIRouter(tags=["reports"])
UnitQuery = Annotated[str | None, Query(max_length=64)]


class ServeBody(BaseModel):
    dossier_id: str | None = Field(default=None, max_length=48, description="id or code")


def ticket_body(t: QueueTicket) -> dict[str, Any]:
    return {
        "id": t.id,
        "unit_code": t.unit_code,
        "day": t.day,
        "number": t.number,
        "issued_at": t.issued_at.isoformat(),
        "called_at": t.called_at.isoformat() if t.called_at else None,
        "served_at": t.served_at.isoformat() if t.served_at else None,
        "staff_id": t.staff_id,
        "dossier_id": t.dossier_id,
    }


@router.get("/reports/overdue")
def overdue(who: Caller, svc: Svc, unit_code: UnitQuery = None) -> dict[str, Any]:
    """Open dossiers past their appointment, or counted overdue; most overdue first."""
    now = svc.dossiers.now()
    with session_scope(svc.sessions) as session:
        items = reports.overdue(session, who, now, unit_code)
    return {"at": now.isoformat(), "items": [asdict(i) for i in items]}


@router.get("/reports/due-soon")
def due_soon(
    who: Caller,
    svc: Svc,
    working_days: int | None = Query(default=None, ge=0, le=30),
    unit_code: UnitQuery = None,
) -> dict[str, Any]:
    """Open dossiers due by the end of the N-th next working day (settings by default)."""
    now = svc.dossiers.now()
    days = svc.settings.due_soon_working_days if working_days is None else working_days
    with session_scope(svc.sessions) as session:
        calendar = svc.dossiers.calendar(session, rules_in_force(now))
        items = reports.due_soon(session, who, now, calendar, days, unit_code)
    return {"at": now.isoformat(), "working_days": days, "items": [asdict(i) for i in items]}


@router.get("/reports/on-time")
def on_time(
    who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None
) -> dict[str, Any]:
    """The national on-time rate of dossiers whose processing ended on local days start..end."""
    with session_scope(svc.sessions) as session:
        return reports.on_time_rate(session, who, start, end, unit_code).as_dict()


@router.get("/reports/staffing")
def staffing(
    who: Caller, svc: Svc, year: int | None = Query(default=None, ge=2000, le=2100)
) -> dict[str, Any]:
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
    return {"year": year, "norms": norms, "items": [asdict(u) for u in units]}


@router.get("/reports/processing-time")
def processing_time(
    who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None
) -> dict[str, Any]:
    """Per procedure: wall-clock minutes (mean, median) and working days from reception."""
    with session_scope(svc.sessions) as session:
        calendar = svc.dossiers.calendar(session, rules_in_force(svc.dossiers.now()))
        items = reports.processing_minutes(session, who, start, end, unit_code, calendar=calendar)
    return {"start": start, "end": end, "items": [asdict(i) for i in items]}


@router.post("/queue/{unit_code}/tickets", status_code=201)
def issue_ticket(unit_code: str, who: Caller, svc: Svc) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        return ticket_body(reports.issue_ticket(session, who, unit_code, svc.dossiers.now()))


@router.post("/queue/tickets/{ticket_id}/call")
def call_ticket(ticket_id: str, who: Caller, svc: Svc) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        return ticket_body(reports.call_ticket(session, who, ticket_id, svc.dossiers.now()))


@router.post("/queue/tickets/{ticket_id}/serve")
def serve_ticket(
    ticket_id: str, who: Caller, svc: Svc, body: ServeBody | None = None
) -> dict[str, Any]:
    dossier_id = body.dossier_id if body else None
    with session_scope(svc.sessions) as session:
        ticket = reports.serve_ticket(session, who, ticket_id, svc.dossiers.now(), dossier_id)
        return ticket_body(ticket)


@router.get("/reports/queue")
def queue(
    who: Caller, svc: Svc, day: Day | None = None, unit_code: UnitQuery = None
) -> dict[str, Any]:
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
    return asdict(report)


@router.get("/reports/digitization")
def digitization(
    who: Caller, svc: Svc, start: Day, end: Day, unit_code: UnitQuery = None
) -> dict[str, Any]:
    """Digitization and reuse rates of dossiers received from ``start`` to ``end`` (local days,
    inclusive), by the national definitions; the target is 80 %."""
    from datetime import datetime, time, timedelta

    from dossiers.calendar import VN_TZ
    from dossiers.repository import rates

    if end < start:
        raise ApiProblem(422, "range_invalid", "the range ends before it starts")
    with session_scope(svc.sessions) as session:
        return rates(
            session,
            who,
            datetime.combine(start, time(), tzinfo=VN_TZ),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=VN_TZ),
            unit_code,
        )
