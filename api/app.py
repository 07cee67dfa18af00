"""The FastAPI application: thin routers over the pipeline and the ledger."""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.multipart import read_upload
from api.problems import ApiProblem, install
from sohoa.factory import Services
from storage import db
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus

bearer = HTTPBearer(auto_error=False)


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="sohoa",
        version="0.1.0",
        description="Scan in, signed searchable PDF/A out: uploads, status, documents, verification.",
    )
    app.state.services = services
    install(app)
    token_digest = (
        _digest(services.settings.api_token.get_secret_value())
        if services.settings.api_token
        else None
    )

    def authenticated(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if token_digest is None:
            raise ApiProblem(
                401, "auth_not_configured", "the server has no API token; set SOHOA_API_TOKEN"
            )
        if creds is None or not hmac.compare_digest(_digest(creds.credentials), token_digest):
            raise ApiProblem(401, "unauthorized", "send 'Authorization: Bearer <token>'")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        for name, check in (
            ("database", lambda: db.ping(services.engine)),
            ("store", services.store.ping),
        ):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable: {exc}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticated)])

    @v1.post("/scans", status_code=202, tags=["scans"])
    async def upload_scan(request: Request) -> JSONResponse:
        """Upload one scan (multipart, file in the field ``file``; optional ``clerk_id``, ``password``)."""
        from ingest.pipeline import accept_upload, dispatch, upload_dir

        settings = services.settings
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + 65536:
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
            )
            assert form.file is not None
            accepted = await run_in_threadpool(
                accept_upload,
                services,
                form.file,
                filename=form.filename,
                clerk_id=form.fields.get("clerk_id") or None,
                password=form.fields.get("password") or None,
            )
        scan = accepted.scan
        if accepted.created:
            await run_in_threadpool(dispatch, services, scan.id, scan.step)
        body = _scan_body(scan, None)
        body["duplicate"] = not accepted.created
        return JSONResponse(
            body,
            status_code=202 if accepted.created else 200,
            headers={"Location": f"/api/v1/scans/{scan.id}"},
        )

    @v1.get("/scans/{scan_id}", tags=["scans"])
    def get_scan(scan_id: str) -> dict[str, Any]:
        with session_scope(services.sessions) as session:
            scan = session.get(Scan, scan_id)
            if scan is None:
                raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")
            doc_id = session.scalar(select(Document.id).where(Document.scan_id == scan_id))
            return _scan_body(scan, doc_id)

    @v1.post("/scans/{scan_id}/retry", status_code=202, tags=["scans"])
    def retry(scan_id: str) -> dict[str, Any]:
        from ingest.pipeline import dispatch, retry_scan

        scan = retry_scan(services, scan_id)
        if scan.status == ScanStatus.RECEIVED and scan.step:
            dispatch(services, scan.id, scan.step)
        return _scan_body(scan, None)

    @v1.get("/documents/{doc_id}", tags=["documents"])
    def get_document(doc_id: str) -> dict[str, Any]:
        doc = _document(doc_id)
        return {
            "id": doc.id,
            "scan_id": doc.scan_id,
            "pages": doc.pages,
            "language": doc.language,
            "sha256": doc.sha256,
            "original_sha256": doc.original_sha256,
            "ocr_sha256": doc.ocr_sha256,
            "size": doc.size,
            "signer": doc.signer_name,
            "clerk_id": doc.clerk_id,
            "pades_level": doc.pades_level,
            "signed_at": doc.signed_at.isoformat(),
            "fields": doc.fields,
            "page_texts": doc.page_texts,
            "file_url": f"/api/v1/documents/{doc.id}/file",
            "verification_url": f"/api/v1/documents/{doc.id}/verification",
        }

    @v1.get("/documents/{doc_id}/file", tags=["documents"])
    def get_file(doc_id: str) -> StreamingResponse:
        doc = _document(doc_id)
        services.store.stat(doc.object_key)  # a missing object is a 404/503 before streaming starts

        return StreamingResponse(
            _chunks(services.store, doc.object_key),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{doc.id}.pdf"',
                "Content-Length": str(doc.size),
                "X-Content-SHA256": doc.sha256,
            },
        )

    @v1.get("/documents/{doc_id}/verification", tags=["documents"])
    def verify(doc_id: str) -> dict[str, Any]:
        from signing.verify import verify_pdf

        doc = _document(doc_id)
        with tempfile.TemporaryDirectory(dir=services.settings.work_dir) as tmp:
            path = Path(tmp) / "document.pdf"
            services.store.get_to_file(doc.object_key, path)
            report = verify_pdf(
                path,
                trust_roots=services.trust_roots,
                other_certs=services.other_certs,
                expected_sha256=doc.sha256,
            )
        return {"document_id": doc.id, **report.to_dict()}

    app.include_router(v1)

    @app.get("/api/v1/objects/{key:path}", tags=["documents"], include_in_schema=False)
    def presigned(key: str, expires: int, signature: str) -> StreamingResponse:
        """Serves the local store's presigned URLs; the signature is the credential."""
        store = services.store
        verify_url = getattr(store, "verify_presigned", None)
        if verify_url is None or not verify_url(key, expires, signature):
            raise ApiProblem(403, "url_invalid", "the link is invalid or has expired")
        info = store.stat(key)

        return StreamingResponse(_chunks(store, key), media_type=info.content_type)

    def _document(doc_id: str) -> Document:
        with session_scope(services.sessions) as session:
            doc = session.get(Document, doc_id)
            if doc is None:
                raise ApiProblem(404, "document_not_found", f"no document {doc_id}")
            session.expunge(doc)
            return doc

    return app


def _chunks(store: Any, key: str) -> Iterator[bytes]:
    """Stream an object to the client without holding it in memory."""
    with store.open(key) as f:
        while chunk := f.read(256 * 1024):
            yield chunk


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _scan_body(scan: Scan, document_id: str | None) -> dict[str, Any]:
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
