"""Sign only what we made: each kind of content smuggled into an upload is gone from the
PDF/A the engine writes (and so from what gets signed), while the page itself survives."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
from fpdf import FPDF
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from ocr import budget, childlimits
from ocr.engine import OcrEngine, OcrSettings
from ocr.pdfa import check_pdfa
from ocr.quality import normalize
from tests.ocr.pagegen import SANS

pytestmark = pytest.mark.slow

SENTENCE = "Giấy chứng nhận đăng ký hộ kinh doanh số 27A8012345"
MARK = b"SMUGGLED"
_FORBIDDEN_ACTIONS = {Name.JavaScript, Name.Launch, Name.GoToR, Name.GoToE, Name.SubmitForm}


def _base(path: Path) -> Path:
    """A born-digital page with embedded Noto text: kept as text, so no OCR time is spent."""
    pdf = FPDF(format=(148, 210))
    pdf.add_font("noto", fname=str(SANS))
    pdf.set_font("noto", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, SENTENCE)
    pdf.output(str(path))
    return path


def _hostile(tmp_path: Path, smuggle: Callable[[pikepdf.Pdf], None]) -> Path:
    src = _base(tmp_path / "base.pdf")
    out = tmp_path / "hostile.pdf"
    with pikepdf.open(src) as pdf:
        smuggle(pdf)
        pdf.save(out)
    return out


def _js(pdf: pikepdf.Pdf) -> Dictionary:
    return Dictionary(S=Name.JavaScript, JS=String("app.alert('SMUGGLED')"))


def _link(pdf: pikepdf.Pdf, action: Dictionary) -> None:
    link = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[10, 10, 100, 30], A=action)
    )
    pdf.pages[0].obj.Annots = Array([link])


def _assert_clean(out: Path) -> None:
    """Nothing active, attached or smuggled anywhere in the output's objects; still PDF/A."""
    with pikepdf.open(out) as pdf:
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        for obj in pdf.objects:
            if isinstance(obj, Dictionary | pikepdf.Stream):
                keys = set(obj.keys())
                assert not keys & {"/JS", "/AA", "/EmbeddedFiles", "/EF", "/XFA", "/Launch"}
                assert obj.get("/S") not in _FORBIDDEN_ACTIONS
                uri = obj.get("/URI")
                assert not (isinstance(uri, String) and "javascript" in str(uri).lower())
            if isinstance(obj, pikepdf.Stream):
                raw = obj.read_raw_bytes()
                assert MARK not in raw
                codec = set(budget.filters(obj)) & budget.IMAGE_CODECS
                if not codec and budget.decoded_size(obj, 64 << 20) <= 64 << 20:
                    assert MARK not in obj.read_bytes()
                if obj.get("/Filter") == Name.DCTDecode:
                    assert budget.jpeg_end(raw) == len(raw)
    assert out.stat().st_size < 2_000_000  # no bomb carried along
    assert check_pdfa(out).ok


def _run(engine: OcrEngine, src: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out.pdf"
    result = engine.run(src, out, work_dir=tmp_path / "work")
    assert SENTENCE in normalize(result.page_texts[0])  # the real page is still there
    return out


def test_javascript_in_open_action_and_names(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pdf.make_indirect(_js(pdf))
        pdf.Root.Names = Dictionary(
            JavaScript=Dictionary(Names=Array([String("x"), pdf.make_indirect(_js(pdf))]))
        )

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_launch_action_on_a_link_and_in_the_outline(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        launch = Dictionary(S=Name.Launch, F=String("cmd.exe"), Win=Dictionary(F="SMUGGLED"))
        _link(pdf, launch)
        item = pdf.make_indirect(Dictionary(Title=String("Mở"), A=launch))
        outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item))
        item.Parent = outlines
        pdf.Root.Outlines = outlines

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_javascript_uri_and_chained_actions_on_links(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        chained = Dictionary(S=Name.URI, URI=String("https://example.org"), Next=_js(pdf))
        _link(pdf, Dictionary(S=Name.URI, URI=String(" JavaScript:alert(1)"), Next=chained))

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_page_additional_actions(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        pdf.pages[0].obj.AA = Dictionary(O=_js(pdf), C=_js(pdf))
        pdf.Root.AA = Dictionary(WC=_js(pdf))

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_embedded_file_and_xfa(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        pdf.attachments["payload.exe"] = pikepdf.AttachedFileSpec(pdf, b"MZ" + MARK * 100)
        pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=pdf.make_stream(b"<xdp>SMUGGLED"))

    src = _hostile(tmp_path, smuggle)
    out = tmp_path / "out.pdf"
    result = engine.run(src, out, work_dir=tmp_path / "work")
    _assert_clean(out)
    assert [a.name for a in result.attachments] == ["payload.exe"]  # kept beside, not inside


def test_junk_and_unknown_operators_after_the_content(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        page = pdf.pages[0]
        page.contents_coalesce()
        content = page.obj.Contents.read_bytes()
        junk = b"\n1 2 3 SMUGGLED_OP\n/X SMUGGLEDop\n\x00\x01\xfe" + MARK * 50_000 + b"\n("
        page.obj.Contents.write(zlib.compress(content + junk), filter=Name.FlateDecode)

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_bytes_after_the_jpeg_end_of_image(engine: OcrEngine, tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 30, 30)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue() + MARK * 1000

    def smuggle(pdf: pikepdf.Pdf) -> None:
        image = pdf.make_stream(
            jpeg,
            Type=Name.XObject,
            Subtype=Name.Image,
            Width=120,
            Height=80,
            ColorSpace=Name.DeviceRGB,
            BitsPerComponent=8,
            Filter=Name.DCTDecode,
        )
        page = pdf.pages[0]
        page.add_resource(image, Name.XObject, Name.Im9)
        page.contents_add(pdf.make_stream(b"q 60 0 0 40 20 20 cm /Im9 Do Q"))

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_flate_image_longer_than_its_picture(engine: OcrEngine, tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        pixels = b"\x80" * (50 * 40) + MARK * 20_000
        image = pdf.make_stream(
            zlib.compress(pixels),
            Type=Name.XObject,
            Subtype=Name.Image,
            Width=50,
            Height=40,
            ColorSpace=Name.DeviceGray,
            BitsPerComponent=8,
            Filter=Name.FlateDecode,
        )
        page = pdf.pages[0]
        page.add_resource(image, Name.XObject, Name.Im8)
        page.contents_add(pdf.make_stream(b"q 50 0 0 40 20 60 cm /Im8 Do Q"))

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_an_unused_stream_holding_a_bomb(engine: OcrEngine, tmp_path: Path) -> None:
    packer = zlib.compressobj(9)
    block = MARK * (1 << 17)  # 1 MiB
    bomb = b"".join([*(packer.compress(block) for _ in range(256)), packer.flush()])

    def smuggle(pdf: pikepdf.Pdf) -> None:
        pdf.make_indirect(pdf.make_stream(bomb, Filter=Name.FlateDecode))  # reached by nothing

    _assert_clean(_run(engine, _hostile(tmp_path, smuggle), tmp_path))


def test_a_content_stream_beyond_the_budget_ends_the_scan(tmp_path: Path) -> None:
    def smuggle(pdf: pikepdf.Pdf) -> None:
        spaces = zlib.compress(b" " * (8 << 20), 9)
        pdf.pages[0].contents_add(pdf.make_stream(spaces, Filter=Name.FlateDecode))

    src = _hostile(tmp_path, smuggle)
    strict = OcrEngine(OcrSettings(max_stream_bytes=4 << 20))
    with pytest.raises(budget.StreamOverBudget) as info:
        strict.run(src, tmp_path / "out.pdf", work_dir=tmp_path / "work")
    assert info.value.code == "pdf_stream_too_large"
    assert not (tmp_path / "out.pdf").exists()


@pytest.fixture
def restore_child_limit(engine: OcrEngine):  # type: ignore[no-untyped-def]
    yield
    childlimits.install(engine.settings.child_memory_mb)


def test_a_tesseract_child_over_its_memory_limit_fails_the_scan_not_the_worker(
    tmp_path: Path, restore_child_limit: None
) -> None:
    import img2pdf

    image = Image.new("L", (9000, 9000), 255)
    for y in range(200, 8800, 400):
        image.paste(0, (200, y, 8800, y + 40))
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(300, 300))
    src = tmp_path / "large-scan.pdf"
    src.write_bytes(img2pdf.convert(buf.getvalue()))
    tight = OcrEngine(OcrSettings(child_memory_mb=150, rotate_pages=False, deskew=False, jobs=1))
    with pytest.raises(childlimits.ChildMemoryExceeded) as info:
        tight.run(src, tmp_path / "out.pdf", work_dir=tmp_path / "work")
    assert info.value.code == "ocr_memory_limit" and not info.value.retryable
