"""The demonstration desk of ``sohoa run`` on the SAMPLE catalog: one person per desk, so a first
start can be tried in the browser at once — a postal clerk at the sample ward's counter, the
civil-status officer the ward routes births to, an auditor. Made only beside the sample catalog
(fictitious province H99), never on a real one; each start gives the three fresh tokens and
revokes the previous start's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.models import ReceiptSeries, Staff
from storage.db import session_scope

WARD = "000.00.16.H99"  # UBND phường Hòa Bình - Bộ phận Một cửa (sample)
JUSTICE = "000.20.16.H99"  # its civil-status officer (sample)
# staff id: (name, role, unit, employer)
PEOPLE = {
    "demo.quay": ("Nguyễn Thị Mẫu (bưu điện)", "counter", WARD, "postal"),
    "demo.tuphap": ("Trần Văn Mẫu (tư pháp)", "agency", JUSTICE, "civil_servant"),
    "demo.kiemtra": ("Lê Thị Mẫu (kiểm tra)", "auditor", WARD, "civil_servant"),
}
DEMO_LABEL = "demo desk"


@dataclass(frozen=True)
class DemoDesk:
    tokens: dict[str, str]  # staff id -> a token valid until the next start


def open_demo_desk(services) -> DemoDesk:  # type: ignore[no-untyped-def]
    """Create the demo people (once) and give each a fresh token."""
    today = services.dossiers.today()
    now = services.clock()
    tokens: dict[str, str] = {}
    with session_scope(services.sessions) as session:
        for staff_id, (name, role, unit, employer) in PEOPLE.items():
            if session.get(Staff, staff_id) is None:
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
        # Postal staff take civil status, land and household business at the sample ward.
        for field_code in ("G15-HT", "G10-DD", "G12-HKD"):
            staffing.plan_postal(
                session,
                BOOTSTRAP,
                unit_code=WARD,
                field_code=field_code,
                procedure_code=None,
                postal_from=date(2025, 7, 1),
            )
        if session.scalar(select(ReceiptSeries.id).where(ReceiptSeries.unit_code == WARD)) is None:
            staffing.register_series(
                session,
                BOOTSTRAP,
                unit_code=WARD,
                form_symbol="01BLP0-001",
                series="MAU-26E",
                collector_name="Văn phòng Đăng ký đất đai tỉnh Mẫu (mẫu)",
                collector_tax_code="0109999999",
                issuer_tax_code="0108888888",
                mandate="Ủy nhiệm lập biên lai cho Bưu điện tỉnh Mẫu (mẫu)",
                valid_from=date(2025, 1, 1),
            )
        session.flush()
        for staff_id in PEOPLE:
            staffing.revoke_tokens(session, BOOTSTRAP, staff_id, now=now)
            tokens[staff_id] = staffing.new_token(session, BOOTSTRAP, staff_id, label=DEMO_LABEL)
    for staff_id, (name, role, _unit, _employer) in PEOPLE.items():
        if role == "counter":
            services.enroll_clerk(staff_id, name)
    return DemoDesk(tokens)
