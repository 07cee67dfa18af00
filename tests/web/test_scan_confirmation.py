"""The counter page's form for a remote signature that waits for its clerk (PIN/OTP): shown to
the scan's own clerk only, CSRF-protected, a wrong code answered in Vietnamese with the form
kept, the right one signing the scan in place, and the OTP asked of the provider from the page.

Real parts: the CSC test provider on 127.0.0.1 holding the development PKI's keys, the whole
application over SQLite, Tesseract and pyHanko run in-process as a worker runs them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.runner import run_step
from signing.pki import DevPki
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step
from tests.dossiers.world import VN, make_world
from tests.fixtures.pki import DEV_PASSWORD
from tests.signing.csc_server import CscTestServer
from tests.web.conftest import Site
from tests.web.test_scans import JSON, _open, _paper_url, _png, _upload
from wiring.asgi import application
from wiring.factory import build

pytestmark = pytest.mark.slow  # every test OCRs a page with Tesseract

TOKEN = "provider-token-5e6f7a"
PIN = "246801"
WAITING = "Chờ xác nhận ký số: nhập mã OTP/PIN để ký"
WRONG_CODE = (
    "Mã OTP hoặc mã PIN không đúng hoặc đã hết hạn: bấm “Gửi mã OTP” để nhận mã mới, "
    "kiểm tra lại mã PIN rồi bấm “Ký số” lại"
)


@pytest.fixture
def provider(dev_pki: DevPki) -> Iterator[CscTestServer]:
    """lan.nt's key at the provider: PIN and a texted OTP."""
    server = CscTestServer(token=TOKEN)
    server.add_credential("cred-lan.nt", dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD, pin=PIN)
    server.start()
    yield server
    server.close()


@pytest.fixture
def remote(
    make_settings: Any, provider: CscTestServer, dev_pki: DevPki, local_tsa: Any
) -> Iterator[Site]:
    """The web page of an installation whose clerks' keys are at the provider."""
    services = build(
        make_settings(
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
    )
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(application(services))
    yield Site(world, client)
    client.close()
    services.engine.dispose()


@pytest.fixture
def waiting(remote: Site) -> tuple[Site, str, str, str]:
    """lan.nt signed in, a paper uploaded from the page and OCR'd, its signature waiting.

    Returns the site, the paper's page, the scan id and the session's CSRF token."""
    site = remote
    site.sign_in("lan.nt")
    d = _open(site)
    url = _paper_url(d, "ban_sao_cccd")
    csrf = site.csrf(url)
    up = _upload(site.client, url, _png(), csrf)
    assert up.status_code == 202, up.text
    scan_id = str(up.json()["scan_id"])
    services = site.world.services
    assert run_step(services, scan_id, Step.OCR).next_step == Step.SIGN
    assert run_step(services, scan_id, Step.SIGN).awaiting
    return site, url, scan_id, csrf


def _scan(site: Site, scan_id: str) -> Scan:
    with session_scope(site.world.services.sessions) as s:
        scan = s.get(Scan, scan_id)
        assert scan is not None
        s.expunge(scan)
        return scan


def _forms(html: str, scan_id: str) -> tuple[str, str]:
    """The scan's confirmation form and its OTP request form, as drawn."""
    confirm = re.search(
        rf'<form method="post" action="[^"]*/scans/{scan_id}/confirmation".*?</form>', html, re.S
    )
    otp = re.search(
        rf'<form method="post" action="[^"]*/scans/{scan_id}/otp".*?</form>', html, re.S
    )
    assert confirm and otp, html
    return confirm.group(0), otp.group(0)


def _no_form(html: str, scan_id: str) -> None:
    assert f"/scans/{scan_id}/confirmation" not in html and f"/scans/{scan_id}/otp" not in html
    assert "Gửi mã OTP" not in html and 'name="otp"' not in html and 'name="pin"' not in html


def test_only_the_scans_own_clerk_gets_the_form(
    waiting: tuple[Site, str, str, str], provider: CscTestServer
) -> None:
    site, url, scan_id, csrf = waiting
    confirm_url = f"{url}/{scan_id}/confirmation"

    html = site.client.get(url).text
    assert WAITING in html
    confirm, otp = _forms(html, scan_id)
    assert f'<input type="hidden" name="csrf" value="{csrf}">' in confirm
    assert f'<input type="hidden" name="csrf" value="{csrf}">' in otp
    for field in ("otp", "pin"):  # each field labelled, so a screen reader names it
        assert f'<label for="{field}-{scan_id}">' in confirm
        assert f'id="{field}-{scan_id}" name="{field}"' in confirm
    assert 'type="password"' in confirm and 'autocomplete="one-time-code"' in confirm
    assert ">Mã OTP<" in confirm and ">Mã PIN<" in confirm and ">Ký số</button>" in confirm
    assert ">Gửi mã OTP</button>" in otp
    # The dossier page holds the same box; the status the script follows says a form is drawn.
    dossier = site.client.get(url.rsplit("/components/", 1)[0]).text
    _forms(dossier, scan_id)
    assert site.client.get(f"/web/scans/{scan_id}", headers=JSON).json()["confirmable"] is True

    # cong.ch works at the same counter and the auditor checks it: both see the scan waiting,
    # neither gets a form, and cong.ch cannot sign with lan.nt's key by posting one.
    for staff_id in ("cong.ch", "kiemtra"):
        other = site.sign_in(staff_id, site.another())
        page = other.get(url)
        assert page.status_code == 200 and WAITING in page.text
        _no_form(page.text, scan_id)
        status = other.get(f"/web/scans/{scan_id}", headers=JSON).json()
        assert status["state"] == "awaiting" and status["confirmable"] is False
    cong = site.sign_in("cong.ch", site.another())
    refused = cong.post(
        confirm_url, data={"csrf": site.csrf(url, cong), "pin": PIN, "otp": "123456"}
    )
    assert refused.status_code == 403 and "Ký số</button>" not in refused.text
    sent = cong.post(f"{url}/{scan_id}/otp", data={"csrf": site.csrf(url, cong)})
    assert sent.status_code == 403
    # minh.tv, at another commune, sees neither the dossier nor the scan.
    minh = site.sign_in("minh.tv", site.another())
    gone = minh.post(confirm_url, data={"csrf": site.csrf("/web/", minh), "otp": "123456"})
    assert gone.status_code == 404
    # None of these reached lan.nt's key (the worker only read the credential's info).
    assert provider.calls("credentials/authorize") == [] and provider.sent_otps == {}
    assert _scan(site, scan_id).status == ScanStatus.AWAITING_CONFIRMATION


def test_the_forms_need_the_sessions_csrf_token(
    waiting: tuple[Site, str, str, str], provider: CscTestServer
) -> None:
    site, url, scan_id, _csrf = waiting
    for data in ({"otp": "123456", "pin": PIN}, {"otp": "123456", "pin": PIN, "csrf": "0" * 64}):
        resp = site.client.post(f"{url}/{scan_id}/confirmation", data=data)
        assert resp.status_code == 403, resp.text
        assert "123456" not in resp.text and PIN not in resp.text
    assert site.client.post(f"{url}/{scan_id}/otp", data={}).status_code == 403
    assert provider.calls("credentials/authorize") == [] and provider.sent_otps == {}
    assert _scan(site, scan_id).status == ScanStatus.AWAITING_CONFIRMATION


def test_a_wrong_otp_says_what_to_do_and_the_right_one_signs_the_scan(
    waiting: tuple[Site, str, str, str],
    provider: CscTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site, url, scan_id, csrf = waiting
    caplog.set_level(logging.DEBUG)
    ref = url.split("/components/", 1)[0].rsplit("/", 1)[1]
    component = url.split("/components/", 1)[1].split("/", 1)[0]

    # "Gửi mã OTP": the provider texts lan.nt a code; back on the dossier, saying so.
    sent = site.client.post(f"{url}/{scan_id}/otp", data={"csrf": csrf}, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == (
        f"/web/dossiers/{ref}?done=otp_sent&component={component}#scans-{component}"
    )
    back = site.client.get(sent.headers["location"]).text
    assert "Đã yêu cầu gửi mã OTP: nhập mã nhận được qua tin nhắn rồi bấm “Ký số”" in back
    _forms(back, scan_id)
    first = provider.sent_otps["cred-lan.nt"][-1]

    # A wrong code: said in Vietnamese with what to do, the form kept, nothing typed put back.
    wrong = f"{(int(first) + 1) % 10**6:06d}"
    refused = site.client.post(
        f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": wrong, "pin": PIN}
    )
    assert refused.status_code == 403
    assert f'<p class="error" role="alert">{WRONG_CODE}</p>' in refused.text
    confirm, _ = _forms(refused.text, scan_id)
    assert "value=" not in confirm.replace(f'name="csrf" value="{csrf}"', "")
    assert wrong not in refused.text and PIN not in refused.text
    assert _scan(site, scan_id).status == ScanStatus.AWAITING_CONFIRMATION

    # A new code and the PIN: signed here and now, shown digitized like any other scan.
    assert site.client.post(f"{url}/{scan_id}/otp", data={"csrf": csrf}).status_code == 200
    otp = provider.sent_otps["cred-lan.nt"][-1]
    signed = site.client.post(
        f"{url}/{scan_id}/confirmation",
        data={"csrf": csrf, "otp": otp, "pin": PIN},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == (
        f"/web/dossiers/{ref}?done=scan_signed&component={component}#scans-{component}"
    )
    dossier = site.client.get(signed.headers["location"]).text
    assert "Đã ký số: bản số hóa đã hoàn tất" in dossier
    html = site.client.get(url).text
    assert "Đã số hóa" in html and WAITING not in html and ">Xem<" in html
    _no_form(html, scan_id)
    status = site.client.get(f"/web/scans/{scan_id}", headers=JSON).json()
    assert status["state"] == "digitized" and status["label"] == "Đã số hóa"
    assert status["valid"] is True and status["badge"] == "Chữ ký hợp lệ"
    assert status["pdf_url"] in html
    assert [r.error for r in provider.calls("credentials/authorize")] == ["invalid_otp", None]
    # Done is done: the same form again finds nothing waiting, said as such.
    again = site.client.post(
        f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": otp, "pin": PIN}
    )
    assert again.status_code == 409
    assert "Bản số hóa này không còn chờ ký số: tải lại trang để xem trạng thái" in again.text
    for secret in (PIN, wrong, first, otp, TOKEN):
        assert secret not in caplog.text


def test_a_malformed_code_never_reaches_the_provider_nor_the_page(
    waiting: tuple[Site, str, str, str], provider: CscTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    site, url, scan_id, csrf = waiting
    caplog.set_level(logging.DEBUG)
    for typed in ({"otp": "QZ7"}, {"otp": "QZ7 31X"}, {"pin": "QZX" * 14}, {}):
        resp = site.client.post(f"{url}/{scan_id}/confirmation", data={"csrf": csrf, **typed})
        assert resp.status_code == 422, resp.text
        assert "Nhập mã OTP (4 đến 12 chữ cái hoặc chữ số) và/hoặc mã PIN" in resp.text
        _forms(resp.text, scan_id)
        for value in typed.values():
            assert value not in resp.text and value not in caplog.text
    assert provider.calls("credentials/authorize") == []


def test_wrong_guesses_are_limited_as_through_the_api(
    waiting: tuple[Site, str, str, str], provider: CscTestServer
) -> None:
    site, url, scan_id, csrf = waiting
    for guess in ("000001", "000002", "000003"):  # auth_failure_limit=3
        resp = site.client.post(
            f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": guess, "pin": PIN}
        )
        assert resp.status_code == 403 and WRONG_CODE in resp.text
    limited = site.client.post(
        f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": "000004", "pin": PIN}
    )
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert "Nhập sai hoặc yêu cầu mã quá nhiều lần: chờ" in limited.text
    _forms(limited.text, scan_id)
    # The page and the API share the clerk's count: the API refuses the next guess too.
    api = site.client.post(
        f"/api/v1/scans/{scan_id}/confirmation",
        headers=site.world.headers("lan.nt"),
        json={"otp": "000005", "pin": PIN},
    )
    assert api.status_code == 429
    assert len(provider.calls("credentials/authorize")) == 3  # the later ones never left
    assert _scan(site, scan_id).status == ScanStatus.AWAITING_CONFIRMATION


def test_provider_down_keeps_the_form_and_says_to_try_again(
    waiting: tuple[Site, str, str, str], provider: CscTestServer
) -> None:
    site, url, scan_id, csrf = waiting
    provider.stop_listening()
    try:
        no_otp = site.client.post(f"{url}/{scan_id}/otp", data={"csrf": csrf})
        down = site.client.post(
            f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": "482913", "pin": PIN}
        )
    finally:
        provider.start_listening()
    for resp in (no_otp, down):
        assert resp.status_code == 503, resp.text
        assert "Dịch vụ ký số từ xa không trả lời: chờ vài phút, bấm “Gửi mã OTP”" in resp.text
        _forms(resp.text, scan_id)
    assert "482913" not in down.text and PIN not in down.text
    assert _scan(site, scan_id).status == ScanStatus.AWAITING_CONFIRMATION
    # Back up: an OTP and the PIN sign the same scan from the page.
    assert site.client.post(f"{url}/{scan_id}/otp", data={"csrf": csrf}).status_code == 200
    otp = provider.sent_otps["cred-lan.nt"][-1]
    signed = site.client.post(
        f"{url}/{scan_id}/confirmation", data={"csrf": csrf, "otp": otp, "pin": PIN}
    )
    assert signed.status_code == 200 and "Đã ký số: bản số hóa đã hoàn tất" in signed.text
    assert _scan(site, scan_id).status == ScanStatus.DIGITIZED
