"""The records' periodic tasks (archive renewal, fixity) and the beat schedule that runs them.

Thin, like the pipeline's tasks: a task only calls a job the composition root built over its
services. They are added to the pipeline's Celery app (``install_periodic``), so one worker
pool and one broker serve both, and ``celery beat`` sends them on the configured intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    from dossiers.records.fixity import FixityReport
    from dossiers.records.renewal import RenewalReport

log = logging.getLogger(__name__)

RENEW_TASK = "sohoa.archive_renew"
FIXITY_TASK = "sohoa.fixity"


@dataclass(frozen=True)
class PeriodicJobs:
    """What the periodic tasks run, and how often (seconds)."""

    renew: Callable[[], RenewalReport]
    fixity: Callable[[], FixityReport]
    renew_every: float
    fixity_every: float
    #: The light queue: neither job competes with OCR for the CPU.
    queue: str = "sign"


def install_periodic(app: Celery, jobs: PeriodicJobs) -> None:
    """Register both tasks on ``app`` and put them on its beat schedule."""

    def renew_task() -> dict[str, Any]:
        report = jobs.renew()
        log.info(
            "archive renewal: %d due, %d renewed, %d failed, %d held elsewhere",
            report.due,
            len(report.renewed),
            len(report.failed),
            len(report.skipped),
        )
        if report.failed:
            log.error(
                "ALERT archive renewal failed for %d documents: %s",
                len(report.failed),
                ", ".join(f"{f['id']} ({f['code']})" for f in report.failed[:20]),
            )
        return {"renewed": len(report.renewed), "failed": len(report.failed)}

    def fixity_task() -> dict[str, Any]:
        report = jobs.fixity()
        return {"ok": report.ok, "checked": report.checked}

    # Acknowledged on receipt, not on return: a whole-store fixity run can outlast the broker's
    # visibility timeout, and a redelivered copy would run it twice. A run lost to a crash is
    # simply the next day's run; renewal's leases make a repeated run harmless anyway.
    common: dict[str, Any] = {"shared": False, "acks_late": False, "ignore_result": True}
    app.task(name=RENEW_TASK, **common)(renew_task)
    app.task(name=FIXITY_TASK, **common)(fixity_task)
    routes = dict(app.conf.task_routes or {})
    routes.update({RENEW_TASK: {"queue": jobs.queue}, FIXITY_TASK: {"queue": jobs.queue}})
    app.conf.task_routes = routes
    schedule = dict(app.conf.beat_schedule or {})
    schedule.update(
        {
            "archive-renewal": {
                "task": RENEW_TASK,
                "schedule": timedelta(seconds=jobs.renew_every),
                "options": {"queue": jobs.queue},
            },
            "fixity": {
                "task": FIXITY_TASK,
                "schedule": timedelta(seconds=jobs.fixity_every),
                "options": {"queue": jobs.queue},
            },
        }
    )
    app.conf.beat_schedule = schedule
