"""Language per page and capture warnings through OcrEngine, with the real Tesseract.

Bounds: the English corpus page is read by the engine exactly as by ``tesseract -l eng`` when
measured (bench/languages.py: phototest 0.0 % WER both ways); one point of WER is the issue's
goal. Rendered French and Vietnamese A6 pages read with 0.0 % CER when measured.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import img2pdf
import ocrmypdf
import pytest

from bench.languages import wer
from ocr import ocrmypdf_plugin as plugin
from ocr.capture import RESCAN, parse_warning
from ocr.engine import OcrEngine, OcrResult
from ocr.errors import OcrInputError
from ocr.quality import cer
from tests.ocr.langpages import ENGLISH, ENGLISH_GT, FRENCH, downsample, image_pdf, render
from tests.ocr.pagegen import Page, save_pdf

pytestmark = pytest.mark.slow

MakeScan = Callable[..., tuple[Path, list[Page]]]
PHOTOTEST = ENGLISH_GT / "phototest.tif"


def _run(engine: OcrEngine, src: Path, tmp_path: Path) -> OcrResult:
    return engine.run(src, tmp_path / f"{src.stem}.ocr.pdf", work_dir=tmp_path / f"{src.stem}.w")


def _raw(image: Path, model: str) -> str:
    return subprocess.run(
        ["tesseract", str(image), "stdout", "-l", model], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(not PHOTOTEST.exists(), reason="corpus not mounted")
def test_english_scan_is_read_as_english(engine: OcrEngine, tmp_path: Path) -> None:
    src = image_pdf(PHOTOTEST, tmp_path / "phototest.pdf")
    truth = (ENGLISH_GT / "phototest.gold.txt").read_text(encoding="utf-8")
    result = _run(engine, src, tmp_path)
    assert result.page_languages == ["eng"]
    (q,) = result.page_quality
    assert q.reread_from == "vie" and q.language == "eng"
    assert wer(truth, result.page_texts[0]) <= wer(truth, _raw(PHOTOTEST, "eng")) + 0.01


def test_french_page_is_read_as_french(engine: OcrEngine, tmp_path: Path) -> None:
    page = render(FRENCH, degrade=True, seed=3)
    result = _run(engine, save_pdf([page.image], tmp_path / "fr.pdf"), tmp_path)
    assert result.page_languages == ["fra"]
    assert cer(page.text, result.page_texts[0]) < 0.01
    assert "Saint-Étienne-du-Rouvray" in result.page_texts[0]
    assert not any(w.startswith(RESCAN) for w in result.warnings)


def test_vietnamese_page_stays_vietnamese_and_keeps_its_cer(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    src, pages = make_scan({"degrade": True, "skew_deg": 1.0, "seed": 2})
    result = _run(engine, src, tmp_path)
    with plugin.page_options(["vie"], upsample_below_dpi=0):  # the engine before this change
        before = engine.run(src, tmp_path / "before.pdf", work_dir=tmp_path / "before")
    assert result.page_languages == before.page_languages == ["vie"]
    assert result.page_quality[0].reread_from is None
    assert result.page_texts == before.page_texts
    assert cer(pages[0].text, result.page_texts[0]) < 0.02
    assert not any(w.startswith(RESCAN) for w in result.warnings)


def test_each_page_of_a_mixed_document_gets_its_language(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    """Pages run on OCRmyPDF's worker threads (jobs=2); every page's report comes back."""
    vi = make_scan({})[1][0]
    en, fr = render(ENGLISH), render(FRENCH)
    src = save_pdf([en.image, vi.image, fr.image, vi.image], tmp_path / "mixed.pdf")
    result = _run(engine, src, tmp_path)
    assert result.page_languages == ["eng", "vie", "fra", "vie"]
    assert [q.page for q in result.page_quality] == [1, 2, 3, 4]
    assert cer(en.text, result.page_texts[0]) < 0.01
    assert cer(vi.text, result.page_texts[1]) < 0.02


def test_languages_override_is_honoured(engine: OcrEngine, tmp_path: Path) -> None:
    page = render(ENGLISH)
    src = save_pdf([page.image], tmp_path / "en.pdf")
    with plugin.page_options(["vi"]):
        forced = _run(engine, src, tmp_path)
    assert forced.page_languages == ["vie"]
    assert forced.page_quality[0].reread_from is None
    with plugin.page_options(["fra"]):
        assert _run(engine, src, tmp_path).page_languages == ["fra"]
    assert _run(engine, src, tmp_path).page_languages == ["eng"]  # the override has ended


def test_unknown_language_is_refused_before_ocr() -> None:
    with pytest.raises(OcrInputError), plugin.page_options(["klingon"]):
        pass


def test_blank_page_gets_rescan_suggested(engine: OcrEngine, tmp_path: Path) -> None:
    blank = render((" ",))
    result = _run(engine, save_pdf([blank.image], tmp_path / "blank.pdf"), tmp_path)
    (w,) = [w for w in result.warnings if w.startswith(RESCAN)]
    parsed = parse_warning(w)
    assert parsed is not None and parsed["page"] == 1
    assert "trang trắng" in parsed["message"]
    assert result.page_quality[0].ink is not None and result.page_quality[0].ink < 0.02


def test_low_resolution_scan_is_upsampled_and_gets_rescan_suggested(
    engine: OcrEngine, make_scan: MakeScan, tmp_path: Path
) -> None:
    page = make_scan({"font_pt": 11})[1][0]
    src = save_pdf([downsample(page, 100)], tmp_path / "low.pdf", jpeg=None)
    result = _run(engine, src, tmp_path)
    (q,) = result.page_quality
    assert q.dpi is not None and round(q.dpi) == 100
    assert q.ocr_dpi is not None and round(q.ocr_dpi) == 200  # upsampled for Tesseract
    (w,) = [w for w in result.warnings if w.startswith(RESCAN)]
    assert "100 dpi" in w and "quét lại trang này ở 300 dpi" in w
    assert cer(page.text, result.page_texts[0]) < 0.03
    with plugin.page_options(upsample_below_dpi=0):
        plain = engine.run(src, tmp_path / "plain.pdf", work_dir=tmp_path / "plain")
    assert plain.page_quality[0].ocr_dpi is not None and round(plain.page_quality[0].ocr_dpi) == 100
    # The stored page image is the scan as delivered, not the upsampled one.
    import pikepdf

    with pikepdf.open(tmp_path / "low.ocr.pdf") as pdf:
        (image,) = pdf.pages[0].get_images().values()
        assert int(image.Width) == downsample(page, 100).width


def test_reports_cross_process_workers(tmp_path: Path) -> None:
    """With use_threads=False pages run in child processes; the reports still come back."""
    page = render(ENGLISH)
    src = tmp_path / "en.pdf"
    buf = tmp_path / "en.png"
    page.image.save(buf, dpi=(300, 300))
    src.write_bytes(img2pdf.convert(str(buf)))
    out = tmp_path / "out.pdf"
    rc = ocrmypdf.ocr(
        src,
        out,
        **plugin.ocr_kwargs("vie", out),
        output_type="pdf",
        jobs=1,
        use_threads=False,
        progress_bar=False,
        plugins=[plugin.__name__],
    )
    assert rc == ocrmypdf.ExitCode.ok
    (q,) = plugin.collect(["text"], out)
    assert q.language == "eng" and q.reread_from == "vie" and q.words > 50
