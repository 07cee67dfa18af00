"""Where the ledger meets the queue: queueing a step, and the sweeper that queues it again.

The database is the ledger and the queue only delivers, so a lost message costs nothing: the
sweeper finds every accepted scan that is not running and queues its step once more.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ingest.ledger import take_stalled
from ingest.refusals import expire_quarantine

if TYPE_CHECKING:
    from ingest.ports import Pipeline

log = logging.getLogger(__name__)


def dispatch(pipeline: Pipeline, scan_id: str, step: str) -> None:
    """Enqueue a step. Losing this message is harmless: the sweeper re-enqueues it."""
    try:
        pipeline.pipeline_deps.dispatcher.send(scan_id, step)
    except Exception:  # broker down: the scan is safe in the ledger
        log.warning(
            "could not enqueue %s for scan %s; the sweeper will", step, scan_id, exc_info=True
        )


def sweep(pipeline: Pipeline) -> int:
    """Re-enqueue accepted scans that are not running: a killed worker, a lost message."""
    todo = take_stalled(pipeline)
    for scan_id, step in todo:
        log.info("sweeper re-enqueues scan %s step %s", scan_id, step)
        dispatch(pipeline, scan_id, step)
    try:  # refused uploads' quarantined bytes past their days
        expire_quarantine(pipeline)
    except Exception:
        log.warning("expiring quarantined uploads failed; the next sweep retries", exc_info=True)
    return len(todo)
