"""The outbox for operators: state, delivery log and replay through the admin API, and the
Prometheus series; installation administrators only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from connect.base import Event
from connect.dispatcher import Dispatcher, DispatchPolicy
from connect.errors import DeliveryFailed
from dossiers.workflow.service import ApplicantIn
from tests.dossiers.world import VN, World, make_world
from wiring.factory import build


class Refusing:
    name = "portal"

    def __init__(self) -> None:
        self.refuse = True
        self.got: list[int] = []

    def wants(self, event: Event) -> bool:
        return event.kind == "dossier.create"

    def deliver(self, event: Event) -> str:
        if self.refuse:
            raise DeliveryFailed("MaTTHC unknown", response="E_TTHC", retryable=False)
        self.got.append(event.id)
        return "ok"


@pytest.fixture
def world(make_settings) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield make_world(build(make_settings(sign_forms=False)), datetime(2026, 3, 2, 8, 0, tzinfo=VN))


def test_dead_letters_are_listed_and_replayed(world: World) -> None:
    portal = Refusing()
    world.services.dispatcher = Dispatcher(
        world.services.sessions, lambda: [portal], clock=world.clock, policy=DispatchPolicy()
    )
    clerk = world.principal("cong.ch")
    world.services.dossiers.create(
        clerk, procedure_code="2.000720", applicant=ApplicantIn("Lê Hoa", "CCCD", "001090099999")
    )
    world.services.dispatcher.run()
    client = TestClient(create_app(world.services))
    admin = world.headers("quantri")

    state = client.get("/api/v1/admin/outbox", headers=admin)
    assert state.status_code == 200, state.text
    assert state.json()["subscribers"]["portal"]["dead"] == 1

    log = client.get("/api/v1/admin/outbox/portal/deliveries?state=dead", headers=admin).json()
    [entry] = log["items"]
    assert entry["kind"] == "dossier.create" and entry["last_response"] == "E_TTHC"
    assert "MaTTHC unknown" in entry["last_error"]

    metrics = client.get("/metrics", headers=admin).text
    assert 'sohoa_outbox_dead{subscriber="portal"} 1.0' in metrics

    portal.refuse = False
    resp = client.post(
        "/api/v1/admin/outbox/replay", headers=admin, json={"event_ids": [entry["event_id"]]}
    )
    assert resp.json() == {"replayed": 1}
    world.services.dispatcher.run()
    assert portal.got == [entry["event_id"]]
    assert (
        client.get("/api/v1/admin/outbox", headers=admin).json()["subscribers"]["portal"]["dead"]
        == 0
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"since": "2026-03-02T10:00:00+07:00", "until": "2026-03-01T10:00:00+07:00"},
        {"event_ids": [1], "subscriber": "nobody"},
        {"event_ids": ["x"]},
        {"event_ids": [1] * 1001},
        {"since": "hôm qua"},
        {"event_ids": [2**70]},
    ],
)
def test_a_bad_replay_is_a_problem_not_an_error(world: World, body: dict[str, object]) -> None:
    client = TestClient(create_app(world.services))
    resp = client.post("/api/v1/admin/outbox/replay", headers=world.headers("quantri"), json=body)
    assert resp.status_code in (400, 422), resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("staff", ["lan.nt", "tuphap", "kiemtra", "harvest"])
def test_only_installation_admins_see_the_outbox(world: World, staff: str) -> None:
    client = TestClient(create_app(world.services))
    assert client.get("/api/v1/admin/outbox", headers=world.headers(staff)).status_code == 403
    resp = client.post(
        "/api/v1/admin/outbox/replay", headers=world.headers(staff), json={"event_ids": [1]}
    )
    assert resp.status_code == 403


def test_a_subscriber_name_longer_than_any_is_refused(world: World) -> None:
    client = TestClient(create_app(world.services))
    resp = client.get(
        f"/api/v1/admin/outbox/{'a' * 65}/deliveries", headers=world.headers("quantri")
    )
    assert resp.status_code == 422 and resp.json()["code"] == "invalid_request"
