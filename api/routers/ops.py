"""Operations endpoints: liveness, readiness and Prometheus metrics.

``/metrics`` is computed at scrape time from the ledger (counters every worker adds to, the
scans still in flight) and from the broker (queue depth), so one scrape of any API process
describes the whole deployment, however many workers run and on however many hosts.
"""

from __future__ import annotations

import hmac
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.context import AppServices
from api.deps import bearer, principal, services
from api.problems import ApiProblem
from storage import db, metrics
from storage.db import session_scope
from storage.models import Scan, ScanStatus, utcnow

log = logging.getLogger(__name__)
router = APIRouter(tags=["ops"])

# The window of the pages-per-second gauge; Prometheus' rate() over sohoa_pages_total is the
# precise figure, this one is for a glance at /metrics without a Prometheus.
RATE_WINDOW = timedelta(minutes=5)


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


_CHECK = "ok, or unavailable: <the error's kind> (the detail is in the log)."


class ReadinessChecks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database: str = Field(description=_CHECK)
    broker: str = Field(description=_CHECK)
    store: str = Field(description=f"The object store: {_CHECK}")


class Readiness(BaseModel):
    """Also the body of the 503 answered while a dependency is down."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "unavailable"]
    checks: ReadinessChecks
    signing: Literal["development-pki", "configured"] = Field(
        description="development-pki while documents are signed with, or verified against, "
        "the development PKI (a test install): not for citizens' papers."
    )


def _checks(svc: AppServices) -> dict[str, Callable[[], Any]]:
    from ingest.tasks import broker_ping

    return {
        "database": lambda: db.ping(svc.engine),
        "broker": lambda: broker_ping(svc),
        "store": svc.store.ping,
    }


@router.get("/healthz")
def healthz() -> Health:
    """The process answers; says nothing about what it depends on (that is /readyz)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    responses={503: {"model": Readiness, "description": "Something it depends on is down."}},
)
def readyz(request: Request, response: Response) -> Readiness:
    """Database, broker and object store reachable: 200, else 503 naming what is down.

    ``signing`` says ``development-pki`` while documents are signed with, or verified against,
    the development PKI (a test install), so a monitor can tell before a citizen does."""
    svc = services(request)
    checks: dict[str, str] = {}
    for name, check in _checks(svc).items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            # Unauthenticated: the reply names the failing part and the error's kind; the
            # detail (hosts, ports, messages) goes to the log for the operator.
            log.warning("readiness: %s unavailable: %s", name, exc)
            checks[name] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    return Readiness(
        status="ok" if ok else "unavailable",
        checks=ReadinessChecks(**checks),
        signing="development-pki" if svc.development_pki else "configured",
    )


def _metrics_caller(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Prometheus presents SOHOA_METRICS_TOKEN; a person needs an admin token."""
    token = services(request).settings.metrics_token
    if (
        token
        and creds
        and hmac.compare_digest(creds.credentials.encode(), token.get_secret_value().encode())
    ):
        return
    principal(request, creds).require("admin")


@router.get(
    "/metrics",
    dependencies=[Depends(_metrics_caller)],
    response_class=PlainTextResponse,
    summary="Prometheus Metrics",
    operation_id="prometheus_metrics_metrics_get",
)
def metrics_text(request: Request) -> Response:
    """Prometheus text exposition of the pipeline's series (see ``Exporter``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Exporter(services(request)))
    try:
        body = generate_latest(registry)
    except db.DatabaseUnavailable as exc:
        raise ApiProblem(503, exc.code, str(exc)) from exc
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class Exporter:
    """A prometheus_client collector reading the ledger and the broker at scrape time."""

    def __init__(self, svc: AppServices) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        with session_scope(self.svc.sessions) as session:
            rows = metrics.read_all(session)
            active = session.execute(
                select(Scan.status, Scan.step, func.count(), func.min(Scan.created_at))
                .where(Scan.status.in_(ScanStatus.ACTIVE))
                .group_by(Scan.status, Scan.step)
            ).all()
            awaiting = session.scalar(
                select(func.count()).where(Scan.status == ScanStatus.AWAITING_CONFIRMATION)
            )
            since = utcnow() - RATE_WINDOW
            recent_pages = session.scalar(
                select(func.coalesce(func.sum(Scan.pages_total), 0)).where(
                    Scan.status == ScanStatus.DIGITIZED, Scan.finished_at >= since
                )
            )
        yield from self._counters(rows)
        yield from self._stage_histogram(rows)
        yield from self._archive(rows)
        yield from self._ledger(active, int(recent_pages or 0), int(awaiting or 0))
        yield from self._queues()
        yield from self._outbox()

    def _outbox(self) -> Iterator[Metric]:
        """What waits to leave the system, per subscriber (the portal, notifications, webhooks)."""
        state = self.svc.dispatcher.metrics()
        undispatched = GaugeMetricFamily(
            "sohoa_outbox_undispatched", "Outbox events not yet fanned out to their subscribers."
        )
        undispatched.add_metric([], state.undispatched)
        oldest_new = GaugeMetricFamily(
            "sohoa_outbox_undispatched_oldest_seconds",
            "Age of the oldest outbox event not yet fanned out (a stopped dispatcher grows it).",
        )
        oldest_new.add_metric([], state.oldest_undispatched_seconds)
        spec = {
            "pending": "Deliveries waiting (first tries and retries), by subscriber.",
            "retrying": "Pending deliveries that have failed at least once, by subscriber.",
            "dead": "Dead letters (gave up; replay after fixing the cause), by subscriber.",
            "delivered": "Deliveries done, by subscriber.",
            "oldest_pending_seconds": "Age of the oldest pending delivery, by subscriber.",
        }
        families = {
            key: GaugeMetricFamily(f"sohoa_outbox_{key}", doc, labels=["subscriber"])
            for key, doc in spec.items()
        }
        for name, numbers in state.subscribers.items():
            for key, family in families.items():
                family.add_metric([name], float(getattr(numbers, key)))
        yield undispatched
        yield oldest_new
        yield from families.values()

    @staticmethod
    def _counters(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
        spec = {
            metrics.PAGES: ("Pages OCRed (counted when the OCR step commits).", []),
            metrics.FAILURES: (
                "Scans ended failed, by reason code and the stage that failed them.",
                ["reason", "stage"],
            ),
            metrics.SIGNATURES: (
                "Signatures made: scans (clerk), results (unit), forms, receipts, return records.",
                ["kind"],
            ),
        }
        families = {
            name: CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
            for name, (doc, labels) in spec.items()
        }
        for name, labels, value in rows:
            if name in families:
                families[name].add_metric([labels.get(k, "") for k in spec[name][1]], value)
        yield from families.values()

    @staticmethod
    def _archive(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
        """What the scheduled fixity and renewal runs last published (dossiers.records)."""
        renewals = CounterMetricFamily(
            metrics.RENEWALS.removesuffix("_total"),
            "Archive renewals (new document timestamps), by outcome (renewed/failed).",
            labels=["outcome"],
        )
        problems = CounterMetricFamily(
            metrics.FIXITY_PROBLEMS.removesuffix("_total"),
            "Stored objects found not matching their SHA-256, missing or unreadable, by kind.",
            labels=["kind"],
        )
        gauges = {
            metrics.FIXITY_LAST_OK: GaugeMetricFamily(
                metrics.FIXITY_LAST_OK, "1 if the last scheduled fixity run found no problem."
            ),
            metrics.FIXITY_LAST_RUN: GaugeMetricFamily(
                metrics.FIXITY_LAST_RUN, "Unix time the last scheduled fixity run ended."
            ),
            metrics.FIXITY_LAST_CHECKED: GaugeMetricFamily(
                metrics.FIXITY_LAST_CHECKED, "Objects the last scheduled fixity run checked."
            ),
        }
        for name, labels, value in rows:
            if name == metrics.RENEWALS:
                renewals.add_metric([labels.get("outcome", "")], value)
            elif name == metrics.FIXITY_PROBLEMS:
                problems.add_metric([labels.get("kind", "")], value)
            elif name in gauges:
                gauges[name].add_metric([], value)
        yield renewals
        yield problems
        yield from (g for g in gauges.values() if g.samples)

    @staticmethod
    def _stage_histogram(rows: list[tuple[str, dict[str, str], float]]) -> Iterator[Metric]:
        buckets: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        sums: dict[tuple[str, str], float] = defaultdict(float)
        for name, labels, value in rows:
            key = (labels.get("stage", ""), labels.get("outcome", ""))
            if name == f"{metrics.STAGE_SECONDS}_bucket":
                buckets[key][labels["le"]] = value
            elif name == f"{metrics.STAGE_SECONDS}_sum":
                sums[key] = value
        family = HistogramMetricFamily(
            metrics.STAGE_SECONDS,
            "Wall-clock seconds of a pipeline stage run, by stage and outcome (ok/retry/failed).",
            labels=["stage", "outcome"],
        )
        bounds = [f"{b:g}" for b in metrics.STAGE_BUCKETS] + ["+Inf"]
        for key in sorted(buckets):
            running = 0.0
            cumulative = []
            for bound in bounds:
                running += buckets[key].get(bound, 0.0)
                cumulative.append((bound, running))
            family.add_metric(list(key), cumulative, sums[key])
        yield family

    @staticmethod
    def _ledger(active: Sequence[Any], recent_pages: int, awaiting: int) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            "sohoa_scans_in_flight",
            "Scans accepted and not finished, by status and next step (the ledger's backlog).",
            labels=["status", "step"],
        )
        oldest = GaugeMetricFamily(
            "sohoa_oldest_in_flight_seconds",
            "Age of the oldest scan not finished: grows when work is stuck.",
        )
        now = utcnow()
        age = 0.0
        for status, step, count, first in active:
            in_flight.add_metric([status, step or ""], count)
            if first is not None:
                if first.tzinfo is None:  # SQLite drops the zone in aggregates
                    first = first.replace(tzinfo=now.tzinfo)
                age = max(age, (now - first).total_seconds())
        oldest.add_metric([], age)
        rate = GaugeMetricFamily(
            "sohoa_pages_per_second",
            f"Pages of scans digitized in the last {int(RATE_WINDOW.total_seconds())} s, per second.",
        )
        rate.add_metric([], recent_pages / RATE_WINDOW.total_seconds())
        # Not in flight: these wait for a clerk's PIN/OTP, not for a worker, so they neither
        # age the backlog nor alarm as stuck work; a pile of them says clerks are not confirming.
        waiting = GaugeMetricFamily(
            "sohoa_scans_awaiting_confirmation",
            "Scans OCRed whose remote signature waits for the clerk's PIN/OTP.",
        )
        waiting.add_metric([], awaiting)
        yield from (in_flight, oldest, rate, waiting)

    def _queues(self) -> Iterator[Metric]:
        from ingest.tasks import queue_depths

        up = GaugeMetricFamily("sohoa_broker_up", "1 when the broker answered this scrape.")
        depth = GaugeMetricFamily(
            "sohoa_queue_depth", "Messages waiting in the broker, per queue.", labels=["queue"]
        )
        try:
            depths = queue_depths(self.svc)
        except Exception as exc:
            log.warning("queue depth unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield from (up, depth)
