"""PDFium, shared by everything in :mod:`ocr` that renders a page or reads its text.

PDFium is not thread-safe process-wide, and OCRmyPDF renders with it from its own threads, so
every caller takes the same lock as OCRmyPDF does.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

_fallback_lock = threading.Lock()
#: Pages are drawn at lower resolution rather than above this many pixels (a poster-sized page
#: at 300 dpi would take gigabytes).
MAX_PIXELS = 60_000_000


def lock() -> threading.Lock:
    """OCRmyPDF's own PDFium lock when available, else ours."""
    try:
        from ocrmypdf.builtin_plugins import pypdfium

        return pypdfium._pdfium_lock
    except (ImportError, AttributeError):
        return _fallback_lock


def render(
    source: Path, index: int, dpi: float, *, grayscale: bool = True
) -> tuple[Image.Image, float, float, float] | None:
    """Page ``index`` (0-based) as displayed: (image, dpi used, width pt, height pt), or None.

    The dpi is lowered for a page that would exceed :data:`MAX_PIXELS`. Form fields are drawn.
    """
    import pypdfium2

    with lock():
        try:
            doc = pypdfium2.PdfDocument(source)
        except Exception:
            log.warning("cannot open %s to render page %d", source, index + 1, exc_info=True)
            return None
        try:
            page = doc[index]
            width, height = page.get_size()
            pixels = (width * dpi / 72) * (height * dpi / 72)
            if pixels > MAX_PIXELS:
                dpi *= (MAX_PIXELS / pixels) ** 0.5
            bitmap = page.render(scale=dpi / 72, grayscale=grayscale, may_draw_forms=True)
            image = bitmap.to_pil().copy()
            bitmap.close()
            page.close()
        except Exception:
            log.warning("cannot render page %d of %s", index + 1, source, exc_info=True)
            return None
        finally:
            doc.close()
    return image, dpi, width, height
