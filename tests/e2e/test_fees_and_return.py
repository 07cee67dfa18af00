"""Fees, receipts, results and their return, end to end on PostgreSQL, Redis and SeaweedFS.

Three dossiers of one counter's day: a land change that pays at reception (one receipt voided and
replaced for a misspelt name) and at return, collected at the counter; a birth registration
whose certificate goes by post; a household business whose licence is fetched through a link.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
import zxingcpp
from pdfminer.high_level import extract_text

from dossiers.fees.receipts_doc import parse_receipt_xml
from signing.verify import verify_pdf
from tests.dossiers.world import OWN, VN, make_world
from tests.ocr.pagegen import A6, render_page, save_pdf

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]

LAND = {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2}
BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}
BUSINESS = {"giay_de_nghi": 1, "ban_sao_cccd": 1}


class Day:
    def __init__(self, stack, world, tmp: Path) -> None:  # type: ignore[no-untyped-def]
        self.stack, self.world, self.c, self.tmp = stack, world, stack.client, tmp

    def h(self, who: str) -> dict[str, str]:
        return self.world.headers(who)

    def post(self, who: str, path: str, body: dict | None = None, status: int = 200):  # type: ignore[no-untyped-def]
        resp = self.c.post(f"/api/v1{path}", headers=self.h(who), json=body or {})
        assert resp.status_code == status, (path, resp.status_code, resp.text)
        return resp.json()

    def received(self, procedure: str, papers: dict, name: str, ident: str) -> str:
        d = self.post(
            "lan.nt",
            "/dossiers",
            {
                "procedure_code": procedure,
                "applicant": {"name": name, "id_type": "CCCD", "id_number": ident},
            },
            status=201,
        )
        self.post("lan.nt", f"/dossiers/{d['id']}/components/check", {"provided": papers})
        return self.post("lan.nt", f"/dossiers/{d['id']}/receive")["code"]

    def result(self, agency: str, dossier: str, title: str, **params: str) -> str:
        page = render_page(size_in=A6, paragraphs=(title.upper(), "Căn cứ hồ sơ " + dossier))
        pdf = save_pdf([page.image], self.tmp / f"{dossier}.pdf")
        with pdf.open("rb") as f:
            resp = self.c.post(
                f"/api/v1/dossiers/{dossier}/results",
                headers=self.h(agency),
                params={"name": title, **params},
                files={"file": (pdf.name, f, "application/pdf")},
            )
        assert resp.status_code == 202, resp.text
        return resp.json()["id"]

    def fetch(self, url: str, who: str = "lan.nt") -> bytes:
        resp = self.c.get(url, headers=self.h(who))
        assert resp.status_code == 200, (url, resp.text)
        return resp.content

    def verified(self, data: bytes) -> tuple[str, dict, pikepdf.Array]:
        path = self.tmp / "check.pdf"
        path.write_bytes(data)
        report = verify_pdf(
            path,
            trust_roots=self.stack.services.trust_roots,
            other_certs=self.stack.services.other_certs,
        )
        assert report.ok, report.to_dict()
        text = " ".join(extract_text(str(path)).split())
        image = pypdfium2.PdfDocument(str(path))[0].render(scale=200 / 72).to_pil()
        codes = zxingcpp.read_barcodes(image)
        assert codes, "no QR code"
        with pikepdf.open(path) as pdf:
            widget = next(a for a in pdf.pages[0].Annots if a.get("/FT") == "/Sig")
            rect = pikepdf.Array([float(v) for v in widget.Rect])
            width, height = float(pdf.pages[0].mediabox[2]), float(pdf.pages[0].mediabox[3])
        # The organization's stamp sits in the top-right corner (narrow pages too).
        assert float(rect[2]) >= width - 20 and float(rect[3]) >= height - 20, (rect, width)
        return text, json.loads(codes[0].text), rect


def test_fees_receipts_results_and_three_ways_back(
    make_stack, production_env, tmp_path: Path
) -> None:
    # The world's harvester is bound to no unit: the operator grants it every province.
    stack = make_stack(**production_env, SOHOA_HARVEST_GRANTS='{"harvest": ["*"]}')
    world = make_world(stack.services, datetime(2026, 11, 27, 8, 30, tzinfo=VN))
    day = Day(stack, world, tmp_path)
    stack.start_worker(concurrency=2)

    # -- A: land change, paid at reception with a misspelt name, voided and replaced ----------
    a = day.received("1.004227", LAND, "Nguyễn Văn An", "001090012345")
    assert day.post("lan.nt", f"/dossiers/{a}/route")["status"] == 6
    first = day.post(
        "lan.nt",
        f"/dossiers/{a}/payments",
        {"method": "cash", "payer": {"name": "Nguyen Van A"}},
        status=201,
    )["receipt"]
    assert first["number_text"] == "0000001" and first["amount"] == 25_000
    swap = day.post(
        "lan.nt",
        f"/receipts/{first['id']}/void",
        {
            "reason": "Ghi sai tên người nộp",
            "replacement_payer": {"name": "Nguyễn Văn An", "address": "12 Lê Lợi, phường Hòa Bình"},
        },
    )
    replacement = swap["replacement"]
    assert swap["voided"]["status"] == "voided" and replacement["replaces_id"] == first["id"]
    xml = parse_receipt_xml(day.fetch(replacement["xml_url"]))
    assert xml["number"] == 2 and xml["total"] == 25_000
    assert xml["total_in_words"] == "Hai mươi lăm nghìn đồng"
    assert xml["payer"]["name"] == "Nguyễn Văn An" and xml["dossier_code"] == a
    assert xml["related"]["kind"] == 1 and xml["related"]["number"] == 1
    assert xml["payment_method"] == "TM" and xml["mandate"]
    text, qr, _ = day.verified(day.fetch(replacement["pdf_url"]))
    assert "BIÊN LAI THU PHÍ, LỆ PHÍ" in text and "0000002" in text
    assert "Hai mươi lăm nghìn đồng" in text and "25.000" in text
    assert "Biên lai thay thế cho biên lai số 0000001" in text
    assert qr["so"] == 2 and qr["ma_ho_so"] == a and qr["tong_tien"] == 25_000

    assert day.post("lan.nt", f"/dossiers/{a}/route")["status"] == 4
    day.post("vpdk", f"/dossiers/{a}/take")
    day.post("vpdk", f"/dossiers/{a}/forward")
    day.post("thue", f"/dossiers/{a}/take")
    scan_a = day.result(
        "thue",
        a,
        "Giấy chứng nhận quyền sử dụng đất",
        code="KQ.G10.000005",
        scope="Thửa đất số 125, tờ bản đồ số 7",
    )

    # -- B: birth registration, result by post -------------------------------------------------
    b = day.received("1.001193", BIRTH, "Trần Thị Bình", "001190000002")
    day.post("lan.nt", f"/dossiers/{b}/route")
    day.post("tuphap", f"/dossiers/{b}/take")
    scan_b = day.result("tuphap", b, "Giấy khai sinh", code="KQ.G15.000001")

    # -- C: household business, result through an expiring link -------------------------------
    c = day.received("2.000720", BUSINESS, "Lê Văn Cường", "001090000003")
    day.post(
        "lan.nt",
        f"/dossiers/{c}/payments",
        {"method": "transfer", "reference": "FT26112700042"},
        status=201,
    )
    day.post("lan.nt", f"/dossiers/{c}/route")
    day.post("kinhte", f"/dossiers/{c}/take")
    scan_c = day.result(
        "kinhte",
        c,
        "Giấy chứng nhận đăng ký hộ kinh doanh",
        code="KQ.G12.000006",
        valid_until="2031-11-27",
        scope="Phường Hòa Bình",
    )

    states = stack.wait([scan_a, scan_b, scan_c])
    assert all(s["status"] == "digitized" for s in states.values()), [
        (s["reason_code"], s["reason_message"]) for s in states.values()
    ]

    # The result is signed by the organization, stamp top right, QR with validity and scope.
    results_c = day.c.get(f"/api/v1/dossiers/{c}/results", headers=day.h("kinhte")).json()
    (res_c,) = results_c["items"]
    assert res_c["hidden"] is True and res_c["document_id"]
    doc = day.c.get(f"/api/v1/documents/{res_c['document_id']}", headers=day.h("kinhte")).json()
    assert doc["signer"] == stack.services.signers.unit().name
    _, qr_c, _ = day.verified(day.fetch(f"/api/v1/documents/{res_c['document_id']}/file", "kinhte"))
    assert qr_c["ma_ho_so"] == c and qr_c["hieu_luc_den"] == "2031-11-27"
    assert qr_c["pham_vi"] == "Phường Hòa Bình" and qr_c["ma_ket_qua"] == "KQ.G12.000006"
    # The auditor's report on that file, as JSON and as a PDF.
    report = day.c.get(
        f"/api/v1/documents/{res_c['document_id']}/report", headers=day.h("kiemtra")
    ).json()
    assert report["document"]["stored_hash_match"] is True
    (sig,) = report["signatures"]
    assert (sig["indication"], sig["coverage"]) == ("TOTAL_PASSED", "ENTIRE_FILE")
    assert sig["pades_level"] == "PAdES-BASELINE-B" and sig["modifications_after_signing"] == "NONE"
    assert sig["signer"]["common_name"] == doc["signer"]
    pdf_report = day.c.get(
        f"/api/v1/documents/{res_c['document_id']}/report",
        headers=day.h("kiemtra"),
        params={"format": "pdf"},
    )
    assert pdf_report.headers["content-type"] == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(pdf_report.content)
    assert "TOTAL_PASSED" in extract_text(str(tmp_path / "report.pdf"))

    for agency, code in (("thue", a), ("tuphap", b), ("kinhte", c)):
        assert day.post(agency, f"/dossiers/{code}/finish")["status"] == 9

    def harvested_results() -> set[str]:
        feed = day.c.get("/api/v1/feed", headers=day.h("harvest")).json()["items"]
        return {
            i["dossier_code"] for i in feed if i.get("kind") == "result" and not i.get("deleted")
        }

    # Results are in the repository but hidden from harvesters until returned.
    assert harvested_results() == set()

    # A at the counter: the return-stage charge first, then the signed hand-over record.
    refused = day.c.post(
        f"/api/v1/dossiers/{a}/return/counter",
        headers=day.h("lan.nt"),
        json={
            "recipient_name": "Nguyễn Văn An",
            "recipient_id": "001090012345",
            "relation": "Chính chủ",
        },
    )
    assert refused.status_code == 409 and refused.json()["code"] == "fees_unpaid"
    late_fee = day.post("lan.nt", f"/dossiers/{a}/payments", {"method": "cash"}, status=201)
    assert late_fee["receipt"]["amount_words"] == "Một triệu hai trăm năm mươi nghìn đồng"
    handed = day.post(
        "lan.nt",
        f"/dossiers/{a}/return/counter",
        {
            "recipient_name": "Nguyễn Thị Hoa",
            "recipient_id": "001190009999",
            "relation": "Người được ủy quyền",
        },
    )
    assert handed["completed_at"] and handed["record_key"]
    record = stack.services.store.open(handed["record_key"]).read()
    text, qr, _ = day.verified(record)
    assert "BIÊN BẢN GIAO NHẬN KẾT QUẢ" in text and "Nguyễn Thị Hoa" in text
    assert "Người được ủy quyền" in text and qr["ma_ho_so"] == a

    # B by post: accepted → in transit → delivered; the dossier closes on delivery.
    parcel = day.post(
        "lan.nt",
        f"/dossiers/{b}/return/post",
        {"tracking_number": "EB123456789VN", "postal_fee": 22_000},
        status=201,
    )
    assert parcel["postal_status"] == "accepted"
    assert day.c.get(f"/api/v1/dossiers/{b}", headers=day.h("lan.nt")).json()["status"] == 9
    uncollected = day.c.get("/api/v1/reports/uncollected", headers=day.h("lan.nt")).json()
    assert {i["code"] for i in uncollected["items"]} == {b, c}
    day.post("lan.nt", f"/returns/{parcel['id']}/postal-status", {"status": "in_transit"})
    wrong = day.c.post(
        f"/api/v1/returns/{parcel['id']}/postal-status",
        headers=day.h("lan.nt"),
        json={"status": "accepted"},
    )
    assert wrong.status_code == 422
    done = day.post("lan.nt", f"/returns/{parcel['id']}/postal-status", {"status": "delivered"})
    assert [h["status"] for h in done["postal_history"]] == ["accepted", "in_transit", "delivered"]
    assert day.c.get(f"/api/v1/dossiers/{b}", headers=day.h("lan.nt")).json()["status"] == 10

    # C online: the link lists the licence; every download is logged; the first closes it.
    link = day.post("lan.nt", f"/dossiers/{c}/return/online", {"hours": 48}, status=201)
    listing = day.c.get(link["url"])
    assert listing.status_code == 200, listing.text
    (item,) = listing.json()["items"]
    for _ in range(2):
        got = day.c.get(item["url"], headers={"User-Agent": "citizen-phone"})
        assert got.status_code == 200 and got.content.startswith(b"%PDF")
    assert day.c.get(f"/api/v1/dossiers/{c}", headers=day.h("lan.nt")).json()["status"] == 10
    logged = day.c.get(f"/api/v1/dossiers/{c}/returns", headers=day.h("lan.nt")).json()
    assert len(logged["items"][0]["downloads"]) == 2
    assert "citizen-phone" in logged["items"][0]["downloads"][0]["client"]
    world.clock.set(datetime(2026, 11, 27, 8, 30, tzinfo=VN) + timedelta(hours=49))
    assert day.c.get(link["url"]).status_code == 410
    assert day.c.get("/public/results/kq_not-a-token").status_code == 404
    world.clock.set(datetime(2026, 11, 27, 17, 0, tzinfo=VN))

    # Returned results are no longer hidden.
    for code in (a, b, c):
        items = day.c.get(f"/api/v1/dossiers/{code}/results", headers=day.h("lan.nt")).json()
        assert [r["hidden"] for r in items["items"]] == [False], code

    assert harvested_results() == {a, b, c}

    # The day's reconciliation: 4 receipts issued, 1 voided, totals equal to the payments.
    recon = day.c.get(
        "/api/v1/reconciliation",
        headers=day.h("lan.nt"),
        params={"unit_code": OWN, "day": date(2026, 11, 27).isoformat()},
    ).json()
    assert (recon["issued"], recon["voided"]) == (3, 1)
    assert recon["totals"] == {"cash": 1_275_000, "transfer": 100_000}
    assert recon["balanced"] is True
    pdf = day.c.get(
        "/api/v1/reconciliation",
        headers=day.h("lan.nt"),
        params={"unit_code": OWN, "day": "2026-11-27", "format": "pdf"},
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.pdf"
        path.write_bytes(pdf.content)
        assert verify_pdf(
            path, trust_roots=stack.services.trust_roots, other_certs=stack.services.other_certs
        ).ok
        text = " ".join(extract_text(str(path)).split())
    assert "1.275.000" in text and "100.000" in text
