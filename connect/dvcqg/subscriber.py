"""The portal as an outbox subscriber: which events it hears and which calls each one makes.

The whole mapping is :data:`PLAN` below, plus one rule: every event that changes the dossier's
status (``from_status != to_status``) also sends CapNhatTrangThai with the new status. An event
is wanted once its dossier has a code (from reception on); a dossier refused or withdrawn at the
counter before reception never reaches the portal.

Idempotent, since the dispatcher delivers at least once:

- NoiHoSo is an upsert by MaHoSo at the portal, so sending the dossier again updates it;
- a file is uploaded once: its IdTepTin and HashTepTin are kept in ``external_refs``
  (``system="dvcqg", kind="file", local_id=<document sha256>``) and looked up first;
- a step or status already accepted for an event is marked (``kind="step"``) and not sent
  again when a later call of the same delivery failed and the event is retried;
- the portal's code for a dossier (GetNextValue, when the province uses the portal's codes) is
  asked for once and kept (``kind="code"``); the MaHoSo under which the portal accepted the
  dossier is kept as ``kind="dossier"``, and an event of a dossier the portal has not accepted
  yet (its reception was refused, or the portal was configured later) sends the dossier first.

A crash between the portal's answer and our commit can still repeat one call; the portal sees
the same payload twice, never a second dossier.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connect.base import Event
from connect.dvcqg.client import SYSTEM, DvcqgClient, UploadedFile
from connect.dvcqg.payload import RESULT_STATUSES, BuilderChoice, Files
from connect.dvcqg.snapshot import DossierSnapshot, FileRef, load, step
from connect.errors import DeliveryFailed
from dossiers.models import ExternalRef
from dossiers.outbox import DOCUMENT_DIGITIZED
from storage.db import session_scope
from storage.errors import StorageError
from storage.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sync:
    """What one kind of event sends, beside the status rule."""

    upsert: bool = False  # NoiHoSo with the dossier's present record, its new files uploaded
    progress: bool = False  # CapNhatTienTrinh with this step


PLAN: dict[str, Sync] = {
    # Reception creates the dossier at the portal, with every file digitized so far.
    "dossier.receive": Sync(upsert=True, progress=True),
    # Papers, fees and dates in the dossier record changed: send it again.
    DOCUMENT_DIGITIZED: Sync(upsert=True),  # a result only once processed (see wants)
    "dossier.reuse": Sync(upsert=True),
    "dossier.payment": Sync(upsert=True),
    "dossier.receipt_void": Sync(upsert=True),
    "dossier.request_supplement": Sync(upsert=True, progress=True),
    "dossier.supplement_received": Sync(upsert=True, progress=True),
    "dossier.supplement_agency": Sync(upsert=True, progress=True),
    "dossier.apology": Sync(upsert=True, progress=True),  # new appointment date
    # Hand-overs and steps on the timeline.
    "dossier.await_payment": Sync(progress=True),
    "dossier.paid": Sync(progress=True),
    "dossier.paid_before_routing": Sync(progress=True),
    "dossier.route": Sync(progress=True),
    "dossier.take": Sync(progress=True),
    "dossier.forward": Sync(progress=True),
    "dossier.posted": Sync(progress=True),
    # The end: results (uploaded) and end dates go with the record and the status.
    "dossier.finish": Sync(upsert=True, progress=True),
    "dossier.return": Sync(upsert=True, progress=True),
    "dossier.withdraw": Sync(upsert=True, progress=True),
    "dossier.stop": Sync(upsert=True, progress=True),
}
#: Event kinds whose delivery sends the dossier record (NoiHoSo): what the sync report counts.
UPSERT_KINDS = frozenset(kind for kind, sync in PLAN.items() if sync.upsert)
NOTHING = Sync()


def status_change(event: Event) -> int | None:
    """The new status when ``event`` moved the dossier, else None."""
    before, after = event.payload.get("from_status"), event.payload.get("to_status")
    if not event.kind.startswith("dossier.") or after is None or before == after:
        return None
    return int(after)


class DvcqgSubscriber:
    """Delivers outbox events to the national portal / provincial one-stop system."""

    name = "dvcqg"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        client: DvcqgClient,
        builders: BuilderChoice,
        *,
        use_portal_codes: bool = False,
        work_dir: Path | None = None,
        budget_seconds: float = 45.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.client = client
        self.builders = builders
        self.use_portal_codes = use_portal_codes
        self.work_dir = work_dir
        # A delivery stops uploading while the dispatcher's lease still covers its other calls
        # (the root derives the budget from the lease); the files sent so far are kept and the
        # next try goes on from there.
        self.budget_seconds = budget_seconds
        self._monotonic = monotonic

    # -- the subscriber interface ----------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if event.dossier_id is None:
            return False
        facts = event.payload.get("dossier") or {}
        if not facts.get("code"):
            return False  # not received (yet): nothing the portal counts
        if (
            event.kind == DOCUMENT_DIGITIZED
            and event.payload.get("result")
            and facts.get("status") not in RESULT_STATUSES
        ):
            return False  # a result goes with "finish", once the dossier is processed
        return event.kind in PLAN or status_change(event) is not None

    def deliver(self, event: Event) -> str:
        started = self._monotonic()
        assert event.dossier_id is not None  # wants() takes dossier events only
        plan = PLAN.get(event.kind, NOTHING)
        new_status = status_change(event)
        with session_scope(self.sessions) as session:
            snap = load(session, event.dossier_id)
            this = step(session, event.kind, event.at, event.payload)
        if snap is None:
            return "no such dossier any more; nothing sent"
        builder = self.builders.for_province(snap.province_code)
        said: list[str] = []
        with self.client:
            ma = self._ma_ho_so(snap)
            files: Files | None = None
            accepted = self._ref("dossier", snap.id)
            if plan.upsert or accepted is None:
                files = self._upload(builder.files(snap), started)
                answer = self.client.put_dossier(builder.dossier(snap, ma, files))
                if accepted is None:
                    self._remember("dossier", snap.id, ma)
                said.append(f"NoiHoSo {answer}")
            if plan.progress and not self._done(event.id, "progress"):
                answer = self.client.progress([builder.progress(snap, ma, this)])
                self._remember("step", f"{event.id}:progress", ma)
                said.append(f"CapNhatTienTrinh {answer}")
            if new_status is not None and not self._done(event.id, "status"):
                if files is None and new_status in RESULT_STATUSES:
                    files = self._upload(builder.files(snap), started)
                body = builder.status(snap, ma, new_status, files or {})
                answer = self.client.status([body])
                self._remember("step", f"{event.id}:status", ma)
                said.append(f"CapNhatTrangThai {new_status} {answer}")
        summary = "; ".join(said) or "already sent"
        log.info("dvcqg: event %d (%s) of %s: %s", event.id, event.kind, ma, summary)
        return summary

    # -- helpers -----------------------------------------------------------------------------

    def _ma_ho_so(self, snap: DossierSnapshot) -> str:
        """The code the portal knows the dossier by: the one it accepted it under, else a
        portal-issued code (asked once), else our TT 01/2018 code."""
        accepted = self._ref("dossier", snap.id)
        if accepted is not None:
            return accepted[0]
        if not self.use_portal_codes:
            return snap.code
        issued = self._ref("code", snap.id)
        if issued is not None:
            return issued[0]
        return self._remember("code", snap.id, self.client.next_value(snap.unit_code))[0]

    def _upload(self, files: Iterable[FileRef], started: float) -> dict[str, UploadedFile]:
        out: dict[str, UploadedFile] = {}
        sent = 0
        for f in files:
            known = self._ref("file", f.sha256)
            if known is not None:
                out[f.sha256] = UploadedFile(id=known[0], hash=known[1])
                continue
            if sent and self._monotonic() - started > self.budget_seconds:
                raise DeliveryFailed(
                    f"{sent} file(s) uploaded, more to go; the next try goes on",
                    response="partial",
                )
            uploaded = self._upload_one(f)
            sent += 1
            remote_id, remote_hash = self._remember("file", f.sha256, uploaded.id, uploaded.hash)
            out[f.sha256] = UploadedFile(id=remote_id, hash=remote_hash)
        return out

    def _upload_one(self, f: FileRef) -> UploadedFile:
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="dvcqg-") as tmp:
            path = Path(tmp) / f.filename
            try:
                self.store.get_to_file(f.object_key, path)
            except StorageError as exc:
                raise DeliveryFailed(
                    f"cannot read document {f.document_id} from the store: {exc.code}",
                    response=exc.code,
                    retryable=exc.retryable,
                ) from exc
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
            if digest.hexdigest() != f.sha256:
                raise DeliveryFailed(
                    f"document {f.document_id} in the store does not match its sha256",
                    response="checksum_mismatch",
                    retryable=False,
                )
            return self.client.upload(path, f.filename)

    def _ref(self, kind: str, local_id: str) -> tuple[str, str] | None:
        with session_scope(self.sessions) as session:
            row = session.execute(
                select(ExternalRef.remote_id, ExternalRef.remote_hash).where(
                    ExternalRef.system == SYSTEM,
                    ExternalRef.kind == kind,
                    ExternalRef.local_id == local_id,
                )
            ).first()
        return (row[0], row[1]) if row is not None else None

    def _done(self, event_id: int, what: str) -> bool:
        return self._ref("step", f"{event_id}:{what}") is not None

    def _remember(
        self, kind: str, local_id: str, remote_id: str, remote_hash: str = ""
    ) -> tuple[str, str]:
        """Keep what the portal calls ``local_id``; the first writer wins a race."""
        try:
            with session_scope(self.sessions) as session:
                session.add(
                    ExternalRef(
                        system=SYSTEM,
                        kind=kind,
                        local_id=local_id,
                        remote_id=remote_id,
                        remote_hash=remote_hash,
                    )
                )
        except IntegrityError:
            found = self._ref(kind, local_id)
            if found is not None:
                return found
            raise
        return (remote_id, remote_hash)


__all__ = ["PLAN", "UPSERT_KINDS", "DvcqgSubscriber", "Sync", "status_change"]
