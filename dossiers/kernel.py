"""The dossier kernel: what every room of the domain does to a dossier, in one public place.

The workflow (:mod:`dossiers.workflow.service`), the cashier and the returns all open a transaction,
find a dossier within the caller's scope, check who may act, move its status, record the event
in its history and in the audit chain, and write a hand-over row. They do it through this class,
so a rule such as "an agency acts only on a dossier it holds" is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dossiers import calendar as cal
from dossiers.access import Principal, dossier_filter
from dossiers.errors import Conflict, NotFound
from dossiers.models import CalendarOverrideRow, Dossier, DossierEvent, Handover
from dossiers.workflow.lifecycle import next_status
from paper.fonts import DEFAULT_FONTS, Fonts
from storage.db import session_scope

if TYPE_CHECKING:
    from dossiers.workflow.lookup import StatusLookup
    from storage.objects import ObjectStore

CITIZEN = "citizen"


class DossierKernel:
    """Transactions, lookups within scope, guards, status moves, events and hand-overs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        *,
        clock: Callable[[], datetime],
        form_signer: Callable[[Path, Path, str], Any] | None = None,
        system_name: str = "sohoa",
        fonts: Fonts = DEFAULT_FONTS,
        status_lookup: StatusLookup | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.form_signer = form_signer
        self.system_name = system_name
        self.fonts = fonts
        # Form 01 and the e-receipt print the citizen's lookup secret and link when set.
        self.status_lookup = status_lookup

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock must give aware datetimes")
        return now.astimezone(UTC)

    def today(self) -> date:
        return self.now().astimezone(cal.VN_TZ).date()

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with session_scope(self.sessions) as session:
            yield session

    def calendar(self, session: Session, rules: cal.DeadlineRules) -> cal.WorkingCalendar:
        days = {o.day: o for o in cal.DEFAULT_OVERRIDES}
        for row in session.scalars(select(CalendarOverrideRow)):
            days[row.day] = cal.CalendarOverride(row.day, row.working, row.note)
        return cal.WorkingCalendar(days.values(), saturday_working=rules.saturday_working)

    def rules_for(self, dossier: Dossier) -> cal.DeadlineRules:
        for rules in cal.RULES:
            if rules.version == dossier.rules_version:
                return rules
        raise Conflict(f"dossier {dossier.code} names unknown rules {dossier.rules_version}")

    def find(
        self, session: Session, principal: Principal, ref: str, *, lock: bool = False
    ) -> Dossier:
        """A dossier by code or id, within the caller's scope; 404 either way outside it."""
        column = Dossier.code if "-" in ref else Dossier.id
        stmt = select(Dossier).where(column == ref, dossier_filter(principal))
        if lock:
            stmt = stmt.with_for_update()
        dossier = session.scalar(stmt)
        if dossier is None:
            raise NotFound(f"no dossier {ref}", code="dossier_not_found")
        return dossier

    def event(
        self,
        session: Session,
        dossier: Dossier,
        principal: Principal,
        action: str,
        before: int | None,
        *,
        reason: str = "",
        **data: Any,
    ) -> None:
        """The dossier's own history, the same step in the append-only audit chain, and an
        outbox event for the systems and people outside (the portal, the citizen, webhooks)."""
        from dossiers.audit import record
        from dossiers.outbox import emit

        at = self.now()
        session.add(
            DossierEvent(
                dossier_id=dossier.id,
                at=at,
                actor_id=principal.staff_id,
                action=action,
                from_status=before,
                to_status=dossier.status,
                reason=reason,
                data=data,
            )
        )
        # The reason stays in the dossier's history only: audit rows can never be erased.
        record(
            session,
            actor_id=principal.staff_id,
            actor_role=principal.role,
            action=f"dossier.{action}",
            subject_type="dossier",
            subject_id=dossier.id,
            dossier_id=dossier.id,
            at=at,
            data={"from_status": before, "to_status": dossier.status, **data},
        )
        emit(
            session,
            f"dossier.{action}",
            at=at,
            dossier=dossier,
            actor_id=principal.staff_id,
            actor_role=principal.role,
            from_status=before,
            to_status=dossier.status,
            reason=reason,
            data=data,
        )

    def move(
        self,
        session: Session,
        dossier: Dossier,
        principal: Principal,
        action: str,
        *,
        reason: str = "",
        **data: Any,
    ) -> None:
        before = dossier.status
        dossier.status = int(next_status(action, before))
        self.event(session, dossier, principal, action, before, reason=reason, **data)

    def handover(
        self,
        session: Session,
        dossier: Dossier,
        principal: Principal,
        to_party: str,
        *,
        note: str = "",
    ) -> Handover:
        now = self.now()
        row = Handover(
            dossier_id=dossier.id,
            from_party=dossier.holder_code or dossier.unit_code,
            to_party=to_party,
            given_by=principal.staff_id,
            handed_at=now,
            due_at=dossier.due_at,
            result=cal.timeliness(now, dossier.due_at) if dossier.due_at else None,
            note=note,
        )
        session.add(row)
        dossier.holder_code = None if to_party == CITIZEN else to_party
        return row

    def require_counter(self, principal: Principal, dossier: Dossier) -> None:
        principal.require("counter", "admin")
        if principal.role == "counter" and dossier.unit_code not in principal.units:
            raise NotFound(f"no dossier {dossier.code or dossier.id}", code="dossier_not_found")

    def require_holder(self, principal: Principal, dossier: Dossier) -> None:
        principal.require("agency", "admin")
        if principal.role == "agency" and dossier.holder_code != principal.unit_code:
            raise Conflict(
                f"dossier {dossier.code} is held by {dossier.holder_code}, not by your agency",
                code="not_holder",
            )

    def require_current_side(self, principal: Principal, dossier: Dossier) -> None:
        """The agency holding the dossier, or its counter while it has not left the unit."""
        if dossier.holder_code not in (None, dossier.unit_code):
            self.require_holder(principal, dossier)
        else:
            self.require_counter(principal, dossier)
