"""The connections page in Debian's Chromium at a counter PC's size: a webhook made from the
form, its secret shown once with a working copy button, stopped after the confirmation the
page asks for; nothing overflows and nothing goes to the console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.connect.webhook_receiver import Receiver
from tests.web.browser import LiveSite, overflows, screenshot, sign_in

PAGE = "/web/admin/connections"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    made.start()
    yield made
    made.stop()


def test_a_webhook_made_copied_and_stopped_in_the_browser(
    page: Page, live_site: LiveSite, console: list[str], receiver: Receiver
) -> None:
    sign_in(page, live_site.token("quantri"), next_path=PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết nối")
    expect(page.get_by_text("Chưa cấu hình Cổng (SOHOA_DVCQG_URL)")).to_be_visible()
    assert not overflows(page)

    page.get_by_label("Mã đơn vị hoặc mã tỉnh").fill("000.00.16.H99")
    page.get_by_label("Địa chỉ (URL)").fill(receiver.url)
    page.get_by_label("Sự kiện").fill("dossier.*, document.digitized")
    with page.expect_navigation():
        page.get_by_role("button", name="Tạo webhook").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Đã tạo webhook cho")
    secret = page.get_by_label("Khóa bí mật để ký").input_value()
    assert secret.startswith("whsec_")
    copy = page.get_by_role("button", name="Sao chép khóa bí mật")
    expect(copy).to_be_visible()  # the script shows it; without the script the text says how
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy.click()
    expect(page.locator("#copy-done")).to_have_text("Đã sao chép.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    with page.expect_navigation():
        page.get_by_role("link", name="Xong").click()

    row = page.locator("#hooks tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(receiver.url)
    expect(row).to_contain_text("Đang hoạt động")
    assert secret not in page.content()  # shown once
    screenshot(page, "connections")

    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    with page.expect_navigation():
        row.get_by_role("button", name="Ngừng gửi").click()
    assert asked == [f"Ngừng gửi tới {receiver.url}?"]
    expect(page.get_by_role("status").first).to_have_text(f"Đã ngừng gửi webhook {receiver.url}.")
    expect(page.locator("#hooks tbody tr")).to_contain_text("Đã ngừng từ")
    assert not overflows(page)
    assert console == []
