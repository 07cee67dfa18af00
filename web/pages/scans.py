"""Scanning each paper of a dossier: the upload the page's script sends, a scan's progress in
words, the signed document's badge, and papers taken from the repository instead of a scan.

The upload is the API's component upload (``DossierService.component_for_upload``, then
:func:`api.scans.accept_scan`), answered in the page's words; who sees a scan is
:mod:`dossiers.workflow.scan_access`, exactly as for ``GET /api/v1/scans/{id}``. The signature
badge is computed when asked for, in a scan's status once it is signed: a dossier page with
many documents never validates all of them on every view. A scan whose remote signature waits
for its clerk's PIN/OTP gets that clerk a form, answered by the API's own confirmation.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.context import AppServices
from api.problem_types import problem_types
from api.problems import ApiProblem, private_paths, problem
from api.scans import accept_scan, clerk_for, notices
from core.errors import SohoaError
from dossiers.access import Principal
from dossiers.errors import NotFound
from dossiers.models import RepositoryRecord
from dossiers.workflow.dossier_views import ComponentView, DossierView, ReusableRecord
from dossiers.workflow.lifecycle import TAKES_REUSE, TAKES_SCANS
from dossiers.workflow.scan_access import visible_refusal, visible_scan
from storage.db import session_scope
from storage.models import Document, Refusal, Scan, ScanStatus, Step
from storage.objects import copy_as_stored
from web.deps import InvalidForm, PageRoute, Svc, User, wants_json
from web.i18n import Gettext, gettext_for
from web.render import language, page

log = logging.getLogger(__name__)

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

# What the page's script follows: a scan waits, runs, ends signed, or ends with a reason.
QUEUED, WORKING, DIGITIZED, FAILED = "queued", "working", "digitized", "failed"
# OCR done; the remote signature waits for the clerk's PIN/OTP (no worker will take it).
AWAITING = "awaiting"
# Statuses in which a dossier takes scans of its papers (``component_for_upload`` decides; the
# page only hides a form the service would refuse) and in which papers are reused.
DONE_REUSED = "scans_reused"
# A scan signed with its clerk's PIN/OTP; an OTP asked of the remote signing service.
DONE_SIGNED, DONE_OTP = "scan_signed", "otp_sent"

_PAGE_NOTE = re.compile(r"^page (\d+): (.*)$", re.S)
_RASTERIZED = re.compile(r"^page (\d+) rasterized\b")


# -- what the dossier page shows per paper -----------------------------------------------------


@dataclass(frozen=True)
class ScanItem:
    """One scan of a paper as the list shows it."""

    scan_id: str
    filename: str
    state: str
    label: str
    notices: list[str]
    pages_done: int
    pages_total: int | None
    document_id: str | None
    # Set only for the scan's own clerk while it awaits their PIN/OTP (remote signing).
    confirm_url: str | None = None
    otp_url: str | None = None

    @property
    def status_url(self) -> str:
        return f"/web/scans/{self.scan_id}"

    @property
    def pdf_url(self) -> str | None:
        return f"/web/documents/{self.document_id}/pdf" if self.document_id else None


@dataclass
class PaperPanel:
    """The scans box of one component: its scans, the upload form, papers to reuse."""

    items: list[ScanItem] = field(default_factory=list)
    upload_url: str | None = None
    reuse_url: str | None = None
    reusable: list[ReusableRecord] = field(default_factory=list)
    reused_code: str | None = None


def dossier_context(
    request: Request, svc: AppServices, user: Principal, dossier: DossierView
) -> dict[str, Any]:
    """``scans_panels`` (component id -> :class:`PaperPanel`) and the notice of a reuse just done.

    A fixed number of statements whatever the dossier holds: one for every scan and document of
    its papers, one for reused records, one to see whether its owner has anything to reuse;
    only papers of a type the owner has in the repository ask the service for candidates.
    """
    _ = gettext_for(language(request))
    base = f"/web/dossiers/{dossier.id}/components"
    panels = {c.id: PaperPanel() for c in dossier.components}
    counter = user.role == "counter" and dossier.unit_code in user.units
    for c in dossier.components:
        if counter and c.digitize and dossier.status in TAKES_SCANS:
            panels[c.id].upload_url = f"{base}/{c.id}/scans"
    # Only remote keys wait for a PIN/OTP; the form goes to the scan's own clerk alone.
    confirming = (base, user.staff_id) if svc.settings.signer == "csc" else None
    with session_scope(svc.sessions) as session:
        for component_id, item in _scan_items(session, dossier.components, _, confirming):
            panels[component_id].items.append(item)
        reused = {c.reused.record_id: c.id for c in dossier.components if c.reused}
        if reused:
            for record_id, code in session.execute(
                select(RepositoryRecord.id, RepositoryRecord.code).where(
                    RepositoryRecord.id.in_(reused)
                )
            ):
                panels[reused[record_id]].reused_code = code
        kinds: set[str] = set()
        if counter and dossier.status in TAKES_REUSE:
            kinds = set(
                session.scalars(
                    select(RepositoryRecord.doc_type)
                    .where(
                        RepositoryRecord.owner_id == dossier.applicant.id_number,
                        RepositoryRecord.hidden.is_(False),
                        RepositoryRecord.deleted.is_(False),
                    )
                    .distinct()
                )
            )
    for c in dossier.components:
        if c.key in kinds and c.reused is None:
            found = svc.dossiers.reusable(user, dossier.id, c.id)
            if found:
                panels[c.id].reusable = found
                panels[c.id].reuse_url = f"{base}/{c.id}/reuse"
    query = request.query_params
    notice = {
        DONE_REUSED: _("The paper was taken from the data repository: no scan needed"),
        DONE_SIGNED: _("Signed: the scan is digitized"),
        DONE_OTP: _(
            "An OTP was requested: enter the code texted to you, then press “Sign digitally”"
        ),
    }.get(query.get("done") or "")
    return {
        "scans_panels": panels,
        "scans_notice": notice,
        "scans_notice_component": query.get("component") if notice else None,
        "scans_error": None,
        "scans_error_scan": None,
        "scans_error_component": None,
    }


def _scan_items(
    session: Session,
    components: list[ComponentView],
    _: Gettext,
    confirming: tuple[str, str] | None = None,
) -> list[tuple[str, ScanItem]]:
    """Every scan and document of the components, oldest first, in one statement.

    ``confirming`` (the components' base URL, the clerk viewing) gives that clerk's scans
    awaiting a PIN/OTP their confirmation form."""
    owner: dict[str, str] = {}
    for c in components:
        owner.update({s.scan_id: c.id for s in c.scans})
        owner.update({d: c.id for d in c.document_ids})
    if not owner:
        return []
    rows = session.execute(
        select(
            Scan.id,
            Scan.filename,
            Scan.status,
            Scan.step,
            Scan.pages_done,
            Scan.pages_total,
            Scan.reason_code,
            Scan.warnings,
            # Only the page lists of the OCR result: it also holds every page's text.
            Scan.ocr_result["rotated_pages"],
            Scan.ocr_result["deskewed_pages"],
            Document.id,
            Scan.clerk_id,
        )
        .outerjoin(Document, Document.scan_id == Scan.id)
        .where(or_(Scan.id.in_(owner), Document.id.in_(owner)))
        .order_by(Scan.created_at, Scan.id)
    )
    out = []
    for (
        scan_id,
        filename,
        status,
        step,
        done,
        total,
        reason,
        warnings,
        turned,
        crooked,
        doc_id,
        clerk_id,
    ) in rows:
        component_id = owner.get(scan_id) or owner[doc_id]
        state = state_of(status)
        confirm_url = otp_url = None
        if confirming and state == AWAITING and clerk_id == confirming[1]:
            here = f"{confirming[0]}/{component_id}/scans/{scan_id}"
            confirm_url, otp_url = f"{here}/confirmation", f"{here}/otp"
        out.append(
            (
                component_id,
                ScanItem(
                    scan_id=scan_id,
                    filename=filename,
                    state=state,
                    label=label_of(_, state, step, done, total, reason),
                    notices=advice(
                        _, warnings or [], {"rotated_pages": turned, "deskewed_pages": crooked}
                    ),
                    pages_done=done,
                    pages_total=total,
                    document_id=doc_id if state == DIGITIZED else None,
                    confirm_url=confirm_url,
                    otp_url=otp_url,
                ),
            )
        )
    return out


# -- the upload --------------------------------------------------------------------------------


@router.post("/dossiers/{ref}/components/{component_id}/scans")
async def upload(ref: str, component_id: str, request: Request, user: User, svc: Svc) -> Response:
    """One file of a paper (multipart ``file``, optional ``password``, ``languages``), sent by
    ``scan.js`` with the ``X-CSRF-Token`` header: 202 ``{"scan_id", "status_url"}`` (200 and
    ``duplicate`` when the same file was already taken), else a problem whose ``detail`` says
    in the page's language what to do."""
    from dossiers.workflow.scanhooks import ComponentRef

    _ = gettext_for(language(request))
    try:
        dossier_id, unit_code = await run_in_threadpool(
            svc.dossiers.component_for_upload, user, ref, component_id
        )
        answer = await accept_scan(
            request,
            svc,
            clerk_id=lambda _fields: clerk_for(user, svc),
            unit_code=unit_code,
            component=ComponentRef(dossier_id, component_id),
        )
    except SohoaError as exc:
        status = int(getattr(exc, "http_status", 500))
        code = str(getattr(exc, "code", "internal_error"))
        if status >= 500:
            log.error("page upload failed: %s: %s", code, exc)
        extra: dict[str, Any] = {**(getattr(exc, "extra", None) or {}), "reason": str(exc)}
        if getattr(exc, "scan_id", None):
            extra["scan_id"] = exc.scan_id  # type: ignore[attr-defined]
        return problem(
            status,
            code,
            reason_advice(_, code, language(request), svc.settings.max_upload_bytes),
            private_paths=private_paths(request),
            **extra,
        )
    return page_answer(answer)


def page_answer(answer: JSONResponse) -> JSONResponse:
    """The API's upload answer as ``scan.js`` follows it: the scan's status in the page."""
    body = json.loads(bytes(answer.body))
    return JSONResponse(
        {
            "scan_id": body["id"],
            "status_url": f"/web/scans/{body['id']}",
            "duplicate": body["duplicate"],
        },
        status_code=answer.status_code,
    )


# -- a scan's status ---------------------------------------------------------------------------


@router.get("/scans/{scan_id}")
def scan_status(
    scan_id: str,
    request: Request,
    user: User,
    svc: Svc,
    verify: Annotated[bool, Query()] = True,
) -> JSONResponse:
    """The scan in words for ``scan.js``; once signed, its signature checked now (``verify``
    false skips that). Scoped like the API's scan status: anything else is a 404."""
    lang = language(request)
    _ = gettext_for(lang)
    with session_scope(svc.sessions) as session:
        scan = visible_scan(session, user, scan_id)
        if scan is None:
            refusal = visible_refusal(session, user, scan_id)
            if refusal is None:
                raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")
            return JSONResponse(_refused(_, lang, refusal, svc))
        doc = session.scalar(select(Document).where(Document.scan_id == scan_id))
        if doc is not None:
            session.expunge(doc)
        state = state_of(scan.status)
        body: dict[str, Any] = {
            "scan_id": scan.id,
            "state": state,
            "label": label_of(
                _,
                state,
                scan.step,
                scan.pages_done,
                scan.pages_total,
                scan.reason_code,
                lang=lang,
                limit=svc.settings.max_upload_bytes,
            ),
            "pages_done": scan.pages_done,
            "pages_total": scan.pages_total,
            "notices": advice(_, scan.warnings or [], scan.ocr_result or {}),
            "document_id": None,
            "pdf_url": None,
            "valid": None,
            "badge": None,
            # The page draws the PIN/OTP form for this clerk (scan.js says to reload for it).
            "confirmable": state == AWAITING
            and scan.clerk_id == user.staff_id
            and svc.settings.signer == "csc",
        }
    if doc is not None and state == DIGITIZED:
        body["document_id"] = doc.id
        body["pdf_url"] = f"/web/documents/{doc.id}/pdf"
        if verify:
            verdict = signature_verdict(svc, doc)
            body["valid"] = None if verdict is None else verdict == VALID
            body["badge"], body["badge_kind"] = badge_of(_, verdict)
    return JSONResponse(body)


VALID, UNTRUSTED, INVALID = "valid", "untrusted", "invalid"


def signature_verdict(svc: AppServices, doc: Document) -> str | None:
    """The stored file's verdict, from the same validation as ``/verification``: ``valid``;
    ``untrusted`` when the file is intact and every signature holds but a signer's chain is not
    in our trust list (an agency's result signed under a CA we were not given); else
    ``invalid``. None when the store cannot hand the file over now."""
    from signing.verify import verify_pdf

    try:
        with tempfile.TemporaryDirectory(dir=svc.settings.work_dir) as tmp:
            path = Path(tmp) / "document.pdf"
            if not copy_as_stored(svc.store, doc.object_key, path):
                return INVALID
            report = verify_pdf(
                path,
                trust_roots=svc.trust_roots,
                other_certs=svc.other_certs,
                expected_sha256=doc.sha256,
            )
    except SohoaError as exc:
        log.warning("document %s not verified for the page: %s", doc.id, exc)
        return None
    if report.ok:
        return VALID
    holds = report.signed and report.sha256_matches is not False and report.error is None
    if holds and all(sig.intact and sig.valid for sig in report.signatures):
        return UNTRUSTED
    return INVALID


def badge_of(_: Gettext, verdict: str | None) -> tuple[str, str]:
    """The badge's words and its kind (ok, warn, bad, info)."""
    if verdict == VALID:
        return _("Signature valid"), "ok"
    if verdict == UNTRUSTED:
        return _("Signature intact, signer not on our trust list"), "warn"
    if verdict == INVALID:
        return _("Signature NOT valid"), "bad"
    return _("Signature not checked yet"), "info"


def _refused(_: Gettext, lang: str, refusal: Refusal, svc: AppServices) -> dict[str, Any]:
    """A scan id whose upload was refused at the door: failed, with the reason."""
    return {
        "scan_id": refusal.id,
        "state": FAILED,
        "label": label_of(
            _,
            FAILED,
            None,
            0,
            None,
            refusal.reason_code,
            lang=lang,
            limit=svc.settings.max_upload_bytes,
        ),
        "pages_done": 0,
        "pages_total": None,
        "notices": [],
        "document_id": None,
        "pdf_url": None,
        "valid": None,
        "badge": None,
    }


# -- words -------------------------------------------------------------------------------------


def state_of(status: str) -> str:
    if status == ScanStatus.DIGITIZED:
        return DIGITIZED
    if status == ScanStatus.FAILED:
        return FAILED
    if status == ScanStatus.AWAITING_CONFIRMATION:
        return AWAITING
    return WORKING if status == ScanStatus.PROCESSING else QUEUED


def label_of(
    _: Gettext,
    state: str,
    step: str | None,
    done: int,
    total: int | None,
    reason_code: str | None,
    *,
    lang: str = "vi",
    limit: int = 0,
) -> str:
    if state == QUEUED:
        return _("Waiting to be digitized")
    if state == WORKING:
        if step == Step.SIGN:
            return _("Signing")
        if total:
            return _("Digitizing: page {done}/{total}", done=min(done + 1, total), total=total)
        return _("Digitizing")
    if state == DIGITIZED:
        return _("Digitized")
    if state == AWAITING:
        return _("Waiting for the signing confirmation: enter the OTP/PIN to sign")
    return _(
        "Not digitized: {reason}",
        reason=reason_advice(_, reason_code or "", lang, limit),
    )


def reason_advice(_: Gettext, code: str, lang: str, limit: int) -> str:
    """What the clerk does about a refused upload or a failed scan, in the page's language."""
    if code == "unsupported_media_type":
        return _("Not an image or a PDF: choose the scanned file again")
    if code in ("file_corrupt", "ocr_input_invalid", "unsignable_pdf"):
        return _("The file cannot be read (damaged or cut short): scan the paper again")
    if code == "empty_file":
        return _("The file is empty: scan the paper again")
    if code in ("file_too_large", "upload_too_large"):
        return _(
            "The file is over {mb} MB: scan at 300 dpi, or split it into several files",
            mb=limit // 2**20,
        )
    if code == "too_many_pages":
        return _("Too many pages in one file: split it into several files")
    if code.startswith(("pdf_over", "pdf_inflat", "pdf_image", "pdf_stream")) or code in (
        "image_too_large",
        "page_too_large",
        "page_pixels_too_many",
        "document_pixels_too_many",
    ):
        return _("The pages are too large to read: scan them on A4 at 300 dpi")
    if code == "pdf_encrypted":
        return _(
            "The PDF has a password: type it under “The citizen's PDF has a password?”, "
            "then choose the file again"
        )
    if code == "pdf_wrong_password":
        return _("The PDF password is wrong: ask the citizen again, then choose the file again")
    if code == "xfa_form":
        return _("This PDF is a fillable form that cannot be archived: print it to PDF first")
    if code == "signed_input_locked":
        return _(
            "This signed PDF allows no other signature: ask its issuer for another copy, "
            "or print it and scan the paper"
        )
    if code == "pdfa_invalid":
        return _("The file cannot be made into an archive copy: print it to PDF, or scan the paper")
    if code == "ocr_timeout":
        return _("Reading the pages took too long: split the file, or scan at 300 dpi")
    if code == "illegal_transition":
        return _("The dossier takes no more scans in its present state")
    if code in ("component_not_found", "dossier_not_found"):
        return _("This paper is no longer in the dossier: reload the page")
    if code in ("role_forbidden", "forbidden"):
        return _("Only the counter staff of the dossier's unit upload its scans")
    if code == "csrf_failed" or code.startswith(("bad_form", "too_many", "form_", "part_")):
        return _("The page is out of date: reload it, then choose the file again")
    if code in ("invalid_field", "invalid_request"):
        return _("A field of the form is not valid: correct it, then choose the file again")
    entry = problem_types().get(code)
    if entry is not None:
        title = getattr(entry.title, lang, entry.title.vi)
        action = getattr(entry.action, lang, entry.action.vi)
        return f"{title}: {action}"
    return _("The file could not be digitized: scan the paper again, or tell the operator")


def advice(_: Gettext, warnings: list[str], ocr_result: dict[str, Any]) -> list[str]:
    """The pipeline's warnings the clerk can act on, in words, while the citizen waits.

    Rescan advice already comes in Vietnamese (:mod:`api.scans`); the others are known codes
    or page notes. Notes about the file's insides (fonts, annotations) need no action.
    """
    rescans = notices(warnings)
    out = [n.message for n in rescans]
    flagged = {n.page for n in rescans}
    for warning in warnings:
        note = _PAGE_NOTE.match(warning)
        raster = _RASTERIZED.match(warning)
        if note and note.group(2).startswith("orientation uncertain"):
            out.append(
                _(
                    "Page {n}: its direction is unclear; check it is upright in the PDF, "
                    "or scan it again straight",
                    n=note.group(1),
                )
            )
        elif note and note.group(2) == "no text found" and int(note.group(1)) not in flagged:
            out.append(
                _(
                    "Page {n}: no writing was found; if the page has writing, scan it again "
                    "at 300 dpi",
                    n=note.group(1),
                )
            )
        elif raster:
            out.append(
                _(
                    "Page {n} was kept as a picture: check in the PDF that its writing is sharp",
                    n=raster.group(1),
                )
            )
        elif warning.startswith("every page rasterized"):
            out.append(_("Every page was kept as a picture: check in the PDF that they are sharp"))
        elif warning == "signed_input_signature_broken":
            out.append(_("The file's own signature is broken: ask its issuer for an intact copy"))
        elif warning == "signed_input_signer_not_trusted":
            out.append(
                _(
                    "The file's own signer is not on the trusted list: check where the paper "
                    "came from"
                )
            )
    for n in ocr_result.get("rotated_pages") or []:
        out.append(_("Page {n} was turned upright: check that it reads the right way", n=n))
    for n in ocr_result.get("deskewed_pages") or []:
        out.append(
            _(
                "Page {n} was crooked and has been straightened: if its edges are cut off, "
                "scan it again with the paper straight",
                n=n,
            )
        )
    return out


# -- reuse from the repository, and the paper's own page ---------------------------------------


@router.post("/dossiers/{ref}/components/{component_id}/reuse")
def reuse(
    ref: str,
    component_id: str,
    user: User,
    svc: Svc,
    record_id: Annotated[str, Form(max_length=32)],
) -> RedirectResponse:
    """Take the paper from the citizen's repository instead of scanning it again."""
    svc.dossiers.reuse(user, ref, component_id, record_id)
    return RedirectResponse(
        f"/web/dossiers/{ref}?done={DONE_REUSED}&component={component_id}#scans-{component_id}",
        status_code=303,
    )


@router.get("/dossiers/{ref}/components/{component_id}/scans")
def paper_page(ref: str, component_id: str, request: Request, user: User, svc: Svc) -> HTMLResponse:
    """One paper's scans on a page of their own: the same box as on the dossier page."""
    return _paper(request, svc, user, ref, component_id)


def _paper(
    request: Request,
    svc: AppServices,
    user: Principal,
    ref: str,
    component_id: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    dossier = svc.dossiers.view(user, ref)
    component = next((c for c in dossier.components if c.id == component_id), None)
    if component is None:
        raise NotFound(f"no component {component_id} in this dossier", code="component_not_found")
    return page(
        request,
        "scans/paper.html",
        status_code=status_code,
        dossier=dossier,
        component=component,
        **{**dossier_context(request, svc, user, dossier), **extra},
    )


# -- the clerk's confirmation of a remote signature (PIN/OTP) ----------------------------------
#
# The API's own operations (api/routers/signing.py), called here in-process: the same checks
# (the scan's clerk only, remote keys only), the same per-clerk limits (one limiter for both),
# and the PIN/OTP goes from this request to the provider and nowhere else. The form's fields
# are read raw, so a refused value is never in a validation log line, and never put back.

# Refusals the clerk fixes in the form itself; anything else is the usual error page.
_CONFIRM_IN_PAGE = frozenset(
    {
        "signing_confirmation_rejected",
        "signing_confirmation_required",
        "rate_limited",
        "signing_key_unavailable",
        "signing_provider_error",
        "timestamp_unavailable",
        "conflict",
        "invalid_request",
    }
)


def _signing_advice(_: Gettext, exc: SohoaError, *, otp: bool = False) -> str:
    """What the clerk does about a refused confirmation or OTP request, in the page's words."""
    code = str(getattr(exc, "code", ""))
    if code == "signing_confirmation_rejected":
        return _(
            "The OTP or PIN is wrong or has expired: press “Send an OTP” for a new code, "
            "check your PIN, then press “Sign digitally” again"
        )
    if code == "signing_confirmation_required":
        return _(
            "Your signing certificate needs both the PIN and the OTP: enter both, "
            "then press “Sign digitally” again"
        )
    if code == "invalid_request":
        return _(
            "Enter the OTP (4 to 12 letters or digits) and/or the PIN (4 to 32 letters or "
            "digits), then press “Sign digitally” again"
        )
    if code == "rate_limited":
        seconds = (getattr(exc, "extra", None) or {}).get("retry_after") or 60
        return _(
            "Too many wrong codes or OTP requests: wait {seconds} seconds, press “Send an OTP” "
            "for a new code, then sign again",
            seconds=seconds,
        )
    if code == "conflict" and otp:
        return _(
            "Your signing certificate takes no texted OTP: enter the code from your OTP app "
            "or token, or your PIN"
        )
    if code == "conflict":
        return _("This scan no longer waits for a signature: reload the page to see its state")
    return _(
        "The remote signing service is not answering: wait a few minutes, press “Send an OTP” "
        "for a new code, then sign again"
    )


def _confirm_refused(
    request: Request,
    svc: AppServices,
    user: Principal,
    ref: str,
    component_id: str,
    scan_id: str,
    exc: SohoaError,
    *,
    otp: bool = False,
) -> Response:
    """The paper's page again, the form kept, saying what to do; other refusals raise."""
    if wants_json(request) or exc.code not in _CONFIRM_IN_PAGE:
        raise exc
    _ = gettext_for(language(request))
    headers: dict[str, str] = getattr(exc, "headers", None) or {}
    answer = _paper(
        request,
        svc,
        user,
        ref,
        component_id,
        status_code=int(getattr(exc, "http_status", 409)),
        scans_error=_signing_advice(_, exc, otp=otp),
        scans_error_scan=scan_id,
        scans_error_component=component_id,
    )
    answer.headers.update(headers)
    return answer


async def _form(request: Request) -> FormData:
    return await request.form()


def _signed_back(ref: str, component_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"/web/dossiers/{quote(ref, safe='')}?done={done}&component={quote(component_id)}"
        f"#scans-{quote(component_id)}",
        status_code=303,
    )


@router.post("/dossiers/{ref}/components/{component_id}/scans/{scan_id}/confirmation")
def confirm(
    ref: str,
    component_id: str,
    scan_id: str,
    request: Request,
    user: User,
    svc: Svc,
    fields: Annotated[FormData, Depends(_form)],
) -> Response:
    """Sign a scan awaiting its clerk with the ``otp`` and/or ``pin`` typed in its form."""
    from pydantic import ValidationError

    from api.routers.signing import SigningConfirmation, confirm_signature

    typed = {k: str(fields.get(k) or "").strip() for k in ("pin", "otp")}
    try:
        try:
            body = SigningConfirmation.model_validate({k: v for k, v in typed.items() if v})
        except ValidationError:  # its text holds the values typed: neither logged nor shown
            raise InvalidForm("the OTP/PIN is not letters and digits of the right length") from None
        confirm_signature(scan_id, body, request, user, svc)
    except SohoaError as exc:
        return _confirm_refused(request, svc, user, ref, component_id, scan_id, exc)
    return _signed_back(ref, component_id, DONE_SIGNED)


@router.post("/dossiers/{ref}/components/{component_id}/scans/{scan_id}/otp")
def send_otp(
    ref: str, component_id: str, scan_id: str, request: Request, user: User, svc: Svc
) -> Response:
    """Ask the remote signing service to text the clerk an OTP for the scan's signature."""
    from api.routers.signing import request_otp

    try:
        with session_scope(svc.sessions) as session:
            scan = visible_scan(session, user, scan_id)
            if scan is None:
                raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")
            if scan.clerk_id != user.staff_id:
                raise ApiProblem(
                    403, "forbidden", "only the clerk whose key signs this scan asks for its OTP"
                )
        request_otp(request, user, svc)
    except SohoaError as exc:
        return _confirm_refused(request, svc, user, ref, component_id, scan_id, exc, otp=True)
    return _signed_back(ref, component_id, DONE_OTP)
