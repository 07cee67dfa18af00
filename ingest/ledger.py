"""The scans table as the ledger of work: claims, leases, failures, retries.

A step is claimed with a conditional update (so a redelivered or duplicated message does
nothing), its lease is renewed while it runs, and whatever a step writes afterwards is written
only while the lease is still ours (so a step taken over after a crash cannot write twice).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, CursorResult, or_, select, update

from ingest.errors import ScanNotFound
from storage import metrics
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step, utcnow

if TYPE_CHECKING:
    from ingest.ports import Pipeline

log = logging.getLogger(__name__)


def worker_token() -> str:
    """Who holds a lease: host, process and a random part, unique per step run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def changed(result: object) -> int:
    """Rows an UPDATE matched (``Session.execute`` is typed as returning any ``Result``)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def still_ours(scan_id: str, step: str, token: str) -> tuple[ColumnElement[bool], ...]:
    """The condition every write of a running step carries: the lease is still ``token``'s."""
    return (Scan.id == scan_id, Scan.step == step, Scan.worker == token)


def claim(pipeline: Pipeline, scan_id: str, step: str, token: str) -> Scan | None:
    """Take a step if nobody holds it; return None when it is done, held, or not ours to run."""
    now = utcnow()
    return _take(
        pipeline,
        scan_id,
        token,
        Scan.step == step,
        Scan.status.in_(ScanStatus.ACTIVE),
        or_(Scan.lease_until.is_(None), Scan.lease_until < now),
    )


def _take(
    pipeline: Pipeline,
    scan_id: str,
    token: str,
    *where: ColumnElement[bool],
    **values: object,
) -> Scan | None:
    """The conditional update every claim is: lease the scan to ``token`` if ``where`` holds
    (``values``: more columns to set on the way)."""
    now = utcnow()
    lease = timedelta(seconds=pipeline.pipeline_config.lease_seconds)
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        result = session.execute(
            update(Scan)
            .where(Scan.id == scan_id, *where)
            .values(
                status=ScanStatus.PROCESSING,
                lease_until=now + lease,
                attempts=Scan.attempts + 1,
                worker=token,
                updated_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        if changed(result) != 1:
            return None
        scan = session.get(Scan, scan_id)
        assert scan is not None
        session.expunge(scan)
        return scan


@contextlib.contextmanager
def heartbeat(pipeline: Pipeline, scan_id: str, step: str, token: str) -> Iterator[None]:
    """Renew the lease in the background while a step runs."""
    stop = threading.Event()
    config = pipeline.pipeline_config
    sessions = pipeline.pipeline_deps.sessions

    def beat() -> None:
        while not stop.wait(config.heartbeat_seconds):
            try:
                with session_scope(sessions) as session:
                    session.execute(
                        update(Scan)
                        .where(*still_ours(scan_id, step, token))
                        .values(lease_until=utcnow() + timedelta(seconds=config.lease_seconds))
                        .execution_options(synchronize_session=False)
                    )
            except Exception:
                log.warning("heartbeat for scan %s failed", scan_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"heartbeat-{scan_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def progress_writer(pipeline: Pipeline, scan_id: str, token: str) -> Callable[[int, int], None]:
    """Pages done and total, written while the lease is ours; a failed write is only logged."""
    sessions = pipeline.pipeline_deps.sessions

    def progress(done: int, total: int) -> None:
        try:
            with session_scope(sessions) as session:
                session.execute(
                    update(Scan)
                    .where(Scan.id == scan_id, Scan.worker == token)
                    .values(pages_done=done, pages_total=total)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.warning("progress update for scan %s failed", scan_id, exc_info=True)

    return progress


def take_stalled(pipeline: Pipeline) -> list[tuple[str, str]]:
    """Accepted scans that are not running (a killed worker, a lost message), as (id, step).

    Each is marked as just seen, so a second sweeper running at once does not take it too.
    """
    now = utcnow()
    grace = timedelta(seconds=pipeline.pipeline_config.requeue_grace)
    todo: list[tuple[str, str]] = []
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        rows = session.execute(
            select(Scan.id, Scan.step).where(
                Scan.status.in_(ScanStatus.ACTIVE),
                Scan.step.is_not(None),
                or_(Scan.lease_until.is_(None), Scan.lease_until < now),
                Scan.updated_at < now - grace,
            )
        ).all()
        for scan_id, step in rows:
            assert step is not None
            session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.step == step)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
            todo.append((scan_id, step))
    return todo


def fail(
    pipeline: Pipeline,
    scan_id: str,
    code: str,
    message: str,
    token: str | None = None,
    *,
    stage: str = "pipeline",
) -> None:
    """End a scan as failed with a reason code (counted once, with the update that ends it)."""
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        conditions = [Scan.id == scan_id, Scan.status.in_(ScanStatus.ACTIVE)]
        if token is not None:
            conditions.append(Scan.worker == token)
        ended = session.execute(
            update(Scan)
            .where(*conditions)
            .values(
                status=ScanStatus.FAILED,
                reason_code=code,
                reason_message=message[:2000],
                lease_until=None,
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if changed(ended) == 1:
            metrics.add(session, metrics.FAILURES, {"reason": code, "stage": stage})


def await_confirmation(
    pipeline: Pipeline, scan_id: str, token: str, code: str, message: str
) -> bool:
    """Park a scan whose signature needs the clerk's PIN/OTP: its OCR'd file is kept, no worker
    or sweeper takes it (it is not ACTIVE), and the attempt is given back (nothing failed).

    The message says what the clerk does; it never carries the PIN or OTP. Returns whether the
    lease was still ours.
    """
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        parked = session.execute(
            update(Scan)
            .where(*still_ours(scan_id, Step.SIGN, token))
            .values(
                status=ScanStatus.AWAITING_CONFIRMATION,
                reason_code=code,
                reason_message=message[:2000],
                attempts=0,
                lease_until=None,
                worker=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        return changed(parked) == 1


def claim_confirmed(pipeline: Pipeline, scan_id: str, token: str) -> Scan | None:
    """Take the sign step of a scan awaiting confirmation, for the clerk who just confirmed.

    The same conditional update as :func:`claim`, from ``awaiting_confirmation`` only, so two
    confirmations sent at once sign once: the second finds the scan taken (None).
    """
    return _take(
        pipeline,
        scan_id,
        token,
        Scan.step == Step.SIGN,
        Scan.status == ScanStatus.AWAITING_CONFIRMATION,
        reason_code=None,  # the last refusal's reason goes as the signing starts
        reason_message=None,
    )


def release(
    pipeline: Pipeline, scan_id: str, step: str, token: str, *, give_back_attempt: bool = False
) -> None:
    """Give a step back after a retryable error so that a retry or the sweeper can take it."""
    values: dict[str, Any] = {"lease_until": None, "worker": None}
    if give_back_attempt:
        values["attempts"] = Scan.attempts - 1
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        session.execute(
            update(Scan)
            .where(*still_ours(scan_id, step, token))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def retry_scan(pipeline: Pipeline, scan_id: str) -> Scan:
    """Put a failed scan back in line from the step where it stopped; the original is intact.

    The caller queues its step (:func:`ingest.pipeline.dispatch`) once this has committed.
    """
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        scan = session.get(Scan, scan_id)
        if scan is None:
            raise ScanNotFound(f"no scan {scan_id}")
        if scan.status == ScanStatus.FAILED:
            scan.status = ScanStatus.RECEIVED
            scan.attempts = 0
            scan.reason_code = None
            scan.reason_message = None
            scan.finished_at = None
            scan.worker = None
            scan.lease_until = None
            scan.step = scan.step or Step.OCR
        session.flush()
        session.expunge(scan)
    return scan
