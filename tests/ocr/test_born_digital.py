"""Born-digital PDFs from everyday producers, through the real engine and pikepdf's validator.

Each producer's file must come out PDF/A-2b (our check and pikepdf's allowlist validator),
searchable, and with each page on the path its content needs: text kept without OCR where the
producer embedded its fonts, OCR where there is only an image, a picture of the page where
nothing else is valid.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf
import pytest
from fpdf import FPDF
from pikepdf import Array, Dictionary, Name
from PIL import Image

from ocr.engine import OcrEngine, OcrResult
from ocr.pdfa import check_pdfa
from ocr.prepare import DynamicXfaForm, PagePath, classify, readable
from ocr.quality import normalize
from tests.ocr.conftest import SHORT_TEXT
from tests.ocr.pagegen import A6, SANS, render_page, save_pdf

pytestmark = pytest.mark.slow

SENTENCE = "Giấy chứng nhận đăng ký hộ kinh doanh số 27A8012345"


def _fpdf(path: Path, *, core_font: bool = False, pages: int = 1) -> Path:
    pdf = FPDF(format=(148, 210))
    if core_font:
        pdf.set_font("helvetica", size=12)
    else:
        pdf.add_font("noto", fname=str(SANS))
        pdf.set_font("noto", size=12)
    for _ in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, SENTENCE if not core_font else "Business registration 27A8012345")
    pdf.output(str(path))
    return path


def _run(engine: OcrEngine, src: Path, tmp_path: Path) -> tuple[OcrResult, Path]:
    out = tmp_path / f"{src.stem}.out.pdf"
    return engine.run(src, out, work_dir=tmp_path / f"{src.stem}.work"), out


def _assert_pdfa(out: Path) -> None:
    from pikepdf.pdfa import validate_written

    assert check_pdfa(out).ok
    report = validate_written(out, "2b")
    assert report.passed, report.summary()


def test_fpdf2_with_embedded_noto_keeps_its_text_without_ocr(
    engine: OcrEngine, tmp_path: Path
) -> None:
    src = _fpdf(tmp_path / "fpdf-noto.pdf", pages=2)
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["text", "text"]
    assert SENTENCE in normalize(result.page_texts[0])  # exact: the producer's text, not OCR
    _assert_pdfa(out)


def _char_boxes(path: Path) -> list[tuple[float, ...]]:
    import pypdfium2

    doc = pypdfium2.PdfDocument(path)
    try:
        text = doc[0].get_textpage()
        return [tuple(round(v, 1) for v in text.get_charbox(i)) for i in range(text.count_chars())]
    finally:
        doc.close()


def test_fpdf2_core_font_gets_a_metric_compatible_font_and_keeps_its_text(
    engine: OcrEngine, tmp_path: Path
) -> None:
    src = _fpdf(tmp_path / "fpdf-core.pdf", core_font=True)
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["text"]  # Helvetica embedded from URW, not rasterized
    assert any("standard font(s) embedded" in w for w in result.warnings)
    assert "Business registration 27A8012345" in normalize(result.page_texts[0])
    before, after = _char_boxes(src), _char_boxes(out)
    assert len(before) == len(after)
    # Same advance widths: every glyph starts where it did (outlines differ by a hair).
    assert all(abs(a[0] - b[0]) < 0.5 for a, b in zip(before, after, strict=True))
    _assert_pdfa(out)


def test_ghostscript_ps2pdf(engine: OcrEngine, tmp_path: Path) -> None:
    ps = tmp_path / "letter.ps"
    ps.write_text(
        "%!PS\n/Helvetica findfont 14 scalefont setfont\n"
        "72 700 moveto (Certificate of incorporation 2026-118) show\n"
        "72 680 moveto (Issued by the Department of Planning) show\nshowpage\n"
    )
    src = tmp_path / "ps2pdf.pdf"
    subprocess.run(["ps2pdf", str(ps), str(src)], check=True, capture_output=True)
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["text"]  # Ghostscript leaves Helvetica out; URW's goes in
    assert "2026-118" in result.page_texts[0]
    _assert_pdfa(out)


def test_cairo_text_and_shapes(engine: OcrEngine, tmp_path: Path) -> None:
    cairocffi = pytest.importorskip("cairocffi", reason="cairocffi (test extra) is not installed")
    src = tmp_path / "cairo.pdf"
    surface = cairocffi.PDFSurface(str(src), 420, 595)
    ctx = cairocffi.Context(surface)
    ctx.select_font_face("Noto Sans")
    ctx.set_font_size(14)
    ctx.move_to(40, 80)
    ctx.show_text("Tờ khai đăng ký khai sinh")
    ctx.rectangle(40, 100, 300, 2)
    ctx.fill()
    surface.finish()
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["text"]
    assert "Tờ khai đăng ký khai sinh" in normalize(result.page_texts[0])
    _assert_pdfa(out)


def _filled_form_with_script_and_attachment(tmp_path: Path) -> Path:
    src = _fpdf(tmp_path / "form-base.pdf")
    out = tmp_path / "form.pdf"
    with pikepdf.open(src) as pdf:
        font = pdf.make_indirect(
            Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
        )
        appearance = pdf.make_stream(
            b"/Tx BMC q BT /Helv 12 Tf 2 6 Td (NGUYEN VAN AN) Tj ET Q EMC",
            Type=Name.XObject,
            Subtype=Name.Form,
            BBox=[0, 0, 200, 20],
            Resources=Dictionary(Font=Dictionary(Helv=font)),
        )
        field = pdf.make_indirect(
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.Widget,
                FT=Name.Tx,
                T=pikepdf.String("applicant"),
                V=pikepdf.String("NGUYEN VAN AN"),
                DA=pikepdf.String("/Helv 12 Tf 0 g"),
                Rect=[40, 300, 240, 320],
                F=4,
                AP=Dictionary(N=appearance),
                AA=Dictionary(K=Dictionary(S=Name.JavaScript, JS=pikepdf.String("app.alert(1)"))),
                P=pdf.pages[0].obj,
            )
        )
        # A second field filled by a program that left the appearance to the viewer.
        phone = pdf.make_indirect(
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.Widget,
                FT=Name.Tx,
                T=pikepdf.String("phone"),
                V=pikepdf.String("0912345678"),
                DA=pikepdf.String("/Helv 10 Tf 0 g"),
                Rect=[40, 260, 240, 280],
                F=4,
                P=pdf.pages[0].obj,
            )
        )
        photo = pdf.make_stream(b"\x89PNG fake photo of the applicant")
        photo.Type, photo.Subtype = Name.EmbeddedFile, Name("/image#2Fpng")
        clip = pdf.make_indirect(
            Dictionary(
                Type=Name.Annot,
                Subtype=Name.FileAttachment,
                Rect=[300, 300, 320, 320],
                FS=Dictionary(
                    Type=Name.Filespec, F=pikepdf.String("photo.png"), EF=Dictionary(F=photo)
                ),
            )
        )
        pdf.pages[0].obj.Annots = Array([field, phone, clip])
        pdf.Root.AcroForm = Dictionary(
            Fields=Array([field, phone]),
            DR=Dictionary(Font=Dictionary(Helv=font)),
            NeedAppearances=True,
        )
        pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=pikepdf.String("app.alert(2)"))
        pdf.attachments["invoice.xml"] = pikepdf.AttachedFileSpec(
            pdf, b"<invoice><total>50000</total></invoice>", mime_type="application/xml"
        )
        pdf.save(out)
    return out


def test_filled_form_with_javascript_and_attachment(engine: OcrEngine, tmp_path: Path) -> None:
    src = _filled_form_with_script_and_attachment(tmp_path)
    result, out = _run(engine, src, tmp_path)
    assert "NGUYEN VAN AN" in result.page_texts[0]  # the field's value is on the page
    assert "0912345678" in result.page_texts[0]  # drawn for a field that had no appearance
    assert [(a.name, a.media_type) for a in result.attachments] == [
        ("invoice.xml", "application/xml"),
        ("photo.png", "image/png"),
    ]
    assert result.attachments[0].path.read_bytes().startswith(b"<invoice>")
    assert result.attachments[1].path.read_bytes().startswith(b"\x89PNG")
    assert "form fields flattened into the page" in result.warnings
    with pikepdf.open(out) as pdf:
        assert "/OpenAction" not in pdf.Root and "/AcroForm" not in pdf.Root
        assert len(pdf.attachments) == 0
        assert b"JavaScript" not in out.read_bytes()
    _assert_pdfa(out)


def test_pillow_image_pdf_is_ocred(engine: OcrEngine, tmp_path: Path) -> None:
    page = render_page(SHORT_TEXT, size_in=A6)
    src = tmp_path / "pillow.pdf"
    page.image.save(src, "PDF", resolution=300)
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["scan"]
    assert "bưu chính công ích" in normalize(result.page_texts[0])
    _assert_pdfa(out)


def test_one_text_page_and_one_scanned_page(engine: OcrEngine, tmp_path: Path) -> None:
    text = _fpdf(tmp_path / "text.pdf")
    scan = save_pdf([render_page(SHORT_TEXT, size_in=A6).image], tmp_path / "scan.pdf")
    src = tmp_path / "both.pdf"
    with pikepdf.open(text) as a, pikepdf.open(scan) as b:
        a.pages.extend(b.pages)
        a.save(src)
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["text", "scan"]
    assert SENTENCE in normalize(result.page_texts[0])
    assert "bưu chính công ích" in normalize(result.page_texts[1])
    _assert_pdfa(out)


def test_page_with_text_and_a_scanned_image_ocrs_the_image(
    engine: OcrEngine, tmp_path: Path
) -> None:
    scan = render_page(SHORT_TEXT, size_in=A6).image
    picture = tmp_path / "scan.png"
    scan.save(picture, dpi=(300, 300))
    pdf = FPDF(format=(148, 210))
    pdf.add_font("noto", fname=str(SANS))
    pdf.set_font("noto", size=12)
    pdf.add_page()
    pdf.cell(0, 8, "Bản sao chứng thực từ bản chính")
    pdf.image(str(picture), x=10, y=20, w=105)
    src = tmp_path / "mixed.pdf"
    pdf.output(str(src))
    assert classify(src) == [PagePath.MIXED]
    result, out = _run(engine, src, tmp_path)
    assert result.page_paths == ["mixed"]
    text = normalize(result.page_texts[0])
    assert "Bản sao chứng thực" in text and "bưu chính công ích" in text
    _assert_pdfa(out)


def test_dynamic_xfa_is_refused_with_what_to_do(engine: OcrEngine, tmp_path: Path) -> None:
    src = _fpdf(tmp_path / "xfa.pdf")
    with pikepdf.open(src, allow_overwriting_input=True) as pdf:
        pdf.Root.NeedsRendering = True
        pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=pdf.make_stream(b"<xdp/>"))
        pdf.save()
    with pytest.raises(DynamicXfaForm) as info:
        engine.run(src, tmp_path / "out.pdf", work_dir=tmp_path / "w")
    assert info.value.code == "xfa_form" and "print it to PDF" in str(info.value)


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("Business registration certificate", True),
        ("Table of Contents\nHeading........................ 1", True),
        ("Ủy ban nhân dân xã", True),
        ('"7+%-', False),  # a TrueType font without a Unicode map
        ("\x19\x12", False),
        ("䴀甀氀琀椀挀漀氀漀爀", False),  # UTF-16 read the wrong way round
        ("", True),
    ],
)
def test_readable_text_layer(text: str, usable: bool) -> None:
    assert readable(text) is usable


def test_image_only_pdf_made_by_pillow_has_no_text(tmp_path: Path) -> None:
    src = tmp_path / "blank.pdf"
    Image.new("L", (600, 800), 255).save(src, "PDF", resolution=100)
    assert classify(src) == [PagePath.SCAN]


def test_last_resort_is_a_picture_of_every_page(tmp_path: Path) -> None:
    from ocr.prepare import prepare

    src = _fpdf(tmp_path / "any.pdf", pages=2)
    prepared = prepare(src, tmp_path / "w", pictures_only=True)
    assert prepared.paths == [PagePath.RASTERIZED, PagePath.RASTERIZED]
    assert any(w.startswith("every page rasterized") for w in prepared.warnings)
    with pikepdf.open(prepared.pdf) as pdf:
        assert len(pdf.pages) == 2 and not pdf.pages[0].get("/Resources").get("/Font")
    assert classify(prepared.pdf) == [PagePath.SCAN, PagePath.SCAN]  # nothing but images


def test_engine_rasterizes_everything_when_conversion_fails(
    engine: OcrEngine, tmp_path: Path
) -> None:
    """A file our validator approves but the converter refuses still ends digitized."""
    src = _fpdf(tmp_path / "refused.pdf")
    calls: list[bool] = []
    original = engine._convert

    def convert_refusing_once(prepared, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(True)
        if len(calls) == 1:
            from ocr.errors import PdfaValidationError

            raise PdfaValidationError("not approved")
        return original(prepared, *args, **kwargs)

    engine._convert = convert_refusing_once  # type: ignore[method-assign]
    try:
        result, out = _run(engine, src, tmp_path)
    finally:
        del engine._convert
    assert result.page_paths == ["rasterized"] and len(calls) == 2
    assert SENTENCE.split()[0] in result.page_texts[0]
    _assert_pdfa(out)
