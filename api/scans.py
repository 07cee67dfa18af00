"""Scan uploads and the scan's body, shared by the loose-scan, dossier-component and result
endpoints."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.multipart import FormLimits, read_upload
from api.problems import ApiProblem
from dossiers.workflow.dossier_views import IsoDateTime
from dossiers.workflow.scan_access import visible_refusal
from ingest.refusals import refusal_body
from storage.models import Scan, ScanStatus

if TYPE_CHECKING:
    from api.context import AppServices
    from dossiers.access import Principal
    from dossiers.workflow.scanhooks import ComponentRef
    from ingest.ports import UploadTarget
    from storage.objects import ObjectStore


STATUSES = (
    ScanStatus.RECEIVED,
    ScanStatus.PROCESSING,
    ScanStatus.AWAITING_CONFIRMATION,
    ScanStatus.DIGITIZED,
    ScanStatus.FAILED,
)


def _absent(value: object) -> bool:
    return value is None


class RescanNotice(BaseModel):
    """A warning the clerk can act on while the citizen is still at the counter."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable reason code, e.g. ``rescan_suggested``.")
    page: int = Field(description="The page concerned, from 1.")
    message: str = Field(description="What to do, in Vietnamese.")


class ScanView(BaseModel):
    """A scan on its way to a signed document: status, progress and, once signed, where its
    document is."""

    model_config = ConfigDict(extra="forbid")

    id: str
    status: str = Field(json_schema_extra={"enum": list(STATUSES)})
    step: str | None = Field(
        description="The pipeline step to run next (ocr, sign); null once digitized."
    )
    filename: str
    media_type: str = Field(description="The upload's type, recognised by content.")
    size: int = Field(description="Bytes of the upload as received.")
    sha256: str = Field(description="Of the upload as received.")
    clerk_id: str = Field(description="Whose certificate signs the scan.")
    pages_done: int
    pages_total: int | None = Field(description="Known once the file is read.")
    attempts: int
    warnings: list[str] = Field(description="Stable warning codes, some with details.")
    notices: list[RescanNotice] = Field(
        description="Advice the clerk can act on while the citizen is at the counter."
    )
    languages: list[str] | None = Field(
        description="The OCR languages asked for at upload; null: Vietnamese first, per page."
    )
    reason_code: str | None = Field(
        description="Why the scan failed, or (awaiting_confirmation) why it waits for its clerk."
    )
    reason_message: str | None = Field(
        description="What the clerk does about it, Vietnamese first (awaiting_confirmation: "
        "POST the PIN/OTP to /api/v1/scans/{id}/confirmation)."
    )
    created_at: IsoDateTime
    finished_at: IsoDateTime | None
    status_url: str = Field(description="Where the scan's status is followed.")
    # Clients test for these keys: a scan without a document does not carry them.
    document_id: str | None = Field(
        default=None,
        exclude_if=_absent,
        description="The signed document; absent until the scan is digitized.",
    )
    document_url: str | None = Field(
        default=None, exclude_if=_absent, description="Where the document is read."
    )


class ScanAccepted(ScanView):
    """An upload as accepted: the pipeline runs after the answer."""

    duplicate: bool = Field(
        description="The same file was already accepted here: this is that scan (answer 200)."
    )


class ComponentScanAccepted(ScanAccepted):
    """An upload of a dossier's paper as accepted."""

    component_id: str = Field(description="The dossier's component the scan belongs to.")


def clerk_for(who: Principal, svc: AppServices) -> str:
    """Whose certificate signs a paper's scan: the uploader's own at the counter
    (TT 01/2023 Art. 8), the default clerk's for anyone else the rules let upload."""
    return who.staff_id if who.role == "counter" else svc.settings.default_clerk


def upload_openapi(*, clerk: bool = False) -> dict[str, Any]:
    """The multipart body of an upload operation for the OpenAPI document.

    The body is parsed by :func:`api.multipart.read_upload` as it streams, not by FastAPI, so
    the operation declares it here: ``/docs`` can then upload, and clients can be generated.
    The answers are the route's own (:func:`upload_responses`).
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
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def upload_responses(model: type[ScanAccepted]) -> dict[int | str, dict[str, Any]]:
    """An upload's two successes, for a route declared with ``response_model=model`` and
    ``status_code=202``: a new scan (202), or the one already accepted for the same file (200).
    """
    return {
        200: {
            "model": model,
            "description": "The same file was already accepted here: its scan, with "
            "``duplicate`` true.",
        },
        202: {"description": "Accepted: the scan is queued; follow ``status_url``."},
    }


async def accept_scan(
    request: Request,
    services: AppServices,
    *,
    clerk_id: Callable[[dict[str, str]], str | None],
    unit_code: str | None,
    component: ComponentRef | None = None,
    target: UploadTarget | None = None,
    from_fields: Callable[[dict[str, str]], dict[str, Any]] | None = None,
    **accept: Any,
) -> JSONResponse:
    """Spool the multipart body to disk, keep the original, record and dispatch the scan.

    A dossier component's scan joins the component; any other ``target`` (a result paper)
    records its own row in the scan's transaction. 202 for a new scan, 200 with ``duplicate`` when the same file
    was already accepted; the body is a :class:`ScanAccepted` (a
    :class:`ComponentScanAccepted` for a component). ``from_fields``, when given, is asked
    with the form's fields once the body is read, for what depends on them (a result's title
    decides its target); its answer joins the arguments of ``accept_upload``.
    """
    from ingest.pipeline import dispatch
    from ingest.upload import accept_upload, upload_dir

    if component is not None:
        target = component

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
    with tempfile.TemporaryDirectory(dir=upload_dir(services.pipeline_config)) as tmp:
        form = await read_upload(
            request.stream(),
            request.headers.get("content-type"),
            Path(tmp) / "upload",
            max_bytes=settings.max_upload_bytes,
            limits=limits,
        )
        assert form.file is not None
        planned: dict[str, Any] = {"unit_code": unit_code, "target": target, **accept}
        if from_fields is not None:
            planned.update(await run_in_threadpool(from_fields, form.fields))
        accepted = await run_in_threadpool(
            accept_upload,
            services,
            form.file,
            filename=form.filename,
            clerk_id=clerk_id(form.fields),
            password=form.fields.get("password") or None,
            languages=form.fields.get("languages") or None,
            **planned,
        )
    scan = accepted.scan
    if accepted.created and scan.step is not None:  # a new scan always starts at a step
        await run_in_threadpool(dispatch, services, scan.id, scan.step)
    seen = dict(scan_body(scan, None))
    body: ScanAccepted
    if component is not None:
        body = ComponentScanAccepted(
            **seen, duplicate=not accepted.created, component_id=component.component_id
        )
    else:
        body = ScanAccepted(**seen, duplicate=not accepted.created)
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202 if accepted.created else 200,
        headers={"Location": f"/api/v1/scans/{scan.id}"},
    )


def chunks(store: ObjectStore, key: str) -> Iterator[bytes]:
    """Stream an object to the client without holding it in memory."""
    with store.open(key) as f:
        while chunk := f.read(256 * 1024):
            yield chunk


def notices(warnings: list[str]) -> list[RescanNotice]:
    """The warnings that carry a stable code and a Vietnamese message, as objects."""
    from ocr.capture import parse_warning

    return [
        RescanNotice(code=notice["code"], page=notice["page"], message=notice["message"])
        for w in warnings
        if (notice := parse_warning(w)) is not None
    ]


def scan_body(scan: Scan, document_id: str | None) -> ScanView:
    """The scan as the API shows it; ``document_id`` once it has a signed document."""
    return ScanView(
        id=scan.id,
        status=scan.status,
        step=scan.step,
        filename=scan.filename,
        media_type=scan.media_type,
        size=scan.size,
        sha256=scan.sha256,
        clerk_id=scan.clerk_id,
        pages_done=scan.pages_done,
        pages_total=scan.pages_total,
        attempts=scan.attempts,
        warnings=scan.warnings,
        notices=notices(scan.warnings or []),
        languages=scan.ocr_languages.split("+") if scan.ocr_languages else None,
        reason_code=scan.reason_code,
        reason_message=scan.reason_message,
        created_at=scan.created_at,
        finished_at=scan.finished_at,
        status_url=f"/api/v1/scans/{scan.id}",
        document_id=document_id or None,
        document_url=f"/api/v1/documents/{document_id}" if document_id else None,
    )


def refusal_problem(session: Session, who: Principal, scan_id: str) -> ApiProblem | None:
    """410 Gone for a scan id that was refused at upload, if the caller may see it (scoped
    like scans, :func:`dossiers.workflow.scan_access.visible_refusal`); anyone else learns nothing (the
    caller answers 404)."""
    refusal = visible_refusal(session, who, scan_id)
    if refusal is None:
        return None
    return ApiProblem(
        410,
        "scan_refused",
        f"Tệp này đã bị từ chối khi tải lên, không được xử lý (the upload was refused): "
        f"{refusal.reason_message}",
        **refusal_body(refusal),
    )
