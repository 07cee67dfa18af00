"""Errors of the ingest package: what was wrong with an upload, and whether trying again helps.

``code`` is the stable reason code that API clients and failed scans carry; ``http_status`` is
what the API answers when the problem is found at upload.
"""

from __future__ import annotations

from core.errors import SohoaError


class IngestError(SohoaError):
    code = "ingest_failed"
    http_status = 422
    retryable = False
    #: The id a refused upload was given: it keeps answering (410, with the reason).
    scan_id: str | None = None


class EmptyUpload(IngestError):
    code = "empty_file"
    http_status = 400


class UploadTooLarge(IngestError):
    code = "file_too_large"
    http_status = 413


class UnsupportedMediaType(IngestError):
    code = "unsupported_media_type"
    http_status = 415


class EncryptedPdf(IngestError):
    code = "pdf_encrypted"
    http_status = 422


class WrongPassword(IngestError):
    code = "pdf_wrong_password"
    http_status = 422


class CorruptFile(IngestError):
    """The bytes claim a known type but cannot be read as one (truncated, damaged, hostile)."""

    code = "file_corrupt"
    http_status = 422


class TooManyPages(IngestError):
    code = "too_many_pages"
    http_status = 413


class ImageTooLarge(IngestError):
    """Too many pixels: a decompression bomb, or a scan far beyond what a counter produces."""

    code = "image_too_large"
    http_status = 413


class ScanNotFound(IngestError):
    code = "scan_not_found"
    http_status = 404


class NotAwaitingConfirmation(IngestError):
    """A signing confirmation for a scan that is not waiting for one (signed already, being
    signed by another confirmation, or never asked): the caller reads its status again."""

    code = "conflict"
    http_status = 409


class AttemptsExhausted(IngestError):
    code = "attempts_exhausted"
    http_status = 500


class XfaForm(IngestError):
    """A dynamic XFA form has no pages until a LiveCycle viewer draws them: nothing to scan."""

    code = "xfa_form"
    http_status = 422


class InvalidField(IngestError):
    code = "invalid_field"
    http_status = 400


class WorkDirFull(IngestError):
    """The worker's scratch disk is full: not the scan's fault, so it is retried, then failed."""

    code = "work_dir_full"
    http_status = 507
    retryable = True


class OverBudget(IngestError):
    """A PDF would cost more to render or inflate than a counter's paper ever needs.

    Found from the PDF's own numbers before anything is drawn or inflated (:mod:`ingest.budget`).
    """

    code = "pdf_over_budget"
    http_status = 413


class PageTooLarge(OverBudget):
    code = "page_too_large"


class PagePixelsTooMany(OverBudget):
    code = "page_pixels_too_many"


class DocumentPixelsTooMany(OverBudget):
    code = "document_pixels_too_many"


class PdfImageTooLarge(OverBudget):
    code = "pdf_image_too_large"


class StreamTooLarge(OverBudget):
    code = "pdf_stream_too_large"


class InflatedTooLarge(OverBudget):
    code = "pdf_inflated_too_large"


class InflationRatio(OverBudget):
    """A small stream that inflates far beyond what text or drawings compress to: a bomb."""

    code = "pdf_inflation_ratio"
    http_status = 422
