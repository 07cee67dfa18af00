"""Reports for the counter and its supervisors, and the queue tickets whose waits they measure.

Every function takes the session, the caller and explicit dates or times (never a clock), so a
report for a past day gives the same answer tomorrow. Rows are scoped by their unit column
through :func:`dossiers.access.unit_filter`: a counter sees its units, an auditor its province,
an admin everything; a harvester may not read reports at all.

The on-time rule is the national one (QĐ 766 formula, domain notes §2.4). The 15-minute wait
target and the dossiers-per-staff norms are unverified figures attributed to QĐ 468 (§4.1), so
callers pass them from settings.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from dossiers.access import Principal, check_unit, dossier_filter, unit_filter
from dossiers.calendar import VN_TZ, WorkingCalendar, local_days, paused_seconds
from dossiers.errors import Conflict, InvalidInput, NotFound
from dossiers.models import Dossier, QueueTicket, Staff, SupplementRequest, Unit
from dossiers.records.repository import rates
from dossiers.workflow.codes import next_in_sequence
from dossiers.workflow.lifecycle import OPEN, Status

READERS = ("counter", "agency", "auditor", "admin")
DESK = ("counter", "admin")
# Processing ends at the first of: processed, returned, stopped or refused (QĐ 766).
ENDED = frozenset({Status.PROCESSED, Status.RETURNED, Status.STOPPED, Status.REFUSED})
RESOLVED = frozenset({Status.PROCESSED, Status.RETURNED})
# While the citizen holds the papers the clock stands still; the deadline restarts afterwards.
TICKING = OPEN - {Status.SUPPLEMENT}


# -- result types ---------------------------------------------------------------------------


class DossierLine(BaseModel):
    """An open dossier in a deadline list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    code: str | None
    procedure_code: str
    applicant_name: str
    unit_code: str = Field(description="The one-stop unit that received it.")
    holder_code: str | None = Field(description="The unit holding it now.")
    status: int = Field(description="National status code (4 processing, 5 supplement, …).")
    due_at: datetime | None = Field(description="The appointment for the result.")
    counted_overdue: bool = Field(
        description="Counted late whatever the date: a second supplement request was made."
    )


class OverdueLine(DossierLine):
    overdue_by: int = Field(
        description="Seconds past due_at; 0 for one counted overdue before its deadline."
    )


class DueSoonLine(DossierLine):
    remaining: int = Field(description="Seconds left until due_at.")


class OnTimeCount(BaseModel):
    """Dossiers whose processing ended in the report's days, and how many on time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str | None = Field(description="The one-stop unit; null: all units of the report.")
    total: int
    on_time: int
    late: int
    rate: float | None = Field(description="on_time / total; null when nothing ended.")

    @classmethod
    def of(cls, unit_code: str | None, total: int, on_time: int) -> OnTimeCount:
        return cls(
            unit_code=unit_code,
            total=total,
            on_time=on_time,
            late=total - on_time,
            rate=on_time / total if total else None,
        )

    def as_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class OnTimeRate(BaseModel):
    """The national on-time rate (QĐ 766) over local days start..end, and per unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date
    total: int
    on_time: int
    late: int
    rate: float | None = Field(description="on_time / total; null when nothing ended.")
    units: list[OnTimeCount] = Field(description="Units with a dossier that ended, by code.")

    @classmethod
    def of(cls, start: date, end: date, units: list[OnTimeCount]) -> OnTimeRate:
        """The report over ``units``, with their sums as the overall figures."""
        overall = OnTimeCount.of(None, sum(u.total for u in units), sum(u.on_time for u in units))
        return cls(
            start=start,
            end=end,
            total=overall.total,
            on_time=overall.on_time,
            late=overall.late,
            rate=overall.rate,
            units=units,
        )

    @property
    def overall(self) -> OnTimeCount:
        """All units of the report together."""
        return OnTimeCount.of(None, self.total, self.on_time)

    def as_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class UnitStaffing(BaseModel):
    """One one-stop unit's year against the staff norm of its area (unverified, QĐ 468)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str
    name: str
    area: str = Field(description="urban, rural or remote.")
    norm: int = Field(description="Dossiers per staff member per year for the area.")
    received: int = Field(description="Dossiers received in the year (local days).")
    staff: int = Field(description="Active counter accounts of the unit.")
    dossiers_per_staff: float | None = Field(description="received / staff; null: no staff.")
    staff_implied: int = Field(description="ceil(received / norm).")
    received_annualized: float | None = Field(
        description="The current year only (else null): received scaled to a whole year."
    )
    staff_implied_annualized: int | None = Field(
        description="The current year only (else null): ceil(received_annualized / norm)."
    )


class ProcedureTime(BaseModel):
    """Time from reception to result for one procedure's dossiers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    procedure_code: str
    count: int
    mean_minutes: float = Field(description="Wall-clock minutes, nights and waits included.")
    median_minutes: float = Field(description="Wall-clock minutes.")
    mean_working_days: float = Field(
        description="Working days after the day of reception up to the day of the result."
    )


class QueueReport(BaseModel):
    """Waits from ticket to call at one unit on one local day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str
    day: date = Field(description="The local day (Asia/Ho_Chi_Minh).")
    issued: int
    called: int
    served: int
    waiting: int = Field(description="Issued but never called.")
    average_wait_minutes: float | None = Field(description="Null when nobody was called.")
    p90_wait_minutes: float | None = Field(
        description="Nearest rank: the wait 90 % of called tickets did not exceed."
    )
    within_target_share: float | None = Field(
        description="Share of called tickets that waited no longer than the target (0 to 1)."
    )
    target_minutes: int


class UnitRates(BaseModel):
    """One unit's dossiers received in the range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    received: int
    digitized: int = Field(description="Received dossiers with a digitized or reused paper.")
    reused: int = Field(description="Received dossiers that reused a paper from the repository.")
    digitization_rate: float | None = Field(description="digitized / received; null: none.")
    reuse_rate: float | None = Field(description="reused / received; null: none.")
    unit_code: str
    meets_target: bool = Field(description="The digitization rate reaches the target.")


class DigitizationRates(BaseModel):
    """Digitization and reuse rates by the national definitions (target 80 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(description="Start of the first day, ISO 8601 in local time.")
    end: str = Field(description="End of the last day (exclusive), ISO 8601 in local time.")
    target: float = Field(description="The national target digitization rate (0 to 1).")
    received: int
    digitized: int = Field(description="Received dossiers with a digitized or reused paper.")
    reused: int = Field(description="Received dossiers that reused a paper from the repository.")
    digitization_rate: float | None = Field(description="digitized / received; null: none.")
    reuse_rate: float | None = Field(description="reused / received; null: none.")
    meets_target: bool = Field(description="The digitization rate reaches the target.")
    units: list[UnitRates] = Field(description="By unit code.")


# -- helpers --------------------------------------------------------------------------------


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return at


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=VN_TZ)


def _scope(
    session: Session, principal: Principal, column: ColumnElement[str], unit_code: str | None
) -> ColumnElement[bool]:
    """The caller's units; narrowed to ``unit_code``, which must be one of them (else 404)."""
    principal.require(*READERS)
    clause = unit_filter(principal, column)
    if unit_code is not None:
        check_unit(principal, unit_code, session)
        clause = and_(clause, column == unit_code)
    return clause


def _list_column(principal: Principal) -> ColumnElement[str]:
    """An agency's lists are the dossiers it holds now; everyone else's, their units'."""
    return Dossier.holder_code if principal.role == "agency" else Dossier.unit_code


def _line(d: Dossier) -> dict[str, Any]:
    return {
        "id": d.id,
        "code": d.code,
        "procedure_code": d.procedure_code,
        "applicant_name": d.applicant_name,
        "unit_code": d.unit_code,
        "holder_code": d.holder_code,
        "status": d.status,
        "due_at": d.due_at,
        "counted_overdue": d.counted_overdue,
    }


# -- deadlines ------------------------------------------------------------------------------


def overdue(
    session: Session, principal: Principal, now: datetime, unit_code: str | None = None
) -> list[OverdueLine]:
    """Open dossiers past their due time, or counted overdue (a second supplement request).

    A dossier waiting for the citizen's supplement (status 5) is left out on time alone: its
    clock is stopped and its deadline restarts when the papers arrive.
    """
    _aware(now, "now")
    stmt = (
        select(Dossier)
        .where(
            _scope(session, principal, _list_column(principal), unit_code),
            Dossier.status.in_(OPEN),
            or_(
                and_(Dossier.status.in_(TICKING), Dossier.due_at < now),
                Dossier.counted_overdue.is_(True),
            ),
        )
        .order_by(Dossier.due_at, Dossier.id)
    )
    return [
        OverdueLine(
            **_line(d),
            overdue_by=max(0, int((now - d.due_at).total_seconds())) if d.due_at else 0,
        )
        for d in session.scalars(stmt)
    ]


def due_soon(
    session: Session,
    principal: Principal,
    now: datetime,
    calendar: WorkingCalendar,
    working_days: int,
    unit_code: str | None = None,
) -> list[DueSoonLine]:
    """Open dossiers not yet overdue but due before the end of the ``working_days``-th next
    working day (0: today, or the next working day when today is off), so the counter can
    chase them while there is still time. A dossier waiting for the citizen is left out."""
    _aware(now, "now")
    if working_days < 0:
        raise InvalidInput("working_days must be 0 or more", code="working_days_invalid")
    last = calendar.add_working_days(now.astimezone(VN_TZ).date(), working_days)
    horizon = _day_start(last + timedelta(days=1))
    stmt = (
        select(Dossier)
        .where(
            _scope(session, principal, _list_column(principal), unit_code),
            Dossier.status.in_(TICKING),
            Dossier.counted_overdue.is_(False),
            Dossier.due_at >= now,
            Dossier.due_at < horizon,
        )
        .order_by(Dossier.due_at, Dossier.id)
    )
    return [
        DueSoonLine(
            **_line(d),
            remaining=int((d.due_at - now).total_seconds()) if d.due_at else 0,
        )
        for d in session.scalars(stmt)
    ]


# -- KPIs -----------------------------------------------------------------------------------


def on_time_rate(
    session: Session, principal: Principal, start: date, end: date, unit_code: str | None = None
) -> OnTimeRate:
    """The national on-time rate of dossiers whose processing ended on local days start..end.

    On time ⇔ not counted overdue (more than one supplement request) and ``finished_at`` minus
    the citizen's supplement time at the agency stage is no later than ``original_due_at``.
    Withdrawn dossiers, and those refused before reception (no promised date), are left out.
    """
    lo, hi = local_days(start, end)
    where = (
        _scope(session, principal, Dossier.unit_code, unit_code),
        Dossier.status.in_(ENDED),
        Dossier.finished_at >= lo,
        Dossier.finished_at < hi,
        Dossier.original_due_at.is_not(None),
    )
    rows = session.execute(
        select(
            Dossier.id,
            Dossier.unit_code,
            Dossier.finished_at,
            Dossier.original_due_at,
            Dossier.counted_overdue,
        ).where(*where)
    ).all()
    pauses: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for dossier_id, requested_at, fulfilled_at in session.execute(
        select(
            SupplementRequest.dossier_id,
            SupplementRequest.requested_at,
            SupplementRequest.fulfilled_at,
        ).where(
            SupplementRequest.stage == "agency",
            SupplementRequest.dossier_id.in_(select(Dossier.id).where(*where)),
        )
    ):
        pauses[dossier_id].append((requested_at, fulfilled_at))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # unit -> [total, on time]
    for dossier_id, unit, finished_at, due, counted_overdue in rows:
        paused = paused_seconds(pauses.get(dossier_id, ()), until=finished_at)
        on_time = not counted_overdue and finished_at - timedelta(seconds=paused) <= due
        counts[unit][0] += 1
        counts[unit][1] += on_time
    units = [OnTimeCount.of(unit, total, ok) for unit, (total, ok) in sorted(counts.items())]
    return OnTimeRate.of(start, end, units)


def staffing(
    session: Session, principal: Principal, year: int, norms: dict[str, int], *, today: date
) -> list[UnitStaffing]:
    """Dossiers received per one-stop unit in ``year`` against the staff norm of its area.

    For the current year (that of ``today``) the count is also annualized, received × days in
    the year / days elapsed including today, so a November figure can be read against the norm.
    """
    lo, hi = local_days(date(year, 1, 1), date(year, 12, 31))
    units = list(
        session.scalars(
            select(Unit)
            .where(
                _scope(session, principal, Unit.code, None),
                Unit.kind == "one_stop",
                Unit.valid_from <= date(year, 12, 31),
                or_(Unit.valid_to.is_(None), Unit.valid_to >= date(year, 1, 1)),
            )
            .order_by(Unit.code)
        )
    )
    received = dict(
        session.execute(
            select(Dossier.unit_code, func.count())
            .where(
                unit_filter(principal, Dossier.unit_code),
                Dossier.received_at >= lo,
                Dossier.received_at < hi,
            )
            .group_by(Dossier.unit_code)
        ).all()
    )
    staff = dict(
        session.execute(
            select(Staff.unit_code, func.count())
            .where(
                unit_filter(principal, Staff.unit_code),
                Staff.role == "counter",
                Staff.active.is_(True),
            )
            .group_by(Staff.unit_code)
        ).all()
    )
    current = year == today.year
    elapsed = (today - date(year, 1, 1)).days + 1
    year_days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    out = []
    for unit in units:
        norm = norms.get(unit.area)
        if not norm or norm <= 0:
            raise InvalidInput(f"no staff norm for area {unit.area!r}", code="norm_missing")
        n, people = int(received.get(unit.code, 0)), int(staff.get(unit.code, 0))
        out.append(
            UnitStaffing(
                unit_code=unit.code,
                name=unit.name,
                area=unit.area,
                norm=norm,
                received=n,
                staff=people,
                dossiers_per_staff=n / people if people else None,
                staff_implied=-(-n // norm),
                received_annualized=n * year_days / elapsed if current else None,
                # Integer ceiling: float error must not turn an exact 2 people into 3.
                staff_implied_annualized=-(-n * year_days // (elapsed * norm)) if current else None,
            )
        )
    return out


def processing_minutes(
    session: Session,
    principal: Principal,
    start: date,
    end: date,
    unit_code: str | None = None,
    *,
    calendar: WorkingCalendar,
) -> list[ProcedureTime]:
    """Time from reception to result, per procedure, for dossiers resolved on start..end.

    Minutes are wall-clock (nights, weekends and supplement waits included), the figure a
    citizen lives through; working days count those after the day of reception up to and
    including the day the result was ready (0 for a same-day result). Only resolved dossiers
    (status 9 or 10) count: a stopped one says nothing about how long a decision takes.
    """
    lo, hi = local_days(start, end)
    rows = session.execute(
        select(Dossier.procedure_code, Dossier.received_at, Dossier.finished_at)
        .where(
            _scope(session, principal, Dossier.unit_code, unit_code),
            Dossier.status.in_(RESOLVED),
            Dossier.received_at.is_not(None),
            Dossier.finished_at >= lo,
            Dossier.finished_at < hi,
        )
        .order_by(Dossier.procedure_code)
    ).all()
    minutes: dict[str, list[float]] = defaultdict(list)
    days: dict[str, list[int]] = defaultdict(list)
    for code, received_at, finished_at in rows:
        minutes[code].append((finished_at - received_at).total_seconds() / 60)
        days[code].append(
            calendar.working_days_between(
                received_at.astimezone(VN_TZ).date(), finished_at.astimezone(VN_TZ).date()
            )
        )
    return [
        ProcedureTime(
            procedure_code=code,
            count=len(values),
            mean_minutes=statistics.fmean(values),
            median_minutes=statistics.median(values),
            mean_working_days=statistics.fmean(days[code]),
        )
        for code, values in minutes.items()
    ]


def digitization(
    session: Session, principal: Principal, start: date, end: date, unit_code: str | None = None
) -> DigitizationRates:
    """Digitization and reuse rates of dossiers received on local days start..end."""
    found = rates(
        session, principal, _day_start(start), _day_start(end + timedelta(days=1)), unit_code
    )
    return DigitizationRates.model_validate(found)


# -- queue tickets --------------------------------------------------------------------------


def _desk(principal: Principal, unit_code: str) -> None:
    """Only the unit's counter (or an admin) works its queue; others learn nothing of it."""
    principal.require(*DESK)
    if principal.role == "counter" and unit_code not in principal.units:
        raise NotFound(f"no unit {unit_code}", code="unit_not_found")


def _ticket(session: Session, principal: Principal, ticket_id: str) -> QueueTicket:
    principal.require(*DESK)
    ticket = session.get(QueueTicket, ticket_id, with_for_update=True)
    if ticket is None or (principal.role == "counter" and ticket.unit_code not in principal.units):
        raise NotFound(f"no ticket {ticket_id}", code="ticket_not_found")
    return ticket


def issue_ticket(
    session: Session, principal: Principal, unit_code: str, now: datetime
) -> QueueTicket:
    """The next number of the unit's local day; a rolled-back issue gives its number back."""
    _aware(now, "now")
    _desk(principal, unit_code)
    unit = session.get(Unit, unit_code)
    if unit is None or unit.kind != "one_stop":
        raise NotFound(f"no one-stop unit {unit_code}", code="unit_not_found")
    local_day = now.astimezone(VN_TZ).date()
    if unit.valid_to is not None and unit.valid_to < local_day:
        raise Conflict(
            f"unit {unit_code} was merged into {unit.successor_code}",
            code="unit_closed",
            successor=unit.successor_code,
        )
    day = local_day.strftime("%y%m%d")
    ticket = QueueTicket(
        unit_code=unit_code,
        day=day,
        number=next_in_sequence(session, f"ticket:{unit_code}", day),
        issued_at=now,
    )
    session.add(ticket)
    session.flush()
    return ticket


def call_ticket(
    session: Session, principal: Principal, ticket_id: str, now: datetime
) -> QueueTicket:
    """Issued → called, by the caller's desk; the wait the queue report measures ends here."""
    _aware(now, "now")
    ticket = _ticket(session, principal, ticket_id)
    if ticket.called_at is not None:
        raise Conflict(f"ticket {ticket.number} was already called", code="illegal_transition")
    ticket.called_at, ticket.staff_id = now, principal.staff_id
    return ticket


def serve_ticket(
    session: Session,
    principal: Principal,
    ticket_id: str,
    now: datetime,
    dossier_id: str | None = None,
) -> QueueTicket:
    """Called → served, optionally naming the dossier (id or code) the visit opened."""
    _aware(now, "now")
    ticket = _ticket(session, principal, ticket_id)
    if ticket.called_at is None or ticket.served_at is not None:
        state = "not yet called" if ticket.called_at is None else "already served"
        raise Conflict(f"ticket {ticket.number} is {state}", code="illegal_transition")
    if dossier_id is not None:
        column = Dossier.code if "-" in dossier_id else Dossier.id
        found = session.scalar(
            select(Dossier.id).where(column == dossier_id, dossier_filter(principal))
        )
        if found is None:
            raise NotFound(f"no dossier {dossier_id}", code="dossier_not_found")
        ticket.dossier_id = found
    ticket.served_at = now
    ticket.staff_id = ticket.staff_id or principal.staff_id
    return ticket


def queue_report(
    session: Session, principal: Principal, day: date, unit_code: str, *, target_minutes: int = 15
) -> QueueReport:
    """Waits (issued → called) at a unit on a local day against the target.

    p90 is the nearest-rank percentile: the wait that 90 % of called tickets did not exceed.
    """
    principal.require(*READERS)
    check_unit(principal, unit_code, session)
    tickets = list(
        session.scalars(
            select(QueueTicket).where(
                QueueTicket.unit_code == unit_code, QueueTicket.day == day.strftime("%y%m%d")
            )
        )
    )
    waits = sorted((t.called_at - t.issued_at).total_seconds() / 60 for t in tickets if t.called_at)
    n = len(waits)
    return QueueReport(
        unit_code=unit_code,
        day=day,
        issued=len(tickets),
        called=n,
        served=sum(t.served_at is not None for t in tickets),
        waiting=len(tickets) - n,
        average_wait_minutes=statistics.fmean(waits) if n else None,
        p90_wait_minutes=waits[math.ceil(0.9 * n) - 1] if n else None,
        within_target_share=sum(w <= target_minutes for w in waits) / n if n else None,
        target_minutes=target_minutes,
    )
