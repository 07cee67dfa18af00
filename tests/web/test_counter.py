"""The reception desk's pages: the ticket queue, procedure lookup and guidance, opening a
dossier from the guidance form (and a refused one that keeps what was typed), the dossier list
with its search and pages, the deadline lists, and the walls between units and roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from dossiers.models import Dossier, QueueTicket
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.web.conftest import Site

BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}
ROW = re.compile(r'<tr>\s*<td><a href="/web/dossiers/')


def _open(site: Site, name: str = "Phạm Thị Hương", staff: str = "lan.nt", **extra: Any) -> str:
    """A dossier opened through the service, as the API would (status 1)."""
    return site.world.services.dossiers.create(  # type: ignore[no-any-return]
        site.world.principal(staff),
        procedure_code=extra.pop("procedure_code", "1.001193"),
        applicant=ApplicantIn(name, "CCCD", extra.pop("id_number", "031190004567")),
        **extra,
    )


def _receive(site: Site, dossier_id: str, staff: str = "lan.nt") -> str:
    """Check the birth papers and receive: the dossier's code."""
    svc, who = site.world.services.dossiers, site.world.principal(staff)
    svc.check_components(who, dossier_id, BIRTH)
    svc.receive(who, dossier_id)
    return svc.view(who, dossier_id).code  # type: ignore[no-any-return]


def _post(site: Site, path: str, data: dict[str, str] | None = None, client: Any = None) -> Any:
    c = client or site.client
    form = {"csrf": site.csrf("/web/counter", client=c), **(data or {})}
    return c.post(path, data=form, follow_redirects=False)


def _tickets(site: Site) -> list[QueueTicket]:
    with session_scope(site.world.services.sessions) as session:
        rows = list(session.scalars(select(QueueTicket).order_by(QueueTicket.number)))
        session.expunge_all()
        return rows


@contextmanager
def _statements(site: Site) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = site.world.services.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


# -- the queue ---------------------------------------------------------------------------------


def test_the_queue_issues_calls_and_serves_tickets(site: Site) -> None:
    site.sign_in("lan.nt")
    home = site.client.get("/web/counter")
    assert home.status_code == 200
    for words in ("Gọi số tiếp theo", "Cấp số", "Không có ai đang chờ."):
        assert words in home.text
    first = _post(site, "/web/counter/tickets")
    assert first.status_code == 303
    assert first.headers["location"] == "/web/counter?notice=issued&n=1"
    _post(site, "/web/counter/tickets")
    issued = site.client.get("/web/counter?notice=issued&n=2")
    assert "Đã cấp số thứ tự 2" in issued.text
    assert "Đang chờ: 2" in issued.text

    site.world.clock.advance(minutes=7)
    called = _post(site, "/web/counter/call-next")
    assert called.headers["location"] == "/web/counter?notice=called&n=1"
    page = site.client.get(called.headers["location"])
    assert "Mời số 1" in page.text and "Đang phục vụ" in page.text
    assert "Phục vụ xong" in page.text and "đã chờ 7 phút" in page.text
    assert "Đang chờ: 1" in page.text

    one = _tickets(site)[0]
    wrong = _post(site, f"/web/counter/tickets/{one.id}/serve", {"dossier": "nope"})
    assert wrong.headers["location"] == "/web/counter?notice=no_dossier"
    assert _tickets(site)[0].served_at is None
    dossier_id = _open(site)
    served = _post(site, f"/web/counter/tickets/{one.id}/serve", {"dossier": dossier_id})
    assert served.headers["location"] == "/web/counter?notice=served&n=1"
    one = _tickets(site)[0]
    assert one.served_at is not None and one.dossier_id == dossier_id
    assert one.staff_id == "lan.nt"

    assert _post(site, "/web/counter/call-next").headers["location"].endswith("n=2")
    nobody = _post(site, "/web/counter/call-next")
    assert nobody.headers["location"] == "/web/counter?notice=nobody"
    # The card the page re-reads while it stays open.
    card = site.client.get("/web/counter/queue")
    assert card.status_code == 200 and 'id="queue"' in card.text
    assert "Số 2" in card.text and "Đã phục vụ hôm nay: 1" in card.text
    assert "<html" not in card.text


def test_queue_forms_need_the_csrf_token(site: Site) -> None:
    site.sign_in("lan.nt")
    refused = site.client.post("/web/counter/tickets", data={"csrf": "0" * 64})
    assert refused.status_code == 403
    assert _tickets(site) == []


# -- lookup and guidance -----------------------------------------------------------------------


def test_procedure_lookup_ignores_accents_and_case(site: Site) -> None:
    site.sign_in("lan.nt")
    for query in ("khai sinh", "KHAI SINH", "Khai Sinh", "1.001193"):
        page = site.client.get("/web/counter", params={"q": query})
        assert page.status_code == 200
        assert "Đăng ký khai sinh" in page.text, query
        assert 'href="/web/procedures/1.001193"' in page.text
    land = site.client.get("/web/counter", params={"q": "dat dai"})
    assert "/web/procedures/1.004227" in land.text and "/web/procedures/1.001193" not in land.text
    none = site.client.get("/web/counter", params={"q": "xyzzy"})
    assert "Không có thủ tục nào đang có hiệu lực khớp với" in none.text
    # The search box has the focus and a label: keyboard-only reception starts here.
    assert re.search(r'<input id="q" name="q" type="search"[^>]*autofocus', none.text)
    assert '<label for="q">' in none.text


def test_guidance_shows_papers_fees_time_limit_and_who_decides(site: Site) -> None:
    site.sign_in("lan.nt")
    page = site.client.get("/web/procedures/1.004227")
    assert page.status_code == 200
    text = page.text
    for words in (
        "Đăng ký biến động quyền sử dụng đất",
        "Giấy tờ công dân cần mang",
        "Bản gốc Giấy chứng nhận đã cấp",
        "Bản chính",
        "Lệ phí cấp giấy chứng nhận quyền sử dụng đất",
        "25.000 đ",
        "1.250.000 đ",
        "nộp khi nhận kết quả",
        "10 ngày làm việc",
        "Văn phòng Đăng ký đất đai tỉnh Mẫu",
        "Thuế cơ sở 1 tỉnh Mẫu",
        "liên thông",
        "Qua dịch vụ bưu chính công ích",
        "Mở hồ sơ",
    ):
        assert words in text, words
    # Received on Friday 27/11 at 9:00, ten working days: Friday 11/12 at 17:00.
    assert "11/12/2026 17:00" in text
    # Every input of the form has its label.
    for field in ("name", "id_type", "id_number", "phone", "address", "sets", "channel", "ticket"):
        assert f'<label for="{field}">' in text, field
        assert f'id="{field}"' in text
    same_day = site.client.get("/web/procedures/1.001193")
    assert "Giải quyết trong ngày" in same_day.text and "15:00" in same_day.text
    assert "Không thu phí, lệ phí." in same_day.text
    missing = site.client.get("/web/procedures/9.999999")
    assert missing.status_code == 404


# -- opening a dossier -------------------------------------------------------------------------

FORM = {
    "procedure_code": "1.001193",
    "name": "Trần Thị Bích Ngọc",
    "id_type": "CCCD",
    "id_number": "001190012345",
    "phone": "0912345678",
    "address": "12 Lê Lợi, phường Hòa Bình",
    "sets": "1",
    "collect_at": "post",
    "channel": "1",
}


def test_opening_a_dossier_from_the_guidance_form(site: Site) -> None:
    site.sign_in("lan.nt")
    _post(site, "/web/counter/tickets")
    _post(site, "/web/counter/call-next")
    ticket = _tickets(site)[0]
    guidance = site.client.get("/web/procedures/1.001193")
    # The ticket this clerk is serving is chosen already.
    assert f'<option value="{ticket.id}" selected>' in guidance.text
    resp = _post(site, "/web/dossiers", {**FORM, "ticket": ticket.id})
    assert resp.status_code == 303, resp.text
    match = re.fullmatch(r"/web/dossiers/([0-9a-f]{32})", resp.headers["location"])
    assert match
    view = site.world.services.dossiers.view(site.world.principal("lan.nt"), match.group(1))
    assert view.applicant.name == "Trần Thị Bích Ngọc" and view.status == 1
    assert view.collect_at == "post" and view.applicant.phone == "0912345678"
    served = _tickets(site)[0]
    assert served.served_at is not None and served.dossier_id == view.id


def test_a_refused_dossier_comes_back_with_the_fields_kept(site: Site) -> None:
    site.sign_in("lan.nt")

    def count() -> int:
        with session_scope(site.world.services.sessions) as session:
            return int(session.scalar(select(func.count()).select_from(Dossier)) or 0)

    bad = _post(site, "/web/dossiers", {**FORM, "id_number": "12345"})
    assert bad.status_code == 422
    for kept in ("Trần Thị Bích Ngọc", "0912345678", "12 Lê Lợi, phường Hòa Bình", 'value="12345"'):
        assert kept in bad.text, kept
    assert "Số CCCD gồm đúng 12 chữ số" in bad.text
    assert re.search(r'id="id_number"[^>]*aria-invalid="true"[^>]*autofocus', bad.text)
    assert re.search(r'value="post" checked', bad.text)
    nameless = _post(site, "/web/dossiers", {**FORM, "name": ""})
    assert nameless.status_code == 422 and "Nhập họ tên người nộp hồ sơ" in nameless.text
    too_many = _post(site, "/web/dossiers", {**FORM, "sets": "50"})
    assert too_many.status_code == 422 and "Số bộ hồ sơ" in too_many.text
    assert 'value="50"' in too_many.text
    # Certification is not handed to postal staff at this unit: the civil servant receives it.
    postal = _post(site, "/web/dossiers", {**FORM, "procedure_code": "2.000815"})
    assert postal.status_code == 403
    assert "Chưa giao cho bưu điện" in postal.text and "Trần Thị Bích Ngọc" in postal.text
    assert count() == 0


# -- the dossier list --------------------------------------------------------------------------


def test_dossier_list_pages_newest_first_and_searches_without_accents(site: Site) -> None:
    ids = [_open(site, f"Nguyễn Văn Khách {i:02d}", id_number=f"0011900{i:05d}") for i in range(59)]
    huong = _open(site, "Phạm Thị Hương")
    code = _receive(site, huong)
    site.sign_in("lan.nt")
    first = site.client.get("/web/dossiers")
    assert first.status_code == 200
    assert "60 hồ sơ · trang 1/2" in first.text
    assert len(ROW.findall(first.text)) == 50
    assert first.text.index(code) < first.text.index("Khách 58") < first.text.index("Khách 57")
    assert 'href="/web/dossiers?page=2"' in first.text
    second = site.client.get("/web/dossiers?page=2")
    assert len(ROW.findall(second.text)) == 10 and "Khách 00" in second.text
    assert f'href="/web/dossiers/{ids[0]}"' in second.text
    # Status in words, procedure by name, the holder unit's name.
    assert "Được tiếp nhận" in first.text and "Đăng ký khai sinh" in first.text
    assert "UBND phường Hòa Bình - Bộ phận Một cửa" in first.text
    found = site.client.get("/web/dossiers", params={"q": "huong"})
    assert len(ROW.findall(found.text)) == 1 and "Phạm Thị Hương" in found.text
    received = site.client.get("/web/dossiers", params={"status": 2})
    assert len(ROW.findall(received.text)) == 1 and code in received.text
    # Same-day: due at 17:00; in the evening the row says it is overdue.
    site.world.clock.advance(hours=9)
    site.sign_in("lan.nt")  # a new session after the idle hours
    late = site.client.get("/web/dossiers", params={"status": 2})
    assert "27/11/2026 17:00 · Quá hạn" in late.text


def test_the_dossier_list_costs_the_same_statements_for_5_and_60(site: Site) -> None:
    for i in range(5):
        _open(site, f"Khách {i}")
    site.sign_in("lan.nt")
    site.client.get("/web/dossiers")  # warm: the session's first use
    with _statements(site) as few:
        assert site.client.get("/web/dossiers").status_code == 200
    for i in range(55):
        _receive(site, _open(site, f"Khách thêm {i}")) if i % 10 == 0 else _open(site, f"K {i}")
    with _statements(site) as many:
        page = site.client.get("/web/dossiers")
    assert len(ROW.findall(page.text)) == 50
    assert len(many) == len(few), (len(few), len(many))
    with _statements(site) as second:
        site.client.get("/web/dossiers?page=2")
    assert len(second) == len(few)


# -- deadlines ---------------------------------------------------------------------------------


def test_deadlines_list_due_soon_then_overdue_with_links(site: Site) -> None:
    code = _receive(site, _open(site))
    site.sign_in("lan.nt")
    morning = site.client.get("/web/deadlines")
    assert morning.status_code == 200
    assert "Không có hồ sơ nào quá hạn." in morning.text
    assert f'href="/web/dossiers/{code}"' in morning.text and "8 giờ 0 phút" in morning.text
    home = site.client.get("/web/counter")
    assert 'href="/web/deadlines#due-soon"' in home.text
    site.world.clock.advance(hours=10)  # 19:00, two hours past due
    site.sign_in("lan.nt")
    evening = site.client.get("/web/deadlines")
    overdue = evening.text.split('id="due-soon"')[0]
    assert f'href="/web/dossiers/{code}"' in overdue and "2 giờ 0 phút" in overdue
    assert "Đăng ký khai sinh" in overdue and "Phạm Thị Hương" in overdue


# -- walls -------------------------------------------------------------------------------------


def test_another_unit_sees_none_of_it(site: Site) -> None:
    site.sign_in("lan.nt")
    _post(site, "/web/counter/tickets")
    _post(site, "/web/counter/tickets")
    mine = _tickets(site)[0]
    code = _receive(site, _open(site))
    minh = site.sign_in("minh.tv", site.another())
    home = minh.get("/web/counter")
    assert home.status_code == 200 and "Đang chờ: 0" in home.text
    listing = minh.get("/web/dossiers")
    assert "Phạm Thị Hương" not in listing.text and "0 hồ sơ" in listing.text
    assert "Phạm Thị Hương" not in minh.get("/web/dossiers", params={"q": "huong"}).text
    assert code not in minh.get("/web/deadlines").text
    assert (
        _post(site, "/web/counter/call-next", client=minh)
        .headers["location"]
        .endswith("notice=nobody")
    )
    stolen = _post(site, f"/web/counter/tickets/{mine.id}/serve", client=minh)
    assert stolen.status_code == 404
    # Naming lan's unit in the form does not open its queue either.
    other = _post(site, "/web/counter/tickets", {"unit": "000.00.16.H99"}, client=minh)
    assert other.status_code == 404
    assert [t.called_at for t in _tickets(site)] == [None, None]


def test_agencies_and_auditors_get_the_403_page(site: Site) -> None:
    for staff in ("tuphap", "kiemtra"):
        client = site.sign_in(staff, site.another())
        for path in ("/web/counter", "/web/deadlines", "/web/procedures/1.001193"):
            resp = client.get(path)
            assert resp.status_code == 403, (staff, path)
            assert "Vai trò không được phép" in resp.text
        opened = _post(site, "/web/dossiers", FORM, client=client) if staff == "tuphap" else None
        if opened is not None:
            assert opened.status_code == 403
    auditor = site.sign_in("kiemtra", site.another())
    assert auditor.get("/web/dossiers").status_code == 403
    # The agency's own list holds only what was handed to it.
    _receive(site, _open(site))
    agency = site.sign_in("tuphap", site.another())
    assert "Phạm Thị Hương" not in agency.get("/web/dossiers").text


def test_an_admin_may_look_at_any_units_desk(site: Site) -> None:
    _open(site)
    admin = site.sign_in("quantri", site.another())
    home = admin.get("/web/counter")
    assert home.status_code == 200 and '<label for="unit">' in home.text
    desk = admin.get("/web/counter", params={"unit": "000.00.17.H99"})
    assert "Gọi số tiếp theo" in desk.text
    assert "Phạm Thị Hương" in admin.get("/web/dossiers").text


def test_the_desk_speaks_english_when_switched(site: Site) -> None:
    _receive(site, _open(site))
    site.sign_in("lan.nt")
    site.client.post("/web/lang", data={"lang": "en", "back": "/web/counter"})
    pages = {
        "/web/counter?q=khai+sinh": "Look up a procedure",
        "/web/procedures/1.004227": "Papers the citizen brings",
        "/web/dossiers": "Received",
        "/web/deadlines": "Due within 1 working day(s)",
    }
    for path, words in pages.items():
        resp = site.client.get(path)
        assert resp.status_code == 200 and words in resp.text, path
        assert 'lang="en"' in resp.text
