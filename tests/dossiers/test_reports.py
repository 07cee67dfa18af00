"""Reports on real dossiers: the national on-time rule with supplement time subtracted, overdue
and due-soon lists, processing times, staffing against the norm, and the queue's waits.

Dossiers go through the real DossierService under a settable clock. The week is Monday
2026-11-02 to Friday 2026-11-06 (no holiday); procedure 2.000720 takes 3 working days, so a
dossier received on Monday morning is due Thursday 17:00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.app import create_app
from dossiers.access import BOOTSTRAP, Principal, principal_for
from dossiers.admin import reports, staffing
from dossiers.admin.catalog import import_catalog, procedure_in_force, sample_catalog
from dossiers.calendar import WorkingCalendar, rules_in_force
from dossiers.errors import Conflict, Forbidden, InvalidInput, NotFound
from dossiers.models import Dossier, QueueTicket, Staff
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.conftest import TOKEN
from wiring.factory import Services, build

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OWN = "000.00.16.H99"  # urban commune
OTHER = "000.00.17.H99"  # rural commune, same province
FOREIGN = "000.00.16.H98"  # another province
ECONOMY = "000.21.16.H99"  # decides 2.000720 (household business, 3 working days)
JUSTICE = "000.20.16.H99"  # decides 1.001193 (birth registration, same day)
BUSINESS = "2.000720"
BIRTH = "1.001193"
PAPERS = {
    BUSINESS: {"giay_de_nghi": 1, "ban_sao_cccd": 1},
    BIRTH: {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1},
}
NOW = datetime(2026, 11, 6, 17, 0, tzinfo=VN)  # Friday, office close
NORMS = {"urban": 1600, "rural": 1200, "remote": 800}

# staff id -> (role, unit)
STAFF = {
    "own.a": ("counter", OWN),
    "own.b": ("counter", OWN),
    "own.gone": ("counter", OWN),  # deactivated: not counted as staff
    "other.a": ("counter", OTHER),
    "kinhte": ("agency", ECONOMY),
    "tuphap": ("agency", JUSTICE),
    "harvest": ("harvester", None),
    "audit": ("auditor", OWN),
    "audit.b": ("auditor", FOREIGN),
}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=VN)


class Clock:
    """The service's time, set by the test before each step."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Desk:
    services: Services
    clock: Clock
    who: dict[str, Principal] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # scenario letter -> dossier code

    def run(self, when: datetime, action: str, who: str, ref: str, **kwargs: Any) -> Any:
        self.clock.at = when
        return getattr(self.services.dossiers, action)(self.who[who], ref, **kwargs)

    def received(
        self, name: str, when: datetime, counter: str = "own.a", procedure: str = BUSINESS
    ) -> str:
        """Create, check and receive; then route to the deciding agency."""
        self.clock.at = when
        svc, who = self.services.dossiers, self.who[counter]
        applicant = ApplicantIn(f"Công dân {name}", "CCCD", f"0010900{len(self.codes):05d}")
        dossier_id = svc.create(who, procedure_code=procedure, applicant=applicant)
        svc.check_components(who, dossier_id, PAPERS[procedure])
        svc.receive(who, dossier_id)
        if any(f.status == "due" for f in self.services.cashier.fees(who, dossier_id)):
            self.services.cashier.pay(who, dossier_id, method="cash")
        svc.route(who, dossier_id)
        with session_scope(self.services.sessions) as session:
            dossier = session.get(Dossier, dossier_id)
            assert dossier is not None and dossier.code
            self.codes[name] = dossier.code
        return self.codes[name]

    def supplement_round(self, code: str, asked: datetime, brought: datetime | None) -> None:
        self.run(asked, "request_supplement", "kinhte", code, items=["Bản sao"], reason="Mờ")
        if brought is not None:
            self.run(brought, "supplement", "own.a", code)

    def headers(self, staff_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[staff_id]}"}


def make_desk(services: Services) -> Desk:
    clock = Clock(at(10, 1, 8))
    services.clock = clock
    desk = Desk(services, clock)
    with session_scope(services.sessions) as session:
        import_catalog(session, sample_catalog(), today=date(2026, 10, 1))
        staffing.create_unit(
            session,
            BOOTSTRAP,
            code=FOREIGN,
            name="UBND phường Khác",
            kind="one_stop",
            level="commune",
            valid_from=date(2025, 7, 1),
        )
        for n, unit in enumerate((OWN, OTHER)):
            staffing.register_series(
                session,
                BOOTSTRAP,
                unit_code=unit,
                form_symbol="01BLP0-001",
                series=f"BL-26R{n}",
                collector_name="Phòng Kinh tế",
                valid_from=date(2025, 1, 1),
            )
        for staff_id, (role, unit) in STAFF.items():
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id=staff_id,
                name=staff_id.title(),
                role=role,
                unit_code=unit,
                today=date(2026, 10, 1),
            )
        session.flush()
        for staff_id in STAFF:
            staff = session.get(Staff, staff_id)
            assert staff is not None
            staff.active = staff_id != "own.gone"
            desk.who[staff_id] = principal_for(session, staff, today=date(2026, 11, 6))
            desk.tokens[staff_id] = staffing.new_token(session, BOOTSTRAP, staff_id)
    return desk


def make_week(desk: Desk) -> Desk:
    """The week's dossiers; the comment gives what the on-time rule must say of each."""
    # A: finished Wednesday, returned Thursday: on time.
    a = desk.received("A", at(11, 2, 9, 0))
    desk.run(at(11, 4, 10), "finish", "kinhte", a)
    desk.clock.at = at(11, 5, 8)
    desk.services.returns.at_counter(
        desk.who["own.a"],
        a,
        recipient_name="Công dân A",
        recipient_id="001090000001",
        relation="Chính chủ",
    )
    # B: finished Friday 10:00, after Thursday 17:00: late.
    b = desk.received("B", at(11, 2, 9, 30))
    desk.run(at(11, 6, 10), "finish", "kinhte", b)
    # C: finished Friday 16:00, late by the calendar, but the citizen held the papers from
    # Tuesday 10:00 to Thursday 10:00; less those 48 h it ended Wednesday 16:00: on time.
    c = desk.received("C", at(11, 2, 10, 0))
    desk.supplement_round(c, at(11, 3, 10), at(11, 5, 10))
    desk.run(at(11, 6, 16), "finish", "kinhte", c)
    # D: finished Wednesday, early, but the agency asked twice: counted late.
    d = desk.received("D", at(11, 2, 10, 30))
    desk.supplement_round(d, at(11, 3, 9), at(11, 3, 11))
    desk.supplement_round(d, at(11, 3, 14), at(11, 3, 15))
    desk.run(at(11, 4, 9), "finish", "kinhte", d)
    # E (other commune): finished Thursday 17:00 sharp, the due time itself: on time.
    e = desk.received("E", at(11, 2, 11, 0), counter="other.a")
    desk.run(at(11, 5, 17), "finish", "kinhte", e)
    # X: received Tuesday 27 October, due Friday 30 October 17:00, finished Sunday 1 November
    # 06:30 local (still 31 October in UTC): late, and a November dossier.
    x = desk.received("X", at(10, 27, 9))
    desk.run(at(11, 1, 6, 30), "finish", "kinhte", x)
    # Y: a same-day birth registration, received 08:00, decided 11:00: on time.
    y = desk.received("Y", at(11, 2, 8), procedure=BIRTH)
    desk.run(at(11, 2, 11), "finish", "tuphap", y)
    # F and L: open and past Thursday 17:00. G: received Thursday, due next Tuesday 17:00.
    desk.received("F", at(11, 2, 13))
    desk.received("L", at(11, 2, 12), counter="other.a")
    desk.received("G", at(11, 5, 9))
    # H: waiting for the citizen's papers since Wednesday; its clock is stopped.
    h = desk.received("H", at(11, 2, 14))
    desk.supplement_round(h, at(11, 4, 9), None)
    # K: asked twice, still waiting for the citizen: counted overdue. Its deadline restarted
    # from Tuesday 10:00 and falls on Friday 17:00.
    k = desk.received("K", at(11, 2, 14, 30))
    desk.supplement_round(k, at(11, 3, 9), at(11, 3, 10))
    desk.supplement_round(k, at(11, 3, 11), None)
    # W: withdrawn by the citizen; R: refused at the counter, never received.
    w = desk.received("W", at(11, 2, 15))
    desk.run(at(11, 3, 9), "withdraw", "own.a", w, reason="Công dân rút hồ sơ")
    desk.clock.at = at(11, 3, 9)
    svc = desk.services.dossiers
    r = svc.create(
        desk.who["own.a"],
        procedure_code=BUSINESS,
        applicant=ApplicantIn("Công dân R", "CCCD", "001090099999"),
    )
    svc.refuse(desk.who["own.a"], r, "Không thuộc thẩm quyền")
    desk.clock.at = NOW
    return desk


@pytest.fixture
def services(make_settings: Callable[..., Any]) -> Iterator[Services]:
    svc = build(make_settings(sign_forms=False))
    yield svc
    svc.engine.dispose()


@pytest.fixture
def desk(services: Services) -> Desk:
    return make_desk(services)


@pytest.fixture
def week(desk: Desk) -> Desk:
    return make_week(desk)


def _session(desk: Desk) -> AbstractContextManager[Session]:
    return session_scope(desk.services.sessions)


def _calendar(session: Session, desk: Desk) -> WorkingCalendar:
    return desk.services.dossiers.calendar(session, rules_in_force(NOW))


# -- the on-time rate -----------------------------------------------------------------------


def _assert_november(report: reports.OnTimeRate) -> None:
    assert (report.overall.total, report.overall.on_time, report.overall.late) == (7, 4, 3)
    assert report.overall.rate == 4 / 7
    assert [u.as_dict() for u in report.units] == [
        {"unit_code": OWN, "total": 6, "on_time": 3, "late": 3, "rate": 0.5},
        {"unit_code": OTHER, "total": 1, "on_time": 1, "late": 0, "rate": 1.0},
    ]


def test_on_time_rate_follows_the_national_rule(week: Desk) -> None:
    admin = BOOTSTRAP
    with _session(week) as session:
        _assert_november(
            reports.on_time_rate(session, admin, date(2026, 11, 1), date(2026, 11, 30))
        )
        # C alone: on time only because the citizen's 48 hours are subtracted.
        c = session.scalar(select(Dossier).where(Dossier.code == week.codes["C"]))
        assert c.finished_at > c.original_due_at
        assert c.finished_at - timedelta(hours=48) <= c.original_due_at
        # The days are local: X ended on 1 November in Vietnam, 31 October in UTC.
        october = reports.on_time_rate(session, admin, date(2026, 10, 1), date(2026, 10, 31))
        assert (october.overall.total, october.overall.rate, october.units) == (0, None, [])
        first = reports.on_time_rate(session, admin, date(2026, 11, 1), date(2026, 11, 1))
        assert first.as_dict() == {
            "start": "2026-11-01",
            "end": "2026-11-01",
            "total": 1,
            "on_time": 0,
            "late": 1,
            "rate": 0.0,
            "units": [{"unit_code": OWN, "total": 1, "on_time": 0, "late": 1, "rate": 0.0}],
        }
        # Wednesday to Thursday: A (Wed), D (Wed, counted late), E (Thu).
        mid = reports.on_time_rate(session, admin, date(2026, 11, 4), date(2026, 11, 5))
        assert (mid.overall.total, mid.overall.on_time, mid.overall.late) == (3, 2, 1)
        other = reports.on_time_rate(session, admin, date(2026, 11, 1), date(2026, 11, 30), OTHER)
        assert (other.overall.total, other.overall.on_time) == (1, 1)
        with pytest.raises(InvalidInput) as exc:
            reports.on_time_rate(session, admin, date(2026, 11, 30), date(2026, 11, 1))
        assert exc.value.code == "range_invalid"


# -- deadlines ------------------------------------------------------------------------------


def test_overdue_lists_late_and_counted_overdue_but_not_a_stopped_clock(week: Desk) -> None:
    with _session(week) as session:
        items = {i.code: i for i in reports.overdue(session, BOOTSTRAP, NOW)}
        codes = week.codes
        assert set(items) == {codes["F"], codes["L"], codes["K"]}
        f = items[codes["F"]]
        assert (f.overdue_by, f.status, f.unit_code, f.holder_code) == (86400, 4, OWN, ECONOMY)
        assert f.due_at == at(11, 5, 17) and f.procedure_code == BUSINESS
        assert f.applicant_name == "Công dân F" and not f.counted_overdue
        k = items[codes["K"]]
        assert (k.overdue_by, k.status, k.counted_overdue) == (0, 5, True)
        assert items[codes["L"]].overdue_by == 86400
        # One second before Thursday 17:00 nothing is late yet but K.
        early = reports.overdue(session, BOOTSTRAP, at(11, 5, 17) - timedelta(seconds=1))
        assert [i.code for i in early] == [codes["K"]]
        mine = reports.overdue(session, BOOTSTRAP, NOW, unit_code=OTHER)
        assert [i.code for i in mine] == [codes["L"]]


def test_due_soon_counts_working_days(week: Desk) -> None:
    with _session(week) as session:
        calendar = _calendar(session, week)
        # Friday 17:00: the next working day is Monday; G is due Tuesday.
        assert reports.due_soon(session, BOOTSTRAP, NOW, calendar, 1) == []
        [g] = reports.due_soon(session, BOOTSTRAP, NOW, calendar, 2)
        assert (g.code, g.remaining, g.due_at) == (week.codes["G"], 4 * 86400, at(11, 10, 17))
        # Thursday noon, N = 0: due by tonight are F and L (A, B, C, D ended or asked twice).
        noon = at(11, 5, 12)
        today = reports.due_soon(session, BOOTSTRAP, noon, calendar, 0)
        assert {i.code: i.remaining for i in today} == {
            week.codes["F"]: 5 * 3600,
            week.codes["L"]: 5 * 3600,
        }
        with pytest.raises(InvalidInput):
            reports.due_soon(session, BOOTSTRAP, NOW, calendar, -1)


# -- processing time ------------------------------------------------------------------------


def test_processing_minutes_per_procedure(week: Desk) -> None:
    with _session(week) as session:
        calendar = _calendar(session, week)
        nov = (date(2026, 11, 1), date(2026, 11, 30))
        own = reports.processing_minutes(session, BOOTSTRAP, *nov, OWN, calendar=calendar)
        # A 2940, B 5790, C 6120, D 2790, X 7050 minutes; 2, 4, 4, 2, 3 working days.
        assert own == [
            reports.ProcedureTime(
                procedure_code=BIRTH,
                count=1,
                mean_minutes=180.0,
                median_minutes=180.0,
                mean_working_days=0.0,
            ),
            reports.ProcedureTime(
                procedure_code=BUSINESS,
                count=5,
                mean_minutes=4938.0,
                median_minutes=5790.0,
                mean_working_days=3.0,
            ),
        ]
        # With E (4680 minutes, 3 working days) of the other commune.
        every = reports.processing_minutes(session, BOOTSTRAP, *nov, calendar=calendar)
        assert every[1] == reports.ProcedureTime(
            procedure_code=BUSINESS,
            count=6,
            mean_minutes=4895.0,
            median_minutes=5235.0,
            mean_working_days=3.0,
        )
        assert (
            reports.processing_minutes(
                session, BOOTSTRAP, date(2026, 10, 1), date(2026, 10, 31), calendar=calendar
            )
            == []
        )


# -- scope ----------------------------------------------------------------------------------


def test_each_caller_sees_its_own_units(week: Desk) -> None:
    nov = (date(2026, 11, 1), date(2026, 11, 30))
    with _session(week) as session:
        calendar = _calendar(session, week)
        other = week.who["other.a"]
        assert [i.code for i in reports.overdue(session, other, NOW)] == [week.codes["L"]]
        rate = reports.on_time_rate(session, other, *nov)
        assert (rate.overall.total, [u.unit_code for u in rate.units]) == (1, [OTHER])
        assert reports.due_soon(session, other, NOW, calendar, 2) == []
        assert [
            p.count for p in reports.processing_minutes(session, other, *nov, calendar=calendar)
        ] == [1]
        with pytest.raises(NotFound):  # the other commune's figures are not even named
            reports.on_time_rate(session, other, *nov, unit_code=OWN)
        with pytest.raises(NotFound):
            reports.overdue(session, other, NOW, unit_code=OWN)
        # The auditor reads its province; one of another province reads nothing.
        audit = reports.on_time_rate(session, week.who["audit"], *nov)
        assert audit.overall.total == 7
        assert reports.on_time_rate(session, week.who["audit.b"], *nov).overall.total == 0
        assert reports.overdue(session, week.who["audit.b"], NOW) == []
        # An agency's lists are what it holds now. A harvester may not read reports at all.
        held = reports.overdue(session, week.who["kinhte"], NOW)
        assert held and {line.holder_code for line in held} == {week.who["kinhte"].unit_code}
        harvester = week.who["harvest"]
        for call in (
            lambda: reports.overdue(session, harvester, NOW),
            lambda: reports.due_soon(session, harvester, NOW, calendar, 1),
            lambda: reports.on_time_rate(session, harvester, *nov),
            lambda: reports.staffing(session, harvester, 2026, NORMS, today=NOW.date()),
            lambda: reports.processing_minutes(session, harvester, *nov, calendar=calendar),
            lambda: reports.queue_report(session, harvester, NOW.date(), OWN),
        ):
            with pytest.raises(Forbidden):
                call()


# -- staffing -------------------------------------------------------------------------------


def test_staffing_against_the_urban_norm(desk: Desk) -> None:
    with _session(desk) as session:
        proc = procedure_in_force(session, BUSINESS, date(2026, 1, 1))
        row = {
            "procedure_id": proc.id,
            "procedure_code": BUSINESS,
            "unit_code": OWN,
            "status": 10,
            "applicant_name": "Công dân",
            "applicant_id_type": "CCCD",
            "applicant_id_number": "001090000001",
            "created_by": "own.a",
        }
        rows = [{**row, "received_at": at(3, 2, 9) + timedelta(minutes=i)} for i in range(999)]
        # New Year's night in Vietnam: 00:30 on 1 January is 2026 (2025 in UTC); 23:30 on
        # 31 December is 2025.
        rows.append({**row, "received_at": datetime(2026, 1, 1, 0, 30, tzinfo=VN)})
        rows.append({**row, "received_at": datetime(2025, 12, 31, 23, 30, tzinfo=VN)})
        session.execute(insert(Dossier), rows)
    with _session(desk) as session:
        units = reports.staffing(session, BOOTSTRAP, 2026, NORMS, today=date(2026, 6, 30))
        by_code = {u.unit_code: u for u in units}
        assert set(by_code) == {"000.00.01.H99", OWN, OTHER, "000.00.18.H99", FOREIGN}
        own = by_code[OWN]
        assert (own.area, own.norm, own.received, own.staff) == ("urban", 1600, 1000, 2)
        assert (own.dossiers_per_staff, own.staff_implied) == (500.0, 1)
        # 181 days of 365 elapsed on 30 June: 1000 × 365 / 181 ≈ 2016.6 a year, two people.
        assert own.received_annualized == 1000 * 365 / 181
        assert own.staff_implied_annualized == 2
        rural = by_code[OTHER]
        assert (rural.norm, rural.received, rural.staff, rural.dossiers_per_staff) == (
            1200,
            0,
            1,
            0.0,
        )
        assert by_code["000.00.01.H99"].dossiers_per_staff is None  # nobody works there
        assert (rural.staff_implied, rural.staff_implied_annualized) == (0, 0)
        assert by_code["000.00.18.H99"].norm == 800
        past = {
            u.unit_code: u
            for u in reports.staffing(session, BOOTSTRAP, 2025, NORMS, today=date(2026, 6, 30))
        }
        assert past[OWN].received == 1
        assert (past[OWN].received_annualized, past[OWN].staff_implied_annualized) == (None, None)
        mine = reports.staffing(session, desk.who["own.a"], 2026, NORMS, today=date(2026, 6, 30))
        assert [u.unit_code for u in mine] == [OWN]
        with pytest.raises(InvalidInput):
            reports.staffing(session, BOOTSTRAP, 2026, {"urban": 1600}, today=date(2026, 6, 30))


# -- the queue ------------------------------------------------------------------------------


def test_queue_waits_against_the_target(desk: Desk) -> None:
    issued = [(8, 0), (8, 2), (8, 5), (8, 10), (8, 20), (8, 30)]
    called = [(8, 5), (8, 12), (8, 17), (8, 30), (8, 53)]  # waits 5, 10, 12, 20, 33 minutes
    own = desk.who["own.a"]
    ids = []
    with _session(desk) as session:
        for h, m in issued:
            ids.append(reports.issue_ticket(session, own, OWN, at(11, 6, h, m)).id)
        for ticket_id, (h, m) in zip(ids, called, strict=False):
            ticket = reports.call_ticket(session, own, ticket_id, at(11, 6, h, m))
            assert ticket.staff_id == "own.a"
        for ticket_id in ids[:4]:
            reports.serve_ticket(session, desk.who["own.b"], ticket_id, at(11, 6, 9))
    with _session(desk) as session:
        report = reports.queue_report(session, desk.who["audit"], date(2026, 11, 6), OWN)
        assert report == reports.QueueReport(
            unit_code=OWN,
            day=date(2026, 11, 6),
            issued=6,
            called=5,
            served=4,
            waiting=1,
            average_wait_minutes=16.0,
            p90_wait_minutes=33.0,
            within_target_share=0.6,
            target_minutes=15,
        )
        strict = reports.queue_report(session, own, date(2026, 11, 6), OWN, target_minutes=10)
        assert (strict.within_target_share, strict.target_minutes) == (0.4, 10)
        empty = reports.queue_report(session, own, date(2026, 11, 5), OWN)
        assert (empty.issued, empty.average_wait_minutes, empty.p90_wait_minutes) == (0, None, None)
        assert empty.within_target_share is None


def test_ticket_numbers_are_gap_free_per_unit_and_local_day(desk: Desk) -> None:
    own, other = desk.who["own.a"], desk.who["other.a"]
    with _session(desk) as session:
        numbers = [
            reports.issue_ticket(session, own, OWN, at(11, 6, 8, i)).number for i in range(3)
        ]
        assert numbers == [1, 2, 3]
        assert reports.issue_ticket(session, other, OTHER, at(11, 6, 8)).number == 1
    # A kiosk whose transaction fails gives its number back.
    with pytest.raises(RuntimeError), _session(desk) as session:
        reports.issue_ticket(session, own, OWN, at(11, 6, 9))
        raise RuntimeError("printer jammed")
    with _session(desk) as session:
        ticket = reports.issue_ticket(session, own, OWN, at(11, 6, 9, 1))
        assert (ticket.day, ticket.number) == ("261106", 4)
        # 00:10 on Saturday in Vietnam is still Friday in UTC: a new day, number 1.
        saturday = reports.issue_ticket(session, own, OWN, at(11, 7, 0, 10))
        assert (saturday.day, saturday.number) == ("261107", 1)
    with _session(desk) as session:
        rows = session.scalars(
            select(QueueTicket.number)
            .where(QueueTicket.unit_code == OWN, QueueTicket.day == "261106")
            .order_by(QueueTicket.number)
        )
        assert list(rows) == [1, 2, 3, 4]


def test_tickets_move_in_order_and_only_at_their_desk(desk: Desk) -> None:
    own, other = desk.who["own.a"], desk.who["other.a"]
    mine = desk.received("M", at(11, 6, 8))
    theirs = desk.received("T", at(11, 6, 8), counter="other.a")
    with _session(desk) as session:
        ticket = reports.issue_ticket(session, own, OWN, at(11, 6, 8))
        with pytest.raises(Conflict) as exc:
            reports.serve_ticket(session, own, ticket.id, at(11, 6, 8, 1))
        assert exc.value.code == "illegal_transition"
        with pytest.raises(NotFound):  # another commune's counter does not see it
            reports.call_ticket(session, other, ticket.id, at(11, 6, 8, 1))
        with pytest.raises(NotFound):
            reports.issue_ticket(session, other, OWN, at(11, 6, 8, 1))
        with pytest.raises(NotFound):
            reports.queue_report(session, other, date(2026, 11, 6), OWN)
        for role in ("kinhte", "audit", "harvest"):
            with pytest.raises(Forbidden):
                reports.issue_ticket(session, desk.who[role], OWN, at(11, 6, 8, 1))
        with pytest.raises(NotFound):  # an agency is no counter
            reports.issue_ticket(session, BOOTSTRAP, ECONOMY, at(11, 6, 8, 1))
        reports.call_ticket(session, own, ticket.id, at(11, 6, 8, 4))
        with pytest.raises(Conflict) as exc:
            reports.call_ticket(session, own, ticket.id, at(11, 6, 8, 5))
        assert exc.value.code == "illegal_transition"
        with pytest.raises(NotFound):  # a dossier of another commune
            reports.serve_ticket(session, own, ticket.id, at(11, 6, 8, 9), theirs)
        served = reports.serve_ticket(session, own, ticket.id, at(11, 6, 8, 9), mine)
        assert served.dossier_id is not None and served.served_at == at(11, 6, 8, 9)
        with pytest.raises(Conflict) as exc:
            reports.serve_ticket(session, own, ticket.id, at(11, 6, 8, 10))
        assert exc.value.code == "illegal_transition"
        with pytest.raises(ValueError, match="timezone-aware"):
            reports.issue_ticket(session, own, OWN, datetime(2026, 11, 6, 8))


# -- the API --------------------------------------------------------------------------------


@pytest.fixture
def client(week: Desk) -> TestClient:
    return TestClient(create_app(week.services))


ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_api_reports(week: Desk, client: TestClient) -> None:
    v1 = "/api/v1"
    body = client.get(f"{v1}/reports/on-time?start=2026-11-01&end=2026-11-30", headers=ADMIN)
    assert body.status_code == 200, body.text
    rate = body.json()
    assert (rate["total"], rate["on_time"], rate["late"], rate["rate"]) == (7, 4, 3, 4 / 7)
    assert [u["unit_code"] for u in rate["units"]] == [OWN, OTHER]

    overdue = client.get(f"{v1}/reports/overdue", headers=ADMIN).json()
    assert {i["code"]: i["overdue_by"] for i in overdue["items"]} == {
        week.codes["F"]: 86400,
        week.codes["L"]: 86400,
        week.codes["K"]: 0,
    }
    assert datetime.fromisoformat(overdue["at"]) == NOW

    soon = client.get(f"{v1}/reports/due-soon", headers=ADMIN).json()
    assert (soon["working_days"], soon["items"]) == (1, [])  # settings: 1 working day
    soon = client.get(f"{v1}/reports/due-soon?working_days=2", headers=ADMIN).json()
    assert [(i["code"], i["remaining"]) for i in soon["items"]] == [(week.codes["G"], 345600)]
    assert datetime.fromisoformat(soon["items"][0]["due_at"]) == at(11, 10, 17)

    staff = client.get(f"{v1}/reports/staffing?year=2026", headers=ADMIN).json()
    own = next(u for u in staff["items"] if u["unit_code"] == OWN)
    # Received at OWN in 2026: A B C D F G H K W X Y; R was refused, never received.
    assert (own["received"], own["staff"], own["norm"], own["staff_implied"]) == (11, 2, 1600, 1)
    assert own["received_annualized"] == 11 * 365 / 310  # 6 November: day 310
    assert staff["norms"] == NORMS

    times = client.get(
        f"{v1}/reports/processing-time?start=2026-11-01&end=2026-11-30&unit_code={OWN}",
        headers=ADMIN,
    ).json()
    assert [(i["procedure_code"], i["count"], i["median_minutes"]) for i in times["items"]] == [
        (BIRTH, 1, 180.0),
        (BUSINESS, 5, 5790.0),
    ]
    bad = client.get(f"{v1}/reports/on-time?start=2026-11-30&end=2026-11-01", headers=ADMIN)
    assert (bad.status_code, bad.json()["code"]) == (422, "range_invalid")

    # The other commune's counter sees only its own; naming OWN is a 404.
    theirs = week.headers("other.a")
    listed = client.get(f"{v1}/reports/overdue", headers=theirs).json()["items"]
    assert [i["code"] for i in listed] == [week.codes["L"]]
    hidden = client.get(
        f"{v1}/reports/on-time?start=2026-11-01&end=2026-11-30&unit_code={OWN}", headers=theirs
    )
    assert (hidden.status_code, hidden.json()["code"]) == (404, "unit_not_found")


def test_api_queue_and_a_harvester_is_refused(week: Desk, client: TestClient) -> None:
    v1, clerk = "/api/v1", week.headers("own.a")
    week.clock.at = at(11, 9, 8)
    first = client.post(f"{v1}/queue/{OWN}/tickets", headers=clerk)
    assert first.status_code == 201, first.text
    ticket = first.json()
    assert (ticket["number"], ticket["day"], ticket["called_at"]) == (1, "261109", None)
    assert client.post(f"{v1}/queue/{OWN}/tickets", headers=ADMIN).json()["number"] == 2

    early = client.post(f"{v1}/queue/tickets/{ticket['id']}/serve", headers=clerk)
    assert (early.status_code, early.json()["code"]) == (409, "illegal_transition")
    week.clock.at = at(11, 9, 8, 18)
    called = client.post(f"{v1}/queue/tickets/{ticket['id']}/call", headers=clerk).json()
    assert called["staff_id"] == "own.a"
    week.clock.at = at(11, 9, 8, 30)
    served = client.post(
        f"{v1}/queue/tickets/{ticket['id']}/serve",
        headers=clerk,
        json={"dossier_id": week.codes["G"]},
    ).json()
    assert served["served_at"] is not None and served["dossier_id"] is not None

    report = client.get(f"{v1}/reports/queue", headers=clerk).json()  # today, own unit
    assert report == {
        "unit_code": OWN,
        "day": "2026-11-09",
        "issued": 2,
        "called": 1,
        "served": 1,
        "waiting": 1,
        "average_wait_minutes": 18.0,
        "p90_wait_minutes": 18.0,
        "within_target_share": 0.0,
        "target_minutes": 15,
    }
    other = client.post(f"{v1}/queue/tickets/{ticket['id']}/call", headers=week.headers("other.a"))
    assert (other.status_code, other.json()["code"]) == (404, "ticket_not_found")

    harvester = week.headers("harvest")
    for method, path in (
        ("get", "/reports/overdue"),
        ("get", "/reports/due-soon"),
        ("get", "/reports/on-time?start=2026-11-01&end=2026-11-30"),
        ("get", "/reports/staffing"),
        ("get", "/reports/processing-time?start=2026-11-01&end=2026-11-30"),
        ("get", f"/reports/queue?unit_code={OWN}"),
        ("get", "/reports/queue"),
        ("post", f"/queue/{OWN}/tickets"),
        ("post", f"/queue/tickets/{ticket['id']}/call"),
    ):
        resp = getattr(client, method)(v1 + path, headers=harvester)
        assert (resp.status_code, resp.json()["code"]) == (403, "role_forbidden"), path


def test_api_staffing_norm_comes_from_settings(make_settings: Callable[..., Any]) -> None:
    services = build(make_settings(sign_forms=False, staff_norm_urban=5))
    try:
        make_week(make_desk(services))
        body = (
            TestClient(create_app(services)).get("/api/v1/reports/staffing", headers=ADMIN).json()
        )
        assert body["year"] == 2026 and body["norms"]["urban"] == 5
        own = next(u for u in body["items"] if u["unit_code"] == OWN)
        assert (own["received"], own["staff_implied"]) == (11, 3)  # ceil(11 / 5)
        assert own["staff_implied_annualized"] == 3  # ceil(11 × 365 / 310 / 5) = ceil(2.59)
    finally:
        services.engine.dispose()


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_on_time_rate_on_postgresql(make_settings: Callable[..., Any], pg_database: str) -> None:
    services = build(make_settings(sign_forms=False, database_url=pg_database))
    try:
        week = make_week(make_desk(services))
        with _session(week) as session:
            nov = (date(2026, 11, 1), date(2026, 11, 30))
            _assert_november(reports.on_time_rate(session, BOOTSTRAP, *nov))
            first = reports.on_time_rate(session, BOOTSTRAP, date(2026, 11, 1), date(2026, 11, 1))
            assert (first.overall.total, first.overall.late) == (1, 1)
            overdue = {i.code for i in reports.overdue(session, BOOTSTRAP, NOW)}
            assert overdue == {week.codes["F"], week.codes["L"], week.codes["K"]}
            numbers = [
                reports.issue_ticket(session, week.who["own.a"], OWN, at(11, 6, 8, i)).number
                for i in range(3)
            ]
            assert numbers == [1, 2, 3]
    finally:
        services.engine.dispose()
