"""The outbox for operators: what waits to leave the system, the dead letters, and replays.

Read and replay only: nothing here sends anything. A replay puts deliveries back in line and the
dispatcher (a Celery beat task) sends them on its next run. Installation-wide, so for an
administrator without a unit (the province's or the installation's).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import Caller, Svc
from api.params import ReplayWindow
from api.problems import ApiProblem
from connect.dispatcher import DeliveryView, OutboxMetrics
from dossiers.access import require_installation_admin

router = APIRouter(prefix="/admin/outbox", tags=["admin"])


class SubscriberState(BaseModel):
    pending: int
    retrying: int
    dead: int
    delivered: int
    oldest_pending_seconds: float


class OutboxState(BaseModel):
    undispatched: int
    oldest_undispatched_seconds: float
    subscribers: dict[str, SubscriberState]


class DeliveryLog(BaseModel):
    subscriber: str
    items: list[DeliveryView]
    #: Pass as ``before`` for the next (older) page; null at the end.
    next_before: int | None


class ReplayBody(ReplayWindow):
    subscriber: str | None = Field(default=None, max_length=64)


class Replayed(BaseModel):
    replayed: int


def state_of(metrics: OutboxMetrics) -> OutboxState:
    return OutboxState(
        undispatched=metrics.undispatched,
        oldest_undispatched_seconds=metrics.oldest_undispatched_seconds,
        subscribers={
            name: SubscriberState(**vars(numbers)) for name, numbers in metrics.subscribers.items()
        },
    )


@router.get("")
def outbox_state(who: Caller, svc: Svc) -> OutboxState:
    """Pending, retrying and dead deliveries per subscriber, and the oldest waiting."""
    require_installation_admin(who, "the outbox")
    return state_of(svc.dispatcher.metrics())


@router.get("/{subscriber}/deliveries")
def deliveries(
    subscriber: Annotated[str, Path(max_length=64)],
    who: Caller,
    svc: Svc,
    state: Literal["pending", "delivered", "dead"] | None = None,
    before: int | None = Query(default=None, ge=1, le=2**62),
    limit: int = Query(default=50, ge=1, le=500),
) -> DeliveryLog:
    """One subscriber's delivery log, newest first."""
    require_installation_admin(who, "the outbox")
    items = svc.dispatcher.deliveries(subscriber, limit=limit, before_id=before, state=state)
    return DeliveryLog(
        subscriber=subscriber,
        items=items,
        next_before=items[-1].id if len(items) == limit else None,
    )


@router.post("/replay")
def replay(body: ReplayBody, who: Caller, svc: Svc) -> Replayed:
    """Put dead (or, asked for, delivered) deliveries back in line for the next run."""
    require_installation_admin(who, "the outbox")
    try:
        count = svc.dispatcher.replay(
            event_ids=body.event_ids,
            since=body.since,
            until=body.until,
            subscriber=body.subscriber,
            include_delivered=body.include_delivered,
        )
    except ValueError as exc:
        raise ApiProblem(422, "replay_invalid", str(exc)) from exc
    return Replayed(replayed=count)
