"""The audit log on SQLite and PostgreSQL: the triggers refuse edits, and when the database owner
goes around them, the hash chain still names the first event that was edited or deleted."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from dossiers import audit
from dossiers.access import BOOTSTRAP, Principal
from dossiers.audit import AuditEvent, ChainReport, list_events, record, verify_chain
from dossiers.errors import Forbidden, InvalidInput
from dossiers.models import Dossier, Procedure, Unit
from storage import db

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=VN)
OWN, FOREIGN = "000.00.16.H99", "000.00.16.H98"
A, B = "dossier-own", "dossier-foreign"  # A in province H99, B in H98
N = 50

AUDITOR = Principal("kiemtra", "Kiểm Tra Viên", "auditor", OWN, province_code="H99")
AUDITOR_B = Principal("kiemtra.b", "Kiểm Tra Tỉnh Khác", "auditor", FOREIGN, province_code="H98")
COUNTER = Principal("lan.nt", "Nguyễn Thị Lan", "counter", OWN, province_code="H99")
AGENCY = Principal("tuphap", "Phạm Tư Pháp", "agency", "000.20.16.H99", province_code="H99")
ACTIONS = ("dossier.receive", "document.signed", "document.download", "personal_data.read")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    db.upgrade(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    factory = db.make_sessionmaker(engine)
    with db.session_scope(factory) as s:
        s.add(_unit(OWN, "H99"))
        s.add(_unit(FOREIGN, "H98"))
        s.add(
            Procedure(
                id="proc",
                code="1.001193",
                version=1,
                effective_from=date(2025, 1, 1),
                name="Đăng ký khai sinh",
                field_code="G15-HT",
                field_name="Hộ tịch",
                level="commune",
                agency_codes=[],
                processing_days=0,
                components=[],
            )
        )
        s.flush()
        for dossier_id, unit in ((A, OWN), (B, FOREIGN)):
            s.add(
                Dossier(
                    id=dossier_id,
                    procedure_id="proc",
                    procedure_code="1.001193",
                    unit_code=unit,
                    applicant_name="Nguyễn Văn An",
                    applicant_id_type="CCCD",
                    applicant_id_number="001090012345",
                    created_by="lan.nt",
                )
            )
    return factory


def _unit(code: str, province: str) -> Unit:
    return Unit(
        code=code,
        name=f"UBND {code}",
        kind="one_stop",
        level="commune",
        province_code=province,
        valid_from=date(2025, 7, 1),
    )


def plan(i: int) -> dict[str, Any]:
    """Event i (seq i + 1): A and B alternate, every tenth has no dossier, one a minute."""
    dossier = None if i % 10 == 9 else (A if i % 2 == 0 else B)
    actor, role = ("tuphap", "agency") if i % 3 == 0 else ("lan.nt", "counter")
    return {
        "actor_id": actor,
        "actor_role": role,
        "action": ACTIONS[i % 4] if dossier else "staff.token_issued",
        "subject_type": "dossier" if dossier else "staff",
        "subject_id": dossier or "minh.tv",
        "dossier_id": dossier,
        "data": {"i": i, "ghi_chú": "Tiếp nhận hồ sơ", "pages": (1, 2), "due": T0},
        "at": T0 + timedelta(minutes=i),
    }


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Fifty events in five transactions of ten, so links cross and stay inside transactions."""
    for start in range(0, N, 10):
        with db.session_scope(sessions) as s:
            for i in range(start, start + 10):
                record(s, **plan(i))
    return sessions


def verify(sessions: sessionmaker[Session], **kw: Any) -> ChainReport:
    with db.session_scope(sessions) as s:
        return verify_chain(s, **kw)


def tamper(engine: Engine, sql: str, *rows: dict[str, Any]) -> None:
    """Run ``sql`` (once per row of parameters) past the append-only triggers, as the database
    owner can."""
    params = list(rows) or [{}]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text(sql), params)
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            return
        triggers = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master"
                " WHERE type = 'trigger' AND tbl_name = 'audit_events'"
            )
        ).all()
        assert {name for name, _ in triggers} == {
            "audit_events_no_update",
            "audit_events_no_delete",
        }
        for name, _ in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(text(sql), params)
        for _, create in triggers:
            conn.exec_driver_sql(create)


def set_data(engine: Engine) -> str:
    if engine.dialect.name == "postgresql":
        return "UPDATE audit_events SET data = CAST(:data AS json) WHERE seq = :seq"
    return "UPDATE audit_events SET data = :data WHERE seq = :seq"


def test_the_hash_is_pinned() -> None:
    """Every stored hash depends on this algorithm: a change must be a deliberate new chain."""
    digest = audit.event_hash(
        seq=1,
        at=datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
        actor_id="lan.nt",
        actor_role="counter",
        action="dossier.receive",
        subject_type="dossier",
        subject_id="d1",
        dossier_id="d1",
        data={"ghi_chú": "Tiếp nhận", "n": 1},
        prev_hash=audit.GENESIS,
    )
    assert digest == "e77ae11d3955c52810ff864f89b5246b85c2869bbc9841586b9abedc7f2a4c65"
    same_instant = datetime(2026, 11, 27, 8, 0, tzinfo=VN)
    assert audit.iso_utc(same_instant) == "2026-11-27T01:00:00.000000+00:00"
    assert audit.canonical({"b": 1, "a": "ư"}) == '{"a":"ư","b":1}'
    with pytest.raises(ValueError):
        audit.canonical({"x": float("nan")})
    with pytest.raises(TypeError):
        audit.canonical({"x": object()})


def test_a_clean_chain_verifies_in_any_batch_size(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    report = verify(filled)
    assert report == verify(filled, batch=7)
    assert (report.ok, report.checked, report.first_broken_seq, report.reason) == (
        True,
        N,
        None,
        None,
    )
    with db.session_scope(filled) as s:
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        assert [r.seq for r in rows] == list(range(1, N + 1))
        assert rows[0].prev_hash == audit.GENESIS
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
        assert report.head_seq == N and report.head_hash == rows[-1].hash
        # Stored as hashed: the tuple became a list and the time its UTC spelling.
        assert rows[0].data["pages"] == [1, 2]
        assert rows[0].data["due"] == "2026-11-27T01:00:00.000000+00:00"
        assert rows[0].at == T0
    with pytest.raises(InvalidInput):
        verify(filled, batch=0)


def test_the_triggers_refuse_update_delete_and_truncate(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    refused = ["UPDATE audit_events SET action = 'x' WHERE seq = 3", "DELETE FROM audit_events"]
    if engine.dialect.name == "postgresql":
        refused.append("TRUNCATE audit_events")
    for sql in refused:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert verify(filled).ok


def test_an_edited_row_is_a_hash_mismatch_at_its_seq(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    tamper(engine, set_data(engine), {"data": '{"i": 16, "ghi_chú": "sửa"}', "seq": 17})
    report = verify(filled)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 17, "hash_mismatch")
    assert report.checked == 16 and report.head_seq == 16


def test_a_deleted_middle_row_is_a_missing_event(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    tamper(engine, "DELETE FROM audit_events WHERE seq = 25")
    report = verify(filled, batch=10)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 25, "missing_event")
    assert report.checked == 24


def test_deleting_the_last_rows_is_caught_by_the_counter(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    tamper(engine, "DELETE FROM audit_events WHERE seq >= 48")
    report = verify(filled)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 48, "missing_event")
    assert report.checked == 47
    # The log keeps taking events and keeps reporting the hole.
    with db.session_scope(filled) as s:
        assert record(s, **plan(N)).seq == N + 1
    assert verify(filled).first_broken_seq == 48


def test_a_row_rehashed_by_someone_who_knows_the_algorithm_breaks_the_next_link(
    filled: sessionmaker[Session], engine: Engine
) -> None:
    kept = verify(filled)  # the head an auditor wrote down before
    with db.session_scope(filled) as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq >= 23).order_by("seq")))
        fields = [{name: getattr(r, name) for name in audit.HASHED} for r in rows]
    fields[0]["data"] = {**fields[0]["data"], "ghi_chú": "đã sửa"}
    digest = audit.event_hash(**fields[0])
    forge = set_data(engine).replace("SET data", "SET hash = :hash, data")
    tamper(engine, forge, {"data": audit.canonical(fields[0]["data"]), "hash": digest, "seq": 23})
    report = verify(filled)
    assert (report.ok, report.first_broken_seq, report.reason) == (
        False,
        24,
        "prev_hash_mismatch",
    )
    assert report.checked == 23  # row 23 itself is consistent now

    # Rewriting the whole tail consistently passes the chain, but not the head kept outside.
    relinked, prev = [], digest
    for f in fields[1:]:
        new = audit.event_hash(**{**f, "prev_hash": prev})
        relinked.append({"p": prev, "h": new, "seq": f["seq"]})
        prev = new
    tamper(engine, "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :seq", *relinked)
    forged_report = verify(filled)
    assert forged_report.ok and forged_report.head_seq == kept.head_seq
    assert forged_report.head_hash != kept.head_hash


def test_a_rolled_back_event_gives_its_seq_back(sessions: sessionmaker[Session]) -> None:
    with db.session_scope(sessions) as s:
        record(s, **plan(0))
    with pytest.raises(RuntimeError), db.session_scope(sessions) as s:
        assert record(s, **plan(1)).seq == 2
        raise RuntimeError("the change it recorded failed")
    with db.session_scope(sessions) as s:
        assert record(s, **plan(2)).seq == 2
        with pytest.raises(ValueError):
            record(s, **{**plan(3), "at": T0.replace(tzinfo=None)})
    assert verify(sessions).checked == 2


@pytest.mark.postgres
def test_concurrent_writers_keep_one_gap_free_chain(pg_database: str) -> None:
    db.upgrade(pg_database)
    engine = db.make_engine(pg_database)
    sessions = db.make_sessionmaker(engine)
    start = threading.Barrier(8)

    def writer(w: int) -> None:
        start.wait()
        for k in range(10):
            with db.session_scope(sessions) as s:
                record(
                    s,
                    actor_id=f"writer-{w}",
                    actor_role="counter",
                    action="personal_data.read",
                    subject_type="dossier",
                    subject_id=f"d{w}",
                    data={"k": k},
                    at=datetime.now(UTC),
                )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(writer, range(8)))
    report = verify(sessions, batch=16)
    assert (report.ok, report.checked) == (True, 80)
    with db.session_scope(sessions) as s:
        assert list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))) == list(
            range(1, 81)
        )
    engine.dispose()


def seqs(events: list[AuditEvent]) -> list[int]:
    return [e.seq for e in events]


def expected(pred: Any) -> list[int]:
    return [i + 1 for i in range(N) if pred(plan(i))]


def test_list_events_filters_and_pages(filled: sessionmaker[Session]) -> None:
    with db.session_scope(filled) as s:
        assert seqs(list_events(s, BOOTSTRAP)) == list(range(1, N + 1))
        assert seqs(list_events(s, BOOTSTRAP, dossier_id=A)) == expected(
            lambda e: e["dossier_id"] == A
        )
        assert seqs(list_events(s, BOOTSTRAP, actor_id="tuphap")) == expected(
            lambda e: e["actor_id"] == "tuphap"
        )
        window = list_events(
            s, BOOTSTRAP, since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)
        )
        assert seqs(window) == list(range(11, 21))
        pages, after = [], None
        while page := list_events(s, BOOTSTRAP, after_seq=after, limit=20):
            pages.append(seqs(page))
            after = page[-1].seq
        assert [len(p) for p in pages] == [20, 20, 10]
        assert [seq for p in pages for seq in p] == list(range(1, N + 1))
        assert list_events(s, BOOTSTRAP, dossier_id=B, actor_id="tuphap", limit=1)[0].seq == 4
        for bad in ({"limit": 0}, {"limit": 1001}, {"since": T0.replace(tzinfo=None)}):
            with pytest.raises(InvalidInput):
                list_events(s, BOOTSTRAP, **bad)


def test_only_auditors_and_admins_read_and_an_auditor_stays_in_its_province(
    filled: sessionmaker[Session],
) -> None:
    with db.session_scope(filled) as s:
        for caller in (COUNTER, AGENCY):
            with pytest.raises(Forbidden):
                list_events(s, caller)
        own = seqs(list_events(s, AUDITOR))
        assert own == expected(lambda e: e["dossier_id"] == A)
        assert seqs(list_events(s, AUDITOR_B)) == expected(lambda e: e["dossier_id"] == B)
        assert list_events(s, AUDITOR_B, dossier_id=A) == []
        # Events without a dossier are an administrator's.
        no_dossier = set(expected(lambda e: e["dossier_id"] is None))
        assert no_dossier and not no_dossier & set(own)
        homeless = Principal("kiemtra.x", "Không tỉnh", "auditor", None)
        assert list_events(s, homeless) == []
