"""The auditor's pages: find a document or dossier, open a signed document with its
verification, the audit chain's status and latest events, and fixity checks.

The search, the chain and fixity are for auditors (their province) and administrators, as
``dossiers.audit.READERS`` says; a document, its PDF and its reports are for whoever the API
lets read the document (:func:`dossiers.workflow.scan_access.visible_document`), so the scans
panel of a counter's dossier page can embed the PDF too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from api.auditing import audit_access
from api.context import AppServices
from api.params import content_disposition
from api.problems import ApiProblem
from api.routers.documents import DocumentReport
from api.scans import chunks
from core.i18n import N_
from dossiers import audit
from dossiers.access import Principal
from dossiers.records import browse
from dossiers.records.browse import DocumentDetail, DocumentFilter
from dossiers.workflow.scan_access import visible_document
from signing.report import SimpleReport, render_pdf, simple_report
from signing.validation import validate_pdf
from signing.verify import VerificationReport
from storage.db import session_scope
from storage.errors import StorageError
from storage.models import Document
from storage.objects import ObjectInfo, copy_as_stored
from web.deps import InvalidForm, PageRoute, Svc, User
from web.i18n import gettext_for
from web.render import language, page

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 25
EVENTS_PAGE = 50
FIXITY_DEFAULT_SAMPLE = 50

# The audit chain's actions in words; an action not named here is shown as its code.
ACTIONS: dict[str, str] = {
    "dossier.create": N_("Opened a dossier"),
    "dossier.check": N_("Checked the papers"),
    "dossier.receive": N_("Received a dossier"),
    "dossier.reception_pending": N_("Reception awaiting confirmation"),
    "dossier.refuse": N_("Refused a dossier"),
    "dossier.request_supplement": N_("Asked for a supplement"),
    "dossier.supplement_counter": N_("Supplement brought to the counter"),
    "dossier.supplement_received": N_("Supplement received"),
    "dossier.supplement_agency": N_("Supplement sent to the agency"),
    "dossier.await_payment": N_("Waiting for fees"),
    "dossier.paid": N_("Fees paid"),
    "dossier.paid_before_routing": N_("Fees paid before routing"),
    "dossier.payment": N_("Took a payment"),
    "dossier.receipt_void": N_("Voided a receipt"),
    "dossier.route": N_("Routed to the agency"),
    "dossier.take": N_("Agency took the dossier"),
    "dossier.forward": N_("Forwarded to the next agency"),
    "dossier.apology": N_("Apology with a new date"),
    "dossier.finish": N_("Processing finished"),
    "dossier.return": N_("Result returned"),
    "dossier.link_issued": N_("Download link issued"),
    "dossier.posted": N_("Result sent by post"),
    "dossier.withdraw": N_("Dossier withdrawn"),
    "dossier.stop": N_("Processing stopped"),
    "dossier.reuse": N_("Reused a paper from the repository"),
    "dossier.status_lookup": N_("Citizen looked up the status"),
    "document.signed": N_("Document signed"),
    "document.download": N_("Document downloaded"),
    "document.verify": N_("Verification report made"),
    "personal_data.read": N_("Personal data read"),
    "form.download": N_("Form downloaded"),
    "receipt.download": N_("Receipt downloaded"),
    browse.FIXITY_ACTION: N_("Fixity check"),
}
ROLES: dict[str, str] = {
    "counter": N_("Counter"),
    "agency": N_("Agency"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
    "harvester": N_("Harvester"),
    "pipeline": N_("Signing pipeline"),
    "citizen": N_("Citizen"),
}
STATUSES: dict[int, str] = {
    1: N_("New"),
    2: N_("Received"),
    3: N_("Refused"),
    4: N_("Being processed"),
    5: N_("Supplement requested"),
    6: N_("Awaiting fees"),
    7: N_("Withdrawn"),
    8: N_("Stopped"),
    9: N_("Processed"),
    10: N_("Result returned"),
}
INDICATIONS: dict[str, str] = {
    "TOTAL_PASSED": N_("Passed"),
    "INDETERMINATE": N_("Indeterminate"),
    "TOTAL_FAILED": N_("Failed"),
}
# Why a certificate chain or signature did not pass, in words (DSS sub-indications).
REASONS: dict[str, str] = {
    "NO_CERTIFICATE_CHAIN_FOUND": N_("No chain to a trusted root"),
    "OUT_OF_BOUNDS_NO_POE": N_("Certificate expired"),
    "NOT_YET_VALID": N_("Certificate not yet valid"),
    "REVOKED_NO_POE": N_("Certificate revoked"),
    "REVOKED_CA_NO_POE": N_("An issuer's certificate was revoked"),
    "REVOKED": N_("Certificate revoked"),
    "CHAIN_CONSTRAINTS_FAILURE": N_("Certificate not allowed to sign"),
    "CRYPTO_CONSTRAINTS_FAILURE": N_("Algorithm no longer accepted"),
    "HASH_FAILURE": N_("The signed content was changed"),
    "SIG_CRYPTO_FAILURE": N_("The signature value does not verify"),
    "FORMAT_FAILURE": N_("The signature cannot be read"),
    "SIG_CONSTRAINTS_FAILURE": N_("Changes after signing are not allowed"),
    "STORED_HASH_MISMATCH": N_("The file is not the one stored at signing"),
    "SIGNED_DATA_NOT_FOUND": N_("The file cannot be read"),
}
FIXITY_KINDS: dict[str, str] = {
    "original": N_("Uploaded original"),
    "document": N_("Signed document"),
    "document_version": N_("Earlier version of a signed document (before an archive timestamp)"),
    "form": N_("Form"),
    "receipt": N_("Receipt"),
}
FIXITY_PROBLEMS: dict[str, str] = {
    "mismatch": N_("Content changed"),
    "missing": N_("Missing from the store"),
    "unreadable": N_("Cannot be read"),
}
SUBJECTS: dict[str, str] = {
    "dossier": N_("dossier"),
    "document": N_("document"),
    "form": N_("form"),
    "receipt": N_("receipt"),
    "fixity": N_("fixity check"),
}
CHAIN_REASONS: dict[str, str] = {
    "hash_mismatch": N_("the event was edited"),
    "prev_hash_mismatch": N_("its link to the event before was edited"),
    "missing_event": N_("an event was removed"),
    "unexpected_event": N_("an event was added outside the service"),
}
NOTICES: dict[str, str] = {"fixity_ok": N_("Fixity check done: every file matches.")}
ALERTS: dict[str, str] = {
    "fixity_failed": N_(
        "Fixity check done: some files do not match. Tell the operator to restore them from a "
        "replica or backup."
    )
}
LABELS = {
    "actions": ACTIONS,
    "roles": ROLES,
    "statuses": STATUSES,
    "indications": INDICATIONS,
    "reasons": REASONS,
    "fixity_kinds": FIXITY_KINDS,
    "fixity_problems": FIXITY_PROBLEMS,
    "chain_reasons": CHAIN_REASONS,
    "subjects": SUBJECTS,
}


def _notice(request: Request, table: dict[str, str]) -> str:
    """The message of a known ``?notice=`` key, in the page's language."""
    text = table.get(request.query_params.get("notice", ""), "")
    return gettext_for(language(request))(text) if text else ""


# -- search -----------------------------------------------------------------------------------


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidForm(f"{field} must be a date (YYYY-MM-DD)") from None


def _start_of(day: date | None, zone: ZoneInfo) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), zone)


@router.get("/audit")
def search_page(
    request: Request,
    who: User,
    svc: Svc,
    q: Annotated[str, Query(max_length=256)] = "",
    dossier: Annotated[str, Query(max_length=64)] = "",
    doc: Annotated[str, Query(max_length=64)] = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """Documents and dossiers of the caller's province, newest signature first."""
    who.require(*audit.READERS)
    zone = ZoneInfo(svc.settings.timezone)
    first, last = _day(start, "from"), _day(end, "to")
    wanted = DocumentFilter(
        text=q.strip(),
        dossier=dossier.strip(),
        document_id=doc.strip(),
        signed_from=_start_of(first, zone),
        signed_until=_start_of(last + timedelta(days=1) if last else None, zone),
    )
    with session_scope(svc.sessions) as session:
        found = browse.find_documents(
            session, who, wanted, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    params = {"q": q, "dossier": dossier, "doc": doc, "from": start, "to": end}
    return page(
        request,
        "audit/search.html",
        found=found,
        form=params,
        searched=not wanted.empty,
        page_no=page_no,
        query={k: v for k, v in params.items() if v},
        labels=LABELS,
    )


# -- one document -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """One validation of the stored bytes, read two ways: the API's ``/verification`` verdict
    (the badge, as the scans panel shows it) and the auditor's report (the details)."""

    verification: VerificationReport
    report: SimpleReport

    @property
    def valid(self) -> bool:
        return self.verification.ok

    @property
    def intact(self) -> bool:
        v = self.verification
        return v.sha256_matches is not False and all(s.intact for s in v.signatures)

    def signatures(self) -> Iterator[tuple[Any, Any]]:
        """(verification, report) of each signature, in signing order."""
        return zip(self.verification.signatures, self.report.signatures, strict=False)


def _document(svc: AppServices, who: Principal, doc_id: str) -> tuple[Document, str | None]:
    """The document as the API finds it (outside the caller's scope it does not exist), and
    its dossier, which the page's audit events name so the province's auditors see them."""
    with session_scope(svc.sessions) as session:
        doc = visible_document(session, who, doc_id)
        if doc is None:
            raise ApiProblem(404, "document_not_found", f"no document {doc_id}")
        dossier_id = browse.dossier_of_document(session, doc.id)
        session.expunge(doc)
        return doc, dossier_id


@contextmanager
def _local_copy(svc: AppServices, doc: Document) -> Iterator[Path]:
    """The stored bytes as they are, in a work folder removed afterwards.

    A lost object leaves no file, which validates as unreadable.
    """
    with tempfile.TemporaryDirectory(dir=svc.settings.work_dir) as tmp:
        path = Path(tmp) / "document.pdf"
        copy_as_stored(svc.store, doc.object_key, path)
        yield path


def _check(svc: AppServices, doc: Document) -> Checked:
    with _local_copy(svc, doc) as path:
        validation = validate_pdf(
            path,
            trust_roots=svc.trust_roots,
            other_certs=svc.other_certs,
            expected_sha256=doc.sha256,
        )
    return Checked(VerificationReport.of(validation), SimpleReport.of(validation))


def _stored(svc: AppServices, doc: Document) -> ObjectInfo | None:
    try:
        return svc.store.stat(doc.object_key)
    except StorageError:
        return None


@router.get("/documents/{doc_id}")
def document_page(request: Request, doc_id: str, who: User, svc: Svc) -> Response:
    with session_scope(svc.sessions) as session:
        detail: DocumentDetail | None = browse.document_detail(session, who, doc_id)
    if detail is None:
        raise ApiProblem(404, "document_not_found", f"no document {doc_id}")
    doc = detail.document
    return page(
        request,
        "audit/document.html",
        detail=detail,
        doc=doc,
        row=detail.row,
        stored=_stored(svc, doc),
        retention_supported=svc.store.supports_retention,
        checked=_check(svc, doc),
        labels=LABELS,
        auditor=who.role in audit.READERS,
    )


@router.get("/documents/{doc_id}/pdf")
def document_pdf(doc_id: str, who: User, svc: Svc) -> StreamingResponse:
    """The signed PDF shown in the page (inline, never cached), audited as a download."""
    doc, dossier_id = _document(svc, who, doc_id)
    svc.store.stat(doc.object_key)  # a missing object is an error page before streaming starts
    audit_access(
        svc,
        who,
        "document.download",
        "document",
        doc.id,
        dossier_id=dossier_id,
        data={"sha256": doc.sha256},
    )
    return StreamingResponse(
        chunks(svc.store, doc.object_key),
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(f"{doc.id}.pdf", "inline"),
            "Content-Length": str(doc.size),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Content-SHA256": doc.sha256,
        },
    )


# The auditor's report as ``GET /api/v1/documents/{id}/report`` makes it: the same validation,
# audit event and body (JSON) or rendering (PDF), shown in the browser rather than saved.


def _report(
    svc: AppServices, who: Principal, doc: Document, dossier_id: str | None, path: Path
) -> SimpleReport:
    audit_access(svc, who, "document.verify", "document", doc.id, dossier_id=dossier_id)
    return simple_report(
        path, trust_roots=svc.trust_roots, other_certs=svc.other_certs, expected_sha256=doc.sha256
    )


def _inline(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(filename, "inline"),
        "Cache-Control": "no-store",
    }


@router.get("/documents/{doc_id}/report.json")
def report_json(doc_id: str, who: User, svc: Svc) -> JSONResponse:
    doc, dossier_id = _document(svc, who, doc_id)
    with _local_copy(svc, doc) as path:
        result = _report(svc, who, doc, dossier_id, path)
    body = DocumentReport.model_validate({"document_id": doc.id, **result.to_dict()})
    return JSONResponse(
        body.model_dump(mode="json"), headers=_inline(f"bao-cao-xac-thuc-{doc.id}.json")
    )


@router.get("/documents/{doc_id}/report.pdf")
def report_pdf(doc_id: str, who: User, svc: Svc) -> Response:
    doc, dossier_id = _document(svc, who, doc_id)
    with _local_copy(svc, doc) as path:
        result = _report(svc, who, doc, dossier_id, path)
        data = render_pdf(result, path.with_name("report.pdf"), fonts=svc.fonts).read_bytes()
    return Response(
        data, media_type="application/pdf", headers=_inline(f"bao-cao-xac-thuc-{doc.id}.pdf")
    )


# -- the audit chain --------------------------------------------------------------------------


@router.get("/audit/chain")
def chain_page(
    request: Request,
    who: User,
    svc: Svc,
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    verify: bool = False,
) -> Response:
    """The latest events the caller may read, and the chain's status.

    Verifying re-hashes every event since the first (as ``GET /api/v1/audit/verify`` does),
    which grows with the log; so the page comes at once and ``audit.js`` fetches the status
    from :func:`chain_status`. Without scripts, ``?verify=1`` renders it in the page.
    """
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        status = audit.verify_chain(session) if verify else None
        events = browse.latest_events(
            session,
            who,
            actor_id=actor.strip() or None,
            action=action.strip() or None,
            before_seq=before,
            limit=EVENTS_PAGE,
        )
    more = len(events) == EVENTS_PAGE
    return page(
        request,
        "audit/chain.html",
        status=status,
        events=events,
        form={"actor": actor, "action": action},
        older={"actor": actor, "action": action, "before": events[-1].seq} if more else None,
        labels=LABELS,
    )


@router.get("/audit/chain/status")
def chain_status(request: Request, who: User, svc: Svc) -> Response:
    """The chain verified end to end: the status section of the chain page, as HTML."""
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        status = audit.verify_chain(session)
    return page(request, "audit/_chain_status.html", status=status, labels=LABELS)


# -- fixity -----------------------------------------------------------------------------------


@router.get("/audit/fixity")
def fixity_page(request: Request, who: User, svc: Svc) -> Response:
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        runs = browse.fixity_runs(session, who)
    return page(
        request,
        "audit/fixity.html",
        runs=runs,
        last=runs[0] if runs else None,
        sample=FIXITY_DEFAULT_SAMPLE,
        max_sample=browse.MAX_FIXITY_SAMPLE,
        notice=_notice(request, NOTICES),
        alert=_notice(request, ALERTS),
        labels=LABELS,
    )


@router.post("/audit/fixity")
def fixity_run(
    who: User,
    svc: Svc,
    sample: Annotated[int, Form(ge=1, le=browse.MAX_FIXITY_SAMPLE)] = FIXITY_DEFAULT_SAMPLE,
) -> Response:
    """Re-hash a random sample of the caller's stored files now, and keep the outcome in the
    audit chain (the page's "last run")."""
    who.require(*audit.READERS)
    with session_scope(svc.sessions) as session:
        items = browse.fixity_candidates(session, who, sample)
    report = browse.rehash(svc.store, items)
    with session_scope(svc.sessions) as session:
        browse.record_fixity(session, who, report, sample=sample, at=svc.clock())
    key = "fixity_ok" if report.ok else "fixity_failed"
    return RedirectResponse(f"/web/audit/fixity?notice={key}", status_code=303)
