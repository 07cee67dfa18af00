"""``sohoa watch``'s ingest: one file of a scanner's folder through the API's upload path.

The same spooling (size cap while hashing), type sniffing and limits (``accept_upload``), the
same dedupe, the same dispatch; then the file waits for its scan to end, so the folder can say
where it went: ``digitized`` (or waiting for its clerk's PIN/OTP: the scan is safe, the clerk
confirms on the counter page) moves it to ``done/``, ``failed`` or refused to ``failed/``.

Two ways to wait. By default the scan is queued like an upload to the API, and the workers of
``sohoa run`` / ``sohoa worker`` run it; the ledger row is read until it ends. With ``local``
the steps run in this process, as ``sohoa digitize`` runs them: no broker or worker needed.

Idempotent by content, through the ledger and nothing else: before uploading, the scans of the
same bytes for the same clerk (or the same dossier component) are looked up in every status,
failed included, and so are the refusals. A file met again (dropped twice, or found after a
crash between upload and move) gets the first answer and no second scan. A failed scan is
retried from the counter page or ``POST /api/v1/scans/{id}/retry``, not by dropping the file
again.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import case, select

from connect.watch import Outcome, Postponed, Verdict, open_regular
from core.errors import SohoaError

if TYPE_CHECKING:
    from dossiers.workflow.scanhooks import ComponentRef
    from ingest.validate import Spooled
    from storage.models import Refusal, Scan
    from wiring.factory import Services

log = logging.getLogger(__name__)

AWAITING = (
    "Đã số hóa, chờ người ký xác nhận mã OTP/PIN trên trang tiếp nhận "
    "(the scan waits for its clerk's signing confirmation)"
)


@dataclass(frozen=True)
class _Target:
    """Where the folder's scans go: loose, in the clerk's unit, or to one dossier's paper."""

    unit_code: str | None
    component: ComponentRef | None


class FolderIngest:
    """The :data:`connect.watch.Ingest` of ``sohoa watch``; :meth:`prepare` checks the clerk
    and the dossier component once, before the folder is watched."""

    def __init__(
        self,
        services: Services,
        *,
        clerk: str,
        dossier: str | None = None,
        component: str | None = None,
        local: bool = False,
        languages: str | None = None,
        wait_interval: float = 0.5,
        stop: threading.Event | None = None,
    ) -> None:
        if (dossier is None) != (component is None):
            raise ValueError("a dossier and its component go together")
        self.services = services
        self.clerk = clerk
        self.dossier = dossier
        self.component = component
        self.local = local
        self.languages = languages
        self.wait_interval = wait_interval
        self.stop = stop or threading.Event()
        self._target: _Target | None = None

    # -- setup -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fail now, with the domain's own error, on a bad clerk, dossier or component."""
        from ingest.validate import validate_clerk_id, validate_languages

        validate_clerk_id(self.clerk)
        if self.languages:
            validate_languages(self.languages)
        self._target = self._resolve()

    def _resolve(self) -> _Target:
        """The clerk's unit for loose scans; for a component, what the API's component upload
        checks (a counter of the dossier's unit, a dossier that takes scans)."""
        from dossiers.access import principal_for
        from dossiers.errors import Forbidden
        from dossiers.models import Staff
        from dossiers.workflow.scanhooks import ComponentRef
        from storage.db import session_scope

        svc = self.services
        with session_scope(svc.sessions) as session:
            staff = session.get(Staff, self.clerk)
            principal = (
                principal_for(session, staff, today=svc.dossiers.today())
                if staff is not None and staff.active
                else None
            )
            unit_code = staff.unit_code if staff is not None else None
        if self.dossier is None or self.component is None:
            return _Target(unit_code, None)
        if principal is None:
            raise Forbidden(
                f"Không có nhân viên {self.clerk!r} đang làm việc để nhận giấy tờ vào hồ sơ "
                f"(no active staff member {self.clerk!r})"
            )
        dossier_id, unit = svc.dossiers.component_for_upload(
            principal, self.dossier, self.component
        )
        return _Target(unit, ComponentRef(dossier_id, self.component))

    # -- one file --------------------------------------------------------------------------

    def __call__(self, path: Path) -> Outcome:
        from dossiers.errors import DossierError
        from ingest.errors import IngestError
        from ingest.upload import upload_dir
        from ingest.validate import read_chunks, spool

        svc = self.services
        if self._target is None:
            self.prepare()
        with tempfile.TemporaryDirectory(dir=upload_dir(svc.pipeline_config)) as tmp:
            try:
                with open_regular(path) as f:
                    spooled = spool(
                        read_chunks(f),
                        Path(tmp) / "upload",
                        max_bytes=svc.settings.max_upload_bytes,
                    )
            except IngestError as exc:  # empty, or over the size limit: nothing was kept
                return refused(exc)
            earlier = self._earlier(spooled.sha256)
            if earlier is not None:
                return earlier
            try:
                target = self._resolve() if self.component is not None else self._target
                assert target is not None
                scan_id, created = self._accept(spooled, path.name, target)
            except (IngestError, DossierError) as exc:
                # The file itself (or the dossier, no longer taking scans) is refused: final.
                # A service that is away (database, store) is not the file's fault: raised, the
                # file stays for a later poll.
                if exc.retryable:
                    raise
                return refused(exc)
        return self._wait(scan_id, duplicate=not created)

    def _accept(self, spooled: Spooled, filename: str, target: _Target) -> tuple[str, bool]:
        from ingest.pipeline import dispatch
        from ingest.upload import accept_upload

        accepted = accept_upload(
            self.services,
            spooled,
            filename=filename,
            clerk_id=self.clerk,
            unit_code=target.unit_code,
            target=target.component,
            languages=self.languages,
        )
        scan = accepted.scan
        if accepted.created and scan.step is not None and not self.local:
            dispatch(self.services, scan.id, scan.step)
        return scan.id, accepted.created

    def _earlier(self, sha256: str) -> Outcome | None:
        """What became of the same bytes before, for this clerk or this component: a scan in
        any status (a live one first), else a refusal."""
        from storage.db import session_scope
        from storage.models import Refusal, Scan, ScanStatus

        with session_scope(self.services.sessions) as session:
            stmt = select(Scan.id, Scan.status).where(Scan.sha256 == sha256)
            if self.component is not None:
                assert self._target is not None and self._target.component is not None
                stmt = stmt.where(self._target.component.same_upload())
            else:
                stmt = stmt.where(Scan.clerk_id == self.clerk)
            found = session.execute(
                stmt.order_by(
                    case((Scan.status == ScanStatus.FAILED, 1), else_=0), Scan.created_at.desc()
                ).limit(1)
            ).first()
            scan_id, failed = (found[0], found[1] == ScanStatus.FAILED) if found else (None, False)
            if scan_id is None:
                refusals = select(Refusal).where(
                    Refusal.sha256 == sha256, Refusal.clerk_id == self.clerk
                )
                if self.component is not None:
                    assert self._target is not None and self._target.component is not None
                    refusals = refusals.where(
                        Refusal.dossier_id == self._target.component.dossier_id
                    )
                refusal = session.scalars(refusals.order_by(Refusal.created_at).limit(1)).first()
                if refusal is not None:
                    return refused_before(refusal)
        if scan_id is None:
            return None
        if failed:
            return self._again(scan_id)
        return self._wait(scan_id, duplicate=True)

    def _again(self, scan_id: str) -> Outcome:
        """The same bytes dropped again after their scan failed: somebody asks for another try
        (a certificate installed, a worker restarted meanwhile), so the scan goes back in line
        from the step where it stopped, as ``POST /scans/{id}/retry`` does. A file refused at
        the door has no scan and stays refused: its bytes are what is wrong."""
        from ingest.ledger import retry_scan
        from ingest.pipeline import dispatch

        scan = retry_scan(self.services, scan_id)
        log.info("scan %s failed before; its file was dropped again, so it is retried", scan_id)
        if scan.step is not None and not self.local:
            dispatch(self.services, scan.id, scan.step)
        return replace(self._wait(scan_id, duplicate=True), retried=True)

    # -- waiting for the end ---------------------------------------------------------------

    def _wait(self, scan_id: str, *, duplicate: bool) -> Outcome:
        """Until the scan is digitized, failed or waits for its clerk; its outcome."""
        from ingest.runner import run_step
        from storage.db import session_scope
        from storage.models import Scan, ScanStatus

        while True:
            with session_scope(self.services.sessions) as session:
                scan = session.get(Scan, scan_id)
                assert scan is not None
                status, step = scan.status, scan.step
                if status not in ScanStatus.ACTIVE or step is None:
                    return ended(scan, duplicate=duplicate)
            if self.stop.is_set():
                raise Postponed(f"scan {scan_id} is not finished; the process is stopping")
            if self.local:
                outcome = run_step(self.services, scan_id, step)
                if not outcome.skipped and not outcome.retry:
                    continue
            # Held by a worker (or to be retried): read the ledger again in a moment.
            self.stop.wait(self.wait_interval)


def ended(scan: Scan, *, duplicate: bool) -> Outcome:
    """A scan's end as the folder sees it."""
    from storage.models import ScanStatus

    if scan.status == ScanStatus.FAILED:
        code = scan.reason_code or "scan_failed"
        return Outcome(
            Verdict.FAILED,
            scan.status,
            scan_id=scan.id,
            reason_code=code,
            message=vietnamese(code),
            detail=scan.reason_message or "",
            duplicate=duplicate,
        )
    message = AWAITING if scan.status == ScanStatus.AWAITING_CONFIRMATION else ""
    return Outcome(Verdict.DONE, scan.status, scan_id=scan.id, message=message, duplicate=duplicate)


def refused(exc: SohoaError) -> Outcome:
    """An upload refused at the door (or a dossier that takes no scan): never a scan."""
    code = str(exc.code)
    return Outcome(
        Verdict.FAILED,
        "refused",
        scan_id=getattr(exc, "scan_id", None),
        reason_code=code,
        message=vietnamese(code),
        detail=str(exc),
    )


def refused_before(refusal: Refusal) -> Outcome:
    return Outcome(
        Verdict.FAILED,
        "refused",
        scan_id=refusal.id,
        reason_code=refusal.reason_code,
        message=vietnamese(refusal.reason_code),
        detail=refusal.reason_message,
        duplicate=True,
    )


def vietnamese(code: str) -> str:
    """The reason code's title and meaning from the problem catalog, the API's own words."""
    from api.problem_types import problem_types

    entry = problem_types().get(code)
    if entry is None:
        return "Tệp này không số hóa được."
    return f"{entry.title.vi}. {entry.meaning.vi}"
