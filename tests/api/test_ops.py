"""Liveness, readiness and the Prometheus scrape, as an orchestrator and Prometheus see them.

A load balancer routes by /readyz, so it must say which dependency is down and answer quickly
when one is; /metrics is the deployment's only view of the pipeline, so it must be readable by
Prometheus' token and admins only, parse as Prometheus text, and show what the ledger holds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from storage import metrics
from storage.db import session_scope
from storage.models import ScanStatus, Step, utcnow
from tests.conftest import TOKEN
from tests.dossiers.world import VN, make_world
from tests.factories import make_scan
from tests.fixtures.seaweedfs import free_ports
from wiring.factory import Services, build

METRICS_TOKEN = "prometheus-scrape-token"
FAMILIES = {
    "sohoa_pages",
    "sohoa_scan_failures",
    "sohoa_signatures",
    "sohoa_stage_seconds",
    "sohoa_scans_in_flight",
    "sohoa_oldest_in_flight_seconds",
    "sohoa_pages_per_second",
    "sohoa_broker_up",
    "sohoa_queue_depth",
}
# Generous: each dependency's check has a connect timeout of a few seconds at most.
READY_WITHIN = 20.0


@pytest.fixture
def make_client(make_settings: Callable[..., object]) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over freshly built services with the given setting overrides."""
    built: list[tuple[Services, TestClient]] = []

    def make(**overrides: object) -> TestClient:
        migrate = bool(overrides.pop("migrate", True))
        svc = build(make_settings(**overrides), migrate=migrate)  # type: ignore[arg-type]
        client = TestClient(create_app(svc))
        built.append((svc, client))
        return client

    yield make
    for svc, client in built:
        client.close()
        svc.engine.dispose()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(metrics_token=METRICS_TOKEN)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_client(
    request: pytest.FixtureRequest, make_client: Callable[..., TestClient]
) -> TestClient:
    """The scrape's ledger queries on both backends (PostgreSQL keeps zones, SQLite not)."""
    if request.param == "sqlite":
        return make_client(metrics_token=METRICS_TOKEN)
    url = request.getfixturevalue("pg_database")
    return make_client(database_url=url, metrics_token=METRICS_TOKEN)


def _svc(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def _closed_port() -> int:
    (port,) = free_ports(1)
    return port


def _ready(client: TestClient) -> Response:
    started = time.monotonic()
    resp = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert elapsed < READY_WITHIN, f"/readyz took {elapsed:.1f}s with a dependency down"
    return resp


def _scrape(client: TestClient) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The exposition parsed by Prometheus' own parser: family -> (sample, labels) -> value."""
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        family.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        for family in text_string_to_metric_families(resp.text)
    }


def _sample(scrape: dict, family: str, sample: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    return scrape[family].get((sample, tuple(sorted(labels.items()))))


# --------------------------------------------------------------------------- health


def test_healthz_needs_no_token(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_readyz_all_ok_on_the_embedded_default(make_client: Callable[..., TestClient]) -> None:
    """SQLite, the filesystem broker and the local store: all three checked and reachable."""
    resp = _ready(make_client())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "store": "ok"},
        "signing": "development-pki",
    }


def test_readyz_names_an_unreachable_object_store(make_client: Callable[..., TestClient]) -> None:
    client = make_client(store="s3", s3_endpoint=f"127.0.0.1:{_closed_port()}")
    resp = _ready(client)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"
    assert body["checks"]["store"].startswith("unavailable: StoreUnavailable")


def test_readyz_names_an_unreachable_broker(make_client: Callable[..., TestClient]) -> None:
    client = make_client(broker_url=f"redis://127.0.0.1:{_closed_port()}/0")
    resp = _ready(client)
    assert resp.status_code == 503, resp.text
    checks = resp.json()["checks"]
    assert checks["database"] == "ok" and checks["store"] == "ok"
    assert checks["broker"].startswith("unavailable: ")


def test_readyz_and_metrics_with_the_database_down(make_client: Callable[..., TestClient]) -> None:
    """Readiness names the database; a scrape is a 503 problem (retry), not a crash."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/sohoa"
    client = make_client(database_url=url, migrate=False, metrics_token=METRICS_TOKEN)
    resp = _ready(client)
    assert resp.status_code == 503
    assert resp.json()["checks"]["database"].startswith("unavailable: DatabaseUnavailable")
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 503, scrape.text
    assert scrape.json()["code"] == "database_unavailable"


# --------------------------------------------------------------------------- who may scrape


def test_metrics_needs_prometheus_or_an_admin(client: TestClient) -> None:
    world = make_world(_svc(client), datetime(2026, 11, 27, 9, 0, tzinfo=VN))

    assert client.get("/metrics").status_code == 401
    for wrong in ("wrong-token", METRICS_TOKEN + "x", METRICS_TOKEN[:-1]):
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert resp.status_code == 401, wrong
    for staff_id in ("lan.nt", "kiemtra", "harvest", "tuphap"):  # counter, auditor, ...
        resp = client.get("/metrics", headers=world.headers(staff_id))
        assert resp.status_code == 403, staff_id
        assert "# TYPE" not in resp.text
    assert client.get("/metrics", headers=world.headers("quantri")).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert (
        client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code
        == 200
    )


def test_metrics_token_opens_nothing_else(client: TestClient) -> None:
    """Prometheus' token is not an API token: it must not read scans."""
    resp = client.get("/api/v1/scans/x", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 401


def test_non_ascii_bearer_is_refused_not_a_crash(client: TestClient) -> None:
    """A header byte above 0x7f must get 401 like any other wrong token, not a 500."""
    resp = client.get("/metrics", headers={"Authorization": b"Bearer caf\xe9"})
    assert resp.status_code == 401


def test_without_metrics_token_only_admins_scrape(make_client: Callable[..., TestClient]) -> None:
    """An unset metrics token must not let an empty or guessed bearer through."""
    client = make_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer None"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# --------------------------------------------------------------------------- what a scrape says


def test_scrape_has_every_family_even_on_an_empty_ledger(client: TestClient) -> None:
    scrape = _scrape(client)
    assert set(scrape) >= FAMILIES
    assert _sample(scrape, "sohoa_broker_up", "sohoa_broker_up") == 1
    assert _sample(scrape, "sohoa_queue_depth", "sohoa_queue_depth", queue="ocr") == 0
    assert _sample(scrape, "sohoa_queue_depth", "sohoa_queue_depth", queue="sign") == 0
    assert scrape["sohoa_scans_in_flight"] == {}
    assert _sample(scrape, "sohoa_oldest_in_flight_seconds", "sohoa_oldest_in_flight_seconds") == 0


def test_scrape_shows_the_ledger_counters(ledger_client: TestClient) -> None:
    """What workers added through storage.metrics is what Prometheus reads, histogram included."""
    client = ledger_client
    sessions = _svc(client).sessions
    with session_scope(sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 7)
        metrics.add(s, metrics.FAILURES, {"reason": "ocr_timeout", "stage": "ocr"}, 2)
        metrics.add(s, metrics.FAILURES, {"reason": 'bad "pdf" \\ x', "stage": "upload"})
        metrics.add(s, metrics.SIGNATURES, {"kind": "form"}, 3)
    with session_scope(sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 5)
    for seconds in (0.3, 0.3, 45.0):
        metrics.observe_stage(sessions, "ocr", "ok", seconds)
    metrics.observe_stage(sessions, "sign", "retry", 4000.0)

    scrape = _scrape(client)
    assert _sample(scrape, "sohoa_pages", "sohoa_pages_total") == 12
    failures = "sohoa_scan_failures"
    assert _sample(scrape, failures, f"{failures}_total", reason="ocr_timeout", stage="ocr") == 2
    assert (
        _sample(scrape, failures, f"{failures}_total", reason='bad "pdf" \\ x', stage="upload") == 1
    )
    assert _sample(scrape, "sohoa_signatures", "sohoa_signatures_total", kind="form") == 3

    hist = "sohoa_stage_seconds"
    ocr = {"stage": "ocr", "outcome": "ok"}
    assert _sample(scrape, hist, f"{hist}_bucket", le="0.25", **ocr) == 0
    assert _sample(scrape, hist, f"{hist}_bucket", le="0.5", **ocr) == 2
    assert _sample(scrape, hist, f"{hist}_bucket", le="30", **ocr) == 2
    assert _sample(scrape, hist, f"{hist}_bucket", le="60", **ocr) == 3
    assert _sample(scrape, hist, f"{hist}_bucket", le="+Inf", **ocr) == 3
    assert _sample(scrape, hist, f"{hist}_count", **ocr) == 3
    assert _sample(scrape, hist, f"{hist}_sum", **ocr) == pytest.approx(45.6)
    sign = {"stage": "sign", "outcome": "retry"}
    assert _sample(scrape, hist, f"{hist}_bucket", le="1800", **sign) == 0
    assert _sample(scrape, hist, f"{hist}_bucket", le="+Inf", **sign) == 1
    # Buckets never decrease with the bound, or Prometheus' histogram_quantile misreads them.
    for labels in (ocr, sign):
        values = [
            v
            for (name, lbls), v in scrape[hist].items()
            if name == f"{hist}_bucket" and dict(lbls).items() >= labels.items()
        ]
        assert len(values) == len(metrics.STAGE_BUCKETS) + 1
        assert values == sorted(values)


def test_scrape_shows_the_backlog_and_throughput(ledger_client: TestClient) -> None:
    """Scans not finished are the backlog; digitized in the last 5 minutes give pages/s."""
    client = ledger_client
    now = utcnow()
    with session_scope(_svc(client).sessions) as s:
        s.add(
            make_scan(
                status=ScanStatus.RECEIVED, step=Step.OCR, created_at=now - timedelta(seconds=600)
            )
        )
        s.add(make_scan(status=ScanStatus.RECEIVED, step=Step.OCR, created_at=now))
        s.add(make_scan(status=ScanStatus.PROCESSING, step=Step.SIGN, created_at=now))
        s.add(
            make_scan(
                status=ScanStatus.DIGITIZED,
                step=None,
                created_at=now - timedelta(hours=2),
                pages_total=30,
                finished_at=now - timedelta(seconds=30),
            )
        )
        s.add(
            make_scan(
                status=ScanStatus.DIGITIZED,
                step=None,
                created_at=now - timedelta(hours=3),
                pages_total=500,
                finished_at=now - timedelta(hours=1),
            )
        )
        s.add(
            make_scan(status=ScanStatus.FAILED, step=Step.OCR, created_at=now - timedelta(days=1))
        )

    scrape = _scrape(client)
    fam = "sohoa_scans_in_flight"
    assert scrape[fam] == {
        (fam, (("status", "received"), ("step", "ocr"))): 2,
        (fam, (("status", "processing"), ("step", "sign"))): 1,
    }
    oldest = _sample(scrape, "sohoa_oldest_in_flight_seconds", "sohoa_oldest_in_flight_seconds")
    assert oldest is not None and 600 <= oldest < 600 + 300
    rate = _sample(scrape, "sohoa_pages_per_second", "sohoa_pages_per_second")
    assert rate == pytest.approx(30 / 300)


def test_scrape_survives_a_broker_down(make_client: Callable[..., TestClient]) -> None:
    """Prometheus must still get the ledger's numbers, with sohoa_broker_up 0."""
    client = make_client(
        broker_url=f"redis://127.0.0.1:{_closed_port()}/0", metrics_token=METRICS_TOKEN
    )
    with session_scope(_svc(client).sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 4)
    started = time.monotonic()
    scrape = _scrape(client)
    assert time.monotonic() - started < READY_WITHIN
    assert _sample(scrape, "sohoa_broker_up", "sohoa_broker_up") == 0
    assert _sample(scrape, "sohoa_pages", "sohoa_pages_total") == 4


# --------------------------------------------------------------------------- request ids


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    """200, 401, 503 alike: the id is what joins a caller's report to our log lines."""
    seen = []
    for resp in (client.get("/healthz"), client.get("/readyz"), client.get("/metrics")):
        rid = resp.headers.get("X-Request-ID")
        assert rid and re.fullmatch(r"[0-9a-f]{32}", rid), (resp.status_code, rid)
        seen.append(rid)
    assert len(set(seen)) == len(seen), "ids are per request"


@pytest.mark.parametrize("given", ["lb-7f3a.req_01", "A" * 64, "0"])
def test_a_plain_caller_request_id_is_echoed(client: TestClient, given: str) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": given})
    assert resp.headers["X-Request-ID"] == given
    resp = client.get("/metrics", headers={"X-Request-ID": given})
    assert resp.status_code == 401 and resp.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["A" * 65, "has space", "semi;colon", ""])
def test_an_unsafe_caller_request_id_is_replaced(client: TestClient, given: str) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": given})
    rid = resp.headers["X-Request-ID"]
    assert rid != given and re.fullmatch(r"[0-9a-f]{32}", rid)
    assert resp.headers.get_list("X-Request-ID") == [rid]
