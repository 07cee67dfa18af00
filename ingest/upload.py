"""Accepting an upload: check it, keep the original, record the scan (the caller queues it)."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.errors import IngestError
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
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step, new_id

if TYPE_CHECKING:
    from ingest.ports import Pipeline, UploadTarget


@dataclass(frozen=True)
class Accepted:
    scan: Scan
    created: bool


class HasWorkDir(Protocol):
    @property
    def work_dir(self) -> Path: ...


def upload_dir(config: HasWorkDir) -> Path:
    """Where uploads are spooled: in the work dir, so a spooled file moves without a copy."""
    path = config.work_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def accept_upload(
    pipeline: Pipeline,
    spooled: Spooled,
    *,
    filename: str | None,
    clerk_id: str | None = None,
    password: str | None = None,
    unit_code: str | None = None,
    target: UploadTarget | None = None,
    sign_as: str = "clerk",
    sign_options: dict[str, Any] | None = None,
    languages: str | None = None,
) -> Accepted:
    """Check a spooled upload, keep the original, and record the scan; the caller dispatches it.

    The same bytes uploaded again for the same clerk (or, for a ``target``, to the same target)
    return the existing scan instead of starting a second one, unless it failed.
    """
    config, deps = pipeline.pipeline_config, pipeline.pipeline_deps
    clerk = clerk_id or config.default_clerk
    validate_clerk_id(clerk)
    ocr_languages = validate_languages(languages) if languages else None
    with session_scope(deps.sessions) as session:
        existing = _existing_scan(session, spooled.sha256, clerk, target)
        if existing is not None:
            return Accepted(existing, created=False)

    scan_id = new_id()
    try:
        inspection = inspect(spooled.path, config.limits, password=password)
    except IngestError as exc:
        # Refused: the counter gets a 4xx with a scan id that keeps answering (410, the reason);
        # the bytes are kept only under quarantine policy (ingest.refusals).
        record_refusal(
            pipeline,
            scan_id,
            spooled,
            exc,
            filename=filename,
            clerk=clerk,
            unit_code=unit_code,
            dossier_id=target.dossier_id if target is not None else None,
        )
        exc.scan_id = scan_id
        raise

    original_key = f"originals/{scan_id}/original.{EXTENSIONS[inspection.media_type]}"
    deps.store.put_file(
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
        with tempfile.TemporaryDirectory(dir=upload_dir(config)) as tmp:
            decrypted = Path(tmp) / "decrypted.pdf"
            decrypt_pdf(spooled.path, decrypted, password or "")
            source_key = f"originals/{scan_id}/decrypted.pdf"
            deps.store.put_file(source_key, decrypted, content_type=PDF)
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
        with session_scope(deps.sessions) as session:
            session.add(scan)
            if target is not None:
                session.flush()
                target.record(session, scan)
    except IntegrityError:
        # The same file reached the same target through a concurrent upload: keep theirs.
        with contextlib.suppress(Exception):
            deps.store.delete(original_key)
        with session_scope(deps.sessions) as session:
            existing = _existing_scan(session, spooled.sha256, clerk, target)
        if existing is None:
            raise
        return Accepted(existing, created=False)
    return Accepted(scan, created=True)


def _existing_scan(
    session: Session, sha256: str, clerk: str, target: UploadTarget | None
) -> Scan | None:
    stmt = select(Scan).where(Scan.sha256 == sha256, Scan.status != ScanStatus.FAILED)
    same = target.same_upload() if target is not None else None
    stmt = stmt.where(Scan.clerk_id == clerk if same is None else same)
    return session.scalars(stmt.limit(1)).first()
