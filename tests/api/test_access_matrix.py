"""Every endpoint × every role × own or other unit: nobody reads or changes what is not theirs.

One dossier of Hòa Bình's counter, routed to the land registry. A caller outside its scope must
get 403 or 404 with nothing of the dossier in the body, and the dossier must not change.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from tests.conftest import TOKEN
from tests.dossiers.world import OWN, STAFF, VN, make_world
from wiring.factory import build

APPLICANT = {"name": "Nguyễn Văn An", "id_type": "CCCD", "id_number": "001090012345"}
PAPERS = {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2}

# Who may read the dossier: its counter, the agency it was handed to, the province's auditor,
# the admin. Everyone else: the other commune's counter, agencies it never reached (including
# the tax office later in its route), the harvester, another province's auditor.
READERS = {"lan.nt", "cong.ch", "vpdk", "kiemtra", "quantri"}
COUNTER_WRITERS = {"lan.nt", "cong.ch", "quantri"}
HOLDER_WRITERS = {"vpdk", "quantri"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from core.settings import Settings

    data = tmp_path_factory.mktemp("matrix")
    services = build(Settings(data_dir=data / "data", api_token=TOKEN, ocr_jobs=1))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    clerk = world.headers("lan.nt")
    d = client.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.004227", "applicant": APPLICANT},
    ).json()
    client.post(
        f"/api/v1/dossiers/{d['id']}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    body = client.post(f"/api/v1/dossiers/{d['id']}/receive", headers=clerk).json()
    code = body["code"]
    component = body["components"][0]["id"]
    png = data / "page.png"
    Image.new("RGB", (200, 300), "white").save(png, dpi=(300, 300))
    with png.open("rb") as f:
        scan = client.post(
            f"/api/v1/dossiers/{code}/components/{component}/scans",
            headers=clerk,
            files={"file": ("page.png", f, "image/png")},
        ).json()
    paid = client.post(f"/api/v1/dossiers/{code}/payments", headers=clerk, json={"method": "cash"})
    assert paid.status_code == 201, paid.text
    client.post(f"/api/v1/dossiers/{code}/route", headers=clerk)
    form = client.get(f"/api/v1/dossiers/{code}/forms", headers=clerk).json()["items"][0]
    yield world, client, code, component, scan["id"], form["id"], data
    client.close()
    services.engine.dispose()


def _leaks(resp, code: str) -> bool:  # type: ignore[no-untyped-def]
    """Anything of the dossier beyond the code the caller sent: applicant, holder, status."""
    text = resp.text
    return any(
        s in text for s in ("001090012345", "Nguyễn Văn An", "000.00.12.H99", "status_label")
    )


def _events(client: TestClient, code: str) -> int:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    return len(client.get(f"/api/v1/dossiers/{code}/events", headers=admin).json()["items"])


def test_reads(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, code, _component, scan_id, form_id, _ = setup
    reads = [
        f"/api/v1/dossiers/{code}",
        f"/api/v1/dossiers/{code}/events",
        f"/api/v1/dossiers/{code}/handovers",
        f"/api/v1/dossiers/{code}/forms",
        f"/api/v1/dossiers/{code}/forms/{form_id}/file",
        f"/api/v1/scans/{scan_id}",
    ]
    checked = 0
    for staff_id in STAFF:
        for path in reads:
            resp = client.get(path, headers=world.headers(staff_id))
            if staff_id in READERS:
                assert resp.status_code == 200, (staff_id, path, resp.text)
            else:
                assert resp.status_code in (403, 404), (staff_id, path, resp.status_code)
                assert not _leaks(resp, code), (staff_id, path, resp.text)
            checked += 1
        listing = client.get("/api/v1/dossiers", headers=world.headers(staff_id))
        assert listing.status_code == 200
        assert (code in listing.text) == (staff_id in READERS), staff_id
        found = client.get(
            "/api/v1/search", params={"q": "nguyen van an"}, headers=world.headers(staff_id)
        )
        assert found.status_code == 200
        assert (code in found.text) == (staff_id in READERS), staff_id
    assert checked == len(STAFF) * len(reads)


WRITES = [
    ("post", "components/check", {"provided": {"don_dang_ky": 1}}, COUNTER_WRITERS),
    ("post", "receive", None, COUNTER_WRITERS),
    ("post", "confirm-reception", None, COUNTER_WRITERS),
    ("post", "refuse", {"reason": "x"}, COUNTER_WRITERS),
    ("post", "supplement", {}, COUNTER_WRITERS),
    ("post", "route", None, COUNTER_WRITERS),
    ("post", "return", {"recipient": "x"}, COUNTER_WRITERS),
    ("post", "withdraw", {"reason": "x"}, COUNTER_WRITERS),
    ("post", "take", None, HOLDER_WRITERS),
    ("post", "forward", None, HOLDER_WRITERS),
    ("post", "finish", {}, HOLDER_WRITERS),
    ("post", "stop", {"reason": "x"}, HOLDER_WRITERS),
    ("post", "supplement-request", {"items": ["x"], "reason": "x"}, HOLDER_WRITERS),
    ("post", "apology", {"new_due": "2027-01-30T17:00:00+07:00", "reason": "x"}, HOLDER_WRITERS),
    ("post", "forms/06", None, COUNTER_WRITERS | HOLDER_WRITERS),
]


def test_writes_outside_scope_change_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, code, component, _scan_id, _form_id, data = setup
    before = _events(client, code)
    denied = 0
    for method, action, body, writers in WRITES:
        for staff_id in STAFF:
            if staff_id in writers:
                continue
            resp = client.request(
                method,
                f"/api/v1/dossiers/{code}/{action}",
                headers=world.headers(staff_id),
                json=body,
            )
            assert resp.status_code in (403, 404), (staff_id, action, resp.status_code, resp.text)
            assert not _leaks(resp, code), (staff_id, action, resp.text)
            denied += 1
    png = data / "page.png"
    for staff_id in set(STAFF) - COUNTER_WRITERS:
        with png.open("rb") as f:
            resp = client.post(
                f"/api/v1/dossiers/{code}/components/{component}/scans",
                headers=world.headers(staff_id),
                files={"file": ("page.png", f, "image/png")},
            )
        assert resp.status_code in (403, 404), (staff_id, resp.status_code)
        denied += 1
    assert denied > 100
    assert _events(client, code) == before
    state = client.get(f"/api/v1/dossiers/{code}", headers=world.headers("lan.nt")).json()
    assert state["status"] == 4 and state["holder_code"] == "000.00.12.H99"


ADMIN_CALLS = [
    ("post", "/api/v1/admin/staff", {"id": "new.one", "name": "Mới", "role": "admin"}),
    ("post", "/api/v1/admin/staff/lan.nt/tokens", {"label": "steal"}),
    ("delete", "/api/v1/admin/staff/quantri/tokens", None),
    ("post", "/api/v1/admin/units/000.00.17.H99/merge", {"into": OWN, "on": "2026-12-01"}),
    (
        "post",
        "/api/v1/admin/postal-plan",
        {"unit_code": OWN, "field_code": "G15-CT", "postal_from": "2026-01-01"},
    ),
    (
        "put",
        "/api/v1/admin/calendar/2026-12-05",
        {"day": "2026-12-05", "working": True, "note": "x"},
    ),
    (
        "post",
        "/api/v1/admin/backups",
        {
            "unit_code": OWN,
            "staff_id": "minh.tv",
            "valid_from": "2026-11-27",
            "valid_to": "2026-12-31",
        },
    ),
]


def test_admin_endpoints_are_admin_only(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, *_ = setup
    for method, path, body in ADMIN_CALLS:
        for staff_id in set(STAFF) - {"quantri"}:
            resp = client.request(method, path, headers=world.headers(staff_id), json=body)
            assert resp.status_code == 403, (staff_id, path, resp.status_code, resp.text)
    catalog = client.post(
        "/api/v1/admin/catalog", headers=world.headers("lan.nt"), content=b"procedures: []"
    )
    assert catalog.status_code == 403
    # A backup only got in where the admin put them: minh.tv still sees nothing of OWN.
    assert client.get("/api/v1/dossiers", headers=world.headers("minh.tv")).json()["items"] == []


def test_tokens_are_stored_hashed_and_checked(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, code, *_ = setup
    from sqlalchemy import select

    from dossiers.models import ApiToken
    from storage.db import session_scope

    with session_scope(world.services.sessions) as session:
        stored = [t.token_sha256 for t in session.scalars(select(ApiToken))]
    assert stored and not any(tok in stored for tok in world.tokens.values())
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {world.tokens['lan.nt']}x"},
    ):
        resp = client.get(f"/api/v1/dossiers/{code}", headers=headers)
        assert resp.status_code == 401 and resp.headers["content-type"].startswith(
            "application/problem+json"
        )
    for path in ("/api/v1/procedures", "/api/v1/units"):
        assert client.get(path).status_code == 401
        for staff_id in STAFF:
            assert client.get(path, headers=world.headers(staff_id)).status_code == 200


def test_a_revoked_token_stops_working(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, *_ = setup
    admin = world.headers("quantri")
    token = client.post(
        "/api/v1/admin/staff/harvest/tokens", headers=admin, json={"label": "rotate"}
    ).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/procedures", headers=h).status_code == 200
    assert client.delete("/api/v1/admin/staff/harvest/tokens", headers=admin).json()["revoked"] == 2
    assert client.get("/api/v1/procedures", headers=h).status_code == 401
    world.tokens["harvest"] = client.post(
        "/api/v1/admin/staff/harvest/tokens", headers=admin, json={}
    ).json()["token"]


def test_reports_and_queues_stay_within_the_callers_units(setup) -> None:  # type: ignore[no-untyped-def]
    world, client, code, *_ = setup
    # Ten working days on, the dossier the land registry holds is overdue.
    world.clock.set(datetime(2026, 12, 14, 9, 0, tzinfo=VN))
    list_readers = {"lan.nt", "cong.ch", "vpdk", "kiemtra", "quantri"}
    for staff_id in STAFF:
        h = world.headers(staff_id)
        overdue = client.get("/api/v1/reports/overdue", headers=h)
        staffing = client.get("/api/v1/reports/staffing", params={"year": 2026}, headers=h)
        if STAFF[staff_id][1] == "harvester":
            assert overdue.status_code == staffing.status_code == 403
            continue
        assert overdue.status_code == 200, (staff_id, overdue.text)
        assert (code in overdue.text) == (staff_id in list_readers), staff_id
        own_row = f'"unit_code":"{OWN}"'
        assert (own_row in staffing.text.replace(" ", "")) == (
            staff_id in {"lan.nt", "cong.ch", "kiemtra", "quantri"}
        ), (staff_id, staffing.text)
        foreign = client.get(
            "/api/v1/reports/on-time",
            headers=h,
            params={"start": "2026-11-01", "end": "2026-11-30", "unit_code": OWN},
        )
        unit_readers = {"lan.nt", "cong.ch", "kiemtra", "quantri"}
        assert foreign.status_code == (200 if staff_id in unit_readers else 404), staff_id
        ticket = client.post(f"/api/v1/queue/{OWN}/tickets", headers=h)
        expected = {201} if staff_id in {"lan.nt", "cong.ch", "quantri"} else {403, 404}
        assert ticket.status_code in expected, (staff_id, ticket.status_code)
