"""The upload API's answers to good and bad input (no worker runs here)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from storage.db import session_scope
from storage.models import Refusal, Scan, ScanStatus
from wiring.factory import Services, build


@pytest.fixture
def services(make_settings) -> Services:  # type: ignore[no-untyped-def]
    svc = build(make_settings(max_upload_bytes=2 * 2**20))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def client(services: Services) -> TestClient:
    return TestClient(create_app(services))


def _png(text_color: int = 0) -> bytes:
    im = Image.new("L", (300, 200), 255)
    im.putpixel((10, 10), text_color)
    buf = io.BytesIO()
    im.save(buf, "PNG", dpi=(300, 300))
    return buf.getvalue()


def _problem(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status and body["detail"]
    return body


def test_health_and_docs_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "broker": "ok",
        "store": "ok",
    }
    assert client.get("/docs").status_code == 200
    assert "/api/v1/scans" in client.get("/openapi.json").json()["paths"]


def test_token_required(client: TestClient, auth: dict[str, str]) -> None:
    _problem(client.get("/api/v1/scans/x"), 401, "unauthorized")
    _problem(
        client.get("/api/v1/scans/x", headers={"Authorization": "Bearer wrong"}),
        401,
        "unauthorized",
    )
    _problem(client.get("/api/v1/scans/x", headers=auth), 404, "scan_not_found")


def test_upload_accepted_and_duplicate_returns_same_scan(
    client: TestClient, auth, services: Services
) -> None:  # type: ignore[no-untyped-def]
    data = _png()
    first = client.post(
        "/api/v1/scans", headers=auth, files={"file": ("../../etc/passwd", data, "text/plain")}
    )
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == ScanStatus.RECEIVED
    assert body["status_url"] == f"/api/v1/scans/{body['id']}"
    assert first.headers["location"] == body["status_url"]
    assert body["filename"] == "passwd" and body["media_type"] == "image/png"
    assert body["pages_total"] == 1 and body["pages_done"] == 0
    info = services.store.stat(f"originals/{body['id']}/original.png")
    assert info.size == len(data)

    again = client.post("/api/v1/scans", headers=auth, files={"file": ("again.png", data)})
    assert (
        again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["duplicate"]
    )
    status = client.get(body["status_url"], headers=auth).json()
    assert status["id"] == body["id"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 415, "unsupported_media_type"),
        (b"%PDF-1.4\n%%EOF\n", 422, "file_corrupt"),
        (b"hello, not a scan", 415, "unsupported_media_type"),
    ],
)
def test_bad_files_refused_recorded_not_kept(
    client: TestClient, auth, services: Services, payload: bytes, status: int, code: str
) -> None:  # type: ignore[no-untyped-def]
    """A refusal leaves a record and an answerable scan id (410), not the bytes (issue 13)."""
    resp = client.post("/api/v1/scans", headers=auth, files={"file": ("x.pdf", payload)})
    body = _problem(resp, status, code)
    with session_scope(services.sessions) as s:
        assert s.get(Scan, body["scan_id"]) is None
        refusal = s.get(Refusal, body["scan_id"])
        assert refusal is not None and refusal.reason_code == code
        assert refusal.size == len(payload) and refusal.quarantine_key is None
    assert list(services.store.list("")) == []
    gone = _problem(
        client.get(f"/api/v1/scans/{body['scan_id']}", headers=auth), 410, "scan_refused"
    )
    assert gone["reason_code"] == code and gone["reason_message"] == body["detail"]


def test_empty_oversized_and_malformed_uploads(client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    _problem(
        client.post("/api/v1/scans", headers=auth, files={"file": ("e.png", b"")}),
        400,
        "empty_file",
    )
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 2**20)
    _problem(
        client.post("/api/v1/scans", headers=auth, files={"file": ("b.png", big)}),
        413,
        "file_too_large",
    )
    raw = client.post(
        "/api/v1/scans", headers={**auth, "content-type": "application/pdf"}, content=b"%PDF-"
    )
    _problem(raw, 400, "bad_form")
    _problem(
        client.post(
            "/api/v1/scans", headers=auth, data={"clerk_id": "x"}, files={"other": ("a", b"1")}
        ),
        400,
        "bad_form",
    )
    _problem(
        client.post(
            "/api/v1/scans",
            headers=auth,
            data={"clerk_id": "../../etc"},
            files={"file": ("a.png", _png())},
        ),
        400,
        "invalid_field",
    )


def test_encrypted_pdf_needs_its_password(
    client: TestClient, auth, corpus: Path, services: Services
) -> None:  # type: ignore[no-untyped-def]
    data = (corpus / "ocrmypdf" / "skew-encrypted.pdf").read_bytes()
    body = _problem(
        client.post("/api/v1/scans", headers=auth, files={"file": ("s.pdf", data)}),
        422,
        "pdf_encrypted",
    )
    assert "password" in body["detail"]
    _problem(
        client.post(
            "/api/v1/scans",
            headers=auth,
            data={"password": "wrong"},
            files={"file": ("s.pdf", data)},
        ),
        422,
        "pdf_wrong_password",
    )
    ok = client.post(
        "/api/v1/scans",
        headers=auth,
        data={"password": "password"},
        files={"file": ("s.pdf", data)},
    )
    assert ok.status_code == 202, ok.text
    with session_scope(services.sessions) as s:
        scan = s.get(Scan, ok.json()["id"])
        assert scan is not None and scan.source_key
        source = scan.source_key
    import pikepdf

    with services.store.open(source) as f, pikepdf.open(io.BytesIO(f.read())) as pdf:
        assert not pdf.is_encrypted


def test_unknown_document_is_problem_404(client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    _problem(client.get("/api/v1/documents/nope", headers=auth), 404, "document_not_found")
    _problem(client.get("/api/v1/documents/nope/file", headers=auth), 404, "document_not_found")


def test_languages_field_is_checked_and_kept(client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    resp = client.post(
        "/api/v1/scans",
        headers=auth,
        data={"languages": "en, fr"},
        files={"file": ("consular.png", _png(), "image/png")},
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["languages"] == ["eng", "fra"] and resp.json()["notices"] == []
    assert client.get(resp.json()["status_url"], headers=auth).json()["languages"] == ["eng", "fra"]
    for bad in ("klingon", "vi+" + "x" * 80, "../etc"):
        refused = client.post(
            "/api/v1/scans",
            headers=auth,
            data={"languages": bad},
            files={"file": ("scan.png", _png(1), "image/png")},
        )
        body = _problem(refused, 400, "invalid_field")
        assert "languages" in body["detail"] and "Traceback" not in body["detail"]


def test_rescan_advice_is_a_notice_with_a_code(
    services: Services, client: TestClient, auth
) -> None:  # type: ignore[no-untyped-def]
    from ocr.capture import PageQuality, warnings

    resp = client.post(
        "/api/v1/scans", headers=auth, files={"file": ("blank.png", _png(2), "image/png")}
    )
    advice = warnings([PageQuality(page=1, language="", ocr=True, dpi=300, ocr_dpi=300, ink=0.0)])
    assert advice, "a blank OCRed page must be flagged"
    with session_scope(services.sessions) as session:
        scan = session.get(Scan, resp.json()["id"])
        assert scan is not None
        scan.warnings = [*scan.warnings, *advice]
    notices = client.get(resp.json()["status_url"], headers=auth).json()["notices"]
    assert notices[0]["code"] == "rescan_suggested" and notices[0]["page"] == 1
    assert "quét lại" in notices[0]["message"]
