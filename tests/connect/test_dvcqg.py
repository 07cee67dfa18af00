"""The DVCQG sync through the real dispatcher, against a portal stand-in that checks every
payload: a dossier's life as the portal sees it, idempotent re-delivery, a portal that is down,
slow or refuses, files uploaded once, a province with its own catalogue, and the sync rate."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from connect.dispatcher import (
    DEAD,
    DELIVERED,
    PENDING,
    Dispatcher,
    DispatchPolicy,
    DispatchReport,
)
from connect.dvcqg.client import DvcqgClient, PortalConfig, TokenCache
from connect.dvcqg.payload import BuilderChoice, portal_time
from connect.dvcqg.report import sync_rate
from connect.dvcqg.subscriber import PLAN, UPSERT_KINDS, DvcqgSubscriber
from connect.errors import DeliveryFailed
from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.models import Dossier, ExternalRef, OutboxDelivery, OutboxEvent, Result, Unit
from dossiers.workflow.scanhooks import ComponentRef
from dossiers.workflow.service import ApplicantIn
from ingest.runner import run_step
from ingest.upload import accept_upload
from ingest.validate import spool
from storage.db import session_scope
from storage.models import Document
from tests.connect.dvcqg_server import PortalServer
from tests.dossiers.world import FOREIGN, OTHER, OWN, VN, World, make_world, pay_fees
from tests.ocr.pagegen import A6, render_page
from wiring.connect import subscribers
from wiring.factory import build

BUSINESS = ("2.000720", {"giay_de_nghi": 1, "ban_sao_cccd": 1})
RESULT = ("KQ.G12.000006", "Giấy chứng nhận đăng ký hộ kinh doanh")
USER, PASSWORD = "sohoa-dongbo", "mat-khau-thu-nghiem"
APPLICANT_ID = "001090077777"


@pytest.fixture
def world(make_settings) -> Iterator[World]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    yield make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN))
    services.engine.dispose()


@pytest.fixture
def portal() -> Iterator[PortalServer]:
    with PortalServer(username=USER, password=PASSWORD) as server:
        yield server


def _subscriber(
    world: World,
    portal: PortalServer,
    *,
    timeout: float = 10.0,
    builders: dict[str, str] | None = None,
    portal_codes: bool = False,
    password: str = PASSWORD,
) -> DvcqgSubscriber:
    client = DvcqgClient(
        PortalConfig(url=portal.url, username=USER, password=password, timeout=timeout),
        tokens=TokenCache(),
    )
    return DvcqgSubscriber(
        world.services.sessions,
        world.services.store,
        client,
        BuilderChoice(builders or {}),
        use_portal_codes=portal_codes,
        work_dir=world.services.settings.work_dir,
    )


def _dispatcher(world: World, *subs: Any) -> Dispatcher:
    return Dispatcher(
        world.services.sessions,
        lambda: list(subs),
        clock=world.clock,
        policy=DispatchPolicy(base_delay=60, max_attempts=5),
    )


def _created(
    world: World, clerk: str = "cong.ch", name: str = "Đặng Văn Hải", ident: str = APPLICANT_ID
) -> str:
    code, papers = BUSINESS
    svc = world.services.dossiers
    ref = svc.create(
        world.principal(clerk), procedure_code=code, applicant=ApplicantIn(name, "CCCD", ident)
    )
    svc.check_components(world.principal(clerk), ref, papers)
    return str(ref)


def _received(world: World, clerk: str = "cong.ch", **applicant: str) -> str:
    ref = _created(world, clerk, **applicant)
    world.services.dossiers.receive(world.principal(clerk), ref)
    return ref


def _page(text: str) -> bytes:
    page = render_page(size_in=A6, paragraphs=(text, "Số: 12/2026/GCN", "ngày 02 tháng 3 năm 2026"))
    buf = io.BytesIO()
    page.image.save(buf, "PNG", dpi=(300, 300))
    return buf.getvalue()


def _digitize(world: World, spooled_name: str, text: str, **upload: Any) -> str:
    services = world.services
    spooled = spool([_page(text)], services.settings.work_dir / spooled_name, max_bytes=10**7)
    scan = accept_upload(services, spooled, filename="page.png", **upload).scan
    assert run_step(services, scan.id, "ocr") and run_step(services, scan.id, "sign")
    return scan.id


def _scan_component(world: World, ref: str, key: str) -> None:
    with session_scope(world.services.sessions) as session:
        d = session.get(Dossier, ref)
        assert d is not None
        comps = world.services.dossiers._components(session, d)
        component = next(c.id for c in comps if c.key == key)
    _digitize(
        world,
        f"{component}.png",
        "CĂN CƯỚC CÔNG DÂN",
        clerk_id="cong.ch",
        unit_code=OWN,
        target=ComponentRef(ref, component),
    )


def _scan_result(world: World, ref: str) -> None:
    who = world.principal("kinhte")
    up = world.services.returns.prepare_result(
        who, ref, code=RESULT[0], name=RESULT[1], valid_until=None, scope=""
    )
    _digitize(
        world,
        f"kq-{ref}.png",
        RESULT[1].upper(),
        clerk_id="kinhte",
        unit_code=up.unit_code,
        target=up.target,
        sign_as="unit",
        sign_options=up.sign_options,
    )


def _event_id(world: World, ref: str, kind: str) -> int:
    with session_scope(world.services.sessions) as session:
        found = session.scalar(
            select(OutboxEvent.id).where(OutboxEvent.dossier_id == ref, OutboxEvent.kind == kind)
        )
    assert found is not None, kind
    return int(found)


def _deliveries(world: World, ref: str) -> list[tuple[str, str, int, str]]:
    with session_scope(world.services.sessions) as session:
        rows = session.execute(
            select(
                OutboxEvent.kind,
                OutboxDelivery.state,
                OutboxDelivery.attempts,
                OutboxDelivery.last_response,
            )
            .join(OutboxEvent, OutboxEvent.id == OutboxDelivery.event_id)
            .where(OutboxDelivery.dossier_id == ref, OutboxDelivery.subscriber == "dvcqg")
            .order_by(OutboxDelivery.event_id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _code(world: World, ref: str) -> str:
    with session_scope(world.services.sessions) as session:
        d = session.get(Dossier, ref)
        assert d is not None and d.code
        return d.code


# -- a dossier's life --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dossiers_life_reaches_the_portal_in_order_with_valid_payloads(
    world: World, portal: PortalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    services = world.services
    sub = _subscriber(world, portal)
    dispatcher = _dispatcher(world, sub)
    report = DispatchReport()

    def step(action: Callable[[], object]) -> None:
        """Do it, then let the dispatcher run, as beat does every few seconds."""
        action()
        done = dispatcher.run()
        report.delivered += done.delivered
        report.retried += done.retried
        report.dead += done.dead

    ref = _created(world)
    dispatcher.run()
    step(lambda: _scan_component(world, ref, "ban_sao_cccd"))  # before reception: not sent
    assert portal.calls == []
    step(lambda: services.dossiers.receive(world.principal("cong.ch"), ref))
    step(lambda: pay_fees(world, "cong.ch", ref))
    step(lambda: services.dossiers.route(world.principal("cong.ch"), ref))
    step(lambda: services.dossiers.take(world.principal("kinhte"), ref))
    step(lambda: _scan_result(world, ref))  # hidden until the dossier is processed: not sent
    step(lambda: services.dossiers.finish(world.principal("kinhte"), ref, note="Đủ điều kiện"))
    step(
        lambda: services.returns.at_counter(
            world.principal("cong.ch"), ref, recipient_name="Đặng Văn Hải",
            recipient_id=APPLICANT_ID, relation="Chủ hồ sơ",
        )
    )  # fmt: skip

    assert portal.state.violations == []
    assert portal.endpoints() == [
        "token",
        # receive: the scan made before it is uploaded first, then the record, step, status 2
        "UploadFile", "NoiHoSo", "CapNhatTienTrinh", "CapNhatTrangThai",
        "NoiHoSo",  # payment: the paid fee joins the record
        "CapNhatTienTrinh", "CapNhatTrangThai",  # route: 4
        "CapNhatTienTrinh",  # take
        # finish: the result is uploaded and named in the record and in status 9
        "UploadFile", "NoiHoSo", "CapNhatTienTrinh", "CapNhatTrangThai",
        "NoiHoSo", "CapNhatTienTrinh", "CapNhatTrangThai",  # return: 10
    ]  # fmt: skip
    assert report.dead == 0 and report.retried == 0
    assert {state for _, state, _, _ in _deliveries(world, ref)} == {DELIVERED}
    code = _code(world, ref)
    assert portal.state.created == 1 and portal.state.updated == 3
    assert [s["TrangThai"] for s in portal.state.statuses] == ["2", "4", "9", "10"]
    assert [p["TrangThai"] for p in portal.state.progress] == ["2", "4", "4", "9", "10"]
    assert portal.state.progress[0]["NguoiXuLy"] == "Lê Công Chức"
    assert portal.state.progress[2]["NguoiXuLy"] == "Vũ Kinh Tế"
    assert portal.state.progress[3]["NoiDungXuLy"].startswith("Đã xử lý xong")

    # Exactly our two signed documents went up, once each, and the portal's ids are kept.
    with session_scope(services.sessions) as session:
        d = session.get(Dossier, ref)
        assert d is not None and d.received_at is not None and d.due_at is not None
        received_at, due_at, returned_at = d.received_at, d.due_at, d.returned_at
        result = session.scalar(select(Result).where(Result.dossier_id == ref))
        assert result is not None and result.document_id is not None
        result_doc = session.get(Document, result.document_id)
        assert result_doc is not None
        refs = {
            r.local_id: (r.remote_id, r.remote_hash)
            for r in session.scalars(select(ExternalRef).where(ExternalRef.kind == "file"))
        }
        agency = session.get(Unit, "000.21.16.H99")
        assert agency is not None
        agency_name = agency.name
        accepted = session.scalar(
            select(ExternalRef.remote_id).where(
                ExternalRef.kind == "dossier", ExternalRef.local_id == ref
            )
        )
    assert accepted == code
    assert len(portal.state.files) == 2 == len(refs)
    for sha, (remote_id, remote_hash) in refs.items():
        uploaded = portal.state.files[remote_id]
        assert uploaded.sha256 == sha and uploaded.hash == remote_hash  # the bytes we signed
    assert result_doc.sha256 in refs

    hoso = portal.state.dossiers[code]
    assert hoso["TrangThaiHoSo"] == "10" and hoso["KenhThucHien"] == "1"
    assert hoso["MaTTHC"] == "2.000720" and hoso["ChuHoSo"] == "Đặng Văn Hải"
    assert hoso["SoGiayToChuHoSo"] == APPLICANT_ID and hoso["LoaiDoiTuong"] == "1"
    assert hoso["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": APPLICANT_ID}]
    assert hoso["NgayTiepNhan"] == received_at.astimezone(VN).strftime("%Y%m%d%H%M%S")
    assert hoso["NgayHenTra"] == portal_time(due_at) and hoso["NgayTra"] == portal_time(returned_at)
    assert hoso["HoSoCoThanhPhanSoHoa"] == "1" and hoso["DonViXuLy"] == agency_name
    (paper,) = hoso["TaiLieuNop"]
    assert paper["MaThanhPhanHoSo"] == "ban_sao_cccd" and paper["DuocSoHoa"] == "1"
    assert paper["DuocTaiSuDung"] == "0" and portal.state.files[paper["TepDinhKemId"]]
    (fee,) = hoso["DanhSachLePhi"]
    assert (fee["MaPhiLePhi"], fee["HinhThucThu"], fee["Gia"]) == ("LP-HKD", "1", "100000")
    (kq,) = hoso["DanhSachGiayToKetQua"]
    assert kq["MaGiayToKetQua"] == RESULT[0] and kq["GiayToId"] == refs[result_doc.sha256][0]
    nine = portal.state.statuses[2]
    assert nine["DanhSachGiayToKetQua"] == [kq]

    # Nothing secret or personal reached the logs.
    logged = caplog.text
    tokens = {c.answer.get("access_token") for c in portal.calls if c.endpoint == "token"}
    for secret in (PASSWORD, APPLICANT_ID, "Đặng Văn Hải", *tokens):
        assert secret and secret not in logged

    # Re-delivering the reception (a crash before our commit, an operator's replay) makes no
    # second dossier, no second upload, no second step or status.
    receive = _event_id(world, ref, "dossier.receive")
    assert dispatcher.replay(event_ids=[receive]) == 1
    before = (len(portal.state.files), len(portal.state.progress), len(portal.state.statuses))
    assert dispatcher.run().delivered == 1
    assert portal.state.created == 1 and portal.state.updated == 4
    assert portal.state.noi_ho_so[code] == 5
    assert (
        len(portal.state.files),
        len(portal.state.progress),
        len(portal.state.statuses),
    ) == before
    assert portal.state.violations == []


def test_the_mapping_sends_the_record_for_every_step_that_changes_it() -> None:
    # Every kind that changes papers, fees, dates or results sends NoiHoSo; the report counts them.
    assert {
        "dossier.receive",
        "document.digitized",
        "dossier.payment",
        "dossier.finish",
        "dossier.return",
    } <= UPSERT_KINDS
    assert not PLAN["dossier.take"].upsert and PLAN["dossier.take"].progress


# -- a portal that misbehaves ------------------------------------------------------------------


def test_a_portal_down_or_slow_gets_everything_later_in_order_once(
    world: World, portal: PortalServer
) -> None:
    ref = _received(world)
    pay_fees(world, "cong.ch", ref)
    sub = _subscriber(world, portal, timeout=0.5)
    dispatcher = _dispatcher(world, sub)
    portal.fail("NoiHoSo", "500")
    dispatcher.run()
    first = _deliveries(world, ref)
    assert first[0][:3] == ("dossier.receive", PENDING, 1) and first[0][3] == "HTTP 500"
    assert all(attempts == 0 for _, _, attempts, _ in first[1:])  # nothing overtakes it
    with session_scope(world.services.sessions) as session:
        line = sync_rate(
            session, BOOTSTRAP, world.clock() - timedelta(days=1), world.clock() + timedelta(days=1)
        )
    assert (line.received, line.synced) == (1, 0)
    assert line.not_synced[0].reason == "retrying" and line.not_synced[0].portal_code == "HTTP 500"
    assert "HTTP 500" in line.not_synced[0].last_error

    world.services.dossiers.route(world.principal("cong.ch"), ref)
    # Slow: the portal does the work but its answer comes after our timeout.
    portal.fail("NoiHoSo", "slow")
    world.clock.advance(minutes=5)
    dispatcher.run()
    portal.wait_idle()
    assert _deliveries(world, ref)[0][:3] == ("dossier.receive", PENDING, 2)
    assert _deliveries(world, ref)[0][3] == "timeout"
    assert portal.state.created == 1  # it has the dossier; we do not know yet

    world.clock.advance(minutes=10)
    dispatcher.run()
    assert {state for _, state, _, _ in _deliveries(world, ref)} == {DELIVERED}
    assert portal.state.created == 1 and portal.state.violations == []
    assert [s["TrangThai"] for s in portal.state.statuses] == ["2", "4"]
    assert [p["NoiDungXuLy"] for p in portal.state.progress] == [
        "Tiếp nhận hồ sơ",
        "Chuyển hồ sơ đến cơ quan giải quyết",
    ]
    ok = portal.endpoints()
    assert ok.index("CapNhatTrangThai") < ok.index("CapNhatTienTrinh", ok.index("CapNhatTrangThai"))


def test_a_refused_payload_is_a_dead_letter_with_the_portals_code(
    world: World, portal: PortalServer
) -> None:
    ref = _received(world)
    portal.fail("NoiHoSo", "business", code="E_TTHC_404")
    dispatcher = _dispatcher(world, _subscriber(world, portal))
    report = dispatcher.run()
    assert report.retried == 0
    (receive,) = _deliveries(world, ref)
    assert receive[:3] == ("dossier.receive", DEAD, 1) and receive[3] == "E_TTHC_404"
    with session_scope(world.services.sessions) as session:
        line = sync_rate(
            session, BOOTSTRAP, world.clock() - timedelta(days=1), world.clock() + timedelta(days=1)
        )
    (missing,) = line.not_synced
    assert (missing.reason, missing.portal_code, missing.event_kind) == (
        "dead",
        "E_TTHC_404",
        "dossier.receive",
    )
    assert "Mã TTHC không tồn tại" in missing.last_error
    # Fixed at the portal, the operator replays it: delivered, and counted.
    assert dispatcher.replay(event_ids=[_event_id(world, ref, "dossier.receive")]) == 1
    dispatcher.run()
    assert _deliveries(world, ref)[0][1] == DELIVERED and portal.state.created == 1


def test_a_bad_token_is_fetched_again_once_and_bad_credentials_wait(
    world: World, portal: PortalServer
) -> None:
    first = _received(world)
    sub = _subscriber(world, portal)
    dispatcher = _dispatcher(world, sub)
    dispatcher.run()
    assert portal.state.token_requests == 1
    portal.revoke_tokens()  # the portal restarted and forgot its tokens
    world.services.dossiers.route(world.principal("cong.ch"), first)  # fees due: status 6
    dispatcher.run()
    assert portal.state.token_requests == 2
    assert [c.status for c in portal.calls if c.endpoint == "CapNhatTienTrinh"] == [200, 401, 200]
    assert {s for _, s, _, _ in _deliveries(world, first)} == {DELIVERED}

    # Wrong password: the deliveries wait (retryable), and nobody's password is in the error.
    second = _received(world, name="Lê Thị Hoa", ident="001190055555")
    wrong = _dispatcher(world, _subscriber(world, portal, password="sai-mat-khau"))
    wrong.run()
    (row,) = _deliveries(world, second)
    assert row[1] == PENDING and row[3] == "token HTTP 400"
    with session_scope(world.services.sessions) as session:
        error = session.scalar(
            select(OutboxDelivery.last_error).where(OutboxDelivery.dossier_id == second)
        )
    assert error is not None and "sai-mat-khau" not in error and "SOHOA_DVCQG_PASSWORD" in error


def test_a_token_is_kept_until_shortly_before_it_expires(world: World) -> None:
    ref = _received(world)
    now = [1000.0]
    with PortalServer(username=USER, password=PASSWORD, token_life=120) as portal:
        client = DvcqgClient(
            PortalConfig(url=portal.url, username=USER, password=PASSWORD),
            monotonic=lambda: now[0],
        )
        hoso_less = {"MaHoSo": _code(world, ref)}  # refused for its shape; the token is what counts
        for advance in (0.0, 80.0, 20.0):  # 120 s of life, 30 s of margin: new at 100 s
            now[0] += advance
            with client, pytest.raises(DeliveryFailed):
                client.put_dossier(hoso_less)
        assert portal.state.token_requests == 2
        assert [c.status for c in portal.calls if c.endpoint == "NoiHoSo"] == [400, 400, 400]


def test_an_unreachable_portal_is_retryable_and_a_400_is_not(
    world: World, portal: PortalServer
) -> None:
    ref = _received(world)
    with PortalServer() as gone:
        url = gone.url
    client = DvcqgClient(PortalConfig(url=url, username=USER, password=PASSWORD, timeout=2))
    with client, pytest.raises(DeliveryFailed) as down:
        client.put_dossier({"MaHoSo": _code(world, ref)})
    assert down.value.retryable and down.value.response == "connect"
    portal.fail("NoiHoSo", "400", code="E_MAHOSO")
    live = DvcqgClient(PortalConfig(url=portal.url, username=USER, password=PASSWORD))
    with live, pytest.raises(DeliveryFailed) as refused:
        live.put_dossier({"MaHoSo": _code(world, ref)})
    assert not refused.value.retryable and refused.value.response == "E_MAHOSO"
    portal.fail("NoiHoSo", "500")
    with live, pytest.raises(DeliveryFailed) as broken:
        live.put_dossier({"MaHoSo": _code(world, ref)})
    assert broken.value.retryable and broken.value.response == "HTTP 500"
    # Our own shape, sent wrong on purpose, is what the stand-in refuses.
    with live, pytest.raises(DeliveryFailed) as shape:
        live.put_dossier({"MaHoSo": _code(world, ref)})
    assert shape.value.response == "E_SHAPE" and portal.state.violations


# -- files, codes and provinces ------------------------------------------------------------------


@pytest.mark.slow
def test_a_file_is_uploaded_once_however_many_events_need_it(
    world: World, portal: PortalServer
) -> None:
    ref = _received(world)
    dispatcher = _dispatcher(world, _subscriber(world, portal))
    dispatcher.run()
    _scan_component(world, ref, "ban_sao_cccd")  # document.digitized: upload + NoiHoSo
    pay_fees(world, "cong.ch", ref)  # payment: NoiHoSo with the same file
    # The upload succeeds, the record is refused once for a moment: the retry must not upload again.
    portal.fail("NoiHoSo", "500")
    dispatcher.run()
    world.clock.advance(hours=1)
    dispatcher.run()
    assert {s for _, s, _, _ in _deliveries(world, ref)} == {DELIVERED}
    assert portal.endpoints().count("UploadFile") == 1 and len(portal.state.files) == 1
    code = _code(world, ref)
    (paper,) = portal.state.dossiers[code]["TaiLieuNop"]
    assert paper["TepDinhKemId"] in portal.state.files
    assert portal.state.violations == []


def test_portal_codes_are_asked_for_once_per_dossier(world: World) -> None:
    with PortalServer(username=USER, password=PASSWORD, portal_codes=True) as portal:
        ref = _received(world)
        pay_fees(world, "cong.ch", ref)
        world.services.dossiers.route(world.principal("cong.ch"), ref)
        _dispatcher(world, _subscriber(world, portal, portal_codes=True)).run()
        assert portal.state.violations == []
        assert portal.endpoints().count("GetNextValue") == 1
        (issued,) = portal.state.issued_codes
        assert issued.startswith(OWN + "-") and issued != _code(world, ref)
        assert set(portal.state.dossiers) == {issued}
        assert {s["MaHoSo"] for s in portal.state.statuses} == {issued}
        with session_scope(world.services.sessions) as session:
            kept = session.scalar(
                select(ExternalRef.remote_id).where(
                    ExternalRef.kind == "dossier", ExternalRef.local_id == ref
                )
            )
        assert kept == issued


def test_a_second_provinces_units_get_its_builder(world: World, portal: PortalServer) -> None:
    with session_scope(world.services.sessions) as session:
        staffing.create_staff(
            session, BOOTSTRAP, staff_id="khac.ch", name="Cán Bộ Tỉnh Khác", role="counter",
            unit_code=FOREIGN, today=date(2026, 3, 2),
        )  # fmt: skip
    ours = _received(world)
    theirs = _received(world, "khac.ch", name="Trần Thị Mai", ident="001190066666")
    sub = _subscriber(world, portal, builders={"H98": "dvc-bo"})
    _dispatcher(world, sub).run()
    assert portal.state.violations == []
    dossiers = portal.state.dossiers
    assert dossiers[_code(world, ours)]["LoaiDoiTuong"] == "1"  # 1-based catalogue: citizen
    assert dossiers[_code(world, theirs)]["LoaiDoiTuong"] == "0"  # 0-based catalogue: citizen
    with pytest.raises(ValueError, match="unknown DVCQG payload builders"):
        BuilderChoice({"H98": "no-such-builder"})


def test_the_portal_is_a_subscriber_only_when_configured(make_settings) -> None:  # type: ignore[no-untyped-def]
    off = build(make_settings())
    assert "dvcqg" not in [s.name for s in subscribers(cast(Any, off))]
    on = build(
        make_settings(
            dvcqg_url="http://127.0.0.1:9/", dvcqg_username=USER, dvcqg_password=PASSWORD,
            dvcqg_builder={"H98": "dvc-bo"},
        )
    )  # fmt: skip
    (sub,) = [s for s in subscribers(cast(Any, on)) if s.name == "dvcqg"]
    assert isinstance(sub, DvcqgSubscriber)
    assert PASSWORD not in repr(sub.client.config)
    bad = build(make_settings(dvcqg_url="http://127.0.0.1:9/", dvcqg_builder={"H98": "nope"}))
    with pytest.raises(ValueError):
        subscribers(cast(Any, bad))
    for s in (off, on, bad):
        s.engine.dispose()


# -- the sync rate -----------------------------------------------------------------------------


def test_the_sync_rate_counts_per_unit_with_the_reasons(world: World, portal: PortalServer) -> None:
    _sync_rate_scenario(world, portal)


@pytest.mark.postgres
def test_the_sync_rate_on_postgresql(make_settings, pg_database: str, portal: PortalServer) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False, database_url=pg_database))
    try:
        _sync_rate_scenario(make_world(services, datetime(2026, 3, 2, 8, 0, tzinfo=VN)), portal)
    finally:
        services.engine.dispose()


def _sync_rate_scenario(world: World, portal: PortalServer) -> None:
    # Fanned out before the portal was configured: its events never had a dvcqg delivery.
    early = _received(world, name="Sớm Văn Một", ident="001190011111")
    _dispatcher(world).run()
    # Refused by the portal: the only delivery of the first run.
    sub = _subscriber(world, portal)
    refused = _received(world, name="Phạm Văn Ba", ident="001190033333")
    portal.fail("NoiHoSo", "business", code="E_DOI_TUONG")
    _dispatcher(world, sub).run()
    synced_own = _received(world, name="Nguyễn Văn Hai", ident="001190022222")
    other = _received(world, "minh.tv", name="Lý Thị Bốn", ident="001190044444")
    _created(world, name="Chưa Tiếp Nhận", ident="001190055555")  # not received: not counted
    _dispatcher(world, sub).run()
    assert portal.state.created == 2
    late = _received(world, name="Muộn Thị Năm", ident="001190066666")  # not fanned out yet

    since, until = date(2026, 3, 2), date(2026, 3, 2)
    app = TestClient(create_app(world.services))
    params = {"since": since.isoformat(), "until": until.isoformat()}
    admin = app.get("/api/v1/reports/dvcqg-sync", params=params, headers=world.headers("quantri"))
    assert admin.status_code == 200, admin.text
    body = admin.json()
    assert (body["received"], body["synced"], body["not_synced_total"]) == (5, 2, 3)
    assert body["rate"] == pytest.approx(2 / 5)
    units = {u["unit_code"]: (u["received"], u["synced"]) for u in body["units"]}
    assert units == {OWN: (4, 1), OTHER: (1, 1)}
    reasons = {
        line["dossier_id"]: (line["reason"], line["portal_code"]) for line in body["not_synced"]
    }
    assert synced_own not in reasons and other not in reasons
    assert reasons == {
        early: ("not_subscribed", ""),
        refused: ("dead", "E_DOI_TUONG"),
        late: ("not_fanned_out", ""),
    }
    # Scoped like the other reports: a counter sees its unit, an auditor its province.
    counter = app.get(
        "/api/v1/reports/dvcqg-sync", params=params, headers=world.headers("minh.tv")
    ).json()
    assert (counter["received"], [u["unit_code"] for u in counter["units"]]) == (1, [OTHER])
    auditor = app.get(
        "/api/v1/reports/dvcqg-sync", params=params, headers=world.headers("kiemtra")
    ).json()
    assert auditor["received"] == 5
    elsewhere = app.get(
        "/api/v1/reports/dvcqg-sync",
        params={**params, "unit": OWN},
        headers=world.headers("kiemtra.b"),
    )
    assert elsewhere.status_code == 404
    assert (
        app.get(
            "/api/v1/reports/dvcqg-sync", params=params, headers=world.headers("harvest")
        ).status_code
        == 403
    )
    backwards = app.get(
        "/api/v1/reports/dvcqg-sync", params={"since": "2026-03-03", "until": "2026-03-02"},
        headers=world.headers("quantri"),
    )  # fmt: skip
    assert backwards.status_code == 422 and backwards.json()["code"] == "range_invalid"
    one = app.get(
        "/api/v1/reports/dvcqg-sync",
        params={**params, "unit": OTHER},
        headers=world.headers("quantri"),
    ).json()
    assert (one["received"], one["synced"], one["rate"]) == (1, 1, 1.0)
    app.close()
    _report_on_the_command_line(world)


def _report_on_the_command_line(world: World) -> None:
    """``sohoa dvcqg report``: the same figures for an operator, exit 1 while any is missing."""
    import os

    from typer.testing import CliRunner

    from wiring.cli import app

    env = {"SOHOA_DATA_DIR": str(world.services.settings.data_dir), "SOHOA_PKI": "development"}
    if world.services.settings.database_url:
        env["SOHOA_DATABASE_URL"] = world.services.settings.database_url
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        runner = CliRunner()
        out = runner.invoke(
            app, ["dvcqg", "report", "--since", "2026-03-02", "--until", "2026-03-02"]
        )
        assert out.exit_code == 1, out.output
        assert f"{OWN}: 1/4 (25.0%)" in out.output and "all: 2/5 (40.0%)" in out.output
        assert "NOT SYNCED" in out.output and "[E_DOI_TUONG]" in out.output
        one = runner.invoke(
            app,
            ["dvcqg", "report", "--since", "2026-03-02", "--until", "2026-03-02", "--unit", OTHER],
        )
        assert one.exit_code == 0 and f"{OTHER}: 1/1 (100.0%)" in one.output
        bad = runner.invoke(
            app, ["dvcqg", "report", "--since", "2026-03-03", "--until", "2026-03-02"]
        )
        assert bad.exit_code == 2
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
