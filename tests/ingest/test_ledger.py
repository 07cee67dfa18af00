"""The ledger's rules: one claim wins, leases expire, the sweeper re-enqueues, attempts run out."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from ingest.ledger import claim
from ingest.pipeline import sweep
from ingest.runner import run_step
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step, utcnow
from tests.factories import make_scan
from wiring.factory import Services


def _add_scan(services: Services, **kw: object) -> str:
    scan = make_scan(**kw)
    with session_scope(services.sessions) as s:
        s.add(scan)
        s.flush()
        return scan.id


def _get(services: Services, scan_id: str) -> Scan:
    with session_scope(services.sessions) as s:
        scan = s.get(Scan, scan_id)
        assert scan is not None
        s.expunge(scan)
        return scan


def test_one_of_twenty_duplicate_deliveries_runs(services: Services) -> None:
    scan_id = _add_scan(services)
    barrier = threading.Barrier(20)
    wins: list[str] = []

    def deliver(i: int) -> None:
        barrier.wait()
        if claim(services, scan_id, Step.OCR, f"worker-{i}") is not None:
            wins.append(f"worker-{i}")

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    scan = _get(services, scan_id)
    assert scan.worker == wins[0] and scan.attempts == 1 and scan.status == ScanStatus.PROCESSING


def test_a_message_for_a_finished_step_does_nothing(services: Services) -> None:
    scan_id = _add_scan(services, step=Step.SIGN)
    assert claim(services, scan_id, Step.OCR, "late-redelivery") is None
    assert run_step(services, scan_id, Step.OCR).skipped


def test_expired_lease_can_be_taken_over(services: Services) -> None:
    scan_id = _add_scan(services)
    assert claim(services, scan_id, Step.OCR, "dead-worker") is not None
    assert claim(services, scan_id, Step.OCR, "second") is None  # lease still held
    with session_scope(services.sessions) as s:
        s.execute(
            update(Scan)
            .where(Scan.id == scan_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    taken = claim(services, scan_id, Step.OCR, "second")
    assert taken is not None and taken.attempts == 2


def test_attempts_run_out_and_the_scan_fails_with_a_reason(services: Services) -> None:
    limit = services.settings.max_attempts
    scan_id = _add_scan(services, attempts=limit)
    run_step(services, scan_id, Step.OCR)
    scan = _get(services, scan_id)
    assert scan.status == ScanStatus.FAILED
    assert scan.reason_code == "attempts_exhausted"
    assert "original is kept" in (scan.reason_message or "")


def test_sweeper_requeues_only_stalled_scans(services: Services) -> None:
    old = utcnow() - timedelta(seconds=services.settings.requeue_grace + 5)
    stalled = _add_scan(services, status=ScanStatus.PROCESSING, lease_until=old, updated_at=old)
    never_started = _add_scan(services, updated_at=old)
    running = _add_scan(
        services,
        status=ScanStatus.PROCESSING,
        lease_until=utcnow() + timedelta(minutes=1),
        updated_at=old,
    )
    fresh = _add_scan(services)
    done = _add_scan(services, status=ScanStatus.DIGITIZED, step=None, updated_at=old)
    queue_dir = Path(services.settings.broker_dir) / "queue"
    assert sweep(services) == 2
    messages = list(queue_dir.iterdir())
    assert len(messages) == 2
    body = "".join(m.read_text() for m in messages)
    assert stalled in body and never_started in body
    for other in (running, fresh, done):
        assert other not in body
    # Swept scans are not re-sent on the very next pass.
    assert sweep(services) == 0
