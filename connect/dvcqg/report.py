"""The sync rate as QĐ 766 counts it (Tỷ lệ hồ sơ đồng bộ lên DVCQG, domain notes §4.2):
dossiers synced / dossiers received, per unit, for dossiers received in the period, and why
each of the others is not synced.

Synced means a delivery of one of its events to the ``dvcqg`` subscriber was delivered. Every
delivery sends the dossier record (NoiHoSo) first unless the portal has already accepted it
(connect/dvcqg/subscriber.py), so a delivered one means the portal holds the dossier.

A dossier not synced shows the first of its undelivered deliveries (the one the others wait
behind): ``waiting`` (not tried yet), ``retrying`` (failed, tried again later, with the last
error), ``dead`` (refused: the portal's code, or tries exhausted); or, with no delivery at all,
``not_fanned_out`` (the dispatcher has not run since) or ``not_subscribed`` (its events were
fanned out before the portal was configured: ``POST /api/v1/admin/outbox/replay`` with
``subscriber=dvcqg`` back-fills them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from dossiers.access import Principal, check_unit, unit_filter
from dossiers.models import Dossier, OutboxDelivery, OutboxEvent

SUBSCRIBER = "dvcqg"
READERS = ("counter", "auditor", "admin")
Reason = Literal["waiting", "retrying", "dead", "not_fanned_out", "not_subscribed"]


class NotSynced(BaseModel):
    """A received dossier the portal does not hold (yet), and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dossier_id: str
    code: str
    unit_code: str
    received_at: str = Field(description="ISO 8601 with its UTC offset.")
    reason: Reason = Field(
        description="waiting, retrying, dead, not_fanned_out (dispatcher not run since) or "
        "not_subscribed (fanned out before the portal was configured; replay it)."
    )
    event_kind: str | None = Field(description="The outbox event that waits or failed.")
    attempts: int = Field(description="Tries of that delivery so far.")
    next_at: str | None = Field(description="Next try (pending only), ISO 8601.")
    portal_code: str = Field(description="What the portal answered last (its error code).")
    last_error: str = Field(description="Our last error for that delivery.")


class UnitSync(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_code: str
    received: int
    synced: int
    rate: float | None = Field(description="synced / received; null when nothing was received.")


class DvcqgSyncReport(BaseModel):
    """Dossiers received in [since, until) and how many of them the portal holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: str = Field(description="Start of the period, ISO 8601.")
    until: str = Field(description="End of the period (exclusive), ISO 8601.")
    received: int
    synced: int
    rate: float | None = Field(description="synced / received; null when nothing was received.")
    units: list[UnitSync] = Field(description="By unit code.")
    not_synced: list[NotSynced] = Field(description="Earliest received first, at most `limit`.")
    not_synced_total: int = Field(description="All dossiers of the period not synced.")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def sync_rate(
    session: Session,
    principal: Principal,
    since: datetime,
    until: datetime,
    unit_code: str | None = None,
    *,
    limit: int = 200,
) -> DvcqgSyncReport:
    """The sync rate of dossiers received in [since, until), within the caller's units."""
    principal.require(*READERS)
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    scope = unit_filter(principal, Dossier.unit_code)
    if unit_code is not None:
        check_unit(principal, unit_code, session)
        scope = and_(scope, Dossier.unit_code == unit_code)
    received = and_(scope, Dossier.received_at >= since, Dossier.received_at < until)
    synced_ids = (
        select(OutboxDelivery.dossier_id)
        .where(OutboxDelivery.subscriber == SUBSCRIBER, OutboxDelivery.state == "delivered")
        .scalar_subquery()
    )
    per_unit = session.execute(
        select(
            Dossier.unit_code,
            func.count(Dossier.id),
            func.count(Dossier.id).filter(Dossier.id.in_(synced_ids)),
        )
        .where(received)
        .group_by(Dossier.unit_code)
        .order_by(Dossier.unit_code)
    ).all()
    units = [
        UnitSync(unit_code=u, received=n, synced=s, rate=s / n if n else None)
        for u, n, s in per_unit
    ]
    total, synced = sum(u.received for u in units), sum(u.synced for u in units)
    missing = session.execute(
        select(Dossier.id, Dossier.code, Dossier.unit_code, Dossier.received_at)
        .where(received, Dossier.id.not_in(synced_ids))
        .order_by(Dossier.received_at, Dossier.id)
        .limit(limit)
    ).all()
    return DvcqgSyncReport(
        since=since.isoformat(),
        until=until.isoformat(),
        received=total,
        synced=synced,
        rate=synced / total if total else None,
        units=units,
        not_synced=_reasons(session, missing),
        not_synced_total=total - synced,
    )


def _reasons(session: Session, missing: Sequence[Any]) -> list[NotSynced]:
    ids = [row[0] for row in missing]
    if not ids:
        return []
    first: dict[str, tuple[OutboxDelivery, str]] = {}
    for delivery, kind in session.execute(
        select(OutboxDelivery, OutboxEvent.kind)
        .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
        .where(
            OutboxDelivery.subscriber == SUBSCRIBER,
            OutboxDelivery.dossier_id.in_(ids),
            OutboxDelivery.state != "delivered",
        )
        .order_by(OutboxDelivery.event_id)
    ):
        first.setdefault(str(delivery.dossier_id), (delivery, kind))
    unfanned: dict[str, str] = {}
    for dossier_id, kind in session.execute(
        select(OutboxEvent.dossier_id, OutboxEvent.kind)
        .where(OutboxEvent.dossier_id.in_(ids), OutboxEvent.fanned_out.is_(False))
        .order_by(OutboxEvent.id)
    ):
        unfanned.setdefault(str(dossier_id), kind)
    out = []
    for dossier_id, code, unit, received_at in missing:
        base = {
            "dossier_id": dossier_id,
            "code": code or "",
            "unit_code": unit,
            "received_at": _iso(received_at) or "",
        }
        found = first.get(dossier_id)
        if found is not None:
            d, kind = found
            reason: Reason = (
                "dead" if d.state == "dead" else "retrying" if d.attempts > 0 else "waiting"
            )
            out.append(
                NotSynced(
                    **base,
                    reason=reason,
                    event_kind=kind,
                    attempts=d.attempts,
                    next_at=_iso(d.next_at) if d.state == "pending" else None,
                    portal_code=d.last_response,
                    last_error=d.last_error,
                )
            )
            continue
        out.append(
            NotSynced(
                **base,
                reason="not_fanned_out" if dossier_id in unfanned else "not_subscribed",
                event_kind=unfanned.get(dossier_id) or None,
                attempts=0,
                next_at=None,
                portal_code="",
                last_error="",
            )
        )
    return out


__all__ = ["DvcqgSyncReport", "NotSynced", "UnitSync", "sync_rate"]
