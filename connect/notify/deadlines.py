"""The staff's deadline alerts: open dossiers whose appointment is near get one
``dossier.deadline_near`` event each, which the e-mail subscriber sends to whoever holds them.

Once per deadline: ``Dossier.overdue_alerted_at`` is set in the transaction that emits the
event, by a conditional update, so two runs at once (beat firing while the last run still
works) cannot both alert; a new deadline (an apology's date, a supplement restarting the
clock) clears it, and the new one is alerted in its turn. A dossier waiting for the citizen's
supplement is not alerted: its clock is stopped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dossiers.models import Dossier
from dossiers.outbox import DEADLINE_NEAR, emit
from dossiers.workflow.lifecycle import Status
from storage.db import rowcount, session_scope

RUNNING = (Status.RECEIVED, Status.PROCESSING, Status.AWAITING_PAYMENT)


def alert_deadlines(
    sessions: sessionmaker[Session], *, now: datetime, hours: int, batch: int = 500
) -> int:
    """Emit the alerts now due; returns how many. At most ``batch`` a run, nearest first."""
    horizon = now + timedelta(hours=hours)
    done = 0
    with session_scope(sessions) as session:
        rows = session.scalars(
            select(Dossier)
            .where(
                Dossier.status.in_([int(s) for s in RUNNING]),
                Dossier.due_at.is_not(None),
                Dossier.due_at <= horizon,
                Dossier.overdue_alerted_at.is_(None),
            )
            .order_by(Dossier.due_at, Dossier.id)  # one lock order for every run
            .limit(batch)
        ).all()
        for dossier in rows:
            taken = rowcount(
                session.execute(
                    update(Dossier)
                    .where(Dossier.id == dossier.id, Dossier.overdue_alerted_at.is_(None))
                    .values(overdue_alerted_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            if taken != 1:
                continue
            assert dossier.due_at is not None
            emit(
                session,
                DEADLINE_NEAR,
                at=now,
                dossier=dossier,
                data={
                    "due_at": dossier.due_at.astimezone(UTC).isoformat(),
                    "alert_hours": hours,
                    "overdue": dossier.due_at <= now,
                },
            )
            done += 1
    return done
