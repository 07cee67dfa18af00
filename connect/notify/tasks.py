"""The deadline alerts' Celery task and its place on the beat schedule (beside the outbox's).

Thin: the task runs what the composition root built. A lost or repeated run does no harm, the
alert being claimed by a conditional update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

DEADLINE_TASK = "sohoa.deadline_alerts"


def install_deadline_alerts(
    app: Celery, run: Callable[[], int], *, every: float, queue: str = "sign"
) -> None:
    """Register the alert task on ``app`` and put it on the beat schedule."""

    def deadline_task() -> dict[str, Any]:
        alerted = run()
        if alerted:
            log.info("deadline alerts: %d dossiers near their appointment", alerted)
        return {"alerted": alerted}

    app.task(name=DEADLINE_TASK, shared=False, acks_late=False, ignore_result=True, expires=every)(
        deadline_task
    )
    routes = dict(app.conf.task_routes or {})
    routes[DEADLINE_TASK] = {"queue": queue}
    app.conf.task_routes = routes
    schedule = dict(app.conf.beat_schedule or {})
    schedule["deadline-alerts"] = {
        "task": DEADLINE_TASK,
        "schedule": timedelta(seconds=every),
        "options": {"queue": queue, "expires": every},
    }
    app.conf.beat_schedule = schedule
