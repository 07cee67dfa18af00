"""Upload checks and normalization on real and hostile files."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from ingest import errors
from ingest.limits import Limits
from ingest.normalize import MISSING_DPI_WARNING, normalize
from ingest.validate import JPEG, PDF, PNG, TIFF, display_name, inspect, sniff, spool

LIMITS = Limits(
    max_bytes=50 * 2**20, max_pages=20, max_page_pixels=60_000_000, max_total_pixels=200_000_000
)


def _image(path: Path, fmt: str, *, size=(600, 800), mode="L", dpi=(300, 300), **kw) -> Path:
    im = Image.new(mode, size, 255 if mode in ("L", "1") else "white")
    if dpi:
        kw["dpi"] = dpi
    im.save(path, fmt, **kw)
    return path


def test_sniff_by_content_not_name(tmp_path: Path) -> None:
    png_named_pdf = _image(tmp_path / "scan.pdf", "PNG")
    assert inspect(png_named_pdf, LIMITS).media_type == PNG
    assert sniff(b"\xff\xd8\xff\xe0rest") == JPEG
    assert sniff(b"II*\x00....") == TIFF
    assert sniff(b"junk before %PDF-1.7") == PDF
    with pytest.raises(errors.UnsupportedMediaType):
        sniff(b"GIF89a......")
    with pytest.raises(errors.EmptyUpload):
        sniff(b"")


def test_spool_hashes_and_caps(tmp_path: Path) -> None:
    spooled = spool([b"a" * 10, b"b" * 10], tmp_path / "x", max_bytes=100)
    assert spooled.size == 20
    import hashlib

    assert spooled.sha256 == hashlib.sha256(b"a" * 10 + b"b" * 10).hexdigest()
    with pytest.raises(errors.UploadTooLarge):
        spool([b"x" * 60, b"x" * 60], tmp_path / "y", max_bytes=100)
    with pytest.raises(errors.EmptyUpload):
        spool([], tmp_path / "z", max_bytes=100)


def test_pixel_and_page_caps(tmp_path: Path) -> None:
    big = _image(tmp_path / "big.png", "PNG", size=(9000, 9000), mode="1")
    with pytest.raises(errors.ImageTooLarge):
        inspect(big, LIMITS)
    frames = [Image.new("L", (50, 50), 255) for _ in range(25)]
    tif = tmp_path / "many.tif"
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    with pytest.raises(errors.TooManyPages):
        inspect(tif, LIMITS)


def test_encrypted_pdf_needs_password(corpus: Path) -> None:
    enc = corpus / "ocrmypdf" / "skew-encrypted.pdf"
    with pytest.raises(errors.EncryptedPdf) as info:
        inspect(enc, LIMITS)
    assert "password" in str(info.value)
    with pytest.raises(errors.WrongPassword):
        inspect(enc, LIMITS, password="nope")
    assert inspect(enc, LIMITS, password="password").encrypted


def test_invalid_pdf_refused(corpus: Path) -> None:
    with pytest.raises(errors.CorruptFile):
        inspect(corpus / "ocrmypdf" / "invalid.pdf", LIMITS)


def test_dynamic_xfa_form_refused_at_upload_with_what_to_do(corpus: Path) -> None:
    with pytest.raises(errors.XfaForm) as info:
        inspect(corpus / "ocrmypdf" / "livecycle.pdf", LIMITS)
    assert info.value.code == "xfa_form" and info.value.http_status == 422
    assert "Adobe Reader" in str(info.value) and "tải lên" in str(info.value)


def test_multipage_tiff_to_pdf_lossless(tmp_path: Path) -> None:
    frames = [Image.new("L", (300, 400), v) for v in (0, 128, 255)]
    for i, f in enumerate(frames):
        f.putpixel((i, i), 17)
    tif = tmp_path / "three.tif"
    frames[0].save(
        tif, save_all=True, append_images=frames[1:], dpi=(200, 200), compression="tiff_lzw"
    )
    out = normalize(tif, tmp_path / "w", LIMITS)
    assert out.pages == 3
    assert MISSING_DPI_WARNING not in out.warnings
    with pikepdf.open(out.pdf) as pdf:
        assert len(pdf.pages) == 3
        # 300 px at 200 dpi = 1.5 in = 108 pt: the resolution was respected.
        assert float(pdf.pages[0].mediabox[2]) == pytest.approx(108, abs=0.5)
        for page, original in zip(pdf.pages, frames, strict=True):
            ((_name, raw),) = page.get_images().items()
            decoded = pikepdf.PdfImage(raw).as_pil_image()
            assert decoded.tobytes() == original.tobytes(), "pixels changed on the way into the PDF"


def test_missing_dpi_assumed_300_with_warning(tmp_path: Path) -> None:
    png = _image(tmp_path / "nodpi.png", "PNG", size=(2480, 3508), dpi=None)
    out = normalize(png, tmp_path / "w", LIMITS)
    assert MISSING_DPI_WARNING in out.warnings
    with pikepdf.open(out.pdf) as pdf:
        assert float(pdf.pages[0].mediabox[2]) == pytest.approx(595.2, abs=1)  # A4 width at 300 dpi


def test_jpeg_bytes_embedded_unchanged_and_exif_rotation(tmp_path: Path, corpus: Path) -> None:
    src = corpus / "hostile" / "pillow" / "hopper_orientation_6.jpg"
    out = normalize(src, tmp_path / "w", LIMITS)
    with pikepdf.open(out.pdf) as pdf:
        page = pdf.pages[0]
        assert int(page.obj.get("/Rotate", 0)) % 360 == 90
        ((_, raw),) = page.get_images().items()
        assert raw.read_raw_bytes() == src.read_bytes()


def test_alpha_png_flattened(tmp_path: Path) -> None:
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    im.putpixel((5, 5), (255, 0, 0, 255))
    path = tmp_path / "alpha.png"
    im.save(path, dpi=(300, 300))
    out = normalize(path, tmp_path / "w", LIMITS)
    with pikepdf.open(out.pdf) as pdf:
        ((_, raw),) = pdf.pages[0].get_images().items()
        pil = pikepdf.PdfImage(raw).as_pil_image().convert("RGB")
        assert pil.getpixel((5, 5)) == (255, 0, 0)
        assert pil.getpixel((50, 50)) == (255, 255, 255)


@pytest.mark.parametrize(
    "name",
    [
        "truncated_jpeg.jpg",
        "truncated_image.png",
        "broken_data_stream.png",
        "broken.png",
        "oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif",
        "crash-2020-10-test.tif",
    ],
)
def test_damaged_images_fail_with_reason(tmp_path: Path, corpus: Path, name: str) -> None:
    with pytest.raises(errors.IngestError) as info:
        normalize(corpus / "hostile" / "pillow" / name, tmp_path / "w", LIMITS)
    assert info.value.code in {"file_corrupt", "image_too_large"}


def test_display_name_is_never_a_path() -> None:
    assert display_name("../../etc/passwd", PDF) == "passwd"
    assert display_name("C:\\x\\Giấy khai sinh.pdf", PDF) == "Giấy khai sinh.pdf"
    assert display_name("\x00\n", JPEG) == "scan.jpg"
    assert "/" not in display_name("a/b/../c.png", PNG)


def test_zero_dpi_exif_does_not_crash(tmp_path: Path, corpus: Path) -> None:
    out = normalize(
        corpus / "hostile" / "pillow" / "exif-dpi-zerodivision.jpg", tmp_path / "w", LIMITS
    )
    assert out.pages == 1
    with pikepdf.open(out.pdf) as pdf:
        assert float(pdf.pages[0].mediabox[2]) > 0
