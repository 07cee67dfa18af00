"""The procedures catalog: import, versions by effective date, replacement, bad files."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from dossiers.admin.catalog import (
    import_catalog,
    parse_catalog,
    procedure_in_force,
    procedures_in_force,
    sample_catalog,
)
from dossiers.errors import CatalogError, NotFound
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.conftest import TOKEN
from tests.dossiers.world import VN, make_world
from wiring.factory import build

TODAY = date(2026, 11, 27)


def _raw_sample() -> dict:
    from importlib import resources

    text = resources.files("dossiers").joinpath("data", "sample_catalog.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def test_the_sample_catalog_is_marked_and_complete() -> None:
    spec = sample_catalog()
    assert spec.sample is True and "not official" in spec.source
    assert len(spec.procedures) == 8
    names = " ".join(p.name for p in spec.procedures)
    for expected in (
        "khai sinh",
        "trích lục hộ tịch",
        "kết hôn",
        "biến động",
        "hộ kinh doanh",
        "giấy phép xây dựng",
        "trợ cấp xã hội",
    ):
        assert expected in names
    same_day = [p.code for p in spec.procedures if p.processing_days == 0]
    assert "2.000815" in same_day and "1.001193" in same_day
    assert any(len(p.agencies) > 1 for p in spec.procedures)  # an inter-linked route


def test_import_is_idempotent_and_versions_by_date(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    with session_scope(services.sessions) as session:
        first = import_catalog(session, sample_catalog(), today=TODAY)
        again = import_catalog(session, sample_catalog(), today=TODAY)
    assert len(first.created) == 8 and again.created == [] and len(again.unchanged) == 8

    raw = _raw_sample()
    land = next(p for p in raw["procedures"] if p["code"] == "1.004227")
    land["processing_days"] = 8
    land["effective_from"] = date(2027, 1, 1)
    with session_scope(services.sessions) as session:
        report = import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=TODAY)
    assert report.created == ["1.004227"]
    with session_scope(services.sessions) as session:
        old = procedure_in_force(session, "1.004227", date(2026, 12, 31))
        new = procedure_in_force(session, "1.004227", date(2027, 1, 1))
        assert (old.version, old.processing_days, old.effective_to) == (1, 10, date(2026, 12, 31))
        assert (new.version, new.processing_days) == (2, 8)
        with pytest.raises(NotFound):
            procedure_in_force(session, "1.004227", date(2025, 6, 30))

    # A change without a later date is refused: it would rewrite what dossiers were received under.
    land["processing_days"] = 7
    with session_scope(services.sessions) as session, pytest.raises(CatalogError) as exc:
        import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=TODAY)
    assert exc.value.code == "catalog_version_date"


def test_replace_retires_what_the_new_catalog_omits(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    raw = _raw_sample()
    with session_scope(services.sessions) as session:
        import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=TODAY)
    raw["procedures"] = [p for p in raw["procedures"] if p["code"] != "1.009994"]
    with session_scope(services.sessions) as session:
        report = import_catalog(
            session, parse_catalog(yaml.safe_dump(raw)), replace=True, today=TODAY
        )
    assert report.retired == ["1.009994"]
    with session_scope(services.sessions) as session:
        assert "1.009994" not in {p.code for p in procedures_in_force(session, date(2026, 11, 28))}
        assert procedure_in_force(session, "1.009994", TODAY).code == "1.009994"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("procedures: [1, 2", "not valid JSON or YAML"),
        ("- a list", "must hold a mapping"),
        ("procedures: [{code: '1.1'}]", "does not match"),
        ('{"procedures": [], "extra": 1}', "does not match"),
    ],
)
def test_bad_catalogs_are_refused_with_reasons(text: str, needle: str) -> None:
    with pytest.raises(CatalogError, match=needle):
        parse_catalog(text)


def test_a_procedure_routed_to_an_unknown_agency_is_refused(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    raw = _raw_sample()
    raw["units"] = []
    with session_scope(services.sessions) as session, pytest.raises(CatalogError) as exc:
        import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=TODAY)
    assert exc.value.code == "catalog_unknown_unit"


def test_an_empty_replacing_catalog_retires_nothing(make_settings) -> None:  # type: ignore[no-untyped-def]
    """An empty or truncated file sent with replace=true would retire every procedure: refused."""
    services = build(make_settings(sign_forms=False))
    client = TestClient(create_app(services))
    admin = {"Authorization": f"Bearer {TOKEN}"}
    loaded = client.post(
        "/api/v1/admin/catalog",
        headers=admin,
        content=yaml.safe_dump(_raw_sample(), allow_unicode=True).encode(),
    )
    assert loaded.status_code == 200
    for body in (b"{}\n", b"units: []\n"):
        refused = client.post(
            "/api/v1/admin/catalog", params={"replace": "true"}, headers=admin, content=body
        )
        assert refused.status_code == 422 and refused.json()["code"] == "catalog_empty"
    in_force = client.get("/api/v1/procedures", headers=admin).json()
    assert in_force["items"], "every procedure is still in force"
    # Units alone, without replace, are still welcome.
    units = client.post("/api/v1/admin/catalog", headers=admin, content=b"units: []\n")
    assert units.status_code == 200 and units.json()["retired"] == []


def test_catalog_through_the_api(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    client = TestClient(create_app(services))
    admin = {"Authorization": f"Bearer {TOKEN}"}
    text = _raw_sample()
    resp = client.post(
        "/api/v1/admin/catalog",
        headers=admin,
        content=yaml.safe_dump(text, allow_unicode=True).encode(),
    )
    assert resp.status_code == 200 and resp.json()["sample"] is True
    bad = client.post("/api/v1/admin/catalog", headers=admin, content=b"procedures: [{}]")
    assert bad.status_code == 422 and bad.json()["code"] == "catalog_invalid"
    # Each error's place is a list of steps, as in every other problem's ``errors``.
    assert all(isinstance(e["loc"], list) for e in bad.json()["errors"])
    assert bad.json()["errors"] and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    huge = client.post("/api/v1/admin/catalog", headers=admin, content=b"#" * (6 * 2**20))
    assert huge.status_code == 413
    found = client.get("/api/v1/procedures", headers=admin, params={"q": "CHUNG THUC"}).json()
    assert [p["code"] for p in found["items"]] == ["2.000815"]
    detail = client.get("/api/v1/procedures/2.000815", headers=admin).json()
    assert detail["same_day"] is True and detail["fees"][0]["amount"] == 2000
    assert detail["versions"][0]["version"] == 1
    assert client.get("/api/v1/procedures/9.999999", headers=admin).status_code == 404
    client.close()


def test_a_dossier_keeps_the_procedure_version_it_was_opened_under(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    world = make_world(services, datetime(2026, 12, 30, 9, 0, tzinfo=VN))
    clerk = world.principal("lan.nt")
    ref = services.dossiers.create(
        clerk,
        procedure_code="1.004227",
        applicant=ApplicantIn("Lý Thị Hoa", "CCCD", "001190000001"),
    )
    raw = _raw_sample()
    land = next(p for p in raw["procedures"] if p["code"] == "1.004227")
    land["processing_days"], land["effective_from"] = 5, date(2026, 12, 31)
    with session_scope(services.sessions) as session:
        import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=TODAY)
    services.dossiers.check_components(
        clerk, ref, {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2}
    )
    world.clock.set(datetime(2026, 12, 31, 9, 0, tzinfo=VN))
    services.dossiers.receive(clerk, ref)
    with session_scope(services.sessions) as session:
        d = services.dossiers.find(session, clerk, ref)
        # Opened under version 1 (10 working days), received after version 2 took effect.
        assert d.due_at == datetime(2027, 1, 15, 17, 0, tzinfo=VN)
