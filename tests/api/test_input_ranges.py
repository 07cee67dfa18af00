"""Bad numbers and dates are a 4xx problem, never a 500: a sweep over every integer and date
parameter (query, path, JSON body) of the dossier, money, report, audit, admin and catalog
routes, on SQLite and on PostgreSQL, whose overflows differ (PostgreSQL refuses a bigint
past 2**63 - 1 at execution; Python's ``date`` overflows when a day is added to 9999-12-31)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.dossiers.world import OTHER, OWN, VN, World, make_world
from wiring.factory import build

APPLICANT = {"name": "Nguyễn Văn An", "id_type": "CCCD", "id_number": "001090012345"}
INTS = ["99999999999999999999", str(2**63), "-1", "-99999999999999999999", "12a"]
DAYS = ["9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "hôm nay"]
MOMENTS = ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "0001-01-01", "later"]


def _json_value(raw: str) -> Any:
    """Numbers as JSON numbers (however large), the rest as strings."""
    try:
        return int(raw)
    except ValueError:
        return raw


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, make_settings) -> Iterator[tuple[World, TestClient]]:  # type: ignore[no-untyped-def]
    extra = {}
    if request.param == "postgresql":
        extra["database_url"] = request.getfixturevalue("pg_database")
    services = build(make_settings(sign_forms=False, **extra))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services), raise_server_exceptions=False)
    yield world, client
    client.close()
    services.engine.dispose()


def _cases(dossier: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(who, method, path, request kwargs) for each bad value in each parameter."""
    d = f"/api/v1/dossiers/{dossier}"
    for v in INTS:
        yield "quantri", "GET", "/api/v1/dossiers", {"params": {"status": v}}
        yield "quantri", "GET", "/api/v1/dossiers", {"params": {"limit": v}}
        yield "quantri", "GET", "/api/v1/search", {"params": {"q": "an", "limit": v}}
        yield "quantri", "GET", "/api/v1/audit/events", {"params": {"after_seq": v}}
        yield "quantri", "GET", "/api/v1/audit/events", {"params": {"limit": v}}
        yield "quantri", "GET", "/api/v1/reports/due-soon", {"params": {"working_days": v}}
        yield "quantri", "GET", "/api/v1/reports/staffing", {"params": {"year": v}}
        yield "quantri", "GET", "/api/v1/reports/uncollected", {"params": {"days": v}}
        j = _json_value(v)
        body = {"procedure_code": "1.001193", "applicant": APPLICANT}
        yield "lan.nt", "POST", "/api/v1/dossiers", {"json": {**body, "channel": j}}
        yield "lan.nt", "POST", "/api/v1/dossiers", {"json": {**body, "sets": j}}
        yield "lan.nt", "POST", f"{d}/components/check", {"json": {"provided": {"to_khai": j}}}
        yield (
            "tuphap",
            "POST",
            f"{d}/payment-request",
            {"json": {"items": [["LP", j]], "reason": "x"}},
        )
        yield (
            "lan.nt",
            "POST",
            f"{d}/return/post",
            {"json": {"tracking_number": "x", "postal_fee": j}},
        )
        yield "lan.nt", "POST", f"{d}/return/online", {"json": {"hours": j}}
    for v in DAYS:
        for start, end in ((v, "2026-11-27"), ("2026-01-01", v)):
            for report in ("on-time", "processing-time", "digitization"):
                yield (
                    "quantri",
                    "GET",
                    f"/api/v1/reports/{report}",
                    {"params": {"start": start, "end": end}},
                )
        yield "quantri", "GET", "/api/v1/reports/queue", {"params": {"day": v, "unit_code": OWN}}
        yield "quantri", "GET", "/api/v1/reconciliation", {"params": {"unit_code": OWN, "day": v}}
        yield "quantri", "GET", "/api/v1/procedures", {"params": {"at": v}}
        yield "quantri", "GET", "/api/v1/procedures/1.001193", {"params": {"at": v}}
        yield (
            "tuphap",
            "POST",
            f"{d}/results",
            {"params": {"code": "KQ", "name": "x", "valid_until": v}},
        )
        unit = {"code": "000.00.18.H99", "name": "x", "kind": "one_stop", "valid_from": v}
        yield "quantri", "POST", "/api/v1/admin/units", {"json": unit}
        yield (
            "quantri",
            "POST",
            f"/api/v1/admin/units/{OTHER}/merge",
            {"json": {"into": OWN, "on": v}},
        )
        staff = {"id": "moi", "name": "x", "role": "counter", "unit_code": OWN}
        yield "quantri", "POST", "/api/v1/admin/staff", {"json": {**staff, "probation_until": v}}
        for span in (
            {"valid_from": v, "valid_to": "2026-12-31"},
            {"valid_from": "2026-01-01", "valid_to": v},
        ):
            backup = {"unit_code": OWN, "staff_id": "lan.nt", **span}
            yield "quantri", "POST", "/api/v1/admin/backups", {"json": backup}
            series = {
                "unit_code": OWN,
                "form_symbol": "01BLP0-002",
                "series": "BL-26X",
                "collector_name": "x",
                **span,
            }
            yield "quantri", "POST", "/api/v1/admin/receipt-series", {"json": series}
        plan = {"unit_code": OWN, "field_code": "G15-HT", "postal_from": v}
        yield "quantri", "POST", "/api/v1/admin/postal-plan", {"json": plan}
        override = {"day": v, "working": True, "note": "x"}
        yield "quantri", "PUT", f"/api/v1/admin/calendar/{v}", {"json": override}
    for v in MOMENTS:
        yield "quantri", "GET", "/api/v1/audit/events", {"params": {"since": v}}
        yield "quantri", "GET", "/api/v1/audit/events", {"params": {"until": v}}
        yield "quantri", "POST", "/api/v1/admin/staff/lan.nt/tokens", {"json": {"expires_at": v}}
        yield "tuphap", "POST", f"{d}/apology", {"json": {"new_due": v, "reason": "x"}}
    # PostgreSQL refuses a NUL character in text at execution; SQLite stores it.
    nul = "a\x00b"
    yield "quantri", "GET", "/api/v1/dossiers", {"params": {"unit_code": nul}}
    yield "quantri", "GET", "/api/v1/dossiers/a%00b", {}
    yield "quantri", "GET", "/api/v1/audit/events", {"params": {"actor_id": nul}}
    yield "quantri", "GET", "/api/v1/units", {"params": {"kind": "x\x00"}}


def test_bad_numbers_and_dates_are_problems_not_server_errors(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    opened = client.post(
        "/api/v1/dossiers",
        headers=world.headers("lan.nt"),
        json={"procedure_code": "1.001193", "applicant": APPLICANT},
    )
    assert opened.status_code == 201, opened.text
    cases = list(_cases(opened.json()["id"]))
    assert len(cases) > 180
    wrong = []
    for who, method, path, kwargs in cases:
        resp = client.request(method, path, headers=world.headers(who), **kwargs)
        body = resp.text
        if (
            not 400 <= resp.status_code < 500
            or resp.headers.get("content-type") != "application/problem+json"
            or "Traceback" in body
            or 'File "' in body
        ):
            wrong.append(f"{method} {path} {kwargs} -> {resp.status_code} {body[:160]}")
    assert not wrong, f"{len(wrong)} of {len(cases)}:\n" + "\n".join(wrong)


def test_values_in_range_still_work(api) -> None:  # type: ignore[no-untyped-def]
    """The bounds refuse the absurd, not the ordinary: a page, a cursor, a report's range."""
    world, client = api
    admin, clerk = world.headers("quantri"), world.headers("lan.nt")
    opened = client.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.001193", "applicant": APPLICANT},
    )
    assert client.get(f"/api/v1/dossiers/{opened.json()['id']}", headers=clerk).status_code == 200
    listed = client.get("/api/v1/audit/events", headers=admin, params={"after_seq": 0, "limit": 1})
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    last = client.get("/api/v1/audit/events", headers=admin, params={"after_seq": 2**63 - 2})
    assert last.status_code == 200 and last.json()["items"] == []
    rate = client.get(
        "/api/v1/reports/digitization",
        headers=admin,
        params={"start": "2026-01-01", "end": "2026-12-31"},
    )
    assert rate.status_code == 200, rate.text
    staffing = client.get("/api/v1/reports/staffing", headers=admin, params={"year": 2026})
    assert staffing.status_code == 200 and staffing.json()["year"] == 2026


def test_nul_in_a_json_field_is_a_problem_on_postgresql(make_settings, pg_database) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL refuses NUL in text when the statement runs: a 422, and nothing stored."""
    services = build(make_settings(sign_forms=False, database_url=pg_database))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        clerk = world.headers("lan.nt")
        resp = client.post(
            "/api/v1/dossiers",
            headers=clerk,
            json={"procedure_code": "1.001193", "applicant": {**APPLICANT, "name": "An\x00"}},
        )
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "invalid_value"
        listed = client.get("/api/v1/dossiers", headers=clerk)
        assert listed.json()["items"] == []
    services.engine.dispose()
