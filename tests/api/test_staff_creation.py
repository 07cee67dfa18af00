"""Creating a staff member is one unit of work: an id the staff rule or the PKI refuses, or any
later failure, leaves no row behind (a refused id used to create the account anyway)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from dossiers.models import Staff
from storage.db import session_scope
from tests.dossiers.world import OWN, VN, World, make_world
from wiring.factory import build


@pytest.fixture
def api(make_settings) -> Iterator[tuple[World, TestClient]]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services), raise_server_exceptions=False)
    yield world, client
    client.close()
    services.engine.dispose()


def _staff(world: World, staff_id: str) -> tuple[int, bool]:
    with session_scope(world.services.sessions) as session:
        total = session.scalar(select(func.count()).select_from(Staff)) or 0
        return total, session.get(Staff, staff_id) is not None


@pytest.mark.parametrize(
    ("staff_id", "code"),
    [
        ("-lan", "staff_id_invalid"),  # the domain's rule, now the PKI's rule
        ("_lan", "staff_id_invalid"),
        ("unit", "invalid_clerk_id"),  # the PKI keeps this name for the unit certificate
    ],
)
def test_a_refused_staff_id_creates_nothing(api, staff_id: str, code: str) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    before, _ = _staff(world, staff_id)
    resp = client.post(
        "/api/v1/admin/staff",
        headers=world.headers("quantri"),
        json={"id": staff_id, "name": "Nguyễn Văn Mới", "role": "counter", "unit_code": OWN},
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == code
    assert _staff(world, staff_id) == (before, False)
    # Nothing half-made blocks the same person under a good id.
    again = client.post(
        "/api/v1/admin/staff",
        headers=world.headers("quantri"),
        json={"id": "moi.nv", "name": "Nguyễn Văn Mới", "role": "counter", "unit_code": OWN},
    )
    assert again.status_code == 201, again.text
    assert again.json()["dev_certificate"] is True
    assert _staff(world, "moi.nv") == (before + 1, True)


def test_a_failing_certificate_rolls_the_row_back(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Whatever fails after the row is written (here the certificate), the row goes too."""
    from signing.errors import SignerConfigError
    from wiring import factory

    def broken(*_: object) -> bool:
        raise SignerConfigError("the development PKI is unreadable")

    monkeypatch.setattr(factory, "enroll_dev_clerk", broken)
    world, client = api
    before, _ = _staff(world, "hoa.lt")
    resp = client.post(
        "/api/v1/admin/staff",
        headers=world.headers("quantri"),
        json={"id": "hoa.lt", "name": "Lê Thị Hoa", "role": "counter", "unit_code": OWN},
    )
    assert resp.status_code >= 400 and resp.headers["content-type"] == "application/problem+json"
    assert _staff(world, "hoa.lt") == (before, False)


def test_where_a_staff_members_deadline_alerts_go(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    admin = world.headers("quantri")
    made = client.post(
        "/api/v1/admin/staff",
        headers=admin,
        json={"id": "hoa.lt", "name": "Lê Thị Hoa", "role": "counter", "unit_code": OWN,
              "email": "Hoa.LT@BuuDien.VN"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    with session_scope(world.services.sessions) as session:
        staff = session.get(Staff, "hoa.lt")
        assert staff is not None and staff.email == "Hoa.LT@buudien.vn"  # the domain lowercased
    moved = client.put(
        "/api/v1/admin/staff/hoa.lt/email", headers=admin, json={"email": "hoa@example.vn"}
    )
    assert moved.json() == {"id": "hoa.lt", "email": "hoa@example.vn"}
    bad = client.put("/api/v1/admin/staff/hoa.lt/email", headers=admin, json={"email": "hoa@"})
    assert bad.status_code == 422 and bad.json()["code"] == "notify_invalid"
    gone = client.put("/api/v1/admin/staff/nobody/email", headers=admin, json={"email": ""})
    assert gone.status_code == 404
    clerk = client.put(
        "/api/v1/admin/staff/hoa.lt/email", headers=world.headers("lan.nt"), json={"email": ""}
    )
    assert clerk.status_code == 403
    with session_scope(world.services.sessions) as session:
        staff = session.get(Staff, "hoa.lt")
        assert staff is not None and staff.email == "hoa@example.vn"
