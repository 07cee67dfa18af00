"""Scan uploads and bodies shared by the loose-scan and the dossier-component endpoints."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.multipart import FormLimits, read_upload
from api.problems import ApiProblem
from dossiers.access import dossier_filter
from dossiers.models import Dossier
from ingest.refusals import refusal_body
from storage.models import Refusal, Scan

if TYPE_CHECKING:
    from dossiers.access import Principal
    from ingest.pipeline import ComponentRef
    from wiring.factory import Services


def upload_openapi(*, clerk: bool = False) -> dict[str, Any]:
    """The multipart body of an upload operation for the OpenAPI document.

    The body is parsed by :func:`api.multipart.read_upload` as it streams, not by FastAPI, so
    the operation declares it here: ``/docs`` can then upload, and clients can be generated.
    """
    fields: dict[str, Any] = {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "the scan: JPEG, PNG, TIFF or PDF (recognised by content)",
        },
        "password": {
            "type": "string",
            "description": "the PDF's password, when the citizen's file is protected",
        },
        "languages": {
            "type": "string",
            "maxLength": 64,
            "description": "the page's languages, e.g. 'vi' or 'en,fr' (default: Vietnamese)",
        },
    }
    if clerk:
        fields["clerk_id"] = {
            "type": "string",
            "pattern": "^([a-z0-9][a-z0-9._-]{0,63})?$",
            "description": "whose certificate signs (an admin only; counter staff sign as "
            "themselves); empty for the default clerk",
        }
    schema = {"type": "object", "required": ["file"], "properties": fields}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}},
        "responses": {
            "200": {
                "description": "The same file was already accepted here: its scan, with "
                "``duplicate`` true.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }


async def accept_scan(
    request: Request,
    services: Services,
    *,
    clerk_id: Callable[[dict[str, str]], str | None],
    unit_code: str | None,
    component: ComponentRef | None = None,
    **accept: Any,
) -> JSONResponse:
    """Spool the multipart body to disk, keep the original, record and dispatch the scan.

    202 for a new scan, 200 with ``duplicate`` when the same file was already accepted.
    """
    from ingest.pipeline import accept_upload, dispatch, upload_dir

    settings = services.settings
    limits = FormLimits.from_settings(settings)
    # The early answer when the client announces its size; a chunked body (no Content-Length)
    # is held to the same bound while it streams, in read_upload.
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limits.body_limit(settings.max_upload_bytes):
        raise ApiProblem(
            413,
            "file_too_large",
            f"the upload is over the {settings.max_upload_bytes // 2**20} MB limit",
        )
    with tempfile.TemporaryDirectory(dir=upload_dir(settings)) as tmp:
        form = await read_upload(
            request.stream(),
            request.headers.get("content-type"),
            Path(tmp) / "upload",
            max_bytes=settings.max_upload_bytes,
            limits=limits,
        )
        assert form.file is not None
        accepted = await run_in_threadpool(
            accept_upload,
            services,
            form.file,
            filename=form.filename,
            clerk_id=clerk_id(form.fields),
            password=form.fields.get("password") or None,
            languages=form.fields.get("languages") or None,
            unit_code=unit_code,
            component=component,
            **accept,
        )
    scan = accepted.scan
    if accepted.created:
        await run_in_threadpool(dispatch, services, scan.id, scan.step)
    body = scan_body(scan, None)
    body["duplicate"] = not accepted.created
    if component is not None:
        body["component_id"] = component.component_id
    return JSONResponse(
        body,
        status_code=202 if accepted.created else 200,
        headers={"Location": f"/api/v1/scans/{scan.id}"},
    )


def chunks(store: Any, key: str) -> Iterator[bytes]:
    """Stream an object to the client without holding it in memory."""
    with store.open(key) as f:
        while chunk := f.read(256 * 1024):
            yield chunk


def notices(warnings: list[str]) -> list[dict[str, Any]]:
    """The warnings that carry a stable code and a Vietnamese message, as objects."""
    from ocr.capture import parse_warning

    return [notice for w in warnings if (notice := parse_warning(w)) is not None]


def scan_body(scan: Scan, document_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": scan.id,
        "status": scan.status,
        "step": scan.step,
        "filename": scan.filename,
        "media_type": scan.media_type,
        "size": scan.size,
        "sha256": scan.sha256,
        "clerk_id": scan.clerk_id,
        "pages_done": scan.pages_done,
        "pages_total": scan.pages_total,
        "attempts": scan.attempts,
        "warnings": scan.warnings,
        # Advice the clerk can act on while the citizen is still at the counter.
        "notices": notices(scan.warnings or []),
        "languages": scan.ocr_languages.split("+") if scan.ocr_languages else None,
        "reason_code": scan.reason_code,
        "reason_message": scan.reason_message,
        "created_at": scan.created_at.isoformat() if scan.created_at else None,
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        "status_url": f"/api/v1/scans/{scan.id}",
    }
    if document_id:
        body["document_id"] = document_id
        body["document_url"] = f"/api/v1/documents/{document_id}"
    return body


def refusal_problem(session: Session, who: Principal, scan_id: str) -> ApiProblem | None:
    """410 Gone for a scan id that was refused at upload, if the caller may see it.

    Scoped like scans: the uploading unit's counter, a reader of the dossier it was sent to, or
    an admin; anyone else learns nothing (the caller answers 404).
    """
    refusal = session.get(Refusal, scan_id)
    if refusal is None:
        return None
    visible = who.role == "admin" or (who.role == "counter" and refusal.unit_code in who.units)
    if not visible and refusal.dossier_id is not None:
        visible = (
            session.scalar(
                select(Dossier.id).where(Dossier.id == refusal.dossier_id, dossier_filter(who))
            )
            is not None
        )
    if not visible:
        return None
    return ApiProblem(
        410,
        "scan_refused",
        f"Tệp này đã bị từ chối khi tải lên, không được xử lý (the upload was refused): "
        f"{refusal.reason_message}",
        **refusal_body(refusal),
    )
