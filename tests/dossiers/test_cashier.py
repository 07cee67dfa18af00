"""Payments and receipts on PostgreSQL: numbers gap-free under concurrent issuing, voids and
replacements, status 6, and a daily reconciliation whose totals match the payments."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

import pytest

from dossiers.errors import Conflict, InvalidInput
from dossiers.fees.cashier import Payer
from dossiers.fees.receipts_doc import parse_receipt_xml
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import OWN, VN, make_world
from wiring.factory import build

DAY = datetime(2026, 11, 27, 9, 0, tzinfo=VN)
BUSINESS = {"giay_de_nghi": 1, "ban_sao_cccd": 1}


def _received(world, n: int, clerk: str = "lan.nt") -> str:  # type: ignore[no-untyped-def]
    svc, who = world.services.dossiers, world.principal(clerk)
    ref = svc.create(
        who,
        procedure_code="2.000720",
        applicant=ApplicantIn(f"Hộ kinh doanh {n}", "CCCD", f"0011900{n:05d}"),
    )
    svc.check_components(who, ref, BUSINESS)
    svc.receive(who, ref)
    return ref


@pytest.mark.postgres
def test_concurrent_receipts_are_numbered_without_gaps(make_settings, pg_database) -> None:
    services = build(make_settings(database_url=pg_database))
    world = make_world(services, DAY)
    refs = [_received(world, n) for n in range(24)]
    clerk = world.principal("lan.nt")

    def pay(ref: str) -> int:
        return services.cashier.pay(clerk, ref, method="cash").receipt.number

    with ThreadPoolExecutor(max_workers=12) as pool:
        numbers = sorted(pool.map(pay, refs))
    assert numbers == list(range(1, 25))
    # The series stays gap-free when an issue fails after taking its number.
    with pytest.raises(Conflict):
        services.cashier.pay(clerk, refs[0], method="cash")  # nothing due any more
    assert pay(_received(world, 99)) == 25
    services.engine.dispose()


@pytest.mark.postgres
def test_reconciliation_matches_the_payments(make_settings, pg_database) -> None:
    services = build(make_settings(database_url=pg_database))
    world = make_world(services, DAY)
    cashier = services.cashier
    lan, cong = world.principal("lan.nt"), world.principal("cong.ch")
    a, b, c, d = (
        _received(world, n, clerk)
        for n, clerk in ((1, "lan.nt"), (2, "lan.nt"), (3, "cong.ch"), (4, "lan.nt"))
    )
    first = cashier.pay(lan, a, method="cash", payer=Payer("Nguyen Van A")).receipt
    cashier.pay(lan, b, method="transfer", reference="FT2611270001")
    cashier.pay(cong, c, method="cash")
    refund = cashier.pay(lan, d, method="cash").receipt
    # A wrong payer name: void and replace (the fees stay paid).
    swap = cashier.void(
        lan,
        first.id,
        reason="Sai tên người nộp",
        replace_with=Payer("Nguyễn Văn An", "12 Lê Lợi"),
    )
    assert swap.voided.status == "voided"
    assert swap.replacement is not None
    assert swap.replacement.replaces_id == first.id
    # Money given back: void without replacement, the fee is due again.
    cashier.void(lan, refund.id, reason="Công dân rút hồ sơ, hoàn tiền")
    assert [f.status for f in cashier.fees(lan, d)] == ["due"]
    with pytest.raises(Conflict):
        cashier.void(lan, refund.id, reason="again")
    with pytest.raises(InvalidInput):
        cashier.void(lan, swap.replacement.id, reason=" ")

    day = DAY.date()
    everyone = cashier.reconciliation(lan, OWN, day)
    assert (everyone.issued, everyone.voided) == (3, 2)
    assert everyone.totals == {"cash": 200_000, "transfer": 100_000}
    assert everyone.payments == everyone.totals and everyone.balanced
    mine = cashier.reconciliation(lan, OWN, day, staff_id="lan.nt")
    assert mine.totals == {"cash": 100_000, "transfer": 100_000} and mine.balanced
    assert cashier.reconciliation(lan, OWN, date(2026, 11, 28)).total == 0
    # The replacement's XML names the receipt it replaces.
    xml = services.store.open(
        f"receipts/{_series_id(services)}/{swap.replacement.number:07d}.xml"
    ).read()
    parsed = parse_receipt_xml(xml)
    assert parsed["payer"]["name"] == "Nguyễn Văn An"
    assert parsed["related"]["number"] == first.number and parsed["related"]["kind"] == 1
    services.engine.dispose()


def test_status_six_until_the_fees_are_paid(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    world = make_world(services, DAY)
    clerk, economy = world.principal("lan.nt"), world.principal("kinhte")
    ref = _received(world, 1)
    assert services.dossiers.route(clerk, ref) is None
    with session_scope(services.sessions) as session:
        assert services.dossiers.find(session, clerk, ref).status == Status.AWAITING_PAYMENT
    services.cashier.pay(clerk, ref, method="cash")
    assert services.dossiers.route(clerk, ref) == "000.21.16.H99"
    services.dossiers.take(economy, ref)
    # The agency assesses an obligation: status 6 again, back to 4 once paid.
    services.cashier.request_payment(
        economy, ref, items=[("Lệ phí môn bài", 300_000)], reason="Nghĩa vụ tài chính"
    )
    with session_scope(services.sessions) as session:
        assert services.dossiers.find(session, clerk, ref).status == Status.AWAITING_PAYMENT
    paid = services.cashier.pay(clerk, ref, method="transfer")
    assert paid.status == Status.PROCESSING and paid.receipt.amount == 300_000
    assert paid.receipt.amount_words == "Ba trăm nghìn đồng"


def test_no_series_no_receipt(make_settings) -> None:
    services = build(make_settings(sign_forms=False))
    world = make_world(services, DAY)
    ref = _received(world, 1, clerk="minh.tv")
    with session_scope(services.sessions) as session:
        from dossiers.models import ReceiptSeries

        for row in session.query(ReceiptSeries).filter_by(unit_code="000.00.17.H99"):
            row.valid_to = date(2026, 1, 1)
    with pytest.raises(Conflict) as exc:
        services.cashier.pay(world.principal("minh.tv"), ref, method="cash")
    assert exc.value.code == "no_receipt_series"
    # Nothing was recorded: the fee is still due.
    assert [f.status for f in services.cashier.fees(world.principal("minh.tv"), ref)] == ["due"]


def _series_id(services) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from dossiers.models import ReceiptSeries

    with session_scope(services.sessions) as session:
        return session.scalar(select(ReceiptSeries.id).where(ReceiptSeries.unit_code == OWN))
