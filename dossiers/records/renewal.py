"""Archive renewal of signed documents: a new document timestamp before the newest one expires.

Documents are kept ten years, longer than any TSA certificate is worth trusting; a B-LTA file
stays verifiable only if someone adds a fresh document timestamp while the last one still
validates (see :mod:`signing.archive`). This runs that over the ledger: the documents whose
``archive_until`` falls within a margin get one, the result is a new WORM object (the store
never overwrites, and the old file stays as evidence) and the Document row points at it.

A document is claimed with a conditional update (a lease) before any work, so two workers
never both call the TSA and leave a second, locked object behind; the final write commits only
if the version it read is still current. One document's failure is reported, never raised.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.errors import SohoaError
from dossiers.audit import record
from dossiers.models import ComponentScan, Result
from signing.archive import add_document_timestamp, archive_horizon
from storage import metrics
from storage.db import rowcount, session_scope
from storage.errors import ObjectNotFound
from storage.models import Document, DocumentVersion, new_id, utcnow
from storage.objects import Retention

if TYPE_CHECKING:
    from pyhanko.sign.timestamps import TimeStamper
    from pyhanko_certvalidator import ValidationContext

    from storage.objects import ObjectStore

log = logging.getLogger(__name__)
PDF = "application/pdf"
#: Documents with a timestamp to renew: a B-B signature has no proof of time to extend.
UNTIMESTAMPED = "B-B"


class FixityError(SohoaError):
    """The stored file no longer matches its recorded checksum."""

    code = "fixity_mismatch"


class HorizonNotExtended(SohoaError):
    """The TSA's certificate expires no later than the timestamp being renewed.

    Storing such a renewal gains nothing and, run daily, would leave a new WORM copy every day;
    the TSA (or its certificate) has to change first.
    """

    code = "archive_horizon_not_extended"


@dataclass(frozen=True)
class RenewalDeps:
    """What a renewal run needs; the composition root builds it."""

    sessions: sessionmaker[Session]
    store: ObjectStore
    timestamper: TimeStamper
    #: A fresh context per document (it caches revocation data and fixes the moment); it
    #: validates the newest timestamp and fills the DSS. ``None``: no DSS update.
    validation_context: Callable[[], ValidationContext | None]
    work_dir: Path


@dataclass
class RenewalReport:
    due: int = 0
    #: Documents whose horizon was unknown and has now been read from the file.
    horizons_found: int = 0
    renewed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    #: Held by another worker (or renewed by it meanwhile).
    skipped: list[str] = field(default_factory=list)
    #: Dry run: the documents that would be renewed.
    would_renew: list[dict[str, Any]] = field(default_factory=list)
    #: Dry run: documents whose horizon is not known yet (a real run reads it from the file).
    unknown: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "due": self.due,
            "horizons_found": self.horizons_found,
            "renewed": self.renewed,
            "failed": self.failed,
            "skipped": self.skipped,
            "would_renew": self.would_renew,
            "unknown": self.unknown,
        }


def renew_due(
    deps: RenewalDeps,
    *,
    margin: timedelta,
    now: datetime | None = None,
    limit: int = 500,
    lease: timedelta = timedelta(minutes=15),
    dry_run: bool = False,
) -> RenewalReport:
    """Renew up to ``limit`` documents whose archive horizon is before ``now + margin``.

    ``now`` (default: the clock) only sets which documents are due; leases always run on the
    real clock. ``dry_run`` lists the due documents and changes nothing.
    """
    now = now or utcnow()
    deadline = now + margin
    report = RenewalReport()
    if dry_run:
        with session_scope(deps.sessions) as session:
            report.unknown = session.scalar(select(func.count(Document.id)).where(*_unknown())) or 0
            rows = session.execute(
                select(Document.id, Document.object_key, Document.archive_until)
                .where(Document.archive_until <= deadline)
                .order_by(Document.archive_until)
                .limit(limit)
            ).all()
        report.would_renew = [
            {"id": i, "key": k, "archive_until": u.isoformat() if u else None} for i, k, u in rows
        ]
        report.due = len(rows)
        return report
    report.horizons_found = _find_horizons(deps, limit)
    with session_scope(deps.sessions) as session:
        due = list(
            session.scalars(
                select(Document.id)
                .where(Document.archive_until <= deadline, *_free(utcnow()))
                .order_by(Document.archive_until)
                .limit(limit)
            )
        )
    report.due = len(due)
    for document_id in due:
        try:
            outcome = _renew_one(deps, document_id, deadline=deadline, lease=lease)
        except Exception as exc:  # one document's failure never stops the batch
            code = exc.code if isinstance(exc, SohoaError) else "unexpected"
            if not isinstance(exc, SohoaError):
                log.exception("archive renewal of document %s failed", document_id)
            else:
                log.warning("archive renewal of document %s failed: %s", document_id, exc)
            report.failed.append({"id": document_id, "code": code, "error": str(exc)})
            metrics.record(deps.sessions, (metrics.RENEWALS, {"outcome": "failed"}, 1.0))
            continue
        if outcome is None:
            report.skipped.append(document_id)
        else:
            report.renewed.append(outcome)
            metrics.record(deps.sessions, (metrics.RENEWALS, {"outcome": "renewed"}, 1.0))
    return report


# --- one document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    id: str
    scan_id: str
    object_key: str
    sha256: str
    size: int
    version: int
    archive_until: datetime | None


def _free(now: datetime) -> tuple[Any, ...]:
    return (or_(Document.renewal_lease_until.is_(None), Document.renewal_lease_until < now),)


def _unknown() -> tuple[Any, ...]:
    return (Document.archive_until.is_(None), Document.pades_level != UNTIMESTAMPED)


def _claim(
    sessions: sessionmaker[Session], document_id: str, *, deadline: datetime, lease: timedelta
) -> _Current | None:
    """Hold the document for this worker; None when another holds it or renewed it already.

    The lease runs from the claim, not from the batch's start: a long batch must not hand out
    leases that have already run out."""
    now = utcnow()
    with session_scope(sessions) as session:
        taken = session.execute(
            update(Document)
            .where(Document.id == document_id, Document.archive_until <= deadline, *_free(now))
            .values(renewal_lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if rowcount(taken) != 1:
            return None
        doc = session.get_one(Document, document_id)
        return _Current(
            id=doc.id,
            scan_id=doc.scan_id,
            object_key=doc.object_key,
            sha256=doc.sha256,
            size=doc.size,
            version=doc.version,
            archive_until=doc.archive_until,
        )


def _renew_one(
    deps: RenewalDeps, document_id: str, *, deadline: datetime, lease: timedelta
) -> dict[str, Any] | None:
    current = _claim(deps.sessions, document_id, deadline=deadline, lease=lease)
    if current is None:
        return None
    try:
        return _renew_claimed(deps, current)
    except BaseException:
        _release(deps.sessions, current)
        raise


def _renew_claimed(deps: RenewalDeps, current: _Current) -> dict[str, Any] | None:
    deps.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=deps.work_dir, prefix="renew-") as tmp:
        src, dst = Path(tmp) / "current.pdf", Path(tmp) / "renewed.pdf"
        deps.store.get_to_file(current.object_key, src)
        if _sha256(src) != current.sha256:
            # Timestamping a damaged file would vouch for the damage: fixity must speak first.
            raise FixityError(
                f"document {current.id}: the stored file does not match its recorded SHA-256; "
                "not renewed (run sohoa fixity and restore it)"
            )
        stamp = add_document_timestamp(
            src,
            dst,
            timestamper=deps.timestamper,
            validation_context=deps.validation_context(),
        )
        if current.archive_until is not None and stamp.archive_until <= current.archive_until:
            raise HorizonNotExtended(
                f"document {current.id}: the TSA's certificate expires "
                f"{stamp.archive_until.date()}, no later than the current timestamp's; "
                "configure a TSA with a newer certificate"
            )
        key = _new_key(deps.store, current)
        deps.store.put_file(
            key,
            stamp.path,
            content_type=PDF,
            sha256=stamp.sha256,
            metadata={
                "scan-id": current.scan_id,
                "document-id": current.id,
                "version": str(current.version + 1),
            },
            retention=_same_retention(deps.store, current.object_key),
        )
    with session_scope(deps.sessions) as session:
        moved = session.execute(
            update(Document)
            .where(Document.id == current.id, Document.version == current.version)
            .values(
                object_key=key,
                sha256=stamp.sha256,
                size=stamp.size,
                archive_until=stamp.archive_until,
                version=current.version + 1,
                renewal_lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(moved) != 1:
            # Our lease ran out and another worker renewed first; its version stands.
            log.warning("document %s renewed by another worker; %s left unused", current.id, key)
            return None
        session.add(
            DocumentVersion(
                document_id=current.id,
                version=current.version,
                object_key=current.object_key,
                sha256=current.sha256,
                size=current.size,
                archive_until=current.archive_until,
                superseded_at=utcnow(),
            )
        )
        record(
            session,
            actor_id="archive-renewal",
            actor_role="pipeline",
            action="document.archive_renewed",
            subject_type="document",
            subject_id=current.id,
            dossier_id=_dossier_of(session, current.scan_id),
            at=stamp.timestamped_at,
            data={
                "version": current.version + 1,
                "object_key": key,
                "sha256": stamp.sha256,
                "previous_key": current.object_key,
                "previous_sha256": current.sha256,
                "archive_until": stamp.archive_until,
            },
        )
    log.info("document %s renewed: %s, archive until %s", current.id, key, stamp.archive_until)
    return {
        "id": current.id,
        "version": current.version + 1,
        "key": key,
        "sha256": stamp.sha256,
        "archive_until": stamp.archive_until.isoformat(),
    }


def _new_key(store: ObjectStore, current: _Current) -> str:
    """The scan's document key with a version suffix, built from ids only.

    A key already taken is an object left by a run that uploaded and then died before its
    commit; it is WORM and stays, and this run writes beside it instead.
    """
    key = f"documents/{current.scan_id}/signed.v{current.version + 1}.pdf"
    if store.exists(key):
        log.warning("%s exists (an earlier run died after uploading); writing beside it", key)
        key = f"documents/{current.scan_id}/signed.v{current.version + 1}.{new_id()[:12]}.pdf"
    return key


def _same_retention(store: ObjectStore, key: str) -> Retention | None:
    """The lock of the file being replaced: the renewed one must stay as long, at least."""
    if not store.supports_retention:
        return None
    try:
        info = store.stat(key)
    except ObjectNotFound:
        return None
    if info.retain_until is None or info.retention_mode not in ("GOVERNANCE", "COMPLIANCE"):
        return None
    mode: Literal["GOVERNANCE", "COMPLIANCE"] = (
        "COMPLIANCE" if info.retention_mode == "COMPLIANCE" else "GOVERNANCE"
    )
    return Retention(mode, info.retain_until)


def _find_horizons(deps: RenewalDeps, limit: int) -> int:
    """Read ``archive_until`` from the files of documents signed before it was recorded."""
    with session_scope(deps.sessions) as session:
        rows = session.execute(
            select(Document.id, Document.object_key).where(*_unknown()).limit(limit)
        ).all()
    found = 0
    for document_id, key in rows:
        try:
            deps.work_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=deps.work_dir, prefix="horizon-") as tmp:
                path = Path(tmp) / "doc.pdf"
                deps.store.get_to_file(key, path)
                horizon = archive_horizon(path)
        except Exception:
            log.warning("archive horizon of document %s not read", document_id, exc_info=True)
            continue
        if horizon is None:
            log.warning("document %s is labelled timestamped but has no timestamp", document_id)
            continue
        with session_scope(deps.sessions) as session:
            session.execute(
                update(Document)
                .where(Document.id == document_id, Document.archive_until.is_(None))
                .values(archive_until=horizon)
                .execution_options(synchronize_session=False)
            )
        found += 1
    return found


def _release(sessions: sessionmaker[Session], current: _Current) -> None:
    """Give a failed document back at once, so the next run retries it."""
    try:
        with session_scope(sessions) as session:
            session.execute(
                update(Document)
                .where(Document.id == current.id, Document.version == current.version)
                .values(renewal_lease_until=None)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # the lease runs out by itself
        log.warning("renewal lease of document %s not released", current.id, exc_info=True)


def _dossier_of(session: Session, scan_id: str) -> str | None:
    return session.scalar(
        select(ComponentScan.dossier_id).where(ComponentScan.scan_id == scan_id)
    ) or session.scalar(select(Result.dossier_id).where(Result.scan_id == scan_id))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
