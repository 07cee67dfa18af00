"""The citizen's status page: the dossier code and its lookup secret (or form 01's QR) show the
status and nothing personal; a wrong secret and an unknown code answer alike; lookups are
rate-limited and audited; the secret is printed on form 01 and on the e-receipt."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pypdfium2
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from pdfminer.high_level import extract_text
from playwright.sync_api import Browser
from sqlalchemy import select

from dossiers.audit import AuditEvent
from dossiers.fees.receipts_doc import ReceiptDoc, render_receipt_pdf
from dossiers.workflow.lookup import (
    ALPHABET,
    StatusLookup,
    check_status_secret,
    mask_name,
    status_secret,
)
from storage.db import session_scope
from tests.dossiers.test_receipts_doc import DOC
from tests.dossiers.world import VN, make_world
from tests.web.conftest import Site
from tests.web.test_money import APPLICANT, add_result, processed, received
from wiring.asgi import application
from wiring.factory import build

PERSONAL = (APPLICANT.id_number, APPLICANT.phone, APPLICANT.address, APPLICANT.name)


def secret_of(site: Site, code: str) -> str:
    return status_secret(site.world.services.url_secret, code)


def lookups(site: Site) -> list[AuditEvent]:
    with session_scope(site.world.services.sessions) as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "dossier.status_lookup")
            .order_by(AuditEvent.seq)
        ).all()
        session.expunge_all()
        return list(rows)


def test_the_secret_is_short_readable_and_keyed() -> None:
    one = status_secret(b"k" * 32, "000.00.16.H99-261127-0001")
    assert len(one) == 8 and set(one) <= set(ALPHABET)
    assert not set("01OIL") & set(ALPHABET)
    assert one == status_secret(b"k" * 32, "000.00.16.H99-261127-0001")
    assert one != status_secret(b"k" * 32, "000.00.16.H99-261127-0002")
    assert one != status_secret(b"j" * 32, "000.00.16.H99-261127-0001")
    typed = f" {one[:4].lower()}-{one[4:]} "
    assert check_status_secret(b"k" * 32, "000.00.16.H99-261127-0001", typed)
    assert not check_status_secret(b"k" * 32, "000.00.16.H99-261127-0001", "ABCD-EFGH")
    assert not check_status_secret(b"k" * 32, "000.00.16.H99-261127-0001", "ẞ" * 8)
    assert mask_name("Phạm Thị Hương") == "Phạm T. H."
    assert mask_name("Hương") == "H." and mask_name("  ") == ""


def test_the_status_page_shows_the_status_and_nothing_personal(site: Site) -> None:
    code = received(site)
    citizen = site.another()  # nobody signed in
    resp = citizen.get(f"/web/status/{code}", params={"s": secret_of(site, code)})
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert f"Hồ sơ {code}" in html and "Phạm T. H." in html
    assert "Đã tiếp nhận, chờ chuyển cơ quan giải quyết" in html
    assert "27/11/2026 09:00" in html  # received on
    assert "Hẹn trả kết quả" in html and "27/11/2026 17:00" in html  # same-day appointment
    assert "Tại UBND phường Hòa Bình" in html
    assert "8.000 đ" in html  # the fee still to pay
    for private in PERSONAL:
        assert private not in html
    assert "<script" not in html.replace('<script src="/web/static/site.js', "", 1)

    # The form takes the secret as printed (dash, lower case, spaces) with a plain GET.
    secret = secret_of(site, code)
    typed = f" {secret[:4].lower()}-{secret[4:]}"
    form = citizen.get("/web/status", params={"code": code, "s": typed})
    assert form.status_code == 200 and f"Hồ sơ {code}" in form.text
    empty = citizen.get("/web/status")
    assert empty.status_code == 200
    assert 'for="lookup-code"' in empty.text and 'for="lookup-secret"' in empty.text


def test_a_wrong_secret_and_an_unknown_code_answer_alike(site: Site) -> None:
    code = received(site)
    citizen = site.another()
    wrong = citizen.get(f"/web/status/{code}", params={"s": "ABCD-EFGH"})
    unknown_code = code[:-4] + "9999"
    unknown = citizen.get(
        f"/web/status/{unknown_code}", params={"s": secret_of(site, unknown_code)}
    )
    no_secret = citizen.get(f"/web/status/{code}")
    assert wrong.status_code == unknown.status_code == no_secret.status_code == 404
    assert "Không tìm thấy hồ sơ" in wrong.text

    # The same page, but for the language switch's way back (this very URL).
    def main(html: str) -> str:
        return re.sub(r'name="back" value="[^"]*"', "", html)

    assert (
        main(wrong.text) == main(unknown.text.replace(unknown_code, code)) == main(no_secret.text)
    )
    assert "Phạm" not in wrong.text


def test_lookups_are_audited(site: Site) -> None:
    code = received(site)
    citizen = site.another()
    citizen.get(f"/web/status/{code}", params={"s": secret_of(site, code)})
    citizen.get(f"/web/status/{code}", params={"s": "ABCD-EFGH"})
    citizen.get("/web/status", params={"code": "<script>Nguyễn", "s": "x"})
    events = lookups(site)
    dossier_id = site.world.services.dossiers.view(site.world.principal("lan.nt"), code).id
    assert [(e.actor_role, e.subject_id, e.dossier_id, e.data) for e in events] == [
        ("citizen", dossier_id, dossier_id, {"found": True}),
        ("citizen", code, None, {"found": False}),
        ("citizen", "-", None, {"found": False}),  # what was typed stays out of the log
    ]


def test_the_status_follows_the_result_back_to_the_citizen(site: Site) -> None:
    code = processed(site, collect_at="online")
    citizen = site.another()
    url = f"/web/status/{code}?s={secret_of(site, code)}"
    assert "Đã có kết quả" in citizen.get(url).text
    add_result(site, code)
    link = site.world.services.returns.online(site.world.principal("lan.nt"), code, hours=24)
    html = citizen.get(url).text
    assert "Kết quả đã gửi qua đường liên kết" in html
    assert link.token not in html
    (item,) = site.world.services.returns.link(link.token).items
    assert citizen.get(f"/public/results/{link.token}/{item.document_id}").status_code == 200
    html = citizen.get(url).text
    assert "Đã trả kết quả" in html and "Kết quả đã gửi qua đường liên kết" in html


@pytest.fixture
def strict(make_settings: Any) -> Iterator[Site]:
    """A site whose public pages allow three calls a minute per client."""
    services = build(make_settings(public_rate_limit=3))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(application(services))
    yield Site(world, client)
    client.close()
    services.engine.dispose()


def test_lookups_are_rate_limited(strict: Site) -> None:
    code = received(strict)
    url = f"/web/status/{code}?s={secret_of(strict, code)}"
    citizen = strict.another()
    assert citizen.get(url).status_code == 200
    assert citizen.get(f"/web/status/{code}?s=ABCD2345").status_code == 404
    assert citizen.get("/public/results/kq_nothing").status_code == 404  # the API's, same budget
    limited = citizen.get(url)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Tra cứu quá nhiều lần" in limited.text
    assert len(lookups(strict)) == 2  # the refused one never reached the database
    assert citizen.get("/web/status").status_code == 200  # the empty form costs nothing


def _page_codes(pdf: Path) -> list[str]:
    image = pypdfium2.PdfDocument(str(pdf))[0].render(scale=200 / 72).to_pil()
    return [c.text for c in zxingcpp.read_barcodes(image)]


def test_form_01_prints_the_secret_and_its_qr_opens_the_status_page(
    site: Site, tmp_path: Path
) -> None:
    code = received(site)
    svc, lan = site.world.services, site.world.principal("lan.nt")
    (form,) = [f for f in svc.dossiers.forms(lan, code) if f.form_no == "01"]
    stored = svc.dossiers.form_file(lan, code, form.id)
    pdf = tmp_path / "01.pdf"
    with svc.store.open(stored.object_key) as fh:
        pdf.write_bytes(fh.read())
    secret = secret_of(site, code)
    text = " ".join(extract_text(str(pdf)).split())
    public = svc.settings.public_url.rstrip("/")
    assert f"Mã tra cứu: {secret[:4]}-{secret[4:]} · tra cứu tại {public}/web/status" in text
    codes = _page_codes(pdf)
    status_url = f"{public}/web/status/{code}?s={secret}"
    assert status_url in codes
    # The top-left QR keeps TT 01/2023's payload, first as before.
    assert json.loads(codes[0])["ma_ho_so"] == code
    target = urlsplit(status_url)
    opened = site.another().get(f"{target.path}?{target.query}")
    assert opened.status_code == 200 and f"Hồ sơ {code}" in opened.text


def test_the_receipt_prints_the_lookup_line(tmp_path: Path) -> None:
    lookup = StatusLookup(b"k" * 32, "https://motcua.example.vn/")
    doc = ReceiptDoc(**{**vars(DOC), "status_lookup": lookup.line(DOC.dossier_code)})
    pdf = render_receipt_pdf(doc, tmp_path / "receipt.pdf")
    text = " ".join(extract_text(str(pdf)).split())
    secret = lookup.secret(DOC.dossier_code)
    assert f"Mã tra cứu: {secret} · tra cứu tại https://motcua.example.vn/web/status" in text


# -- in a real browser, without JavaScript ------------------------------------------------------


def _serve(client: TestClient):  # type: ignore[no-untyped-def]
    """Answer the browser's requests from the in-process application."""

    def handle(route):  # type: ignore[no-untyped-def]
        url = urlsplit(route.request.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        resp = client.get(target, follow_redirects=False)
        route.fulfill(status=resp.status_code, headers=dict(resp.headers), body=resp.content)

    return handle


@pytest.mark.parametrize(
    ("name", "viewport", "touch"),
    [
        ("status-1366", {"width": 1366, "height": 768}, False),
        ("status-tablet", {"width": 820, "height": 1180}, True),
    ],
)
def test_the_citizen_page_works_with_html_alone(
    site: Site, browser: Browser, name: str, viewport: dict[str, int], touch: bool
) -> None:
    code = received(site)
    secret = secret_of(site, code)
    citizen = site.another()
    context = browser.new_context(
        viewport=viewport, has_touch=touch, java_script_enabled=False, locale="vi-VN"
    )
    try:
        page = context.new_page()
        page.route("http://sohoa.test/**", _serve(citizen))
        page.goto("http://sohoa.test/web/status")
        page.get_by_label("Mã hồ sơ", exact=True).fill(code)
        field = page.get_by_label("Mã tra cứu (8 ký tự)", exact=True)
        field.fill(f"{secret[:4]}-{secret[4:]}")
        field.press("Enter")
        page.wait_for_url(re.compile(r".*/web/status\?code="))
        heading = page.get_by_role("heading", name=f"Hồ sơ {code}")
        assert heading.is_visible()
        assert page.get_by_text("Phạm T. H.").is_visible()
        # Nothing wider than the screen: no sideways scrolling on a tablet.
        for box in (
            page.locator("main").bounding_box(),
            page.locator("dl.facts").bounding_box(),
            page.locator('form[action="/web/status"]').bounding_box(),
        ):
            assert box is not None and box["x"] >= 0
            assert box["x"] + box["width"] <= viewport["width"] + 0.5, (name, box)
        shots = Path(os.environ.get("SOHOA_ARTIFACTS", "test-artifacts")) / "screens"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    finally:
        context.close()
