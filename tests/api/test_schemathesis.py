"""schemathesis over the whole OpenAPI document of the embedded default, as admin and as counter
staff: no server error and no status, content type, header or body the document does not name.

The app is real (SQLite, local store, filesystem broker, development PKI) with the test
province of ``tests.dossiers.world``; an accepted upload is only queued, as no worker runs here,
so no operation has to be left out for starting OCR work. The rate limits are off for the run:
schemathesis' own missing-auth probes would otherwise lock the client out (they have their own
tests in test_rate_limits.py). Each operation gets a bounded number of examples, so the module
runs in a couple of minutes; the counts are printed at the end (run with ``-s`` to see them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from api.app import create_app
from core.settings import Settings
from tests.dossiers.world import VN, make_world
from wiring.factory import build

EXAMPLES = 25
ROLES = {"admin": "quantri", "counter": "lan.nt"}

_tally: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    services = build(
        Settings(
            data_dir=data,
            api_token="schemathesis-bootstrap-not-secret",
            ocr_jobs=1,
            broker_poll_interval=0.05,
            auth_failure_limit=0,
            public_rate_limit=0,
        )
    )
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    app = create_app(services)
    tokens = {role: world.tokens[staff] for role, staff in ROLES.items()}
    yield app, tokens
    services.engine.dispose()
    print(
        f"\nschemathesis: {_tally['cases']} cases, "
        f"{_tally['failed cases']} failed; failures by check: "
        + (
            ", ".join(f"{k[6:]}={v}" for k, v in sorted(_tally.items()) if k.startswith("check:"))
            or "none"
        )
    )


def _document() -> dict[str, Any]:
    """The document as the app serves it. It depends on the routes only, not on the services,
    so it is read at collection from an app that has no services behind it: one test per
    operation (schemathesis' fixture-based loader does not run under pytest 9.2)."""
    app = create_app(SimpleNamespace(settings=Settings(data_dir=Path("unused"))))  # type: ignore[arg-type]
    return app.openapi()


# Schema-valid input may still break a rule of the domain the schema cannot state (an unknown
# procedure code, a dossier in the wrong state, an unknown language in an upload's form field,
# a "binary" file that is no scan at all): the API answers 422, 409, 400, 413 or 415 then, and
# that is acceptance as far as the contract goes.
# Query parameters the API does not know are ignored, as by most HTTP APIs (a client's
# cache-buster), so schemathesis does not invent them.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        # The Authorization header is ours to set (each case runs as admin and as counter
        # staff); a mutated one would be overwritten and the case misjudged as accepted.
        "generation": {"allow-extra-parameters": False, "with-security-parameters": False},
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": [
                    *("2XX", "3XX", "400", "401", "403", "404", "409", "413", "415", "422", "429")
                ]
            }
        },
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_api_answers_as_documented(case: Any, fuzz_app: Any) -> None:
    """Each generated case is sent as admin and as counter staff."""
    app, tokens = fuzz_app
    for role in sorted(ROLES):
        _call(case, app, role, tokens[role])


def _call(case: Any, app: Any, role: str, token: str) -> None:
    _tally["cases"] += 1
    try:
        case.operation.app = case.operation.schema.app = app
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    except BaseException as exc:
        _tally["failed cases"] += 1
        titles = {
            getattr(failure, "title", type(failure).__name__)
            for failure in getattr(exc, "exceptions", [exc])
        }
        for title in titles:
            _tally[f"check:{title}"] += 1
        label = f"{case.operation.method.upper()} {case.operation.path}"
        print(f"\n[{role}] {label}: {exc}")
        raise
