"""The pipeline's ledger tests run on both databases the service supports."""

from __future__ import annotations

import pytest

from wiring.factory import Services, build


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, make_settings) -> Services:  # type: ignore[no-untyped-def]
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_database")
    svc = build(make_settings(**overrides))
    yield svc
    svc.engine.dispose()
