"""The outbox: events that must leave the system, written in the transaction of the change.

Nothing is sent from inside a request. A status move, a digitized paper or a deadline alert adds
an :class:`~dossiers.models.OutboxEvent` row beside the change itself, so the event exists if and
only if the change committed; the dispatcher (:mod:`connect.dispatcher`) fans it out to the
subscribers and delivers it later, at least once and in order per dossier.

An event carries what the change was, never personal data beyond the dossier's code: a
subscriber that needs more (the portal's full dossier payload, the citizen's address for a
notification) reads the current rows when it delivers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from dossiers.models import Dossier, OutboxEvent, Unit

# Kinds beside "dossier.<action>" (one per action of the status table and the desk's steps).
DOCUMENT_DIGITIZED = "document.digitized"
DEADLINE_NEAR = "dossier.deadline_near"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def dossier_facts(dossier: Dossier) -> dict[str, Any]:
    """What every dossier event says about its dossier: code, status and dates, no person."""
    return {
        "dossier_id": dossier.id,
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "unit_code": dossier.unit_code,
        "status": dossier.status,
        "channel": dossier.channel,
        "collect_at": dossier.collect_at,
        "received_at": _iso(dossier.received_at),
        "due_at": _iso(dossier.due_at),
        "holder_code": dossier.holder_code,
    }


def emit(
    session: Session,
    kind: str,
    *,
    at: datetime,
    dossier: Dossier | None = None,
    unit_code: str | None = None,
    **data: Any,
) -> OutboxEvent:
    """Add one event to ``session``; it leaves the system only if the transaction commits."""
    unit = dossier.unit_code if dossier is not None else unit_code
    province = None
    if unit is not None:
        row = session.get(Unit, unit)
        province = row.province_code if row is not None else None
    payload: dict[str, Any] = {"kind": kind, "at": _iso(at), **data}
    if dossier is not None:
        payload["dossier"] = dossier_facts(dossier)
    event = OutboxEvent(
        at=at,
        kind=kind,
        dossier_id=dossier.id if dossier is not None else None,
        unit_code=unit,
        province_code=province,
        payload=payload,
        fanned_out=False,
    )
    session.add(event)
    return event
