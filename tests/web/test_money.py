"""Fees, receipts and the return of the result on the dossier page: one press pays once, the
receipt prints, a void needs a reason, and the result goes back at the counter, by post or
through a link shown once."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pdfminer.high_level import extract_text
from sqlalchemy import func, select

from dossiers.audit import AuditEvent
from dossiers.models import Dossier, Payment, Receipt, Result
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from storage.models import Document, Scan
from tests.web.conftest import Site

APPLICANT = ApplicantIn(
    name="Phạm Thị Hương",
    id_type="CCCD",
    id_number="031190004567",
    phone="0912345678",
    address="Số 5 ngõ 10 phố Huế, phường Hòa Bình",
)
COPY = ("1.004873", {"to_khai": 1})  # civil status: 8.000 đ at reception, tư pháp decides
LAND = (
    "1.004227",  # land: 25.000 đ at reception, 1.250.000 đ with the result, two agencies
    {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2},
)
FEE_IDS = re.compile(r'name="fee_ids" value="([^"]+)"')


def received(site: Site, kind: tuple[str, dict[str, int]] = COPY, **extra: Any) -> str:
    """A dossier lan.nt has received (form 01 issued); its code."""
    svc, lan = site.world.services, site.world.principal("lan.nt")
    ref = svc.dossiers.create(lan, procedure_code=kind[0], applicant=APPLICANT, **extra)
    svc.dossiers.check_components(lan, ref, kind[1])
    svc.dossiers.receive(lan, ref)
    return str(svc.dossiers.view(lan, ref).code)


def processed(site: Site, kind: tuple[str, dict[str, int]] = COPY, **extra: Any) -> str:
    """Received, paid at reception, routed and finished by the agencies: status 9."""
    w = site.world
    svc, lan = w.services, w.principal("lan.nt")
    code = received(site, kind, **extra)
    svc.cashier.pay(lan, code, method="cash")
    svc.dossiers.route(lan, code)
    agencies = ["tuphap"] if kind == COPY else ["vpdk", "thue"]
    for i, agency in enumerate(agencies):
        officer = w.principal(agency)
        svc.dossiers.take(officer, code)
        if i + 1 < len(agencies):
            svc.dossiers.forward(officer, code)
        else:
            svc.dossiers.finish(officer, code, note="Đã giải quyết")
    assert svc.dossiers.view(lan, code).status == Status.PROCESSED
    return code


def add_result(site: Site, code: str) -> str:
    """A signed result paper as the pipeline leaves it (scan digitized, document stored)."""
    svc = site.world.services
    data = b"%PDF-1.7\n% ket qua giai quyet\n"
    digest = hashlib.sha256(data).hexdigest()
    key = f"digitized/test/{digest}.pdf"
    svc.store.put(key, io.BytesIO(data), content_type="application/pdf", sha256=digest)
    now = site.world.clock()
    with session_scope(svc.sessions) as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == code))
        assert dossier is not None
        scan = Scan(
            status="digitized",
            step=None,
            filename="ket-qua.pdf",
            media_type="application/pdf",
            size=len(data),
            sha256=digest,
            original_key=key,
            clerk_id="tuphap",
            sign_as="unit",
        )
        session.add(scan)
        session.flush()
        doc = Document(
            scan_id=scan.id,
            object_key=key,
            sha256=digest,
            size=len(data),
            pages=1,
            language="vie",
            original_sha256=digest,
            ocr_sha256=digest,
            signer_name="Phòng Tư pháp",
            clerk_id="tuphap",
            pades_level="B-LTA",
            signed_at=now,
        )
        session.add(doc)
        session.flush()
        session.add(
            Result(
                dossier_id=dossier.id,
                scan_id=scan.id,
                document_id=doc.id,
                code="KQ.G15.000001",
                name="Bản sao trích lục khai sinh",
                uploaded_by="tuphap",
            )
        )
        return doc.id


def dossier_page(site: Site, code: str, query: str = "", client: TestClient | None = None) -> str:
    resp = (client or site.client).get(f"/web/dossiers/{code}{query}")
    assert resp.status_code == 200, resp.text
    return resp.text


def status_of(site: Site, code: str) -> int:
    return site.world.services.dossiers.view(site.world.principal("lan.nt"), code).status


def test_one_press_pays_once_and_the_receipt_prints(site: Site, tmp_path: Path) -> None:
    site.sign_in("lan.nt")
    code = received(site)
    html = dossier_page(site, code)
    assert "Thu 8.000 đ và lập biên lai" in html
    assert 'for="pay-reference"' in html and 'id="pay-reference"' in html
    fee_ids = FEE_IDS.findall(html)
    assert len(fee_ids) == 1
    form = {"csrf": site.csrf(f"/web/dossiers/{code}"), "method": "cash", "fee_ids": fee_ids}
    # The clerk presses twice (or the browser sends the form again): one payment, one receipt.
    for _ in range(2):
        resp = site.client.post(f"/web/dossiers/{code}/payments", data=form, follow_redirects=False)
        assert resp.status_code == 303, resp.text
        assert resp.headers["location"] == f"/web/dossiers/{code}?done=paid#money"
    svc, lan = site.world.services, site.world.principal("lan.nt")
    with session_scope(svc.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
        assert session.scalar(select(func.count()).select_from(Receipt)) == 1
    (receipt,) = svc.cashier.receipts(lan, code)

    html = dossier_page(site, code, "?done=paid")
    assert f"Đã thu tiền và lập biên lai {receipt.series}/{receipt.number_text}" in html
    assert f'href="/web/receipts/{receipt.id}.pdf"' in html and "In biên lai" in html
    assert "Thu 8.000 đ và lập biên lai" not in html  # nothing left to take now

    pdf = site.client.get(f"/web/receipts/{receipt.id}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf.content)
    text = " ".join(extract_text(str(path)).split())
    assert f"Số: {receipt.number_text}" in text and receipt.series in text
    # The receipt tells the payer how to follow the dossier: the same secret as form 01.
    assert f"Mã tra cứu: {svc.status_lookup.secret(code)}" in text
    with session_scope(svc.sessions) as session:
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "receipt.download")
        ).all()
    assert [(e.actor_id, e.subject_id) for e in audited] == [("lan.nt", receipt.id)]

    # Another unit's clerk gets no receipt by guessing its id.
    other = site.another()
    site.sign_in("minh.tv", other)
    assert other.get(f"/web/receipts/{receipt.id}.pdf").status_code == 404


def test_a_stale_form_does_not_pay_for_other_fees(site: Site) -> None:
    site.sign_in("lan.nt")
    code = received(site)
    csrf = site.csrf(f"/web/dossiers/{code}")
    resp = site.client.post(
        f"/web/dossiers/{code}/payments",
        data={"csrf": csrf, "method": "cash", "fee_ids": ["not-a-fee"]},
    )
    assert resp.status_code == 409
    assert "Khoản phí không phải nộp" in resp.text
    no_csrf = site.client.post(
        f"/web/dossiers/{code}/payments",
        data={"method": "cash", "fee_ids": FEE_IDS.findall(dossier_page(site, code))},
    )
    assert no_csrf.status_code == 403
    assert site.world.services.cashier.receipts(site.world.principal("lan.nt"), code) == []


def test_void_needs_a_reason_and_the_counter(site: Site) -> None:
    """Voiding is the cashier's rule, not the page's: the counter of the dossier's unit voids
    with a reason; another desk is refused and nothing changes."""
    site.sign_in("lan.nt")
    code = received(site)
    svc = site.world.services
    paid = svc.cashier.pay(site.world.principal("lan.nt"), code, method="cash")
    receipt = paid.receipt
    agency = site.another()
    site.sign_in("tuphap", agency)
    csrf = site.csrf("/web/agency", agency)
    refused = agency.post(
        f"/web/receipts/{receipt.id}/void", data={"csrf": csrf, "reason": "Sai tên người nộp"}
    )
    assert refused.status_code in (403, 404)
    assert svc.cashier.receipts(site.world.principal("lan.nt"), code)[0].status == "issued"

    html = dossier_page(site, code)
    assert f'action="/web/receipts/{receipt.id}/void"' in html
    assert 'for="void-reason-' in html
    csrf = site.csrf(f"/web/dossiers/{code}")
    no_reason = site.client.post(
        f"/web/receipts/{receipt.id}/void", data={"csrf": csrf, "reason": " "}
    )
    assert no_reason.status_code == 422
    resp = site.client.post(
        f"/web/receipts/{receipt.id}/void",
        data={"csrf": csrf, "reason": "Công dân rút hồ sơ, hoàn tiền"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"].endswith("?done=voided#money")
    (voided,) = svc.cashier.receipts(site.world.principal("lan.nt"), code)
    assert voided.status == "voided" and voided.void_reason == "Công dân rút hồ sơ, hoàn tiền"
    html = dossier_page(site, code)
    assert "Đã hủy" in html and "Công dân rút hồ sơ, hoàn tiền" in html
    assert "Thu 8.000 đ và lập biên lai" in html  # the fee is due again


def test_return_at_the_counter_after_the_fee_due_with_the_result(site: Site) -> None:
    site.sign_in("lan.nt")
    code = processed(site, LAND)
    html = dossier_page(site, code)
    assert "Kết quả và trả kết quả" in html
    assert "Còn phí, lệ phí chưa thu" in html
    assert f'action="/web/dossiers/{code}/return/counter"' not in html
    csrf = site.csrf(f"/web/dossiers/{code}")
    resp = site.client.post(
        f"/web/dossiers/{code}/payments",
        data={
            "csrf": csrf,
            "method": "transfer",
            "reference": "FT2611",
            "fee_ids": FEE_IDS.findall(html),
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    html = dossier_page(site, code)
    for label in ("Họ tên người nhận", "Số giấy tờ tùy thân của người nhận", "Mã vận đơn"):
        assert label in html
    resp = site.client.post(
        f"/web/dossiers/{code}/return/counter",
        data={
            "csrf": csrf,
            "recipient_name": "Phạm Thị Hương",
            "recipient_id": "031190004567",
            "relation": "Chính chủ",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == f"/web/dossiers/{code}?done=returned#money"
    assert status_of(site, code) == Status.RETURNED
    html = dossier_page(site, code, "?done=returned")
    assert "Đã trao kết quả" in html
    assert "Tại quầy" in html and "Chính chủ" in html
    assert "Trả tại quầy</button>" not in html  # returned: nothing more to hand over


def test_return_by_post_until_delivered(site: Site) -> None:
    site.sign_in("lan.nt")
    code = processed(site, collect_at="post")
    csrf = site.csrf(f"/web/dossiers/{code}")
    html = dossier_page(site, code)
    assert APPLICANT.address in html  # where the parcel goes
    resp = site.client.post(
        f"/web/dossiers/{code}/return/post",
        data={"csrf": csrf, "tracking_number": "EV123456789VN", "postal_fee": "25000"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    html = dossier_page(site, code, "?done=posted")
    assert "EV123456789VN" in html and "Bưu điện đã nhận" in html
    (parcel,) = site.world.services.returns.returns(site.world.principal("lan.nt"), code)
    for step in ("in_transit", "delivered"):
        resp = site.client.post(
            f"/web/returns/{parcel.id}/postal-status",
            data={"csrf": csrf, "status": step, "dossier": code},
            follow_redirects=False,
        )
        assert resp.status_code == 303, resp.text
    assert status_of(site, code) == Status.RETURNED
    assert "Đã phát" in dossier_page(site, code)


def test_return_online_shows_the_link_once(site: Site) -> None:
    site.sign_in("lan.nt")
    code = processed(site, collect_at="online")
    html = dossier_page(site, code)
    assert "Chỉ làm được khi kết quả đã được số hóa và ký" in html
    doc_id = add_result(site, code)
    html = dossier_page(site, code)
    assert f'href="/web/documents/{doc_id}/pdf"' in html
    csrf = site.csrf(f"/web/dossiers/{code}")
    resp = site.client.post(
        f"/web/dossiers/{code}/return/online", data={"csrf": csrf, "hours": "48"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    link = re.search(r'value="(http[^"]+/web/results/(kq_[^"]+))"', resp.text)
    assert link, resp.text
    token = link.group(2)
    assert "Đường liên kết chỉ hiện một lần" in resp.text
    html = dossier_page(site, code, "?done=linked")
    assert token not in html and "Tải về 0 lần" not in html and "0 lượt tải" in html

    citizen = site.another()
    page = citizen.get(f"/web/results/{token}")
    assert page.status_code == 200 and "Bản sao trích lục khai sinh" in page.text
    assert f'href="/public/results/{token}/{doc_id}"' in page.text
    assert citizen.get(f"/public/results/{token}/{doc_id}").status_code == 200
    assert status_of(site, code) == Status.RETURNED
    assert citizen.get("/web/results/kq_wrong").status_code == 404
    site.world.clock.advance(hours=49)
    gone = citizen.get(f"/web/results/{token}")
    assert gone.status_code == 410 and "hết hạn" in gone.text


def test_panels_are_for_the_counter_only(site: Site) -> None:
    code = processed(site)
    auditor = site.sign_in("kiemtra")
    resp = auditor.get(f"/web/dossiers/{code}")
    assert resp.status_code == 200
    assert 'id="money"' not in resp.text and 'id="returns"' not in resp.text
