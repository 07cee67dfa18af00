"""Service-wide counters kept in the ledger, so one scrape sees every worker on every host.

A Celery worker's pool children come and go and run on many machines; in-process Prometheus
counters would die with them and need one scrape target per child. Instead a worker adds to a
row here when a stage ends (one short upsert), and the API's ``/metrics`` reads the rows.

Rows are keyed by metric name and a canonical label string (``k=v,k=v`` sorted). A histogram is
stored as one row per bucket (non-cumulative ``<name>_bucket`` with ``le``), plus ``_sum`` and
``_count``; the exporter accumulates the buckets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from sqlalchemy import Float, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.db import session_scope
from storage.models import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

# Seconds; OCR of one page takes ~2 s, a 300-page dossier some minutes, a signature ~0.3 s.
STAGE_SECONDS = "sohoa_stage_seconds"
PAGES = "sohoa_pages_total"
FAILURES = "sohoa_scan_failures_total"
SIGNATURES = "sohoa_signatures_total"
# Scheduled archive work: renewals by outcome; fixity problems found (by kind) and the last run.
RENEWALS = "sohoa_archive_renewals_total"
FIXITY_PROBLEMS = "sohoa_fixity_problems_total"
FIXITY_LAST_OK = "sohoa_fixity_last_run_ok"
FIXITY_LAST_RUN = "sohoa_fixity_last_run_timestamp_seconds"
FIXITY_LAST_CHECKED = "sohoa_fixity_last_run_objects"
STAGE_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)


class MetricCounter(Base):
    """One monotonically growing value of one labelled series."""

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(255), primary_key=True, default="")
    value: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def label_key(labels: Mapping[str, str]) -> str:
    """Canonical, order-independent text of a label set; commas and '=' are not allowed."""
    parts = []
    for key in sorted(labels):
        value = str(labels[key])
        if any(c in value for c in ",=\n") or any(c in key for c in ",=\n"):
            raise ValueError(f"label {key}={value!r} cannot be stored")
        parts.append(f"{key}={value}")
    return ",".join(parts)


def parse_label_key(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


# Both dialects spell the upsert alike (ON CONFLICT … DO UPDATE); others have none.
_INSERTS: dict[str, Callable[[type[MetricCounter]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def add(session: Session, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
    """Add to a counter inside the caller's transaction (the count commits with the work)."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS[dialect](MetricCounter).values(
        name=name, labels=label_key(labels), value=amount, updated_at=utcnow()
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[MetricCounter.name, MetricCounter.labels],
        set_={"value": MetricCounter.value + stmt.excluded.value, "updated_at": utcnow()},
    )
    session.execute(upsert)


def set_gauge(session: Session, name: str, labels: Mapping[str, str], value: float) -> None:
    """Set a gauge (the row holds the value last set, not a sum) in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS[dialect](MetricCounter).values(
        name=name, labels=label_key(labels), value=value, updated_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[MetricCounter.name, MetricCounter.labels],
            set_={"value": stmt.excluded.value, "updated_at": utcnow()},
        )
    )


def bucket_for(seconds: float, buckets: Iterable[float] = STAGE_BUCKETS) -> str:
    for bound in buckets:
        if seconds <= bound:
            return f"{bound:g}"
    return "+Inf"


def histogram_updates(
    name: str, labels: Mapping[str, str], seconds: float
) -> list[tuple[str, Mapping[str, str], float]]:
    """The three rows one observation of a histogram adds to: its bucket, sum and count."""
    return [
        (f"{name}_bucket", {**labels, "le": bucket_for(seconds)}, 1.0),
        (f"{name}_sum", labels, seconds),
        (f"{name}_count", labels, 1.0),
    ]


def record(sessions: sessionmaker[Session], *updates: tuple[str, Mapping[str, str], float]) -> None:
    """Add several counters in a transaction of their own; never fails the caller.

    For numbers that follow work already committed (a stage's duration): losing one sample when
    the database is down is better than failing or repeating the stage.
    """
    try:
        with session_scope(sessions) as session:
            for name, labels, amount in updates:
                add(session, name, labels, amount)
    except Exception:
        log.warning("metrics not recorded: %s", [u[0] for u in updates], exc_info=True)


def observe_stage(sessions: sessionmaker[Session], step: str, outcome: str, seconds: float) -> None:
    """A stage's latency, recorded after the stage (see ``record``)."""
    record(
        sessions, *histogram_updates(STAGE_SECONDS, {"stage": step, "outcome": outcome}, seconds)
    )


def read_all(session: Session) -> list[tuple[str, dict[str, str], float]]:
    rows = session.execute(
        select(MetricCounter.name, MetricCounter.labels, MetricCounter.value).order_by(
            MetricCounter.name, MetricCounter.labels
        )
    ).all()
    return [(name, parse_label_key(labels), float(value)) for name, labels, value in rows]
