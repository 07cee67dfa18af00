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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.errors import AttemptsExhausted, IngestError, NotAwaitingConfirmation, WorkDirFull
from ingest.ledger import (
    await_confirmation,
    claim,
    claim_confirmed,
    fail,
    heartbeat,
    release,
    worker_token,
)
from ingest.stages import ocr_step, sign_step, signer_for
from storage import metrics
from storage.db import DatabaseUnavailable, session_scope
from storage.errors import StorageError, StoreUnavailable
from storage.models import Scan, Step

if TYPE_CHECKING:
    from ingest.ports import Pipeline, PipelineConfig
    from signing.backends import SignerBackend

log = logging.getLogger(__name__)

# Errors that mean a service is down rather than that the scan is bad.
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, DatabaseUnavailable)

# What the counter reads while a scan waits for its clerk: Vietnamese first, as the clerk acts
# on it, then English for the operator. Never the PIN or OTP.
AWAITING_REQUIRED = (
    "Chờ xác nhận ký số: nhập mã OTP/PIN để ký "
    "(the clerk's remote signing key signs only with their PIN/OTP)"
)
AWAITING_REJECTED = (
    "Mã OTP/PIN không đúng hoặc đã hết hạn: yêu cầu mã OTP mới rồi xác nhận lại "
    "(the remote signing service refused the confirmation)"
)
AWAITING_UNAVAILABLE = (
    "Chưa ký được vì dịch vụ ký số không trả lời: xác nhận lại sau ít phút "
    "(the remote signing service, or a service signing needs, is unreachable)"
)


@dataclass(frozen=True)
class StepOutcome:
    """What a task should do next: nothing, dispatch the next step, or retry later."""

    next_step: str | None = None
    retry: bool = False
    skipped: bool = False
    failed: bool = False
    #: The sign step waits for the clerk's PIN/OTP: nothing to queue, nothing failed.
    awaiting: bool = False

    @property
    def label(self) -> str:
        """The stage histogram's outcome: ok, retry, failed or awaiting."""
        if self.retry:
            return "retry"
        if self.failed:
            return "failed"
        return "awaiting" if self.awaiting else "ok"


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
        outcome = result.label
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
        if step == Step.SIGN and _needs_confirmation(exc):
            # Nothing failed: the clerk's remote key waits for their PIN/OTP, which only the
            # clerk can give (POST /api/v1/scans/{id}/confirmation signs it then).
            log.info("scan %s waits for its clerk's signing confirmation", scan_id)
            await_confirmation(pipeline, scan_id, token, code, AWAITING_REQUIRED)
            return StepOutcome(awaiting=True)
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


def _needs_confirmation(exc: BaseException) -> bool:
    from signing.errors import ConfirmationRequired

    return isinstance(exc, ConfirmationRequired)


def sign_confirmed(
    pipeline: Pipeline,
    scan_id: str,
    confirm: Callable[[SignerBackend], SignerBackend],
) -> Scan:
    """Sign a scan awaiting its clerk's confirmation, here and now, and return it as stored.

    Runs in the process that received the PIN/OTP (the API), because a PIN/OTP never goes into
    a task message or the database. ``confirm`` turns the registry's backend into the clerk's
    one-shot confirmed backend. The step is claimed like a worker's, so two confirmations at
    once sign once. When the confirmation is refused, or the provider (or the store, the TSA)
    cannot be reached, the scan waits again and the error is raised for the caller to answer;
    any other signing error fails the scan as in a worker, and is raised too.
    """
    from signing.errors import ConfirmationRejected

    config = pipeline.pipeline_config
    token = worker_token()
    scan = claim_confirmed(pipeline, scan_id, token)
    if scan is None:
        raise NotAwaitingConfirmation(
            f"scan {scan_id} is not waiting for a signing confirmation (signed already, being "
            "signed, or never asked for one); read its status again"
        )
    work = config.work_dir / "scans" / scan_id / "confirm"
    started = time.monotonic()
    outcome = "failed"
    try:
        _check_free_space(config)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with heartbeat(pipeline, scan_id, Step.SIGN, token):
            sign_step(pipeline, scan, work, token, confirm(signer_for(pipeline, scan)))
        outcome = "ok"
    except BaseException as raised:
        exc = _disk_full_or(raised, config)
        code = str(getattr(exc, "code", "signing_failed"))
        if isinstance(exc, ConfirmationRejected):
            message = AWAITING_REJECTED
        elif _needs_confirmation(exc):
            message = AWAITING_REQUIRED
        elif isinstance(exc, (*_pipeline_errors(), OSError)) and not (
            isinstance(exc, OUTAGES) or getattr(exc, "retryable", False)
        ):
            log.info("scan %s failed at its confirmed signature: %s: %s", scan_id, code, exc)
            fail(pipeline, scan_id, code, str(exc), token, stage=Step.SIGN)
            raise
        else:  # unreachable now, or unexpected: nothing is lost, the clerk confirms again
            message = AWAITING_UNAVAILABLE
        # The confirmation just used is spent either way: the clerk gives a new one.
        log.warning("scan %s: confirmed signature not made: %s: %s", scan_id, code, exc)
        await_confirmation(pipeline, scan_id, token, code, message)
        outcome = "retry"
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        metrics.observe_stage(
            pipeline.pipeline_deps.sessions, Step.SIGN, outcome, time.monotonic() - started
        )
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        signed = session.get(Scan, scan_id)
        assert signed is not None
        session.expunge(signed)
        return signed


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
