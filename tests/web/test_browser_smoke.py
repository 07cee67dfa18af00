"""The sign-in page in a real Chromium: Vietnamese by default, usable by keyboard alone, English on
request, a wrong token refused in words; and the live harness's own worker digitizes an upload.

The pages of each desk are tested by their own modules; this one proves the harness (a live
server, Debian's Chromium, screenshots) that the counter-day walk builds on.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TOKEN
from tests.ocr.pagegen import A6, render_page
from tests.web.browser import LiveSite, overflows, screenshot, sign_in, tab_to

# A role without a desk of its own lands on the home page itself.
HARVESTER = "harvest"
WRONG = "Mã truy cập không đúng, đã bị thu hồi hoặc đã hết hạn"


def test_sign_in_by_keyboard_switch_language_and_sign_out(
    page: Page, live_site: LiveSite, console: list[str]
) -> None:
    page.goto("/web/login")
    expect(page).to_have_title("Đăng nhập · sohoa")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_label("Mã truy cập của cán bộ")).to_be_focused()
    assert not overflows(page)
    screenshot(page, "login")

    sign_in(page, live_site.token(HARVESTER))
    assert page.url == f"{live_site.url}/web/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin chào, CSDL tỉnh")

    # The language switch is a button of the header: reached and pressed by keyboard too.
    tab_to(page, "English")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, CSDL tỉnh")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin chào, CSDL tỉnh")

    # Sign out by keyboard; the focused button shows where the keyboard is.
    tab_to(page, "Đăng xuất")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused button shows no focus ring"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(f"{live_site.url}/web/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Đăng nhập")
    # The session is gone: the home page sends the browser back to the sign-in form.
    page.goto("/web/")
    assert page.url.startswith(f"{live_site.url}/web/login")
    assert console == [], console


def test_a_wrong_token_is_refused_in_vietnamese(
    page: Page, live_site: LiveSite, console: list[str]
) -> None:
    sign_in(page, "sohoa_not-a-real-token")
    assert page.url.startswith(f"{live_site.url}/web/login")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(WRONG)
    # The field says which message describes it, and still takes the next try.
    token = page.get_by_label("Mã truy cập của cán bộ")
    expect(token).to_have_attribute("aria-describedby", "login-error")
    expect(token).to_be_editable()
    screenshot(page, "login-error")
    assert console == [], console


def test_the_sign_in_page_fits_a_tablet(tablet: Page, console: list[str]) -> None:
    tablet.goto("/web/login")
    expect(tablet.get_by_role("heading", level=1)).to_have_text("Đăng nhập")
    assert not overflows(tablet)
    box = tablet.get_by_role("button", name="Đăng nhập").bounding_box()
    assert box is not None and box["height"] >= 32, box  # big enough for a finger
    screenshot(tablet, "login-tablet")
    assert console == [], console


@pytest.mark.slow
def test_the_live_sites_worker_digitizes_an_upload(live_worker: LiveSite, tmp_path: Path) -> None:
    """An upload to the live server is digitized by the harness's worker process: it sees the
    same data dir, broker and development PKI."""
    scan = tmp_path / "scan.png"
    render_page(size_in=A6, dpi=200).image.save(scan, dpi=(200, 200))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=live_worker.url, headers=auth, timeout=30) as client:
        with scan.open("rb") as f:
            sent = client.post("/api/v1/scans", files={"file": ("scan.png", f, "image/png")})
        assert sent.status_code == 202, sent.text
        scan_id = sent.json()["id"]
        deadline = time.monotonic() + 600
        state: dict[str, object] = {}
        while time.monotonic() < deadline:
            state = client.get(f"/api/v1/scans/{scan_id}").json()
            if state["status"] in ("digitized", "failed"):
                break
            time.sleep(0.5)
    assert state.get("status") == "digitized", f"{state}\n{live_worker.worker_logs()}"
