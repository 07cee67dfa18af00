"""OCRmyPDF plugin used by :class:`ocr.engine.OcrEngine` (passed as ``plugins=[__name__]``).

Every OcrEngine run passes this same module, so concurrent runs in one process share one plugin
set, as OCRmyPDF ≥ 17.11 requires for them to overlap. Per-run state (the progress callback)
travels in a ContextVar: OCRmyPDF creates progress bars in the thread that called ``ocr()``.

Hooks:

- ``get_progressbar_class``: per-page progress to the run's callback.
- ``rasterize_pdf_page``: single-image scan pages come straight from their image (no PDFium
  render, PNG at zlib level 1 instead of 6: 2 s → 0.3 s on a noisy A4 page); others fall through
  to the built-in PDFium rasterizer.
- ``get_ocr_engine``: Tesseract, but a page that ran into ``tesseract_timeout`` raises
  instead of silently becoming a page without text.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pikepdf
from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine
from PIL import Image

from ocr import scanpage

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]

#: The progress callback of the OcrEngine.run() executing in this thread (None: no reporting).
current_progress: ContextVar[ProgressCallback | None] = ContextVar(
    "sohoa_ocr_progress", default=None
)

_PAGE_STEPS = {"OCR", "Image processing"}
_DEVICE_MODES = {"pnggray": "L", "png16m": "RGB", "pngmono": "1", "pngmonod": "1"}


class CallbackError(Exception):
    """Carries an exception raised by the caller's progress callback through OCRmyPDF."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class PageProgress:
    """OCRmyPDF's ProgressBar protocol, reporting whole pages of the OCR step only.

    OCRmyPDF advances half a page when a page's OCR is done and half when it is grafted.
    """

    def __init__(
        self,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str | None = None,
        disable: bool = False,
        **kwargs: Any,
    ) -> None:
        wanted = unit == "page" and desc in _PAGE_STEPS and total
        self._callback = current_progress.get() if wanted else None
        self._total = int(total or 0)
        self._done = 0.0
        self._reported = -1

    def __enter__(self) -> PageProgress:
        self._emit()
        return self

    def __exit__(self, *exc_info: object) -> bool:
        return False

    def update(self, n: float = 1, *, completed: float | None = None) -> None:
        self._done = completed if completed is not None else self._done + (n or 0)
        self._emit()

    def _emit(self) -> None:
        if self._callback is None:
            return
        pages = min(int(self._done + 1e-6), self._total)
        if pages != self._reported:
            self._reported = pages
            try:
                self._callback(pages, self._total)
            except Exception as exc:
                raise CallbackError(exc) from exc


@hookimpl
def get_progressbar_class() -> type[PageProgress]:
    return PageProgress


@hookimpl
def rasterize_pdf_page(
    input_file: Path,
    output_file: Path,
    raster_device: str,
    raster_dpi: Any,
    pageno: int,
    page_dpi: Any,
    rotation: int | None,
    filter_vector: bool,
    stop_on_soft_error: bool,
    options: Any,
    use_cropbox: bool,
) -> Path | None:
    """Scan pages straight from their image; None hands the page to the next rasterizer."""
    mode = _DEVICE_MODES.get(str(raster_device).lower())
    if (
        mode is None
        or rotation
        or filter_vector
        or use_cropbox
        or getattr(options, "rasterizer", "auto") != "auto"  # a rasterizer was asked for
    ):
        return None
    try:
        with pikepdf.open(input_file) as pdf:
            page = pdf.pages[pageno - 1]
            im = scanpage.render(page, (float(raster_dpi.x), float(raster_dpi.y)))
    except Image.DecompressionBombError:
        raise  # the max_image_mpixels limit applies to us as to OCRmyPDF
    except Exception:  # anything odd about the page: PDFium will draw it
        log.debug("page %d: fast rasterizer declined", pageno, exc_info=True)
        return None
    if im is None:
        return None
    if im.mode != mode:
        if mode == "1":
            return None  # thresholding is PDFium's and Tesseract's business, not ours
        im = im.convert(mode)
    dpi = page_dpi if page_dpi is not None else raster_dpi
    im.save(output_file, format="PNG", compress_level=1, dpi=(float(dpi.x), float(dpi.y)))
    return output_file


class TimedTesseract(TesseractOcrEngine):
    """Tesseract as OCRmyPDF runs it, except that a timed-out page is an error."""

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options: Any) -> None:
        started = time.monotonic()
        TesseractOcrEngine.generate_hocr(input_file, output_hocr, output_text, options)
        limit = options.tesseract.timeout
        if limit and time.monotonic() - started >= limit and not output_hocr.stat().st_size:
            raise subprocess.TimeoutExpired(["tesseract", str(input_file)], limit)


@hookimpl
def get_ocr_engine(options: Any) -> TesseractOcrEngine | None:
    if options is not None and getattr(options, "ocr_engine", "auto") not in ("auto", "tesseract"):
        return None
    return TimedTesseract()
