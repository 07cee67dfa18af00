"""The auditor's pages: a document signed through the pipeline is found without accents, shows
its valid signature, its reports and its PDF; a changed file shows as invalid and fails fixity;
another province sees nothing; the chain's status follows an edit behind the service's back;
the search page reads a fixed number of statements however many documents it lists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from dossiers.models import ComponentScan, DossierComponent
from dossiers.records.search import index_entry
from dossiers.workflow.scanhooks import ComponentRef
from dossiers.workflow.service import ApplicantIn
from ingest.runner import run_step
from ingest.upload import accept_upload, upload_dir
from ingest.validate import spool
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus, new_id
from tests.dossiers.world import OWN, VN, make_world
from tests.fixtures.pki import born_digital_pdf
from tests.web.conftest import Site
from web.render import LANG_COOKIE
from wiring.asgi import application
from wiring.factory import build

PAPER = "CĂN CƯỚC CÔNG DÂN\nHọ và tên: Nguyễn Văn Bình\nSố: 001190006666"
APPLICANT = ApplicantIn("Đỗ Thị Hạnh", "CCCD", "001190006666")
PAPERS = {"giay_de_nghi": 1, "ban_sao_cccd": 1}
VALID = "Chữ ký hợp lệ"
INVALID = "Chữ ký KHÔNG hợp lệ"


@dataclass
class Signed:
    site: Site
    dossier_id: str
    code: str
    component_id: str
    doc_id: str

    @property
    def services(self) -> Any:
        return self.site.world.services


def _open_dossier(site: Site) -> tuple[str, str, str]:
    services = site.world.services
    clerk = site.world.principal("cong.ch")
    ref = services.dossiers.create(clerk, procedure_code="2.000720", applicant=APPLICANT)
    services.dossiers.check_components(clerk, ref, PAPERS)
    services.dossiers.receive(clerk, ref)
    view = services.dossiers.view(clerk, ref)
    component = next(c for c in view.components if c.key == "ban_sao_cccd")
    assert view.code
    return view.id, view.code, component.id


@pytest.fixture
def site(make_settings: Any) -> Iterator[Site]:
    services = build(make_settings(sign_forms=False))
    world = make_world(services, datetime.now(VN).replace(microsecond=0))
    client = TestClient(application(services))
    yield Site(world, client)
    client.close()
    services.engine.dispose()


@pytest.fixture
def signed(site: Site, tmp_path: Path) -> Signed:
    """One page of a citizen's ID card, scanned to its component and signed by the pipeline."""
    services = site.world.services
    dossier_id, code, component_id = _open_dossier(site)
    pdf = born_digital_pdf(tmp_path / "cccd.pdf", [PAPER])
    spooled = spool([pdf.read_bytes()], upload_dir(services.settings) / "up.pdf", max_bytes=10**7)
    scan = accept_upload(
        services,
        spooled,
        filename="cccd.pdf",
        clerk_id="cong.ch",
        unit_code=OWN,
        target=ComponentRef(dossier_id, component_id),
    ).scan
    assert run_step(services, scan.id, "ocr") and not run_step(services, scan.id, "sign").failed
    with session_scope(services.sessions) as session:
        doc_id = session.query(Document.id).filter(Document.scan_id == scan.id).scalar()
    assert doc_id
    return Signed(site, dossier_id, code, component_id, doc_id)


def _tamper(signed: Signed) -> None:
    """Flip one byte of the stored file behind the service's back."""
    with session_scope(signed.services.sessions) as session:
        key = session.get(Document, signed.doc_id).object_key  # type: ignore[union-attr]
    stored = signed.services.settings.resolved_store_path / key
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))


def test_the_auditor_finds_the_document_without_accents_and_reads_its_verification(
    signed: Signed,
) -> None:
    site = signed.site
    client = site.sign_in("kiemtra")
    found = client.get("/web/audit", params={"q": "nguyen van binh"})
    assert found.status_code == 200, found.text
    assert f'href="/web/documents/{signed.doc_id}"' in found.text
    assert signed.code in found.text and "Bản sao" in found.text  # the paper's name
    # The dossier's own fields are searched too, and other filters narrow the same list.
    by_name = client.get("/web/audit", params={"q": "do thi hanh"}).text
    assert signed.doc_id in by_name and 'id="dossier-hits"' in by_name
    by_code = client.get("/web/audit", params={"dossier": signed.code}).text
    assert signed.doc_id in by_code
    assert signed.doc_id in client.get("/web/audit", params={"doc": signed.doc_id}).text
    tomorrow = (datetime.now(VN) + timedelta(days=1)).date().isoformat()
    later = client.get("/web/audit", params={"from": tomorrow}).text
    assert signed.doc_id not in later and 'id="no-documents"' in later
    assert signed.doc_id not in client.get("/web/audit", params={"q": "khong co chu nay"}).text

    page = client.get(f"/web/documents/{signed.doc_id}")
    assert page.status_code == 200, page.text
    assert VALID in page.text and INVALID not in page.text
    assert f'<iframe class="pdf" src="/web/documents/{signed.doc_id}/pdf"' in page.text
    assert f"/web/documents/{signed.doc_id}/report.pdf" in page.text
    assert f"/web/documents/{signed.doc_id}/report.json" in page.text
    assert "Người ký" in page.text and "PAdES" in page.text and signed.code in page.text

    report = client.get(f"/web/documents/{signed.doc_id}/report.json")
    assert report.status_code == 200
    body = json.loads(report.text)
    assert body["document_id"] == signed.doc_id and body["indication"] == "TOTAL_PASSED"
    assert body["document"]["stored_hash_match"] is True
    as_pdf = client.get(f"/web/documents/{signed.doc_id}/report.pdf")
    assert as_pdf.status_code == 200 and as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")

    pdf = client.get(f"/web/documents/{signed.doc_id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in pdf.headers["cache-control"]

    # Reading the file and its report are in the chain, with the document's history, and
    # name the dossier so the province's auditors find them in the chain's events.
    history = client.get(f"/web/documents/{signed.doc_id}").text
    assert "Tài liệu đã được tải về" in history and "Đã lập báo cáo xác thực" in history
    downloads = client.get("/web/audit/chain", params={"action": "document.download"}).text
    assert f'href="/web/documents/{signed.doc_id}"' in downloads and "kiemtra" in downloads

    # The same page in English, for whoever switched.
    client.cookies.set(LANG_COOKIE, "en")
    english = client.get(f"/web/documents/{signed.doc_id}").text
    assert "Valid signature" in english and "Signature verification" in english


def test_who_may_see_the_document_and_the_audit_pages(signed: Signed) -> None:
    site = signed.site
    # The counter of the dossier's unit reads the PDF (the scans panel embeds it) but has no
    # audit pages.
    clerk = site.sign_in("lan.nt", site.another())
    assert clerk.get(f"/web/documents/{signed.doc_id}/pdf").status_code == 200
    own = clerk.get(f"/web/documents/{signed.doc_id}").text
    assert VALID in own and 'id="history"' not in own and 'href="/web/audit/chain"' not in own
    refused = clerk.get("/web/audit")
    assert refused.status_code == 403 and "role_forbidden" in refused.text
    assert clerk.get("/web/audit/chain").status_code == 403
    assert clerk.get("/web/audit/fixity").status_code == 403
    # A counter of another unit does not know the document exists.
    other = site.sign_in("minh.tv", site.another())
    assert other.get(f"/web/documents/{signed.doc_id}/pdf").status_code == 404
    # Nor does the auditor of another province, by link or by search.
    foreign = site.sign_in("kiemtra.b", site.another())
    page = foreign.get(f"/web/documents/{signed.doc_id}")
    assert page.status_code == 404 and "document_not_found" in page.text
    assert "<html" in page.text  # a page, not the API's JSON
    for path in ("report.json", "report.pdf", "pdf"):
        assert foreign.get(f"/web/documents/{signed.doc_id}/{path}").status_code == 404
    found = foreign.get("/web/audit", params={"q": "nguyen van binh"})
    assert found.status_code == 200 and signed.doc_id not in found.text
    assert signed.doc_id not in foreign.get("/web/audit").text
    # The administrator sees everything.
    admin = site.sign_in("quantri", site.another())
    assert VALID in admin.get(f"/web/documents/{signed.doc_id}").text
    # Signed out, the page leads to the sign-in form and back.
    anonymous = site.another().get(f"/web/documents/{signed.doc_id}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/web/login?next=")


def test_a_changed_file_is_invalid_and_fails_fixity(signed: Signed) -> None:
    site = signed.site
    client = site.sign_in("kiemtra")
    fixity = client.get("/web/audit/fixity")
    assert fixity.status_code == 200 and 'id="never"' in fixity.text
    csrf = site.csrf("/web/audit/fixity")
    done = client.post(
        "/web/audit/fixity", data={"csrf": csrf, "sample": "50"}, follow_redirects=False
    )
    assert done.status_code == 303
    clean = client.get(done.headers["location"]).text
    assert "mọi tệp đều khớp" in clean.lower() and 'id="fixity-badge"' in clean

    _tamper(signed)
    page = client.get(f"/web/documents/{signed.doc_id}")
    assert page.status_code == 200
    assert INVALID in page.text and VALID not in page.text
    report = client.get(f"/web/documents/{signed.doc_id}/report.json").json()
    assert report["indication"] == "TOTAL_FAILED"
    assert report["document"]["stored_hash_match"] is False
    # The API gives the auditor the same verdict, not a refusal to read the changed file.
    bearer = {"Authorization": f"Bearer {site.world.tokens['kiemtra']}"}
    api = site.client.get(f"/api/v1/documents/{signed.doc_id}/report", headers=bearer)
    assert api.status_code == 200, api.text
    assert api.json()["indication"] == "TOTAL_FAILED"
    assert api.json()["document"]["stored_hash_match"] is False
    verdict = site.client.get(f"/api/v1/documents/{signed.doc_id}/verification", headers=bearer)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["ok"] is False and verdict.json()["sha256_matches"] is False

    failed = client.post("/web/audit/fixity", data={"csrf": csrf, "sample": "50"}).text
    assert 'class="error" role="alert"' in failed and "có tệp không khớp" in failed
    assert re.search(r'id="mismatched">\s*1\b', failed), failed
    assert f'href="/web/documents/{signed.doc_id}"' in failed
    # Without the form's token nothing runs.
    assert client.post("/web/audit/fixity", data={"sample": "5"}).status_code == 403


def test_the_chain_is_intact_until_a_row_is_edited(site: Site) -> None:
    _open_dossier(site)
    client = site.sign_in("kiemtra")
    chain = client.get("/web/audit/chain")
    assert chain.status_code == 200
    # The page comes at once; its script fetches the status, a link renders it without one.
    assert 'data-status-url="/web/audit/chain/status"' in chain.text
    assert "audit.js" in chain.text and 'href="/web/audit/chain?verify=1"' in chain.text
    assert "Tiếp nhận hồ sơ" in chain.text  # actions in words
    for status in (client.get("/web/audit/chain/status"), client.get("/web/audit/chain?verify=1")):
        assert status.status_code == 200
        assert "Chuỗi nhật ký nguyên vẹn" in status.text
        assert 'class="badge ok" id="chain-badge"' in status.text
    only = client.get("/web/audit/chain", params={"action": "dossier.create"}).text
    assert "Mở hồ sơ" in only and "Tiếp nhận hồ sơ</td>" not in only
    assert "cong.ch" in client.get("/web/audit/chain", params={"actor": "cong.ch"}).text
    assert 'id="no-events"' in client.get("/web/audit/chain", params={"actor": "nobody"}).text
    # Another province's auditor sees the chain's status but none of these events.
    foreign = site.sign_in("kiemtra.b", site.another())
    assert 'id="no-events"' in foreign.get("/web/audit/chain").text
    assert "Chuỗi nhật ký nguyên vẹn" in foreign.get("/web/audit/chain/status").text
    # A counter may not read it, and a script is told so in JSON.
    clerk = site.sign_in("cong.ch", site.another())
    refused = clerk.get("/web/audit/chain/status", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["code"] == "role_forbidden"

    engine = site.world.services.engine
    with engine.begin() as conn:
        triggers = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_events'")
        ).scalars()
        for name in list(triggers):
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(text("UPDATE audit_events SET actor_id = 'someone.else' WHERE seq = 2"))
    for broken in (client.get("/web/audit/chain/status"), client.get("/web/audit/chain?verify=1")):
        assert "Chuỗi nhật ký BỊ PHÁ VỠ" in broken.text and "sự kiện số 2" in broken.text
        assert "sự kiện đã bị sửa" in broken.text


def _documents(site: Site, dossier_id: str, component_id: str, n: int) -> None:
    """``n`` signed documents of one paper, written straight to the ledger (the search reads
    rows, not files)."""
    at = site.world.clock()
    with session_scope(site.world.services.sessions) as session:
        comp = session.get(DossierComponent, component_id)
        assert comp is not None
        ids = []
        for i in range(n):
            sha = new_id() * 2  # 64 hex digits, unique per paper as the ledger wants
            scan = Scan(
                id=new_id(),
                status=ScanStatus.DIGITIZED,
                step=None,
                filename=f"trang-{i}.pdf",
                media_type="application/pdf",
                size=1000,
                sha256=sha,
                original_key=f"originals/x{i}/original.pdf",
                clerk_id="cong.ch",
                unit_code=OWN,
            )
            session.add(scan)
            session.flush()
            doc = Document(
                id=new_id(),
                scan_id=scan.id,
                object_key=f"documents/{scan.id}/signed.pdf",
                sha256=sha,
                size=1000,
                pages=1,
                language="vie",
                original_sha256=sha,
                ocr_sha256=sha,
                signer_name="Lê Công Chức",
                clerk_id="cong.ch",
                pades_level="B-LTA",
                signed_at=at - timedelta(minutes=i),
            )
            session.add(doc)
            session.add(
                ComponentScan(
                    scan_id=scan.id, component_id=comp.id, dossier_id=dossier_id, sha256=scan.sha256
                )
            )
            index_entry(session, dossier_id, "document", doc.id, f"Nguyễn Văn Bình trang {i}")
            ids.append(doc.id)
        comp.document_ids = [*comp.document_ids, *ids]


def _statements(client: TestClient, engine: Any, url: str) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        resp = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert resp.status_code == 200, resp.text
    return len(seen)


@pytest.mark.parametrize("url", ["/web/audit?q=nguyen+van+binh", "/web/audit"])
def test_the_search_reads_a_fixed_number_of_statements(site: Site, url: str) -> None:
    dossier_id, _, component_id = _open_dossier(site)
    client = site.sign_in("kiemtra")
    engine = site.world.services.engine
    _documents(site, dossier_id, component_id, 5)
    few = _statements(client, engine, url)
    _documents(site, dossier_id, component_id, 45)
    many = _statements(client, engine, url)
    assert few == many, (few, many)
    listed = client.get(url).text
    assert listed.count('href="/web/documents/') == 25 and 'rel="next"' in listed
    second = client.get(url + ("&" if "?" in url else "?") + "page=2").text
    assert second.count('href="/web/documents/') == 25 and 'rel="prev"' in second
