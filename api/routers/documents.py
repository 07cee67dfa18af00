"""Signed documents: metadata and text, the file, its verification and the auditor's report.

A document is visible with its scan (:func:`dossiers.workflow.scan_access.visible_document`). The
verification and report bodies are :meth:`signing.verify.VerificationReport.to_dict` and
:meth:`signing.report.SimpleReport.to_dict` behind the document's id, declared here key for
key, in the same order, so the JSON stays what ``sohoa verify`` prints; their times are the
``isoformat()`` text those methods write.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema, with_config
from typing_extensions import TypedDict  # pydantic takes typing.TypedDict from Python 3.12 only

from api.auditing import audit_access
from api.deps import Caller, PublicLimit, Svc
from api.params import content_disposition
from api.problems import ApiProblem
from api.scans import chunks
from dossiers.access import Principal
from dossiers.workflow.dossier_views import IsoDateTime
from dossiers.workflow.scan_access import visible_document
from signing.report import Coverage, Indication, Modifications
from storage.db import session_scope
from storage.models import Document
from storage.objects import copy_as_stored

router = APIRouter(tags=["documents"])

PDF_FILE: dict[str, Any] = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}

# A measurement as it was stored: an integer stays one (no "300.0" for 300).
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]


# -- the document ------------------------------------------------------------------------------


@with_config(ConfigDict(extra="forbid"))
class ExtractedFields(TypedDict):
    """What was read off the pages (:class:`ocr.extract.ExtractedFields`)."""

    id_numbers: list[str]
    dates: list[str]
    document_numbers: list[str]
    issuing_body: str | None
    document_type: str | None
    language: str


_FIELDS = TypeAdapter(ExtractedFields)


@with_config(ConfigDict(extra="forbid"))
class PageInfo(TypedDict):
    """How one page was made: ``scan``, ``text``, ``mixed``, ``rasterized``, or ``kept`` (a
    page of a signed input stored as received), and the language it was read in."""

    path: str
    language: str
    dpi: NotRequired[Number | None]
    ocr_confidence: NotRequired[Number | None]
    text: NotRequired[str]


@with_config(ConfigDict(extra="forbid"))
class InputSignature(TypedDict):
    """A signature the upload already carried, as verified on arrival
    (:class:`signing.inputs.InputSignature`)."""

    field_name: str
    signer: str | None
    signing_time: str | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_document: bool
    pades_level: str | None
    modification_level: str | None
    error: str | None


@with_config(ConfigDict(extra="forbid"))
class Attachment(TypedDict):
    """A file embedded in the upload, stored beside the document (PDF/A-2 forbids it inside)."""

    name: str
    media_type: str
    size: int
    sha256: str
    key: str


class DocumentView(BaseModel):
    """A signed, searchable PDF/A: its checksums, signer, text and extracted fields."""

    model_config = ConfigDict(extra="forbid")

    id: str
    scan_id: str
    pages: int
    language: str = Field(description="Tesseract model(s) the text was read with.")
    sha256: str = Field(description="Of the stored, signed file.")
    original_sha256: str = Field(description="Of the upload as received.")
    ocr_sha256: str = Field(description="Of the PDF/A before signing.")
    size: int = Field(description="Bytes of the stored file.")
    signer: str = Field(description="The name on the signing certificate.")
    clerk_id: str
    pades_level: str
    signed_at: IsoDateTime
    fields: ExtractedFields
    page_texts: list[str]
    page_info: list[PageInfo]
    input_signatures: list[InputSignature] = Field(
        description="The upload's own signatures as verified on arrival; empty for a scan."
    )
    attachments: list[Attachment]
    pdfa_source: str = Field(
        description="converted (made here) or as_received (a signed input, never rewritten)."
    )
    file_url: str
    verification_url: str

    @classmethod
    def of(cls, doc: Document) -> DocumentView:
        return cls(
            id=doc.id,
            scan_id=doc.scan_id,
            pages=doc.pages,
            language=doc.language,
            sha256=doc.sha256,
            original_sha256=doc.original_sha256,
            ocr_sha256=doc.ocr_sha256,
            size=doc.size,
            signer=doc.signer_name,
            clerk_id=doc.clerk_id,
            pades_level=doc.pades_level,
            signed_at=doc.signed_at,
            fields=_FIELDS.validate_python(doc.fields),
            page_texts=doc.page_texts,
            page_info=doc.page_info,
            input_signatures=doc.input_signatures,
            attachments=doc.attachments,
            pdfa_source=doc.pdfa_source,
            file_url=f"/api/v1/documents/{doc.id}/file",
            verification_url=f"/api/v1/documents/{doc.id}/verification",
        )


# -- verification (signing.verify) -------------------------------------------------------------


class SignatureCheck(BaseModel):
    """One signature field (:class:`signing.verify.SignatureReport`)."""

    model_config = ConfigDict(extra="forbid")

    field_name: str
    intact: bool
    valid: bool
    trusted: bool
    signer: str | None
    signer_subject: str | None
    signing_time: str | None = Field(description="Claimed by the signer.")
    timestamp: str | None = Field(description="The signature timestamp's time.")
    timestamp_trusted: bool | None
    coverage: str | None
    modification_level: str | None
    docmdp_ok: bool | None
    bottom_line: bool
    pades_level: str | None = Field(description="What the signature carries: B-B ... B-LTA.")
    summary: str | None
    error: str | None
    later_changes_signed: bool
    development_pki: bool
    long_term: str | None = Field(
        description="Long-term (AdES LTA) validation: indication/sub-indication."
    )
    proven_at: str | None = Field(
        description="When the signature is proven to have existed while its certificates "
        "were valid (its timestamp, backed by the DSS and document timestamps)."
    )
    proof: list[str] = Field(description="What that proof rests on.")
    revocation: Literal["soft-fail", "hard-fail"] = Field(
        description="The revocation policy it was checked under."
    )
    ok: bool


class DocumentVerification(BaseModel):
    """The verdict on the stored file (:class:`signing.verify.VerificationReport`)."""

    model_config = ConfigDict(extra="forbid")

    document_id: str
    filename: str
    signed: bool
    ok: bool
    sha256: str | None
    sha256_matches: bool | None = Field(description="Against the SHA-256 recorded at signing.")
    signatures: list[SignatureCheck]
    error: str | None
    development_pki: bool


# -- the auditor's report (signing.report) -----------------------------------------------------


class ValidatedFile(BaseModel):
    """The file as validated (:class:`signing.report.DocumentInfo`)."""

    model_config = ConfigDict(extra="forbid")

    filename: str
    sha256: str | None
    size: int | None
    pages: int | None
    stored_hash_match: bool | None


class SignerCertificate(BaseModel):
    """The signing certificate (:class:`signing.validation.SignerInfo`)."""

    model_config = ConfigDict(extra="forbid")

    common_name: str
    organization: str | None
    organizational_unit: str | None
    serial_number: str | None
    issuer_common_name: str | None
    not_before: str | None
    not_after: str | None
    certificate_sha256: str | None


class TimestampToken(BaseModel):
    """An RFC 3161 token (:class:`signing.report.TimestampInfo`)."""

    model_config = ConfigDict(extra="forbid")

    present: bool
    time: str | None
    tsa_name: str | None
    valid: bool | None


class SignatureVerdict(BaseModel):
    """One signature's indication (:class:`signing.report.SignatureResult`)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    field_name: str
    indication: Indication
    sub_indication: str | None
    signer: SignerCertificate | None
    signing_time: str | None = Field(description="Claimed by the signer.")
    timestamp: TimestampToken
    pades_level: str | None
    coverage: Coverage | None
    modifications_after_signing: Modifications | None
    modification_level: str | None
    digest_algorithm: str | None
    signature_algorithm: str | None
    errors: list[str]
    warnings: list[str]
    development_pki: bool
    best_signature_time: str | None = Field(
        description="When the long-term validation proves the signature valid (its timestamp)."
    )
    proof: list[str] = Field(description="What that proof rests on.")
    revocation: Literal["soft-fail", "hard-fail"]


class DocumentReport(BaseModel):
    """The auditor's report in the manner of EU DSS's simple report
    (:class:`signing.report.SimpleReport`)."""

    model_config = ConfigDict(extra="forbid")

    document_id: str
    format: str = Field(description="The report's format and version.")
    validation_policy: str
    validation_time: str
    document: ValidatedFile
    indication: Indication
    sub_indication: str | None
    signatures_count: int
    valid_signatures_count: int
    development_pki: bool
    signatures: list[SignatureVerdict]
    document_timestamps: list[TimestampToken]
    errors: list[str]
    warnings: list[str]


# -- routes ------------------------------------------------------------------------------------


@router.get("/documents/{doc_id}", response_model=DocumentView)
def get_document(doc_id: str, who: Caller, svc: Svc) -> DocumentView:
    doc = _document(svc, who, doc_id)
    # The text layer and extracted fields are the citizen's personal data.
    audit_access(svc, who, "personal_data.read", "document", doc.id)
    return DocumentView.of(doc)


@router.get(
    "/documents/{doc_id}/file",
    response_class=StreamingResponse,
    responses={200: {"description": "The signed PDF/A as stored.", "content": PDF_FILE}},
)
def get_file(doc_id: str, who: Caller, svc: Svc) -> StreamingResponse:
    doc = _document(svc, who, doc_id)
    svc.store.stat(doc.object_key)  # a missing object is a 404/503 before streaming starts
    audit_access(svc, who, "document.download", "document", doc.id, data={"sha256": doc.sha256})
    return StreamingResponse(
        chunks(svc.store, doc.object_key),
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(f"{doc.id}.pdf"),
            "Content-Length": str(doc.size),
            "X-Content-SHA256": doc.sha256,
        },
    )


Revocation = Annotated[
    Literal["soft-fail", "hard-fail"] | None,
    Query(
        description="hard-fail: a certificate whose revocation status cannot be established "
        "fails (the auditor's mode); default: the deployment's SOHOA_VERIFY_REVOCATION."
    ),
]


@router.get("/documents/{doc_id}/verification", response_model=DocumentVerification)
def verify(
    doc_id: str, who: Caller, svc: Svc, revocation: Revocation = None
) -> DocumentVerification:
    from signing.verify import verify_pdf

    doc = _document(svc, who, doc_id)
    with tempfile.TemporaryDirectory(dir=svc.settings.work_dir) as tmp:
        path = Path(tmp) / "document.pdf"
        copy_as_stored(svc.store, doc.object_key, path)
        report = verify_pdf(
            path,
            trust_roots=svc.trust_roots,
            other_certs=svc.other_certs,
            expected_sha256=doc.sha256,
            revocation=revocation or svc.settings.verify_revocation,
            online=svc.settings.verify_online,
        )
    return DocumentVerification.model_validate({"document_id": doc.id, **report.to_dict()})


@router.get(
    "/documents/{doc_id}/report",
    response_model=DocumentReport,
    responses={
        200: {"description": "The report: JSON, or a PDF with format=pdf.", "content": PDF_FILE}
    },
)
def report(
    doc_id: str,
    who: Caller,
    svc: Svc,
    format: str = Query(default="json", json_schema_extra={"enum": ["json", "pdf", "xml"]}),
    revocation: Revocation = None,
) -> DocumentReport | Response:
    """The auditor's report in the manner of EU DSS's simple report: per signature an
    indication, sub-indication, signer, times, PAdES level, coverage, later changes, and
    whether the file still matches the SHA-256 recorded when it was stored. ``format=xml``
    gives the ETSI TS 119 102-2 validation report instead."""
    from signing.report import render_pdf, simple_report
    from signing.validation import etsi_report

    if format not in ("json", "pdf", "xml"):
        raise ApiProblem(422, "format_invalid", "format is json, pdf or xml")
    doc = _document(svc, who, doc_id)
    audit_access(svc, who, "document.verify", "document", doc.id)
    mode = revocation or svc.settings.verify_revocation
    with tempfile.TemporaryDirectory(dir=svc.settings.work_dir) as tmp:
        path = Path(tmp) / "document.pdf"
        copy_as_stored(svc.store, doc.object_key, path)
        if format == "xml":
            try:
                xml = etsi_report(
                    path,
                    trust_roots=svc.trust_roots,
                    other_certs=svc.other_certs,
                    revocation=mode,
                    online=svc.settings.verify_online,
                )
            except ValueError:
                raise ApiProblem(
                    422, "report_unavailable", "no ETSI report can be made for this file"
                ) from None
            return Response(
                xml,
                media_type="application/xml",
                headers={"Content-Disposition": content_disposition(f"etsi-report-{doc.id}.xml")},
            )
        result = simple_report(
            path,
            trust_roots=svc.trust_roots,
            other_certs=svc.other_certs,
            expected_sha256=doc.sha256,
            revocation=mode,
            online=svc.settings.verify_online,
        )
        if format == "json":
            return DocumentReport.model_validate({"document_id": doc.id, **result.to_dict()})
        out = render_pdf(result, Path(tmp) / "report.pdf", fonts=svc.fonts)
        data = out.read_bytes()
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(f"bao-cao-xac-thuc-{doc.id}.pdf")},
    )


@router.get("/objects/{key:path}", include_in_schema=False, dependencies=[PublicLimit])
def presigned(key: str, expires: int, signature: str, svc: Svc) -> StreamingResponse:
    """Serves the local store's presigned URLs; the signature is the credential."""
    store = svc.store
    verify_url = getattr(store, "verify_presigned", None)
    if verify_url is None or not verify_url(key, expires, signature):
        raise ApiProblem(403, "url_invalid", "the link is invalid or has expired")
    info = store.stat(key)
    return StreamingResponse(chunks(store, key), media_type=info.content_type)


def _document(svc: Svc, who: Principal, doc_id: str) -> Document:
    with session_scope(svc.sessions) as session:
        doc = visible_document(session, who, doc_id)
        if doc is None:
            raise ApiProblem(404, "document_not_found", f"no document {doc_id}")
        session.expunge(doc)
        return doc
