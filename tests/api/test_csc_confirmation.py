"""Remote (CSC) signing end to end: a scan whose clerk's key needs a PIN/OTP waits for the
clerk, who confirms it through the API; the PIN/OTP reaches the provider and nothing else.

Real parts throughout: the CSC test provider on 127.0.0.1 holding the development PKI's keys,
the app over SQLite, the local store and the filesystem broker, Tesseract for the OCR step
(run in-process with ``run_step``, as a worker would), pyHanko for the signature.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

from api.app import create_app
from ingest.ledger import take_stalled
from ingest.runner import run_step
from signing.pki import DevPki
from signing.verify import load_certificates, verify_pdf
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step
from tests.conftest import TOKEN as ADMIN
from tests.dossiers.world import VN, World, make_world
from tests.fixtures.pki import DEV_PASSWORD, NOTO
from tests.signing.csc_server import CscTestServer
from wiring.factory import ConfigurationError, Services, build

TOKEN = "provider-token-7a8b9c"
PIN = "135790"


@dataclass
class Counter:
    """The app with remote signing, its provider and the test province's staff."""

    services: Services
    client: TestClient
    world: World
    provider: CscTestServer
    data_dir: Path

    def as_(self, staff_id: str) -> dict[str, str]:
        return self.world.headers(staff_id)

    def scan(self, scan_id: str) -> Scan:
        with session_scope(self.services.sessions) as s:
            scan = s.get(Scan, scan_id)
            assert scan is not None
            s.expunge(scan)
            return scan

    def otp(self) -> str:
        sent = self.client.post("/api/v1/signing/otp", headers=self.as_("lan.nt"))
        assert sent.status_code == 202, sent.text
        assert sent.json()["clerk_id"] == "lan.nt"
        return self.provider.sent_otps["cred-lan.nt"][-1]

    def confirm(self, scan_id: str, staff_id: str = "lan.nt", **body: str) -> Any:
        return self.client.post(
            f"/api/v1/scans/{scan_id}/confirmation", headers=self.as_(staff_id), json=body
        )


@pytest.fixture
def provider(dev_pki: DevPki) -> Iterator[CscTestServer]:
    """lan.nt's key at the provider: PIN and a texted OTP, SCAL 2 (hash-bound)."""
    server = CscTestServer(token=TOKEN)
    server.add_credential("cred-lan.nt", dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD, pin=PIN)
    server.start()
    yield server
    server.close()


@pytest.fixture
def counter(
    make_settings: Any, provider: CscTestServer, dev_pki: DevPki, local_tsa: Any, tmp_path: Path
) -> Iterator[Counter]:
    settings = make_settings(
        signer="csc",
        csc_url=provider.base_url,
        csc_access_token=TOKEN,
        csc_credential_template="cred-{clerk_id}",
        csc_timeout=5.0,
        trust_roots=[dev_pki.root_cert],
        pades_level="B-T",
        tsa_url=local_tsa.url,
        requeue_grace=0,
        auth_failure_limit=3,
    )
    services = build(settings)
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services))
    yield Counter(services, client, world, provider, settings.data_dir)
    client.close()
    services.engine.dispose()


def _png() -> bytes:
    """A small paper with a line of Vietnamese, enough for the OCR step to read."""
    img = Image.new("L", (900, 300), 255)
    ImageDraw.Draw(img).text(
        (40, 100), "GIẤY KHAI SINH", font=ImageFont.truetype(str(NOTO), 48), fill=0
    )
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(150, 150))
    return buf.getvalue()


def _awaiting_scan(c: Counter) -> str:
    """lan.nt uploads a paper; the OCR and sign steps run as a worker runs them."""
    up = c.client.post(
        "/api/v1/scans", headers=c.as_("lan.nt"), files={"file": ("khai-sinh.png", _png())}
    )
    assert up.status_code == 202, up.text
    scan_id = str(up.json()["id"])
    assert run_step(c.services, scan_id, Step.OCR).next_step == Step.SIGN
    outcome = run_step(c.services, scan_id, Step.SIGN)
    assert outcome.awaiting and not (outcome.failed or outcome.retry or outcome.next_step)
    return scan_id


def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    return body


def _no_secret_anywhere(c: Counter, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """Not in a log line, a scan row, or a task message (the confirmation sends none at all)."""
    assert caplog.records
    with session_scope(c.services.sessions) as s:
        rows = [repr(vars(r)) for r in s.query(Scan).all()]
    messages = sorted((c.services.settings.broker_dir / "queue").glob("*.msg"))
    assert [m.name.rsplit(".", 2)[-2] for m in messages] == ["ocr"]  # the upload's, only
    bodies = [
        m.read_text() + base64.b64decode(json.loads(m.read_text())["body"]).decode()
        for m in messages
    ]
    for secret in secrets:
        assert secret not in caplog.text
        assert not any(secret in row for row in rows)
        assert not any(secret in body for body in bodies)


def test_a_scan_waits_for_its_clerk_then_signs_with_the_confirmed_otp(
    counter: Counter, dev_pki: DevPki, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    c = counter
    caplog.set_level(logging.DEBUG)
    scan_id = _awaiting_scan(c)

    # Waiting, not failed: the OCR'd file and the original are kept, no worker will take it.
    scan = c.scan(scan_id)
    assert scan.status == ScanStatus.AWAITING_CONFIRMATION and scan.step == Step.SIGN
    assert scan.reason_code == "signing_confirmation_required"
    assert scan.ocr_key and c.services.store.exists(scan.ocr_key)
    assert c.services.store.exists(scan.original_key)
    assert take_stalled(c.services) == []
    seen = c.client.get(f"/api/v1/scans/{scan_id}", headers=c.as_("lan.nt")).json()
    assert seen["status"] == "awaiting_confirmation" and "document_id" not in seen
    assert seen["reason_message"].startswith("Chờ xác nhận ký số: nhập mã OTP/PIN để ký")
    metrics = c.client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert "sohoa_scans_awaiting_confirmation 1.0" in metrics
    assert c.provider.calls("credentials/authorize") == []  # nobody asked the clerk yet

    # A wrong OTP: refused by the provider, answered 403, the scan still waits.
    good = c.otp()
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    _problem(c.confirm(scan_id, pin=PIN, otp=wrong), 403, "signing_confirmation_rejected")
    scan = c.scan(scan_id)
    assert scan.status == ScanStatus.AWAITING_CONFIRMATION
    assert scan.reason_code == "signing_confirmation_rejected"
    assert scan.reason_message and scan.reason_message.startswith("Mã OTP/PIN không đúng")
    assert c.services.store.exists(scan.ocr_key or "")

    # The right one: signed, stored, verifiable against the provider's CA root.
    otp = c.otp()
    signed = c.confirm(scan_id, pin=PIN, otp=otp)
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["status"] == "digitized" and body["reason_code"] is None and body["document_id"]
    pdf = tmp_path / "signed.pdf"
    pdf.write_bytes(
        c.client.get(f"/api/v1/documents/{body['document_id']}/file", headers=c.as_("lan.nt"))
        .raise_for_status()
        .content
    )
    report = verify_pdf(pdf, trust_roots=load_certificates(dev_pki.root_cert))
    assert report.ok, report
    doc = c.client.get(f"/api/v1/documents/{body['document_id']}", headers=c.as_("lan.nt"))
    assert doc.json()["signer"] == "Nguyễn Thị Lan"
    assert [r.error for r in c.provider.calls("credentials/authorize")] == ["invalid_otp", None]
    assert len(c.provider.calls("signatures/signHash")) == 1

    # Done is done: a second confirmation finds nothing waiting.
    _problem(c.confirm(scan_id, pin=PIN, otp=otp), 409, "conflict")
    _no_secret_anywhere(c, caplog, PIN, wrong, good, otp, TOKEN)


def test_only_the_scans_clerk_confirms_it(counter: Counter) -> None:
    c = counter
    scan_id = _awaiting_scan(c)
    # cong.ch works at the same counter and may read the scan, but it is not their key.
    assert c.client.get(f"/api/v1/scans/{scan_id}", headers=c.as_("cong.ch")).status_code == 200
    _problem(c.confirm(scan_id, "cong.ch", pin=PIN, otp="123456"), 403, "forbidden")
    # minh.tv is at another commune: the scan does not exist for them.
    _problem(c.confirm(scan_id, "minh.tv", pin=PIN, otp="123456"), 404, "scan_not_found")
    assert c.scan(scan_id).status == ScanStatus.AWAITING_CONFIRMATION
    assert c.provider.calls("credentials/authorize") == []


def test_provider_down_is_503_and_the_scan_keeps_waiting(counter: Counter) -> None:
    c = counter
    scan_id = _awaiting_scan(c)
    otp = c.otp()
    c.provider.stop_listening()
    try:
        down = c.confirm(scan_id, pin=PIN, otp=otp)
    finally:
        c.provider.start_listening()
    _problem(down, 503, "signing_key_unavailable")
    assert down.headers["Retry-After"]
    scan = c.scan(scan_id)
    assert scan.status == ScanStatus.AWAITING_CONFIRMATION and scan.worker is None
    assert scan.reason_message and "không trả lời" in scan.reason_message
    # Back up: the same scan signs with a fresh OTP.
    signed = c.confirm(scan_id, pin=PIN, otp=c.otp())
    assert signed.status_code == 200 and signed.json()["status"] == "digitized", signed.text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pin": None, "otp": None},
        {"otp": "12 34"},
        {"otp": "1234567890123"},
        {"pin": "12"},
        {"pin": "１２３４５６"},  # fullwidth digits are not ASCII digits
        {"pin": PIN, "otp": "123456", "sad": "sad-from-elsewhere"},
    ],
)
def test_bad_confirmations_are_422_and_never_echoed(counter: Counter, body: dict[str, Any]) -> None:
    resp = counter.confirm("0" * 32, **body)
    problem = _problem(resp, 422, "invalid_request")
    for value in body.values():
        if value:
            assert value not in resp.text
    assert problem["errors"]
    assert counter.provider.received == []


def test_wrong_guesses_are_limited_per_clerk(counter: Counter) -> None:
    c = counter
    scan_id = _awaiting_scan(c)
    for guess in ("000001", "000002", "000003"):  # auth_failure_limit=3
        _problem(c.confirm(scan_id, pin=PIN, otp=guess), 403, "signing_confirmation_rejected")
    limited = c.confirm(scan_id, pin=PIN, otp="000004")
    _problem(limited, 429, "rate_limited")
    assert len(c.provider.calls("credentials/authorize")) == 3  # the 4th never left
    assert c.scan(scan_id).status == ScanStatus.AWAITING_CONFIRMATION


def test_remote_signing_needs_its_settings(make_settings: Any, dev_pki: DevPki) -> None:
    with pytest.raises(ConfigurationError, match="SOHOA_TRUST_ROOTS"):
        build(make_settings(signer="csc", csc_url="https://csc.example", csc_access_token="t"))
    with pytest.raises(ConfigurationError, match="SOHOA_CSC_ACCESS_TOKEN"):
        build(
            make_settings(
                signer="csc", csc_url="https://csc.example", trust_roots=[dev_pki.root_cert]
            )
        )


def test_with_local_keys_nothing_is_confirmed_and_no_key_is_loaded(
    make_settings: Any, auth: dict[str, str]
) -> None:
    services = build(make_settings())
    try:
        client = TestClient(create_app(services))
        # The bootstrap admin uploads as its own clerk, so only the signer setting stops it.
        scan = client.post(
            "/api/v1/scans",
            headers=auth,
            data={"clerk_id": "bootstrap-admin"},
            files={"file": ("p.png", _png())},
        )
        assert scan.status_code == 202, scan.text
        confirm = client.post(
            f"/api/v1/scans/{scan.json()['id']}/confirmation", headers=auth, json={"otp": "123456"}
        )
        _problem(confirm, 409, "conflict")
        _problem(client.post("/api/v1/signing/otp", headers=auth), 409, "conflict")
        assert "signers" not in vars(services) and "document_signer" not in vars(services)
    finally:
        services.engine.dispose()


def test_the_counter_page_says_what_to_do() -> None:
    from core.i18n import gettext_for
    from web.pages.scans import AWAITING, label_of, state_of

    state = state_of(ScanStatus.AWAITING_CONFIRMATION)
    assert state == AWAITING
    words = label_of(gettext_for("vi"), state, Step.SIGN, 1, 1, "signing_confirmation_required")
    assert words == "Chờ xác nhận ký số: nhập mã OTP/PIN để ký"
