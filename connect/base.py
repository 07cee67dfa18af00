"""The subscriber interface: one implementation per destination, chosen by configuration.

The dispatcher hands a subscriber one :class:`Event` at a time, for one dossier in the order
the events happened. ``deliver`` returns what the receiver answered (kept in the delivery log)
or raises :class:`connect.errors.DeliveryFailed`. It may be called again for an event it has
already delivered (at-least-once: a crash between the receiver's answer and our commit), so a
receiver must be able to tell: every delivery carries the event's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """An outbox event as a subscriber sees it."""

    id: int
    kind: str
    at: datetime
    dossier_id: str | None
    unit_code: str | None
    province_code: str | None
    payload: dict[str, Any]


class Subscriber(Protocol):
    """A destination for outbox events."""

    #: Stable, unique among subscribers ("dvcqg", "notify.email", "webhook:<id>"): it names the
    #: delivery rows, so renaming one orphans its pending deliveries.
    name: str

    def wants(self, event: Event) -> bool:
        """Whether a delivery row is made for ``event`` (decided once, at fan-out)."""
        ...

    def deliver(self, event: Event) -> str:
        """Send ``event``; return the receiver's answer in a few words, or raise DeliveryFailed.

        Returning means delivered. A subscriber with nothing to send for this event (the
        citizen opted out since) returns a short note saying why, and that is logged.
        """
        ...
