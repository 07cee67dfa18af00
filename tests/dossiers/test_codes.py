"""Dossier codes: <unit>-<YYMMDD>-<NNNN>, unique and gap-free under concurrent receptions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from dossiers.errors import InvalidInput, SequenceExhausted
from dossiers.workflow.codes import DailySequenceCode, make_generator
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import OWN, VN, make_world
from wiring.factory import build

RECEIVED = datetime(2026, 11, 27, 9, 30, tzinfo=VN)
PAPERS = {"to_khai": 1, "giay_chung_sinh": 1, "giay_to_tuy_than": 1}


def _open(world, clerk, n: int) -> list[str]:
    svc = world.services.dossiers
    ids = []
    for i in range(n):
        ident = f"0010900{i:05d}"
        ids.append(
            svc.create(
                clerk,
                procedure_code="1.001193",
                applicant=ApplicantIn(f"Công dân {i}", "CCCD", ident),
            )
        )
        svc.check_components(clerk, ids[-1], PAPERS)
    return ids


@pytest.mark.postgres
def test_fifty_concurrent_receptions_are_unique_and_gap_free(make_settings, pg_database):
    services = build(make_settings(database_url=pg_database, sign_forms=False))
    world = make_world(services, RECEIVED)
    clerk = world.principal("lan.nt")
    ids = _open(world, clerk, 50)

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(lambda i: services.dossiers.receive(clerk, i), ids))

    with session_scope(services.sessions) as session:
        codes = sorted(services.dossiers.find(session, clerk, i).code for i in ids)
    assert codes == [f"{OWN}-261127-{n:04d}" for n in range(1, 51)]
    services.engine.dispose()


def test_a_rolled_back_reception_gives_its_number_back(make_settings):
    services = build(make_settings(sign_forms=False))
    make_world(services, RECEIVED)
    gen = DailySequenceCode()
    with session_scope(services.sessions) as session:
        assert gen.next_code(session, OWN, RECEIVED) == f"{OWN}-261127-0001"
    with pytest.raises(RuntimeError), session_scope(services.sessions) as session:
        assert gen.next_code(session, OWN, RECEIVED) == f"{OWN}-261127-0002"
        raise RuntimeError("reception failed after the number was taken")
    with session_scope(services.sessions) as session:
        assert gen.next_code(session, OWN, RECEIVED) == f"{OWN}-261127-0002"
        # The sequence is per unit and per local day: 23:30 UTC is already the next day here.
        assert gen.next_code(session, "000.00.17.H99", RECEIVED) == "000.00.17.H99-261127-0001"
        late = datetime(2026, 11, 27, 17, 30, tzinfo=VN).replace(tzinfo=None)
        with pytest.raises(ValueError):
            gen.next_code(session, OWN, late)
        utc_next_day = datetime.fromisoformat("2026-11-27T18:30:00+00:00")
        assert gen.next_code(session, OWN, utc_next_day) == f"{OWN}-261128-0001"


def test_the_daily_sequence_stops_at_9999(make_settings):
    services = build(make_settings(sign_forms=False))
    make_world(services, RECEIVED)
    from dossiers.models import CodeCounter

    with session_scope(services.sessions) as session:
        session.add(CodeCounter(scope=f"dossier:{OWN}", day="261127", last=9998))
    with session_scope(services.sessions) as session:
        assert DailySequenceCode().next_code(session, OWN, RECEIVED).endswith("-9999")
    with pytest.raises(SequenceExhausted), session_scope(services.sessions) as session:
        DailySequenceCode().next_code(session, OWN, RECEIVED)


def test_the_generator_is_chosen_by_name():
    assert make_generator("tt01-2018").name == "tt01-2018"
    with pytest.raises(InvalidInput):
        make_generator("tt03-2025")
