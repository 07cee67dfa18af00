"""An agency's desk: the dossiers handed to its unit and not finished, and what it may do next
with the one it holds.

The inbox has the three piles an officer works from: handed over and not yet taken, taken and in
progress, and sent back to the counter for the citizen's supplement. Each pile is one statement
(the dossier, its procedure's name and the hand-over that put it there, with the pile's size as
a window count), so the page costs the same for five dossiers or five thousand. Every statement
keeps :func:`dossiers.access.dossier_filter`, the scope the API reads through.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from dossiers import calendar as cal
from dossiers.access import Principal, dossier_filter
from dossiers.kernel import DossierKernel
from dossiers.models import Dossier, Handover, Procedure, Unit
from dossiers.workflow.dossier_views import DossierSummary, IsoDateTime, ReadModel
from dossiers.workflow.lifecycle import Status

Pile = Literal["take", "working", "supplement"]
PILES: tuple[Pile, ...] = ("take", "working", "supplement")
PAGE = 50
#: "Due soon" reaches to the end of the second working day after today.
SOON_WORKING_DAYS = 2

Urgency = Literal["overdue", "soon", "none"]


class InboxLine(DossierSummary):
    """A dossier in one of the agency's piles."""

    procedure_name: str
    handed_at: IsoDateTime = Field(
        description="When the hand-over that put it in this pile was made: to the agency, or "
        "back to the counter for a supplement."
    )
    urgency: Urgency = Field(
        description="overdue (past due, or counted late), soon (due by the end of the second "
        "next working day) or none; a dossier waiting for the citizen has its clock stopped."
    )


class InboxPile(ReadModel):
    key: Pile
    total: int = Field(description="Dossiers in the pile (all pages).")
    offset: int
    items: list[InboxLine] = Field(description="Most urgent first: by due time, then id.")

    @property
    def more(self) -> bool:
        return self.offset + len(self.items) < self.total


class Inbox(ReadModel):
    unit_code: str
    at: IsoDateTime
    piles: list[InboxPile]


def agency_inbox(
    kernel: DossierKernel,
    principal: Principal,
    *,
    piles: Iterable[Pile] = PILES,
    offset: int = 0,
    limit: int = PAGE,
) -> Inbox:
    """The agency unit's open dossiers, pile by pile; ``offset`` pages every pile asked for."""
    principal.require("agency")
    unit = principal.unit_code or ""
    now = kernel.now()
    with kernel.tx() as session:
        calendar = kernel.calendar(session, cal.rules_in_force(now))
        last = calendar.add_working_days(now.astimezone(cal.VN_TZ).date(), SOON_WORKING_DAYS)
        horizon = datetime.combine(last + timedelta(days=1), time(), tzinfo=cal.VN_TZ)
        out = []
        for key in piles:
            rows = session.execute(_pile(principal, unit, key).offset(offset).limit(limit)).all()
            total = int(rows[0].total) if rows else 0
            items = [
                InboxLine(
                    **DossierSummary.of(d).model_dump(),
                    procedure_name=name,
                    handed_at=handed_at,
                    urgency=urgency(d, now, horizon),
                )
                for d, name, handed_at, _ in rows
            ]
            out.append(InboxPile(key=key, total=total, offset=offset, items=items))
    return Inbox(unit_code=unit, at=now, piles=out)


def _pile(principal: Principal, unit: str, key: Pile) -> Select[Dossier, str, datetime, int]:
    hop = aliased(Handover)
    if key == "supplement":
        # Asked for by this agency: its hand-over back to the counter is the dossier's last.
        last = _last_handover()
        where: list[ColumnElement[bool]] = [
            Dossier.status == Status.SUPPLEMENT,
            hop.from_party == unit,
        ]
    else:
        # The hand-over to this unit that it acknowledges (or not yet) by taking the dossier.
        last = _last_handover(unit)
        untaken = hop.taken_at.is_(None)
        where = [Dossier.holder_code == unit]
        if key == "take":
            where += [Dossier.status == Status.PROCESSING, untaken]
        else:
            # Waiting for an assessed payment counts as work in hand, taken or not.
            where += [
                Dossier.status.in_((Status.PROCESSING, Status.AWAITING_PAYMENT)),
                or_(~untaken, Dossier.status == Status.AWAITING_PAYMENT),
            ]
    return (
        select(Dossier, Procedure.name, hop.handed_at, func.count().over().label("total"))
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .join(hop, and_(hop.dossier_id == Dossier.id, hop.id == last))
        .where(dossier_filter(principal), *where)
        .order_by(Dossier.due_at.is_(None), Dossier.due_at, Dossier.id)
    )


def _last_handover(to_party: str | None = None) -> Any:
    """The id of the dossier's latest hand-over (to ``to_party`` if given), correlated."""
    inner = aliased(Handover)
    stmt = select(func.max(inner.id)).where(inner.dossier_id == Dossier.id)
    if to_party is not None:
        stmt = stmt.where(inner.to_party == to_party)
    return stmt.correlate(Dossier).scalar_subquery()


def urgency(d: Dossier, now: datetime, horizon: datetime) -> Urgency:
    """Red or amber for the officer: late by date or counted late by the national scoring."""
    if d.counted_overdue:
        return "overdue"
    if d.status == Status.SUPPLEMENT or d.due_at is None:
        return "none"  # the citizen holds the papers: the clock stands still
    if d.due_at < now:
        return "overdue"
    return "soon" if d.due_at < horizon else "none"


# -- one dossier, from the agency's side ------------------------------------------------------


class ResultType(ReadModel):
    code: str = Field(description="Result document type, e.g. KQ.G15.000001.")
    name: str


class AgencyDesk(ReadModel):
    """What the agency needs to decide its next step on one dossier."""

    holds: bool = Field(description="The caller's unit holds the dossier now.")
    taken: bool = Field(description="The caller's unit acknowledged the hand-over it holds.")
    handed_at: IsoDateTime | None = Field(description="When it was handed to the caller's unit.")
    next_unit: str | None = Field(description="The route's next agency; null at the last one.")
    unit_names: dict[str, str] = Field(description="Names of the route's units and the counter.")
    result_types: list[ResultType] = Field(description="What the procedure's results are.")


def agency_desk(kernel: DossierKernel, principal: Principal, ref: str) -> AgencyDesk:
    """The dossier as its agency sees it; 404 outside the caller's scope, as everywhere."""
    principal.require("agency")
    with kernel.tx() as session:
        dossier = kernel.find(session, principal, ref)
        unit = principal.unit_code
        holds = unit is not None and dossier.holder_code == unit
        hop = None
        if holds:
            hop = session.scalar(
                select(Handover)
                .where(Handover.dossier_id == dossier.id, Handover.to_party == unit)
                .order_by(Handover.id.desc())
                .limit(1)
            )
        proc = session.get(Procedure, dossier.procedure_id)
        route = [str(code) for code in dossier.route]
        at = dossier.route_index
        codes = {*route, dossier.unit_code}
        rows = session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes)))
        names = {code: name for code, name in rows}
        return AgencyDesk(
            holds=holds,
            taken=hop is not None and hop.taken_at is not None,
            handed_at=hop.handed_at if hop is not None else None,
            next_unit=route[at + 1] if 0 <= at < len(route) - 1 else None,
            unit_names=names,
            result_types=[
                ResultType(code=r["code"], name=r["name"]) for r in (proc.results if proc else [])
            ],
        )
