"""Dossier endpoints on the embedded default: forms 03 and 04 read back, bad uploads to a
component, the same paper uploaded many times at once, withdrawal and stop."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from pdfminer.high_level import extract_text
from PIL import Image

from api.app import create_app
from storage.db import session_scope
from storage.models import Refusal, Scan
from tests.dossiers.world import VN, make_world
from wiring.factory import build

APPLICANT = {"name": "Phạm Thị Hương", "id_type": "CCCD", "id_number": "031190004567"}
BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}


@pytest.fixture
def api(make_settings):  # type: ignore[no-untyped-def]
    services = build(make_settings())
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    yield world, client
    client.close()
    services.engine.dispose()


def _open(client: TestClient, world, **extra) -> dict:  # type: ignore[no-untyped-def]
    resp = client.post(
        "/api/v1/dossiers",
        headers=world.headers("lan.nt"),
        json={"procedure_code": "1.001193", "applicant": APPLICANT, **extra},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def _read_form(client: TestClient, world, ref: str, form_no: str, tmp: Path):  # type: ignore[no-untyped-def]
    items = client.get(f"/api/v1/dossiers/{ref}/forms", headers=world.headers("lan.nt")).json()
    form = [f for f in items["items"] if f["form_no"] == form_no][-1]
    pdf = tmp / f"{form_no}.pdf"
    pdf.write_bytes(client.get(form["file_url"], headers=world.headers("lan.nt")).content)
    text = " ".join(extract_text(str(pdf)).split())
    image = pypdfium2.PdfDocument(str(pdf))[0].render(scale=200 / 72).to_pil()
    return text, json.loads(zxingcpp.read_barcodes(image)[0].text), form


def test_refusal_issues_form_03_with_the_reason(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    d = _open(client, world)
    no_reason = client.post(
        f"/api/v1/dossiers/{d['id']}/refuse", headers=world.headers("lan.nt"), json={"reason": ""}
    )
    assert no_reason.status_code == 422
    resp = client.post(
        f"/api/v1/dossiers/{d['id']}/refuse",
        headers=world.headers("lan.nt"),
        json={"reason": "Thủ tục không thuộc thẩm quyền của xã"},
    )
    assert resp.json()["status"] == 3
    text, qr, form = _read_form(client, world, d["id"], "03", tmp_path)
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ" in text
    assert "Thủ tục không thuộc thẩm quyền của xã" in text and "Phạm Thị Hương" in text
    assert qr["ma_dinh_danh"] == "031190004567" and qr["ma_tthc"] == "1.001193"
    assert form["qr_payload"] == json.dumps(
        qr, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    again = client.post(f"/api/v1/dossiers/{d['id']}/receive", headers=world.headers("lan.nt"))
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert again.json()["current_status"] == 3


def test_apology_moves_the_appointment_with_form_04(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    clerk, justice = world.headers("lan.nt"), world.headers("tuphap")
    d = _open(client, world)
    client.post(
        f"/api/v1/dossiers/{d['id']}/components/check", headers=clerk, json={"provided": BIRTH}
    )
    code = client.post(f"/api/v1/dossiers/{d['id']}/receive", headers=clerk).json()["code"]
    client.post(f"/api/v1/dossiers/{code}/route", headers=clerk)
    client.post(f"/api/v1/dossiers/{code}/take", headers=justice)
    earlier = client.post(
        f"/api/v1/dossiers/{code}/apology",
        headers=justice,
        json={"new_due": "2026-11-27T10:00:00+07:00", "reason": "x"},
    )
    assert earlier.status_code == 422 and earlier.json()["code"] == "new_due_invalid"
    resp = client.post(
        f"/api/v1/dossiers/{code}/apology",
        headers=justice,
        json={
            "new_due": "2026-12-02T17:00:00+07:00",
            "reason": "Cần xác minh thông tin với nơi cư trú",
        },
    )
    assert resp.status_code == 200, resp.text
    assert datetime.fromisoformat(resp.json()["due_at"]) == datetime(2026, 12, 2, 17, 0, tzinfo=VN)
    assert datetime.fromisoformat(resp.json()["original_due_at"]) == datetime(
        2026, 11, 27, 17, 0, tzinfo=VN
    )
    text, qr, _ = _read_form(client, world, code, "04", tmp_path)
    assert "VĂN BẢN XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    assert "Cần xác minh thông tin với nơi cư trú" in text
    assert "ngày 02 tháng 12 năm 2026" in text and qr["ma_ho_so"] == code


def test_bad_uploads_to_a_component_are_refused_and_recorded(api, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    d = _open(client, world)
    comp = d["components"][0]["id"]
    url = f"/api/v1/dossiers/{d['id']}/components/{comp}/scans"
    clerk = world.headers("lan.nt")
    empty = client.post(url, headers=clerk, files={"file": ("empty.pdf", b"", "application/pdf")})
    assert empty.status_code == 400 and empty.json()["code"] == "empty_file"
    text = client.post(
        url, headers=clerk, files={"file": ("../../etc/passwd", b"root:x:0:0", "text/plain")}
    )
    assert text.status_code == 415 and text.json()["code"] == "unsupported_media_type"
    with session_scope(world.services.sessions) as session:
        # Recorded against the dossier, bytes not kept (issue 13: refusals cost nothing durable).
        assert session.get(Scan, text.json()["scan_id"]) is None
        refused = session.get(Refusal, text.json()["scan_id"])
        assert refused.reason_code == "unsupported_media_type" and refused.dossier_id == d["id"]
        assert "/" not in refused.filename and refused.quarantine_key is None
    assert not list(world.services.store.list("quarantine/"))
    gone = client.get(f"/api/v1/scans/{text.json()['scan_id']}", headers=clerk)
    assert gone.status_code == 410 and gone.json()["reason_code"] == "unsupported_media_type"
    wrong = client.post(
        f"/api/v1/dossiers/{d['id']}/components/nope/scans",
        headers=clerk,
        files={"file": ("a.png", b"x", "image/png")},
    )
    assert wrong.status_code == 404 and wrong.json()["code"] == "component_not_found"


def test_the_same_paper_uploaded_at_once_is_one_scan(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    d = _open(client, world)
    comp = d["components"][1]["id"]
    png = tmp_path / "page.png"
    Image.new("RGB", (400, 600), "white").save(png, dpi=(300, 300))
    payload = png.read_bytes()

    def upload(_: int) -> tuple[int, str]:
        resp = client.post(
            f"/api/v1/dossiers/{d['id']}/components/{comp}/scans",
            headers=world.headers("lan.nt"),
            files={"file": ("page.png", payload, "image/png")},
        )
        return resp.status_code, resp.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(upload, range(8)))
    assert {scan_id for _, scan_id in results} == {results[0][1]}
    assert sorted(status for status, _ in results) == [200] * 7 + [202]
    body = client.get(f"/api/v1/dossiers/{d['id']}", headers=world.headers("lan.nt")).json()
    scans = next(c for c in body["components"] if c["id"] == comp)["scans"]
    assert [s["scan_id"] for s in scans] == [results[0][1]]


def test_withdraw_at_the_counter(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    d = _open(client, world, channel=3, collect_at="post")
    assert d["channel"] == 3 and d["channel_label"] == "Qua bưu chính công ích"
    resp = client.post(
        f"/api/v1/dossiers/{d['id']}/withdraw",
        headers=world.headers("lan.nt"),
        json={"reason": "Công dân xin rút hồ sơ"},
    )
    assert (
        resp.json()["status"] == 7 and resp.json()["status_label"] == "Công dân yêu cầu rút hồ sơ"
    )
    events = client.get(
        f"/api/v1/dossiers/{d['id']}/events", headers=world.headers("lan.nt")
    ).json()["items"]
    assert events[-1]["reason"] == "Công dân xin rút hồ sơ" and events[-1]["actor"] == "lan.nt"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"procedure_code": "1.001193", "applicant": {**APPLICANT, "id_number": "123"}},
            "applicant_invalid",
        ),
        (
            {"procedure_code": "1.001193", "applicant": APPLICANT, "channel": 9},
            "invalid_request",
        ),  # the schema states 1..3
        ({"procedure_code": "9.999999", "applicant": APPLICANT}, "procedure_not_found"),
        ({"procedure_code": "1.001193"}, "invalid_request"),
        (
            {"procedure_code": "1.001193", "applicant": APPLICANT, "unit_code": "000.00.17.H99"},
            "unit_forbidden",
        ),
    ],
)
def test_bad_dossiers_get_problem_details(api, body, code) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    resp = client.post("/api/v1/dossiers", headers=world.headers("lan.nt"), json=body)
    assert 400 <= resp.status_code < 500 and resp.json()["code"] == code, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_papers_come_in_the_catalogs_order(api) -> None:  # type: ignore[no-untyped-def]
    """The order the guidance reads them out and the citizen hands them over, not by key."""
    world, client = api
    d = _open(client, world)
    keys = [c["key"] for c in d["components"]]
    assert keys == ["to_khai", "giay_chung_sinh", "giay_to_tuy_than"]
