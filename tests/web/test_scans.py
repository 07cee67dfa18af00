"""Scanning a dossier's papers from the web page: the upload the page's script sends (CSRF
header, refusals in Vietnamese), a scan's status in words while it runs and once signed (the
signature badge), scoping, rescan advice, and a paper reused from the repository."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from ingest.runner import run_step
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus, Step
from tests.dossiers.world import World
from tests.ocr.pagegen import A6, render_page
from tests.web.conftest import Site

OWNER = {"name": "Bùi Thị Lan", "id_type": "CCCD", "id_number": "001190007777"}
PAPERS = {"giay_de_nghi": 1, "ban_sao_cccd": 1}
JSON = {"Accept": "application/json"}


def _open(site: Site, owner: dict[str, str] = OWNER) -> dict[str, Any]:
    """A household-business dossier of ``owner`` at lan.nt's counter, opened through the API."""
    resp = site.client.post(
        "/api/v1/dossiers",
        headers=site.world.headers("lan.nt"),
        json={"procedure_code": "2.000720", "applicant": owner},
    )
    assert resp.status_code == 201, resp.text
    d = resp.json()
    d["papers"] = {c["key"]: c["id"] for c in d["components"]}
    return d


def _receive(site: Site, d: dict[str, Any]) -> None:
    h = site.world.headers("lan.nt")
    url = f"/api/v1/dossiers/{d['id']}"
    assert site.client.post(
        f"{url}/components/check", headers=h, json={"provided": PAPERS}
    ).is_success
    assert site.client.post(f"{url}/receive", headers=h).is_success


def _png(text: str = "CĂN CƯỚC CÔNG DÂN") -> bytes:
    """One small page of print, as a counter's scanner gives it (300 dpi)."""
    page = render_page(
        size_in=A6, paragraphs=(text, "Số: 12/2026/GCN", "ngày 03 tháng 11 năm 2026")
    )
    buf = io.BytesIO()
    page.image.save(buf, "PNG", dpi=(300, 300))
    return buf.getvalue()


def _paper_url(d: dict[str, Any], key: str) -> str:
    return f"/web/dossiers/{d['id']}/components/{d['papers'][key]}/scans"


def _upload(
    client: TestClient, url: str, data: bytes, csrf: str | None, name: str = "scan.png"
) -> Any:
    headers = dict(JSON)
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return client.post(url, headers=headers, files={"file": (name, data, "image/png")})


@pytest.fixture
def clerk(site: Site) -> Iterator[tuple[Site, dict[str, Any], str]]:
    """lan.nt signed in, a dossier opened, and the session's CSRF token."""
    site.sign_in("lan.nt")
    d = _open(site)
    yield site, d, site.csrf(_paper_url(d, "ban_sao_cccd"))


def _status(client: TestClient, scan_id: str, **params: str) -> dict[str, Any]:
    resp = client.get(f"/web/scans/{scan_id}", headers=JSON, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_the_upload_box_is_labelled_and_keyboard_usable(clerk: tuple[Site, dict, str]) -> None:
    site, d, _ = clerk
    html = site.client.get(_paper_url(d, "ban_sao_cccd")).text
    form = re.search(r"<form data-upload.*?</form>", html, re.S)
    assert form, html
    box = form.group(0)
    assert f'action="{_paper_url(d, "ban_sao_cccd")}"' in box
    inputs = re.findall(r'<input id="([^"]+)" type="(file|password)"[^>]*>', box)
    assert len(inputs) == 3  # the files, a scanner's folder, the PDF password
    for input_id, _kind in inputs:
        assert f'<label for="{input_id}">' in box
    assert 'multiple accept="image/*,application/pdf"' in box and "webkitdirectory" in box
    assert 'class="dropzone"' in box and "thả vào đây" in box
    words = re.search(r'<script type="application/json" class="scan-messages">(.*?)</script>', box)
    assert words and json.loads(words.group(1))["uploading"] == "Đang tải lên…"
    assert "/web/static/scan.js?v=" in html
    # The dossier page holds the same box under each paper to scan.
    dossier = site.client.get(f"/web/dossiers/{d['id']}")
    assert dossier.status_code == 200
    for key in PAPERS:
        assert (
            f'<form data-upload method="post" enctype="multipart/form-data" action="{_paper_url(d, key)}">'
            in dossier.text
        )
    # No inline code or style for the CSP to refuse.
    assert " onclick=" not in html and ' style="' not in html


def test_upload_needs_the_csrf_header_and_answers_a_status_url(
    clerk: tuple[Site, dict, str],
) -> None:
    site, d, csrf = clerk
    url = _paper_url(d, "ban_sao_cccd")
    data = _png()
    refused = _upload(site.client, url, data, None)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    wrong = _upload(site.client, url, data, "0" * len(csrf))
    assert wrong.status_code == 403
    accepted = _upload(site.client, url, data, csrf)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status_url"] == f"/web/scans/{body['scan_id']}" and not body["duplicate"]
    again = _upload(site.client, url, data, csrf)
    assert again.status_code == 200 and again.json()["scan_id"] == body["scan_id"]
    status = _status(site.client, body["scan_id"])
    assert status["state"] == "queued" and status["label"] == "Đang chờ số hóa"
    assert status["document_id"] is None and status["badge"] is None
    # The API sees the same scan on the same component.
    api = site.client.get(f"/api/v1/dossiers/{d['id']}", headers=site.world.headers("lan.nt"))
    comp = next(c for c in api.json()["components"] if c["key"] == "ban_sao_cccd")
    assert [s["scan_id"] for s in comp["scans"]] == [body["scan_id"]]


def test_a_file_that_is_no_scan_is_refused_in_vietnamese(clerk: tuple[Site, dict, str]) -> None:
    site, d, csrf = clerk
    url = _paper_url(d, "giay_de_nghi")
    text = _upload(site.client, url, b"root:x:0:0", csrf, name="passwd.txt")
    assert text.status_code == 415
    problem = text.json()
    assert problem["code"] == "unsupported_media_type"
    assert problem["detail"] == "Tệp không phải ảnh hay PDF: chọn lại tệp quét"
    empty = _upload(site.client, url, b"", csrf)
    assert empty.status_code == 400 and "quét lại" in empty.json()["detail"]
    # The refused id answers as failed, with the same words.
    gone = _status(site.client, problem["scan_id"])
    assert gone["state"] == "failed" and "Tệp không phải ảnh hay PDF" in gone["label"]
    # A paper that is not in this dossier, in words too.
    nowhere = _upload(site.client, f"/web/dossiers/{d['id']}/components/nope/scans", _png(), csrf)
    assert nowhere.status_code == 404 and "tải lại trang" in nowhere.json()["detail"]


def test_another_units_clerk_cannot_follow_or_upload(clerk: tuple[Site, dict, str]) -> None:
    site, d, csrf = clerk
    url = _paper_url(d, "ban_sao_cccd")
    scan_id = _upload(site.client, url, _png(), csrf).json()["scan_id"]
    other = site.sign_in("minh.tv", site.another())
    assert other.get(f"/web/scans/{scan_id}", headers=JSON).status_code == 404
    assert other.get(f"/web/scans/{scan_id}").status_code == 404  # a page, not a leak
    assert other.get(url).status_code == 404
    theirs = site.client.post(
        "/api/v1/dossiers",
        headers=site.world.headers("minh.tv"),
        json={"procedure_code": "2.000720", "applicant": OWNER},
    ).json()
    their_paper = f"/web/dossiers/{theirs['id']}/components/{theirs['components'][0]['id']}/scans"
    refused = _upload(other, url, _png(), site.csrf(their_paper, other))
    assert refused.status_code == 404 and refused.json()["code"] == "dossier_not_found"
    # The auditor of the province reads it; nobody gets a scan id that does not exist.
    auditor = site.sign_in("kiemtra", site.another())
    assert _status(auditor, scan_id)["state"] == "queued"
    assert site.client.get("/web/scans/nothing", headers=JSON).status_code == 404


def test_progress_in_words_and_rescan_advice(clerk: tuple[Site, dict, str]) -> None:
    site, d, csrf = clerk
    scan_id = _upload(site.client, _paper_url(d, "ban_sao_cccd"), _png(), csrf).json()["scan_id"]
    from ocr.capture import PageQuality, warnings

    rescan = warnings([PageQuality(page=1, language="", ocr=True, dpi=300, ink=0.0)])
    with session_scope(site.world.services.sessions) as session:
        session.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(
                status=ScanStatus.PROCESSING,
                pages_done=2,
                pages_total=6,
                warnings=[
                    *rescan,
                    "page 3: orientation uncertain, left as scanned",
                    "page 4 rasterized: its text cannot be read (no Unicode mapping)",
                    "2 standard font(s) embedded from metric-compatible URW fonts",
                ],
                ocr_result={"deskewed_pages": [2]},
            )
        )
    working = _status(site.client, scan_id)
    assert working["state"] == "working" and working["label"] == "Đang số hóa: trang 3/6"
    assert (working["pages_done"], working["pages_total"]) == (2, 6)
    notes = working["notices"]
    assert len(notes) == 4, notes  # the font note needs nothing from the clerk
    assert notes[0].startswith("Trang 1: trang trắng") and "quét lại" in notes[0]
    assert "Trang 3" in notes[1] and "quét lại" in notes[1]
    assert "Trang 4" in notes[2] and "dạng ảnh" in notes[2]
    assert "Trang 2" in notes[3] and "nghiêng" in notes[3]
    # The dossier page draws it the same way, and the script follows it from there.
    html = site.client.get(_paper_url(d, "ban_sao_cccd")).text
    assert 'data-state="working"' in html and "Đang số hóa: trang 3/6" in html
    assert "Trang 2 bị nghiêng" in html
    with session_scope(site.world.services.sessions) as session:
        session.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(
                status=ScanStatus.FAILED,
                step=Step.OCR,
                reason_code="ocr_timeout",
                reason_message="tesseract took too long",
            )
        )
    failed = _status(site.client, scan_id)
    assert failed["state"] == "failed"
    assert failed["label"].startswith("Không số hóa được: ") and "300 dpi" in failed["label"]
    assert "Quét lại giấy này" in site.client.get(_paper_url(d, "ban_sao_cccd")).text


def _count_statements(world: World) -> tuple[list[str], Any]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = world.services.engine
    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_the_papers_scans_load_in_a_fixed_number_of_statements(
    clerk: tuple[Site, dict, str],
) -> None:
    site, d, csrf = clerk
    url = _paper_url(d, "ban_sao_cccd")

    def statements() -> int:
        seen, stop = _count_statements(site.world)
        try:
            assert site.client.get(url).status_code == 200
        finally:
            stop()
        return len(seen)

    _upload(site.client, url, _png("MỘT"), csrf)
    one = statements()
    for word in ("HAI", "BA", "BỐN", "NĂM"):
        _upload(site.client, url, _png(word), csrf)
    html = site.client.get(url).text
    assert html.count("data-scan ") == 5
    assert statements() == one


@pytest.mark.slow
def test_a_scan_is_signed_shown_with_its_badge_then_reused(clerk: tuple[Site, dict, str]) -> None:
    site, d, csrf = clerk
    services = site.world.services
    _receive(site, d)
    url = _paper_url(d, "ban_sao_cccd")
    scan_id = _upload(site.client, url, _png(), csrf).json()["scan_id"]
    assert run_step(services, scan_id, "ocr")
    signing = _status(site.client, scan_id)
    assert signing["state"] == "working" and signing["label"] == "Đang ký số"
    assert run_step(services, scan_id, "sign")
    done = _status(site.client, scan_id)
    assert done["state"] == "digitized" and done["label"] == "Đã số hóa"
    assert done["valid"] is True and done["badge"] == "Chữ ký hợp lệ"
    assert done["pdf_url"] == f"/web/documents/{done['document_id']}/pdf"
    quick = _status(site.client, scan_id, verify="false")
    assert quick["document_id"] == done["document_id"] and quick["badge"] is None
    # The list shows it signed with a "View" toggle, and validates nothing while drawing it.
    html = site.client.get(url).text
    assert done["pdf_url"] in html and "data-view-pdf" in html and ">Xem<" in html
    assert "Đã số hóa" in html and "Chữ ký hợp lệ" not in html
    # A file that no longer matches what was signed is shown as such.
    with session_scope(services.sessions) as session:
        session.execute(
            update(Document).where(Document.id == done["document_id"]).values(sha256="0" * 64)
        )
    changed = _status(site.client, scan_id)
    assert changed["badge"] == "Chữ ký KHÔNG hợp lệ" and changed["badge_kind"] == "bad"

    # The same citizen's next dossier takes the copy of the ID card from the repository.
    second = _open(site)
    paper = _paper_url(second, "ban_sao_cccd")
    html = site.client.get(paper).text
    assert "Dùng lại từ kho dữ liệu" in html and "001190007777.BAN-SAO-CCCD." in html
    record_id = re.search(r'name="record_id" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    nothing = site.client.get(_paper_url(second, "giay_de_nghi")).text
    assert "Dùng lại từ kho dữ liệu" not in nothing
    reuse = f"/web/dossiers/{second['id']}/components/{second['papers']['ban_sao_cccd']}/reuse"
    no_token = site.client.post(reuse, data={"record_id": record_id}, follow_redirects=False)
    assert no_token.status_code == 403
    taken = site.client.post(
        reuse, data={"record_id": record_id, "csrf": csrf}, follow_redirects=False
    )
    assert taken.status_code == 303
    assert taken.headers["location"].startswith(
        f"/web/dossiers/{second['id']}?done=scans_reused&component={second['papers']['ban_sao_cccd']}"
    )
    html = site.client.get(paper).text
    assert "Đã lấy từ kho dữ liệu" in html and "Dùng lại từ kho dữ liệu" not in html
    twice = site.client.post(reuse, data={"record_id": record_id, "csrf": csrf})
    assert twice.status_code == 409


@pytest.mark.postgres
def test_the_paper_list_reads_page_notes_on_postgresql(
    make_settings: Any, pg_database: str
) -> None:
    """The list takes only the page numbers out of the OCR result (a JSON path), on PostgreSQL
    as on SQLite."""
    from datetime import datetime

    from tests.dossiers.world import VN, make_world
    from wiring.asgi import application
    from wiring.factory import build

    services = build(make_settings(database_url=pg_database, sign_forms=False))
    try:
        world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
        site = Site(world, TestClient(application(services)))
        site.sign_in("lan.nt")
        d = _open(site)
        url = _paper_url(d, "ban_sao_cccd")
        scan_id = _upload(site.client, url, _png(), site.csrf(url)).json()["scan_id"]
        with session_scope(services.sessions) as session:
            session.execute(
                update(Scan)
                .where(Scan.id == scan_id)
                .values(ocr_result={"page_texts": ["…"], "rotated_pages": [1]})
            )
        html = site.client.get(url).text
        assert "Trang 1 đã được xoay lại" in html
        site.client.close()
    finally:
        services.engine.dispose()
