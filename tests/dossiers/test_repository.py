"""The repository: digitized papers get codes, a second dossier of the same owner reuses one
without a scan, and the digitization and reuse rates count it."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from dossiers.models import RepositoryRecord
from dossiers.workflow.scanhooks import ComponentRef
from ingest.runner import run_step
from ingest.upload import accept_upload
from ingest.validate import spool
from storage.db import session_scope
from tests.dossiers.world import OWN, VN, make_world
from tests.ocr.pagegen import A6, render_page
from wiring.factory import build

OWNER = {"name": "Bùi Thị Lan", "id_type": "CCCD", "id_number": "001190007777"}
PAPERS = {"giay_de_nghi": 1, "ban_sao_cccd": 1}


def _scan(services, dossier_id: str, component_id: str, clerk: str, text: str) -> None:  # type: ignore[no-untyped-def]
    page = render_page(
        size_in=A6, paragraphs=(text, "Số: 12/2026/GCN", "ngày 03 tháng 11 năm 2026")
    )
    buf = io.BytesIO()
    page.image.save(buf, "PNG", dpi=(300, 300))
    spooled = spool(
        [buf.getvalue()], services.settings.work_dir / f"{component_id}.png", max_bytes=10**7
    )
    scan = accept_upload(
        services,
        spooled,
        filename="page.png",
        clerk_id=clerk,
        unit_code=OWN,
        target=ComponentRef(dossier_id, component_id),
    ).scan
    assert run_step(services, scan.id, "ocr") and run_step(services, scan.id, "sign")


@pytest.mark.slow
def test_a_second_dossier_reuses_a_paper_and_the_rates_count_it(make_settings) -> None:
    # The world's harvester is bound to no unit: granted every province, as a national one.
    services = build(make_settings(sign_forms=False, harvest_grants={"harvest": ["*"]}))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    clerk = world.headers("lan.nt")

    def open_dossier() -> dict:
        resp = client.post(
            "/api/v1/dossiers",
            headers=clerk,
            json={"procedure_code": "2.000720", "applicant": OWNER},
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    first = open_dossier()
    comps = {c["key"]: c["id"] for c in first["components"]}
    client.post(
        f"/api/v1/dossiers/{first['id']}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    client.post(f"/api/v1/dossiers/{first['id']}/receive", headers=clerk)
    _scan(services, first["id"], comps["ban_sao_cccd"], "lan.nt", "CĂN CƯỚC CÔNG DÂN")
    with session_scope(services.sessions) as session:
        (record,) = session.scalars(select(RepositoryRecord)).all()
        assert record.code.startswith("001190007777.BAN-SAO-CCCD.")
        assert record.code.endswith(".01") and record.kind == "component"
        assert record.owner_id == "001190007777" and not record.hidden
        record_id = record.id

    second = open_dossier()
    comp2 = {c["key"]: c["id"] for c in second["components"]}
    offered = client.get(
        f"/api/v1/dossiers/{second['id']}/components/{comp2['ban_sao_cccd']}/reusable",
        headers=clerk,
    ).json()["items"]
    assert [o["id"] for o in offered] == [record_id]
    # Nothing is offered for a paper type the owner never had digitized.
    none = client.get(
        f"/api/v1/dossiers/{second['id']}/components/{comp2['giay_de_nghi']}/reusable",
        headers=clerk,
    ).json()["items"]
    assert none == []
    taken = client.post(
        f"/api/v1/dossiers/{second['id']}/components/{comp2['ban_sao_cccd']}/reuse",
        headers=clerk,
        json={"record_id": record_id},
    )
    assert taken.status_code == 200 and taken.json()["flag"] == 1
    twice = client.post(
        f"/api/v1/dossiers/{second['id']}/components/{comp2['ban_sao_cccd']}/reuse",
        headers=clerk,
        json={"record_id": record_id},
    )
    assert twice.status_code == 409
    # Only the application form is brought; the copy of the ID card came from the repository.
    client.post(
        f"/api/v1/dossiers/{second['id']}/components/check",
        headers=clerk,
        json={"provided": {"giay_de_nghi": 1}},
    )
    received = client.post(f"/api/v1/dossiers/{second['id']}/receive", headers=clerk)
    assert received.status_code == 200, received.text
    body = client.get(f"/api/v1/dossiers/{second['id']}", headers=clerk).json()
    reused = next(c for c in body["components"] if c["key"] == "ban_sao_cccd")
    assert reused["reused"]["record_id"] == record_id and reused["scans"] == []

    # A third dossier, not digitized at all.
    third = client.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={
            "procedure_code": "2.000720",
            "applicant": {"name": "Khác", "id_type": "CCCD", "id_number": "001190008888"},
        },
    ).json()
    client.post(
        f"/api/v1/dossiers/{third['id']}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    client.post(f"/api/v1/dossiers/{third['id']}/receive", headers=clerk)

    report = client.get(
        "/api/v1/reports/digitization",
        headers=clerk,
        params={"start": "2026-11-27", "end": "2026-11-27"},
    ).json()
    assert (report["received"], report["digitized"], report["reused"]) == (3, 2, 1)
    assert report["digitization_rate"] == pytest.approx(2 / 3)
    assert report["reuse_rate"] == pytest.approx(1 / 3)
    assert report["target"] == 0.8 and report["meets_target"] is False
    # The provincial database harvests the record, without the OCR text.
    feed = client.get("/api/v1/feed", headers=world.headers("harvest"))
    assert feed.status_code == 200, feed.text
    (item,) = feed.json()["items"]
    assert item["code"].startswith("001190007777.BAN-SAO-CCCD.") and "text" not in item
    oai = client.get(
        "/oai",
        headers=world.headers("harvest"),
        params={"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"},
    )
    assert oai.status_code == 200 and f"oai:sohoa:{record_id}" in oai.text
    other = client.get(
        "/api/v1/reports/digitization",
        headers=world.headers("minh.tv"),
        params={"start": "2026-11-27", "end": "2026-11-27"},
    ).json()
    assert other["received"] == 0
    client.close()
