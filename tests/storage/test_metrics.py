"""The ledger's metric counters on SQLite and on a real PostgreSQL.

Every worker on every host adds to these rows and one scrape reads them, so an increment lost to
a race, a label that comes back different, or a histogram whose buckets disagree with its count
shows up as a wrong dashboard; and a metrics write must never fail the pipeline it measures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage import metrics
from storage.db import DatabaseUnavailable, session_scope
from tests.fixtures.seaweedfs import free_ports
from wiring.factory import Services, build


@pytest.fixture(params=["sqlite", "postgresql"])
def services(
    request: pytest.FixtureRequest, make_settings: Callable[..., object], tmp_path: Path
) -> Iterator[Services]:
    """Services on a migrated database of each backend (the schema comes from Alembic)."""
    if request.param == "sqlite":
        settings = make_settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        settings = make_settings(database_url=request.getfixturevalue("pg_database"))
    svc = build(settings)  # type: ignore[arg-type]
    yield svc
    svc.engine.dispose()


def _rows(svc: Services) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with session_scope(svc.sessions) as session:
        return {
            (name, tuple(sorted(labels.items()))): value
            for name, labels, value in metrics.read_all(session)
        }


def _value(svc: Services, name: str, **labels: str) -> float | None:
    return _rows(svc).get((name, tuple(sorted(labels.items()))))


# --------------------------------------------------------------------------- add / read_all


def test_add_accumulates_per_series_and_commits_with_the_work(services: Services) -> None:
    """Label order must not split a series; a rolled-back transaction must not count."""
    with session_scope(services.sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 3)
        metrics.add(s, metrics.FAILURES, {"reason": "ocr_timeout", "stage": "ocr"})
    with session_scope(services.sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 4)
        metrics.add(s, metrics.FAILURES, {"stage": "ocr", "reason": "ocr_timeout"}, 2)
        metrics.add(s, metrics.FAILURES, {"reason": "ocr_timeout", "stage": "sign"})

    with pytest.raises(RuntimeError), session_scope(services.sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 100)
        raise RuntimeError("the step failed after counting")

    assert _rows(services) == {
        (metrics.PAGES, ()): 7.0,
        (metrics.FAILURES, (("reason", "ocr_timeout"), ("stage", "ocr"))): 3.0,
        (metrics.FAILURES, (("reason", "ocr_timeout"), ("stage", "sign"))): 1.0,
    }
    with session_scope(services.sessions) as s:
        names = [name for name, _, _ in metrics.read_all(s)]
    assert names == sorted(names), "read_all is ordered by name"


def test_concurrent_increments_sum_exactly(services: Services) -> None:
    """Workers add to the same rows at once: the upsert must neither lose nor double an add.

    Each add is its own transaction, as in the pipeline; the stage histogram goes through
    ``observe_stage``, which swallows errors, so a deadlock or lost update would show as a
    short count rather than an exception.
    """
    is_pg = services.engine.dialect.name == "postgresql"
    threads, per_thread = (8, 50) if is_pg else (4, 25)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                with session_scope(services.sessions) as s:
                    metrics.add(s, metrics.PAGES, {}, 1)
                    metrics.add(s, metrics.SIGNATURES, {"kind": ("form", "receipt")[n % 2]}, 1)
                # Binary fractions, so the float sum is exact whatever the order.
                metrics.observe_stage(services.sessions, "ocr", "ok", 0.25 * (i % 8))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool), "a worker thread hung"
    assert errors == []

    total = threads * per_thread
    assert _value(services, metrics.PAGES) == total
    assert _value(services, metrics.SIGNATURES, kind="form") == total / 2
    assert _value(services, metrics.SIGNATURES, kind="receipt") == total / 2
    stage = {"stage": "ocr", "outcome": "ok"}
    assert _value(services, f"{metrics.STAGE_SECONDS}_count", **stage) == total
    assert _value(services, f"{metrics.STAGE_SECONDS}_sum", **stage) == threads * sum(
        0.25 * (i % 8) for i in range(per_thread)
    )
    buckets = {
        labels["le"]: value
        for name, labels, value in _read(services)
        if name == f"{metrics.STAGE_SECONDS}_bucket"
    }
    assert sum(buckets.values()) == total


def _read(svc: Services) -> list[tuple[str, dict[str, str], float]]:
    with session_scope(svc.sessions) as s:
        return metrics.read_all(s)


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"reason": 'say "hi"'},
        {"reason": "back\\slash", "stage": "ocr"},
        {"kind": "biên lai điện tử", "stage": "with space"},
        {"reason": ""},
        {"b": "2", "a": "1", "c": "'"},
    ],
)
def test_label_key_round_trips(labels: dict[str, str]) -> None:
    """Quotes, backslashes, spaces and Vietnamese come back exactly, in any order."""
    key = metrics.label_key(labels)
    assert metrics.parse_label_key(key) == labels
    assert metrics.label_key(dict(reversed(list(labels.items())))) == key


@pytest.mark.parametrize(
    "labels",
    [
        {"reason": "a,b"},
        {"reason": "a=b"},
        {"reason": "two\nlines"},
        {"re,ason": "x"},
        {"re=ason": "x"},
    ],
)
def test_label_key_rejects_separators(labels: dict[str, str]) -> None:
    """Commas, '=' and newlines would parse back as other labels: refuse them by name."""
    with pytest.raises(ValueError, match="cannot be stored"):
        metrics.label_key(labels)


def test_unstorable_label_is_refused_by_add_and_swallowed_by_record(services: Services) -> None:
    """``add`` fails the caller's transaction; ``record`` logs and writes nothing of the call."""
    with pytest.raises(ValueError), session_scope(services.sessions) as s:
        metrics.add(s, metrics.FAILURES, {"reason": "a,stage=forged"})
    metrics.record(
        services.sessions,
        (metrics.PAGES, {}, 1.0),
        (metrics.FAILURES, {"reason": "x=y"}, 1.0),
    )
    assert _rows(services) == {}

    metrics.record(services.sessions, (metrics.FAILURES, {"reason": 'bad "pdf"'}, 1.0))
    assert _value(services, metrics.FAILURES, reason='bad "pdf"') == 1.0


# --------------------------------------------------------------------------- histograms


def test_bucket_for_bounds_are_inclusive() -> None:
    """A value equal to a bound belongs to it (Prometheus' ``le``); beyond the last is +Inf."""
    assert metrics.bucket_for(0) == "0.25"
    assert metrics.bucket_for(0.25) == "0.25"
    assert metrics.bucket_for(0.2500001) == "0.5"
    assert metrics.bucket_for(1) == "1"
    assert metrics.bucket_for(1.5) == "2"
    assert metrics.bucket_for(1800) == "1800"
    assert metrics.bucket_for(1800.5) == "+Inf"
    assert metrics.bucket_for(3, buckets=(1, 10)) == "10"
    labels = [f"{b:g}" for b in metrics.STAGE_BUCKETS]
    assert len(set(labels)) == len(labels), "two bounds would share a bucket row"


def test_histogram_updates_rows() -> None:
    """One observation touches exactly its bucket (with ``le``), ``_sum`` and ``_count``."""
    rows = metrics.histogram_updates("h", {"stage": "sign"}, 7.5)
    assert rows == [
        ("h_bucket", {"stage": "sign", "le": "10"}, 1.0),
        ("h_sum", {"stage": "sign"}, 7.5),
        ("h_count", {"stage": "sign"}, 1.0),
    ]


def test_observe_stage_buckets_count_and_sum_agree(services: Services) -> None:
    """Accumulated buckets must equal, bound by bound, the observations at or below it."""
    observed = [0.1, 0.25, 0.3, 1.0, 4.0, 5.0, 59.5, 700.0, 4000.0]
    for seconds in observed:
        metrics.observe_stage(services.sessions, "ocr", "ok", seconds)
    metrics.observe_stage(services.sessions, "sign", "failed", 0.3)

    name = metrics.STAGE_SECONDS
    series = {"stage": "ocr", "outcome": "ok"}
    rows = _read(services)
    per_bucket = {
        labels["le"]: value
        for n, labels, value in rows
        if n == f"{name}_bucket" and labels.items() >= series.items()
    }
    running = 0.0
    for bound in [*metrics.STAGE_BUCKETS, float("inf")]:
        running += per_bucket.get("+Inf" if bound == float("inf") else f"{bound:g}", 0.0)
        assert running == sum(1 for s in observed if s <= bound), f"le={bound}"
    assert set(per_bucket) <= {f"{b:g}" for b in metrics.STAGE_BUCKETS} | {"+Inf"}
    assert _value(services, f"{name}_count", **series) == len(observed)
    assert _value(services, f"{name}_sum", **series) == pytest.approx(sum(observed))
    assert _value(services, f"{name}_count", stage="sign", outcome="failed") == 1
    assert _value(services, f"{name}_bucket", stage="sign", outcome="failed", le="0.5") == 1


# --------------------------------------------------------------------------- database down


@pytest.fixture
def unreachable(make_settings: Callable[..., object]) -> Iterator[Services]:
    """Services whose PostgreSQL URL points at a closed port on this machine."""
    (port,) = free_ports(1)
    svc = build(
        make_settings(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/sohoa"),  # type: ignore[arg-type]
        migrate=False,
    )
    yield svc
    svc.engine.dispose()


def test_record_never_raises_when_database_is_down(
    unreachable: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The stage already committed its work; a lost sample is logged, not raised."""
    with pytest.raises(DatabaseUnavailable), session_scope(unreachable.sessions) as s:
        metrics.add(s, metrics.PAGES, {}, 1)  # the database really is unreachable

    with caplog.at_level(logging.WARNING, logger="storage.metrics"):
        assert metrics.record(unreachable.sessions, (metrics.PAGES, {}, 1.0)) is None
        metrics.observe_stage(unreachable.sessions, "ocr", "ok", 1.0)
    warnings = [r for r in caplog.records if "metrics not recorded" in r.getMessage()]
    assert len(warnings) == 2
    assert f"{metrics.STAGE_SECONDS}_bucket" in warnings[1].getMessage()


def test_record_never_raises_without_the_table(make_settings: Callable[..., object]) -> None:
    """A database not yet migrated (no metric_counters) loses the sample, not the stage."""
    svc = build(make_settings(), migrate=False)  # type: ignore[arg-type]
    try:
        metrics.observe_stage(svc.sessions, "sign", "ok", 0.2)
    finally:
        svc.engine.dispose()
