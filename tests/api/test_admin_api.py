"""Administration, the catalog and the units through the API: each answer carries exactly the
keys its model declares (a key the model forgot would vanish silently), with the values a
client reads, and the ids of new rows are real ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from dossiers.admin.catalog import sample_catalog
from tests.dossiers.world import FOREIGN, OTHER, OWN, VN, World, make_world
from wiring.factory import build

UNIT_KEYS = {
    "code", "name", "kind", "level", "area", "province_code", "valid_from", "valid_to",
    "successor_code", "postal_contact",
}  # fmt: skip
PROCEDURE_KEYS = {
    "code", "version", "name", "field_code", "field_name", "level", "agencies",
    "processing_days", "same_day", "effective_from", "effective_to", "components", "fees",
    "results", "sample",
}  # fmt: skip


@pytest.fixture
def api(make_settings) -> Iterator[tuple[World, TestClient]]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    yield world, client
    client.close()
    services.engine.dispose()


def _admin(world: World) -> dict[str, str]:
    return world.headers("quantri")


def test_units_are_created_merged_and_given_a_postal_contact(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    new = "000.00.19.H99"
    created = client.post(
        "/api/v1/admin/units",
        headers=_admin(world),
        json={
            "code": new,
            "name": "UBND xã Mới",
            "kind": "one_stop",
            "valid_from": "2026-01-01",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "code": new,
        "name": "UBND xã Mới",
        "kind": "one_stop",
        "level": "commune",
        "area": "urban",
        "province_code": "H99",
        "valid_from": "2026-01-01",
        "valid_to": None,
        "successor_code": None,
        "postal_contact": {},
    }
    contact = client.put(
        f"/api/v1/admin/units/{new}/postal-contact",
        headers=_admin(world),
        json={"name": "Bưu điện xã", "phone": "0200"},
    )
    assert contact.status_code == 200, contact.text
    assert contact.json()["postal_contact"] == {
        "name": "Bưu điện xã",
        "phone": "0200",
        "email": "",
        "enterprise": "",
    }
    merged = client.post(
        f"/api/v1/admin/units/{new}/merge",
        headers=_admin(world),
        json={"into": OWN, "on": "2026-12-01"},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json().keys() == UNIT_KEYS
    assert (merged.json()["valid_to"], merged.json()["successor_code"]) == ("2026-11-30", OWN)

    units = client.get("/api/v1/units", headers=world.headers("lan.nt")).json()["items"]
    assert {u["code"] for u in units} >= {OWN, OTHER, FOREIGN, new}
    assert all(u.keys() == UNIT_KEYS for u in units)
    agencies = client.get(
        "/api/v1/units", headers=world.headers("lan.nt"), params={"kind": "agency"}
    ).json()["items"]
    assert agencies and {u["kind"] for u in agencies} == {"agency"}


def test_the_postal_plan(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    plan = client.get(f"/api/v1/admin/units/{OWN}/postal-plan", headers=_admin(world))
    assert plan.status_code == 200, plan.text
    assert plan.json()["unit_code"] == OWN
    kept = next(i for i in plan.json()["items"] if i["field_code"] == "G15-CT")
    assert kept == {
        "field_code": "G15-CT",
        "procedure_code": None,
        "postal_from": None,
        "note": "same-day certification stays with civil servants",
    }
    added = client.post(
        "/api/v1/admin/postal-plan",
        headers=_admin(world),
        json={
            "unit_code": OWN,
            "field_code": "G15-CT",
            "procedure_code": "1.001193",
            "postal_from": "2027-01-01",
        },
    )
    assert added.status_code == 201, added.text
    assert {
        "field_code": "G15-CT",
        "procedure_code": "1.001193",
        "postal_from": "2027-01-01",
        "note": "",
    } in added.json()["items"]


def test_staff_tokens_and_probation(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    auditor = client.post(
        "/api/v1/admin/staff",
        headers=_admin(world),
        json={"id": "kiem.tra2", "name": "Kiểm Tra Hai", "role": "auditor", "unit_code": OWN},
    )
    assert auditor.status_code == 201, auditor.text
    # Only a counter clerk is told about a certificate.
    assert auditor.json() == {"id": "kiem.tra2", "role": "auditor", "unit_code": OWN}
    admin = client.post(
        "/api/v1/admin/staff",
        headers=_admin(world),
        json={"id": "quantri2", "name": "Quản Trị Hai", "role": "admin"},
    )
    assert admin.json() == {"id": "quantri2", "role": "admin", "unit_code": None}
    trainee = client.post(
        "/api/v1/admin/staff",
        headers=_admin(world),
        json={
            "id": "tap.su",
            "name": "Tập Sự",
            "role": "counter",
            "unit_code": OWN,
            "employer": "postal",
            "probation_until": "2026-12-31",
            "supervisor_id": "cong.ch",
        },
    )
    assert trainee.status_code == 201, trainee.text
    assert trainee.json() == {
        "id": "tap.su",
        "role": "counter",
        "unit_code": OWN,
        "dev_certificate": True,
    }

    token = client.post(
        "/api/v1/admin/staff/tap.su/tokens", headers=_admin(world), json={"label": "desk 2"}
    )
    assert token.status_code == 201, token.text
    assert token.json().keys() == {"staff_id", "token"} and token.json()["token"]
    evaluation = client.post(
        "/api/v1/admin/staff/tap.su/probation-evaluation",
        headers=_admin(world),
        json={"passed": True, "note": "đạt yêu cầu"},
    )
    assert evaluation.status_code == 200, evaluation.text
    body = evaluation.json()
    assert (body["id"], body["active"]) == ("tap.su", True)
    assert body["evaluation"]["result"] == "passed" and body["evaluation"]["note"] == "đạt yêu cầu"
    assert body["evaluation"].keys() == {"result", "by", "at", "note"}
    assert datetime.fromisoformat(body["evaluation"]["at"]).tzinfo is not None
    revoked = client.delete("/api/v1/admin/staff/tap.su/tokens", headers=_admin(world))
    assert revoked.json() == {"staff_id": "tap.su", "revoked": 1}


def test_backups_series_and_calendar(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    backup = client.post(
        "/api/v1/admin/backups",
        headers=_admin(world),
        json={
            "unit_code": OWN,
            "staff_id": "minh.tv",
            "covers_staff_id": "lan.nt",
            "valid_from": "2026-12-01",
            "valid_to": "2026-12-05",
        },
    )
    assert backup.status_code == 201, backup.text
    assert backup.json().keys() == {"id", "unit_code", "staff_id"}
    assert isinstance(backup.json()["id"], str) and backup.json()["id"]
    series = client.post(
        "/api/v1/admin/receipt-series",
        headers=_admin(world),
        json={
            "unit_code": OWN,
            "form_symbol": "01BLP0-001",
            "series": "BL-27E",
            "collector_name": "Văn phòng Đăng ký đất đai tỉnh Mẫu",
            "valid_from": "2027-01-01",
        },
    )
    assert series.status_code == 201, series.text
    assert series.json()["id"] and {k: v for k, v in series.json().items() if k != "id"} == {
        "unit_code": OWN,
        "form_symbol": "01BLP0-001",
        "series": "BL-27E",
    }
    day = client.put(
        "/api/v1/admin/calendar/2027-02-13",
        headers=_admin(world),
        json={"day": "2027-02-13", "working": True, "note": "làm bù Tết"},
    )
    assert day.status_code == 200, day.text
    assert day.json() == {"day": "2027-02-13", "working": True, "note": "làm bù Tết"}


def _catalog() -> bytes:
    raw = sample_catalog().model_dump(mode="json")
    text: str = yaml.safe_dump(raw, allow_unicode=True)
    return text.encode()


def test_catalog_import_and_reading(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    again = client.post("/api/v1/admin/catalog", headers=_admin(world), content=_catalog())
    assert again.status_code == 200, again.text
    body = again.json()
    assert body.keys() == {"sample", "created", "unchanged", "retired", "units"}
    assert body["sample"] is True and body["created"] == [] and len(body["unchanged"]) == 8

    clerk = world.headers("lan.nt")
    listed = client.get("/api/v1/procedures", headers=clerk, params={"q": "khai sinh"})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert items and all(p.keys() == PROCEDURE_KEYS for p in items)
    one = client.get(f"/api/v1/procedures/{items[0]['code']}", headers=clerk)
    assert one.status_code == 200, one.text
    detail = one.json()
    assert detail.keys() == PROCEDURE_KEYS | {"versions"}
    assert detail["versions"] == [
        {"version": 1, "effective_from": detail["effective_from"], "effective_to": None}
    ]
    spec = next(p for p in sample_catalog().procedures if p.code == detail["code"])
    assert detail["components"] == [c.model_dump() for c in spec.components]
    assert detail["fees"] == [f.model_dump() for f in spec.fees]
    assert detail["results"] == [r.model_dump() for r in spec.results]
    assert detail["same_day"] == (detail["processing_days"] == 0)
