"""No development PKI by accident, and signature reports that say when it signed.

Outside the embedded default (a PostgreSQL database, an S3 store or a broker server) the service
refuses to start without real certificates and trust roots unless SOHOA_PKI=development names
the development PKI; /readyz and every report say when it is in use. Reports served over HTTP
carry no server path.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ingest.runner import run_step
from ingest.upload import accept_upload, upload_dir
from ingest.validate import spool
from signing.pki import init_dev_pki
from signing.report import DEVELOPMENT_PKI_WARNING, simple_report
from signing.verify import load_certificates, verify_pdf
from storage.db import session_scope
from storage.models import Document, Step
from tests.conftest import TOKEN
from tests.fixtures.pki import ForeignCa, born_digital_pdf
from wiring.factory import (
    ConfigurationError,
    Services,
    build,
    check_signing_setup,
    development_pki_in_use,
    ensure_dev_pki,
)

PRODUCTION_LIKE = [
    {"database_url": "postgresql+psycopg://sohoa@127.0.0.1:1/sohoa"},
    {"store": "s3", "s3_endpoint": "127.0.0.1:1"},
    {"broker_url": "redis://127.0.0.1:1/0"},
]


@pytest.mark.parametrize("overrides", PRODUCTION_LIKE)
def test_a_production_like_install_refuses_the_development_pki(
    make_settings: Any, tmp_path: Path, overrides: dict[str, Any]
) -> None:
    settings = make_settings(pki="auto", **overrides)
    with pytest.raises(ConfigurationError) as err:
        build(settings)
    message = str(err.value)
    for name in ("SOHOA_TRUST_ROOTS", "SOHOA_PKI_DIR", "SOHOA_PKI=development"):
        assert name in message
    assert not settings.resolved_pki_dir.exists()  # no fake CA made on the way


@pytest.mark.parametrize("overrides", PRODUCTION_LIKE)
def test_the_development_pki_named_is_allowed_and_reported(
    make_settings: Any, overrides: dict[str, Any]
) -> None:
    settings = make_settings(pki="development", **overrides)
    check_signing_setup(settings)
    assert development_pki_in_use(settings)


def test_real_certificates_and_roots_start_and_are_not_development(
    make_settings: Any, tmp_path: Path, foreign_ca: ForeignCa
) -> None:
    pki = tmp_path / "licensed"
    (pki / "clerks").mkdir(parents=True)
    shutil.copy(foreign_ca.signer_p12, pki / "unit.p12")
    settings = make_settings(
        pki="auto",
        store="s3",
        pki_dir=pki,
        trust_roots=[foreign_ca.root_pem],
    )
    check_signing_setup(settings)
    assert not development_pki_in_use(settings)

    # The development PKI's own root among the trust roots, or its directory: refused.
    dev = init_dev_pki(
        tmp_path / "dev", unit_name="U", unit_code="000.00.00.H00", clerks=[], password="p"
    )
    with pytest.raises(ConfigurationError, match="development root"):
        check_signing_setup(
            make_settings(pki="auto", store="s3", pki_dir=pki, trust_roots=[dev.root_cert])
        )
    with pytest.raises(ConfigurationError, match="holds the development PKI"):
        check_signing_setup(
            make_settings(
                pki="auto", store="s3", pki_dir=tmp_path / "dev", trust_roots=[foreign_ca.root_pem]
            )
        )


def test_readyz_says_which_pki_signs(
    make_settings: Any, tmp_path: Path, foreign_ca: ForeignCa
) -> None:
    embedded = build(make_settings(pki="auto"))  # make run: nothing configured
    with TestClient(create_app(embedded)) as client:
        assert client.get("/readyz").json()["signing"] == "development-pki"
    embedded.engine.dispose()

    pki = tmp_path / "licensed"
    pki.mkdir()
    shutil.copy(foreign_ca.signer_p12, pki / "unit.p12")
    configured = build(
        make_settings(
            pki="auto", data_dir=tmp_path / "d2", pki_dir=pki, trust_roots=[foreign_ca.root_pem]
        )
    )
    with TestClient(create_app(configured)) as client:
        assert client.get("/readyz").json()["signing"] == "configured"
    configured.engine.dispose()


# -- reports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One born-digital PDF through the pipeline on the embedded default (development PKI)."""
    from core.settings import Settings

    work = tmp_path_factory.mktemp("pki-guard")
    services = build(Settings(data_dir=work / "data", api_token=TOKEN, ocr_jobs=1))
    src = born_digital_pdf(work / "giay-to.pdf", ["GIẤY XÁC NHẬN\nSố: 12/XN"])
    spooled = spool([src.read_bytes()], upload_dir(services.settings) / "up.pdf", max_bytes=10**7)
    scan_id = accept_upload(services, spooled, filename="giay-to.pdf").scan.id
    assert run_step(services, scan_id, Step.OCR).next_step == Step.SIGN
    assert not run_step(services, scan_id, Step.SIGN).failed
    with session_scope(services.sessions) as s:
        doc = s.query(Document).filter(Document.scan_id == scan_id).one()
        doc_id = doc.id
    yield services, doc_id, work
    services.engine.dispose()


def _server_paths(services: Services, work: Path) -> list[str]:
    s = services.settings
    return [str(p) for p in (work, s.data_dir.resolve(), s.work_dir, s.resolved_store_path)]


def test_verification_and_reports_say_development_pki_and_show_no_server_path(
    signed: Any, tmp_path: Path
) -> None:
    services, doc_id, work = signed
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(services)) as client:
        verification = client.get(f"/api/v1/documents/{doc_id}/verification", headers=auth)
        report = client.get(f"/api/v1/documents/{doc_id}/report", headers=auth)
        pdf = client.get(f"/api/v1/documents/{doc_id}/report?format=pdf", headers=auth)
    assert verification.status_code == report.status_code == pdf.status_code == 200
    v = verification.json()
    assert v["ok"] and v["development_pki"] is True
    assert all(sig["development_pki"] for sig in v["signatures"])
    r = report.json()
    assert r["development_pki"] is True and DEVELOPMENT_PKI_WARNING in r["warnings"]
    assert all(sig["development_pki"] for sig in r["signatures"])
    (tmp_path / "r.pdf").write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "PKI phát triển" in text
    for body in (verification.text, report.text, text):
        assert "/tmp" not in body and str(Path.home()) not in body
        for path in _server_paths(services, work):
            assert path not in body


def test_a_licensed_chain_is_not_reported_as_development(
    foreign_ca: ForeignCa, tmp_path: Path
) -> None:
    src = born_digital_pdf(tmp_path / "a.pdf", ["KẾT QUẢ"])
    theirs = foreign_ca.sign(src, tmp_path / "theirs.pdf")
    roots = load_certificates(foreign_ca.root_pem)
    v = verify_pdf(theirs, trust_roots=roots)
    assert v.ok and not v.development_pki and v.to_dict()["filename"] == "theirs.pdf"
    assert str(tmp_path) not in str(v.to_dict())
    r = simple_report(theirs, trust_roots=roots)
    assert not r.to_dict()["development_pki"] and DEVELOPMENT_PKI_WARNING not in r.warnings


def test_a_worker_starting_while_another_creates_the_pki_waits_for_its_clerks(
    make_settings: Any, tmp_path: Path
) -> None:
    """Two worker processes sign their first scans at the same moment: the one that did not
    create the development PKI must not mistake the half-written one for an operator's own
    files and sign (fail) without its clerks' certificates."""
    settings = make_settings(pki_dir=tmp_path / "pki")
    pki_dir = settings.resolved_pki_dir
    finished = init_dev_pki(
        tmp_path / "made-elsewhere",
        unit_name=settings.unit_name,
        unit_code=settings.unit_code,
        clerks=[(settings.default_clerk, settings.default_clerk)],
        password=settings.pkcs12_password.get_secret_value(),
        base_url=settings.resolved_pki_url,
    )
    clerk_p12 = pki_dir / "clerks" / f"{settings.default_clerk}.p12"
    seen: list[bool] = []

    def other_worker() -> None:
        ensure_dev_pki(settings)
        seen.append(clerk_p12.exists())

    (pki_dir / "clerks").mkdir(parents=True)
    with open(pki_dir / ".pki.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the creator is half-way: unit.p12, no clerks yet
        shutil.copy(finished.directory / "unit.p12", pki_dir / "unit.p12")
        worker = threading.Thread(target=other_worker)
        worker.start()
        time.sleep(1.0)  # long enough for a worker that does not wait to have returned
        for path in sorted(finished.directory.rglob("*"), key=lambda p: p.name == "pki.json"):
            if path.is_file() and path.name != ".pki.lock":
                target = pki_dir / path.relative_to(finished.directory)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)  # pki.json last, as the creator writes it
        fcntl.flock(lock, fcntl.LOCK_UN)
    worker.join()
    assert seen == [True]
