"""The outbox dispatcher over a real ledger: events written with the change, fanned out,
delivered in order per dossier, retried with backoff, dead-lettered and replayed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from connect.base import Event
from connect.dispatcher import DEAD, DELIVERED, PENDING, Dispatcher, DispatchPolicy
from connect.errors import DeliveryFailed
from dossiers.models import OutboxDelivery, OutboxEvent
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import VN, World, make_world
from wiring.factory import build

BUSINESS = ("2.000720", {"giay_de_nghi": 1, "ban_sao_cccd": 1})


@dataclass
class Receiver:
    """A subscriber that keeps what it got and fails while ``down``."""

    name: str = "test"
    down: bool = False
    refuse: set[int] = field(default_factory=set)
    got: list[Event] = field(default_factory=list)
    kinds: tuple[str, ...] = ("dossier.",)

    def wants(self, event: Event) -> bool:
        return event.kind.startswith(self.kinds)

    def deliver(self, event: Event) -> str:
        if self.down:
            raise DeliveryFailed("connection refused", response="")
        if event.id in self.refuse:
            raise DeliveryFailed("payload refused", response="400", retryable=False)
        self.got.append(event)
        return "200"


@pytest.fixture
def world(make_settings) -> Iterator[World]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    yield make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN))


def _dossier(world: World, name: str = "Đặng Văn Hải") -> str:
    clerk = world.principal("cong.ch")
    svc = world.services.dossiers
    code, papers = BUSINESS
    ref = svc.create(
        clerk, procedure_code=code, applicant=ApplicantIn(name, "CCCD", "001090099999")
    )
    svc.check_components(clerk, ref, papers)
    svc.receive(clerk, ref)
    return str(ref)


def _dispatcher(world: World, *subs: Receiver, **policy: float) -> Dispatcher:
    return Dispatcher(
        world.services.sessions,
        lambda: list(subs),
        clock=world.clock,
        policy=DispatchPolicy(base_delay=60, **policy),  # type: ignore[arg-type]
    )


def test_events_are_written_with_the_change_and_delivered_in_order(world: World) -> None:
    first = _dossier(world)
    second = _dossier(world, "Lê Thị Hoa")
    receiver = Receiver()
    report = _dispatcher(world, receiver).run()
    kinds = [(e.dossier_id, e.kind) for e in receiver.got]
    for ref in (first, second):
        mine = [k for d, k in kinds if d == ref]
        assert mine == ["dossier.create", "dossier.check", "dossier.receive"] or mine[0] == (
            "dossier.create"
        ), mine
        ids = [e.id for e in receiver.got if e.dossier_id == ref]
        assert ids == sorted(ids)
    assert report.delivered == len(receiver.got) >= 4
    # A second run sends nothing again.
    assert _dispatcher(world, receiver).run().delivered == 0


def test_a_failed_transaction_leaves_no_event(world: World) -> None:
    clerk = world.principal("cong.ch")
    with session_scope(world.services.sessions) as session:
        before = session.scalar(select(func.count(OutboxEvent.id)))
    with pytest.raises(Exception):  # noqa: B017 - any refusal of the domain
        world.services.dossiers.receive(clerk, "000.00.16.H99-260302-9999")
    with session_scope(world.services.sessions) as session:
        assert session.scalar(select(func.count(OutboxEvent.id))) == before


def test_a_receiver_down_gets_everything_later_in_order_once(world: World) -> None:
    ref = _dossier(world)
    receiver = Receiver(down=True)
    dispatcher = _dispatcher(world, receiver)
    report = dispatcher.run()
    assert report.delivered == 0 and report.retried == 1  # only the first is tried: order
    world.services.dossiers.route(world.principal("cong.ch"), ref)
    # Still down an hour later, after backoff: one more try, nothing overtakes.
    world.clock.advance(hours=1)
    dispatcher.run()
    with session_scope(world.services.sessions) as session:
        rows = session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.event_id)).all()
        assert rows[0].attempts == 2 and rows[0].state == PENDING
        assert all(r.attempts == 0 for r in rows[1:])
        assert rows[0].next_at > world.clock() + timedelta(seconds=60)  # backed off, doubled
    receiver.down = False
    world.clock.advance(hours=2)
    dispatcher.run()
    ids = [e.id for e in receiver.got]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    with session_scope(world.services.sessions) as session:
        written = list(session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)))
    assert ids == written
    assert receiver.got[-1].kind == "dossier.await_payment"  # routing asked for the fees first
    assert dispatcher.metrics().subscribers["test"].pending == 0


def test_dead_letters_do_not_hold_the_dossier_and_can_be_replayed(world: World) -> None:
    ref = _dossier(world)
    receiver = Receiver()
    dispatcher = _dispatcher(world, receiver, max_attempts=3)
    with session_scope(world.services.sessions) as session:
        first = session.scalar(
            select(func.min(OutboxEvent.id)).where(OutboxEvent.dossier_id == ref)
        )
    assert first is not None
    receiver.refuse.add(first)
    dispatcher.run()
    metrics = dispatcher.metrics().subscribers["test"]
    assert metrics.dead == 1 and metrics.pending == 0 and metrics.delivered >= 2
    assert first not in [e.id for e in receiver.got]
    receiver.refuse.clear()
    assert dispatcher.replay(event_ids=[first]) == 1
    dispatcher.run()
    assert receiver.got[-1].id == first
    with session_scope(world.services.sessions) as session:
        row = session.scalar(select(OutboxDelivery).where(OutboxDelivery.event_id == first))
        assert row is not None and row.state == DELIVERED and row.last_response == "200"


def test_retries_end_in_a_dead_letter_with_the_reason(world: World) -> None:
    _dossier(world)
    receiver = Receiver(down=True)
    dispatcher = _dispatcher(world, receiver, max_attempts=3)
    for _ in range(4):
        dispatcher.run()
        world.clock.advance(hours=7)
    with session_scope(world.services.sessions) as session:
        row = session.scalar(select(OutboxDelivery).order_by(OutboxDelivery.event_id))
        assert row is not None and row.state == DEAD
        assert "connection refused" in row.last_error and row.attempts == 3


def test_a_new_subscriber_is_back_filled_by_replay(world: World) -> None:
    _dossier(world)
    old = Receiver(name="old")
    _dispatcher(world, old).run()
    new = Receiver(name="new")
    dispatcher = _dispatcher(world, old, new)
    dispatcher.run()
    assert new.got == []  # fanned out before it existed
    since = world.clock() - timedelta(days=1)
    assert dispatcher.replay(since=since, subscriber="new") == len(old.got)
    dispatcher.run()
    assert [e.id for e in new.got] == [e.id for e in old.got]


def test_two_dispatchers_never_deliver_the_same_event_twice(world: World) -> None:
    for i in range(5):
        _dossier(world, f"Người {i}")
    receiver = Receiver()
    a, b = _dispatcher(world, receiver), _dispatcher(world, receiver)
    # Interleave: b claims while a's leases are held.
    a.fan_out([receiver])
    claimed_a = a._claim({"test"})
    claimed_b = b._claim({"test"})
    assert claimed_a and not {c[0] for c in claimed_a} & {c[0] for c in claimed_b}


def test_the_operators_commands_show_dead_letters_and_replay_them(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from wiring.cli import app

    _dossier(world)
    receiver = Receiver(name="dvcqg")
    dispatcher = _dispatcher(world, receiver)
    with session_scope(world.services.sessions) as session:
        first = session.scalar(select(func.min(OutboxEvent.id)))
    assert first is not None
    receiver.refuse.add(first)
    dispatcher.run()
    monkeypatch.setenv("SOHOA_DATA_DIR", str(world.services.settings.data_dir))
    monkeypatch.setenv("SOHOA_PKI", "development")
    runner = CliRunner()

    status = runner.invoke(app, ["outbox", "status"])
    assert status.exit_code == 1, status.output  # a dead letter is an operator's problem
    assert "dvcqg:" in status.output and "1 dead" in status.output

    replay = runner.invoke(app, ["outbox", "replay", "--event", str(first)])
    assert replay.exit_code == 0 and "1 delivery(ies) back in line" in replay.output
    assert runner.invoke(app, ["outbox", "status"]).exit_code == 0
    bad = runner.invoke(app, ["outbox", "replay"])
    assert bad.exit_code == 2 and "name events or a time range" in bad.output


def test_the_lease_outlasts_a_portal_deliverys_calls(make_settings) -> None:  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from core.settings import LEASE_CALLS
    from wiring.connect import subscribers, upload_budget

    settings = make_settings(dvcqg_url="http://127.0.0.1:9/portal", outbox_lease_seconds=200)
    services = build(settings)
    assert services.dispatcher.policy.lease_seconds == 200
    (portal,) = [s for s in subscribers(services) if s.name == "dvcqg"]
    budget = upload_budget(settings)
    assert portal.budget_seconds == budget  # type: ignore[attr-defined]
    # The last upload may start just before the budget ends; it and the calls after it fit.
    assert budget + LEASE_CALLS * settings.dvcqg_timeout < settings.outbox_lease_seconds
    with pytest.raises(ValidationError, match="SOHOA_OUTBOX_LEASE_SECONDS"):
        make_settings(dvcqg_timeout=60, outbox_lease_seconds=300)


ZNS = {"dossier.receive": "231456"}


@pytest.mark.parametrize(
    ("remote", "here", "named"),
    [
        ({"dvcqg_url": "http://dvcqg.example.vn/api"}, {"dvcqg_url": "http://127.0.0.1:9/api"}, "SOHOA_DVCQG_URL"),
        ({"sms_url": "http://sms.example.vn/send"}, {"sms_url": "http://localhost:9/send"}, "SOHOA_SMS_URL"),
        ({"zalo_url": "http://zalo.example.vn/oa", "zalo_templates": ZNS}, {"zalo_url": "http://[::1]:9/oa", "zalo_templates": ZNS}, "SOHOA_ZALO_URL"),
        (
            {"smtp_host": "mail.example.vn", "smtp_password": "x", "smtp_starttls": False},
            {"smtp_host": "127.0.0.1", "smtp_password": "x", "smtp_starttls": False},
            "SOHOA_SMTP_PASSWORD",
        ),
    ],
)  # fmt: skip
def test_nothing_starts_that_would_send_secrets_in_the_clear(
    make_settings,  # type: ignore[no-untyped-def]
    remote: dict[str, object],
    here: dict[str, object],
    named: str,
) -> None:
    from core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=named):
        build(make_settings(**remote))
    # The same on this machine (a test server, a local relay) is allowed.
    build(make_settings(**here)).engine.dispose()
