"""The outbox dispatcher: fan each event out to its subscribers and deliver it, at least once,
in order per dossier and subscriber, with exponential backoff and a dead letter after too many
tries.

The database is the ledger here as in the pipeline: a delivery's state lives in its row, a
dispatcher takes a row with a conditional update (a lease), and any number of dispatchers (beat
firing while the last run still works, two workers) share the work without sending an event
twice at the same time. A dispatcher killed mid-delivery leaves a lease that simply runs out.

Order: a dossier's next event for a subscriber waits while an earlier one for the same pair is
still pending, retries included. A dead letter no longer holds the queue (the portal must not
stop hearing about a dossier because one payload was refused); it waits for an operator's
replay. Events without a dossier (a unit's report) are not ordered.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from connect.base import Event, Subscriber
from connect.errors import ConnectError, DeliveryFailed
from dossiers.models import OutboxDelivery, OutboxEvent
from storage.db import rowcount, session_scope

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_ERROR_CHARS = 2000
_RESPONSE_CHARS = 512


@dataclass(frozen=True)
class DispatchPolicy:
    """How hard to try. The defaults give up after about a day and a half."""

    max_attempts: int = 12
    base_delay: float = 10.0  # seconds before the second try; doubled each time after
    max_delay: float = 6 * 3600.0
    lease_seconds: float = 300.0  # longer than one delivery's calls at their timeouts
    batch: int = 200
    concurrency: int = 8  # deliveries sent side by side (threads; each waits on the network)

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds before try ``attempts + 1``: doubling, capped, with ±20 % jitter so a
        receiver coming back is not hit by every delivery in the same second."""
        base = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        return float(base * (0.8 + 0.4 * rand()))


@dataclass
class DispatchReport:
    fanned_out: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    by_subscriber: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class SubscriberMetrics:
    pending: int
    retrying: int  # pending after at least one failure
    dead: int
    delivered: int
    oldest_pending_seconds: float


class DeliveryView(BaseModel):
    """One event's delivery to one subscriber, as the delivery logs show it."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="The delivery's id (``before`` pages by it).")
    event_id: int
    kind: str
    event_at: datetime
    dossier_id: str | None
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    last_response: str = Field(description="The receiver's last answer: status and first words.")
    last_error: str
    delivered_at: datetime | None
    next_at: datetime | None = Field(description="When it is tried next, while pending.")

    @classmethod
    def of(cls, delivery: OutboxDelivery, event: OutboxEvent) -> DeliveryView:
        return cls(
            id=delivery.id,
            event_id=event.id,
            kind=event.kind,
            event_at=event.at,
            dossier_id=event.dossier_id,
            state=delivery.state,  # type: ignore[arg-type]
            attempts=delivery.attempts,
            last_response=delivery.last_response,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            next_at=delivery.next_at if delivery.state == PENDING else None,
        )


@dataclass(frozen=True)
class OutboxMetrics:
    undispatched: int  # events not yet fanned out
    oldest_undispatched_seconds: float
    subscribers: dict[str, SubscriberMetrics]


def to_event(row: OutboxEvent) -> Event:
    return Event(
        id=row.id,
        kind=row.kind,
        at=row.at,
        dossier_id=row.dossier_id,
        unit_code=row.unit_code,
        province_code=row.province_code,
        payload=dict(row.payload or {}),
    )


class Dispatcher:
    """Fan-out, claim, deliver, retry; replay and metrics for the API and the CLI."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        subscribers: Callable[[], Sequence[Subscriber]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        policy: DispatchPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.subscribers = subscribers
        self.clock = clock
        self.policy = policy or DispatchPolicy()

    # -- fan-out -------------------------------------------------------------------------------

    def fan_out(self, subscribers: Sequence[Subscriber], limit: int = 1000) -> int:
        """One delivery row per (new event, subscriber that wants it); returns events done."""
        done = 0
        with session_scope(self.sessions) as session:
            rows = session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.fanned_out.is_(False))
                .order_by(OutboxEvent.id)
                .limit(limit)
            ).all()
            # Only the dispatcher whose update flips an event's flag adds its rows: two
            # fan-outs at once cannot both take the same event.
            taken = set(
                session.scalars(
                    update(OutboxEvent)
                    .where(
                        OutboxEvent.id.in_([r.id for r in rows]), OutboxEvent.fanned_out.is_(False)
                    )
                    .values(fanned_out=True)
                    .returning(OutboxEvent.id)
                    .execution_options(synchronize_session=False)
                )
            )
            now = self.clock()
            for row in rows:
                if row.id not in taken:
                    continue
                event = to_event(row)
                for sub in subscribers:
                    if _wants(sub, event):
                        session.add(_delivery(event, sub.name, now))
                done += 1
        return done

    # -- delivery ------------------------------------------------------------------------------

    def run(self, *, budget_seconds: float = 30.0) -> DispatchReport:
        """Fan out and deliver until nothing is due or ``budget_seconds`` have passed.

        Each round's claims are at most one per dossier and subscriber, so they are sent side
        by side (``policy.concurrency`` at once) without breaking any dossier's order, and a
        slow receiver holds up only its own deliveries.
        """
        report = DispatchReport()
        subscribers = {s.name: s for s in self.subscribers()}
        started = time.monotonic()
        with ThreadPoolExecutor(self.policy.concurrency, thread_name_prefix="outbox") as pool:
            while True:
                report.fanned_out += self.fan_out(list(subscribers.values()))
                claimed = self._claim(set(subscribers))
                if not claimed:
                    break
                outcomes = pool.map(
                    lambda c: (c[3], self._deliver_one(subscribers[c[3]], c[0], c[1], c[2])),
                    claimed,
                )
                for name, outcome in outcomes:
                    if outcome == DELIVERED:
                        report.delivered += 1
                        report.by_subscriber[name] += 1
                    elif outcome == DEAD:
                        report.dead += 1
                    elif outcome == PENDING:
                        report.retried += 1
                if time.monotonic() - started > budget_seconds:
                    break
        return report

    def _claim(self, names: set[str]) -> list[tuple[int, datetime, Event, str]]:
        """Lease the due deliveries that are first in line for their dossier and subscriber."""
        if not names:
            return []
        now = self.clock()
        lease = now + timedelta(seconds=self.policy.lease_seconds)
        earlier = aliased(OutboxDelivery)
        blocked = exists().where(
            earlier.subscriber == OutboxDelivery.subscriber,
            earlier.dossier_id == OutboxDelivery.dossier_id,
            earlier.event_id < OutboxDelivery.event_id,
            earlier.state == PENDING,
        )
        free = or_(OutboxDelivery.lease_until.is_(None), OutboxDelivery.lease_until < now)
        claimed: list[tuple[int, datetime, Event, str]] = []
        with session_scope(self.sessions) as session:
            rows = session.execute(
                select(OutboxDelivery.id, OutboxDelivery.subscriber, OutboxEvent)
                .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
                .where(
                    OutboxDelivery.state == PENDING,
                    OutboxDelivery.next_at <= now,
                    OutboxDelivery.subscriber.in_(names),
                    free,
                    ~blocked,
                )
                .order_by(OutboxDelivery.event_id)
                .limit(self.policy.batch)
            ).all()
            taken = set(
                session.scalars(
                    update(OutboxDelivery)
                    .where(
                        OutboxDelivery.id.in_([r[0] for r in rows]),
                        OutboxDelivery.state == PENDING,
                        free,
                    )
                    .values(lease_until=lease)
                    .returning(OutboxDelivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
            claimed = [
                (delivery_id, lease, to_event(event_row), name)
                for delivery_id, name, event_row in rows
                if delivery_id in taken
            ]
        return claimed

    def _deliver_one(self, sub: Subscriber, delivery_id: int, lease: datetime, event: Event) -> str:
        """Deliver one claimed event; returns the delivery's new state ("" if lost)."""
        try:
            answer = sub.deliver(event)
        except DeliveryFailed as exc:
            return self._failed(
                sub.name, delivery_id, lease, event, exc, exc.retryable, exc.response
            )
        except ConnectError as exc:
            return self._failed(sub.name, delivery_id, lease, event, exc, exc.retryable, "")
        except Exception as exc:  # a subscriber's bug must not stop every other delivery
            log.exception("subscriber %s crashed on event %d", sub.name, event.id)
            return self._failed(sub.name, delivery_id, lease, event, exc, True, "")
        with session_scope(self.sessions) as session:
            done = rowcount(
                session.execute(
                    update(OutboxDelivery)
                    .where(OutboxDelivery.id == delivery_id, OutboxDelivery.lease_until == lease)
                    .values(
                        state=DELIVERED,
                        attempts=OutboxDelivery.attempts + 1,
                        delivered_at=self.clock(),
                        lease_until=None,
                        last_error="",
                        last_response=str(answer)[:_RESPONSE_CHARS],
                    )
                )
            )
        return DELIVERED if done == 1 else ""

    def _failed(
        self,
        name: str,
        delivery_id: int,
        lease: datetime,
        event: Event,
        exc: BaseException,
        retryable: bool,
        response: str,
    ) -> str:
        now = self.clock()
        with session_scope(self.sessions) as session:
            row = session.get(OutboxDelivery, delivery_id)
            if row is None or row.lease_until != lease:
                return ""  # the lease ran out and another dispatcher has it now
            row.attempts += 1
            row.lease_until = None
            row.last_error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
            row.last_response = response[:_RESPONSE_CHARS]
            if not retryable or row.attempts >= self.policy.max_attempts:
                row.state = DEAD
                log.error(
                    "ALERT outbox: event %d (%s) for %s is a dead letter after %d tries: %s",
                    event.id,
                    event.kind,
                    name,
                    row.attempts,
                    row.last_error,
                )
            else:
                row.next_at = now + timedelta(seconds=self.policy.delay(row.attempts))
                log.warning(
                    "outbox: event %d for %s failed (try %d), next at %s: %s",
                    event.id,
                    name,
                    row.attempts,
                    row.next_at.isoformat(),
                    row.last_error,
                )
            return row.state

    # -- operators -----------------------------------------------------------------------------

    def replay(
        self,
        *,
        event_ids: Iterable[int] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        subscriber: str | None = None,
        include_delivered: bool = False,
    ) -> int:
        """Put deliveries back in line: named events, or those of a time range; dead ones
        only unless ``include_delivered``. Naming a subscriber also adds the rows it never had
        (a subscription made after the events), so an integrator can be back-filled.

        Returns how many deliveries will be tried again.
        """
        ids = list(event_ids)
        if not ids and since is None and until is None:
            raise ValueError("name events or a time range to replay")
        events = select(OutboxEvent.id)
        if ids:
            events = events.where(OutboxEvent.id.in_(ids))
        if since is not None:
            events = events.where(OutboxEvent.at >= since)
        if until is not None:
            events = events.where(OutboxEvent.at < until)
        states = [DEAD, DELIVERED] if include_delivered or ids else [DEAD]
        now = self.clock()
        with session_scope(self.sessions) as session:
            added = 0
            if subscriber is not None:
                sub = next((s for s in self.subscribers() if s.name == subscriber), None)
                if sub is None:
                    raise ValueError(f"no subscriber {subscriber!r} is configured")
                have = select(OutboxDelivery.event_id).where(
                    OutboxDelivery.subscriber == subscriber
                )
                missing = session.scalars(
                    select(OutboxEvent).where(
                        OutboxEvent.id.in_(events),
                        OutboxEvent.fanned_out.is_(True),
                        OutboxEvent.id.not_in(have),
                    )
                ).all()
                for row in missing:
                    event = to_event(row)
                    if _wants(sub, event):
                        session.add(_delivery(event, subscriber, now))
                        added += 1
            stmt = (
                update(OutboxDelivery)
                .where(OutboxDelivery.event_id.in_(events), OutboxDelivery.state.in_(states))
                .values(state=PENDING, attempts=0, next_at=now, lease_until=None)
            )
            if subscriber is not None:
                stmt = stmt.where(OutboxDelivery.subscriber == subscriber)
            replayed = rowcount(session.execute(stmt))
        log.info("outbox replay: %d deliveries again, %d added", replayed, added)
        return int(replayed) + added

    def metrics(self) -> OutboxMetrics:
        now = self.clock()
        with session_scope(self.sessions) as session:
            undispatched, oldest_event = session.execute(
                select(func.count(OutboxEvent.id), func.min(OutboxEvent.at)).where(
                    OutboxEvent.fanned_out.is_(False)
                )
            ).one()
            per: dict[str, dict[str, Any]] = {}
            rows = session.execute(
                select(
                    OutboxDelivery.subscriber,
                    OutboxDelivery.state,
                    func.count(OutboxDelivery.id),
                    func.sum(case((OutboxDelivery.attempts > 0, 1), else_=0)),
                    func.min(OutboxDelivery.created_at),
                ).group_by(OutboxDelivery.subscriber, OutboxDelivery.state)
            ).all()
            for name, state, count, failed, oldest in rows:
                entry = per.setdefault(
                    name, {"pending": 0, "retrying": 0, "dead": 0, "delivered": 0, "oldest": None}
                )
                entry[state] = int(count)
                if state == PENDING:
                    entry["retrying"] = int(failed or 0)
                    entry["oldest"] = oldest
        return OutboxMetrics(
            undispatched=int(undispatched),
            oldest_undispatched_seconds=_age(now, oldest_event),
            subscribers={
                name: SubscriberMetrics(
                    pending=e["pending"],
                    retrying=e["retrying"],
                    dead=e["dead"],
                    delivered=e["delivered"],
                    oldest_pending_seconds=_age(now, e["oldest"]),
                )
                for name, e in sorted(per.items())
            },
        )

    def deliveries(
        self,
        subscriber: str,
        *,
        limit: int = 50,
        before_id: int | None = None,
        state: str | None = None,
    ) -> list[DeliveryView]:
        """The delivery log of one subscriber, newest first (keyset pagination by id)."""
        with session_scope(self.sessions) as session:
            stmt = (
                select(OutboxDelivery, OutboxEvent)
                .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
                .where(OutboxDelivery.subscriber == subscriber)
                .order_by(OutboxDelivery.id.desc())
                .limit(limit)
            )
            if before_id is not None:
                stmt = stmt.where(OutboxDelivery.id < before_id)
            if state is not None:
                stmt = stmt.where(OutboxDelivery.state == state)
            return [DeliveryView.of(row[0], row[1]) for row in session.execute(stmt)]


def _wants(sub: Subscriber, event: Event) -> bool:
    try:
        return bool(sub.wants(event))
    except Exception:  # a subscriber's bug must not stop the fan-out for the others
        log.exception("subscriber %s failed to decide on event %d", sub.name, event.id)
        return False


def _delivery(event: Event, subscriber: str, now: datetime) -> OutboxDelivery:
    return OutboxDelivery(
        event_id=event.id,
        subscriber=subscriber,
        dossier_id=event.dossier_id,
        state=PENDING,
        attempts=0,
        next_at=now,
        last_error="",
        last_response="",
        created_at=now,
    )


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


__all__ = [
    "DEAD",
    "DELIVERED",
    "PENDING",
    "DeliveryView",
    "DispatchPolicy",
    "DispatchReport",
    "Dispatcher",
    "OutboxMetrics",
    "SubscriberMetrics",
]
