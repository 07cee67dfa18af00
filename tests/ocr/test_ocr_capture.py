"""ocr.capture: the rescan rules, messages and warning format, without Tesseract."""

from __future__ import annotations

from PIL import Image, ImageDraw

from ocr.capture import (
    DPI_FLOOR,
    RESCAN,
    PageQuality,
    ink_area,
    parse_warning,
    rescan_reasons,
    upsample_factor,
    warnings,
)
from tests.ocr.conftest import SHORT_TEXT
from tests.ocr.pagegen import A6, render_page

GOOD = PageQuality(page=1, language="vie", dpi=300, words=120, chars=600, confidence=91)


def test_a_good_page_needs_nothing() -> None:
    assert rescan_reasons(GOOD) == []
    assert warnings([GOOD]) == []


def test_a_page_that_was_not_ocred_is_not_judged() -> None:
    born_digital = PageQuality(page=1, language="vie", ocr=False, words=0, dpi=72)
    assert rescan_reasons(born_digital) == []


def test_blank_page() -> None:
    q = PageQuality(page=3, language="vie", dpi=300, words=0, ink=0.001)
    assert rescan_reasons(q) == ["blank"]
    (w,) = warnings([q])
    assert w.startswith(f"{RESCAN}: page 3: Trang 3: trang trắng")


def test_ink_but_no_text_is_unreadable() -> None:
    q = PageQuality(page=2, language="vie", dpi=300, words=2, ink=4.0)
    assert rescan_reasons(q) == ["unreadable"]
    (w,) = warnings([q])
    assert "gần như không đọc được chữ" in w and "300 dpi" in w


def test_a_page_with_one_short_title_is_fine() -> None:
    q = PageQuality(page=1, language="vie", dpi=300, words=1, ink=0.05, confidence=95)
    assert rescan_reasons(q) == []


def test_low_confidence() -> None:
    q = PageQuality(page=4, language="vie", dpi=300, words=80, confidence=41.2)
    assert rescan_reasons(q) == ["low_confidence"]
    assert "độ tin cậy 41%" in warnings([q])[0]


def test_below_the_dpi_floor() -> None:
    q = PageQuality(page=1, language="vie", dpi=100, words=200, confidence=88)
    assert rescan_reasons(q) == ["low_dpi"]
    assert f"100 dpi, dưới mức tối thiểu {DPI_FLOOR:.0f} dpi" in warnings([q])[0]


def test_reasons_combine_into_one_warning_per_page() -> None:
    q = PageQuality(page=2, language="vie", dpi=72, words=0, ink=2.0)
    assert rescan_reasons(q) == ["unreadable", "low_dpi"]
    pages = [GOOD, q, PageQuality(page=3, language="vie", dpi=300, words=0, ink=0.0)]
    out = warnings(pages)
    assert [parse_warning(w)["page"] for w in out] == [2, 3]  # type: ignore[index]


def test_parse_warning() -> None:
    (w,) = warnings([PageQuality(page=12, language="vie", dpi=150, words=50, confidence=90)])
    parsed = parse_warning(w)
    assert parsed is not None
    assert parsed["code"] == RESCAN and parsed["page"] == 12
    assert parsed["message"].startswith("Trang 12: ")
    assert parse_warning("page 1: no text found") is None
    assert parse_warning("dpi_missing_assumed_300") is None


def test_upsample_factor() -> None:
    assert upsample_factor(72) == 2
    assert upsample_factor(149.9) == 2
    assert upsample_factor(150) == 1
    assert upsample_factor(300) == 1
    assert upsample_factor(None) == 1
    assert upsample_factor(72, below=0) == 1


def test_ink_area() -> None:
    white = Image.new("L", (1240, 1748), 255)  # A6 at 300 dpi
    white.info["dpi"] = (300, 300)
    assert ink_area(white) == 0.0
    grey_paper = Image.new("L", (1240, 1748), 170)
    assert ink_area(grey_paper) == 0.0
    page = render_page(SHORT_TEXT, size_in=A6).image
    assert 0.1 < ink_area(page) < 2.0
    blot = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(blot).rectangle((0, 0, 149, 299), fill=0)
    blot.info["dpi"] = (300, 300)
    assert abs(ink_area(blot) - 0.5) < 0.01  # half of one square inch
