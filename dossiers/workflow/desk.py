"""The reception desk's reads: a unit's queue as the counter sees it this morning, the next
ticket to call, and the dossier lists a clerk works from.

The queue's moves stay in :mod:`dossiers.admin.reports` (issue, call, serve); this module only
adds what a desk needs on top of them: who is waiting, who is being served, and "call the next
one" without the clerk picking an id. The lists are built in a fixed number of statements
(joined names, no per-row lookup), scoped by :func:`dossiers.access.dossier_filter` like every
other dossier read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dossiers.access import Principal, check_unit, dossier_filter
from dossiers.admin import reports
from dossiers.calendar import VN_TZ
from dossiers.errors import Conflict, InvalidInput
from dossiers.models import Dossier, Procedure, QueueTicket, Staff, Unit

PAGE_SIZE = 50
# A colleague may call the same ticket in the same instant; the loser takes the next one.
CALL_ATTEMPTS = 5


class DeskModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the queue --------------------------------------------------------------------------------


class TicketLine(DeskModel):
    """A ticket of today that is still the desk's business: waiting, or being served."""

    id: str
    number: int
    issued_at: datetime
    called_at: datetime | None
    staff_id: str | None = Field(description="Who called it.")
    staff_name: str | None
    wait_minutes: int = Field(description="From issue to call, or to now while it waits.")


class QueueBoard(DeskModel):
    unit_code: str
    day: date = Field(description="The local day the board shows.")
    waiting: list[TicketLine] = Field(description="Not yet called, lowest number first.")
    serving: list[TicketLine] = Field(description="Called, not yet served, in call order.")
    served: int = Field(description="Tickets of the day already served.")


def _day_key(now: datetime) -> str:
    return now.astimezone(VN_TZ).strftime("%y%m%d")


def _open_desk(session: Session, principal: Principal, unit_code: str) -> None:
    """Only the unit's counter (or an admin) sees its queue; another unit's is a 404."""
    principal.require(*reports.DESK)
    check_unit(principal, unit_code, session)


def queue_board(
    session: Session, principal: Principal, unit_code: str, now: datetime
) -> QueueBoard:
    """Today's tickets at ``unit_code`` that are not served yet, and how many were served."""
    _open_desk(session, principal, unit_code)
    day = _day_key(now)
    mine = (QueueTicket.unit_code == unit_code, QueueTicket.day == day)
    rows = session.execute(
        select(QueueTicket, Staff.name)
        .outerjoin(Staff, Staff.id == QueueTicket.staff_id)
        .where(*mine, QueueTicket.served_at.is_(None))
        .order_by(QueueTicket.number)
    ).all()
    served = session.scalar(
        select(func.count())
        .select_from(QueueTicket)
        .where(*mine, QueueTicket.served_at.is_not(None))
    )
    waiting: list[TicketLine] = []
    serving: list[TicketLine] = []
    for ticket, staff_name in rows:
        until = ticket.called_at or now
        line = TicketLine(
            id=ticket.id,
            number=ticket.number,
            issued_at=ticket.issued_at,
            called_at=ticket.called_at,
            staff_id=ticket.staff_id,
            staff_name=staff_name,
            wait_minutes=max(0, int((until - ticket.issued_at).total_seconds() // 60)),
        )
        (serving if ticket.called_at else waiting).append(line)
    serving.sort(key=lambda t: (t.called_at or now, t.number))
    return QueueBoard(
        unit_code=unit_code,
        day=now.astimezone(VN_TZ).date(),
        waiting=waiting,
        serving=serving,
        served=int(served or 0),
    )


def call_next(
    session: Session, principal: Principal, unit_code: str, now: datetime
) -> QueueTicket | None:
    """Call the lowest waiting number of today at ``unit_code``; None when nobody waits."""
    _open_desk(session, principal, unit_code)
    day = _day_key(now)
    for _ in range(CALL_ATTEMPTS):
        ticket_id = session.scalar(
            select(QueueTicket.id)
            .where(
                QueueTicket.unit_code == unit_code,
                QueueTicket.day == day,
                QueueTicket.called_at.is_(None),
            )
            .order_by(QueueTicket.number)
            .limit(1)
        )
        if ticket_id is None:
            return None
        try:
            return reports.call_ticket(session, principal, ticket_id, now)
        except Conflict:
            continue  # called by a colleague meanwhile: the next one is ours
    return None


# -- dossier lists ----------------------------------------------------------------------------


class DeskLine(DeskModel):
    """A dossier as a desk list shows it, with the names a clerk reads instead of codes."""

    id: str
    code: str | None
    applicant_name: str
    procedure_code: str
    procedure_name: str
    status: int
    due_at: datetime | None
    overdue: bool = Field(description="Late by the deadline lists' rule (see is_overdue).")
    holder_code: str | None
    holder_name: str | None
    created_at: datetime


class DeskPage(DeskModel):
    items: list[DeskLine]
    page: int = Field(description="1-based.")
    pages: int
    total: int


def is_overdue(status: int, due_at: datetime | None, counted_overdue: bool, now: datetime) -> bool:
    """The overdue list's rule (:func:`dossiers.admin.reports.overdue`) for one dossier: open,
    and past due while its clock runs, or counted late by a second supplement request."""
    if status not in reports.OPEN:
        return False
    return counted_overdue or (status in reports.TICKING and due_at is not None and due_at < now)


def _lines(principal: Principal) -> Select[tuple[Dossier, str, str | None]]:
    return (
        select(Dossier, Procedure.name, Unit.name)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(Unit, Unit.code == Dossier.holder_code)
        .where(dossier_filter(principal))
    )


def _line(d: Dossier, procedure_name: str, holder_name: str | None, now: datetime) -> DeskLine:
    return DeskLine(
        id=d.id,
        code=d.code,
        applicant_name=d.applicant_name,
        procedure_code=d.procedure_code,
        procedure_name=procedure_name,
        status=d.status,
        due_at=d.due_at,
        overdue=is_overdue(d.status, d.due_at, d.counted_overdue, now),
        holder_code=d.holder_code,
        holder_name=holder_name,
        created_at=d.created_at,
    )


def dossier_page(
    session: Session,
    principal: Principal,
    now: datetime,
    *,
    status: int | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> DeskPage:
    """The caller's dossiers, newest first, one page of ``size``: two statements whatever the
    page (the count, then the rows with their procedure and holder names joined)."""
    if page < 1 or not 1 <= size <= 500:
        raise InvalidInput("page must be 1 or more and size 1..500")
    where = [dossier_filter(principal)]
    if status is not None:
        where.append(Dossier.status == status)
    total = int(session.scalar(select(func.count()).select_from(Dossier).where(*where)) or 0)
    pages = max(1, -(-total // size))
    stmt = _lines(principal)
    if status is not None:
        stmt = stmt.where(Dossier.status == status)
    rows = session.execute(
        stmt.order_by(Dossier.created_at.desc(), Dossier.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return DeskPage(
        items=[_line(d, p, h, now) for d, p, h in rows], page=page, pages=pages, total=total
    )


def dossier_lines(
    session: Session, principal: Principal, ids: Sequence[str], now: datetime
) -> list[DeskLine]:
    """The dossiers ``ids`` (e.g. search hits) the caller may read, in the order given."""
    if not ids:
        return []
    rows = session.execute(_lines(principal).where(Dossier.id.in_(set(ids)))).all()
    found = {d.id: _line(d, p, h, now) for d, p, h in rows}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def status_counts(session: Session, principal: Principal) -> dict[int, int]:
    """How many of the caller's dossiers are in each status (absent: none)."""
    rows = session.execute(
        select(Dossier.status, func.count())
        .where(dossier_filter(principal))
        .group_by(Dossier.status)
    ).all()
    return {int(s): int(n) for s, n in rows}


def unit_names(session: Session, codes: Iterable[str | None]) -> dict[str, str]:
    """Unit code -> name for the codes given (the catalog's units are public to staff)."""
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    return dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(wanted))).all())


def procedure_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Procedure code -> the name of its latest version, for lists that carry only codes."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.execute(
        select(Procedure.code, Procedure.name)
        .where(Procedure.code.in_(wanted))
        .order_by(Procedure.code, Procedure.version)
    ).all()
    return {code: name for code, name in rows}  # the last (latest) version wins


def one_stop_units(session: Session, principal: Principal, today: date) -> list[tuple[str, str]]:
    """(code, name) of the open one-stop units whose desk the caller may work: a counter's
    own units, every one for an admin."""
    principal.require(*reports.DESK)
    stmt = select(Unit.code, Unit.name).where(
        Unit.kind == "one_stop", (Unit.valid_to.is_(None)) | (Unit.valid_to >= today)
    )
    if principal.role != "admin":
        stmt = stmt.where(Unit.code.in_(principal.units))
    return [(c, n) for c, n in session.execute(stmt.order_by(Unit.code)).all()]
