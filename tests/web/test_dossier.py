"""The dossier page: the checklist, reception and form 01, the counter's other steps, routing,
the history in words, scoping by unit, CSRF, and a statement count that does not grow with the
dossier's history or papers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from httpx import Response
from pdfminer.high_level import extract_text
from sqlalchemy import event

from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.models import DossierComponent
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import OWN, VN
from tests.web.conftest import Site

BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}
JUSTICE_NAME = "Công chức Tư pháp - Hộ tịch phường Hòa Bình"
FORM_LINK = re.compile(r'href="(/web/dossiers/[^"]+/forms/[^"]+\.pdf)"')


def _open(site: Site, procedure: str = "1.001193", staff: str = "lan.nt") -> str:
    """A new dossier (status 1) opened through the service, as the counter's form would."""
    return site.world.services.dossiers.create(  # type: ignore[no-any-return]
        site.world.principal(staff),
        procedure_code=procedure,
        applicant=ApplicantIn("Phạm Thị Hương", "CCCD", "031190004567", "0912345678"),
    )


def _received(site: Site, procedure: str = "1.001193", papers: dict | None = None) -> str:  # type: ignore[type-arg]
    """A dossier checked and received through the services; returns its code."""
    svc, clerk = site.world.services.dossiers, site.world.principal("lan.nt")
    dossier_id = _open(site, procedure)
    svc.check_components(clerk, dossier_id, papers or BIRTH)
    svc.receive(clerk, dossier_id)
    return svc.view(clerk, dossier_id).code  # type: ignore[no-any-return]


def _post(
    site: Site, path: str, data: dict | None = None, client: TestClient | None = None
) -> Response:  # type: ignore[type-arg]
    c = client or site.client
    token = site.csrf(path.rsplit("/", 1)[0], client=c)  # from the dossier page's forms
    return c.post(path, data={"csrf": token, **(data or {})}, follow_redirects=False)


def _status(site: Site, ref: str) -> int:
    return site.world.services.dossiers.view(site.world.principal("quantri"), ref).status  # type: ignore[no-any-return]


def test_checklist_then_reception_then_form_01_printed(site: Site, tmp_path: Path) -> None:
    site.sign_in("lan.nt")
    dossier_id = _open(site)
    page = site.client.get(f"/web/dossiers/{dossier_id}")
    assert page.status_code == 200
    assert "Mới đăng ký" in page.text and "Đăng ký khai sinh" in page.text
    assert "Phạm Thị Hương" in page.text and "031190004567" in page.text
    assert "Kiểm tra đủ hồ sơ" in page.text
    # A labelled number input per paper, tied to the checklist form.
    inputs = re.findall(r'<input type="number" id="([^"]+)" name="copies:([a-z_]+)"', page.text)
    assert {key for _, key in inputs} == set(BIRTH)
    for input_id, _ in inputs:
        assert f'<label for="{input_id}">' in page.text

    # One paper only: the rest is listed as missing, in words.
    resp = _post(site, f"/web/dossiers/{dossier_id}/check", {"copies:to_khai": "1"})
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/web/dossiers/{dossier_id}?notice=incomplete"
    page = site.client.get(resp.headers["location"])
    missing = page.text.split('id="missing"')[1].split("</ul>")[0]
    assert "Giấy chứng sinh" in missing and "Tờ khai đăng ký khai sinh" not in missing
    assert "Còn thiếu" in page.text
    # The reception button waits for the checklist, and says so.
    assert 'id="receive" disabled aria-describedby="receive-blocked"' in page.text
    assert "Ghi nhận đủ các giấy tờ bắt buộc" in page.text

    # Receiving anyway (a stale page, a script) is refused, on the page, saying what to do.
    refused = _post(site, f"/web/dossiers/{dossier_id}/receive")
    assert refused.status_code == 422
    assert 'id="problem"' in refused.text and "Kiểm tra đủ hồ sơ" in refused.text
    assert _status(site, dossier_id) == Status.NEW

    resp = _post(
        site,
        f"/web/dossiers/{dossier_id}/check",
        {f"copies:{key}": str(count) for key, count in BIRTH.items()},
    )
    page = site.client.get(resp.headers["location"])
    assert "đủ thành phần" in page.text and 'id="missing"' not in page.text
    assert '<button type="submit" class="primary" id="receive">' in page.text

    resp = _post(site, f"/web/dossiers/{dossier_id}/receive")
    assert resp.status_code == 303
    page = site.client.get(resp.headers["location"])
    code = site.world.services.dossiers.view(site.world.principal("lan.nt"), dossier_id).code
    assert code and code.startswith(OWN) and code in page.text
    assert "Được tiếp nhận" in page.text
    assert "In giấy tiếp nhận (mẫu 01)" in page.text
    link = re.search(r'id="print-01" href="([^"]+)" target="_blank"', page.text)
    assert link, page.text
    pdf = site.client.get(link.group(1))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    path = tmp_path / "01.pdf"
    path.write_bytes(pdf.content)
    assert code in " ".join(extract_text(str(path)).split())


def test_route_and_the_history_in_words(site: Site) -> None:
    site.sign_in("lan.nt")
    code = _received(site)
    page = site.client.get(f"/web/dossiers/{code}")
    assert "Chuyển cơ quan giải quyết" in page.text
    assert JUSTICE_NAME in page.text  # the procedure's agency, before routing

    resp = _post(site, f"/web/dossiers/{code}/route")
    assert resp.status_code == 303 and resp.headers["location"].endswith("?notice=routed")
    page = site.client.get(resp.headers["location"])
    assert _status(site, code) == Status.PROCESSING
    assert "Đang xử lý" in page.text
    route = page.text.split('id="route"')[1].split("</ol>")[0]
    current = route.split('aria-current="step"')[1].split("</li>")[0]
    assert JUSTICE_NAME in current
    # The history, newest first, in words, with the clerk's name.
    events = page.text.split('id="events"')[1].split("</table>")[0]
    assert "Nguyễn Thị Lan" in events
    steps = ["Chuyển cơ quan giải quyết", "Tiếp nhận hồ sơ (mẫu 01)", "Mở hồ sơ"]
    positions = [events.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "route" not in re.sub(r"<[^>]+>", "", events)  # no internal action codes shown
    handovers = page.text.split('id="handovers"')[1].split("</table>")[0]
    assert JUSTICE_NAME in handovers and "UBND phường Hòa Bình" in handovers
    # Once routed, the counter has no routing button any more.
    assert 'id="route-button"' not in page.text
    again = _post(site, f"/web/dossiers/{code}/route")
    assert again.status_code == 409 and "Đang xử lý" in again.text


def test_an_overdue_appointment_is_marked(site: Site) -> None:
    site.sign_in("lan.nt")
    code = _received(site)  # same-day procedure: due at 17:00
    assert "Quá hạn" not in site.client.get(f"/web/dossiers/{code}").text
    site.world.clock.advance(hours=9)
    site.sign_in("lan.nt")  # the idle counter was signed out meanwhile
    page = site.client.get(f"/web/dossiers/{code}")
    assert '<span class="badge bad">Quá hạn</span>' in page.text
    assert "27/11/2026 17:00 · quá hạn" in page.text


def test_routing_with_fees_due_waits_for_payment(site: Site) -> None:
    site.sign_in("lan.nt")
    code = _received(site, "1.004873", {"to_khai": 1})
    resp = _post(site, f"/web/dossiers/{code}/route")
    assert resp.headers["location"].endswith("?notice=awaiting_payment")
    page = site.client.get(resp.headers["location"])
    assert "phí" in page.text and _status(site, code) == Status.AWAITING_PAYMENT


def test_refusal_needs_a_reason_and_issues_form_03(site: Site) -> None:
    site.sign_in("lan.nt")
    dossier_id = _open(site)
    empty = _post(site, f"/web/dossiers/{dossier_id}/refuse", {"reason": "  "})
    assert empty.status_code == 422 and "Nhập lý do" in empty.text
    resp = _post(
        site, f"/web/dossiers/{dossier_id}/refuse", {"reason": "Không thuộc thẩm quyền của xã"}
    )
    assert resp.status_code == 303
    page = site.client.get(resp.headers["location"])
    assert "Không được tiếp nhận" in page.text and "Không thuộc thẩm quyền của xã" in page.text
    forms = page.text.split('id="forms"')[1]
    assert "mẫu 03" in forms and FORM_LINK.search(forms)
    assert 'id="receive"' not in page.text and "Kiểm tra đủ hồ sơ" not in page.text


def test_supplement_asked_and_brought_then_withdrawn(site: Site) -> None:
    site.sign_in("lan.nt")
    dossier_id = _open(site)
    resp = _post(
        site,
        f"/web/dossiers/{dossier_id}/request-supplement",
        {"items": ["Giấy chứng sinh"], "reason": "Thiếu giấy chứng sinh bản chính"},
    )
    assert resp.status_code == 303, resp.text
    page = site.client.get(resp.headers["location"])
    assert "Yêu cầu bổ sung giấy tờ" in page.text and "mẫu 02" in page.text
    resp = _post(site, f"/web/dossiers/{dossier_id}/supplement", {"note": "Đã mang bản chính"})
    assert resp.headers["location"].endswith("?notice=supplemented")
    assert _status(site, dossier_id) == Status.NEW
    resp = _post(site, f"/web/dossiers/{dossier_id}/withdraw", {"reason": "Công dân xin rút hồ sơ"})
    assert resp.status_code == 303
    page = site.client.get(resp.headers["location"])
    assert _status(site, dossier_id) == Status.WITHDRAWN
    assert (
        "Công dân xin rút hồ sơ" in page.text
        and "Rút hồ sơ" not in page.text.split('id="forms-title"')[0].split('id="papers-title"')[1]
    )


def test_a_probationers_reception_waits_for_the_supervisor(site: Site) -> None:
    world = site.world
    today = world.clock().astimezone(VN).date()
    with session_scope(world.services.sessions) as session:
        staffing.create_staff(
            session,
            BOOTSTRAP,
            staff_id="hoa.tt",
            name="Trần Thị Hoa",
            role="counter",
            unit_code=OWN,
            employer="postal",
            probation_until=today + timedelta(days=30),
            supervisor_id="cong.ch",
            today=today,
        )
        session.flush()
        world.tokens["hoa.tt"] = staffing.new_token(session, BOOTSTRAP, "hoa.tt")
    trainee = site.sign_in("hoa.tt", site.another())
    dossier_id = _open(site, staff="hoa.tt")
    world.services.dossiers.check_components(world.principal("hoa.tt"), dossier_id, BIRTH)
    resp = _post(site, f"/web/dossiers/{dossier_id}/receive", client=trainee)
    assert resp.headers["location"].endswith("?notice=pending")
    page = trainee.get(resp.headers["location"])
    assert "Chờ người hướng dẫn xác nhận" in page.text and "Trần Thị Hoa" in page.text
    assert "Xác nhận tiếp nhận" not in page.text and 'id="print-01"' not in page.text

    colleague = site.sign_in("lan.nt", site.another())  # not her supervisor
    assert "Xác nhận tiếp nhận" not in colleague.get(f"/web/dossiers/{dossier_id}").text
    refused = _post(site, f"/web/dossiers/{dossier_id}/confirm-reception", client=colleague)
    assert refused.status_code == 403 and _status(site, dossier_id) == Status.NEW

    supervisor = site.sign_in("cong.ch", site.another())
    assert "Xác nhận tiếp nhận" in supervisor.get(f"/web/dossiers/{dossier_id}").text
    resp = _post(site, f"/web/dossiers/{dossier_id}/confirm-reception", client=supervisor)
    assert resp.headers["location"].endswith("?notice=confirmed")
    page = supervisor.get(resp.headers["location"])
    assert 'id="print-01"' in page.text and "Lê Công Chức" in page.text
    assert _status(site, dossier_id) == Status.RECEIVED


def test_forms_need_the_csrf_token(site: Site) -> None:
    site.sign_in("lan.nt")
    dossier_id = _open(site)
    for data in ({}, {"csrf": "0" * 64}):
        resp = site.client.post(
            f"/web/dossiers/{dossier_id}/check",
            data={**data, "copies:to_khai": "1"},
            follow_redirects=False,
        )
        assert resp.status_code == 403
    assert site.client.post(f"/web/dossiers/{dossier_id}/receive").status_code == 403
    events = site.world.services.dossiers.events(site.world.principal("lan.nt"), dossier_id)
    assert [e.action for e in events] == ["create"]
    assert _status(site, dossier_id) == Status.NEW


def test_another_units_dossier_is_not_found(site: Site) -> None:
    site.sign_in("lan.nt")
    dossier_id = _open(site)
    code = _received(site)
    form = FORM_LINK.search(site.client.get(f"/web/dossiers/{code}").text)
    assert form
    other = site.sign_in("minh.tv", site.another())
    for ref in (dossier_id, code):
        page = other.get(f"/web/dossiers/{ref}")
        assert page.status_code == 404
        assert "Phạm Thị Hương" not in page.text and "031190004567" not in page.text
    assert other.get(form.group(1)).status_code == 404
    assert _post(site, f"/web/dossiers/{dossier_id}/receive", client=other).status_code == 404
    assert _status(site, dossier_id) == Status.NEW
    # A script asking for JSON gets the API's problem.
    problem = other.get(f"/web/dossiers/{code}", headers={"Accept": "application/json"})
    assert problem.status_code == 404 and problem.json()["code"] == "dossier_not_found"


def test_agency_reads_without_the_counters_steps(site: Site) -> None:
    site.sign_in("lan.nt")
    code = _received(site)
    site.world.services.dossiers.route(site.world.principal("lan.nt"), code)
    agency = site.sign_in("tuphap", site.another())
    page = agency.get(f"/web/dossiers/{code}")
    assert page.status_code == 200 and "Đang xử lý" in page.text
    assert "Kiểm tra đủ hồ sơ" not in page.text and 'name="copies:' not in page.text
    assert 'id="route-button"' not in page.text
    assert _post(site, f"/web/dossiers/{code}/withdraw", {"reason": "x"}, agency).status_code == 403
    # An agency the dossier never reached, and an auditor of another province: not found.
    assert site.sign_in("vpdk", site.another()).get(f"/web/dossiers/{code}").status_code == 404
    assert site.sign_in("kiemtra.b", site.another()).get(f"/web/dossiers/{code}").status_code == 404
    assert site.sign_in("kiemtra", site.another()).get(f"/web/dossiers/{code}").status_code == 200


@contextmanager
def _counting(site: Site) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = site.world.services.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _statements(site: Site, ref: str) -> int:
    site.client.get(f"/web/dossiers/{ref}")  # warm: first-use caches are not the page's cost
    with _counting(site) as statements:
        assert site.client.get(f"/web/dossiers/{ref}").status_code == 200
    return len(statements)


def test_statements_do_not_grow_with_history_or_papers(site: Site) -> None:
    site.sign_in("lan.nt")
    svc, clerk = site.world.services.dossiers, site.world.principal("lan.nt")
    small = _open(site)
    svc.check_components(clerk, small, {"to_khai": 1})
    big = _open(site)
    with session_scope(site.world.services.sessions) as session:
        for n in range(27):
            session.add(
                DossierComponent(
                    dossier_id=big, key=f"giay_{n:02d}", name=f"Giấy tờ số {n}", kind="copy"
                )
            )
    for n in range(30):
        svc.check_components(clerk, big, {"to_khai": n % 2, f"giay_{n % 27:02d}": 1})
    assert len(svc.events(clerk, big)) > 30 and len(svc.view(clerk, big).components) == 30
    page = site.client.get(f"/web/dossiers/{big}")
    assert page.text.count('name="copies:') == 30 and len(page.content) < 300_000
    assert _statements(site, small) == _statements(site, big)
