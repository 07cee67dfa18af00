"""Running one step of a scan: claim it, run its stage in a fresh work folder, decide what next.

The Celery tasks in :mod:`ingest.tasks` only call :func:`run_step` and act on its outcome, so a
step runs the same without a broker (``sohoa digitize``, the tests).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.errors import AttemptsExhausted, IngestError, WorkDirFull
from ingest.ledger import claim, fail, heartbeat, release, worker_token
from ingest.stages import ocr_step, sign_step
from storage import metrics
from storage.db import DatabaseUnavailable
from storage.errors import StorageError, StoreUnavailable
from storage.models import Scan, Step

if TYPE_CHECKING:
    from ingest.ports import Pipeline, PipelineConfig

log = logging.getLogger(__name__)

# Errors that mean a service is down rather than that the scan is bad.
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, DatabaseUnavailable)


@dataclass(frozen=True)
class StepOutcome:
    """What a task should do next: nothing, dispatch the next step, or retry later."""

    next_step: str | None = None
    retry: bool = False
    skipped: bool = False
    failed: bool = False


def run_step(pipeline: Pipeline, scan_id: str, step: str) -> StepOutcome:
    """Run ``step`` of ``scan_id`` if nobody holds it; its time goes to the stage histogram."""
    token = worker_token()
    scan = claim(pipeline, scan_id, step, token)
    if scan is None:
        return StepOutcome(skipped=True)
    started = time.monotonic()
    outcome = "failed"
    try:
        result = _run_claimed(pipeline, scan, step, token)
        outcome = "retry" if result.retry else "failed" if result.failed else "ok"
        return result
    finally:
        metrics.observe_stage(
            pipeline.pipeline_deps.sessions, step, outcome, time.monotonic() - started
        )


def _pipeline_errors() -> tuple[type[Exception], ...]:
    """Every package's error base: these carry a reason code and say whether to retry."""
    from ocr.errors import OcrError
    from signing.errors import SigningError

    return (IngestError, OcrError, SigningError, StorageError)


def _run_claimed(pipeline: Pipeline, scan: Scan, step: str, token: str) -> StepOutcome:
    scan_id = scan.id
    config = pipeline.pipeline_config
    if scan.attempts > config.max_attempts:
        err = AttemptsExhausted(
            f"the {step} step was tried {scan.attempts - 1} times without finishing; "
            "the original is kept; retry the scan once the cause is fixed"
        )
        fail(pipeline, scan_id, err.code, str(err), token, stage=step)
        return StepOutcome(failed=True)
    work = config.work_dir / "scans" / scan_id / step
    errors = _pipeline_errors()
    caught: tuple[type[Exception], ...] = (*errors, OSError)
    try:
        _check_free_space(config)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with heartbeat(pipeline, scan_id, step, token):
            if step == Step.OCR:
                ocr_step(pipeline, scan, work, token)
                return StepOutcome(next_step=Step.SIGN)
            sign_step(pipeline, scan, work, token)
            return StepOutcome()
    except caught as raised:
        exc = _disk_full_or(raised, config)
        if not isinstance(exc, errors):
            raise
        code = getattr(exc, "code", "pipeline_error")
        if isinstance(exc, OUTAGES):
            # The store or the database is down: not the scan's fault, so the attempt is given
            # back and the step waits (task retries with back-off, then the sweeper) until the
            # service is back. /readyz and the logs say what is down.
            log.warning("scan %s step %s waits: %s: %s", scan_id, step, code, exc)
            release(pipeline, scan_id, step, token, give_back_attempt=True)
            return StepOutcome(retry=True)
        if getattr(exc, "retryable", False) and scan.attempts < config.max_attempts:
            log.warning("scan %s step %s: retryable %s: %s", scan_id, step, code, exc)
            release(pipeline, scan_id, step, token)
            return StepOutcome(retry=True)
        log.info("scan %s failed at %s: %s: %s", scan_id, step, code, exc)
        fail(pipeline, scan_id, code, str(exc), token, stage=step)
        return StepOutcome(failed=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_free_space(config: PipelineConfig) -> None:
    """Refuse to start a step on a nearly full scratch disk, before it fails half-way."""
    config.work_dir.mkdir(parents=True, exist_ok=True)
    free = _short_of_space(config)
    if free is not None:
        raise WorkDirFull(
            f"only {free // (1024 * 1024)} MB free in the work directory {config.work_dir} "
            f"(SOHOA_WORK_MIN_FREE_MB={config.work_min_free_mb}); free space or move "
            "SOHOA_WORK_PATH, then retry the scan"
        )


def _short_of_space(config: PipelineConfig) -> int | None:
    """Free bytes in the work dir when below SOHOA_WORK_MIN_FREE_MB, else None."""
    free = shutil.disk_usage(config.work_dir).free
    return free if free < config.work_min_free_mb * 2**20 else None


def _disk_full_or(exc: BaseException, config: PipelineConfig) -> BaseException:
    """A step that died of a full disk says so, whatever tool was writing at the time."""
    if isinstance(exc, WorkDirFull):
        return exc
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full:
        with contextlib.suppress(OSError):
            full = _short_of_space(config) is not None
    if full:
        return WorkDirFull(
            f"the work directory {config.work_dir} is full ({exc}); free space, then retry the scan"
        )
    return exc
