"""The FastAPI application: thin routers over the pipeline and the ledger."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select, union
from sqlalchemy.orm import Session

from api.auditing import audit_access
from api.deps import Caller, PublicLimit
from api.middleware import RequestIdMiddleware
from api.openapi import install as install_openapi
from api.params import content_disposition
from api.problems import ApiProblem, RequestGuard, install
from api.ratelimit import limiter_for
from api.routers import admin, audit, catalog, dossiers, feed, money, oai, ops, reports
from api.scans import accept_scan, chunks, refusal_problem, scan_body, upload_openapi
from dossiers.access import Principal, dossier_filter
from dossiers.models import ComponentScan, Dossier, Result
from ingest.validate import validate_clerk_id
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus
from wiring.factory import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="sohoa",
        version="0.1.0",
        description="Scan in, signed searchable PDF/A out: uploads, status, documents, verification.",
    )
    app.state.services = services
    install(app)
    install_openapi(app)
    app.state.rate_limiter = limiter_for(services.settings)
    # Outermost of ours, so every response and log line of a request carries its id (and the
    # client's address, X-Forwarded-For believed only from a trusted proxy).
    app.add_middleware(RequestGuard)
    app.add_middleware(RequestIdMiddleware, trusted_proxies=services.settings.trusted_proxies)

    app.include_router(ops.router)

    v1 = APIRouter(prefix="/api/v1")

    @v1.post("/scans", status_code=202, tags=["scans"], openapi_extra=upload_openapi(clerk=True))
    async def upload_scan(request: Request, who: Caller) -> JSONResponse:
        """Upload one loose scan (multipart, file in ``file``; optional ``clerk_id``, ``password``).

        Papers of a dossier go to ``/dossiers/{code}/components/{id}/scans`` instead.
        """
        who.require("counter", "admin")
        return await accept_scan(
            request,
            services,
            clerk_id=lambda fields: _clerk(who, fields.get("clerk_id") or None),
            unit_code=who.unit_code,
        )

    @v1.get(
        "/scans/{scan_id}",
        tags=["scans"],
        responses={410: {"description": "The upload was refused; the body gives the reason."}},
    )
    def get_scan(scan_id: str, who: Caller) -> dict[str, Any]:
        """A scan's status; 410 with the reason when the upload was refused at the door."""
        with session_scope(services.sessions) as session:
            scan = _scan_or_problem(session, who, scan_id)
            doc_id = session.scalar(select(Document.id).where(Document.scan_id == scan_id))
            return scan_body(scan, doc_id)

    @v1.post(
        "/scans/{scan_id}/retry",
        status_code=202,
        tags=["scans"],
        responses={410: {"description": "The upload was refused; there is nothing to retry."}},
    )
    def retry(scan_id: str, who: Caller) -> dict[str, Any]:
        from ingest.pipeline import dispatch, retry_scan

        who.require("counter", "admin")
        with session_scope(services.sessions) as session:
            _scan_or_problem(session, who, scan_id)  # a refused upload has nothing to retry

        scan = retry_scan(services, scan_id)
        if scan.status == ScanStatus.RECEIVED and scan.step:
            dispatch(services, scan.id, scan.step)
        return scan_body(scan, None)

    @v1.get("/documents/{doc_id}", tags=["documents"])
    def get_document(doc_id: str, who: Caller) -> dict[str, Any]:
        doc = _document(doc_id, who)
        # The text layer and extracted fields are the citizen's personal data.
        audit_access(services, who, "personal_data.read", "document", doc.id)
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
            # How each page was made; "kept" pages belong to a signed input stored as received.
            "page_info": doc.page_info,
            # The upload's own signatures as verified on arrival (a signed input), else [].
            "input_signatures": doc.input_signatures,
            "attachments": doc.attachments,
            "pdfa_source": doc.pdfa_source,
            "file_url": f"/api/v1/documents/{doc.id}/file",
            "verification_url": f"/api/v1/documents/{doc.id}/verification",
        }

    @v1.get("/documents/{doc_id}/file", tags=["documents"])
    def get_file(doc_id: str, who: Caller) -> StreamingResponse:
        doc = _document(doc_id, who)
        services.store.stat(doc.object_key)  # a missing object is a 404/503 before streaming starts
        audit_access(
            services, who, "document.download", "document", doc.id, data={"sha256": doc.sha256}
        )

        return StreamingResponse(
            chunks(services.store, doc.object_key),
            media_type="application/pdf",
            headers={
                "Content-Disposition": content_disposition(f"{doc.id}.pdf"),
                "Content-Length": str(doc.size),
                "X-Content-SHA256": doc.sha256,
            },
        )

    @v1.get("/documents/{doc_id}/verification", tags=["documents"])
    def verify(doc_id: str, who: Caller) -> dict[str, Any]:
        from signing.verify import verify_pdf

        doc = _document(doc_id, who)
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

    @v1.get("/documents/{doc_id}/report", tags=["documents"])
    def report(doc_id: str, who: Caller, format: str = "json") -> Response:
        """The auditor's report in the manner of EU DSS's simple report: per signature an
        indication, sub-indication, signer, times, PAdES level, coverage, later changes, and
        whether the file still matches the SHA-256 recorded when it was stored."""
        from signing.report import render_pdf, simple_report

        if format not in ("json", "pdf"):
            raise ApiProblem(422, "format_invalid", "format is json or pdf")
        doc = _document(doc_id, who)
        audit_access(services, who, "document.verify", "document", doc.id)
        with tempfile.TemporaryDirectory(dir=services.settings.work_dir) as tmp:
            path = Path(tmp) / "document.pdf"
            services.store.get_to_file(doc.object_key, path)
            result = simple_report(
                path,
                trust_roots=services.trust_roots,
                other_certs=services.other_certs,
                expected_sha256=doc.sha256,
            )
            if format == "json":
                return JSONResponse({"document_id": doc.id, **result.to_dict()})
            out = render_pdf(result, Path(tmp) / "report.pdf")
            data = out.read_bytes()
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": content_disposition(f"bao-cao-xac-thuc-{doc.id}.pdf")},
        )

    for module in (dossiers, catalog, admin, reports, money, audit, feed):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(money.public)
    app.include_router(oai.router)

    @app.get(
        "/api/v1/objects/{key:path}",
        tags=["documents"],
        include_in_schema=False,
        dependencies=[PublicLimit],
    )
    def presigned(key: str, expires: int, signature: str) -> StreamingResponse:
        """Serves the local store's presigned URLs; the signature is the credential."""
        store = services.store
        verify_url = getattr(store, "verify_presigned", None)
        if verify_url is None or not verify_url(key, expires, signature):
            raise ApiProblem(403, "url_invalid", "the link is invalid or has expired")
        info = store.stat(key)

        return StreamingResponse(chunks(store, key), media_type=info.content_type)

    def _document(doc_id: str, who: Principal) -> Document:
        with session_scope(services.sessions) as session:
            doc = session.get(Document, doc_id)
            if doc is None or _scan(session, who, doc.scan_id) is None:
                raise ApiProblem(404, "document_not_found", f"no document {doc_id}")
            session.expunge(doc)
            return doc

    return app


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
    scan = _scan(session, who, scan_id)
    if scan is not None:
        return scan
    gone = refusal_problem(session, who, scan_id)
    if gone is not None:
        raise gone
    raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")


def _scan(session: Session, who: Principal, scan_id: str) -> Scan | None:
    """A scan the caller may see: its unit's, or one of a dossier the caller may read."""
    scan = session.get(Scan, scan_id)
    if scan is None or who.role == "admin":
        return scan
    if who.role == "counter" and scan.unit_code in who.units:
        return scan
    owners = union(
        select(ComponentScan.dossier_id.label("id")).where(ComponentScan.scan_id == scan_id),
        select(Result.dossier_id.label("id")).where(Result.scan_id == scan_id),
    ).subquery()
    linked = session.scalar(
        select(Dossier.id).where(Dossier.id.in_(select(owners.c.id)), dossier_filter(who))
    )
    return scan if linked else None
