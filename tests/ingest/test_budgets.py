"""PDF and image budgets: hostile files are refused at upload and in the worker, before any
render, with a code the counter's software can act on and a message without server details."""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Name
from PIL import Image

from ingest import errors
from ingest.limits import Limits
from ingest.normalize import normalize
from ingest.runner import run_step
from ingest.validate import PDF, inspect
from storage.db import session_scope
from storage.models import Scan, ScanStatus, Step
from tests.factories import make_scan
from wiring.factory import Services

LIMITS = Limits(
    max_bytes=50 * 2**20,
    max_pages=20,
    max_page_pixels=120_000_000,
    max_total_pixels=2_000_000_000,
    max_stream_bytes=16 * 2**20,
    max_inflated_bytes=64 * 2**20,
)
A4 = (595.0, 842.0)


def _pdf(path: Path, *sizes: tuple[float, float], user_unit: float | None = None) -> Path:
    pdf = pikepdf.new()
    for size in sizes or (A4,):
        page = pdf.add_blank_page(page_size=size)
        if user_unit is not None:
            page.obj.UserUnit = user_unit
        page.obj.Contents = pdf.make_stream(b"0 0 m 100 100 l S")
    pdf.save(path)
    return path


def _deflate(size: int, byte: bytes = b" ") -> bytes:
    """``size`` bytes of ``byte`` deflated, without holding them all at once."""
    packer = zlib.compressobj(9)
    block = byte * (1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def _with_stream(path: Path, data: bytes, *, on_page: bool, **keys: object) -> Path:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=A4)
    stream = pdf.make_stream(data, Filter=Name.FlateDecode, **keys)
    if on_page:
        page.obj.Contents = stream
    else:
        pdf.Root.Unused = stream  # kept in the file, reached by nothing that draws
    pdf.save(path)
    return path


def _refused(path: Path, kind: type[errors.IngestError], limits: Limits = LIMITS) -> str:
    with pytest.raises(kind) as info:
        inspect(path, limits)
    exc = info.value
    assert exc.http_status in (413, 422)
    assert str(path.parent) not in exc.message and "Error" not in exc.message
    return exc.message


def test_a_one_kilobyte_pdf_with_a_poster_page_is_refused_before_rendering(tmp_path: Path) -> None:
    huge = _pdf(tmp_path / "huge.pdf", (14400, 14400))  # 200 × 200 inches
    assert huge.stat().st_size < 1024
    message = _refused(huge, errors.PageTooLarge)
    assert "A4" in message  # says what to do
    assert errors.PageTooLarge.code == "page_too_large"


def test_user_unit_scales_the_page_it_declares(tmp_path: Path) -> None:
    small_box = _pdf(tmp_path / "unit.pdf", A4, user_unit=20.0)  # A4 × 20 each way
    _refused(small_box, errors.PageTooLarge)
    assert inspect(_pdf(tmp_path / "a4.pdf", A4), LIMITS).pages == 1


def test_rotation_does_not_change_the_area(tmp_path: Path) -> None:
    path = _pdf(tmp_path / "rot.pdf", (14400, 100))
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].obj.Rotate = 90
        pdf.save(path)
    _refused(path, errors.PageTooLarge, Limits(**{**LIMITS.__dict__, "max_page_area_in2": 200}))


def test_page_pixels_at_300_dpi_are_bounded_where_the_area_would_pass(tmp_path: Path) -> None:
    # 40 × 40 in = 1,600 in²: allowed by area here, but 144 MP at 300 dpi.
    page = _pdf(tmp_path / "poster.pdf", (2880, 2880))
    limits = Limits(**{**LIMITS.__dict__, "max_page_area_in2": 10_000})
    _refused(page, errors.PagePixelsTooMany, limits)


def test_pixels_of_the_whole_document_are_bounded(tmp_path: Path) -> None:
    three = _pdf(tmp_path / "three.pdf", A4, A4, A4)  # 8.7 MP each at 300 dpi
    limits = Limits(**{**LIMITS.__dict__, "max_document_pixels": 20_000_000})
    _refused(three, errors.DocumentPixelsTooMany, limits)
    assert inspect(_pdf(tmp_path / "two.pdf", A4, A4), limits).pages == 2


def test_a_content_bomb_is_refused_by_its_inflation_ratio(tmp_path: Path) -> None:
    bomb = _with_stream(tmp_path / "bomb.pdf", _deflate(64 << 20), on_page=True)
    assert bomb.stat().st_size < 200_000
    message = _refused(bomb, errors.InflationRatio)
    assert "bom" in message


def test_a_stream_over_the_size_budget_is_refused_even_if_it_compresses_modestly(
    tmp_path: Path,
) -> None:
    noise = bytes(range(256)) * (80 << 12)  # 20 MiB that deflates poorly
    path = _with_stream(tmp_path / "big.pdf", zlib.compress(noise), on_page=True)
    _refused(path, errors.StreamTooLarge)


def test_an_unused_stream_counts_too(tmp_path: Path) -> None:
    path = _with_stream(tmp_path / "unused.pdf", _deflate(64 << 20), on_page=False)
    _refused(path, errors.InflationRatio)


def test_all_streams_together_are_bounded(tmp_path: Path) -> None:
    # Images are exempt from the ratio (a blank scan deflates 1000:1) but not from the total.
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=A4)
    xobjects = {}
    for i in range(12):
        xobjects[f"/Im{i}"] = pdf.make_stream(
            _deflate(6 << 20, b"\xff"),
            Filter=Name.FlateDecode,
            Type=Name.XObject,
            Subtype=Name.Image,
            Width=2048,
            Height=3072,
            ColorSpace=Name.DeviceGray,
            BitsPerComponent=8,
        )
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(xobjects))
    pdf.save(tmp_path / "many.pdf")
    _refused(tmp_path / "many.pdf", errors.InflatedTooLarge)
    roomy = Limits(**{**LIMITS.__dict__, "max_inflated_bytes": 100 * 2**20})
    assert inspect(tmp_path / "many.pdf", roomy).pages == 1


def test_an_image_declaring_too_many_pixels_is_refused(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=A4)
    image = pdf.make_stream(
        zlib.compress(b"\0" * 1000),
        Filter=Name.FlateDecode,
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=20_000,
        Height=20_000,
        ColorSpace=Name.DeviceGray,
        BitsPerComponent=8,
    )
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    pdf.save(tmp_path / "img.pdf")
    _refused(tmp_path / "img.pdf", errors.PdfImageTooLarge)


def _tiff_lzw(pixels: bytes, width: int) -> bytes:
    """LZW data as a TIFF writer makes it (the same code as PDF's LZWDecode, EarlyChange 1)."""
    image = Image.frombytes("L", (width, len(pixels) // width), pixels)
    buf = io.BytesIO()
    image.save(buf, "TIFF", compression="tiff_lzw", rowsperstrip=image.height)
    with Image.open(io.BytesIO(buf.getvalue())) as tiff:
        offset, length = tiff.tag_v2[273][0], tiff.tag_v2[279][0]
    return buf.getvalue()[offset : offset + length]


def test_chained_lzw_and_run_length_streams_are_measured_not_refused(tmp_path: Path) -> None:
    """Old producers' filters (ASCII85 over Flate, LZW, RunLength) are decoded with a ceiling:
    an ordinary file using them passes, and a bomb hidden behind them is still caught."""
    from ocr.budget import lzw_at_most, run_length_at_most

    # The worked example of ISO 32000-1 7.4.4.2, and a Pillow-made LZW strip.
    assert lzw_at_most(bytes.fromhex("800B6050220C0C8501"), 100) == b"-----A---B"
    text = bytes(range(32, 127)) * 600  # one TIFF strip (Pillow cuts strips at 64 KiB)
    assert lzw_at_most(_tiff_lzw(text, 95), 10**6) == text
    noisy = bytes(b"abcde"[(i * 7919 + i // 13) % 5] for i in range(60_000))  # table resets
    assert lzw_at_most(_tiff_lzw(noisy, 300), 10**6) == noisy
    assert len(lzw_at_most(_tiff_lzw(noisy, 300), 1000)) == 1001
    assert run_length_at_most(b"\x02abc\xfez\x80", 100) == b"abczzz"

    page = b"BT /F1 12 Tf 72 700 Td (Giay to) Tj ET\n" * 400
    a85 = pikepdf.new()
    stream = a85.make_stream(b"")
    stream.write(
        base64.a85encode(zlib.compress(page), adobe=False) + b"~>",
        filter=[Name.ASCII85Decode, Name.FlateDecode],
    )
    a85.add_blank_page(page_size=A4).obj.Contents = stream
    a85.save(tmp_path / "a85.pdf")
    assert inspect(tmp_path / "a85.pdf", LIMITS).pages == 1

    lzw = pikepdf.new()
    lzw.add_blank_page(page_size=A4).obj.Contents = lzw.make_stream(
        _tiff_lzw(page, len(page) // 8), Filter=Name.LZWDecode
    )
    lzw.save(tmp_path / "lzw.pdf")
    assert inspect(tmp_path / "lzw.pdf", LIMITS).pages == 1

    bomb = pikepdf.new()
    stream = bomb.make_stream(b"")
    packed = _deflate(64 << 20)
    stream.write(
        base64.a85encode(packed, adobe=False) + b"~>", filter=[Name.ASCII85Decode, Name.FlateDecode]
    )
    bomb.add_blank_page(page_size=A4).obj.Contents = stream
    bomb.save(tmp_path / "a85-bomb.pdf")
    _refused(tmp_path / "a85-bomb.pdf", errors.InflationRatio)


def test_an_ordinary_scan_passes(tmp_path: Path) -> None:
    import img2pdf

    buf = io.BytesIO()
    Image.new("L", (2480, 3508), 255).save(buf, "PNG", dpi=(300, 300))
    path = tmp_path / "scan.pdf"
    path.write_bytes(img2pdf.convert([buf.getvalue()] * 3))
    assert inspect(path, LIMITS).pages == 3


def _bilevel_png(path: Path, width: int, height: int) -> Path:
    Image.new("1", (width, height), 1).save(path, "PNG")
    return path


def test_our_pixel_limit_decides_for_images_not_pillows_own_guard(tmp_path: Path) -> None:
    # 100 MP: above Pillow's default guard (89 MP warning), below our 120 MP setting.
    png = _bilevel_png(tmp_path / "large.png", 10_000, 10_000)
    assert inspect(png, LIMITS).pages == 1
    normalized = normalize(png, tmp_path / "work", LIMITS)
    assert normalized.pages == 1
    stricter = Limits(**{**LIMITS.__dict__, "max_page_pixels": 90_000_000})
    with pytest.raises(errors.ImageTooLarge) as info:
        inspect(png, stricter)
    assert info.value.code == "image_too_large"
    assert "Pillow" not in info.value.message and "bomb" not in info.value.message


def test_damage_is_reported_without_paths_or_library_text(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n")
    with pytest.raises(errors.CorruptFile) as info:
        inspect(broken, LIMITS)
    assert str(tmp_path) not in info.value.message
    assert "qpdf" not in info.value.message.lower() and "xref" not in info.value.message.lower()
    png = tmp_path / "cut.png"
    Image.new("L", (400, 400), 128).save(png, "PNG")
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(errors.CorruptFile) as info:
        normalize(png, tmp_path / "work", LIMITS)
    assert str(tmp_path) not in info.value.message and "truncated" not in info.value.message


def test_the_worker_refuses_it_too_and_keeps_the_original(
    services: Services, tmp_path: Path
) -> None:
    """A file accepted under looser settings meets the budgets again in the worker."""
    huge = _pdf(tmp_path / "huge.pdf", (14400, 14400))
    with pytest.raises(errors.PageTooLarge):
        normalize(huge, tmp_path / "work", LIMITS)
    key = "originals/budget-test/original.pdf"
    services.store.put_file(key, huge, content_type=PDF)
    scan = make_scan(media_type=PDF, original_key=key, filename="huge.pdf")
    with session_scope(services.sessions) as session:
        session.add(scan)
        session.flush()
        scan_id = scan.id
    outcome = run_step(services, scan_id, Step.OCR)
    assert outcome.failed
    with session_scope(services.sessions) as session:
        row = session.get(Scan, scan_id)
        assert row is not None
        assert row.status == ScanStatus.FAILED and row.reason_code == "page_too_large"
        assert row.reason_message and "Trang 1" in row.reason_message
    assert services.store.exists(key)  # the original is kept for whoever must look
