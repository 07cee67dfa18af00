"""End-to-end topologies: the API in-process, real worker processes from the package's entry point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import REDIS_URL, TOKEN
from wiring.factory import Services, build

TERMINAL = {"digitized", "failed"}


@dataclass
class Stack:
    """One running topology: settings as environment, the API client, and its workers."""

    env: dict[str, str]
    services: Services
    client: TestClient
    log_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def start_worker(
        self, *, concurrency: int = 1, queues: str = "ocr,sign"
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wiring.cli",
                "worker",
                "--concurrency",
                str(concurrency),
                "--queues",
                queues,
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches the pool children
        )
        self.workers.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def worker_logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.log_dir.glob("worker-*.log"))
        )

    def upload(self, path: Path, **fields: str) -> dict[str, Any]:
        with path.open("rb") as f:
            resp = self.client.post(
                "/api/v1/scans", headers=self.auth, data=fields, files={"file": (path.name, f)}
            )
        assert resp.status_code in (200, 202), resp.text
        return resp.json()

    def scan(self, scan_id: str) -> dict[str, Any]:
        resp = self.client.get(f"/api/v1/scans/{scan_id}", headers=self.auth)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(
        self,
        scan_ids: list[str],
        *,
        timeout: float = 600,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every scan is terminal (or ``until`` holds); fail with the worker logs if not."""
        done = until or (lambda s: s["status"] in TERMINAL)
        deadline = time.monotonic() + timeout
        states: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            states = {sid: self.scan(sid) for sid in scan_ids}
            if all(done(s) for s in states.values()):
                return states
            for proc in self.workers:
                if proc.poll() is not None and proc.returncode not in (0, -9, -15):
                    pytest.fail(f"worker exited with {proc.returncode}\n{self.worker_logs()}")
            time.sleep(0.5)
        pytest.fail(f"scans not finished after {timeout}s: {states}\n{self.worker_logs()}")

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()  # the main process only: Celery stops its own pool
        for proc in self.workers:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.client.close()
        self.services.engine.dispose()


def _env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(values)
    env["OMP_THREAD_LIMIT"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(**overrides: str) -> Stack:
        base = {
            "SOHOA_DATA_DIR": str(tmp_path / "data"),
            "SOHOA_API_TOKEN": TOKEN,
            "SOHOA_BROKER_POLL_INTERVAL": "0.1",
            "SOHOA_OCR_JOBS": "1",
            "SOHOA_PADES_LEVEL": "B-B",  # no /pki server beside the workers here
        }
        base.update(overrides)
        env = _env(base)
        saved = dict(os.environ)
        os.environ.update({k: v for k, v in env.items() if k.startswith("SOHOA_")})
        try:
            settings = Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        services = build(settings)
        log_dir = tmp_path / "logs"
        log_dir.mkdir(exist_ok=True)
        stack = Stack(env, services, TestClient(create_app(services)), log_dir)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """A Redis database of its own for one test's broker, emptied before and after."""
    db = 9
    url = f"{REDIS_URL}/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(
            f"Redis at {REDIS_URL} is not reachable ({exc}); start it or set SOHOA_TEST_REDIS_URL"
        )
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def production_env(pg_database: str, redis_broker: str, seaweedfs) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """PostgreSQL, Redis and SeaweedFS: the production topology on one machine."""
    return {
        "SOHOA_DATABASE_URL": pg_database,
        "SOHOA_BROKER_URL": redis_broker,
        "SOHOA_STORE": "s3",
        "SOHOA_S3_ENDPOINT": seaweedfs.endpoint,
        "SOHOA_S3_ACCESS_KEY": seaweedfs.access_key,
        "SOHOA_S3_SECRET_KEY": seaweedfs.secret_key,
        "SOHOA_S3_BUCKET": f"sohoa-{uuid.uuid4().hex[:10]}",
        "SOHOA_PKI": "development",  # no licensed certificates here: asked for by name
    }
