"""Capture quality: tell the clerk to rescan a page while the citizen is still at the counter.

A page OCR could not read is found out at once, not when someone searches the archive for it
months later. The rules are plain functions over :class:`PageQuality` (what the OCR plugin
measured on each page), so they are tested without Tesseract.

A page gets one warning, ``rescan_suggested: page N: <Vietnamese message>``: the code and page
are stable and machine-readable (:func:`parse_warning`), the message is for the clerk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

from PIL import Image

RESCAN = "rescan_suggested"
#: Scans under this resolution are below the archive's floor (and read worse).
DPI_FLOOR = 200.0
#: Rasters under this are upsampled twofold for Tesseract: the real 90 dpi decision scan reads
#: better at 180 dpi than as is, and worse again at 270-360 dpi (bench/ocr_engine.py table).
UPSAMPLE_BELOW_DPI = 150.0
#: Ink (square inches of dark pixels) under which a page without words counts as blank: a
#: speck, a staple hole, scanner dust. A 10 pt letter is about 0.003 in² of ink.
BLANK_INK_IN2 = 0.02
#: A page with fewer words than this but ink enough for ~100 letters was not read.
MIN_WORDS = 5
UNREAD_INK_IN2 = 0.3
#: Mean Tesseract word confidence (0-100) under which the text is mostly guesswork.
MIN_CONFIDENCE = 60.0
#: Fewer words than this and the page's ink is measured, to tell blank from unreadable.
FEW_WORDS = 20
_WCONF = re.compile(r"x_wconf (\d+)")

_WARNING = re.compile(rf"^{RESCAN}: page (\d+): (.*)$", re.S)


@dataclass(frozen=True)
class PageQuality:
    """What OCR found on one page. None: not measured (no image, or plenty of text)."""

    page: int  # 1-based
    language: str  # Tesseract model that produced the text ("" for a page without text)
    ocr: bool = True  # False: the page had text and was not OCRed
    dpi: float | None = None  # the scan's own resolution
    ocr_dpi: float | None = None  # what Tesseract saw, after upsampling
    ink: float | None = None  # square inches of dark pixels (measured only on pages with few words)
    words: int = 0
    chars: int = 0
    confidence: float | None = None  # mean Tesseract word confidence, 0-100
    language_confidence: float | None = None
    reread_from: str | None = None  # the model whose reading was replaced

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def hocr_words(hocr: str) -> tuple[int, float | None]:
    """Word count and mean Tesseract word confidence (0-100) of a page's hOCR."""
    confs = [int(c) for c in _WCONF.findall(hocr)]
    return len(confs), (sum(confs) / len(confs) if confs else None)


def upsample_factor(dpi: float | None, below: float = UPSAMPLE_BELOW_DPI) -> int:
    """2 for a raster under ``below`` dpi, else 1 (unknown resolution: leave it alone)."""
    return 2 if dpi and below and dpi < below else 1


def ink_area(image: Path | Image.Image) -> float:
    """Square inches of pixels clearly darker than the paper (measured on a thumbnail).

    Relative to the paper's brightness so grey paper or a dim photo is not counted as ink; an image
    without a resolution is taken as 300 dpi.
    """
    im = Image.open(image) if isinstance(image, Path) else image
    try:
        dpi = im.info.get("dpi") or (300, 300)
        area = (im.width / (float(dpi[0]) or 300)) * (im.height / (float(dpi[1]) or 300))
        im = im.convert("L")
        im.thumbnail((1000, 1000), Image.Resampling.BOX)
        hist = im.histogram()
    finally:
        if isinstance(image, Path):
            im.close()
    total = sum(hist)
    if not total:
        return 0.0
    # The paper is the brightest large share of the page (a dark page has no median paper).
    cut, seen, paper = total * 0.2, 0, 255
    for level in range(255, -1, -1):
        seen += hist[level]
        if seen >= cut:
            paper = level
            break
    threshold = min(160, int(paper * 0.6))
    return area * sum(hist[:threshold]) / total


def rescan_reasons(q: PageQuality) -> list[str]:
    """Why page ``q`` should be scanned again: "blank", "unreadable", "low_confidence",
    "low_dpi" (in that order; empty when the page is fine or was not OCRed)."""
    if not q.ocr:
        return []
    reasons = []
    if q.words == 0 and q.ink is not None and q.ink < BLANK_INK_IN2:
        reasons.append("blank")
    elif q.words == 0 or (q.words < MIN_WORDS and (q.ink is None or q.ink >= UNREAD_INK_IN2)):
        reasons.append("unreadable")  # a title page of three words has little ink: fine
    elif q.confidence is not None and q.confidence < MIN_CONFIDENCE:
        reasons.append("low_confidence")
    if q.dpi and q.dpi < DPI_FLOOR:
        reasons.append("low_dpi")
    return reasons


def rescan_message(q: PageQuality, reasons: Iterable[str]) -> str:
    """The clerk's instruction, in Vietnamese, naming the page and what to do."""
    reasons = list(reasons)
    parts = []
    if "blank" in reasons:
        parts.append("trang trắng, không thấy chữ — kiểm tra có quét nhầm mặt sau hoặc trang rỗng")
    if "unreadable" in reasons:
        parts.append("ảnh chụp mờ, gần như không đọc được chữ")
    if "low_confidence" in reasons:
        parts.append(f"chữ đọc được không rõ (độ tin cậy {q.confidence:.0f}%)")
    if "low_dpi" in reasons:
        parts.append(f"độ phân giải chỉ {q.dpi:.0f} dpi, dưới mức tối thiểu {DPI_FLOOR:.0f} dpi")
    advice = "vui lòng quét lại trang này ở 300 dpi, đặt giấy phẳng và thẳng"
    if reasons == ["blank"]:
        advice = "nếu trang có nội dung, vui lòng quét lại trang này ở 300 dpi"
    return f"Trang {q.page}: {'; '.join(parts)} — {advice}."


def warnings(pages: Iterable[PageQuality]) -> list[str]:
    """One ``rescan_suggested: page N: <message>`` string per page that needs a rescan."""
    out = []
    for q in pages:
        reasons = rescan_reasons(q)
        if reasons:
            out.append(f"{RESCAN}: page {q.page}: {rescan_message(q, reasons)}")
    return out


class RescanNotice(TypedDict):
    """A rescan warning as the API shows it."""

    code: str
    page: int  # 1-based
    message: str  # Vietnamese, for the clerk


def parse_warning(warning: str) -> RescanNotice | None:
    """The notice of a rescan warning, None for any other string.

    For the API: scan rows keep warnings as strings (existing rows and tests rely on that).
    """
    m = _WARNING.match(warning)
    if not m:
        return None
    return RescanNotice(code=RESCAN, page=int(m.group(1)), message=m.group(2))
