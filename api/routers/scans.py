"""Loose scans: upload, status and retry.

Papers of a dossier are uploaded under the dossier (:mod:`api.routers.dossiers`), results
under ``/dossiers/{ref}/results``; every scan is read and retried here. Who may see a scan is
the domain's rule (:mod:`dossiers.workflow.scan_access`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import Caller, Svc
from api.problems import ApiProblem
from api.scans import (
    ScanAccepted,
    ScanView,
    accept_scan,
    refusal_problem,
    scan_body,
    upload_openapi,
    upload_responses,
)
from dossiers.access import Principal
from dossiers.workflow.scan_access import document_of, visible_scan
from ingest.validate import validate_clerk_id
from storage.db import session_scope
from storage.models import Scan, ScanStatus

router = APIRouter(tags=["scans"])


@router.post(
    "/scans",
    status_code=202,
    response_model=ScanAccepted,
    responses=upload_responses(ScanAccepted),
    openapi_extra=upload_openapi(clerk=True),
)
async def upload_scan(request: Request, who: Caller, svc: Svc) -> JSONResponse:
    """Upload one loose scan (multipart, file in ``file``; optional ``clerk_id``, ``password``).

    Papers of a dossier go to ``/dossiers/{code}/components/{id}/scans`` instead.
    """
    who.require("counter", "admin")
    return await accept_scan(
        request,
        svc,
        clerk_id=lambda fields: _clerk(who, fields.get("clerk_id") or None),
        unit_code=who.unit_code,
    )


@router.get(
    "/scans/{scan_id}",
    response_model=ScanView,
    responses={410: {"description": "The upload was refused; the body gives the reason."}},
)
def get_scan(scan_id: str, who: Caller, svc: Svc) -> ScanView:
    """A scan's status; 410 with the reason when the upload was refused at the door."""
    with session_scope(svc.sessions) as session:
        scan = _scan_or_problem(session, who, scan_id)
        return scan_body(scan, document_of(session, scan_id))


@router.post(
    "/scans/{scan_id}/retry",
    status_code=202,
    response_model=ScanView,
    responses={410: {"description": "The upload was refused; there is nothing to retry."}},
)
def retry(scan_id: str, who: Caller, svc: Svc) -> ScanView:
    """Put a failed scan back in line from the step where it stopped."""
    from ingest.ledger import retry_scan
    from ingest.pipeline import dispatch

    who.require("counter", "admin")
    with session_scope(svc.sessions) as session:
        _scan_or_problem(session, who, scan_id)  # a refused upload has nothing to retry

    scan = retry_scan(svc, scan_id)
    if scan.status == ScanStatus.RECEIVED and scan.step:
        dispatch(svc, scan.id, scan.step)
    return scan_body(scan, None)


def _clerk(who: Principal, asked: str | None) -> str | None:
    """Counter staff sign with their own certificate; only an admin names another clerk.

    A malformed ``clerk_id`` is refused whoever sends it: ignoring it for a counter would
    accept what the operation's schema calls invalid."""
    if asked:
        validate_clerk_id(asked)
    if who.role == "counter":
        return who.staff_id
    return asked


def _scan_or_problem(session: Session, who: Principal, scan_id: str) -> Scan:
    """The scan, else 410 with the reason if its upload was refused, else 404."""
    scan = visible_scan(session, who, scan_id)
    if scan is not None:
        return scan
    gone = refusal_problem(session, who, scan_id)
    if gone is not None:
        raise gone
    raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")
