"""Text for the search index of pages we must not touch (signed inputs kept as received).

OCRmyPDF would rewrite the file, so these pages are rendered with PDFium and read by plain
Tesseract (``tesseract page.png stdout``); the text goes into the index only, never into the
file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from ocr.errors import OcrEngineError, OcrMissingDependency, OcrTimeout

__all__ = ["ocr_pages_for_index"]

log = logging.getLogger(__name__)

INDEX_DPI = 300


def ocr_pages_for_index(
    pdf: Path,
    pages: Sequence[int],
    *,
    languages: str = "vie",
    dpi: int = INDEX_DPI,
    timeout: float = 180,
    progress: Callable[[int], None] | None = None,
) -> dict[int, str]:
    """OCR text (NFC) of the 0-based ``pages`` of ``pdf``; ``pdf`` is only read.

    A page PDFium cannot render gets ``""`` (logged): the file is kept anyway, it only
    lacks index text. ``progress`` is called with the number of pages done.
    """
    texts: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="sohoa-index-") as tmp:
        for done, index in enumerate(pages, start=1):
            png = Path(tmp) / f"page-{index}.png"
            texts[index] = _read(png, languages, timeout) if _render(pdf, index, dpi, png) else ""
            png.unlink(missing_ok=True)
            if progress is not None:
                progress(done)
    return texts


def _render(pdf: Path, index: int, dpi: int, png: Path) -> bool:
    from ocr import pdfium

    drawn = pdfium.render(pdf, index, dpi)
    if drawn is None:
        return False
    drawn[0].save(png, dpi=(drawn[1], drawn[1]), compress_level=1)
    return True


def _read(png: Path, languages: str, timeout: float) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    try:
        done = subprocess.run(
            ["tesseract", str(png), "stdout", "-l", languages],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except FileNotFoundError:
        raise OcrMissingDependency(
            "tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-vie)"
        ) from None
    except subprocess.TimeoutExpired:
        raise OcrTimeout(f"tesseract took more than {timeout:.0f} s on one page") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise OcrEngineError(f"tesseract failed on a page ({last})", retryable=done.returncode < 0)
    lines = (line.rstrip() for line in done.stdout.replace("\r\n", "\n").split("\n"))
    return unicodedata.normalize("NFC", "\n".join(lines).strip())
