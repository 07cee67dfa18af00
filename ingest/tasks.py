"""The Celery app and its thin tasks.

Tasks carry scan ids only and call ``ingest.pipeline.run_step``; all state lives in the database.
OCR and signing have their own queues so that a 500-page dossier does not hold up signatures.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Celery, signals
from celery.exceptions import Retry, SoftTimeLimitExceeded

from ingest.tasklogs import bind_celery
from storage.models import Step

if TYPE_CHECKING:
    from wiring.factory import Services

log = logging.getLogger(__name__)

# On SIGTERM a worker lets its running step finish for this long (the container's stop grace
# period must be longer, or the step is killed half-way and re-run from the start).
SOFT_SHUTDOWN_SECONDS = 30
OCR_TASK = "sohoa.ocr"
SIGN_TASK = "sohoa.sign"
TASK_FOR_STEP = {Step.OCR: OCR_TASK, Step.SIGN: SIGN_TASK}
QUEUE_FOR_STEP = {Step.OCR: "ocr", Step.SIGN: "sign"}
QUEUES = ("ocr", "sign")


def broker_options(services: Services) -> dict[str, Any]:
    s = services.settings
    if s.resolved_broker_url.startswith("filesystem"):
        folder = s.broker_dir
        for sub in ("queue", "control", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": s.broker_poll_interval,
        }
    return {"visibility_timeout": s.visibility_timeout}


def create_celery(services: Services) -> Celery:
    s = services.settings
    app = Celery("sohoa", broker=s.resolved_broker_url, set_as_current=False)
    transport = broker_options(services)
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
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=200,
        worker_soft_shutdown_timeout=SOFT_SHUTDOWN_SECONDS,
        visibility_timeout=s.visibility_timeout,
    )

    # shared=False: these tasks close over this app's services; Celery would otherwise add
    # them to every app finalized later in the process (a second app, a test's app).
    @app.task(
        name=OCR_TASK,
        bind=True,
        shared=False,
        soft_time_limit=s.ocr_soft_time_limit,
        time_limit=s.ocr_time_limit,
        max_retries=s.max_attempts,
    )
    def ocr_task(self: Any, scan_id: str) -> None:
        _run(self, services, scan_id, Step.OCR)

    @app.task(
        name=SIGN_TASK,
        bind=True,
        shared=False,
        soft_time_limit=s.sign_soft_time_limit,
        time_limit=s.sign_time_limit,
        max_retries=s.max_attempts,
    )
    def sign_task(self: Any, scan_id: str) -> None:
        _run(self, services, scan_id, Step.SIGN)

    @signals.worker_process_init.connect(weak=False)
    def _fresh_connections(**_: Any) -> None:
        # A forked pool child must not share the parent's database connections.
        services.engine.dispose(close=False)

    bind_celery(app)
    return app


def _run(task: Any, services: Services, scan_id: str, step: str) -> None:
    from ingest.pipeline import dispatch, fail, run_step

    try:
        outcome = run_step(services, scan_id, step)
    except SoftTimeLimitExceeded:
        fail(
            services, scan_id, "time_limit", f"the {step} step ran past its time limit", stage=step
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
        dispatch(services, scan_id, outcome.next_step)


def broker_ping(services: Services) -> None:
    """Raise if the broker cannot be reached now (one try, no back-off: readiness must be quick)."""
    with services.celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)


def queue_depths(services: Services) -> dict[str, int]:
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
