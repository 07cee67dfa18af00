"""The administrator's pages: every change goes through a form with the session's CSRF token,
lands where the admin API's would, answers 303 with a notice, and a refusal keeps what was
typed and says why in Vietnamese. Only admins (the bootstrap admin included) get in."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, func, select

from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.models import (
    ApiToken,
    BackupAssignment,
    CalendarOverrideRow,
    PostalAssignment,
    Procedure,
    ReceiptSeries,
    Staff,
)
from storage.db import session_scope
from tests.conftest import TOKEN
from tests.dossiers.world import JUSTICE, OTHER, OWN
from tests.web.conftest import NONCE, Site

NOTICE = re.compile(r'<p class="notice" role="status">([^<]*)</p>')
TOKEN_SHOWN = re.compile(r'id="new-token" type="text" value="(sohoa_[^"]+)"')

NEW_PROCEDURE = """
procedures:
  - code: "1.009999"
    name: "Đăng ký giám hộ"
    field_code: "G15-HT"
    field_name: "Hộ tịch"
    agencies: ["{agency}"]
    processing_days: 3
    effective_from: 2026-01-01
    components:
      - {{key: to_khai, name: "Tờ khai đăng ký giám hộ"}}
"""


@pytest.fixture
def admin(site: Site) -> Site:
    site.sign_in("quantri")
    return site


def _csrf(site: Site) -> str:
    return site.csrf("/web/admin")


def _post(site: Site, path: str, data: dict[str, str], **kw: Any) -> Any:
    return site.client.post(path, data={"csrf": _csrf(site), **data}, follow_redirects=False, **kw)


def _notice(site: Site, response: Any) -> str:
    """Follow a 303 and read the notice the page shows once."""
    assert response.status_code == 303, response.text
    page = site.client.get(response.headers["location"])
    assert page.status_code == 200
    found = NOTICE.search(page.text)
    assert found, page.text
    again = site.client.get(response.headers["location"])
    assert NOTICE.search(again.text) is None  # shown once
    return found.group(1)


def _count(site: Site, model: Any, *where: Any) -> int:
    with session_scope(site.world.services.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _upload(site: Site, body: bytes, name: str = "catalog.yaml", **data: str) -> Any:
    return site.client.post(
        "/web/admin/catalog",
        data={"csrf": _csrf(site), **data},
        files={"file": (name, body, "application/yaml")},
        follow_redirects=False,
    )


# -- who gets in ------------------------------------------------------------------------------


def test_the_overview_lists_the_units_and_the_sections(admin: Site) -> None:
    page = admin.client.get("/web/admin")
    assert page.status_code == 200
    assert "Quản trị" in page.text and "Danh mục thủ tục" in page.text
    assert f'href="/web/admin/units/{OWN}"' in page.text
    assert "Bộ phận Một cửa" in page.text and "Nông thôn" in page.text  # kinds, areas in words
    assert admin.client.get("/web/", follow_redirects=False).headers["location"] == "/web/admin"


@pytest.mark.parametrize("staff_id", ["lan.nt", "tuphap", "kiemtra"])
def test_other_roles_get_the_403_page(site: Site, staff_id: str) -> None:
    site.sign_in(staff_id)
    for path in ("/web/admin", "/web/admin/staff", "/web/admin/staff/lan.nt", "/web/admin/series"):
        page = site.client.get(path)
        assert page.status_code == 403, path
        assert "role_forbidden" in page.text
    refused = site.client.post(
        "/web/admin/calendar",
        data={"csrf": site.csrf("/web/"), "day": "2026-12-05", "working": "1", "note": "x"},
    )
    assert refused.status_code == 403
    assert _count(site, CalendarOverrideRow) == 0


def test_forms_without_the_csrf_token_change_nothing(admin: Site) -> None:
    form = {"day": "2026-12-05", "working": "1", "note": "Thông báo làm bù"}
    refused = admin.client.post("/web/admin/calendar", data=form)
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    upload = admin.client.post(
        "/web/admin/catalog",
        files={"file": ("c.yaml", NEW_PROCEDURE.format(agency=JUSTICE).encode(), "text/yaml")},
    )
    assert upload.status_code == 403 and "csrf_failed" in upload.text
    assert _count(admin, CalendarOverrideRow) == 0
    assert _count(admin, Procedure, Procedure.code == "1.009999") == 0


def test_the_bootstrap_admin_signs_in_with_its_token_and_works(site: Site) -> None:
    form = site.client.get("/web/login")
    nonce = NONCE.search(form.text).group(1)  # type: ignore[union-attr]
    signed = site.client.post(
        "/web/login", data={"token": TOKEN, "nonce": nonce, "next": "/web/"}, follow_redirects=True
    )
    assert signed.status_code == 200 and signed.url.path == "/web/admin"
    done = _post(
        site,
        "/web/admin/calendar",
        {"day": "2026-12-05", "working": "1", "note": "Thông báo 01/TB làm bù thứ Bảy"},
    )
    assert "05/12/2026" in _notice(site, done)
    with session_scope(site.world.services.sessions) as session:
        row = session.get(CalendarOverrideRow, date(2026, 12, 5))
        assert row is not None and row.working and row.created_by == BOOTSTRAP.staff_id


# -- catalog ----------------------------------------------------------------------------------


def test_a_catalog_import_reports_what_it_added(admin: Site) -> None:
    page = admin.client.get("/web/admin/catalog")
    assert page.status_code == 200 and "Đăng ký khai sinh" in page.text
    done = _upload(admin, NEW_PROCEDURE.format(agency=JUSTICE).encode())
    notice = _notice(admin, done)
    assert "1.009999" in notice and "Đã nhập danh mục" in notice
    # Searchable without accents, in words.
    found = admin.client.get("/web/admin/catalog", params={"q": "giam ho"})
    assert "Đăng ký giám hộ" in found.text and "3 ngày làm việc" in found.text
    assert "Đăng ký khai sinh" not in found.text
    # The same file again changes nothing.
    assert "0 thủ tục" in _notice(
        admin, _upload(admin, NEW_PROCEDURE.format(agency=JUSTICE).encode())
    )


def test_replace_retires_what_the_file_leaves_out(admin: Site) -> None:
    in_force = _count(admin, Procedure, Procedure.effective_to.is_(None))
    done = _upload(admin, NEW_PROCEDURE.format(agency=JUSTICE).encode(), replace="1")
    notice = _notice(admin, done)
    assert "1.001193" in notice  # retired
    assert _count(admin, Procedure, Procedure.effective_to.is_(None)) == 1
    assert in_force > 1


UNKNOWN_AGENCY = (
    "units:\n  - {code: '000.00.55.H99', name: Mới, kind: agency, level: commune}\n"
    + NEW_PROCEDURE.format(agency="000.99.99.H99")
)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"procedures: [unclosed", "Danh mục không hợp lệ"),
        (b"procedures:\n  - code: '9.9'\n    name: x\n", "procedures.0.code"),
        (UNKNOWN_AGENCY.encode(), "Thủ tục giao cho đơn vị chưa có"),
        (b"[" * 40 + b"]" * 40, "Danh mục lồng quá sâu"),
    ],
)
def test_a_malformed_catalog_is_refused_in_words_and_nothing_changes(
    admin: Site, body: bytes, words: str
) -> None:
    before = _count(admin, Procedure)
    units = admin.client.get("/web/admin").text.count("/web/admin/units/")
    refused = _upload(admin, body, replace="1")
    assert refused.status_code == 422, refused.text
    assert 'class="error" role="alert"' in refused.text and words in refused.text
    # The form comes back as it was sent ("replace" still ticked).
    assert 'name="replace" value="1" aria-describedby="replace-hint" checked' in refused.text
    assert _count(admin, Procedure) == before
    assert admin.client.get("/web/admin").text.count("/web/admin/units/") == units


def test_a_catalog_over_the_size_limit_is_refused(admin: Site) -> None:
    limit = admin.world.services.settings.catalog_max_bytes
    refused = _upload(admin, b"#" * (limit + 1))
    assert refused.status_code == 413 and "Tệp danh mục quá lớn" in refused.text


# -- staff and tokens -------------------------------------------------------------------------


def test_a_new_account_gets_a_token_shown_once_that_signs_in(admin: Site) -> None:
    listing = admin.client.get("/web/admin/staff")
    assert "Nguyễn Thị Lan" in listing.text and "Nhân viên bưu điện" in listing.text
    created = _post(
        admin,
        "/web/admin/staff",
        {
            "id": "hoa.pt",
            "name": "Phạm Thị Hoa",
            "role": "counter",
            "unit_code": OWN,
            "employer": "postal",
            "probation_until": "2026-12-31",
            "supervisor_id": "cong.ch",
        },
    )
    assert created.headers["location"] == "/web/admin/staff/hoa.pt"
    assert "hoa.pt" in _notice(admin, created)
    issued = _post(admin, "/web/admin/staff/hoa.pt/tokens", {"label": "quầy 3", "expires_on": ""})
    assert issued.status_code == 200
    assert "chỉ hiện một lần" in issued.text
    token = TOKEN_SHOWN.search(issued.text).group(1)  # type: ignore[union-attr]
    member = admin.client.get("/web/admin/staff/hoa.pt")
    assert token not in member.text and "quầy 3" in member.text
    with session_scope(admin.world.services.sessions) as session:
        labels = session.scalars(select(ApiToken.token_sha256).where(ApiToken.staff_id == "hoa.pt"))
        assert token not in list(labels)
    # The new clerk signs in with it in another browser and lands on the counter.
    admin.world.tokens["hoa.pt"] = token
    clerk = admin.sign_in("hoa.pt", admin.another())
    assert clerk.get("/web/", follow_redirects=False).headers["location"] == "/web/counter"


def test_a_token_can_end_on_a_day(admin: Site) -> None:
    issued = _post(admin, "/web/admin/staff/lan.nt/tokens", {"expires_on": "2026-12-31"})
    assert "01/01/2027 00:00" in issued.text
    past = _post(admin, "/web/admin/staff/lan.nt/tokens", {"expires_on": "2026-01-01"})
    assert past.status_code == 422 and "hôm nay hoặc một ngày sau" in past.text
    assert 'value="2026-01-01"' in past.text


def test_a_refused_account_keeps_what_was_typed_and_says_why(admin: Site) -> None:
    typed = {
        "id": "moi.nv",
        "name": "Nguyễn Văn Mới",
        "role": "counter",
        "unit_code": OWN,
        "employer": "postal",
        "probation_until": "2026-12-31",
    }
    refused = _post(admin, "/web/admin/staff", typed)
    assert refused.status_code == 422
    assert "Cần người hướng dẫn" in refused.text
    assert 'value="Nguyễn Văn Mới"' in refused.text and 'value="2026-12-31"' in refused.text
    assert f'<option value="{OWN}" selected>' in refused.text
    exists = _post(admin, "/web/admin/staff", {**typed, "id": "lan.nt", "probation_until": ""})
    assert exists.status_code == 409 and "Nhân viên đã có" in exists.text
    missing = _post(admin, "/web/admin/staff", {**typed, "name": "", "probation_until": ""})
    assert missing.status_code == 422 and "Hãy điền mục này" in missing.text
    assert 'aria-invalid="true"' in missing.text
    assert _count(admin, Staff, Staff.id == "moi.nv") == 0


def test_revoking_signs_the_member_out_everywhere(admin: Site) -> None:
    clerk = admin.sign_in("lan.nt", admin.another())
    assert clerk.get("/web/", follow_redirects=False).headers["location"] == "/web/counter"
    done = _post(admin, "/web/admin/staff/lan.nt/revoke", {})
    assert "lan.nt" in _notice(admin, done)
    assert clerk.get("/web/", follow_redirects=False).headers["location"].startswith("/web/login")
    api = admin.client.get("/api/v1/procedures", headers=admin.world.headers("lan.nt"))
    assert api.status_code == 401
    assert _post(admin, "/web/admin/staff/nobody/revoke", {}).status_code == 404


def test_a_probation_ends_with_its_evaluation(admin: Site) -> None:
    with session_scope(admin.world.services.sessions) as session:
        staffing.create_staff(
            session,
            admin.world.principal("quantri"),
            staff_id="tapsu",
            name="Người Tập Sự",
            role="counter",
            unit_code=OWN,
            employer="postal",
            probation_until=date(2026, 12, 31),
            supervisor_id="cong.ch",
            today=date(2026, 11, 27),
        )
    page = admin.client.get("/web/admin/staff/tapsu")
    assert "Kết thúc tập sự" in page.text
    no_note = _post(admin, "/web/admin/staff/tapsu/probation", {"passed": "false", "note": ""})
    assert no_note.status_code == 422 and 'value="false" checked' in no_note.text
    done = _post(
        admin, "/web/admin/staff/tapsu/probation", {"passed": "false", "note": "Chưa đạt yêu cầu"}
    )
    assert "tapsu" in _notice(admin, done)
    with session_scope(admin.world.services.sessions) as session:
        staff = session.get(Staff, "tapsu")
        assert staff is not None and not staff.active and staff.probation_until is None
        assert staff.probation_evaluation["by"] == "quantri"  # type: ignore[index]
    again = _post(admin, "/web/admin/staff/tapsu/probation", {"passed": "true", "note": "x"})
    assert again.status_code == 409 and "Không trong thời gian tập sự" in again.text


# -- calendar, postal plan, backups, series ----------------------------------------------------


def test_a_calendar_correction_is_listed_and_counts(admin: Site) -> None:
    refused = _post(admin, "/web/admin/calendar", {"day": "2026-12-07", "working": "0", "note": ""})
    assert refused.status_code == 422 and 'value="2026-12-07"' in refused.text
    done = _post(
        admin,
        "/web/admin/calendar",
        {"day": "2026-12-07", "working": "0", "note": "Nghỉ bù theo thông báo"},
    )
    assert "ngày nghỉ" in _notice(admin, done)
    page = admin.client.get("/web/admin/calendar")
    assert "07/12/2026" in page.text and "Nghỉ bù theo thông báo" in page.text
    assert "01/01/2027" in page.text  # the coming public holidays, for reference
    svc = admin.world.services.dossiers
    with svc.tx() as session:
        from dossiers.calendar import rules_in_force

        calendar = svc.calendar(session, rules_in_force(date(2026, 12, 7)))
        assert not calendar.is_working_day(date(2026, 12, 7))


def test_a_units_postal_plan_and_backup_are_set_from_its_page(admin: Site) -> None:
    page = admin.client.get(f"/web/admin/units/{OWN}")
    assert page.status_code == 200
    assert "Nhân viên bưu điện từ 01/08/2025" in page.text
    done = _post(
        admin,
        f"/web/admin/units/{OWN}/postal-plan",
        {
            "field_code": "G17-XD",
            "procedure_code": "",
            "who": "postal",
            "postal_from": "2027-01-01",
        },
    )
    assert OWN in _notice(admin, done)
    with session_scope(admin.world.services.sessions) as session:
        row = session.scalar(
            select(PostalAssignment).where(
                PostalAssignment.unit_code == OWN, PostalAssignment.field_code == "G17-XD"
            )
        )
        assert row is not None and row.postal_from == date(2027, 1, 1)
    no_day = _post(
        admin,
        f"/web/admin/units/{OWN}/postal-plan",
        {"field_code": "G09-BTXH", "who": "postal", "postal_from": ""},
    )
    assert no_day.status_code == 422 and "Ghi ngày" in no_day.text
    backwards = {"staff_id": "minh.tv", "valid_from": "2026-12-10", "valid_to": "2026-12-01"}
    refused = _post(admin, f"/web/admin/units/{OWN}/backups", backwards)
    assert refused.status_code == 422 and 'value="2026-12-10"' in refused.text
    assert _count(admin, BackupAssignment) == 0
    done = _post(
        admin,
        f"/web/admin/units/{OWN}/backups",
        {**backwards, "valid_to": "2026-12-20", "covers_staff_id": "lan.nt"},
    )
    assert "minh.tv" in _notice(admin, done)
    assert "Trần Văn Minh" in admin.client.get(f"/web/admin/units/{OWN}").text
    assert admin.client.get("/web/admin/units/000.00.99.H99").status_code == 404


def test_a_units_postal_contact_is_kept(admin: Site) -> None:
    refused = _post(admin, f"/web/admin/units/{OTHER}/postal-contact", {"phone": "0209"})
    assert refused.status_code == 422 and 'value="0209"' in refused.text
    done = _post(
        admin,
        f"/web/admin/units/{OTHER}/postal-contact",
        {"name": "Bưu điện xã Tân Lập", "phone": "0209"},
    )
    _notice(admin, done)
    assert 'value="Bưu điện xã Tân Lập"' in admin.client.get(f"/web/admin/units/{OTHER}").text


def test_receipt_series_are_listed_and_registered(admin: Site) -> None:
    page = admin.client.get("/web/admin/series")
    assert "BL-26E" in page.text and "Đang dùng" in page.text
    form = {
        "unit_code": OWN,
        "form_symbol": "01BLP0-001",
        "series": "BL-27E",
        "collector_name": "Văn phòng Đăng ký đất đai tỉnh Mẫu",
        "valid_from": "2027-01-01",
        "valid_to": "",
    }
    done = _post(admin, "/web/admin/series", form)
    assert "BL-27E" in _notice(admin, done)
    assert _count(admin, ReceiptSeries, ReceiptSeries.series == "BL-27E") == 1
    again = _post(admin, "/web/admin/series", form)
    assert again.status_code == 409 and "Ký hiệu biên lai đã có" in again.text
    assert 'value="BL-27E"' in again.text


# -- quality ----------------------------------------------------------------------------------


def test_the_staff_list_costs_the_same_statements_for_many_staff(admin: Site) -> None:
    engine = admin.world.services.engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    def measure() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert admin.client.get("/web/admin/staff").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    few = measure()
    with session_scope(admin.world.services.sessions) as session:
        for n in range(60):
            session.add(Staff(id=f"x{n:03}", name=f"Nhân viên {n}", role="agency", unit_code=OWN))
        session.flush()
        for n in range(60):
            staffing.new_token(session, BOOTSTRAP, f"x{n:03}")
    assert measure() == few
    assert "Trang 1 / 2" in admin.client.get("/web/admin/staff").text


ADMIN_PAGES = (
    "/web/admin",
    "/web/admin/catalog",
    "/web/admin/staff",
    "/web/admin/staff/lan.nt",
    "/web/admin/calendar",
    f"/web/admin/units/{OWN}",
    "/web/admin/series",
)


def test_every_admin_page_is_small_and_labels_its_fields(admin: Site) -> None:
    for path in ADMIN_PAGES:
        page = admin.client.get(path)
        assert page.status_code == 200, path
        assert len(page.content) < 300_000
        # Every field a person fills has its label.
        for tag in re.finditer(r"<(input|select|textarea)\b[^>]*>", page.text):
            if 'type="hidden"' in tag.group(0) or 'type="radio"' in tag.group(0):
                continue  # radios sit inside their own <label>
            if 'type="checkbox"' in tag.group(0):
                continue  # likewise
            field_id = re.search(r'id="([^"]+)"', tag.group(0))
            assert field_id, (path, tag.group(0))
            assert f'for="{field_id.group(1)}"' in page.text, (path, tag.group(0))


def test_the_admin_pages_speak_english_when_asked(admin: Site) -> None:
    admin.client.post("/web/lang", data={"lang": "en", "back": "/web/admin"})
    for path in ADMIN_PAGES:
        page = admin.client.get(path)
        assert page.status_code == 200, path
        assert 'lang="en"' in page.text
    assert "Procedure catalog" in admin.client.get("/web/admin").text
