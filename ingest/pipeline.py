"""The pipeline's stages and the ledger rules around them.

Stages are plain functions over files in a work folder; the Celery tasks in ``ingest.tasks`` only
call ``run_step``. A step is claimed with a conditional update (so a redelivered or duplicated
message does nothing), its lease is renewed while it runs, and its results are committed only
if the lease is still ours (so a step taken over after a crash cannot write twice).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from dossiers.models import ComponentScan
from ingest.errors import AttemptsExhausted, IngestError, ScanNotFound, WorkDirFull
from ingest.normalize import normalize
from ingest.refusals import record_refusal
from ingest.validate import (
    EXTENSIONS,
    PDF,
    Spooled,
    decrypt_pdf,
    display_name,
    inspect,
    validate_clerk_id,
    validate_languages,
)
from storage import metrics
from storage.db import DatabaseUnavailable, session_scope
from storage.errors import StoreUnavailable
from storage.models import Document, Scan, ScanStatus, Step, new_id, utcnow
from storage.objects import Retention

if TYPE_CHECKING:
    from wiring.factory import Services

log = logging.getLogger(__name__)

# Errors that mean a service is down rather than that the scan is bad.
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, DatabaseUnavailable)


def _pipeline_errors() -> tuple[type[Exception], ...]:
    """Every package's error base: these carry a reason code and say whether to retry."""
    from ocr.errors import OcrError
    from signing.errors import SigningError
    from storage.errors import StorageError

    return (IngestError, OcrError, SigningError, StorageError)


# ---------------------------------------------------------------------------------------------
# Upload


@dataclass(frozen=True)
class Accepted:
    scan: Scan
    created: bool


def accept_upload(
    services: Services,
    spooled: Spooled,
    *,
    filename: str | None,
    clerk_id: str | None = None,
    password: str | None = None,
    unit_code: str | None = None,
    component: ComponentRef | None = None,
    sign_as: str = "clerk",
    sign_options: dict[str, Any] | None = None,
    on_created: Callable[[Any, Scan], None] | None = None,
    languages: str | None = None,
) -> Accepted:
    """Check a spooled upload, keep the original, and record the scan; the caller dispatches it.

    The same bytes uploaded again for the same clerk (or, for a dossier component, to the same
    component) return the existing scan instead of starting a second one, unless it failed.
    """
    settings = services.settings
    clerk = clerk_id or settings.default_clerk
    validate_clerk_id(clerk)
    ocr_languages = validate_languages(languages) if languages else None
    with session_scope(services.sessions) as session:
        existing = _existing_scan(session, spooled.sha256, clerk, component)
        if existing is not None:
            return Accepted(existing, created=False)

    scan_id = new_id()
    try:
        inspection = inspect(spooled.path, services.limits, password=password)
    except IngestError as exc:
        # Refused: the counter gets a 4xx with a scan id that keeps answering (410, the reason);
        # the bytes are kept only under quarantine policy (ingest.refusals).
        record_refusal(
            services,
            scan_id,
            spooled,
            exc,
            filename=filename,
            clerk=clerk,
            unit_code=unit_code,
            dossier_id=component.dossier_id if component is not None else None,
        )
        exc.scan_id = scan_id  # type: ignore[attr-defined]
        raise

    original_key = f"originals/{scan_id}/original.{EXTENSIONS[inspection.media_type]}"
    services.store.put_file(
        original_key,
        spooled.path,
        content_type=inspection.media_type,
        sha256=spooled.sha256,
        metadata={"scan-id": scan_id},
    )
    source_key = None
    if inspection.media_type == PDF and inspection.encrypted:
        # Opened with the citizen's password, or with none (an owner-password-only PDF):
        # the pipeline works on a decrypted copy and never needs the password again.
        with tempfile.TemporaryDirectory(dir=upload_dir(settings)) as tmp:
            decrypted = Path(tmp) / "decrypted.pdf"
            decrypt_pdf(spooled.path, decrypted, password or "")
            source_key = f"originals/{scan_id}/decrypted.pdf"
            services.store.put_file(source_key, decrypted, content_type=PDF)
        inspection.warnings.append("pdf_decrypted_copy_processed")

    scan = Scan(
        id=scan_id,
        status=ScanStatus.RECEIVED,
        step=Step.OCR,
        filename=display_name(filename, inspection.media_type),
        media_type=inspection.media_type,
        size=spooled.size,
        sha256=spooled.sha256,
        original_key=original_key,
        source_key=source_key,
        clerk_id=clerk,
        unit_code=unit_code,
        sign_as=sign_as,
        sign_options=sign_options,
        ocr_languages=ocr_languages,
        pages_total=inspection.pages,
        pages_done=0,
        attempts=0,
        warnings=list(inspection.warnings),
    )
    try:
        with session_scope(services.sessions) as session:
            session.add(scan)
            if component is not None:
                session.flush()
                session.add(
                    ComponentScan(
                        scan_id=scan.id,
                        component_id=component.component_id,
                        dossier_id=component.dossier_id,
                        sha256=spooled.sha256,
                    )
                )
            if on_created is not None:
                session.flush()
                on_created(session, scan)
    except IntegrityError:
        # The same file reached the same component through a concurrent upload: keep theirs.
        with contextlib.suppress(Exception):
            services.store.delete(original_key)
        with session_scope(services.sessions) as session:
            existing = _existing_scan(session, spooled.sha256, clerk, component)
        if existing is None:
            raise
        return Accepted(existing, created=False)
    return Accepted(scan, created=True)


@dataclass(frozen=True)
class ComponentRef:
    dossier_id: str
    component_id: str


def _existing_scan(
    session: Any, sha256: str, clerk: str, component: ComponentRef | None
) -> Scan | None:
    stmt = select(Scan).where(Scan.sha256 == sha256, Scan.status != ScanStatus.FAILED)
    if component is None:
        stmt = stmt.where(Scan.clerk_id == clerk)
    else:
        stmt = stmt.join(ComponentScan, ComponentScan.scan_id == Scan.id).where(
            ComponentScan.component_id == component.component_id
        )
    return session.scalars(stmt.limit(1)).first()


def upload_dir(settings: Any) -> Path:
    path = settings.work_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dispatch(services: Services, scan_id: str, step: str) -> None:
    """Enqueue a step. Losing this message is harmless: the sweeper re-enqueues it."""
    from core.logs import current_headers
    from ingest.tasks import QUEUE_FOR_STEP, TASK_FOR_STEP

    try:
        services.celery.send_task(
            TASK_FOR_STEP[step],
            args=[scan_id],
            queue=QUEUE_FOR_STEP[step],
            headers=current_headers(),
        )
    except Exception:  # broker down: the scan is safe in the ledger
        log.warning(
            "could not enqueue %s for scan %s; the sweeper will", step, scan_id, exc_info=True
        )


# ---------------------------------------------------------------------------------------------
# Claiming, leases and the sweeper


def worker_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(services: Services, scan_id: str, step: str, token: str) -> Scan | None:
    """Take a step if nobody holds it; return None when it is done, held, or not ours to run."""
    now = utcnow()
    lease = timedelta(seconds=services.settings.lease_seconds)
    with session_scope(services.sessions) as session:
        result = session.execute(
            update(Scan)
            .where(
                Scan.id == scan_id,
                Scan.step == step,
                Scan.status.in_(ScanStatus.ACTIVE),
                or_(Scan.lease_until.is_(None), Scan.lease_until < now),
            )
            .values(
                status=ScanStatus.PROCESSING,
                lease_until=now + lease,
                attempts=Scan.attempts + 1,
                worker=token,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        scan = session.get(Scan, scan_id)
        assert scan is not None
        session.expunge(scan)
        return scan


def _still_ours(scan_id: str, step: str, token: str) -> Any:
    return (Scan.id == scan_id, Scan.step == step, Scan.worker == token)


@contextlib.contextmanager
def heartbeat(services: Services, scan_id: str, step: str, token: str) -> Iterator[None]:
    """Renew the lease in the background while a step runs."""
    stop = threading.Event()
    settings = services.settings

    def beat() -> None:
        while not stop.wait(settings.heartbeat_seconds):
            try:
                with session_scope(services.sessions) as session:
                    session.execute(
                        update(Scan)
                        .where(*_still_ours(scan_id, step, token))
                        .values(lease_until=utcnow() + timedelta(seconds=settings.lease_seconds))
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


def sweep(services: Services) -> int:
    """Re-enqueue accepted scans that are not running: a killed worker, a lost message."""
    now = utcnow()
    grace = timedelta(seconds=services.settings.requeue_grace)
    todo: list[tuple[str, str]] = []
    with session_scope(services.sessions) as session:
        rows = session.execute(
            select(Scan.id, Scan.step).where(
                Scan.status.in_(ScanStatus.ACTIVE),
                or_(Scan.lease_until.is_(None), Scan.lease_until < now),
                Scan.updated_at < now - grace,
            )
        ).all()
        for scan_id, step in rows:
            session.execute(
                update(Scan)
                .where(Scan.id == scan_id, Scan.step == step)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
            todo.append((scan_id, step))
    for scan_id, step in todo:
        log.info("sweeper re-enqueues scan %s step %s", scan_id, step)
        dispatch(services, scan_id, step)
    try:  # refused uploads' quarantined bytes past their days
        from ingest.refusals import expire_quarantine

        expire_quarantine(services)
    except Exception:
        log.warning("expiring quarantined uploads failed; the next sweep retries", exc_info=True)
    return len(todo)


def fail(
    services: Services,
    scan_id: str,
    code: str,
    message: str,
    token: str | None = None,
    *,
    stage: str = "pipeline",
) -> None:
    """End a scan as failed with a reason code (counted once, with the update that ends it)."""
    with session_scope(services.sessions) as session:
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
        if ended.rowcount == 1:  # type: ignore[attr-defined]
            metrics.add(session, metrics.FAILURES, {"reason": code, "stage": stage})


def release(
    services: Services, scan_id: str, step: str, token: str, *, give_back_attempt: bool = False
) -> None:
    """Give a step back after a retryable error so that a retry or the sweeper can take it."""
    values: dict[str, Any] = {"lease_until": None, "worker": None}
    if give_back_attempt:
        values["attempts"] = Scan.attempts - 1
    with session_scope(services.sessions) as session:
        session.execute(
            update(Scan)
            .where(*_still_ours(scan_id, step, token))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def retry_scan(services: Services, scan_id: str) -> Scan:
    """Put a failed scan back in line from the step where it stopped; the original is intact."""
    with session_scope(services.sessions) as session:
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


# ---------------------------------------------------------------------------------------------
# Running a step


@dataclass(frozen=True)
class StepOutcome:
    """What a task should do next: nothing, dispatch the next step, or retry later."""

    next_step: str | None = None
    retry: bool = False
    skipped: bool = False
    failed: bool = False


def run_step(services: Services, scan_id: str, step: str) -> StepOutcome:
    token = worker_token()
    scan = claim(services, scan_id, step, token)
    if scan is None:
        return StepOutcome(skipped=True)
    started = time.monotonic()
    outcome = "failed"
    try:
        result = _run_claimed(services, scan, step, token)
        outcome = "retry" if result.retry else "failed" if result.failed else "ok"
        return result
    finally:
        metrics.observe_stage(services.sessions, step, outcome, time.monotonic() - started)


def _run_claimed(services: Services, scan: Scan, step: str, token: str) -> StepOutcome:
    scan_id = scan.id
    settings = services.settings
    if scan.attempts > settings.max_attempts:
        err = AttemptsExhausted(
            f"the {step} step was tried {scan.attempts - 1} times without finishing; "
            "the original is kept; retry the scan once the cause is fixed"
        )
        fail(services, scan_id, err.code, str(err), token, stage=step)
        return StepOutcome(failed=True)
    work = settings.work_dir / "scans" / scan_id / step
    errors = _pipeline_errors()
    try:
        _check_free_space(settings)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with heartbeat(services, scan_id, step, token):
            if step == Step.OCR:
                _ocr_step(services, scan, work, token)
                return StepOutcome(next_step=Step.SIGN)
            _sign_step(services, scan, work, token)
            return StepOutcome()
    except (*errors, OSError) as raised:
        exc = _disk_full_or(raised, settings)
        if not isinstance(exc, errors):
            raise
        code = getattr(exc, "code", "pipeline_error")
        if isinstance(exc, OUTAGES):
            # The store or the database is down: not the scan's fault, so the attempt is given
            # back and the step waits (task retries with back-off, then the sweeper) until the
            # service is back. /readyz and the logs say what is down.
            log.warning("scan %s step %s waits: %s: %s", scan_id, step, code, exc)
            release(services, scan_id, step, token, give_back_attempt=True)
            return StepOutcome(retry=True)
        if getattr(exc, "retryable", False) and scan.attempts < settings.max_attempts:
            log.warning("scan %s step %s: retryable %s: %s", scan_id, step, code, exc)
            release(services, scan_id, step, token)
            return StepOutcome(retry=True)
        log.info("scan %s failed at %s: %s: %s", scan_id, step, code, exc)
        fail(services, scan_id, code, str(exc), token, stage=step)
        return StepOutcome(failed=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_free_space(settings: Any) -> None:
    """Refuse to start a step on a nearly full scratch disk, before it fails half-way."""
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    free = _short_of_space(settings)
    if free is not None:
        raise WorkDirFull(
            f"only {free // (1024 * 1024)} MB free in the work directory {settings.work_dir} "
            f"(SOHOA_WORK_MIN_FREE_MB={settings.work_min_free_mb}); free space or move "
            "SOHOA_WORK_PATH, then retry the scan"
        )


def _short_of_space(settings: Any) -> int | None:
    """Free bytes in the work dir when below SOHOA_WORK_MIN_FREE_MB, else None."""
    free = shutil.disk_usage(settings.work_dir).free
    return free if free < settings.work_min_free_mb * 2**20 else None


def _disk_full_or(exc: BaseException, settings: Any) -> BaseException:
    """A step that died of a full disk says so, whatever tool was writing at the time."""
    if isinstance(exc, WorkDirFull):
        return exc
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full:
        with contextlib.suppress(OSError):
            full = _short_of_space(settings) is not None
    if full:
        return WorkDirFull(
            f"the work directory {settings.work_dir} is full ({exc}); free space, "
            "then retry the scan"
        )
    return exc


def _progress_writer(services: Services, scan_id: str, token: str) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        try:
            with session_scope(services.sessions) as session:
                session.execute(
                    update(Scan)
                    .where(Scan.id == scan_id, Scan.worker == token)
                    .values(pages_done=done, pages_total=total)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.warning("progress update for scan %s failed", scan_id, exc_info=True)

    return progress


def _ocr_step(services: Services, scan: Scan, work: Path, token: str) -> None:
    from ocr.extract import extract_fields

    source = work / "source"
    services.store.get_to_file(scan.source_key or scan.original_key, source)
    if scan.media_type == PDF and scan.source_key is None:
        # A decrypted copy (source_key) is no longer the signed bytes: it goes the normal way.
        from signing.inputs import find_signed_input

        found = find_signed_input(source)
        if found is not None:
            _keep_signed_input(services, scan, source, work, token, found)
            return
    normalized = normalize(source, work, services.limits)
    progress = _progress_writer(services, scan.id, token)
    progress(0, normalized.pages)
    ocr_pdf = work / "ocr.pdf"
    result = services.ocr_engine.run(
        normalized.pdf,
        ocr_pdf,
        work_dir=work / "ocr",
        progress=progress,
        languages=scan.ocr_languages.split("+") if scan.ocr_languages else None,
    )
    fields = extract_fields(result.page_texts)
    ocr_key = f"work/{scan.id}/ocr.pdf"
    put = services.store.put_file(ocr_key, ocr_pdf, content_type=PDF)
    ocr_result = {
        "pages": result.pages,
        "language": result.language,
        "page_texts": result.page_texts,
        "fields": fields.to_dict(),
        "rotated_pages": list(result.rotated_pages),
        "deskewed_pages": list(result.deskewed_pages),
        "ocr_sha256": put.sha256,
        "page_info": _page_info(result),
        "attachments": _keep_attachments(services, scan.id, result.attachments),
    }
    warnings = list(dict.fromkeys([*scan.warnings, *normalized.warnings, *result.warnings]))
    _finish_ocr(services, scan, token, ocr_key, ocr_result, warnings, result.pages)


def _page_info(result: Any) -> list[dict[str, Any]]:
    """How each page was made and the language it was read in, as the Document records it."""
    languages = list(result.page_languages)
    quality = {q.page: q for q in result.page_quality}
    info = []
    for number, path in enumerate(result.page_paths, 1):
        page: dict[str, Any] = {
            "path": path,
            "language": languages[number - 1] if number <= len(languages) else result.language,
        }
        measured = quality.get(number)
        if measured is not None and measured.ocr:
            page["dpi"] = measured.dpi
            page["ocr_confidence"] = measured.confidence
        info.append(page)
    return info


def _keep_attachments(services: Services, scan_id: str, attachments: list[Any]) -> list[Any]:
    """Files embedded in the upload, stored beside the document under keys we choose."""
    kept = []
    for number, attachment in enumerate(attachments, 1):
        key = f"attachments/{scan_id}/{number:03d}.bin"
        put = services.store.put_file(
            key,
            attachment.path,
            content_type="application/octet-stream",
            metadata={"scan-id": scan_id},
        )
        kept.append(
            {
                "name": attachment.name,
                "media_type": attachment.media_type,
                "size": attachment.size,
                "sha256": put.sha256,
                "key": key,
            }
        )
    return kept


SIGNED_INPUT_WARNING = "signed_input_kept_as_received"


def _keep_signed_input(
    services: Services, scan: Scan, source: Path, work: Path, token: str, found: Any
) -> None:
    """An already-signed PDF: checked and indexed, never rewritten, never given to OCRmyPDF.

    Its signatures are verified as received and recorded; text comes from its own text
    layer, and pages without one are OCRed for the search index only. The sign step then
    appends our signature to the original bytes (``ocr_key`` points at the original).
    """
    from collections import Counter

    from ocr.extract import extract_fields, page_texts
    from ocr.index_text import ocr_pages_for_index
    from ocr.language import guess
    from signing.errors import SignedInputLocked
    from signing.inputs import verify_input_signatures

    if found.locked:
        raise SignedInputLocked(
            "the file is certified by its signer with 'no changes allowed' (DocMDP P=1): "
            "adding our signature would break theirs, so it cannot be digitized here; "
            "keep it as received"
        )
    # Budgets and a readable page tree, as for any PDF; the copy it makes is not used.
    normalized = normalize(source, work, services.limits)
    progress = _progress_writer(services, scan.id, token)
    progress(0, normalized.pages)
    signatures = verify_input_signatures(
        source, trust_roots=services.trust_roots, other_certs=services.other_certs
    )
    texts = page_texts(source)
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    read = ocr_pages_for_index(
        source,
        blank,
        languages=services.settings.ocr_languages,
        progress=lambda done: progress(len(texts) - len(blank) + done, len(texts)),
    )
    for index, text in read.items():
        texts[index] = text
    fields = extract_fields(texts)
    default = services.settings.ocr_languages.split("+")[0]
    # Tesseract model names, as for converted pages ("vie", "eng", "fra").
    languages = [guess(text, default=default).language for text in texts]
    page_info = [
        {
            "path": "kept",
            "language": languages[i],
            "text": "ocr_index_only" if i in read else "text_layer",
        }
        for i in range(len(texts))
    ]
    ocr_result = {
        "pages": len(texts),
        "language": Counter(languages).most_common(1)[0][0] if languages else default,
        "page_texts": texts,
        "fields": fields.to_dict(),
        "rotated_pages": [],
        "deskewed_pages": [],
        "ocr_sha256": scan.sha256,
        "page_info": page_info,
        "pdfa_source": "as_received",
        "signed_input": {
            "signatures": [sig.to_dict() for sig in signatures],
            "certified": found.certified,
            "perms": list(found.perms),
            "ocr_pages": [i + 1 for i in sorted(read)],
        },
    }
    notes = [SIGNED_INPUT_WARNING]
    if any(not (sig.intact and sig.valid) for sig in signatures):
        notes.append("signed_input_signature_broken")
    if any(not sig.trusted for sig in signatures):
        notes.append("signed_input_signer_not_trusted")
    if found.certified:
        notes.append("signed_input_certified_invisible_signature")
    warnings = list(dict.fromkeys([*scan.warnings, *normalized.warnings, *notes]))
    log.info(
        "scan %s is a signed PDF (%d signature(s)); kept as received, %d page(s) OCRed for "
        "the index",
        scan.id,
        len(signatures),
        len(read),
    )
    _finish_ocr(services, scan, token, scan.original_key, ocr_result, warnings, len(texts))


def _finish_ocr(
    services: Services,
    scan: Scan,
    token: str,
    ocr_key: str,
    ocr_result: dict[str, Any],
    warnings: list[str],
    pages: int,
) -> None:
    """Hand the scan to the sign step, if the OCR lease is still ours."""
    with session_scope(services.sessions) as session:
        done = session.execute(
            update(Scan)
            .where(*_still_ours(scan.id, Step.OCR, token))
            .values(
                step=Step.SIGN,
                ocr_key=ocr_key,
                ocr_result=ocr_result,
                warnings=warnings,
                pages_total=pages,
                pages_done=pages,
                attempts=0,
                lease_until=None,
                worker=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("scan %s: OCR lease lost; another worker owns the step now", scan.id)
        else:
            metrics.add(session, metrics.PAGES, {}, pages)


def _audit_signed(session: Any, scan: Scan, document_id: str, result: Any) -> None:
    """Every signature the service makes is an event in the audit chain."""
    from dossiers.audit import record
    from dossiers.models import ComponentScan, Result

    dossier_id = session.scalar(
        select(ComponentScan.dossier_id).where(ComponentScan.scan_id == scan.id)
    ) or session.scalar(select(Result.dossier_id).where(Result.scan_id == scan.id))
    record(
        session,
        actor_id=scan.clerk_id if scan.sign_as == "clerk" else "unit",
        actor_role="pipeline",
        action="document.signed",
        subject_type="document",
        subject_id=document_id,
        dossier_id=dossier_id,
        at=result.signed_at,
        data={
            "scan_id": scan.id,
            "sha256": result.sha256,
            "pades_level": result.level,
            "sign_as": scan.sign_as,
            "signer": result.signer_name,
        },
    )


def _retention(services: Services) -> Retention | None:
    """WORM for signed documents where the store can lock objects (see SOHOA_RETENTION_DAYS)."""
    settings = services.settings
    if settings.retention_days <= 0 or not services.store.supports_retention:
        return None
    return Retention(settings.retention_mode, utcnow() + timedelta(days=settings.retention_days))


def _sign_step(services: Services, scan: Scan, work: Path, token: str) -> None:
    from ocr.pdfa import check_pdfa
    from signing.stamp import scan_stamp_lines

    assert scan.ocr_key is not None and scan.ocr_result is not None
    ocr = scan.ocr_result
    # A signed input: ocr_key is the original, signed only by appending (incremental update).
    kept = ocr.get("signed_input")
    ocr_pdf = work / "ocr.pdf"
    services.store.get_to_file(scan.ocr_key, ocr_pdf)
    if kept is not None:
        _check_is_original(ocr_pdf, scan)
    signed = work / "signed.pdf"
    options = scan.sign_options or {}
    extra_warnings: list[str] = []
    if scan.sign_as == "unit":
        # An organization's result: its certificate, stamp top-right with the signing time,
        # and the QR of the result (validity and scope) top-left.
        backend = services.signers.unit()
        if options.get("qr") and kept is not None:
            # Drawing the QR would rewrite page 1 of a file that must stay as received.
            extra_warnings.append("qr_not_drawn_on_signed_input")
        elif options.get("qr"):
            from signing.qr import overlay_qr

            marked = work / "marked.pdf"
            overlay_qr(ocr_pdf, marked, str(options["qr"]))
            ocr_pdf = marked
        stamp_lines = None
        position = "top-right"
        reason = "Ký số kết quả giải quyết thủ tục hành chính"
    elif kept is not None:
        # Received electronically, already signed: not "converted from paper".
        backend = services.signers.for_clerk(scan.clerk_id)
        stamp_lines = None
        position = "top-left"
        reason = "Tiếp nhận tài liệu điện tử đã ký số"
    else:
        backend = services.signers.for_clerk(scan.clerk_id)
        stamp_lines = scan_stamp_lines(backend.name, scan.created_at)
        position = "top-left"
        reason = "Số hóa từ bản giấy"
    result = services.document_signer.sign(
        ocr_pdf,
        signed,
        backend,
        stamp_lines=stamp_lines,
        position=position,
        reason=reason,
        location=services.settings.signing_location,
        # After a certification a new visible field breaks it (pyHanko's policy, Acrobat's).
        visible=not (kept is not None and kept.get("certified")),
    )
    if kept is not None:
        _check_appended(signed, scan)
    else:
        # Only a PDF/A we made is promised to stay PDF/A; a signed input is kept as it came.
        report = check_pdfa(signed)
        if not report.ok:
            from ocr.errors import PdfaValidationError

            raise PdfaValidationError(
                "the signed file no longer meets PDF/A-2b: " + "; ".join(report.problems)
            )
    key = f"documents/{scan.id}/signed.pdf"
    services.store.put_file(
        key,
        signed,
        content_type=PDF,
        sha256=result.sha256,
        metadata={"scan-id": scan.id},
        retention=_retention(services),
    )
    finished: dict[str, Any] = {}
    if extra_warnings:
        finished["warnings"] = list(dict.fromkeys([*scan.warnings, *extra_warnings]))
    with session_scope(services.sessions) as session:
        done = session.execute(
            update(Scan)
            .where(*_still_ours(scan.id, Step.SIGN, token))
            .values(
                status=ScanStatus.DIGITIZED,
                step=None,
                lease_until=None,
                finished_at=utcnow(),
                updated_at=utcnow(),
                **finished,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            log.warning(
                "scan %s: signing lease lost; leaving the document to the new owner", scan.id
            )
            return
        exists = session.scalar(select(Document.id).where(Document.scan_id == scan.id))
        if exists is None:
            document = Document(
                scan_id=scan.id,
                object_key=key,
                sha256=result.sha256,
                size=signed.stat().st_size,
                pages=int(ocr["pages"]),
                language=str(ocr["language"]),
                original_sha256=scan.sha256,
                ocr_sha256=str(ocr["ocr_sha256"]),
                page_texts=list(ocr["page_texts"]),
                fields=dict(ocr["fields"]),
                signer_name=result.signer_name,
                clerk_id=scan.clerk_id,
                pades_level=result.level,
                signed_at=result.signed_at,
                page_info=list(ocr.get("page_info") or []),
                input_signatures=list(kept["signatures"]) if kept is not None else [],
                attachments=list(ocr.get("attachments") or []),
                pdfa_source="as_received" if kept is not None else "converted",
            )
            session.add(document)
            session.flush()
            # A scan uploaded for a dossier component joins it in the same transaction.
            from dossiers.service import attach_document

            attach_document(session, scan.id, document.id, document.page_texts)
            _audit_signed(session, scan, document.id, result)
            metrics.add(session, metrics.SIGNATURES, {"kind": scan.sign_as})
    if scan.ocr_key not in (scan.original_key, scan.source_key):  # never delete the original
        with contextlib.suppress(Exception):
            services.store.delete(scan.ocr_key)


def _check_is_original(path: Path, scan: Scan) -> None:
    """The file about to be signed is the upload itself, byte for byte."""
    from signing.errors import SigningError

    if _sha256_prefix(path, None) != scan.sha256:
        raise SigningError(
            "the stored original no longer matches the checksum taken at upload; "
            "it is not signed (check the object store)"
        )


def _check_appended(signed: Path, scan: Scan) -> None:
    """Our signature only appended to the received bytes; anything else would break theirs."""
    from signing.errors import SigningError

    if signed.stat().st_size <= scan.size or _sha256_prefix(signed, scan.size) != scan.sha256:
        raise SigningError(
            "signing changed the received file instead of appending to it; "
            "its earlier signatures would break, so the result is not stored"
        )


def _sha256_prefix(path: Path, size: int | None) -> str:
    """SHA-256 of the first ``size`` bytes of ``path`` (all of it when ``None``)."""
    import hashlib

    digest = hashlib.sha256()
    left = size
    with path.open("rb") as fh:
        while left is None or left > 0:
            chunk = fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()
