"""The OCR and sign stages: plain functions over files in a work folder.

Each runs under a lease taken by :mod:`ingest.runner` and commits its results only while the
lease is still ours (:func:`ingest.ledger.still_ours`). An upload that arrives already signed
is never rewritten: it is checked, indexed and signed only by appending to its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from ingest.ledger import changed, progress_writer, still_ours
from ingest.normalize import normalize
from ingest.validate import PDF
from storage import metrics
from storage.db import session_scope
from storage.models import Document, Scan, ScanStatus, Step, utcnow
from storage.objects import Retention

if TYPE_CHECKING:
    from ingest.ports import Pipeline
    from ocr.engine import OcrResult
    from ocr.prepare import Attachment
    from signing.backends import SignerBackend
    from signing.inputs import SignedInput

log = logging.getLogger(__name__)

SIGNED_INPUT_WARNING = "signed_input_kept_as_received"


# ---------------------------------------------------------------------------------------------
# OCR


def ocr_step(pipeline: Pipeline, scan: Scan, work: Path, token: str) -> None:
    """Make the searchable PDF/A (or index a signed input) and hand the scan to signing."""
    from ocr.extract import extract_fields

    deps = pipeline.pipeline_deps
    source = work / "source"
    deps.store.get_to_file(scan.source_key or scan.original_key, source)
    if scan.media_type == PDF and scan.source_key is None:
        # A decrypted copy (source_key) is no longer the signed bytes: it goes the normal way.
        from signing.inputs import find_signed_input

        found = find_signed_input(source)
        if found is not None:
            _keep_signed_input(pipeline, scan, source, work, token, found)
            return
    normalized = normalize(source, work, pipeline.pipeline_config.limits)
    progress = progress_writer(pipeline, scan.id, token)
    progress(0, normalized.pages)
    ocr_pdf = work / "ocr.pdf"
    result = deps.ocr_engine.run(
        normalized.pdf,
        ocr_pdf,
        work_dir=work / "ocr",
        progress=progress,
        languages=scan.ocr_languages.split("+") if scan.ocr_languages else None,
    )
    fields = extract_fields(result.page_texts)
    ocr_key = f"work/{scan.id}/ocr.pdf"
    put = deps.store.put_file(ocr_key, ocr_pdf, content_type=PDF)
    ocr_result = {
        "pages": result.pages,
        "language": result.language,
        "page_texts": result.page_texts,
        "fields": fields.to_dict(),
        "rotated_pages": list(result.rotated_pages),
        "deskewed_pages": list(result.deskewed_pages),
        "ocr_sha256": put.sha256,
        "page_info": _page_info(result),
        "attachments": _keep_attachments(pipeline, scan.id, result.attachments),
    }
    warnings = list(dict.fromkeys([*scan.warnings, *normalized.warnings, *result.warnings]))
    _finish_ocr(pipeline, scan, token, ocr_key, ocr_result, warnings, result.pages)


def _page_info(result: OcrResult) -> list[dict[str, Any]]:
    """How each page was made and the language it was read in, as the Document records it."""
    languages = list(result.page_languages)
    quality = {q.page: q for q in result.page_quality}
    info = []
    for number, path in enumerate(result.page_paths, 1):
        page: dict[str, Any] = {
            "path": path,
            "language": languages[number - 1] if number <= len(languages) else result.language,
        }
        measured = quality.get(number)
        if measured is not None and measured.ocr:
            page["dpi"] = measured.dpi
            page["ocr_confidence"] = measured.confidence
        info.append(page)
    return info


def _keep_attachments(
    pipeline: Pipeline, scan_id: str, attachments: list[Attachment]
) -> list[dict[str, Any]]:
    """Files embedded in the upload, stored beside the document under keys we choose."""
    kept = []
    for number, attachment in enumerate(attachments, 1):
        key = f"attachments/{scan_id}/{number:03d}.bin"
        put = pipeline.pipeline_deps.store.put_file(
            key,
            attachment.path,
            content_type="application/octet-stream",
            metadata={"scan-id": scan_id},
        )
        kept.append(
            {
                "name": attachment.name,
                "media_type": attachment.media_type,
                "size": attachment.size,
                "sha256": put.sha256,
                "key": key,
            }
        )
    return kept


def _keep_signed_input(
    pipeline: Pipeline, scan: Scan, source: Path, work: Path, token: str, found: SignedInput
) -> None:
    """An already-signed PDF: checked and indexed, never rewritten, never given to OCRmyPDF.

    Its signatures are verified as received and recorded; text comes from its own text
    layer, and pages without one are OCRed for the search index only. The sign step then
    appends our signature to the original bytes (``ocr_key`` points at the original).
    """
    from ocr.extract import extract_fields, page_texts
    from ocr.index_text import ocr_pages_for_index
    from ocr.language import guess
    from signing.errors import SignedInputLocked
    from signing.inputs import verify_input_signatures

    config, deps = pipeline.pipeline_config, pipeline.pipeline_deps
    if found.locked:
        raise SignedInputLocked(
            "the file is certified by its signer with 'no changes allowed' (DocMDP P=1): "
            "adding our signature would break theirs, so it cannot be digitized here; "
            "keep it as received"
        )
    # Budgets and a readable page tree, as for any PDF; the copy it makes is not used.
    normalized = normalize(source, work, config.limits)
    progress = progress_writer(pipeline, scan.id, token)
    progress(0, normalized.pages)
    signatures = verify_input_signatures(
        source, trust_roots=deps.trust_roots, other_certs=deps.other_certs
    )
    texts = page_texts(source)
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    read = ocr_pages_for_index(
        source,
        blank,
        languages=config.ocr_languages,
        progress=lambda done: progress(len(texts) - len(blank) + done, len(texts)),
    )
    for index, text in read.items():
        texts[index] = text
    fields = extract_fields(texts)
    default = config.ocr_languages.split("+")[0]
    # Tesseract model names, as for converted pages ("vie", "eng", "fra").
    languages = [guess(text, default=default).language for text in texts]
    page_info = [
        {
            "path": "kept",
            "language": languages[i],
            "text": "ocr_index_only" if i in read else "text_layer",
        }
        for i in range(len(texts))
    ]
    ocr_result = {
        "pages": len(texts),
        "language": Counter(languages).most_common(1)[0][0] if languages else default,
        "page_texts": texts,
        "fields": fields.to_dict(),
        "rotated_pages": [],
        "deskewed_pages": [],
        "ocr_sha256": scan.sha256,
        "page_info": page_info,
        "pdfa_source": "as_received",
        "signed_input": {
            "signatures": [sig.to_dict() for sig in signatures],
            "certified": found.certified,
            "perms": list(found.perms),
            "ocr_pages": [i + 1 for i in sorted(read)],
        },
    }
    notes = [SIGNED_INPUT_WARNING]
    if any(not (sig.intact and sig.valid) for sig in signatures):
        notes.append("signed_input_signature_broken")
    if any(not sig.trusted for sig in signatures):
        notes.append("signed_input_signer_not_trusted")
    if found.certified:
        notes.append("signed_input_certified_invisible_signature")
    warnings = list(dict.fromkeys([*scan.warnings, *normalized.warnings, *notes]))
    log.info(
        "scan %s is a signed PDF (%d signature(s)); kept as received, %d page(s) OCRed for "
        "the index",
        scan.id,
        len(signatures),
        len(read),
    )
    _finish_ocr(pipeline, scan, token, scan.original_key, ocr_result, warnings, len(texts))


def _finish_ocr(
    pipeline: Pipeline,
    scan: Scan,
    token: str,
    ocr_key: str,
    ocr_result: dict[str, Any],
    warnings: list[str],
    pages: int,
) -> None:
    """Hand the scan to the sign step, if the OCR lease is still ours."""
    with session_scope(pipeline.pipeline_deps.sessions) as session:
        done = session.execute(
            update(Scan)
            .where(*still_ours(scan.id, Step.OCR, token))
            .values(
                step=Step.SIGN,
                ocr_key=ocr_key,
                ocr_result=ocr_result,
                warnings=warnings,
                pages_total=pages,
                pages_done=pages,
                attempts=0,
                lease_until=None,
                worker=None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if changed(done) != 1:
            log.warning("scan %s: OCR lease lost; another worker owns the step now", scan.id)
        else:
            metrics.add(session, metrics.PAGES, {}, pages)


# ---------------------------------------------------------------------------------------------
# Signing


def signer_for(pipeline: Pipeline, scan: Scan) -> SignerBackend:
    """Whose key signs a scan: the unit's for an organization's result, else the clerk's."""
    signers = pipeline.pipeline_deps.signers
    return signers.unit() if scan.sign_as == "unit" else signers.for_clerk(scan.clerk_id)


def sign_step(
    pipeline: Pipeline, scan: Scan, work: Path, token: str, backend: SignerBackend | None = None
) -> None:
    """Sign the OCRed file (or append to a signed input), store it, record the Document.

    ``backend`` is given when the clerk confirmed a remote signature (a one-shot backend that
    carries their PIN/OTP); a worker passes none and signs with the registry's backend.
    """
    from ocr.pdfa import check_pdfa
    from signing.stamp import scan_stamp_lines

    config, deps = pipeline.pipeline_config, pipeline.pipeline_deps
    assert scan.ocr_key is not None and scan.ocr_result is not None
    ocr = scan.ocr_result
    # A signed input: ocr_key is the original, signed only by appending (incremental update).
    kept = ocr.get("signed_input")
    ocr_pdf = work / "ocr.pdf"
    deps.store.get_to_file(scan.ocr_key, ocr_pdf)
    if kept is not None:
        _check_is_original(ocr_pdf, scan)
    signed = work / "signed.pdf"
    options = scan.sign_options or {}
    extra_warnings: list[str] = []
    position: Literal["top-left", "top-right"]
    signer = backend or signer_for(pipeline, scan)
    if scan.sign_as == "unit":
        # An organization's result: its certificate, stamp top-right with the signing time,
        # and the QR of the result (validity and scope) top-left.
        if options.get("qr") and kept is not None:
            # Drawing the QR would rewrite page 1 of a file that must stay as received.
            extra_warnings.append("qr_not_drawn_on_signed_input")
        elif options.get("qr"):
            from signing.qr import overlay_qr

            marked = work / "marked.pdf"
            overlay_qr(ocr_pdf, marked, str(options["qr"]))
            ocr_pdf = marked
        stamp_lines = None
        position = "top-right"
        reason = "Ký số kết quả giải quyết thủ tục hành chính"
    elif kept is not None:
        # Received electronically, already signed: not "converted from paper".
        stamp_lines = None
        position = "top-left"
        reason = "Tiếp nhận tài liệu điện tử đã ký số"
    else:
        stamp_lines = scan_stamp_lines(signer.name, scan.created_at)
        position = "top-left"
        reason = "Số hóa từ bản giấy"
    result = deps.document_signer.sign(
        ocr_pdf,
        signed,
        signer,
        stamp_lines=stamp_lines,
        position=position,
        reason=reason,
        location=config.signing_location,
        # After a certification a new visible field breaks it (pyHanko's policy, Acrobat's).
        visible=not (kept is not None and kept.get("certified")),
    )
    if kept is not None:
        _check_appended(signed, scan)
    else:
        # Only a PDF/A we made is promised to stay PDF/A; a signed input is kept as it came.
        report = check_pdfa(signed)
        if not report.ok:
            from ocr.errors import PdfaValidationError

            raise PdfaValidationError(
                "the signed file no longer meets PDF/A-2b: " + "; ".join(report.problems)
            )
    key = f"documents/{scan.id}/signed.pdf"
    deps.store.put_file(
        key,
        signed,
        content_type=PDF,
        sha256=result.sha256,
        metadata={"scan-id": scan.id},
        retention=_retention(pipeline),
    )
    finished: dict[str, Any] = {}
    if extra_warnings:
        finished["warnings"] = list(dict.fromkeys([*scan.warnings, *extra_warnings]))
    with session_scope(deps.sessions) as session:
        done = session.execute(
            update(Scan)
            .where(*still_ours(scan.id, Step.SIGN, token))
            .values(
                status=ScanStatus.DIGITIZED,
                step=None,
                lease_until=None,
                finished_at=utcnow(),
                updated_at=utcnow(),
                **finished,
            )
            .execution_options(synchronize_session=False)
        )
        if changed(done) != 1:
            log.warning(
                "scan %s: signing lease lost; leaving the document to the new owner", scan.id
            )
            return
        exists = session.scalar(select(Document.id).where(Document.scan_id == scan.id))
        if exists is None:
            document = Document(
                scan_id=scan.id,
                object_key=key,
                sha256=result.sha256,
                size=signed.stat().st_size,
                pages=int(ocr["pages"]),
                language=str(ocr["language"]),
                original_sha256=scan.sha256,
                ocr_sha256=str(ocr["ocr_sha256"]),
                page_texts=list(ocr["page_texts"]),
                fields=dict(ocr["fields"]),
                signer_name=result.signer_name,
                clerk_id=scan.clerk_id,
                pades_level=result.level,
                signed_at=result.signed_at,
                page_info=list(ocr.get("page_info") or []),
                input_signatures=list(kept["signatures"]) if kept is not None else [],
                attachments=list(ocr.get("attachments") or []),
                pdfa_source="as_received" if kept is not None else "converted",
                # When the newest timestamp must be renewed (None for B-B: nothing to renew).
                archive_until=result.archive_until,
            )
            session.add(document)
            session.flush()
            # The domain's part (a dossier's paper joins it, the audit event) commits with it.
            deps.on_signed(session, scan, document)
            metrics.add(session, metrics.SIGNATURES, {"kind": scan.sign_as})
    if scan.ocr_key not in (scan.original_key, scan.source_key):  # never delete the original
        with contextlib.suppress(Exception):
            deps.store.delete(scan.ocr_key)


def _retention(pipeline: Pipeline) -> Retention | None:
    """WORM for signed documents where the store can lock objects (see SOHOA_RETENTION_DAYS)."""
    config = pipeline.pipeline_config
    if config.retention_days <= 0 or not pipeline.pipeline_deps.store.supports_retention:
        return None
    return Retention(config.retention_mode, utcnow() + timedelta(days=config.retention_days))


def _check_is_original(path: Path, scan: Scan) -> None:
    """The file about to be signed is the upload itself, byte for byte."""
    from signing.errors import SigningError

    if _sha256_prefix(path, None) != scan.sha256:
        raise SigningError(
            "the stored original no longer matches the checksum taken at upload; "
            "it is not signed (check the object store)"
        )


def _check_appended(signed: Path, scan: Scan) -> None:
    """Our signature only appended to the received bytes; anything else would break theirs."""
    from signing.errors import SigningError

    if signed.stat().st_size <= scan.size or _sha256_prefix(signed, scan.size) != scan.sha256:
        raise SigningError(
            "signing changed the received file instead of appending to it; "
            "its earlier signatures would break, so the result is not stored"
        )


def _sha256_prefix(path: Path, size: int | None) -> str:
    """SHA-256 of the first ``size`` bytes of ``path`` (all of it when ``None``)."""
    digest = hashlib.sha256()
    left = size
    with path.open("rb") as fh:
        while left is None or left > 0:
            chunk = fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()
