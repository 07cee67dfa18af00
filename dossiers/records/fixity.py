"""Fixity: re-hash what the store holds against the SHA-256 recorded when it was written.

Every stored file the service vouches for has its digest in a table: originals (scans), signed
documents, issued forms, receipts (XML and PDF). A bit flip on a disk, a file replaced behind
the service's back or an object lost shows up here as a mismatch or a missing object.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dossiers.models import DossierForm, Receipt
from storage import metrics
from storage.db import session_scope
from storage.errors import ObjectNotFound, StorageError
from storage.models import Document, DocumentVersion, Scan, utcnow

if TYPE_CHECKING:
    from storage.objects import ObjectStore

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass
class FixityReport:
    checked: int = 0
    bytes: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.unreadable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bytes": self.bytes,
            "mismatches": self.mismatches,
            "missing": self.missing,
            "unreadable": self.unreadable,
        }


def recorded(
    sessions: sessionmaker[Session], batch: int = 500
) -> Iterator[tuple[str, str, str, str]]:
    """(kind, row id, object key, recorded sha256) for every object the ledger vouches for,
    read in id order a batch at a time so a large ledger is never loaded whole."""
    sources: list[tuple[str, Any, Callable[[Any], list[tuple[str, str]]]]] = [
        ("original", Scan, lambda r: [(r.original_key, r.sha256)]),
        ("document", Document, lambda r: [(r.object_key, r.sha256)]),
        # Files an archive renewal replaced: still the evidence of what was signed back then.
        ("document_version", DocumentVersion, lambda r: [(r.object_key, r.sha256)]),
        ("form", DossierForm, lambda r: [(r.object_key, r.sha256)]),
        ("receipt", Receipt, lambda r: [(r.xml_key, r.xml_sha256), (r.pdf_key, r.pdf_sha256)]),
    ]
    for kind, model, keys in sources:
        after = ""
        while True:
            with session_scope(sessions) as session:
                rows = list(
                    session.scalars(
                        select(model).where(model.id > after).order_by(model.id).limit(batch)
                    )
                )
                items = [(row.id, key, sha) for row in rows for key, sha in keys(row)]
            for row_id, key, sha in items:
                yield kind, row_id, key, sha
            if len(rows) < batch:
                break
            after = rows[-1].id


def check(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    progress: Callable[[int], None] | None = None,
) -> FixityReport:
    """Every recorded object of the installation."""
    return check_items(store, recorded(sessions), progress=progress)


def check_items(
    store: ObjectStore,
    items: Iterable[tuple[str, str, str, str]],
    *,
    progress: Callable[[int], None] | None = None,
) -> FixityReport:
    """Re-hash ``(kind, row id, key, recorded sha256)`` items: the whole store or a sample."""
    report = FixityReport()
    for kind, row_id, key, expected in items:
        entry = {"kind": kind, "id": row_id, "key": key, "expected": expected}
        digest = hashlib.sha256()
        try:
            with store.open(key) as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    report.bytes += len(chunk)
        except ObjectNotFound:
            report.missing.append(entry)
            log.error("fixity: %s %s missing (%s)", kind, row_id, key)
            continue
        except StorageError as exc:
            report.unreadable.append({**entry, "error": str(exc)})
            continue
        finally:
            report.checked += 1
            if progress is not None:
                progress(report.checked)
        if digest.hexdigest() != expected:
            report.mismatches.append({**entry, "actual": digest.hexdigest()})
            log.error("fixity: %s %s does not match its recorded SHA-256 (%s)", kind, row_id, key)
    return report


def scheduled_check(sessions: sessionmaker[Session], store: ObjectStore) -> FixityReport:
    """The periodic run: check everything, then publish the outcome for ``/metrics``.

    Problems are counted by kind and the last run's verdict and time are gauges, so an alert
    can fire on a bad run and on a run that stopped happening. A failed run also logs one
    ERROR line naming the counts, for whoever watches the logs instead.
    """
    report = check(sessions, store)
    problems = {
        "mismatch": len(report.mismatches),
        "missing": len(report.missing),
        "unreadable": len(report.unreadable),
    }
    try:
        with session_scope(sessions) as session:
            for kind, count in problems.items():
                metrics.add(session, metrics.FIXITY_PROBLEMS, {"kind": kind}, float(count))
            metrics.set_gauge(session, metrics.FIXITY_LAST_OK, {}, 1.0 if report.ok else 0.0)
            metrics.set_gauge(session, metrics.FIXITY_LAST_RUN, {}, utcnow().timestamp())
            metrics.set_gauge(session, metrics.FIXITY_LAST_CHECKED, {}, float(report.checked))
    except Exception:  # the log line below still tells
        log.warning("fixity metrics not recorded", exc_info=True)
    if report.ok:
        log.info("fixity ok: %d objects, %d bytes", report.checked, report.bytes)
    else:
        log.error(
            "ALERT fixity FAILED: %d mismatched, %d missing, %d unreadable of %d objects; "
            "restore them from a replica or backup (sohoa fixity --json lists them)",
            *problems.values(),
            report.checked,
        )
    return report
