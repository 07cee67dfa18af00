"""Uploads refused at the door: a small record each, and their bytes only under quarantine.

A refused upload is not evidence of anything the service did, so by default nothing of it is
kept but a row (who, when, why, the bytes' sha256 and size): retries of the same junk then cost
a row each, not a copy each. Where policy wants the bytes (``quarantine_refused``), they go to
``quarantine/<scan id>`` once per content, up to ``quarantine_max_bytes``, for
``quarantine_days``; the sweeper deletes them afterwards and the rows stay, so the scan id the
counter was given keeps answering (410 with the reason).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from ingest.validate import Spooled, display_name
from storage import metrics
from storage.db import session_scope
from storage.models import Refusal, utcnow

if TYPE_CHECKING:
    from ingest.errors import IngestError
    from ingest.ports import Pipeline

log = logging.getLogger(__name__)

QUARANTINE_PREFIX = "quarantine/"


def record_refusal(
    pipeline: Pipeline,
    scan_id: str,
    spooled: Spooled,
    exc: IngestError,
    *,
    filename: str | None,
    clerk: str,
    unit_code: str | None = None,
    dossier_id: str | None = None,
) -> Refusal:
    """Record why an upload was refused and, if policy says so, quarantine its bytes once."""
    now = utcnow()
    key, until = _quarantine(pipeline, scan_id, spooled, exc, now)
    refusal = Refusal(
        id=scan_id,
        sha256=spooled.sha256,
        size=spooled.size,
        reason_code=exc.code,
        reason_message=str(exc),
        filename=display_name(filename, "application/octet-stream"),
        clerk_id=clerk,
        unit_code=unit_code,
        dossier_id=dossier_id,
        created_at=now,
        quarantine_key=key,
        quarantine_until=until,
    )
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        session.add(refusal)
        metrics.add(session, metrics.FAILURES, {"reason": exc.code, "stage": "upload"})
        session.flush()
        session.expunge(refusal)
    return refusal


def _quarantine(
    pipeline: Pipeline, scan_id: str, spooled: Spooled, exc: IngestError, now: datetime
) -> tuple[str | None, datetime | None]:
    config, deps = pipeline.pipeline_config, pipeline.pipeline_deps
    if not config.quarantine_refused or spooled.size > config.quarantine_max_bytes:
        return None, None
    until = now + timedelta(days=config.quarantine_days)
    with session_scope(deps.sessions) as session:
        kept = session.scalar(
            select(Refusal.quarantine_key)
            .where(Refusal.sha256 == spooled.sha256, Refusal.quarantine_key.is_not(None))
            .limit(1)
        )
    # Trust the row only if the object is still there (the sweeper may have just expired it).
    if kept is not None and deps.store.exists(kept):
        return kept, until
    key = f"{QUARANTINE_PREFIX}{scan_id}"
    deps.store.put_file(
        key,
        spooled.path,
        content_type="application/octet-stream",
        sha256=spooled.sha256,
        metadata={"scan-id": scan_id, "refused": exc.code},
    )
    return key, until


def expire_quarantine(pipeline: Pipeline, now: datetime | None = None) -> int:
    """Delete quarantined bytes whose every refusal is past its ``quarantine_until``.

    The refusal rows stay (without a key): the scan ids keep answering 410. Returns the number
    of objects deleted. Called by the sweeper; safe to run from several processes at once.
    """
    now = now or utcnow()
    deps = pipeline.pipeline_deps
    with session_scope(deps.sessions) as session:
        keys = list(
            session.scalars(
                select(Refusal.quarantine_key)
                .where(Refusal.quarantine_key.is_not(None))
                .group_by(Refusal.quarantine_key)
                .having(func.max(Refusal.quarantine_until) < now)
            )
        )
    deleted = 0
    for key in keys:
        assert key is not None
        # The rows first: a refusal arriving meanwhile then stores the bytes afresh.
        with session_scope(deps.sessions) as session:
            latest = session.scalar(
                select(func.max(Refusal.quarantine_until)).where(Refusal.quarantine_key == key)
            )
            if latest is None or latest >= now:
                continue  # the same bytes were refused again since: keep them
            session.execute(
                update(Refusal)
                .where(Refusal.quarantine_key == key)
                .values(quarantine_key=None, quarantine_until=None)
                .execution_options(synchronize_session=False)
            )
        deps.store.delete(key)
        deleted += 1
        log.info("quarantined upload %s expired and was deleted", key)
    return deleted


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    """What the counter may learn about a refusal: why and when, never where bytes are kept."""
    return {
        "scan_id": refusal.id,
        "reason_code": refusal.reason_code,
        "reason_message": refusal.reason_message,
        "refused_at": refusal.created_at.isoformat(),
        "filename": refusal.filename,
        "size": refusal.size,
        "sha256": refusal.sha256,
        "quarantined": refusal.quarantine_key is not None,
    }
