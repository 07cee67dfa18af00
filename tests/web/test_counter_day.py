"""A counter's day in a real Chromium, against the live server and a pipeline worker.

The clerk of UBND phường Hòa Bình issues and calls tickets, looks up a procedure, opens and
receives a birth registration (form 01 printed and verified), scans two pages of a paper at
once and watches both get digitized and signed, takes the fee of a second citizen's dossier
and prints the e-receipt, and routes both dossiers. The civil-status officer takes the birth
registration, uploads a signed result and finishes; the clerk hands the result back; the
citizen reads "Đã trả kết quả" with the code and secret of form 01; the auditor opens one of
the scans and its verification report. Around the walk: a form without its CSRF token is
refused and changes nothing, another unit's dossier is not found by URL, a reception done by
keyboard alone, and the dossier page at tablet width.

One live server serves the whole module (the world's clock stands still at Friday 09:00, so
every session stays fresh); only the day's walk starts the worker. Screenshots land in
``<artifacts>/screens/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from pdfminer.high_level import extract_text
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    ViewportSize,
    expect,
)

from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn
from signing.verify import verify_pdf
from tests.fixtures.pki import ForeignCa, born_digital_pdf
from tests.ocr.pagegen import A6, render_page
from tests.web.browser import (
    ACTION_TIMEOUT_MS,
    ASSET_TYPES,
    DESKTOP,
    LiveSite,
    overflows,
    screenshot,
    sign_in,
    start_live_site,
    tab_to,
)

BIRTH = "1.001193"  # Đăng ký khai sinh: same day, no fee, civil status (tư pháp)
EXTRACT = "1.004873"  # Cấp bản sao trích lục hộ tịch: 8.000 đ at reception, same agency
CITIZEN = "Lê Thị Hồng Nhung"
CCCD = "031190004567"
SECOND = ("Trần Văn Đức", "001085012345")
# OCR and signing on a shared two-core machine: minutes, not seconds, in the worst case.
DIGITIZE_MS = 600_000
SECRET = re.compile(r"Mã tra cứu: ([A-Z0-9]{4}-[A-Z0-9]{4})")


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """One server for the module (it overrides the harness's per-test one)."""
    root = tmp_path_factory.mktemp("counter-day")
    site = start_live_site(root / "data", root / "logs")
    try:
        yield site
    finally:
        site.stop()


# -- helpers ----------------------------------------------------------------------------------


def _watch(page: Page, console: list[str], who: str) -> None:
    """Report console errors, uncaught exceptions and failed assets of ``page`` as ``console``
    entries (a page answered 403/404 on purpose is the test's to check, not an error here)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            console.append(f"{who}: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type in ASSET_TYPES:
            console.append(f"{who}: {response.url} answered {response.status}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"{who}: uncaught {error}"))
    page.on("response", on_response)


@contextmanager
def browser_of(browser: Browser, site: LiveSite, console: list[str], who: str) -> Iterator[Page]:
    """Another person's browser (a context of its own, so its own cookies) at a desk PC."""
    context = browser.new_context(
        base_url=site.url,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        viewport=ViewportSize(width=DESKTOP["width"], height=DESKTOP["height"]),
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = context.new_page()
    _watch(opened, console, who)
    try:
        yield opened
    except BaseException:
        screenshot(opened, f"failed-counter-day-{who}")
        raise
    finally:
        context.close()


def fetch_pdf(page: Page, href: str, dest: Path) -> Path:
    """What a link to a PDF serves, fetched with the page's own session: it must be a PDF."""
    answer = page.request.get(href)
    assert answer.status == 200, (href, answer.status, answer.text()[:300])
    assert answer.headers["content-type"].startswith("application/pdf"), answer.headers
    assert answer.body().startswith(b"%PDF-")
    dest.write_bytes(answer.body())
    return dest


def assert_verifies(site: LiveSite, pdf: Path) -> None:
    """Signed with the installation's keys, and intact."""
    report = verify_pdf(
        pdf, trust_roots=site.services.trust_roots, other_certs=site.services.other_certs
    )
    assert report.signed and report.ok, report.to_dict()


def pdf_text(pdf: Path) -> str:
    return " ".join(extract_text(str(pdf)).split())


def component(page: Page, name: str) -> Locator:
    """The checklist entry of one paper on the dossier page."""
    heading = page.get_by_role("heading", name=name, exact=True)
    return page.locator("#components > li").filter(has=heading)


def notice(page: Page) -> Locator:
    return page.locator("main p.notice").first


def scan_of(tmp: Path, name: str, lines: list[str], seed: int) -> Path:
    """A one-page A6 scan at 200 dpi, as the counter's flatbed makes it."""
    path = tmp / name
    render_page(lines, size_in=A6, dpi=200, seed=seed).image.save(path, dpi=(200, 200))
    return path


def wait_digitized(row: Locator, site: LiveSite) -> None:
    """Until the upload's row says "Đã số hóa"; a failure shows the row and the worker's log."""
    try:
        expect(row.locator("[data-label]")).to_have_text("Đã số hóa", timeout=DIGITIZE_MS)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n-- the row --\n{row.inner_text()}\n-- worker --\n{site.worker_logs()}"
        ) from None


def focus_problem(page: Page) -> str:
    """Why the keyboard's place is not visible ('' when it is): nothing focused, no focus
    ring, or the focused element outside the window."""
    return str(
        page.evaluate(
            """() => {
              const e = document.activeElement;
              if (!e || e === document.body) return "nothing has the focus";
              if (!e.matches(":focus-visible")) return `${e.tagName}#${e.id} is not :focus-visible`;
              const s = getComputedStyle(e);
              if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) < 2)
                return `${e.tagName}#${e.id} shows no focus ring`;
              const r = e.getBoundingClientRect();
              if (r.width === 0 || r.bottom < 0 || r.top > innerHeight || r.right < 0 || r.left > innerWidth)
                return `${e.tagName}#${e.id} is outside the window`;
              return "";
            }"""
        )
    )


def assert_focus_visible(page: Page) -> None:
    problem = focus_problem(page)
    assert problem == "", problem


def open_for_lan(site: LiveSite, procedure: str, name: str, id_number: str) -> str:
    """A new dossier at lan.nt's unit, opened through the service (for the side tests)."""
    lan = site.world.principal("lan.nt")
    return str(
        site.services.dossiers.create(
            lan, procedure_code=procedure, applicant=ApplicantIn(name, "CCCD", id_number)
        )
    )


# -- 1. the day -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_counter_day_from_the_ticket_to_the_citizens_status_page(
    page: Page,
    tablet: Page,
    browser: Browser,
    live_site: LiveSite,
    console: list[str],
    foreign_ca: ForeignCa,
    tmp_path: Path,
) -> None:
    site = live_site
    site.start_worker()  # warms up while the clerk works the queue

    # -- the desk: two citizens take numbers, the first is called ---------------------------
    sign_in(page, site.token("lan.nt"), next_path="/web/counter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Quầy tiếp nhận")
    for _ in range(2):
        page.get_by_role("button", name="Cấp số", exact=True).click()
        expect(notice(page)).to_contain_text("Đã cấp số thứ tự")
    page.get_by_role("button", name="Gọi số tiếp theo").click()
    expect(notice(page)).to_have_text(re.compile(r"Mời số \d+\."))
    called = re.search(r"\d+", notice(page).inner_text())
    assert called is not None
    queue = page.locator("#queue")
    expect(queue.get_by_text("Đang phục vụ")).to_be_visible()
    expect(queue.get_by_text(f"Số {called.group()}", exact=True)).to_be_visible()
    expect(queue.get_by_role("heading", name="Đang chờ: 1")).to_be_visible()
    screenshot(page, "counter")
    screenshot(page, "readme-counter", full_page=False)

    # -- the guidance of "khai sinh" --------------------------------------------------------
    page.get_by_label("Tên hoặc mã thủ tục").fill("khai sinh")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.get_by_role("link", name="Đăng ký khai sinh").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Đăng ký khai sinh")
    expect(page.get_by_text(f"Mã thủ tục {BIRTH}")).to_be_visible()
    papers = page.get_by_role("table", name="Giấy tờ công dân cần mang")
    for name in ("Tờ khai đăng ký khai sinh", "Giấy chứng sinh"):
        expect(papers.get_by_role("cell", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text("Không thu phí, lệ phí.")).to_be_visible()
    expect(page.get_by_text("Công chức Tư pháp - Hộ tịch phường Hòa Bình")).to_be_visible()
    screenshot(page, "procedure")

    # -- open the dossier for the citizen called --------------------------------------------
    page.get_by_label("Họ tên người nộp hồ sơ").fill(CITIZEN)
    expect(page.get_by_label("Giấy tờ tùy thân")).to_have_value("CCCD")
    page.get_by_label("Số giấy tờ", exact=True).fill(CCCD)
    page.get_by_label("Số điện thoại (không bắt buộc)").fill("0912345678")
    expect(page.locator("#ticket option:checked")).to_contain_text(f"Số {called.group()}")
    page.get_by_role("button", name="Mở hồ sơ").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ mới (chưa có mã)")
    expect(page.locator("dl.facts")).to_contain_text(CITIZEN)
    dossier_url = page.url

    # -- the checklist, complete; receive; form 01 ------------------------------------------
    for name in (
        "Tờ khai đăng ký khai sinh",
        "Giấy chứng sinh",
        "Giấy tờ tùy thân của người đi đăng ký",
    ):
        component(page, name).get_by_label(re.compile("Số bản công dân mang đến")).fill("1")
    page.get_by_role("button", name="Kiểm tra đủ hồ sơ").click()
    expect(page.locator("#completeness")).to_have_text("Hồ sơ đã đủ thành phần bắt buộc.")
    page.get_by_role("button", name="Tiếp nhận hồ sơ").click()
    expect(notice(page)).to_contain_text("Đã tiếp nhận hồ sơ.")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^Hồ sơ \S+$"))
    code = heading.inner_text().removeprefix("Hồ sơ ").strip()
    expect(page.locator("#status")).to_have_text("Được tiếp nhận")
    print_01 = page.get_by_role("link", name="In giấy tiếp nhận (mẫu 01)")
    expect(print_01).to_be_visible()
    href = print_01.get_attribute("href")
    assert href
    form_01 = fetch_pdf(page, href, tmp_path / "mau-01.pdf")
    assert_verifies(site, form_01)
    text = pdf_text(form_01)
    assert code in text and CITIZEN in text, text[:600]
    secret = SECRET.search(text)
    assert secret, text

    # -- two pages of the birth certificate, scanned and chosen at once ---------------------
    certificate = component(page, "Giấy chứng sinh")
    scans = [
        scan_of(
            tmp_path,
            f"giay-chung-sinh-{n}.png",
            [f"GIẤY CHỨNG SINH (trang {n})", f"Họ và tên mẹ: {CITIZEN}", f"Số CCCD: {CCCD}"],
            seed=n,
        )
        for n in (1, 2)
    ]
    certificate.get_by_label("Chọn các tệp đã quét (ảnh hoặc PDF)").set_input_files(scans)
    rows = certificate.locator("[data-files] > li")
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n)).to_contain_text(scans[n].name)
    for n in range(2):
        wait_digitized(rows.nth(n), site)
        expect(rows.nth(n).locator("[data-badge]")).to_have_text("Chữ ký hợp lệ")
        expect(rows.nth(n).locator("[data-notices] .error")).to_have_count(0)
    # The signed PDF inline, beside its row.
    rows.nth(0).get_by_role("button", name="Xem").click()
    expect(rows.nth(0).locator("iframe.pdf")).to_be_visible()
    rows.nth(0).get_by_role("button", name="Ẩn").click()
    screenshot(page, "dossier")
    certificate.scroll_into_view_if_needed()
    screenshot(page, "readme-dossier", full_page=False)

    # The same dossier on the tablet: the scans listed, nothing wider than the screen.
    sign_in(tablet, site.token("lan.nt"), next_path=dossier_url.removeprefix(site.url))
    expect(tablet.get_by_role("heading", level=1)).to_have_text(f"Hồ sơ {code}")
    expect(component(tablet, "Giấy chứng sinh").locator("li[data-scan]")).to_have_count(2)
    assert not overflows(tablet)
    screenshot(tablet, "dossier-tablet")

    # -- route the birth registration (no fee) ----------------------------------------------
    page.get_by_role("button", name="Chuyển cơ quan giải quyết").click()
    expect(notice(page)).to_have_text("Đã chuyển hồ sơ đến cơ quan giải quyết.")
    expect(page.locator("#status")).to_have_text("Đang xử lý")

    # -- the second citizen: a procedure with a fee, paid and receipted, then routed --------
    page.goto("/web/counter")
    # The first ticket was marked served with the dossier opened for it.
    expect(page.locator("#queue")).to_contain_text("Đã phục vụ hôm nay: 1")
    page.get_by_role("button", name="Gọi số tiếp theo").click()
    expect(notice(page)).to_have_text(re.compile(r"Mời số \d+\."))
    page.get_by_label("Tên hoặc mã thủ tục").fill("trich luc ho tich")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.get_by_role("link", name="Cấp bản sao trích lục hộ tịch").click()
    expect(page.get_by_text("Nộp khi tiếp nhận: 8.000 đ.")).to_be_visible()
    page.get_by_label("Họ tên người nộp hồ sơ").fill(SECOND[0])
    page.get_by_label("Số giấy tờ", exact=True).fill(SECOND[1])
    page.get_by_role("button", name="Mở hồ sơ").click()
    component(page, "Tờ khai cấp bản sao trích lục hộ tịch").get_by_label(
        re.compile("Số bản công dân mang đến")
    ).fill("1")
    page.get_by_role("button", name="Kiểm tra đủ hồ sơ").click()
    page.get_by_role("button", name="Tiếp nhận hồ sơ").click()
    expect(notice(page)).to_contain_text("Đã tiếp nhận hồ sơ.")
    second_code = page.get_by_role("heading", level=1).inner_text().removeprefix("Hồ sơ ")
    fees = page.locator("#money")
    expect(fees).to_contain_text("Phí cấp bản sao trích lục hộ tịch")
    fees.get_by_role("button", name=re.compile(r"^Thu 8\.000.* và lập biên lai$")).click()
    paid = page.locator("#money p.notice")
    expect(paid).to_contain_text("Đã thu tiền và lập biên lai")
    expect(page.locator("#money").get_by_text("Đã nộp", exact=True)).to_be_visible()
    receipt_href = paid.get_by_role("link", name="In biên lai").get_attribute("href")
    assert receipt_href
    receipt = fetch_pdf(page, receipt_href, tmp_path / "bien-lai.pdf")
    assert_verifies(site, receipt)
    assert second_code in pdf_text(receipt)
    screenshot(page, "receipt-fees")
    page.get_by_role("button", name="Chuyển cơ quan giải quyết").click()
    expect(notice(page)).to_have_text("Đã chuyển hồ sơ đến cơ quan giải quyết.")

    # -- the civil-status officer: inbox, take, signed result, finish -----------------------
    made = born_digital_pdf(
        tmp_path / "kq.pdf",
        [f"GIẤY KHAI SINH\nNgười đi đăng ký: {CITIZEN}\nSố CCCD: {CCCD}\nSố: 15/2026"],
    )
    # pyHanko runs its own event loop: not in this thread, where Playwright's is running.
    with ThreadPoolExecutor(1) as pool:
        signed_result = pool.submit(foreign_ca.sign, made, tmp_path / "giay-khai-sinh.pdf").result()
    with browser_of(browser, site, console, "agency") as officer:
        sign_in(officer, site.token("tuphap"), next_path="/web/agency")
        to_take = officer.locator("section").filter(
            has=officer.get_by_role("heading", name=re.compile("^Chờ nhận xử lý"))
        )
        expect(to_take.get_by_role("link", name=code)).to_be_visible()
        expect(to_take.get_by_role("link", name=second_code)).to_be_visible()
        expect(to_take).to_contain_text(CITIZEN)
        screenshot(officer, "agency-inbox")
        to_take.get_by_role("link", name=code).click()
        officer.get_by_role("button", name="Nhận xử lý").click()
        expect(officer.get_by_text("Đã nhận xử lý hồ sơ")).to_be_visible()
        officer.get_by_label(
            "Tệp kết quả: ảnh quét, hoặc tệp PDF đã được cơ quan ký số"
        ).set_input_files(signed_result)
        result_row = officer.locator("form[data-upload] [data-files] > li")
        expect(result_row).to_have_count(1)
        wait_digitized(result_row, site)
        # Kept as the agency signed it; its signer is not on this installation's trusted list,
        # and the page says so in words.
        expect(result_row.locator("[data-notices]")).to_contain_text(
            "Người ký sẵn trên tệp không thuộc danh sách tin cậy"
        )
        officer.once("dialog", lambda dialog: dialog.accept())
        officer.get_by_role("button", name="Hoàn thành, chuyển trả Bộ phận Một cửa").click()
        expect(officer.get_by_text("Đã hoàn thành: hồ sơ và kết quả")).to_be_visible()
        expect(officer.locator("#status")).to_have_text("Đã xử lý xong")

    # -- back at the counter: the result handed over -----------------------------------------
    page.goto(dossier_url)
    returns = page.locator("#returns")
    expect(returns).to_contain_text("Giấy khai sinh")
    expect(returns.get_by_label("Họ tên người nhận")).to_have_value(CITIZEN)
    returns.get_by_label("Số giấy tờ tùy thân của người nhận").fill(CCCD)
    returns.get_by_role("button", name="Trả tại quầy").click()
    expect(page.locator("#returns p.notice")).to_have_text(
        "Đã trao kết quả; hồ sơ chuyển sang đã trả kết quả."
    )
    expect(page.locator("#status")).to_have_text("Đã trả kết quả")
    tablet.goto(dossier_url)
    assert not overflows(tablet)
    screenshot(tablet, "dossier-returned-tablet")

    # -- the citizen, with form 01 in hand ----------------------------------------------------
    with browser_of(browser, site, console, "citizen") as citizen:
        citizen.goto("/web/status")
        citizen.get_by_label("Mã hồ sơ").fill(code)
        citizen.get_by_label("Mã tra cứu (8 ký tự)").fill(secret.group(1))
        citizen.get_by_role("button", name="Tra cứu").click()
        expect(citizen.get_by_role("heading", level=1)).to_have_text(f"Hồ sơ {code}")
        expect(citizen.locator(".badge").first).to_have_text("Đã trả kết quả")
        expect(citizen.get_by_text("Đăng ký khai sinh")).to_be_visible()
        assert CCCD not in citizen.content()  # nothing more personal than the receipt
        screenshot(citizen, "citizen-status")
        screenshot(citizen, "readme-citizen-status", full_page=False)

    # -- the auditor opens one of the scans and its report -----------------------------------
    with browser_of(browser, site, console, "auditor") as auditor:
        sign_in(auditor, site.token("kiemtra"), next_path="/web/audit")
        auditor.get_by_label("Mã hồ sơ").fill(code)
        auditor.get_by_role("button", name="Tìm", exact=True).click()
        documents = auditor.locator("#documents tbody tr")
        expect(documents.filter(has_text="Giấy chứng sinh")).to_have_count(2)
        documents.filter(has_text="Giấy chứng sinh").first.get_by_role("link").first.click()
        expect(auditor.locator("#signature-badge")).to_have_text("Chữ ký hợp lệ")
        expect(auditor.locator("#facts")).to_contain_text(code)
        screenshot(auditor, "audit-document")
        report_href = auditor.locator("#report-pdf").get_attribute("href")
        json_href = auditor.locator("#report-json").get_attribute("href")
        assert report_href and json_href
        report = fetch_pdf(auditor, report_href, tmp_path / "bao-cao.pdf")
        assert report.stat().st_size > 1000
        verdict = auditor.request.get(json_href)
        assert verdict.status == 200
        body = json.loads(verdict.body())
        assert body["indication"] == "TOTAL_PASSED", body
        assert body["valid_signatures_count"] == body["signatures_count"] >= 1

    assert console == [], console


# -- 2. CSRF ----------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    page: Page, live_site: LiveSite, console: list[str]
) -> None:
    site = live_site
    dossier_id = open_for_lan(site, BIRTH, "Phan Văn Tèo", "079090001234")
    sign_in(page, site.token("lan.nt"), next_path=f"/web/dossiers/{dossier_id}")
    for name in (
        "Tờ khai đăng ký khai sinh",
        "Giấy chứng sinh",
        "Giấy tờ tùy thân của người đi đăng ký",
    ):
        component(page, name).get_by_label(re.compile("Số bản công dân mang đến")).fill("1")

    # The checklist's token removed.
    page.evaluate("document.querySelector('#checklist input[name=csrf]').remove()")
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Kiểm tra đủ hồ sơ").click()
    response = sent.value
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Biểu mẫu đã cũ hoặc không hợp lệ")
    expect(page.get_by_role("alert")).to_contain_text("dữ liệu chưa bị thay đổi")

    # The reception's token altered (the button, which waits for the checklist, forced on as
    # a forged request would be).
    page.goto(f"/web/dossiers/{dossier_id}")
    page.evaluate(
        "document.querySelector('form[action$=\"/receive\"] input[name=csrf]').value = 'f'.repeat(64);"
        "document.querySelector('#receive').disabled = false"
    )
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="Tiếp nhận hồ sơ").click()
    response = sent.value
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Biểu mẫu đã cũ hoặc không hợp lệ")
    screenshot(page, "csrf-refused")

    # Nothing changed: no copy recorded, not received.
    view = site.services.dossiers.view(site.world.principal("lan.nt"), dossier_id)
    assert view.status == Status.NEW and view.code is None
    assert all(c.provided == 0 for c in view.components)
    page.goto(f"/web/dossiers/{dossier_id}")
    expect(page.locator("#status")).to_have_text("Mới đăng ký")
    expect(page.locator("#missing > li")).to_have_count(3)
    assert console == [], console


# -- 3. another unit's dossier ----------------------------------------------------------------


def test_another_units_dossier_is_not_found_by_url(
    page: Page, live_site: LiveSite, console: list[str]
) -> None:
    site = live_site
    dossier_id = open_for_lan(site, BIRTH, "Đinh Thị Mai", "036195007788")
    lan = site.world.principal("lan.nt")
    site.services.dossiers.check_components(
        lan, dossier_id, {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}
    )
    site.services.dossiers.receive(lan, dossier_id)
    code = site.services.dossiers.view(lan, dossier_id).code
    assert code

    sign_in(page, site.token("minh.tv"), next_path="/web/counter")
    for ref in (dossier_id, code):
        response = page.goto(f"/web/dossiers/{ref}")
        assert response is not None and response.status == 404, ref
        expect(page.get_by_role("heading", level=1)).to_have_text("Không có hồ sơ")
        expect(page.locator("main")).not_to_contain_text("Đinh Thị Mai")
    screenshot(page, "other-unit-404")
    # Nor is it in the other unit's list.
    page.goto(f"/web/dossiers?q={code}")
    expect(page.locator("main")).not_to_contain_text("Đinh Thị Mai")
    assert console == [], console


# -- 4. reception by keyboard alone ----------------------------------------------------------


def tab_until(page: Page, check: str, *, limit: int = 60) -> None:
    """Press Tab until the JavaScript predicate ``check`` holds for the focused element."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(e => {check})(document.activeElement)"):
            return
    pytest.fail(f"no element with {check} within {limit} Tab presses")


def test_a_reception_by_keyboard_alone(page: Page, live_site: LiveSite, console: list[str]) -> None:
    site = live_site
    sign_in(page, site.token("lan.nt"), next_path="/web/counter")
    # The search box has the focus when the desk opens.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'q'")
    page.keyboard.type("khai sinh")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "Đăng ký khai sinh")
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Đăng ký khai sinh")

    # The form's first field has the focus; type, Tab, type, Enter.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'name'")
    assert_focus_visible(page)
    page.keyboard.type("Vũ Thị Thanh Hằng")
    page.keyboard.press("Tab")  # the ID paper: CCCD already chosen
    assert page.evaluate("document.activeElement.id") == "id_type"
    assert_focus_visible(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_number"
    page.keyboard.type("038188009911")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ mới (chưa có mã)")

    # The checklist: each paper's copies, then "Kiểm tra đủ hồ sơ".
    for _ in range(3):
        tab_until(page, "e.id.startsWith('copies-') && e.value === '0'")
        assert_focus_visible(page)
        page.keyboard.type("1")  # Tab selects the field's text: typing replaces the 0
    tab_to(page, "Kiểm tra đủ hồ sơ")
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#completeness")).to_have_text("Hồ sơ đã đủ thành phần bắt buộc.")

    # Receive, with the space bar this time.
    tab_to(page, "Tiếp nhận hồ sơ")
    assert_focus_visible(page)
    with page.expect_navigation():
        page.keyboard.press("Space")
    expect(notice(page)).to_contain_text("Đã tiếp nhận hồ sơ.")
    expect(page.locator("#status")).to_have_text("Được tiếp nhận")
    tab_to(page, "In giấy tiếp nhận (mẫu 01)")
    assert_focus_visible(page)
    screenshot(page, "keyboard-received", full_page=False)
    assert console == [], console


# -- 5. the dossier page on a tablet ---------------------------------------------------------


def test_the_reception_fits_a_tablet(tablet: Page, live_site: LiveSite, console: list[str]) -> None:
    site = live_site
    sign_in(tablet, site.token("lan.nt"), next_path=f"/web/procedures/{BIRTH}")
    assert not overflows(tablet)
    screenshot(tablet, "procedure-tablet")
    tablet.get_by_label("Họ tên người nộp hồ sơ").fill("Hà Thị Thu Trang")
    tablet.get_by_label("Số giấy tờ", exact=True).fill("025192003344")
    tablet.get_by_role("button", name="Mở hồ sơ").click()
    expect(tablet.get_by_role("heading", level=1)).to_have_text("Hồ sơ mới (chưa có mã)")
    assert not overflows(tablet)
    screenshot(tablet, "dossier-new-tablet")

    # Incomplete first: the warning and the missing list fit too.
    component(tablet, "Giấy chứng sinh").get_by_label(re.compile("Số bản công dân mang đến")).fill(
        "1"
    )
    tablet.get_by_role("button", name="Kiểm tra đủ hồ sơ").click()
    expect(tablet.locator("#missing > li")).to_have_count(2)
    assert not overflows(tablet)
    for name in ("Tờ khai đăng ký khai sinh", "Giấy tờ tùy thân của người đi đăng ký"):
        component(tablet, name).get_by_label(re.compile("Số bản công dân mang đến")).fill("1")
    tablet.get_by_role("button", name="Kiểm tra đủ hồ sơ").click()
    tablet.get_by_role("button", name="Tiếp nhận hồ sơ").click()
    expect(tablet.locator("#status")).to_have_text("Được tiếp nhận")
    assert not overflows(tablet)
    # Buttons big enough for a finger.
    for name in ("In giấy tiếp nhận (mẫu 01)", "Chuyển cơ quan giải quyết"):
        box = tablet.get_by_role(
            "link" if name.startswith("In") else "button", name=name
        ).bounding_box()
        assert box is not None and box["height"] >= 32, (name, box)
    screenshot(tablet, "dossier-received-tablet")
    assert console == [], console
