"""Fixtures for the ocr package: one warm engine per session and small rendered scans."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ocr.engine import OcrEngine, OcrSettings
from tests.ocr.pagegen import A6, Page, render_page, save_pdf

#: A6 pages at 300 dpi keep Tesseract to about a second a page on the shared 2-core machine.
SHORT_TEXT = (
    "ỦY BAN NHÂN DÂN XÃ PHÙ CHẨN",
    "Số: 45/TB-UBND",
    "THÔNG BÁO",
    "Về việc tiếp nhận hồ sơ thủ tục hành chính qua dịch vụ bưu chính công ích "
    "kể từ ngày 01 tháng 7 năm 2025.",
    "Người dân nộp hồ sơ tại Bộ phận Một cửa hoặc gửi qua bưu điện.",
)


@pytest.fixture(scope="session")
def engine() -> OcrEngine:
    return OcrEngine(OcrSettings())


@pytest.fixture
def make_scan(tmp_path: Path) -> Callable[..., tuple[Path, list[Page]]]:
    """Render A6 pages (keyword arguments of render_page per page) into a JPEG scan PDF."""

    def make(*pages: dict[str, object], name: str = "scan.pdf") -> tuple[Path, list[Page]]:
        rendered = [
            render_page(page.pop("paragraphs", SHORT_TEXT), size_in=A6, **page)  # type: ignore[arg-type]
            for page in (dict(p) for p in pages)
        ]
        return save_pdf([p.image for p in rendered], tmp_path / name), rendered

    return make
