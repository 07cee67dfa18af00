"""Integrators' webhooks end to end: subscriptions made through the admin API, events written by
the domain, the installation's own dispatcher delivering them over HTTP to a receiver that
checks every signature, timestamp and event id itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from connect.dispatcher import DEAD, DELIVERED, PENDING, to_event
from connect.errors import DeliveryFailed
from connect.webhooks import (
    KNOWN_KINDS,
    SecretBox,
    WebhookService,
    WebhookSubscriber,
    active_subscribers,
    check_events,
    check_url,
    sign,
    verify_signature,
)
from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.audit import AuditEvent
from dossiers.models import OutboxDelivery, OutboxEvent, WebhookSubscription
from dossiers.outbox import emit
from storage.db import session_scope
from tests.connect.webhook_receiver import Receiver
from tests.dossiers.world import (
    BUSINESS,
    FOREIGN,
    OTHER,
    OWN,
    VN,
    World,
    make_world,
    pay_fees,
    received_dossier,
)
from wiring.connect import subscribers
from wiring.factory import build

APPLICANT = ("Đặng Văn Hải", "001090099999")


@pytest.fixture
def world(make_settings) -> Iterator[World]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    yield make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN))
    services.engine.dispose()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*secrets: str, **options: Any) -> Receiver:
        receiver = Receiver(list(secrets), **options)
        receiver.start()
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.stop()


def _service(world: World, *, https_only: bool = False) -> WebhookService:
    s = world.services
    return WebhookService(s.sessions, s.url_secret, clock=world.clock, https_only=https_only)


def _dossier(world: World, clerk_id: str = "cong.ch", name: str = APPLICANT[0]) -> str:
    return received_dossier(world, clerk_id, name, APPLICANT[1])


def _events(world: World, **where: Any) -> list[OutboxEvent]:
    with session_scope(world.services.sessions) as session:
        rows = session.scalars(select(OutboxEvent).filter_by(**where).order_by(OutboxEvent.id))
        result = list(rows)
        session.expunge_all()
    return result


def _deliveries(world: World, subscriber: str) -> list[OutboxDelivery]:
    with session_scope(world.services.sessions) as session:
        rows = session.scalars(
            select(OutboxDelivery)
            .where(OutboxDelivery.subscriber == subscriber)
            .order_by(OutboxDelivery.event_id)
        )
        result = list(rows)
        session.expunge_all()
    return result


def _subscribe(world: World, receiver: Receiver, scope: str = "unit", code: str = OWN, events: list[str] | None = None) -> tuple[str, str]:  # fmt: skip
    made = _service(world).create(
        world.principal("quantri"),
        scope=scope,
        scope_code=code,
        url=receiver.url,
        events=events or ["dossier.*"],
    )
    receiver.secrets.append(made.secret)
    return made.id, made.secret


# -- delivery ---------------------------------------------------------------------------------


def test_a_units_events_arrive_signed_in_order_and_nothing_of_another_unit(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook_id, secret = _subscribe(world, receiver)
    mine = _dossier(world)
    theirs = _dossier(world, "minh.tv", "Lê Thị Hoa")
    report = world.services.dispatcher.run()

    expected = [e.id for e in _events(world, dossier_id=mine)]
    assert len(expected) >= 3 and receiver.ids == expected
    assert [r.kind for r in receiver.applied][:3] == [
        "dossier.create",
        "dossier.check",
        "dossier.receive",
    ]
    assert receiver.refused == [] and receiver.duplicates == []
    assert report.by_subscriber[f"webhook:{webhook_id}"] == len(expected)
    # Nothing of the other commune's dossier was even put in line for this webhook.
    assert {d.event_id for d in _deliveries(world, f"webhook:{webhook_id}")} == set(expected)
    assert not {e.id for e in _events(world, dossier_id=theirs)} & set(receiver.ids)
    for got in receiver.applied:
        # The documented scheme, checked by sohoa's own copy-me verifier too.
        assert verify_signature(secret, str(got.timestamp), got.raw, got.headers["sohoa-signature"])
        assert got.headers["sohoa-webhook-id"] == webhook_id
        assert got.body["unit_code"] == OWN and got.body["dossier_id"] == mine
        assert got.body["data"]["dossier"]["procedure_code"] == BUSINESS[0]
        # No person: neither the applicant's name nor the ID number leaves with an event.
        assert APPLICANT[0].encode() not in got.raw and APPLICANT[1].encode() not in got.raw
    assert all(d.last_response == "HTTP 200" for d in _deliveries(world, f"webhook:{webhook_id}"))
    # A second run sends nothing again.
    assert world.services.dispatcher.run().delivered == 0 and len(receiver.applied) == len(expected)


def test_a_province_webhook_takes_its_units_and_only_the_kinds_it_named(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    _subscribe(world, receiver, "province", "H99", ["dossier.receive", "dossier.deadline_near"])
    mine, theirs = _dossier(world), _dossier(world, "minh.tv", "Lê Thị Hoa")
    with session_scope(world.services.sessions) as session:
        emit(session, "dossier.deadline_near", at=world.clock(), unit_code=FOREIGN, due=1)
        emit(session, "dossier.deadline_near", at=world.clock(), unit_code=OTHER, due=2)
    world.services.dispatcher.run()
    # Order holds within a dossier; different dossiers' events are sent side by side.
    got = {(r.body["dossier_id"], r.kind, r.body["unit_code"]) for r in receiver.applied}
    assert len(receiver.applied) == 3 and got == {
        (mine, "dossier.receive", OWN),
        (theirs, "dossier.receive", OTHER),
        (None, "dossier.deadline_near", OTHER),
    }


def test_a_receiver_down_gets_everything_later_in_order_and_applies_nothing_twice(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook_id, _ = _subscribe(world, receiver)
    name = f"webhook:{webhook_id}"
    dispatcher = world.services.dispatcher
    receiver.stop()  # connection refused
    ref = _dossier(world)
    report = dispatcher.run()
    assert report.delivered == 0 and report.retried == 1  # the first in line only: order
    first = _deliveries(world, name)[0]
    assert first.state == PENDING and first.attempts == 1
    assert "cannot be reached" in first.last_error and "ConnectError" in first.last_error

    # Back, but in maintenance: answers 503; the dossier moves on meanwhile.
    receiver.mode = "unavailable"
    receiver.start()
    pay_fees(world, "cong.ch", ref)
    world.services.dossiers.route(world.principal("cong.ch"), ref)
    world.clock.advance(hours=1)
    dispatcher.run()
    rows = _deliveries(world, name)
    assert rows[0].attempts == 2 and rows[0].last_response == "HTTP 503: maintenance"
    assert all(r.attempts == 0 for r in rows[1:])  # nothing overtook the first
    assert receiver.applied == []

    receiver.mode = "up"
    world.clock.advance(hours=3)
    dispatcher.run()
    expected = [e.id for e in _events(world, dossier_id=ref)]
    assert receiver.ids == expected and expected[-1] == rows[-1].event_id
    assert receiver.applied[-1].kind == "dossier.route"
    assert all(r.state == DELIVERED for r in _deliveries(world, name))

    # A replay of delivered events sends them again; the receiver sees the ids it applied.
    again = _service(world).replay(
        world.principal("quantri"), webhook_id, dispatcher, event_ids=expected[:2]
    )
    assert again == 2
    dispatcher.run()
    assert receiver.duplicates == expected[:2] and receiver.ids == expected


def test_a_rotated_secret_signs_the_next_deliveries_and_nothing_is_lost_meanwhile(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook_id, old = _subscribe(world, receiver)
    service, admin = _service(world), world.principal("quantri")
    dispatcher = world.services.dispatcher
    _dossier(world)
    dispatcher.run()
    before = len(receiver.applied)
    assert before >= 3

    new = service.rotate(admin, webhook_id).secret
    assert new != old and new.startswith("whsec_")
    second = _dossier(world, name="Lê Thị Hoa")
    dispatcher.run()  # the receiver still knows only the old secret: refused, kept in line
    assert len(receiver.applied) == before and receiver.refused == ["signature"]
    rows = _deliveries(world, f"webhook:{webhook_id}")
    assert rows[before].state == PENDING and rows[before].last_response == "HTTP 401: bad signature"

    receiver.secrets = [new]
    world.clock.advance(hours=1)
    dispatcher.run()
    later = receiver.applied[before:]
    assert [r.event_id for r in later] == [e.id for e in _events(world, dossier_id=second)]
    for got in later:
        header, stamp = got.headers["sohoa-signature"], str(got.timestamp)
        assert verify_signature(new, stamp, got.raw, header)
        assert not verify_signature(old, stamp, got.raw, header)


def test_the_receiver_refuses_stale_timestamps_and_4xx_answers_are_retried(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook_id, _ = _subscribe(world, receiver)
    _dossier(world)
    event = _events(world)[0]
    sub = next(
        s
        for s in active_subscribers(world.services.sessions, world.services.url_secret, guard=False)
    )
    assert sub.name == f"webhook:{webhook_id}" and sub.wants(to_event(event))
    sub.now = lambda: time.time() - 3600  # a request captured an hour ago
    with pytest.raises(DeliveryFailed) as caught:
        sub.deliver(to_event(event))
    assert caught.value.retryable and caught.value.response == "HTTP 400: stale timestamp"
    assert receiver.refused == ["stale"] and receiver.applied == []

    # Any other refusal is retried too, and only the first words of the answer are kept.
    receiver.mode = "refuse"
    dispatcher = world.services.dispatcher
    dispatcher.run()
    row = _deliveries(world, sub.name)[0]
    assert row.state == PENDING and row.attempts == 1
    assert row.last_response.startswith("HTTP 422: we do not take this xxx")
    assert len(row.last_response) == len("HTTP 422: ") + 200
    for _ in range(world.services.settings.outbox_max_attempts):
        world.clock.advance(hours=8)  # past the longest wait, jitter included
        dispatcher.run()
    assert _deliveries(world, sub.name)[0].state == DEAD
    assert receiver.applied == []


def test_the_signature_scheme() -> None:
    secret, body, now = "whsec_test", b'{"id":1}', 1_800_000_000
    header = sign(secret, str(now), body)
    assert header.startswith("v1=") and len(header) == 3 + 64
    assert verify_signature(secret, str(now), body, header, now=now + 299)
    assert not verify_signature(secret, str(now), body, header, now=now + 301)  # stale
    assert not verify_signature(secret, str(now), body, header, now=now - 301)  # from the future
    assert not verify_signature("whsec_other", str(now), body, header, now=now)
    assert not verify_signature(secret, str(now), body + b" ", header, now=now)  # body changed
    assert not verify_signature(secret, str(now + 1), body, header, now=now)  # time changed
    assert not verify_signature(secret, "1.8e9", body, header, now=now)
    assert verify_signature(secret, str(now), body, f"v1=deadbeef, {header}", now=now)
    assert not verify_signature(secret, str(now), body, header.replace("v1=", "v0="), now=now)


def test_the_secret_is_stored_only_sealed_and_never_logged(
    world: World, receivers: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = receivers()
    service, admin = _service(world), world.principal("quantri")
    webhook_id, first = _subscribe(world, receiver)
    second = service.rotate(admin, webhook_id).secret
    receiver.secrets = [second]
    _dossier(world)
    world.services.dispatcher.run()
    assert receiver.applied and not receiver.refused
    with world.services.engine.connect() as conn:
        raw = [str(tuple(r)) for r in conn.execute(text("SELECT * FROM webhook_subscriptions"))]
        audit = [str(tuple(r)) for r in conn.execute(text("SELECT * FROM audit_events"))]
        log = [str(tuple(r)) for r in conn.execute(text("SELECT * FROM outbox_deliveries"))]
    dump = "\n".join(raw + audit + log + [caplog.text])
    for secret in (first, second):
        assert secret not in dump and secret[len("whsec_") :] not in dump
    with session_scope(world.services.sessions) as session:
        row = session.get(WebhookSubscription, webhook_id)
        assert row is not None
        sealed = row.secret_sealed
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_id == webhook_id)
                .order_by(AuditEvent.seq)
            )
        )
    assert actions == ["webhook.create", "webhook.rotate"]
    box = SecretBox(world.services.url_secret)
    assert box.open(webhook_id, sealed) == second
    with pytest.raises(Exception):  # noqa: B017 - any refusal: another installation's key
        SecretBox(b"another installation's secret").open(webhook_id, sealed)
    with pytest.raises(Exception):  # noqa: B017 - a sealed secret moved to another row
        box.open("0" * 32, sealed)


def test_a_secret_that_no_longer_opens_is_a_dead_letter_at_once(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    """The installation's URL secret changed: only a rotation helps, no retry will."""
    receiver = receivers()
    webhook_id, _ = _subscribe(world, receiver)
    _dossier(world)
    with session_scope(world.services.sessions) as session:
        row = session.get(WebhookSubscription, webhook_id)
        assert row is not None
        row.secret_sealed = SecretBox(b"the old url secret").seal(webhook_id, "whsec_x")
    world.services.dispatcher.run()
    rows = _deliveries(world, f"webhook:{webhook_id}")
    assert rows and all(r.state == DEAD and r.attempts == 1 for r in rows)
    assert "rotate" in rows[0].last_error and receiver.requests == 0


def _named(world: World, receiver: Receiver, host: str, *, guard: bool, addresses: list[str]) -> WebhookSubscriber:  # fmt: skip
    """The receiver's subscription as the dispatcher builds it, its URL naming ``host``,
    which resolves to ``addresses`` (a DNS answer we choose)."""
    webhook_id, _ = _subscribe(world, receiver)
    with session_scope(world.services.sessions) as session:
        row = session.get(WebhookSubscription, webhook_id)
        assert row is not None
        row.url = receiver.url.replace("127.0.0.1", host)
    sub = next(
        s
        for s in active_subscribers(world.services.sessions, world.services.url_secret, guard=guard)
        if s.subscription_id == webhook_id
    )
    sub.resolver = lambda name, port: addresses if name == host else []
    return sub


def test_a_delivery_goes_to_the_address_resolved_for_its_name(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    """The name is resolved once and the connection made to that address, naming the host in
    ``Host``; an address that refuses to connect gives way to the next one."""
    receiver = receivers()
    sub = _named(
        world, receiver, "hooks.example.test", guard=False, addresses=["127.0.0.2", "127.0.0.1"]
    )
    _dossier(world)
    event = to_event(_events(world)[0])
    assert sub.deliver(event) == "HTTP 200"
    assert receiver.ids == [event.id]
    assert receiver.applied[0].headers["host"] == f"hooks.example.test:{receiver.port}"


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], ["203.0.113.7", "127.0.0.1"], ["169.254.169.254"], ["::ffff:127.0.0.1"]],
)
def test_in_production_a_name_resolving_to_this_server_or_the_link_is_a_dead_letter(
    world: World, receivers: Callable[..., Receiver], answer: list[str]
) -> None:
    """A URL saved with an honest name that later resolves to this server (or the cloud's
    metadata address): nothing is sent, the administrator reads why in the delivery log."""
    receiver = receivers()
    sub = _named(world, receiver, "hooks.example.test", guard=True, addresses=answer)
    _dossier(world)
    with pytest.raises(DeliveryFailed) as failed:
        sub.deliver(to_event(_events(world)[0]))
    assert not failed.value.retryable
    refused = next(a for a in answer if a != "203.0.113.7")
    assert f"resolves to {refused}" in str(failed.value) and "replay" in str(failed.value)
    assert receiver.requests == 0


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.0.0.1", "localhost"]
)  # httpx refuses 0177.0.0.1
def test_loopback_spelled_otherwise_is_refused_by_what_the_system_resolves(
    world: World, receivers: Callable[..., Receiver], host: str
) -> None:
    """Forms the URL check cannot read as an address (a number, hex, octal, a name) are
    resolved by the system's own resolver at delivery, and refused for what they are."""
    receiver = receivers()
    webhook_id, _ = _subscribe(world, receiver)
    with session_scope(world.services.sessions) as session:
        row = session.get(WebhookSubscription, webhook_id)
        assert row is not None
        row.url = receiver.url.replace("127.0.0.1", host)
    (sub,) = (
        s
        for s in active_subscribers(world.services.sessions, world.services.url_secret, guard=True)
        if s.subscription_id == webhook_id
    )
    _dossier(world)
    with pytest.raises(DeliveryFailed, match=r"resolves to (127\.0\.0\.1|::1)") as failed:
        sub.deliver(to_event(_events(world)[0]))
    assert not failed.value.retryable and receiver.requests == 0


def test_the_guard_follows_where_the_installation_runs(world: World, make_settings) -> None:  # type: ignore[no-untyped-def]
    _service(world).create(
        world.principal("quantri"),
        scope="unit",
        scope_code=OWN,
        url="https://hooks.example.vn/x",
        events=["dossier.*"],
    )
    hooks = [s for s in subscribers(world.services) if isinstance(s, WebhookSubscriber)]
    assert [h.guard for h in hooks] == [False]  # a trial on this machine delivers to itself
    real = build(make_settings(public_url="https://sohoa.example.vn", sign_forms=False))
    try:
        hooks = [s for s in subscribers(real) if isinstance(s, WebhookSubscriber)]
        assert [h.guard for h in hooks] == [True]
    finally:
        real.engine.dispose()


def test_urls_and_kinds_are_checked() -> None:
    ok = "https://hooks.example.vn/sohoa?tenant=7"
    assert check_url(ok, https_only=True) == ok
    assert check_url("http://127.0.0.1:9000/x", https_only=False)
    for bad in (
        "ftp://hooks.example.vn/x",
        "https://user:pw@hooks.example.vn/x",
        "https://user@hooks.example.vn/x",
        "https:///x",
        "https://hooks.example.vn/x#y",
        "https://hooks.example.vn/a b",
        "https://hooks.example.vn:99999/x",
        "https://hooks.example.vn/" + "a" * 2000,
        "javascript:alert(1)",
    ):
        with pytest.raises(Exception) as caught:
            check_url(bad, https_only=False)
        assert getattr(caught.value, "code", None) == "webhook_url_invalid", bad
    for production_only in (
        "http://hooks.example.vn/x",
        "https://localhost/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest",
        "https://0.0.0.0/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://224.0.0.1/x",
    ):
        assert check_url(production_only, https_only=False)
        with pytest.raises(Exception) as caught:
            check_url(production_only, https_only=True)
        assert getattr(caught.value, "code", None) == "webhook_url_invalid", production_only
    assert check_events(["dossier.*", "document.digitized", "dossier.*"]) == [
        "dossier.*",
        "document.digitized",
    ]
    assert {"dossier.receive", "dossier.route", "dossier.create", "dossier.deadline_near"} <= (
        KNOWN_KINDS
    )
    for bad_kinds in ([], ["dossier.recieve"], ["*.dossier"], ["x"]):
        with pytest.raises(Exception) as caught:
            check_events(bad_kinds)
        assert getattr(caught.value, "code", None) == "webhook_events_invalid"


def test_every_kind_the_desk_emits_can_be_named(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    """A dossier taken through reception, fees, routing and its agency: every kind its events
    carry is one an integrator may name (a new desk step must be added to KNOWN_KINDS)."""
    ref = _dossier(world)
    pay_fees(world, "cong.ch", ref)
    svc = world.services.dossiers
    svc.route(world.principal("cong.ch"), ref)
    kinds = {e.kind for e in _events(world)}
    assert {"dossier.payment", "dossier.route"} <= kinds
    assert kinds <= KNOWN_KINDS, kinds - KNOWN_KINDS


# -- the admin API ----------------------------------------------------------------------------


@pytest.fixture
def api(world: World) -> Iterator[tuple[World, TestClient]]:
    client = TestClient(create_app(world.services))
    yield world, client
    client.close()


def _province_admin(world: World, staff_id: str, unit: str) -> dict[str, str]:
    with session_scope(world.services.sessions) as session:
        staffing.create_staff(
            session,
            BOOTSTRAP,
            staff_id=staff_id,
            name="Quản Trị Tỉnh",
            role="admin",
            unit_code=unit,
            today=date(2026, 3, 2),
        )
        session.flush()
        token = staffing.new_token(session, BOOTSTRAP, staff_id)
    return {"Authorization": f"Bearer {token}"}


def test_the_admin_api_manages_subscriptions_and_never_shows_a_secret_twice(
    api: tuple[World, TestClient], receivers: Callable[..., Receiver]
) -> None:
    world, client = api
    admin = world.headers("quantri")
    receiver = receivers()
    answers: list[str] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.request(method, f"/api/v1/admin/webhooks{path}", headers=admin, **kwargs)
        answers.append(response.text)
        return response

    made = client.post(
        "/api/v1/admin/webhooks",
        headers=admin,
        json={"scope": "unit", "scope_code": OWN, "url": receiver.url, "events": ["dossier.*"]},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    webhook_id, secret = body["id"], body["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert body["active"] is True and body["created_by"] == "quantri"
    assert body["subscriber"] == f"webhook:{webhook_id}" and body["events"] == ["dossier.*"]
    receiver.secrets.append(secret)

    listed = call("GET", "").json()["items"]
    assert [w["id"] for w in listed] == [webhook_id] and "secret" not in listed[0]
    assert call("GET", f"/{webhook_id}").json()["url"] == receiver.url
    changed = call("PATCH", f"/{webhook_id}", json={"events": ["dossier.receive"]})
    assert changed.status_code == 200 and changed.json()["events"] == ["dossier.receive"]
    assert call("PATCH", f"/{webhook_id}", json={}).status_code == 422

    # Deliveries and their log.
    _dossier(world)
    _dossier(world, name="Lê Thị Hoa")
    world.services.dispatcher.run()
    assert [r.kind for r in receiver.applied] == ["dossier.receive", "dossier.receive"]
    log = call("GET", f"/{webhook_id}/deliveries").json()
    assert [i["state"] for i in log["items"]] == ["delivered", "delivered"]
    assert log["items"][0]["event_id"] > log["items"][1]["event_id"]  # newest first
    assert log["items"][0]["last_response"] == "HTTP 200" and log["next_before"] is None
    assert log["items"][0]["next_at"] is None and log["items"][0]["delivered_at"]
    page = call("GET", f"/{webhook_id}/deliveries", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_before"] == page["items"][0]["id"]
    older = call(
        "GET", f"/{webhook_id}/deliveries", params={"limit": 1, "before": page["next_before"]}
    ).json()
    assert older["items"][0]["id"] == log["items"][1]["id"]
    assert call("GET", f"/{webhook_id}/deliveries", params={"state": "dead"}).json()["items"] == []
    assert call("GET", f"/{webhook_id}/deliveries", params={"state": "odd"}).status_code == 422

    # Replay: names events (delivered ones are sent again), or a range; nothing named is a 422.
    assert call("POST", f"/{webhook_id}/replay", json={}).status_code == 422
    first = log["items"][-1]["event_id"]
    replayed = call("POST", f"/{webhook_id}/replay", json={"event_ids": [first]})
    assert replayed.status_code == 200 and replayed.json()["replayed"] == 1
    world.services.dispatcher.run()
    assert receiver.duplicates == [first]

    rotated = call("POST", f"/{webhook_id}/secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    answers.pop()  # the one answer allowed to show it

    gone = call("DELETE", f"/{webhook_id}")
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert gone.json()["disabled_at"]
    assert call("DELETE", f"/{webhook_id}").status_code == 200  # twice is once
    for path, method in ((f"/{webhook_id}", "PATCH"), (f"/{webhook_id}/secret", "POST")):
        refused = call(method, path, json={"url": receiver.url})
        assert refused.status_code == 409 and refused.json()["code"] == "webhook_disabled"
    assert call("GET", "").json()["items"][0]["active"] is False
    assert not any(s.name == f"webhook:{webhook_id}" for s in subscribers(world.services))
    assert all(secret not in a and new_secret not in a for a in answers)
    assert call("GET", "/no-such-id").json()["code"] == "webhook_not_found"


def test_the_admin_api_refuses_bad_input_with_problems(api: tuple[World, TestClient]) -> None:
    world, client = api
    admin = world.headers("quantri")

    def create(**changes: Any) -> Any:
        body: dict[str, Any] = {"scope": "unit", "scope_code": OWN, "url": "https://h.example.vn/x"}
        body |= {"events": ["dossier.receive"], **changes}
        return client.post("/api/v1/admin/webhooks", headers=admin, json=body)

    for changes, code in (
        ({"url": "ftp://h.example.vn/x"}, "webhook_url_invalid"),
        ({"url": "https://me:secret@h.example.vn/x"}, "webhook_url_invalid"),
        ({"events": ["dossier.recieve"]}, "webhook_events_invalid"),
        ({"scope_code": "000.00.99.H99"}, "webhook_scope_invalid"),
        ({"scope": "province", "scope_code": "H00"}, "webhook_scope_invalid"),
        ({"scope": "district"}, "invalid_request"),
        ({"events": []}, "invalid_request"),
        ({"url": "https://h.example.vn/" + "a" * 2100}, "invalid_request"),
    ):
        answer = create(**changes)
        assert answer.status_code == 422, (changes, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == code, (changes, answer.text)
    assert "dossier.recieve" in create(events=["dossier.recieve"]).json()["detail"]
    # A merged unit is subscribed through its successor.
    staffing_merge = client.post(
        f"/api/v1/admin/units/{OTHER}/merge", headers=admin, json={"into": OWN, "on": "2026-03-01"}
    )
    assert staffing_merge.status_code == 200, staffing_merge.text
    closed = create(scope_code=OTHER)
    assert closed.json()["code"] == "webhook_scope_invalid" and OWN in closed.json()["detail"]
    assert create().status_code == 201
    # On this development installation http is allowed; in production it is not.
    assert create(url="http://127.0.0.1:9/x").status_code == 201


def test_production_takes_https_only(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False, public_url="https://sohoa.example.vn"))
    world = make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN))
    with TestClient(create_app(services)) as client:
        body = {"scope": "province", "scope_code": "H99", "events": ["*"]}
        for url, status in (
            ("http://hooks.example.vn/x", 422),
            ("https://127.0.0.1/x", 422),
            ("https://hooks.example.vn/x", 201),
        ):
            answer = client.post(
                "/api/v1/admin/webhooks", headers=world.headers("quantri"), json=body | {"url": url}
            )
            assert answer.status_code == status, (url, answer.text)
    services.engine.dispose()


def test_only_admins_and_only_of_their_province(api: tuple[World, TestClient]) -> None:
    world, client = api
    made = client.post(
        "/api/v1/admin/webhooks",
        headers=world.headers("quantri"),
        json={"scope": "unit", "scope_code": OWN, "url": "https://h.example.vn/x", "events": ["*"]},
    ).json()
    webhook_id = made["id"]
    for staff_id in ("lan.nt", "kiemtra", "tuphap", "harvest"):
        headers = world.headers(staff_id)
        for method, path in (
            ("GET", ""),
            ("POST", ""),
            ("GET", f"/{webhook_id}"),
            ("PATCH", f"/{webhook_id}"),
            ("DELETE", f"/{webhook_id}"),
            ("POST", f"/{webhook_id}/secret"),
            ("GET", f"/{webhook_id}/deliveries"),
            ("POST", f"/{webhook_id}/replay"),
        ):
            json: dict[str, Any] | None = {"events": ["*"]} if method == "PATCH" else None
            if path.endswith("replay"):
                json = {"event_ids": [1]}
            if method == "POST" and path == "":
                json = {"scope": "unit", "scope_code": OWN, "url": "https://a.vn/", "events": ["*"]}
            answer = client.request(
                method, f"/api/v1/admin/webhooks{path}", headers=headers, json=json
            )
            assert answer.status_code == 403, (staff_id, method, path, answer.text)
            assert answer.json()["code"] == "role_forbidden"
            assert made["secret"] not in answer.text and "h.example.vn" not in answer.text

    # An administrator of another province: the webhook does not exist for it.
    other = _province_admin(world, "quantri.h98", FOREIGN)
    assert client.get("/api/v1/admin/webhooks", headers=other).json()["items"] == []
    for method, path in (
        ("GET", f"/{webhook_id}"),
        ("DELETE", f"/{webhook_id}"),
        ("POST", f"/{webhook_id}/secret"),
        ("GET", f"/{webhook_id}/deliveries"),
    ):
        answer = client.request(method, f"/api/v1/admin/webhooks{path}", headers=other)
        assert answer.status_code == 404 and answer.json()["code"] == "webhook_not_found"
    refused = client.post(
        "/api/v1/admin/webhooks",
        headers=other,
        json={"scope": "province", "scope_code": "H99", "url": "https://a.vn/", "events": ["*"]},
    )
    assert refused.status_code == 422 and refused.json()["code"] == "webhook_scope_invalid"
    own = client.post(
        "/api/v1/admin/webhooks",
        headers=other,
        json={"scope": "province", "scope_code": "H98", "url": "https://a.vn/", "events": ["*"]},
    )
    assert own.status_code == 201
    assert [
        w["id"] for w in client.get("/api/v1/admin/webhooks", headers=other).json()["items"]
    ] == [own.json()["id"]]
    # The installation's administrator sees both; the webhook it made is untouched.
    everything = client.get("/api/v1/admin/webhooks", headers=world.headers("quantri")).json()
    assert {w["id"] for w in everything["items"]} == {webhook_id, own.json()["id"]}
    assert all(w["active"] for w in everything["items"])


def test_a_replay_back_fills_a_new_webhook_within_its_scope(
    world: World, receivers: Callable[..., Receiver]
) -> None:
    mine = _dossier(world)
    _dossier(world, "minh.tv", "Lê Thị Hoa")
    world.services.dispatcher.run()  # fanned out before the webhook existed
    receiver = receivers()
    webhook_id, _ = _subscribe(world, receiver)
    world.services.dispatcher.run()
    assert receiver.applied == []
    count = _service(world).replay(
        world.principal("quantri"),
        webhook_id,
        world.services.dispatcher,
        since=world.clock() - timedelta(days=1),
    )
    expected = [e.id for e in _events(world, dossier_id=mine)]
    assert count == len(expected)
    world.services.dispatcher.run()
    assert receiver.ids == expected
