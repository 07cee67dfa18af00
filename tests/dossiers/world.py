"""A small province for counter tests: the sample catalog, two communes, agencies, and one
staff member (with a token) per role and unit, behind a clock the test can move."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dossiers.access import BOOTSTRAP, Principal, principal_for
from dossiers.admin import staffing
from dossiers.admin.catalog import import_catalog, sample_catalog
from dossiers.fees.cashier import PaymentTaken
from dossiers.models import Staff
from storage.db import session_scope
from wiring.factory import enroll_dev_clerk

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OWN = "000.00.16.H99"  # UBND phường Hòa Bình
OTHER = "000.00.17.H99"  # UBND xã Tân Lập
FOREIGN = "000.00.16.H98"  # a unit of another province
JUSTICE = "000.20.16.H99"  # tư pháp - hộ tịch, competent for civil status
ECONOMY = "000.21.16.H99"
LAND = "000.00.12.H99"
TAX = "000.00.13.H99"

# staff id -> (name, role, unit, employer)
STAFF = {
    "lan.nt": ("Nguyễn Thị Lan", "counter", OWN, "postal"),
    "minh.tv": ("Trần Văn Minh", "counter", OTHER, "postal"),
    "cong.ch": ("Lê Công Chức", "counter", OWN, "civil_servant"),
    "tuphap": ("Phạm Tư Pháp", "agency", JUSTICE, "civil_servant"),
    "kinhte": ("Vũ Kinh Tế", "agency", ECONOMY, "civil_servant"),
    "vpdk": ("Đỗ Văn Đất", "agency", LAND, "civil_servant"),
    "thue": ("Hoàng Thị Thuế", "agency", TAX, "civil_servant"),
    "harvest": ("CSDL tỉnh", "harvester", None, "civil_servant"),
    "kiemtra": ("Kiểm Tra Viên", "auditor", OWN, "civil_servant"),
    "kiemtra.b": ("Kiểm Tra Tỉnh Khác", "auditor", FOREIGN, "civil_servant"),
    "quantri": ("Quản Trị", "admin", None, "civil_servant"),
}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


@dataclass
class World:
    services: Any
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    def principal(self, staff_id: str) -> Principal:
        with session_scope(self.services.sessions) as session:
            staff = session.get(Staff, staff_id)
            assert staff is not None
            return principal_for(session, staff, today=self.clock().astimezone(VN).date())

    def headers(self, staff_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[staff_id]}"}


def make_world(services: Any, start: datetime) -> World:
    clock = Clock(start)
    services.clock = clock
    today = start.astimezone(VN).date()
    world = World(services, clock)
    with session_scope(services.sessions) as session:
        import_catalog(session, sample_catalog(), today=today)
        staffing.create_unit(
            session,
            BOOTSTRAP,
            code=FOREIGN,
            name="UBND phường Khác",
            kind="one_stop",
            level="commune",
            valid_from=date(2025, 7, 1),
        )
        # The district plan: postal staff take civil status and land from 2025-08-01;
        # certification stays with the civil servants.
        for field_code in ("G15-HT", "G10-DD", "G12-HKD"):
            staffing.plan_postal(
                session,
                BOOTSTRAP,
                unit_code=OWN,
                field_code=field_code,
                procedure_code=None,
                postal_from=date(2025, 8, 1),
            )
            staffing.plan_postal(
                session,
                BOOTSTRAP,
                unit_code=OTHER,
                field_code=field_code,
                procedure_code=None,
                postal_from=date(2025, 8, 1),
            )
        staffing.plan_postal(
            session,
            BOOTSTRAP,
            unit_code=OWN,
            field_code="G15-CT",
            procedure_code=None,
            postal_from=None,
            note="same-day certification stays with civil servants",
        )
        for unit, symbol in ((OWN, "BL-26E"), (OTHER, "BL-26T")):
            staffing.register_series(
                session,
                BOOTSTRAP,
                unit_code=unit,
                form_symbol="01BLP0-001",
                series=symbol,
                collector_name="Văn phòng Đăng ký đất đai tỉnh Mẫu",
                collector_tax_code="0109999999",
                collector_address="Thành phố Mẫu",
                issuer_tax_code="0108888888",
                mandate="Ủy nhiệm lập biên lai cho Bưu điện tỉnh Mẫu (mẫu)",
                valid_from=date(2025, 1, 1),
            )
        for staff_id, (name, role, unit, employer) in STAFF.items():
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id=staff_id,
                name=name,
                role=role,
                unit_code=unit,
                employer=employer,
                today=today,
            )
        session.flush()
        for staff_id in STAFF:
            world.tokens[staff_id] = staffing.new_token(session, BOOTSTRAP, staff_id)
    for staff_id, (name, role, _, _) in STAFF.items():
        if role == "counter":
            enroll_dev_clerk(services.settings, staff_id, name)
    return world


def pay_fees(world: World, staff_id: str, ref: str, method: str = "cash") -> PaymentTaken:
    """Take whatever the dossier owes now, as the counter does before routing it."""
    return world.services.cashier.pay(world.principal(staff_id), ref, method=method)


BUSINESS = ("2.000720", {"giay_de_nghi": 1, "ban_sao_cccd": 1})  # a business registration


def received_dossier(
    world: World,
    clerk_id: str = "cong.ch",
    name: str = "Đặng Văn Hải",
    id_number: str = "001090099999",
) -> str:
    """A business registration created, its papers checked and received at ``clerk_id``'s
    counter: the dossier's id, with its reception events in the outbox."""
    from dossiers.workflow.service import ApplicantIn

    clerk = world.principal(clerk_id)
    svc = world.services.dossiers
    code, papers = BUSINESS
    ref = svc.create(clerk, procedure_code=code, applicant=ApplicantIn(name, "CCCD", id_number))
    svc.check_components(clerk, ref, papers)
    svc.receive(clerk, ref)
    return str(ref)
