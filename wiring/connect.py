"""The outbox's side of the composition root: which subscribers this installation has, from its
settings (the portal, notification channels) and its database (integrators' webhooks), and
the dispatcher that serves them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from connect.base import Subscriber
    from connect.dispatcher import Dispatcher
    from core.settings import Settings
    from storage.objects import ObjectStore


class Services(Protocol):
    """What the outbox needs of :class:`wiring.factory.Services` (which builds it)."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    clock: Callable[[], datetime]

    @property
    def url_secret(self) -> bytes: ...


def subscribers(services: Services) -> list[Subscriber]:
    """Every destination configured now; read again on each dispatcher run, so a webhook made
    through the admin API is served without a restart."""
    subs: list[Subscriber] = []
    # -- the national portal / provincial one-stop system (DVCQG sync) --
    # -- citizen notifications and staff alerts --
    # -- integrators' webhooks --
    from connect.webhooks import active_subscribers

    subs.extend(active_subscribers(services.sessions, services.url_secret))
    return subs


def make_dispatcher(services: Services) -> Dispatcher:
    from connect.dispatcher import Dispatcher, DispatchPolicy

    s = services.settings
    return Dispatcher(
        services.sessions,
        lambda: subscribers(services),
        clock=lambda: services.clock(),
        policy=DispatchPolicy(max_attempts=s.outbox_max_attempts, base_delay=s.outbox_base_delay),
    )
