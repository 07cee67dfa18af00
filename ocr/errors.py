"""The ocr package's one error hierarchy.

Each error carries how the caller should react (retry or not, which HTTP status, a stable
reason code), so the Celery base task and the API layer translate it without knowing OCRmyPDF.
:func:`translate` is the only place that knows OCRmyPDF's, pikepdf's and Pillow's exceptions.
"""

from __future__ import annotations

import subprocess

from core.errors import SohoaError


class OcrError(SohoaError):
    """Base of every error raised by :mod:`ocr`."""

    code: str = "ocr_failed"
    retryable: bool = False
    http_status: int = 422


class OcrInputError(OcrError):
    """The input cannot be OCRed as given (encrypted, damaged, signed, a decompression bomb)."""

    code = "ocr_input_invalid"


class OcrTimeout(OcrError):
    """Tesseract or a helper ran out of time; the machine may just have been busy."""

    code = "ocr_timeout"
    retryable = True
    http_status = 503


class PdfaValidationError(OcrError):
    """The output does not meet PDF/A-2b; archiving it would break the repository's promise."""

    code = "pdfa_invalid"


class OcrEngineError(OcrError):
    """OCRmyPDF or Tesseract failed. Retryable only when the failure looks transient
    (a child killed by a signal, out of memory, a broken worker pool)."""

    code = "ocr_engine_failed"
    http_status = 500

    def __init__(self, message: str = "", *, retryable: bool = False) -> None:
        super().__init__(message, retryable=retryable)


class OcrMissingDependency(OcrError):
    """Tesseract, a language model or another program is not installed: fix the machine."""

    code = "ocr_dependency_missing"
    http_status = 500


def _subprocess_transient(exc: BaseException | None) -> bool:
    """A child killed by a signal (OOM killer, SIGTERM on shutdown) may well succeed later."""
    return isinstance(exc, subprocess.CalledProcessError) and exc.returncode < 0


def translate(exc: BaseException) -> OcrError:
    """Map a foreign exception to an :class:`OcrError`; raise the result ``from exc``."""
    if isinstance(exc, OcrError):
        return exc
    from concurrent.futures import BrokenExecutor

    import pikepdf
    from ocrmypdf import exceptions as ox
    from PIL import Image

    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, ox.EncryptedPdfError | pikepdf.PasswordError):
        return OcrInputError(f"encrypted PDF: {msg}")
    if isinstance(exc, ox.DigitalSignatureError):
        return OcrInputError(f"input is digitally signed; OCR would invalidate it: {msg}")
    if isinstance(exc, ox.PriorOcrFoundError):
        return OcrInputError(f"input already has text: {msg}")
    if isinstance(exc, Image.DecompressionBombError):
        return OcrInputError(f"image too large (decompression bomb limit): {msg}")
    if isinstance(exc, ox.InputFileError | ox.UnsupportedImageFormatError | ox.DpiError):
        return OcrInputError(msg)
    if isinstance(exc, pikepdf.PdfError):
        return OcrInputError(f"damaged PDF: {msg}")
    if isinstance(exc, ox.MissingDependencyError):
        return OcrMissingDependency(msg)
    if isinstance(exc, ox.PdfaConversionFailedError):
        return PdfaValidationError(msg)
    if isinstance(exc, subprocess.TimeoutExpired):
        return OcrTimeout(f"{exc.cmd!r} timed out after {exc.timeout} s")
    if isinstance(exc, ox.SubprocessOutputError):
        return OcrEngineError(msg, retryable=_subprocess_transient(exc.__cause__))
    if isinstance(exc, subprocess.CalledProcessError):
        return OcrEngineError(msg, retryable=_subprocess_transient(exc))
    if isinstance(exc, MemoryError | BrokenExecutor):
        return OcrEngineError(f"{type(exc).__name__}: {msg}", retryable=True)
    if isinstance(exc, FileNotFoundError) and exc.filename in {"tesseract", "gs", "unpaper"}:
        return OcrMissingDependency(f"{exc.filename} is not installed")
    return OcrEngineError(f"{type(exc).__name__}: {msg}")
