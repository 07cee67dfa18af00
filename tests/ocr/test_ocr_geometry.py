"""Orientation/skew detection and the lossless fixes, checked against PDFium (no Tesseract)."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from ocr import geometry, scanpage
from tests.ocr.pagegen import A6, PARAGRAPHS, SANS, SERIF, render_page, save_pdf


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
@pytest.mark.parametrize(("skew", "font"), [(1.7, SERIF), (-2.4, SANS), (0.0, SERIF)])
def test_detect_turn_and_skew(turn: int, skew: float, font: Path) -> None:
    page = render_page(PARAGRAPHS, size_in=A6, skew_deg=skew, turn=turn, font_path=font)
    geo = geometry.detect(page.image, 300)
    assert geo.certain, geo
    assert geo.turn == (360 - turn) % 360  # the counter-clockwise turn that undoes it
    assert geo.skew == pytest.approx(-skew, abs=0.15)


def test_degraded_scan() -> None:
    page = render_page(PARAGRAPHS, size_in=A6, skew_deg=-1.5, turn=180, degrade=True, seed=3)
    geo = geometry.detect(page.image, 300)
    assert (geo.certain, geo.turn) == (True, 180)
    assert geo.skew == pytest.approx(1.5, abs=0.15)


def test_blank_page_and_lone_word_are_not_turned() -> None:
    assert geometry.detect(Image.new("L", (1240, 1754), 255), 300).blank
    word = Image.new("L", (600, 200), 255)
    font = ImageFont.truetype(str(SERIF), 90)
    ImageDraw.Draw(word).text((40, 30), "tiếng", font=font, fill=0)
    for im in (word, word.rotate(90, expand=True)):
        geo = geometry.detect(im, 300)
        assert not geo.certain and not geo.axis_certain  # letters are not lines


def _pdf_of(tmp_path: Path, im: Image.Image, *, jpeg: int | None = 90) -> Path:
    return save_pdf([im], tmp_path / "page.pdf", jpeg=jpeg)


def _pdfium(path: Path, dpi: float) -> Image.Image:
    doc = pypdfium2.PdfDocument(path)
    try:
        return doc[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        doc.close()


@pytest.mark.parametrize("jpeg", [90, None])
def test_straighten_then_render_matches_pdfium(tmp_path: Path, jpeg: int | None) -> None:
    """Our fast rasterizer must draw the straightened page as PDFium does, or the text layer
    would not sit on the words."""
    page = render_page(PARAGRAPHS, size_in=A6, skew_deg=2.0, turn=90)
    src = _pdf_of(tmp_path, page.image, jpeg=jpeg)
    with pikepdf.open(src) as pdf:
        geo = geometry.detect(page.image, 300)
        image = pdf.pages[0].obj.Resources.XObject.Im0
        raw = image.read_raw_bytes()
        scanpage.straighten(pdf.pages[0], rotate_cw=geo.rotate_cw, skew_ccw=geo.skew)
        assert pdf.pages[0].obj.Rotate == 90
        assert image.read_raw_bytes() == raw  # the image is never re-encoded
        fixed = tmp_path / "fixed.pdf"
        pdf.save(fixed)
    with pikepdf.open(fixed) as pdf:
        ours = scanpage.render(pdf.pages[0], (300.0, 300.0))
    assert ours is not None
    theirs = _pdfium(fixed, 300)
    # OCRmyPDF trims PDFium's rounding overshoot the same way (874.5 px -> 874).
    assert abs(ours.width - theirs.width) <= 1 and abs(ours.height - theirs.height) <= 1
    theirs = theirs.crop((0, 0, *ours.size))
    small_ours, small_theirs = ours.reduce(4), theirs.reduce(4)  # compare shapes, not edges

    def mismatch(dx: int, dy: int) -> float:
        shifted = ImageChops.offset(small_theirs, dx, dy)
        return ImageStat.Stat(ImageChops.difference(small_ours, shifted)).mean[0]

    # PDFium and Pillow resample differently (and PDFium sits half a pixel off even on an
    # untouched page), so the images differ a little everywhere; misplaced by 4 px they differ
    # much more.
    best = min((mismatch(dx, dy), dx, dy) for dx in range(-2, 3) for dy in range(-2, 3))
    assert best[1:] == (0, 0), best
    assert best[0] < 8, best
    assert min(mismatch(1, 0), mismatch(0, 1), mismatch(-1, 0), mismatch(0, -1)) > 1.3 * best[0]
    after = geometry.detect(ours, 300)
    assert after.turn == 0 and abs(after.skew) < 0.3


@pytest.mark.parametrize(("jpeg", "preview_dpi"), [(None, 300), (90, 150)])
def test_plain_scan_renders_without_resampling(
    tmp_path: Path, jpeg: int | None, preview_dpi: float
) -> None:
    page = render_page(PARAGRAPHS, size_in=A6)
    src = _pdf_of(tmp_path, page.image, jpeg=jpeg)
    with pikepdf.open(src) as pdf:
        ours = scanpage.render(pdf.pages[0], (300.0, 300.0))
        view = scanpage.preview(pdf.pages[0], 100)
    assert ours is not None and ours.size == page.image.size
    if jpeg is None:
        assert ImageChops.difference(ours, page.image).getbbox() is None  # pixel-identical
    assert view is not None
    im, dpi, native = view
    assert native == pytest.approx(300, abs=0.5)
    assert dpi == pytest.approx(preview_dpi, abs=1)  # JPEGs decode at reduced scale
    assert im.width == pytest.approx(page.image.width * preview_dpi / 300, abs=2)


def test_pages_that_are_not_plain_scans(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    text_page = pdf.add_blank_page(page_size=(200, 200))
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    text_page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    text_page.obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 3 Tr (x) Tj ET")
    vector = pdf.add_blank_page(page_size=(200, 200))
    vector.obj.Contents = pdf.make_stream(b"0 0 m 100 100 l S")
    assert scanpage.page_has_text(text_page)  # invisible OCR text counts
    assert not scanpage.page_has_text(vector)
    assert scanpage.single_image(text_page) is None
    assert scanpage.single_image(vector) is None
    assert scanpage.render(vector, (72.0, 72.0)) is None
