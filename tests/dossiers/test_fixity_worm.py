"""Fixity finds a corrupted or missing object; signed documents on SeaweedFS are WORM."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from dossiers.records.fixity import check
from dossiers.workflow.service import ApplicantIn
from ingest.runner import run_step
from ingest.upload import accept_upload
from ingest.validate import spool
from storage.db import session_scope
from storage.errors import ObjectLocked
from storage.models import Document
from tests.dossiers.world import VN, make_world
from wiring.factory import build

BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}


def _stored_world(services):  # type: ignore[no-untyped-def]
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    clerk = world.principal("lan.nt")
    svc = services.dossiers
    ref = svc.create(
        clerk,
        procedure_code="2.000720",
        applicant=ApplicantIn("Đinh Thị Thu", "CCCD", "001190005555"),
    )
    svc.check_components(clerk, ref, {"giay_de_nghi": 1, "ban_sao_cccd": 1})
    svc.receive(clerk, ref)  # form 01
    services.cashier.pay(clerk, ref, method="cash")  # receipt XML + PDF
    return world, ref


def test_fixity_reports_a_flipped_byte_and_a_lost_file(make_settings, tmp_path: Path) -> None:
    services = build(make_settings())
    _stored_world(services)
    clean = check(services.sessions, services.store)
    assert clean.ok and clean.checked == 3  # form 01, receipt XML, receipt PDF
    root = services.settings.resolved_store_path
    stored = sorted(
        p for p in root.rglob("*") if p.is_file() and "receipts" in p.parts and p.suffix == ".pdf"
    )
    assert stored, list(root.rglob("*"))
    data = bytearray(stored[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    stored[0].write_bytes(bytes(data))
    forms = [
        p for p in root.rglob("*") if p.is_file() and "forms" in p.parts and ".meta" not in p.parts
    ]
    forms[0].unlink()
    report = check(services.sessions, services.store)
    assert not report.ok
    assert [m["kind"] for m in report.mismatches] == ["receipt"]
    assert [m["kind"] for m in report.missing] == ["form"]
    # The command says the same and exits 1.
    env = {**os.environ, "SOHOA_DATA_DIR": str(services.settings.data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "wiring.cli", "fixity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH receipt" in result.stdout and "MISSING form" in result.stdout


@pytest.mark.s3
@pytest.mark.slow
def test_signed_documents_are_locked_on_seaweedfs(make_settings, seaweedfs) -> None:  # type: ignore[no-untyped-def]
    services = build(
        make_settings(
            store="s3",
            s3_endpoint=seaweedfs.endpoint,
            s3_access_key=seaweedfs.access_key,
            s3_secret_key=seaweedfs.secret_key,
            s3_bucket="worm-test",
            s3_object_lock=True,
            retention_days=1,
            retention_mode="GOVERNANCE",
        )
    )
    image = Image.new("RGB", (600, 400), "white")
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(300, 300))
    spooled = spool([buf.getvalue()], services.settings.work_dir / "up.png", max_bytes=10**6)
    scan = accept_upload(services, spooled, filename="page.png").scan
    run_step(services, scan.id, "ocr")
    run_step(services, scan.id, "sign")
    with session_scope(services.sessions) as session:
        doc = session.query(Document).filter_by(scan_id=scan.id).one()
        key, sha = doc.object_key, doc.sha256
    info = services.store.stat(key)
    assert info.retention_mode == "GOVERNANCE" and info.retain_until is not None
    with pytest.raises(ObjectLocked):
        services.store.delete(key)
    # A second write to the key is a new version; the signed one stays and stays locked.
    services.store.put(key, io.BytesIO(b"%PDF-1.7 forged"), content_type="application/pdf")
    with pytest.raises(ObjectLocked):
        services.store.delete(key)
    assert (
        check(services.sessions, services.store).mismatches[0]["key"] == key
    )  # and fixity notices the new version
    assert sha
