"""The district plan for handing counters to the postal service: fields by date, probation under
a supervising civil servant, backups, merged units. Plus the status machine's refusals."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    IncompleteDossier,
    InvalidInput,
    NotFound,
)
from dossiers.workflow.lifecycle import TRANSITIONS, Status, next_status
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import OTHER, OWN, VN, make_world
from wiring.factory import build

START = datetime(2026, 11, 27, 9, 0, tzinfo=VN)
BIRTH = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}


@pytest.fixture
def world(make_settings):  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    return make_world(services, START)


def _applicant(n: int = 0) -> ApplicantIn:
    return ApplicantIn("Trần Thị Bình", "CCCD", f"0010900{n:05d}")


def test_postal_staff_take_only_handed_fields(world) -> None:  # type: ignore[no-untyped-def]
    svc, postal, civil = (
        world.services.dossiers,
        world.principal("lan.nt"),
        world.principal("cong.ch"),
    )
    svc.create(postal, procedure_code="1.001193", applicant=_applicant())  # civil status: handed
    with pytest.raises(Forbidden) as exc:
        svc.create(postal, procedure_code="2.000815", applicant=_applicant())  # certification
    assert exc.value.code == "not_handed_to_postal"
    svc.create(civil, procedure_code="2.000815", applicant=_applicant())  # civil servant may
    # A field handed over from a future date is not yet the postal staff's.
    with session_scope(world.services.sessions) as session:
        staffing.plan_postal(
            session,
            BOOTSTRAP,
            unit_code=OWN,
            field_code="G17-XD",
            procedure_code=None,
            postal_from=date(2027, 1, 1),
        )
    with pytest.raises(Forbidden, match="from 2027-01-01"):
        svc.create(postal, procedure_code="1.009994", applicant=_applicant())
    world.clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=VN))
    svc.create(postal, procedure_code="1.009994", applicant=_applicant())


def test_probation_needs_the_supervisors_confirmation(world) -> None:  # type: ignore[no-untyped-def]
    services, svc = world.services, world.services.dossiers
    with session_scope(services.sessions) as session:
        with pytest.raises(InvalidInput, match="two months"):
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id="tap.su",
                name="Tập Sự",
                role="counter",
                unit_code=OWN,
                employer="postal",
                probation_until=date(2027, 3, 1),
                supervisor_id="cong.ch",
                today=START.date(),
            )
        with pytest.raises(InvalidInput, match="supervising civil servant"):
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id="tap.su",
                name="Tập Sự",
                role="counter",
                unit_code=OWN,
                employer="postal",
                probation_until=date(2027, 1, 20),
                supervisor_id="lan.nt",
                today=START.date(),
            )
    with session_scope(services.sessions) as session:
        staffing.create_staff(
            session,
            BOOTSTRAP,
            staff_id="tap.su",
            name="Tập Sự",
            role="counter",
            unit_code=OWN,
            employer="postal",
            probation_until=date(2027, 1, 20),
            supervisor_id="cong.ch",
            today=START.date(),
        )
    trainee = world.principal("tap.su")
    assert trainee.on_probation
    ref = svc.create(trainee, procedure_code="1.001193", applicant=_applicant())
    svc.check_components(trainee, ref, BIRTH)
    assert svc.receive(trainee, ref).pending_confirmation is True
    with session_scope(services.sessions) as session:
        d = svc.find(session, trainee, ref)
        assert d.status == Status.NEW and d.code is None and d.pending_reception_by == "tap.su"
    with pytest.raises(Forbidden):  # another postal clerk is not the supervisor
        svc.confirm_reception(world.principal("lan.nt"), ref)
    svc.confirm_reception(world.principal("cong.ch"), ref)
    with session_scope(services.sessions) as session:
        d = svc.find(session, trainee, ref)
        assert d.status == Status.RECEIVED and d.code == f"{OWN}-261127-0001"
        assert (d.received_by, d.confirmed_by) == ("tap.su", "cong.ch")
    with session_scope(services.sessions) as session:
        with pytest.raises(Forbidden):
            staffing.evaluate_probation(
                session, world.principal("lan.nt"), "tap.su", passed=True, note="tốt", now=START
            )
        staff = staffing.evaluate_probation(
            session,
            world.principal("cong.ch"),
            "tap.su",
            passed=True,
            note="Tiếp nhận đúng quy trình",
            now=START,
        )
        assert staff.probation_evaluation["result"] == "passed"
    assert not world.principal("tap.su").on_probation


def test_a_backup_covers_the_counter_only_while_assigned(world) -> None:  # type: ignore[no-untyped-def]
    svc = world.services.dossiers
    ref = svc.create(world.principal("lan.nt"), procedure_code="1.001193", applicant=_applicant())
    with session_scope(world.services.sessions) as session, pytest.raises(NotFound):
        svc.find(session, world.principal("minh.tv"), ref)
    with session_scope(world.services.sessions) as session:
        staffing.assign_backup(
            session,
            BOOTSTRAP,
            unit_code=OWN,
            staff_id="minh.tv",
            covers_staff_id="lan.nt",
            valid_from=date(2026, 11, 27),
            valid_to=date(2026, 11, 30),
        )
    backup = world.principal("minh.tv")
    svc.check_components(backup, ref, BIRTH)
    svc.receive(backup, ref)
    world.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=VN))
    with session_scope(world.services.sessions) as session, pytest.raises(NotFound):
        svc.find(session, world.principal("minh.tv"), ref)


def test_a_merged_units_dossiers_keep_their_codes(world) -> None:  # type: ignore[no-untyped-def]
    svc = world.services.dossiers
    minh = world.principal("minh.tv")
    ref = svc.create(minh, procedure_code="1.001193", applicant=_applicant())
    svc.check_components(minh, ref, BIRTH)
    svc.receive(minh, ref)
    with session_scope(world.services.sessions) as session:
        code = svc.find(session, minh, ref).code
        staffing.merge_units(session, BOOTSTRAP, absorbed=OTHER, into=OWN, on=date(2026, 12, 1))
    assert code == f"{OTHER}-261127-0001"
    world.clock.set(datetime(2026, 12, 1, 8, 0, tzinfo=VN))
    # The successor's counter now works on it, under its old code.
    with session_scope(world.services.sessions) as session:
        assert svc.find(session, world.principal("lan.nt"), code).unit_code == OTHER
    svc.route(world.principal("lan.nt"), code)
    # New dossiers cannot be opened at the closed unit.
    with pytest.raises(Conflict) as exc:
        svc.create(minh, procedure_code="1.001193", applicant=_applicant(1))
    assert exc.value.code == "unit_closed" and exc.value.extra["successor"] == OWN
    new = svc.create(world.principal("lan.nt"), procedure_code="1.001193", applicant=_applicant(2))
    svc.check_components(world.principal("lan.nt"), new, BIRTH)
    svc.receive(world.principal("lan.nt"), new)
    with session_scope(world.services.sessions) as session:
        assert svc.find(session, BOOTSTRAP, new).code == f"{OWN}-261201-0001"


def test_the_postal_contact_is_recorded(world) -> None:  # type: ignore[no-untyped-def]
    with session_scope(world.services.sessions) as session:
        unit = staffing.set_postal_contact(
            session,
            BOOTSTRAP,
            OWN,
            {
                "name": "Lê Bưu Điện",
                "phone": "0243000000",
                "enterprise": "Bưu điện tỉnh Mẫu",
                "password": "dropped",
            },
        )
        assert unit.postal_contact == {
            "name": "Lê Bưu Điện",
            "phone": "0243000000",
            "enterprise": "Bưu điện tỉnh Mẫu",
        }


def test_refusal_and_supplement_at_the_counter(world) -> None:  # type: ignore[no-untyped-def]
    svc, clerk = world.services.dossiers, world.principal("lan.nt")
    ref = svc.create(clerk, procedure_code="1.001193", applicant=_applicant())
    with pytest.raises(IncompleteDossier) as exc:
        svc.receive(clerk, ref)
    assert [m["key"] for m in exc.value.extra["missing"]] == [
        "giay_chung_sinh",
        "giay_to_tuy_than",
        "to_khai",
    ]
    svc.request_supplement(clerk, ref, items=["Giấy chứng sinh"], reason="Chưa mang theo")
    with pytest.raises(IllegalTransition):
        svc.receive(clerk, ref)
    svc.supplement(clerk, ref)
    svc.check_components(clerk, ref, BIRTH)
    svc.receive(clerk, ref)
    other = svc.create(clerk, procedure_code="1.001193", applicant=_applicant(3))
    with pytest.raises(InvalidInput):
        svc.refuse(clerk, other, "   ")
    svc.refuse(clerk, other, "Không thuộc thẩm quyền")
    with pytest.raises(IllegalTransition) as refused:
        svc.check_components(clerk, other, BIRTH) or svc.receive(clerk, other)
    assert refused.value.http_status == 409


def test_a_second_agency_supplement_counts_the_dossier_overdue(world) -> None:  # type: ignore[no-untyped-def]
    svc, clerk, justice = (
        world.services.dossiers,
        world.principal("lan.nt"),
        world.principal("tuphap"),
    )
    ref = svc.create(clerk, procedure_code="1.001193", applicant=_applicant())
    svc.check_components(clerk, ref, BIRTH)
    svc.receive(clerk, ref)
    svc.route(clerk, ref)
    for _ in range(2):
        svc.take(justice, ref)
        result = svc.request_supplement(justice, ref, items=["Tờ khai"], reason="Sai thông tin")
        svc.supplement(clerk, ref)
    assert result.counted_overdue is True


def test_every_transition_outside_the_table_is_refused() -> None:
    refused = 0
    for action, table in TRANSITIONS.items():
        for status in Status:
            if status in table:
                assert next_status(action, status) == table[status]
            else:
                with pytest.raises(IllegalTransition):
                    next_status(action, status)
                refused += 1
    assert refused > 100
    # Final states go nowhere.
    for final in (Status.REFUSED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED):
        assert not any(final in table for table in TRANSITIONS.values())


def test_a_received_dossier_keeps_its_code_through_a_counter_supplement(world) -> None:  # type: ignore[no-untyped-def]
    svc, clerk = world.services.dossiers, world.principal("lan.nt")
    ref = svc.create(
        clerk,
        procedure_code="2.000720",
        applicant=ApplicantIn("Võ Thị Mai", "CCCD", "001190001111"),
    )
    svc.check_components(clerk, ref, {"giay_de_nghi": 1, "ban_sao_cccd": 1})
    svc.receive(clerk, ref)
    with session_scope(world.services.sessions) as session:
        code = svc.find(session, clerk, ref).code
    svc.request_supplement(clerk, ref, items=["Bản sao CCCD rõ nét"], reason="Bản sao mờ")
    world.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=VN))  # Monday
    svc.supplement(clerk, ref)
    with session_scope(world.services.sessions) as session:
        d = svc.find(session, clerk, ref)
        assert (d.status, d.code) == (Status.RECEIVED, code)
        # Three working days from the day the papers came back.
        assert d.due_at == datetime(2026, 12, 3, 17, 0, tzinfo=VN)
        assert d.original_due_at == datetime(2026, 12, 2, 17, 0, tzinfo=VN)


def test_an_agency_lists_the_overdue_dossiers_it_holds(world) -> None:  # type: ignore[no-untyped-def]
    from dossiers.admin import reports

    svc, clerk = world.services.dossiers, world.principal("lan.nt")
    ref = svc.create(clerk, procedure_code="1.001193", applicant=_applicant())
    svc.check_components(clerk, ref, BIRTH)
    svc.receive(clerk, ref)
    svc.route(clerk, ref)
    world.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=VN))
    with session_scope(world.services.sessions) as session:
        mine = reports.overdue(session, world.principal("tuphap"), world.clock())
        theirs = reports.overdue(session, world.principal("kinhte"), world.clock())
    assert [line.id for line in mine] == [ref] and theirs == []
