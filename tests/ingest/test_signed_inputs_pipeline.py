"""A PDF that arrives signed goes through the steps without being rewritten: its bytes are the
prefix of what we store, its signatures still validate after ours, its text is indexed.

Real services throughout: the dev PKI our service signs with, a second (foreign) CA for the
received files, pyHanko, Tesseract, SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.runner import run_step
from ingest.upload import accept_upload, upload_dir
from ingest.validate import spool
from signing.verify import load_certificates, verify_pdf
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus, Step
from tests.fixtures.pki import FOREIGN_SIGNER, ForeignCa, born_digital_pdf
from tests.ocr.pagegen import A6, render_page, save_pdf
from wiring.factory import Services, build

pytestmark = pytest.mark.slow

TEXT = "GIẤY CHỨNG NHẬN\nSố: 123/GCN-STP\nHọ và tên: Trần Văn Bình\nngày 03 tháng 11 năm 2026"


@pytest.fixture
def sqlite_services(make_settings) -> Services:  # type: ignore[no-untyped-def]
    svc = build(make_settings())
    yield svc
    svc.engine.dispose()


def _upload(services: Services, path: Path, **kw: object) -> str:
    spooled = spool(
        [path.read_bytes()],
        upload_dir(services.pipeline_config) / f"up-{path.name}",
        max_bytes=10**8,
    )
    return accept_upload(services, spooled, filename=path.name, **kw).scan.id  # type: ignore[arg-type]


def _scan(services: Services, scan_id: str) -> Scan:
    with session_scope(services.sessions) as s:
        scan = s.get(Scan, scan_id)
        assert scan is not None
        s.expunge(scan)
        return scan


def _document(services: Services, scan_id: str) -> Document:
    with session_scope(services.sessions) as s:
        doc = s.query(Document).filter(Document.scan_id == scan_id).one()
        s.expunge(doc)
        return doc


def _roots(services: Services, foreign_ca: ForeignCa) -> list:
    return [*services.trust_roots, *load_certificates(foreign_ca.root_pem)]


def test_signed_input_is_kept_indexed_and_countersigned(
    services: Services, foreign_ca: ForeignCa, tmp_path: Path
) -> None:
    # Page 1 has a text layer; page 2 is a picture of text, as a scan pasted into a result.
    made = born_digital_pdf(tmp_path / "result.pdf", [TEXT, None])
    received = foreign_ca.sign(made, tmp_path / "received.pdf")
    original = received.read_bytes()
    scan_id = _upload(services, received)

    assert run_step(services, scan_id, Step.OCR).next_step == Step.SIGN
    scan = _scan(services, scan_id)
    assert scan.ocr_key == scan.original_key  # nothing was made from it
    assert "signed_input_kept_as_received" in scan.warnings
    assert "signed_input_signer_not_trusted" in scan.warnings  # their CA is not ours
    assert scan.ocr_result is not None and scan.ocr_result["signed_input"]["ocr_pages"] == [2]

    outcome = run_step(services, scan_id, Step.SIGN)
    assert not outcome.failed and _scan(services, scan_id).status == ScanStatus.DIGITIZED
    doc = _document(services, scan_id)
    stored = tmp_path / "stored.pdf"
    services.store.get_to_file(doc.object_key, stored)
    data = stored.read_bytes()
    assert data.startswith(original) and len(data) > len(original)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.original_sha256 == hashlib.sha256(original).hexdigest()
    assert services.store.exists(scan.original_key)  # the original is never deleted

    assert doc.pdfa_source == "as_received" and doc.attachments == []
    assert [p["path"] for p in doc.page_info] == ["kept", "kept"]
    assert [p["text"] for p in doc.page_info] == ["text_layer", "ocr_index_only"]
    assert [p["language"] for p in doc.page_info] == ["vie", "vie"] and doc.language == "vie"
    (theirs,) = doc.input_signatures
    assert theirs["field_name"] == "Signature1" and theirs["signer"] == FOREIGN_SIGNER
    assert theirs["intact"] and theirs["valid"] and not theirs["trusted"]
    assert theirs["covers_whole_document"] and theirs["signing_time"]
    assert "Trần Văn Bình" in doc.page_texts[0]
    assert "123" in doc.page_texts[1] and "CHỨNG NHẬN" in doc.page_texts[1]  # OCR, index only
    assert "123/GCN-STP" in doc.fields["document_numbers"]

    # Theirs is still intact after ours, ours verifies, and every signature is listed.
    report = verify_pdf(
        stored, trust_roots=_roots(services, foreign_ca), expected_sha256=doc.sha256
    )
    assert [s.field_name for s in report.signatures] == ["Signature1", "SohoaSignature"]
    assert report.ok, report.to_dict()
    ours = report.signatures[1]
    assert ours.signer == doc.signer_name and ours.coverage == "ENTIRE_FILE"

    client = TestClient(create_app(services))
    auth = {"Authorization": "Bearer test-token-not-secret"}
    body = client.get(f"/api/v1/documents/{doc.id}", headers=auth).json()
    assert body["pdfa_source"] == "as_received" and body["attachments"] == []
    assert body["input_signatures"] == doc.input_signatures
    assert body["page_info"] == doc.page_info
    verification = client.get(body["verification_url"], headers=auth).json()
    assert [s["field_name"] for s in verification["signatures"]] == [
        "Signature1",
        "SohoaSignature",
    ]
    # Our roots only: theirs is intact but untrusted, so the file as a whole is not "ok".
    assert verification["signatures"][0]["intact"] and verification["signatures"][1]["ok"]
    simple = client.get(f"/api/v1/documents/{doc.id}/report", headers=auth).json()
    assert [s["field_name"] for s in simple["signatures"]] == ["Signature1", "SohoaSignature"]
    assert simple["document"]["stored_hash_match"] is True
    pdf = client.get(f"/api/v1/documents/{doc.id}/report?format=pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_certified_result_signed_by_the_unit_invisibly(
    sqlite_services: Services, foreign_ca: ForeignCa, tmp_path: Path
) -> None:
    services = sqlite_services
    made = born_digital_pdf(tmp_path / "result.pdf", [TEXT])
    received = foreign_ca.sign(made, tmp_path / "certified.pdf", certify=True, docmdp=2)
    scan_id = _upload(services, received, sign_as="unit", sign_options={"qr": "dossier-code"})
    assert run_step(services, scan_id, Step.OCR).next_step == Step.SIGN
    assert not run_step(services, scan_id, Step.SIGN).failed
    scan = _scan(services, scan_id)
    assert scan.status == ScanStatus.DIGITIZED, (scan.reason_code, scan.reason_message)
    assert {"signed_input_certified_invisible_signature", "qr_not_drawn_on_signed_input"} <= set(
        scan.warnings
    )
    doc = _document(services, scan_id)
    stored = tmp_path / "stored.pdf"
    services.store.get_to_file(doc.object_key, stored)
    assert stored.read_bytes().startswith(received.read_bytes())
    assert doc.signer_name == services.settings.unit_name
    report = verify_pdf(stored, trust_roots=_roots(services, foreign_ca))
    theirs, ours = report.signatures
    assert theirs.docmdp_ok and ours.signer == services.settings.unit_name
    assert report.ok, report.to_dict()


def test_no_changes_certification_fails_with_a_clear_code(
    sqlite_services: Services, foreign_ca: ForeignCa, tmp_path: Path
) -> None:
    services = sqlite_services
    made = born_digital_pdf(tmp_path / "result.pdf", [TEXT])
    locked = foreign_ca.sign(made, tmp_path / "locked.pdf", certify=True, docmdp=1)
    scan_id = _upload(services, locked)
    assert run_step(services, scan_id, Step.OCR).failed
    scan = _scan(services, scan_id)
    assert scan.status == ScanStatus.FAILED and scan.reason_code == "signed_input_locked"
    assert "DocMDP" in (scan.reason_message or "")
    assert services.store.exists(scan.original_key)


def test_unsigned_pdf_still_goes_the_normal_way(sqlite_services: Services, tmp_path: Path) -> None:
    services = sqlite_services
    page = render_page(size_in=A6, paragraphs=("Số: 40/QĐ-UBND", "Giấy khai sinh"))
    scan_id = _upload(services, save_pdf([page.image], tmp_path / "scan.pdf"))
    assert run_step(services, scan_id, Step.OCR).next_step == Step.SIGN
    scan = _scan(services, scan_id)
    assert scan.ocr_key != scan.original_key and "signed_input" not in (scan.ocr_result or {})
    assert "signed_input_kept_as_received" not in scan.warnings
    assert not run_step(services, scan_id, Step.SIGN).failed
    doc = _document(services, scan_id)
    assert doc.pdfa_source == "converted" and doc.input_signatures == []
    assert not services.store.exists(scan.ocr_key)  # the work copy is cleaned up
    assert services.store.exists(scan.original_key)
