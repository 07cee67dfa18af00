"""The dispatcher's Celery task and its place on the beat schedule.

Thin, like the pipeline's tasks: the task runs the dispatcher the composition root built. Beat
fires it every few seconds; a run that finds work keeps going for up to its budget, and runs
that overlap share the work through the deliveries' leases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from core.logs import quiet_task

if TYPE_CHECKING:
    from celery import Celery

    from connect.dispatcher import DispatchReport

log = logging.getLogger(__name__)

DISPATCH_TASK = "sohoa.outbox_dispatch"


def install_outbox(
    app: Celery, run: Callable[[], DispatchReport], *, every: float, queue: str = "sign"
) -> None:
    """Register the dispatch task on ``app`` and put it on the beat schedule."""

    def dispatch_task() -> dict[str, Any]:
        report = run()
        if report.delivered or report.retried or report.dead:
            log.info(
                "outbox: %d delivered, %d to retry, %d dead",
                report.delivered,
                report.retried,
                report.dead,
            )
        return {"delivered": report.delivered, "retried": report.retried}

    # Acknowledged on receipt: a lost run is the next tick's run, and the leases make a
    # redelivered copy harmless anyway. Expired copies are dropped rather than piling up behind
    # a stopped worker.
    app.task(
        name=DISPATCH_TASK, shared=False, acks_late=False, ignore_result=True, expires=every * 5
    )(dispatch_task)
    routes = dict(app.conf.task_routes or {})
    routes[DISPATCH_TASK] = {"queue": queue}
    app.conf.task_routes = routes
    schedule = dict(app.conf.beat_schedule or {})
    schedule["outbox-dispatch"] = {
        "task": DISPATCH_TASK,
        "schedule": timedelta(seconds=every),
        "options": {"queue": queue, "expires": every * 5},
    }
    app.conf.beat_schedule = schedule
    quiet_task(DISPATCH_TASK)  # every few seconds: Celery's own lines for it would flood the log
