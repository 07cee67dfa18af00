"""The Celery app, its thin tasks, and Celery's way of queueing a step.

Tasks carry scan ids only and call :func:`ingest.runner.run_step`; all state lives in the
database. OCR and signing have their own queues so that a 500-page dossier does not hold up
signatures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from celery import Celery, Task, signals
from celery.exceptions import Retry, SoftTimeLimitExceeded

from core.logs import current_headers
from ingest.ledger import fail
from ingest.pipeline import dispatch
from ingest.runner import run_step
from ingest.tasklogs import bind_celery
from storage.models import Step

if TYPE_CHECKING:
    from ingest.ports import Pipeline

log = logging.getLogger(__name__)

# On SIGTERM a worker lets its running step finish for this long (the container's stop grace
# period must be longer, or the step is killed half-way and re-run from the start).
SOFT_SHUTDOWN_SECONDS = 30
OCR_TASK = "sohoa.ocr"
SIGN_TASK = "sohoa.sign"
TASK_FOR_STEP = {Step.OCR: OCR_TASK, Step.SIGN: SIGN_TASK}
QUEUE_FOR_STEP = {Step.OCR: "ocr", Step.SIGN: "sign"}
QUEUES = ("ocr", "sign")


@dataclass(frozen=True)
class QueueConfig:
    """The settings of the broker and of the tasks' time limits."""

    broker_url: str
    #: The filesystem transport's folders (the embedded default).
    broker_dir: Path
    poll_interval: float
    #: Seconds before Redis redelivers an unacknowledged task: above the longest hard limit.
    visibility_timeout: int
    ocr_soft_time_limit: int
    ocr_time_limit: int
    sign_soft_time_limit: int
    sign_time_limit: int
    #: Task retries of one step; the sweeper takes over after them.
    max_retries: int


class CeleryDispatcher:
    """Queues a step as a Celery message, with the request id of whoever queued it.

    The app is asked for on first send, so a process that never queues never builds one.
    """

    def __init__(self, app: Callable[[], Celery]) -> None:
        self._app = app

    def send(self, scan_id: str, step: str) -> None:
        self._app().send_task(
            TASK_FOR_STEP[step],
            args=[scan_id],
            queue=QUEUE_FOR_STEP[step],
            headers=current_headers(),
        )


def broker_options(config: QueueConfig) -> dict[str, Any]:
    if config.broker_url.startswith("filesystem"):
        folder = config.broker_dir
        for sub in ("queue", "control", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": config.poll_interval,
        }
    return {"visibility_timeout": config.visibility_timeout}


def create_celery(
    config: QueueConfig, pipeline: Pipeline, *, after_fork: Callable[[], None]
) -> Celery:
    """The app whose tasks run ``pipeline``'s steps; ``after_fork`` runs in each pool child
    (a forked child must not share the parent's database connections)."""
    app = Celery("sohoa", broker=config.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A task is acknowledged when it returns, and re-queued if its worker dies; the ledger's
        # claim and attempt counter make re-runs harmless and stop message loops.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=False,
        task_default_queue="ocr",
        task_routes={OCR_TASK: {"queue": "ocr"}, SIGN_TASK: {"queue": "sign"}},
        broker_transport_options=broker_options(config),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=200,
        worker_soft_shutdown_timeout=SOFT_SHUTDOWN_SECONDS,
        visibility_timeout=config.visibility_timeout,
    )

    def ocr_task(self: Task, scan_id: str) -> None:
        _run(self, pipeline, scan_id, Step.OCR)

    def sign_task(self: Task, scan_id: str) -> None:
        _run(self, pipeline, scan_id, Step.SIGN)

    # shared=False: these tasks close over this app's pipeline; Celery would otherwise add
    # them to every app finalized later in the process (a second app, a test's app).
    app.task(
        name=OCR_TASK,
        bind=True,
        shared=False,
        soft_time_limit=config.ocr_soft_time_limit,
        time_limit=config.ocr_time_limit,
        max_retries=config.max_retries,
    )(ocr_task)
    app.task(
        name=SIGN_TASK,
        bind=True,
        shared=False,
        soft_time_limit=config.sign_soft_time_limit,
        time_limit=config.sign_time_limit,
        max_retries=config.max_retries,
    )(sign_task)

    def fresh_connections(**_: Any) -> None:
        after_fork()

    signals.worker_process_init.connect(fresh_connections, weak=False)
    bind_celery(app)
    return app


def _run(task: Task, pipeline: Pipeline, scan_id: str, step: str) -> None:
    try:
        outcome = run_step(pipeline, scan_id, step)
    except SoftTimeLimitExceeded:
        fail(
            pipeline, scan_id, "time_limit", f"the {step} step ran past its time limit", stage=step
        )
        return
    if outcome.retry:
        if task.request.retries >= (task.max_retries or 0):
            log.warning("scan %s step %s: retries used up; the sweeper takes over", scan_id, step)
            return
        try:
            task.retry(countdown=min(60, 5 * (task.request.retries + 1)))
        except Retry:
            raise
        except Exception:  # broker down: the ledger keeps the step for the sweeper
            log.warning("scan %s: could not schedule a retry; the sweeper will", scan_id)
        return
    if outcome.next_step:
        dispatch(pipeline, scan_id, outcome.next_step)


class BrokerClient(Protocol):
    """Whatever holds the Celery app (the composition root's services)."""

    @property
    def celery(self) -> Celery: ...


def broker_ping(services: BrokerClient) -> None:
    """Raise if the broker cannot be reached now (one try, no back-off: readiness must be quick)."""
    with services.celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)


def queue_depths(services: BrokerClient) -> dict[str, int]:
    """Messages waiting in each pipeline queue, read from the broker itself."""
    from kombu.exceptions import ChannelError

    depths: dict[str, int] = {}
    with services.celery.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)
        for queue in QUEUES:
            channel = conn.channel()
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:  # never declared, or drained and removed (Redis): empty
                depths[queue] = 0
            finally:
                channel.close()
    return depths
