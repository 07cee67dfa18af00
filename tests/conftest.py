"""Shared fixtures: real PostgreSQL databases, settings for each topology, corpus paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# No PKI server runs beside in-process tests, so they sign B-B; the tests of long-term
# signatures serve /pki and ask for B-LTA (tests/signing/test_long_term.py, `sohoa run` e2e).
os.environ.setdefault("SOHOA_PADES_LEVEL", "B-B")

pytest_plugins = ["tests.fixtures.seaweedfs", "tests.fixtures.pki", "tests.fixtures.servers"]

REPO = Path(__file__).resolve().parents[1]


def _corpus() -> Path:
    """SOHOA_CORPUS, else ``shared/corpus`` beside the checkout, else the workplace's copy
    (a clone made elsewhere, such as CI's fresh clone, has no sibling ``shared``)."""
    if os.environ.get("SOHOA_CORPUS"):
        return Path(os.environ["SOHOA_CORPUS"])
    beside = REPO.parent / "shared" / "corpus"
    for candidate in (beside, Path("/work/shared/corpus")):
        if (candidate / "MANIFEST.tsv").exists():
            return candidate
    return beside


CORPUS = _corpus()
PG_URL = os.environ.get("SOHOA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SOHOA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
TOKEN = "test-token-not-secret"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.fail(f"the shared corpus is missing at {CORPUS}; set SOHOA_CORPUS")
    return CORPUS


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"sohoa_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not reachable ({exc}); start it or set SOHOA_TEST_PG_URL"
        )
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., object]:
    """Settings for the embedded default in a private data dir; keyword overrides win."""
    from core.settings import Settings

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "api_token": TOKEN,
            "ocr_jobs": 1,
            "broker_poll_interval": 0.05,
            # Tests sign with the development PKI, also on PostgreSQL/S3/Redis: by name.
            "pki": "development",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
