"""Appointment dates as the counter prints them: across 30/4–1/5, 2/9, a compensating Saturday,
the 15:00 cut-off, an administrator's calendar correction and the rule version by date."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from dossiers.admin.catalog import import_catalog, parse_catalog
from dossiers.models import Dossier
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.test_catalog import _raw_sample
from tests.dossiers.world import VN, make_world
from wiring.factory import build

BIRTH = ("1.001193", {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1})
BUSINESS = ("2.000720", {"giay_de_nghi": 1, "ban_sao_cccd": 1})


@pytest.fixture
def world(make_settings):  # type: ignore[no-untyped-def]
    return make_world(build(make_settings(sign_forms=False)), datetime(2026, 1, 5, 8, 0, tzinfo=VN))


def _received(world, at: datetime, procedure) -> datetime:  # type: ignore[no-untyped-def]
    code, papers = procedure
    world.clock.set(at)
    clerk = world.principal("cong.ch")  # a civil servant: before the postal handover too
    svc = world.services.dossiers
    ref = svc.create(
        clerk, procedure_code=code, applicant=ApplicantIn("Đặng Văn Hải", "CCCD", "001090099999")
    )
    svc.check_components(clerk, ref, papers)
    svc.receive(clerk, ref)
    with session_scope(world.services.sessions) as session:
        return svc.find(session, clerk, ref).due_at.astimezone(VN)


@pytest.mark.parametrize(
    ("received", "procedure", "due"),
    [
        # Same day before the cut-off: today at 17:00.
        (datetime(2026, 4, 29, 14, 59), BIRTH, datetime(2026, 4, 29, 17, 0)),
        # After 15:00 the day before 30/4 and 1/5 (Thu, Fri), then the weekend: Monday.
        (datetime(2026, 4, 29, 15, 1), BIRTH, datetime(2026, 5, 4, 17, 0)),
        # Three working days from Fri 28 Aug 2026: 31/8 (swapped), 1/9 and 2/9 are off.
        (datetime(2026, 8, 28, 10, 0), BUSINESS, datetime(2026, 9, 7, 17, 0)),
        # The compensating Saturday 22/8/2026 is a working day.
        (datetime(2026, 8, 20, 10, 0), BUSINESS, datetime(2026, 8, 24, 17, 0)),
        # Tết 2026 (16–20 Feb): three days from Thu 12 Feb end on Tue 24 Feb.
        (datetime(2026, 2, 12, 10, 0), BUSINESS, datetime(2026, 2, 24, 17, 0)),
        # Ngày Văn hóa Việt Nam, 24/11 from 2026.
        (datetime(2026, 11, 23, 15, 30), BIRTH, datetime(2026, 11, 25, 17, 0)),
    ],
)
def test_appointment_dates(world, received, procedure, due) -> None:  # type: ignore[no-untyped-def]
    assert _received(world, received.replace(tzinfo=VN), procedure) == due.replace(tzinfo=VN)


def test_an_administrators_override_moves_later_appointments(world) -> None:  # type: ignore[no-untyped-def]
    thursday = datetime(2026, 12, 3, 10, 0, tzinfo=VN)
    assert _received(world, thursday, BUSINESS) == datetime(2026, 12, 8, 17, 0, tzinfo=VN)
    client = TestClient(create_app(world.services))
    resp = client.put(
        "/api/v1/admin/calendar/2026-12-05",
        headers=world.headers("quantri"),
        json={"day": "2026-12-05", "working": True, "note": "làm bù theo thông báo của Bộ Nội vụ"},
    )
    assert resp.status_code == 200, resp.text
    # Saturday 5 Dec now counts: Fri 4, Sat 5, Mon 7.
    assert _received(world, thursday, BUSINESS) == datetime(2026, 12, 7, 17, 0, tzinfo=VN)
    resp = client.put(
        "/api/v1/admin/calendar/2026-12-07",
        headers=world.headers("quantri"),
        json={"day": "2026-12-07", "working": False, "note": "nghỉ đột xuất"},
    )
    assert _received(world, thursday, BUSINESS) == datetime(2026, 12, 8, 17, 0, tzinfo=VN)
    client.close()


def test_the_rule_version_is_the_one_in_force_at_receipt(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    raw = _raw_sample()
    for proc in raw["procedures"]:
        proc["effective_from"] = "2025-01-01"  # in force on both sides of 1 July 2025
    with session_scope(services.sessions) as session:
        import_catalog(session, parse_catalog(yaml.safe_dump(raw)), today=date(2025, 6, 1))
    world = make_world(services, datetime(2025, 6, 30, 9, 0, tzinfo=VN))
    for at in (datetime(2025, 6, 30, 9, 0, tzinfo=VN), datetime(2025, 7, 1, 9, 0, tzinfo=VN)):
        _received(world, at, BIRTH)
    with session_scope(services.sessions) as session:
        versions = session.scalars(select(Dossier.rules_version).order_by(Dossier.received_at))
        assert list(versions) == ["tt01-2018", "nd118-2025"]
