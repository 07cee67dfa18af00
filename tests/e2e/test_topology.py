"""The production topology without Docker, and the faults it must survive.

Every process is started from the package's own entry points, as docker-compose.yml starts them:
``sohoa db upgrade`` and ``sohoa pki init`` once, then ``sohoa api`` and two ``sohoa worker``
processes, on PostgreSQL, Redis and SeaweedFS. Each test ends the same way: every scan the API
accepted is ``digitized`` exactly once (one scan row, one document, one signature in the audit
chain), and nothing the API refused left a row behind.

The Redis and PostgreSQL a fault test restarts are servers of the test's own
(tests/fixtures/servers.py), so the rest of the suite never sees them go down.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, create_engine, func, select

from bench._topology import Backends, Stack
from dossiers.audit import AuditEvent
from storage.models import Document, Scan
from tests.conftest import PG_URL
from tests.ocr.pagegen import A6, render_page, save_pdf

METRICS_TOKEN = "metrics-token-not-secret"


@pytest.fixture
def topology(tmp_path: Path, seaweedfs) -> Iterator[Callable[..., Stack]]:  # type: ignore[no-untyped-def]
    """Start a deployment on the given PostgreSQL server and Redis, with SeaweedFS as the store.

    The sweeper runs every 2 s and re-enqueues a scan left alone for 5 s, so a fault's lost
    message is found within seconds rather than the production default's half minute.
    """
    stacks: list[Stack] = []

    def make(*, postgres: str, redis: str, **env: str) -> Stack:
        extra = {
            "SOHOA_STORE": "s3",
            "SOHOA_PKI": "development",  # no licensed certificates here: asked for by name
            "SOHOA_S3_ENDPOINT": seaweedfs.endpoint,
            "SOHOA_S3_ACCESS_KEY": seaweedfs.access_key,
            "SOHOA_S3_SECRET_KEY": seaweedfs.secret_key,
            "SOHOA_S3_BUCKET": f"sohoa-{uuid.uuid4().hex[:10]}",
            "SOHOA_LOG_FORMAT": "json",
            "SOHOA_METRICS_TOKEN": METRICS_TOKEN,
            "SOHOA_SWEEP_INTERVAL": "2",
            "SOHOA_REQUEUE_GRACE": "5",
            "SOHOA_LEASE_SECONDS": "30",
            "SOHOA_HEARTBEAT_SECONDS": "5",
            **env,
        }
        stack = Stack(
            Backends(postgres, redis),
            tmp_path / f"stack-{len(stacks)}",
            extra_env=extra,
            keep=True,
        )
        stacks.append(stack)
        stack.__enter__()
        return stack

    yield make
    for stack in stacks:
        stack.close()


def pages(directory: Path, count: int, *, first: int = 0) -> list[Path]:
    """Distinct one-page A6 PDFs (the same bytes uploaded twice are one scan)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(first, first + count):
        page = render_page(
            size_in=A6,
            seed=i,
            paragraphs=(f"GIẤY TỜ SỐ {i}", "Người nộp: Nguyễn Văn An", f"Mã hồ sơ {1000 + i}"),
        )
        out.append(save_pdf([page.image], directory / f"page-{i:03d}.pdf"))
    return out


def post_scan(stack: Stack, path: Path, **headers: str) -> httpx.Response:
    assert stack.client is not None
    with path.open("rb") as f:
        return stack.client.post(
            "/api/v1/scans",
            files={"file": (path.name, f, "application/pdf")},
            headers=headers,
            timeout=30,
        )


def wait_all(stack: Stack, scan_ids: list[str], timeout: float = 600) -> dict[str, dict[str, Any]]:
    """Poll until each scan is terminal, reading every scan on each round; tolerates a 503."""
    assert stack.client is not None
    deadline = time.monotonic() + timeout
    states: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for sid in scan_ids:
            if states.get(sid, {}).get("status") in ("digitized", "failed"):
                continue
            try:
                resp = stack.client.get(f"/api/v1/scans/{sid}", timeout=10)
            except httpx.TransportError:
                continue
            if resp.status_code == 200:
                states[sid] = resp.json()
        if len(states) == len(scan_ids) and all(
            s["status"] in ("digitized", "failed") for s in states.values()
        ):
            return states
        for i, proc in enumerate(stack.workers):
            assert proc.poll() is None, f"worker-{i} died:\n{stack.log_tail(f'worker-{i}')}"
        time.sleep(0.5)
    logs = "\n".join(stack.log_tail(f"worker-{i}") for i in range(len(stack.workers)))
    pytest.fail(f"scans unfinished after {timeout:.0f}s: {states}\n{logs}")


@contextmanager
def ledger(stack: Stack) -> Iterator[Connection]:
    """A connection to the deployment's own database, read the way an auditor would."""
    engine = create_engine(stack.env["SOHOA_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def assert_exactly_once(stack: Stack, scan_ids: list[str]) -> None:
    """The ledger holds these scans and no others, each digitized with one document, signed once."""
    with ledger(stack) as conn:
        rows = dict(conn.execute(select(Scan.id, Scan.status)).all())
        docs = dict(
            conn.execute(select(Document.scan_id, func.count()).group_by(Document.scan_id)).all()
        )
        signed = conn.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "document.signed")
        ).scalar_one()
    assert sorted(rows) == sorted(scan_ids), "the ledger holds a scan the API did not accept"
    assert set(rows.values()) == {"digitized"}, rows
    assert docs == dict.fromkeys(scan_ids, 1), "a scan has no document or more than one"
    assert signed == len(scan_ids)


def unfinished(stack: Stack, scan_ids: list[str]) -> int:
    """How many of the scans are not digitized yet: a fault must strike a run in progress."""
    with ledger(stack) as conn:
        return conn.execute(
            select(func.count())
            .select_from(Scan)
            .where(Scan.id.in_(scan_ids), Scan.status != "digitized")
        ).scalar_one()


def scrape(stack: Stack) -> dict[str, list[Any]]:
    """The /metrics samples by name, read with Prometheus' own parser."""
    assert stack.client is not None
    resp = stack.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200, resp.text
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def upload_all(stack: Stack, files: list[Path]) -> list[str]:
    ids = []
    for path in files:
        resp = post_scan(stack, path)
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    return ids


# ---------------------------------------------------------------------------------------------
# The topology


def test_twenty_scans_through_the_api_and_two_workers(topology, own_redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = topology(postgres=PG_URL, redis=own_redis.url)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)

    files = pages(tmp_path / "pages", 20)
    rid = f"counter-{uuid.uuid4().hex[:8]}"
    first = post_scan(stack, files[0], **{"X-Request-ID": rid})
    assert first.status_code == 202 and first.headers["X-Request-ID"] == rid
    ids = [first.json()["id"], *upload_all(stack, files[1:])]
    assert len(set(ids)) == 20

    states = wait_all(stack, ids)
    assert {s["status"] for s in states.values()} == {"digitized"}, states
    assert all(s["pages_done"] == s["pages_total"] == 1 for s in states.values())
    assert_exactly_once(stack, ids)

    # Both workers took part: the pages were spread, not queued behind one process.
    per_worker = [
        {e.get("scan_id") for e in json_lines(stack.work / f"worker-{i}.log") if e.get("task_id")}
        for i in range(2)
    ]
    assert all(seen & set(ids) for seen in per_worker), "a worker ran no task"

    # The request id given at the counter follows the scan into the worker's log lines.
    worker_lines = [e for i in range(2) for e in json_lines(stack.work / f"worker-{i}.log")]
    traced = [e for e in worker_lines if e.get("scan_id") == ids[0] and e.get("task_id")]
    assert traced and all(e.get("request_id") == rid for e in traced), traced[:3]
    access = [e for e in json_lines(stack.work / "api.log") if e.get("path") == "/api/v1/scans"]
    assert any(e.get("request_id") == rid and e.get("status") == 202 for e in access)

    samples = scrape(stack)
    assert total(samples, "sohoa_pages_total") == 20
    assert total(samples, "sohoa_signatures_total") == 20
    assert total(samples, "sohoa_stage_seconds_count", stage="ocr", outcome="ok") == 20
    assert total(samples, "sohoa_stage_seconds_count", stage="sign", outcome="ok") == 20
    assert total(samples, "sohoa_scan_failures_total") == 0
    assert total(samples, "sohoa_broker_up") == 1
    assert {s.labels["queue"] for s in samples["sohoa_queue_depth"]} == {"ocr", "sign"}
    assert total(samples, "sohoa_queue_depth") == 0
    assert total(samples, "sohoa_pages_per_second") > 0
    assert total(samples, "sohoa_scans_in_flight") == 0

    ready = stack.client.get("/readyz")  # type: ignore[union-attr]
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "broker", "store"}


# ---------------------------------------------------------------------------------------------
# Faults


def test_redis_restarted_mid_run(topology, own_redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = topology(postgres=PG_URL, redis=own_redis.url)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    files = pages(tmp_path / "pages", 12)
    ids = upload_all(stack, files[:10])

    assert unfinished(stack, ids) > 0
    own_redis.stop()  # a crash: every queued message is gone with it
    assert stack.client is not None
    down = stack.client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["broker"] != "ok"
    # The API still accepts scans: they are safe in the ledger and the sweeper will queue them.
    late = post_scan(stack, files[10])
    assert late.status_code == 202, late.text
    ids.append(late.json()["id"])
    time.sleep(3)
    own_redis.start()
    ids += upload_all(stack, files[11:])

    states = wait_all(stack, ids)
    assert {s["status"] for s in states.values()} == {"digitized"}, states
    assert_exactly_once(stack, ids)


def test_object_store_down_for_thirty_seconds(topology, own_redis, seaweedfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = topology(postgres=PG_URL, redis=own_redis.url)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    files = pages(tmp_path / "pages", 8)
    ids = upload_all(stack, files[:4])

    assert unfinished(stack, ids) > 0
    seaweedfs.stop()
    try:
        assert stack.client is not None
        ready = stack.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["store"] != "ok"
        # An upload the store cannot keep is refused, and says when to come back.
        refused = post_scan(stack, files[4])
        assert refused.status_code == 503, refused.text
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "Retry-After" in refused.headers
        time.sleep(30)
    finally:
        seaweedfs.start()
    ids += upload_all(stack, files[4:])

    states = wait_all(stack, ids)
    assert {s["status"] for s in states.values()} == {"digitized"}, states
    assert_exactly_once(stack, ids)
    assert all(proc.poll() is None for proc in stack.workers)


def test_postgres_restarted(topology, own_redis, own_postgres, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = topology(postgres=own_postgres.url, redis=own_redis.url)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    files = pages(tmp_path / "pages", 8)
    ids = upload_all(stack, files[:4])

    assert unfinished(stack, ids) > 0
    own_postgres.stop("immediate")  # as a crash: no clean shutdown of the sessions
    try:
        assert stack.client is not None
        refused = post_scan(stack, files[4])
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "database_unavailable"
        status = stack.client.get(f"/api/v1/scans/{ids[0]}")
        assert status.status_code == 503
        ready = stack.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
        time.sleep(5)
    finally:
        own_postgres.start()
    ids += upload_all(stack, files[4:])

    states = wait_all(stack, ids)
    assert {s["status"] for s in states.values()} == {"digitized"}, states
    # The refused upload left no row: the ledger holds exactly the accepted scans.
    assert_exactly_once(stack, ids)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs as the work dir needs root")
def test_work_directory_full(topology, own_redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    work.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode:
        pytest.skip(reason=f"cannot mount a tmpfs here (a container?): {mounted.stderr.strip()}")
    try:
        stack = topology(
            postgres=PG_URL,
            redis=own_redis.url,
            SOHOA_WORK_PATH=str(work),
            SOHOA_WORK_MIN_FREE_MB="4",
            SOHOA_MAX_ATTEMPTS="1",
        )
        # Fill the disk to 3 MB free: uploads (a few kB) still spool, a step may not start.
        ballast = work / "ballast"
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={ballast}", "bs=1M", "count=13"],
            capture_output=True,
            check=True,
        )
        ids = upload_all(stack, pages(tmp_path / "pages", 2))
        worker = stack.start_worker(concurrency=1)
        states = wait_all(stack, ids)
        assert {s["reason_code"] for s in states.values()} == {"work_dir_full"}, states
        assert all("MB free in the work directory" in s["reason_message"] for s in states.values())
        assert worker.poll() is None, "the worker died of a full disk"
        samples = scrape(stack)
        assert total(samples, "sohoa_scan_failures_total", reason="work_dir_full") == 2

        ballast.unlink()
        assert stack.client is not None
        for sid in ids:
            again = stack.client.post(f"/api/v1/scans/{sid}/retry")
            assert again.status_code == 202, again.text
        states = wait_all(stack, ids)
        assert {s["status"] for s in states.values()} == {"digitized"}, states
        assert_exactly_once(stack, ids)
    finally:
        # Lazily: the workers (stopped by the fixture afterwards) may still hold files there.
        subprocess.run(["umount", "-l", str(work)], capture_output=True, check=False)


def test_same_file_uploaded_twenty_times_at_once(topology, own_redis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = topology(postgres=PG_URL, redis=own_redis.url)
    stack.start_worker(concurrency=1)
    world = _counter_world(stack)
    clerk = world.headers("lan.nt")
    code, component = _received_dossier(stack, clerk)

    pdf = pages(tmp_path / "pages", 1)[0]
    body = pdf.read_bytes()
    url = f"/api/v1/dossiers/{code}/components/{component}/scans"
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def upload() -> None:
        with httpx.Client(base_url=stack.base_url, headers=clerk, timeout=60) as client:
            barrier.wait()
            resp = client.post(url, files={"file": (pdf.name, body, "application/pdf")})
        with lock:
            answers.append(resp)

    threads = [threading.Thread(target=upload) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(answers) == 20
    assert {r.status_code for r in answers} <= {200, 202}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    scan_id = answers[0].json()["id"]
    states = wait_all(stack, [scan_id])
    assert states[scan_id]["status"] == "digitized"
    assert_exactly_once(stack, [scan_id])

    dossier = stack.client.get(f"/api/v1/dossiers/{code}", headers=clerk).json()  # type: ignore[union-attr]
    attached = [c for c in dossier["components"] if c["id"] == component]
    assert len(attached[0]["scans"]) == 1, attached


def _counter_world(stack: Stack):  # type: ignore[no-untyped-def]
    """Staff, units and the catalog written into the deployment's own database."""
    from datetime import UTC, datetime

    from core.settings import Settings
    from tests.dossiers.world import make_world
    from wiring.factory import build

    values = {
        k.removeprefix("SOHOA_").lower(): v for k, v in stack.env.items() if k.startswith("SOHOA_")
    }
    services = build(Settings(**values))  # type: ignore[arg-type]
    try:
        return make_world(services, datetime.now(UTC))
    finally:
        services.engine.dispose()


def _received_dossier(stack: Stack, clerk: dict[str, str]) -> tuple[str, str]:
    from tests.e2e.test_counter_day import APPLICANT, PAPERS

    c = stack.client
    assert c is not None
    created = c.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.004227", "applicant": APPLICANT},
    )
    assert created.status_code == 201, created.text
    ref = created.json()["id"]
    checked = c.post(
        f"/api/v1/dossiers/{ref}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    assert checked.status_code == 200, checked.text
    received = c.post(f"/api/v1/dossiers/{ref}/receive", headers=clerk)
    assert received.status_code == 200, received.text
    body = received.json()
    return body["code"], body["components"][0]["id"]
