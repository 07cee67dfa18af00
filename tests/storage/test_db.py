"""Migrations and the ledger's claim rules on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import dossiers.audit  # so does the audit log
import dossiers.models  # noqa: F401 - the domain's tables share the ledger's metadata
import storage.metrics  # noqa: F401 - registers metric_counters, as alembic's env does
from dossiers.records.search import include_name
from storage import db
from storage.models import Base, Scan
from tests.factories import make_scan


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_database")


def test_migrations_match_models_and_downgrade(database_url: str) -> None:
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    tables = set(inspect(engine).get_table_names())
    assert {"scans", "documents", "dossiers", "units", "search_entries"} <= tables
    from alembic import command

    command.downgrade(db.alembic_config(database_url), "base")
    assert "scans" not in inspect(engine).get_table_names()
    engine.dispose()


def test_timestamps_keep_their_zone(database_url: str) -> None:
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    sessions = db.make_sessionmaker(engine)
    when = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    with db.session_scope(sessions) as s:
        s.add(make_scan(id="a" * 32, created_at=when))
    with db.session_scope(sessions) as s:
        got = s.get(Scan, "a" * 32)
        assert got is not None and got.created_at == when and got.created_at.tzinfo is not None
    engine.dispose()
