"""The audit chain through the API: what the counter does, signs and downloads is recorded;
auditors read their province's events; an edit made behind the service's back is found."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.dossiers.world import VN, make_world
from wiring.factory import build

APPLICANT = {"name": "Hồ Thị Kim", "id_type": "CCCD", "id_number": "001190004444"}
BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}


def test_the_counters_day_is_in_the_chain(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings())
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    clerk = world.headers("lan.nt")
    d = client.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.001193", "applicant": APPLICANT},
    ).json()
    client.post(
        f"/api/v1/dossiers/{d['id']}/components/check", headers=clerk, json={"provided": BIRTH}
    )
    code = client.post(f"/api/v1/dossiers/{d['id']}/receive", headers=clerk).json()["code"]
    client.get(f"/api/v1/dossiers/{code}", headers=clerk)
    form = client.get(f"/api/v1/dossiers/{code}/forms", headers=clerk).json()["items"][0]
    assert client.get(form["file_url"], headers=clerk).status_code == 200

    auditor = world.headers("kiemtra")
    events = client.get("/api/v1/audit/events", headers=auditor, params={"dossier": code})
    assert events.status_code == 200, events.text
    actions = [(e["action"], e["actor_id"]) for e in events.json()["items"]]
    assert actions == [
        ("dossier.create", "lan.nt"),
        ("dossier.check", "lan.nt"),
        ("dossier.receive", "lan.nt"),
        ("personal_data.read", "lan.nt"),
        ("form.download", "lan.nt"),
    ]
    receive = events.json()["items"][2]
    assert receive["data"]["to_status"] == 2 and receive["data"]["code"] == code
    # Filters, and who may read.
    by_actor = client.get(
        "/api/v1/audit/events", headers=auditor, params={"actor_id": "lan.nt", "limit": 2}
    ).json()
    assert len(by_actor["items"]) == 2 and by_actor["next_after_seq"] == by_actor["items"][1]["seq"]
    assert client.get("/api/v1/audit/events", headers=clerk).status_code == 403
    foreign = client.get("/api/v1/audit/events", headers=world.headers("kiemtra.b")).json()
    assert foreign["items"] == []
    assert (
        client.get(
            "/api/v1/audit/events", headers=world.headers("kiemtra.b"), params={"dossier": code}
        ).status_code
        == 404
    )

    verified = client.get("/api/v1/audit/verify", headers=auditor).json()
    assert verified["ok"] is True and verified["checked"] == 5

    # An edit made directly in the database, past the trigger, breaks the chain there.
    with services.engine.begin() as conn:
        triggers = (
            conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_events'"
                )
            )
            .scalars()
            .all()
        )
        for name in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(text("UPDATE audit_events SET actor_id = 'someone.else' WHERE seq = 3"))
    broken = client.get("/api/v1/audit/verify", headers=auditor).json()
    assert broken["ok"] is False
    assert (broken["first_broken_seq"], broken["reason"]) == (3, "hash_mismatch")
    client.close()
