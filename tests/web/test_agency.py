"""The agency's desk in the web page: the inbox's three piles, the actions on a dossier through
plain forms, the result upload (an already-signed PDF kept as received), and the scope the API
has: another agency's dossier is not found, a counter clerk cannot act as an agency."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from starlette.requests import Request

from dossiers.models import Dossier, Handover, Result
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn
from ingest.runner import run_step
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus, Step
from tests.dossiers.world import VN, make_world, pay_fees
from tests.fixtures.pki import ForeignCa, born_digital_pdf
from tests.web.conftest import Site
from web.pages.agency import dossier_context
from web.render import page
from wiring.asgi import application
from wiring.factory import build

BIRTH = ("1.001193", {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1})
LAND = ("1.004227", {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2})


def routed(site: Site, kind: tuple[str, dict[str, int]] = BIRTH, n: int = 1) -> str:
    """A dossier received at lan.nt's counter and routed to its first agency; its code."""
    svc, world = site.world.services, site.world
    lan = world.principal("lan.nt")
    dossier_id = svc.dossiers.create(
        lan,
        procedure_code=kind[0],
        applicant=ApplicantIn("Trần Thị Bình", "CCCD", f"0011900{n:05d}"),
    )
    svc.dossiers.check_components(lan, dossier_id, kind[1])
    svc.dossiers.receive(lan, dossier_id)
    if svc.dossiers.route(lan, dossier_id) is None:  # fees first (status 6)
        pay_fees(world, "lan.nt", dossier_id)
        svc.dossiers.route(lan, dossier_id)
    code: str | None = svc.dossiers.view(lan, dossier_id).code
    assert code is not None
    return code


def status(site: Site, code: str) -> int:
    return int(site.world.services.dossiers.view(site.world.principal("quantri"), code).status)


def pile(html: str, key: str) -> str:
    """The HTML of one pile of the inbox."""
    start = html.index(f'id="pile-{key}"')
    end = html.find("<section", start)
    return html[start : end if end != -1 else None]


def post_form(site: Site, client: TestClient, path: str, **data: Any) -> Any:
    data["csrf"] = site.csrf("/web/agency", client)
    return client.post(path, data=data, follow_redirects=False)


@pytest.fixture
def tuphap(site: Site) -> TestClient:
    return site.sign_in("tuphap")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def quiet_site(request: pytest.FixtureRequest, make_settings: Any) -> Iterator[Site]:
    """The web page without form signing (so many receptions stay quick), on each database."""
    extra: dict[str, Any] = {}
    if request.param == "postgresql":
        extra["database_url"] = request.getfixturevalue("pg_database")
    services = build(make_settings(sign_forms=False, **extra))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(application(services))
    yield Site(world, client)
    client.close()
    services.engine.dispose()


# -- the inbox ---------------------------------------------------------------------------------


def test_a_routed_dossier_lands_in_its_agencys_inbox_only(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    inbox = tuphap.get("/web/agency")
    assert inbox.status_code == 200
    assert "Hồ sơ đến" in inbox.text and "Chờ nhận xử lý" in inbox.text  # Vietnamese
    take = pile(inbox.text, "take")
    assert code in take and "Đăng ký khai sinh" in take and "Trần Thị Bình" in take
    assert f'href="/web/dossiers/{code}"' in take
    # Same-day procedure received at 09:00 on a Friday: due today, so amber, not yet red.
    assert "Sắp đến hạn" in take and "Quá hạn" not in take
    assert code not in pile(inbox.text, "working")

    land = site.sign_in("vpdk", site.another())
    assert code not in land.get("/web/agency").text

    site.world.clock.advance(days=1)
    site.sign_in("tuphap")  # the idle session ended overnight
    assert "Quá hạn" in pile(tuphap.get("/web/agency").text, "take")


def test_the_inbox_is_for_agencies(site: Site) -> None:
    clerk = site.sign_in("lan.nt")
    refused = clerk.get("/web/agency")
    assert refused.status_code == 403
    assert "role_forbidden" in refused.text


def test_the_inbox_pages_by_fifty(quiet_site: Site) -> None:
    site = quiet_site
    tuphap = site.sign_in("tuphap")
    codes = [routed(site, n=i) for i in range(53)]
    first = tuphap.get("/web/agency")
    assert sum(c in first.text for c in codes) == 50
    assert "/web/agency?pile=take&amp;page=2" in first.text
    second = tuphap.get("/web/agency?pile=take&page=2")
    assert second.status_code == 200
    assert sum(c in second.text for c in codes) == 3
    assert "page=1" in second.text and "page=3" not in second.text


# -- actions through the page's forms ----------------------------------------------------------


def test_take_then_ask_for_a_supplement(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    taken = post_form(site, tuphap, f"/web/dossiers/{code}/agency/take")
    assert taken.status_code == 303
    assert taken.headers["location"] == f"/web/dossiers/{code}?done=agency_taken"
    with session_scope(site.world.services.sessions) as session:
        hop = session.scalars(select(Handover).order_by(Handover.id.desc())).first()
        assert hop is not None and hop.taken_by == "tuphap"
    inbox = tuphap.get("/web/agency").text
    assert code in pile(inbox, "working") and code not in pile(inbox, "take")

    asked = post_form(
        site,
        tuphap,
        f"/web/dossiers/{code}/agency/supplement-request",
        item=["Giấy chứng sinh"],
        other="Bản sao giấy đăng ký kết hôn của cha mẹ\n\n",
        reason="Giấy chứng sinh bị mờ, không đọc được ngày sinh",
    )
    assert asked.status_code == 303, asked.text
    assert asked.headers["location"].endswith("?done=agency_supplement")
    assert status(site, code) == Status.SUPPLEMENT
    events = site.world.services.dossiers.events(site.world.principal("quantri"), code)
    assert events[-1].data["items"] == [
        "Giấy chứng sinh",
        "Bản sao giấy đăng ký kết hôn của cha mẹ",
    ]
    inbox = tuphap.get("/web/agency").text
    assert code in pile(inbox, "supplement") and code not in pile(inbox, "working")

    # The citizen brings the papers: back in the agency's hands, to take again.
    site.world.services.dossiers.supplement(site.world.principal("lan.nt"), code)
    inbox = tuphap.get("/web/agency").text
    assert code in pile(inbox, "take") and code not in pile(inbox, "supplement")


def test_a_supplement_request_needs_papers_and_a_reason(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    post_form(site, tuphap, f"/web/dossiers/{code}/agency/take")
    no_reason = post_form(
        site, tuphap, f"/web/dossiers/{code}/agency/supplement-request", item=["Tờ khai"]
    )
    assert no_reason.status_code == 422
    no_papers = post_form(
        site, tuphap, f"/web/dossiers/{code}/agency/supplement-request", reason="Thiếu giấy"
    )
    assert no_papers.status_code == 422 and "supplement_invalid" in no_papers.text
    assert status(site, code) == Status.PROCESSING


def test_forward_along_the_route_then_finish(site: Site) -> None:
    code = routed(site, LAND)
    land = site.sign_in("vpdk")
    post_form(site, land, f"/web/dossiers/{code}/agency/take")
    # The land office is not the last agency: finishing is refused in words.
    early = post_form(site, land, f"/web/dossiers/{code}/agency/finish", note="")
    assert early.status_code == 409 and "route_not_complete" in early.text
    sent = post_form(site, land, f"/web/dossiers/{code}/agency/forward")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/web/dossiers/{code}?done=agency_forwarded"
    assert code not in land.get("/web/agency").text

    tax = site.sign_in("thue", site.another())
    assert code in pile(tax.get("/web/agency").text, "take")
    post_form(site, tax, f"/web/dossiers/{code}/agency/take")
    done = post_form(site, tax, f"/web/dossiers/{code}/agency/finish", note="Đã tính thuế")
    assert done.status_code == 303 and done.headers["location"].endswith("done=agency_finished")
    assert status(site, code) == Status.PROCESSED
    assert code not in tax.get("/web/agency").text


def test_stop_needs_a_reason(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    assert post_form(site, tuphap, f"/web/dossiers/{code}/agency/stop").status_code == 422
    stopped = post_form(
        site, tuphap, f"/web/dossiers/{code}/agency/stop", reason="Người dân đã mất"
    )
    assert stopped.status_code == 303 and status(site, code) == Status.STOPPED


def test_apology_sets_a_new_local_appointment(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    post_form(site, tuphap, f"/web/dossiers/{code}/agency/take")
    resp = post_form(
        site,
        tuphap,
        f"/web/dossiers/{code}/agency/apology",
        new_day="2026-12-02",
        new_time="10:30",
        reason="Chờ xác minh thông tin khai sinh",
    )
    assert resp.status_code == 303, resp.text
    due = site.world.services.dossiers.view(site.world.principal("tuphap"), code).due_at
    assert due == datetime(2026, 12, 2, 10, 30, tzinfo=VN)


def test_forms_need_the_csrf_token(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    refused = tuphap.post(f"/web/dossiers/{code}/agency/take", data={"csrf": "0" * 64})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    assert pile(tuphap.get("/web/agency").text, "take").count(code) >= 1


# -- scope -------------------------------------------------------------------------------------


def test_another_agencys_dossier_is_not_found(site: Site) -> None:
    code = routed(site)
    land = site.sign_in("vpdk")
    missing = post_form(site, land, f"/web/dossiers/{code}/agency/take")
    assert missing.status_code == 404
    assert "dossier_not_found" in missing.text and "<html" in missing.text
    upload = land.post(
        f"/web/dossiers/{code}/results",
        headers={"X-CSRF-Token": site.csrf("/web/agency", land), "Accept": "application/json"},
        files={"file": ("kq.pdf", b"%PDF-1.4\n", "application/pdf")},
        data={"code": "KQ.G15.000001", "name": "Giấy khai sinh"},
    )
    assert upload.status_code == 404 and upload.json()["code"] == "dossier_not_found"


def test_a_counter_clerk_cannot_take(site: Site) -> None:
    code = routed(site)
    clerk = site.sign_in("lan.nt")
    refused = clerk.post(
        f"/web/dossiers/{code}/agency/take",
        data={"csrf": site.csrf("/web/", clerk)},
        follow_redirects=False,
    )
    assert refused.status_code == 403 and "role_forbidden" in refused.text
    # Another unit's clerk does not even learn that it exists.
    other = site.sign_in("minh.tv", site.another())
    hidden = other.post(
        f"/web/dossiers/{code}/agency/take",
        data={"csrf": site.csrf("/web/", other)},
        follow_redirects=False,
    )
    assert hidden.status_code == 404


# -- the result --------------------------------------------------------------------------------


def test_a_signed_result_is_accepted_and_kept_as_received(
    site: Site, tuphap: TestClient, foreign_ca: ForeignCa, tmp_path: Path
) -> None:
    code = routed(site)
    made = born_digital_pdf(
        tmp_path / "kq.pdf", ["GIẤY KHAI SINH\nHọ và tên: Trần Thị Bình\nSố: 15/2026"]
    )
    signed = foreign_ca.sign(made, tmp_path / "kq-signed.pdf").read_bytes()
    token = site.csrf("/web/agency", tuphap)
    url = f"/web/dossiers/{code}/results"
    fields = {"code": "KQ.G15.000001", "name": "Giấy khai sinh", "valid_until": ""}
    files = {"file": ("giay-khai-sinh.pdf", signed, "application/pdf")}
    json_ = {"Accept": "application/json"}

    site.world.services.dossiers.take(site.world.principal("tuphap"), code)
    # A script's upload carries the CSRF token in its header; without it, refused.
    assert tuphap.post(url, headers=json_, files=files, data=fields).status_code == 403
    resp = tuphap.post(url, headers={**json_, "X-CSRF-Token": token}, files=files, data=fields)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status_url"] == f"/web/scans/{body['scan_id']}"

    services = site.world.services
    assert run_step(services, body["scan_id"], Step.OCR).next_step == Step.SIGN
    assert not run_step(services, body["scan_id"], Step.SIGN).failed
    with session_scope(services.sessions) as session:
        scan = session.get(Scan, body["scan_id"])
        assert scan is not None
        assert scan.status == ScanStatus.DIGITIZED, scan.reason_message
        assert scan.sign_as == "unit" and scan.clerk_id == "tuphap"
        result = session.scalar(select(Result).where(Result.scan_id == scan.id))
        assert result is not None and result.name == "Giấy khai sinh" and result.hidden
        doc = session.get(Document, result.document_id)
        assert doc is not None and doc.pdfa_source == "as_received"
        assert len(doc.input_signatures) == 1
        services.store.get_to_file(doc.object_key, tmp_path / "stored.pdf")
    assert (tmp_path / "stored.pdf").read_bytes().startswith(signed)  # theirs, byte for byte

    state = tuphap.get(body["status_url"], headers=json_).json()
    assert state["state"] == "digitized" and state["document_id"] == result.document_id
    # Intact, and our signature valid; their CA is not one we were given: a warning, not a
    # red "not valid" that would send the clerk back to the agency for nothing.
    assert state["valid"] is False and state["badge_kind"] == "warn"
    assert state["badge"] == "Chữ ký nguyên vẹn, người ký chưa có trong danh sách tin cậy"

    # The same file again is the same scan, not a second result.
    again = tuphap.post(url, headers={**json_, "X-CSRF-Token": token}, files=files, data=fields)
    assert again.status_code == 200 and again.json()["scan_id"] == body["scan_id"]


def test_a_result_needs_its_title(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    resp = tuphap.post(
        f"/web/dossiers/{code}/results",
        headers={"X-CSRF-Token": site.csrf("/web/agency", tuphap), "Accept": "application/json"},
        files={"file": ("kq.png", b"\x89PNG\r\n\x1a\n", "image/png")},
        data={"code": "KQ.G15.000001", "name": " "},
    )
    assert resp.status_code == 422 and resp.json()["code"] == "result_invalid"


# -- the dossier page's panel ------------------------------------------------------------------


class Labels(HTMLParser):
    """Every visible form control and whether a label names it."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.fors: set[str] = set()
        self.depth = 0  # inside <label>
        self.unlabelled: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.depth += 1
            if a.get("for"):
                self.fors.add(str(a["for"]))
        elif (
            tag in ("input", "select", "textarea") and a.get("type") != "hidden" and not self.depth
        ):
            self.ids.append(str(a.get("id") or a.get("name")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.depth -= 1

    def missing(self) -> list[str]:
        return [i for i in self.ids if i not in self.fors]


def panel(site: Site, staff_id: str, code: str, query: str = "") -> str:
    """The partial as the dossier page includes it, with this module's context."""
    services = site.world.services
    who = site.world.principal(staff_id)
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": "http",
            "server": ("testserver", 80),
            "path": f"/web/dossiers/{code}",
            "query_string": query.encode(),
            "headers": [],
            "app": site.client.app,
        }
    )
    request.state.web_user = who
    request.state.web_csrf = "token"
    view = services.dossiers.view(who, code)
    context = dossier_context(request, services, who, view)
    assert all(k.startswith("agency_") for k in context)
    return bytes(page(request, "agency/_actions.html", dossier=view, **context).body).decode()


def test_the_panel_offers_what_the_state_allows(site: Site) -> None:
    code = routed(site)
    html = panel(site, "tuphap", code)
    assert f'action="/web/dossiers/{code}/agency/take"' in html and "Nhận xử lý" in html
    assert "data-upload" not in html and "/agency/finish" not in html

    site.world.services.dossiers.take(site.world.principal("tuphap"), code)
    html = panel(site, "tuphap", code, "done=agency_taken")
    assert "Đã nhận xử lý hồ sơ" in html
    assert "/agency/take" not in html
    assert re.search(r"<form data-upload [^>]*action=\"/web/dossiers/[^\"]+/results\"", html)
    assert 'type="file" multiple' in html and "Giấy khai sinh" in html
    assert "data-dropzone" in html and "/web/static/scan.js?v=" in html
    assert "/agency/finish" in html and "/agency/forward" not in html  # the last agency
    assert "/agency/supplement-request" in html and "/agency/stop" in html
    labels = Labels()
    labels.feed(html)
    assert labels.ids and labels.missing() == []

    # Other roles and other agencies see no actions.
    assert "<form" not in panel(site, "lan.nt", code)
    land = routed(site, LAND, n=2)
    assert "/agency/forward" not in panel(site, "tuphap", code)
    site.world.services.dossiers.take(site.world.principal("vpdk"), land)
    forward = panel(site, "vpdk", land)
    assert "/agency/forward" in forward and "Thuế cơ sở 1 tỉnh Mẫu" in forward
    assert "/agency/finish" not in forward


# -- cost --------------------------------------------------------------------------------------


def test_the_inbox_costs_the_same_for_five_and_forty_dossiers(quiet_site: Site) -> None:
    site = quiet_site
    services = site.world.services
    agency = site.world.principal("tuphap")
    client = site.sign_in("tuphap")

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            code = routed(site, n=i)
            if i % 3 == 1:
                services.dossiers.take(agency, code)
            elif i % 3 == 2:
                services.dossiers.take(agency, code)
                services.dossiers.request_supplement(
                    agency, code, items=["Tờ khai"], reason="Thiếu chữ ký"
                )

    def statements() -> int:
        seen: list[str] = []

        def spy(*args: Any) -> None:
            seen.append(args[2])

        event.listen(services.engine, "before_cursor_execute", spy)
        try:
            resp = client.get("/web/agency")
        finally:
            event.remove(services.engine, "before_cursor_execute", spy)
        assert resp.status_code == 200
        return len(seen)

    add(5, 0)
    few = statements()
    add(35, 5)
    many = statements()
    assert few == many, (few, many)
    with session_scope(services.sessions) as session:
        assert session.query(Dossier).count() == 40


def test_the_dossier_page_carries_the_panel(site: Site, tuphap: TestClient) -> None:
    code = routed(site)
    before = tuphap.get(f"/web/dossiers/{code}")
    assert before.status_code == 200
    assert f'action="/web/dossiers/{code}/agency/take"' in before.text
    taken = post_form(site, tuphap, f"/web/dossiers/{code}/agency/take")
    after = tuphap.get(taken.headers["location"])
    assert after.status_code == 200
    assert "Đã nhận xử lý hồ sơ" in after.text and "data-upload" in after.text
    # Another agency cannot open it at all.
    land = site.sign_in("vpdk", site.another())
    assert land.get(f"/web/dossiers/{code}").status_code == 404
