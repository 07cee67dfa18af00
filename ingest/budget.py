"""Resource budgets of a PDF, checked at upload and again in the worker, before any render.

A 1 KB PDF can declare a page hundreds of inches wide (or scale it with ``/UserUnit``), and a
1 MB PDF can hold a stream that inflates to gigabytes; either took an OCR worker to several GB.
The page numbers here come from the PDF's boxes, and streams are inflated with a ceiling in
small chunks (:mod:`ocr.budget`), so checking costs little memory whatever the file claims.
Every stream in the file counts, used or not: walking only what pages reach would cost more
than a hostile file deserves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Name, Stream

from ingest.errors import (
    CorruptFile,
    DocumentPixelsTooMany,
    InflatedTooLarge,
    InflationRatio,
    PagePixelsTooMany,
    PageTooLarge,
    PdfImageTooLarge,
    StreamTooLarge,
)
from ocr import budget as measure

if TYPE_CHECKING:
    from ingest.limits import Limits

log = logging.getLogger(__name__)

#: The resolution pages are drawn at for OCR (ocr.prepare.RASTER_DPI, OCRmyPDF's default).
RENDER_DPI = 300
#: Below this many inflated bytes a stream's compression ratio harms nobody.
RATIO_FLOOR = 1 << 20
_MB = 1 << 20


def check_pdf(pdf: pikepdf.Pdf, limits: Limits) -> None:
    """Raise an :class:`ingest.errors.OverBudget` if the PDF exceeds one of ``limits``."""
    try:
        _check_pages(pdf, limits)
        _check_streams(pdf, limits)
    except (pikepdf.PdfError, ValueError, TypeError, RecursionError) as exc:
        log.info("PDF budget check could not read the file: %s: %s", type(exc).__name__, exc)
        raise CorruptFile(
            "Tệp PDF bị hỏng, không đọc được kích thước trang hoặc dữ liệu: hãy xuất lại tệp "
            "hoặc quét lại giấy tờ. (The PDF is damaged; export or scan it again.)"
        ) from None


def _check_pages(pdf: pikepdf.Pdf, limits: Limits) -> None:
    total = 0.0
    for number, page in enumerate(pdf.pages, 1):
        width, height = measure.page_inches(page)
        area = width * height
        if area > limits.max_page_area_in2:
            raise PageTooLarge(
                f"Trang {number} có khổ {width:.0f} × {height:.0f} inch, lớn hơn giới hạn "
                f"{limits.max_page_area_in2:,.0f} inch vuông: hãy xuất lại tài liệu ở khổ giấy "
                "thông thường (A4, A3) rồi tải lên. (Page too large; export it at a normal "
                "paper size.)"
            )
        pixels = area * RENDER_DPI * RENDER_DPI
        if pixels > limits.max_page_pixels:
            raise PagePixelsTooMany(
                f"Trang {number} ở {RENDER_DPI} dpi sẽ có {pixels / 1e6:,.0f} triệu điểm ảnh, "
                f"vượt giới hạn {limits.max_page_pixels / 1e6:,.0f} triệu: hãy xuất lại ở khổ "
                "nhỏ hơn hoặc chia tài liệu. (Page too many pixels at 300 dpi.)"
            )
        total += pixels
        if total > limits.max_document_pixels:
            raise DocumentPixelsTooMany(
                f"Tài liệu quá lớn để số hóa một lần (vượt {limits.max_document_pixels / 1e9:,.1f}"
                " tỉ điểm ảnh ở 300 dpi): hãy chia thành nhiều tệp nhỏ hơn. (Too many pixels in "
                "all; split the document.)"
            )


def _check_streams(pdf: pikepdf.Pdf, limits: Limits) -> None:
    total = 0
    for obj in pdf.objects:
        if not isinstance(obj, Stream):
            continue
        image = obj.get("/Subtype") == Name.Image
        if image and measure.image_pixels(obj) > limits.max_page_pixels:
            raise PdfImageTooLarge(
                f"Tệp PDF chứa một hình ảnh lớn hơn {limits.max_page_pixels / 1e6:,.0f} triệu "
                "điểm ảnh: hãy quét lại ở 300 dpi. (An image in the PDF has too many pixels.)"
            )
        remaining = limits.max_inflated_bytes - total
        caps = [(limits.max_stream_bytes, "stream"), (remaining, "total")]
        if not image:  # a blank scanned page deflates 1000:1; text and drawings do not
            raw = len(obj.read_raw_bytes())
            caps.append((max(int(raw * limits.max_inflation_ratio), RATIO_FLOOR), "ratio"))
        cap, which = min(caps, key=lambda c: c[0])
        try:
            size = measure.decoded_size(obj, max(cap, 0))
        except measure.Unmeasurable:
            log.info("stream %s uses filters we cannot bound", obj.objgen)
            raise StreamTooLarge(
                "Tệp PDF dùng kiểu nén không kiểm tra được kích thước: hãy in ra PDF "
                "(Lưu thành PDF) rồi tải lên tệp mới. (A stream's compression cannot be "
                "measured safely; print the document to PDF and upload that.)"
            ) from None
        if size > cap:
            raise _over(which, limits)
        total += size


def _over(which: str, limits: Limits) -> StreamTooLarge | InflatedTooLarge | InflationRatio:
    if which == "stream":
        return StreamTooLarge(
            f"Một phần dữ liệu trong tệp PDF giải nén ra hơn {limits.max_stream_bytes // _MB:,} "
            "MB: tệp không phải bản quét thông thường; hãy quét lại giấy tờ hoặc in ra PDF. "
            "(A stream inflates beyond the limit.)"
        )
    if which == "total":
        return InflatedTooLarge(
            f"Dữ liệu của tệp PDF giải nén ra hơn {limits.max_inflated_bytes // _MB:,} MB: "
            "hãy chia tài liệu thành nhiều tệp. (The PDF inflates beyond the limit.)"
        )
    return InflationRatio(
        f"Tệp PDF chứa dữ liệu nén hơn {limits.max_inflation_ratio:,.0f} lần (dấu hiệu của "
        "“bom giải nén”), nên bị từ chối: hãy in tài liệu ra PDF hoặc quét lại. "
        "(A stream inflates suspiciously; a decompression bomb.)"
    )
