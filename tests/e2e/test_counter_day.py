"""One dossier through the whole counter day on PostgreSQL, Redis and SeaweedFS.

Land change registration (10 working days, two agencies in sequence) received on the Friday
before Tết 2026 after 15:00: the appointment must skip the Tết week.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from pdfminer.high_level import extract_text

from signing.verify import verify_pdf
from tests.dossiers.world import LAND, OWN, TAX, VN, make_world
from tests.ocr.pagegen import A6, render_page, save_pdf

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]

APPLICANT = {
    "name": "Nguyễn Văn An",
    "id_type": "CCCD",
    "id_number": "001090012345",
    "phone": "0912345678",
    "address": "12 Lê Lợi, phường Hòa Bình",
}
PAPERS = {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2}


def _form(stack, world, code: str, form_no: str, who: str = "lan.nt") -> tuple[str, dict]:
    listing = stack.client.get(f"/api/v1/dossiers/{code}/forms", headers=world.headers(who))
    assert listing.status_code == 200, listing.text
    forms = [f for f in listing.json()["items"] if f["form_no"] == form_no]
    assert forms, listing.json()
    resp = stack.client.get(forms[-1]["file_url"], headers=world.headers(who))
    assert resp.status_code == 200
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "form.pdf"
        path.write_bytes(resp.content)
        report = verify_pdf(
            path, trust_roots=stack.services.trust_roots, other_certs=stack.services.other_certs
        )
        assert report.ok, report.to_dict()
        text = " ".join(extract_text(str(path)).split())  # table cells wrap
        page = pypdfium2.PdfDocument(str(path))[0]
        image = page.render(scale=200 / 72).to_pil()
    codes = zxingcpp.read_barcodes(image)
    assert codes, "no QR code on the form"
    return text, json.loads(codes[0].text)


def test_counter_day(make_stack, production_env, tmp_path: Path) -> None:
    stack = make_stack(**production_env)
    world = make_world(stack.services, datetime(2026, 2, 13, 15, 30, tzinfo=VN))
    clerk, land, tax = world.headers("lan.nt"), world.headers("vpdk"), world.headers("thue")
    c = stack.client

    # Look the procedure up the way a clerk types it: no accents.
    found = c.get("/api/v1/procedures", params={"q": "dang ky bien dong"}, headers=clerk)
    assert [p["code"] for p in found.json()["items"]] == ["1.004227"]
    proc = found.json()["items"][0]
    assert proc["agencies"] == [LAND, TAX] and proc["processing_days"] == 10

    created = c.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.004227", "applicant": APPLICANT},
    )
    assert created.status_code == 201, created.text
    dossier = created.json()
    assert dossier["status"] == 1 and dossier["code"] is None and dossier["unit_code"] == OWN
    ref = dossier["id"]

    incomplete = c.post(f"/api/v1/dossiers/{ref}/receive", headers=clerk)
    assert incomplete.status_code == 422
    assert incomplete.json()["code"] == "dossier_incomplete"
    assert {m["key"] for m in incomplete.json()["missing"]} == set(PAPERS)

    checked = c.post(
        f"/api/v1/dossiers/{ref}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    assert checked.json() == {"complete": True, "missing": []}

    received = c.post(f"/api/v1/dossiers/{ref}/receive", headers=clerk)
    assert received.status_code == 200, received.text
    body = received.json()
    code = body["code"]
    assert code == f"{OWN}-260213-0001"
    assert body["status"] == 2 and body["rules_version"] == "nd118-2025"
    # After 15:00 on Fri 13 Feb: counting starts Mon 23 Feb (Tết 16–20), ten working days on.
    assert datetime.fromisoformat(body["due_at"]) == datetime(2026, 3, 9, 17, 0, tzinfo=VN)

    text, qr = _form(stack, world, code, "01")
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "Nguyễn Văn An" in text and code in text
    assert "15 giờ 30 phút, ngày 13 tháng 02 năm 2026" in text
    assert "17 giờ 00 phút, ngày 09 tháng 03 năm 2026" in text
    assert "25.000 đồng" in text  # the fee collected at receipt
    assert qr["ma_ho_so"] == code and qr["ma_tthc"] == "1.004227"
    assert qr["ma_dinh_danh"] == "001090012345"
    assert qr["ngay_hen_tra"].startswith("2026-03-09T17:00:00+07:00")

    # Scan two papers; their signed documents attach to the components.
    comps = {comp["key"]: comp["id"] for comp in body["components"]}
    stack.start_worker(concurrency=2)
    scan_ids = []
    for i, key in enumerate(("don_dang_ky", "hop_dong")):
        page = render_page(
            size_in=A6,
            seed=i,
            paragraphs=(
                "ĐƠN ĐĂNG KÝ BIẾN ĐỘNG ĐẤT ĐAI" if i == 0 else "HỢP ĐỒNG CHUYỂN NHƯỢNG",
                "Người sử dụng đất: Nguyễn Văn An",
                "Thửa đất số 125, tờ bản đồ số 7",
            ),
        )
        pdf = save_pdf([page.image], tmp_path / f"{key}.pdf")
        with pdf.open("rb") as f:
            up = c.post(
                f"/api/v1/dossiers/{code}/components/{comps[key]}/scans",
                headers=clerk,
                files={"file": (pdf.name, f, "application/pdf")},
            )
        assert up.status_code == 202, up.text
        scan_ids.append(up.json()["id"])
    world_scans = stack.wait(scan_ids)
    assert all(s["status"] == "digitized" for s in world_scans.values()), [
        (s["reason_code"], s["reason_message"]) for s in world_scans.values()
    ]
    after = c.get(f"/api/v1/dossiers/{code}", headers=clerk).json()
    attached = {comp["key"]: comp["document_ids"] for comp in after["components"]}
    assert len(attached["don_dang_ky"]) == 1 and len(attached["hop_dong"]) == 1
    doc = c.get(f"/api/v1/documents/{attached['hop_dong'][0]}", headers=clerk).json()
    assert doc["clerk_id"] == "lan.nt" and doc["signer"] == "Nguyễn Thị Lan"

    # Found without accents, by name and by the words of a scanned paper; not by others.
    for q, source in (("nguyen van an", "dossier"), ("hop dong chuyen nhuong", "document")):
        hits = c.get("/api/v1/search", params={"q": q}, headers=clerk).json()["items"]
        assert {(h["code"], h["source"]) for h in hits} >= {(code, source)}, (q, hits)
        assert (
            c.get("/api/v1/search", params={"q": q}, headers=world.headers("minh.tv")).json()[
                "items"
            ]
            == []
        )

    # The registration fee is due first: routing waits in status 6 until it is paid.
    waiting = c.post(f"/api/v1/dossiers/{code}/route", headers=clerk)
    assert waiting.json()["status"] == 6, waiting.text
    paid = c.post(f"/api/v1/dossiers/{code}/payments", headers=clerk, json={"method": "cash"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == 2 and paid.json()["receipt"]["amount"] == 25_000
    assert paid.json()["receipt"]["amount_words"] == "Hai mươi lăm nghìn đồng"

    # Route to the land registry; the tax office may not touch it yet.
    routed = c.post(f"/api/v1/dossiers/{code}/route", headers=clerk)
    assert routed.json()["status"] == 4 and routed.json()["holder_code"] == LAND
    assert c.get(f"/api/v1/dossiers/{code}", headers=tax).status_code == 404
    assert c.post(f"/api/v1/dossiers/{code}/take", headers=land).status_code == 200

    world.clock.set(datetime(2026, 2, 24, 9, 0, tzinfo=VN))
    asked = c.post(
        f"/api/v1/dossiers/{code}/supplement-request",
        headers=land,
        json={"items": ["Bản sao sổ hộ khẩu"], "reason": "Thiếu giấy tờ nhân thân"},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == 5 and asked.json()["counted_overdue"] is False
    text, qr = _form(stack, world, code, "02")
    assert "Bản sao sổ hộ khẩu" in text and "ngay_hen_tra" not in qr
    not_now = c.post(f"/api/v1/dossiers/{code}/finish", headers=land, json={})
    # The papers went back to the counter: the agency no longer holds the dossier.
    assert not_now.status_code == 409 and not_now.json()["code"] == "not_holder"

    world.clock.set(datetime(2026, 2, 25, 10, 0, tzinfo=VN))
    back = c.post(f"/api/v1/dossiers/{code}/supplement", headers=clerk, json={"note": "đủ"})
    assert back.status_code == 200, back.text
    assert back.json()["status"] == 4
    # The clock restarts: ten working days after Wed 25 Feb.
    assert datetime.fromisoformat(back.json()["due_at"]) == datetime(2026, 3, 11, 17, 0, tzinfo=VN)
    assert c.post(f"/api/v1/dossiers/{code}/take", headers=land).status_code == 200
    early_finish = c.post(f"/api/v1/dossiers/{code}/finish", headers=land, json={})
    assert early_finish.status_code == 409
    assert early_finish.json()["code"] == "route_not_complete"

    world.clock.set(datetime(2026, 3, 11, 10, 0, tzinfo=VN))
    assert c.post(f"/api/v1/dossiers/{code}/forward", headers=land).status_code == 200
    assert c.post(f"/api/v1/dossiers/{code}/take", headers=tax).status_code == 200
    world.clock.set(datetime(2026, 3, 12, 9, 0, tzinfo=VN))
    done = c.post(f"/api/v1/dossiers/{code}/finish", headers=tax, json={"note": "xong"})
    assert done.status_code == 200 and done.json()["status"] == 9

    rows = c.get(f"/api/v1/dossiers/{code}/handovers", headers=clerk).json()["items"]
    assert [(r["from"], r["to"], r["result"]) for r in rows] == [
        (OWN, LAND, "early"),  # routed on 13 Feb
        (LAND, OWN, "early"),  # supplement request on 24 Feb
        (OWN, LAND, "early"),  # supplemented on 25 Feb
        (LAND, TAX, "on_time"),  # forwarded on the due day, before 17:00
        (TAX, OWN, "late"),  # result back the day after
    ]
    assert rows[0]["taken_by"] == "vpdk" and rows[3]["taken_by"] == "thue"

    sheet = c.post(f"/api/v1/dossiers/{code}/forms/06", headers=clerk)
    assert sheet.status_code == 201, sheet.text
    text, qr = _form(stack, world, code, "06")
    for label in ("Trước hạn", "Đúng hạn", "Quá hạn", "Văn phòng Đăng ký đất đai tỉnh Mẫu"):
        assert label in text
    assert qr["tieu_de"] == "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"

    unpaid = c.post(
        f"/api/v1/dossiers/{code}/return/counter",
        headers=clerk,
        json={
            "recipient_name": "Nguyễn Văn An",
            "recipient_id": "001090012345",
            "relation": "Chính chủ",
        },
    )
    assert unpaid.status_code == 409 and unpaid.json()["code"] == "fees_unpaid"
    assert (
        c.post(
            f"/api/v1/dossiers/{code}/payments", headers=clerk, json={"method": "transfer"}
        ).json()["receipt"]["amount"]
        == 1_250_000
    )
    returned = c.post(
        f"/api/v1/dossiers/{code}/return/counter",
        headers=clerk,
        json={
            "recipient_name": "Nguyễn Văn An",
            "recipient_id": "001090012345",
            "relation": "Chính chủ",
        },
    )
    assert returned.status_code == 200, returned.text
    assert c.get(f"/api/v1/dossiers/{code}", headers=clerk).json()["status"] == 10
    events = c.get(f"/api/v1/dossiers/{code}/events", headers=clerk).json()["items"]
    statuses = [e["to_status"] for e in events if e["from_status"] != e["to_status"]]
    assert statuses == [1, 2, 6, 2, 4, 5, 4, 9, 10]
    assert all(e["actor"] for e in events) and all(e["at"] for e in events)
    assert {e["actor"] for e in events} == {"lan.nt", "vpdk", "thue"}
