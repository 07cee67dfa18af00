"""OcrEngine end to end with the real Tesseract on small rendered Vietnamese pages.

CER bound: the engine read these A6 renders with 0.0 % CER when measured (bench/ocr_engine.py,
and the clean/degraded A5 rows of the language table). 2 % leaves room for about seven errors on
a 350-character page (a different Tesseract or model build) while a real regression, such as
losing the diacritics again, costs 10-30 %.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from PIL import Image

from ocr import geometry
from ocr.engine import OcrEngine, OcrResult, OcrSettings
from ocr.errors import OcrInputError, OcrTimeout
from ocr.extract import extract_fields, page_texts
from ocr.pdfa import check_pdfa
from ocr.quality import cer, normalize
from tests.ocr.pagegen import Page

pytestmark = pytest.mark.slow

MAX_CER = 0.02
PHRASE = "bưu chính công ích"

MakeScan = Callable[..., tuple[Path, list[Page]]]


def _run(engine: OcrEngine, src: Path, tmp_path: Path, **kw: object) -> tuple[OcrResult, Path]:
    out = tmp_path / f"{src.stem}.ocr.pdf"
    return engine.run(src, out, work_dir=tmp_path / f"{src.stem}.work", **kw), out  # type: ignore[arg-type]


def test_vietnamese_scan_becomes_searchable_pdfa(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    src, pages = make_scan({})
    calls: list[tuple[int, int]] = []
    result, out = _run(engine, src, tmp_path, progress=lambda d, t: calls.append((d, t)))

    assert result.pages == 1 and result.language == OcrSettings().languages
    assert result.pdfa.ok and (result.pdfa.part, result.pdfa.conformance) == (2, "B")
    assert result.pdfa.has_output_intent and result.pdfa.fonts_embedded
    assert check_pdfa(out).ok  # the file on disk, independently
    assert PHRASE in normalize(result.page_texts[0])
    assert cer(pages[0].text, result.page_texts[0]) < MAX_CER
    assert result.page_texts == page_texts(out)
    assert result.rotated_pages == [] and result.deskewed_pages == []
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    fields = extract_fields(result.page_texts)
    assert fields.document_numbers == ("45/TB-UBND",)
    assert fields.document_type == "THÔNG BÁO"
    assert fields.dates == ("2025-07-01",)
    with pikepdf.open(src) as before, pikepdf.open(out) as after:
        jpeg = before.pages[0].obj.Resources.XObject.Im0.read_raw_bytes()
        (image,) = after.pages[0].get_images().values()
        data = image.read_raw_bytes()
        filters = image.Filter if isinstance(image.Filter, pikepdf.Array) else [image.Filter]
        if filters[0] == pikepdf.Name.FlateDecode:
            data = zlib.decompress(data)  # OCRmyPDF's optimize=1 wraps JPEGs in Flate
        assert data == jpeg  # the scan's JPEG is kept bit for bit, not re-encoded


@pytest.mark.parametrize("turn", [90, 180])
def test_turned_page_is_rotated(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path, turn: int
) -> None:
    src, pages = make_scan({"turn": turn, "font_pt": 11})
    result, out = _run(engine, src, tmp_path)
    assert result.rotated_pages == [1]
    assert PHRASE in normalize(result.page_texts[0])
    assert cer(pages[0].text, result.page_texts[0]) < MAX_CER
    with pikepdf.open(out) as pdf:
        assert int(pdf.pages[0].obj.get("/Rotate", 0)) == turn  # undone by /Rotate, losslessly


def _rendered(path: Path, dpi: float = 100) -> Image.Image:
    from ocr.pdfium import lock

    with lock():
        doc = pypdfium2.PdfDocument(path)
        try:
            return doc[0].render(scale=dpi / 72, grayscale=True).to_pil().copy()
        finally:
            doc.close()


def test_skewed_page_is_deskewed(engine: OcrEngine, make_scan: MakeScan, tmp_path: Path) -> None:
    src, pages = make_scan({"skew_deg": 2.0, "degrade": True})
    assert abs(geometry.detect(_rendered(src), 100).skew + 2.0) < 0.2
    result, out = _run(engine, src, tmp_path)
    assert result.deskewed_pages == [1] and result.rotated_pages == []
    assert abs(geometry.detect(_rendered(out), 100).skew) < 0.3  # level as displayed
    assert cer(pages[0].text, result.page_texts[0]) < MAX_CER


def test_pages_with_text_are_skipped_and_the_rest_ocred(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    first_src, _ = make_scan({}, name="first.pdf")
    first, first_out = _run(engine, first_src, tmp_path)
    scan_src, _ = make_scan({"skew_deg": -1.5, "paragraphs": ("Hà Nội, Việt Nam",) * 3})
    mixed = tmp_path / "mixed.pdf"
    with pikepdf.open(first_out) as a, pikepdf.open(scan_src) as b:
        a.pages.extend(b.pages)
        a.save(mixed)

    calls: list[tuple[int, int]] = []
    result, out = _run(engine, mixed, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert result.pages == 2
    assert result.page_texts[0] == first.page_texts[0]  # the existing layer, not a second one
    assert result.page_paths == ["text", "scan"]  # its OCR layer is kept, not read again
    assert result.deskewed_pages == [2]  # page 1 is left exactly as it was
    assert "Hà Nội" in normalize(result.page_texts[1])
    assert result.pdfa.ok and check_pdfa(out).ok
    assert calls[-1] == (2, 2)


def test_progress_counts_every_page(engine: OcrEngine, make_scan: MakeScan, tmp_path: Path) -> None:
    src, _ = make_scan({}, {"turn": 90}, {"skew_deg": 1.5})
    calls: list[tuple[int, int]] = []
    result, _ = _run(engine, src, tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert result.pages == 3 and result.rotated_pages == [2] and result.deskewed_pages == [3]
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})  # each count once, in order
    assert {t for _, t in calls} == {3}


def test_concurrent_runs_keep_their_own_progress(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    one, _ = make_scan({}, name="one.pdf")
    two, _ = make_scan({}, {"turn": 180}, name="two.pdf")
    calls: dict[str, list[tuple[int, int]]] = {"one": [], "two": []}
    results: dict[str, OcrResult] = {}
    errors: list[BaseException] = []

    def job(name: str, src: Path) -> None:
        try:
            results[name], _ = _run(
                engine, src, tmp_path / name, progress=lambda d, t: calls[name].append((d, t))
            )
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=job, args=a) for a in (("one", one), ("two", two))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert calls["one"][-1] == (1, 1) and {t for _, t in calls["one"]} == {1}
    assert calls["two"][-1] == (2, 2) and {t for _, t in calls["two"]} == {2}
    assert results["two"].rotated_pages == [2]


def test_progress_callback_errors_reach_the_caller(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done:
            raise Cancelled

    src, _ = make_scan({})
    with pytest.raises(Cancelled):
        _run(engine, src, tmp_path, progress=cancel)


def test_encrypted_pdf_is_an_input_error(make_scan: MakeScan, tmp_path: Path) -> None:
    src, _ = make_scan({})
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(src) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    restricted = tmp_path / "restricted.pdf"  # opens without a password, still encrypted
    with pikepdf.open(src) as pdf:
        pdf.save(restricted, encryption=pikepdf.Encryption(owner="o", user=""))
    engine = OcrEngine()
    for path in (locked, restricted):
        with pytest.raises(OcrInputError) as info:
            engine.run(path, tmp_path / "out.pdf", work_dir=tmp_path / "w")
        assert info.value.code == "ocr_input_invalid" and not info.value.retryable


def test_tesseract_timeout_is_retryable(make_scan: MakeScan, tmp_path: Path) -> None:
    src, _ = make_scan({})
    engine = OcrEngine(OcrSettings(tesseract_timeout=0.01, rotate_pages=False, deskew=False))
    with pytest.raises(OcrTimeout) as info:
        engine.run(src, tmp_path / "out.pdf", work_dir=tmp_path / "w")
    assert info.value.retryable and info.value.code == "ocr_timeout"


def test_real_scan_of_an_administrative_decision(
    engine: OcrEngine, corpus: Path, tmp_path: Path
) -> None:
    """The corpus scan (750x1069 px JPEG tagged 72 dpi, about 90 dpi in reality).

    Measured through OcrEngine(vie): the JPEG as is (img2pdf, its 72-dpi tag) 9.41 % CER; tagged
    90 or 300 dpi the same pixels give 9.41 / 9.49 %; upscaled x2 (Lanczos) 8.07 %, x3 8.78 %,
    x4 9.32 %. The engine now upsamples rasters under 150 dpi twofold in grey for Tesseract
    (8.16 % here), at the price of the handwritten "286", read "'68" instead of the lucky
    "£86" the raw page gave. Bound: measured 8.16 % + 1.5 points.
    """
    import img2pdf

    jpg = corpus / "vietnamese/real_photos_scans/administrative_documents.jpg"
    gt = jpg.with_suffix(".gt.txt").read_text(encoding="utf-8")
    src = tmp_path / "admin.pdf"
    src.write_bytes(img2pdf.convert(str(jpg)))
    result, _ = _run(engine, src, tmp_path)
    text = "\n".join(result.page_texts)
    assert cer(gt, text) < 0.0816 + 0.015
    fields = extract_fields(result.page_texts)
    assert any(number.endswith("/QĐ-VKSTC") for number in fields.document_numbers)
    assert fields.document_type == "QUYẾT ĐỊNH"
    assert fields.issuing_body is not None and fields.issuing_body.startswith("VIỆN KI")
    assert result.pdfa.ok and result.rotated_pages == []
