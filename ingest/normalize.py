"""Normalize step: every accepted upload becomes one PDF that OCRmyPDF can take.

Images go into the PDF losslessly (img2pdf embeds JPEG bytes as they are and PNG/TIFF pixels
without re-encoding), keeping their resolution and EXIF orientation. Each image is decoded once
here, so a truncated or damaged file fails now, with a reason, instead of deep inside OCR.
"""

from __future__ import annotations

import logging
import shutil
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import CorruptFile
from ingest.limits import Limits
from ingest.validate import PDF, damaged_image, image_too_large, inspect, pillow_limit

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

DEFAULT_DPI = 300
MISSING_DPI_WARNING = "dpi_missing_assumed_300"


@dataclass
class NormalizedInput:
    pdf: Path
    pages: int
    warnings: list[str] = field(default_factory=list)


def normalize(src: Path, work_dir: Path, limits: Limits) -> NormalizedInput:
    """Turn ``src`` (any accepted type) into ``work_dir/normalized.pdf``.

    :func:`inspect` runs again here, budgets included: the worker's second line of defence for
    a file that reached it without the upload's checks (or under older, looser settings).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    inspection = inspect(src, limits)
    dest = work_dir / "normalized.pdf"
    if inspection.media_type == PDF:
        _check_pdf_readable(src)
        shutil.copyfile(src, dest)
        return NormalizedInput(dest, inspection.pages)
    return _images_to_pdf(src, dest, work_dir, limits)


def _check_pdf_readable(src: Path) -> None:
    """Walk every page once, so loops and broken page trees fail here with a clear reason."""
    import pikepdf

    try:
        with pikepdf.open(src) as pdf:
            for page in pdf.pages:
                page.mediabox  # noqa: B018 - touching it resolves the inherited box
    except (pikepdf.PdfError, RecursionError, OSError, ValueError, KeyError) as exc:
        log.info("unreadable PDF page tree: %s: %s", type(exc).__name__, exc)
        raise CorruptFile(
            "Tệp PDF bị hỏng, không đọc được: hãy xuất lại tệp hoặc quét lại giấy tờ. "
            "(The PDF is damaged and cannot be read.)"
        ) from None


def _images_to_pdf(src: Path, dest: Path, work_dir: Path, limits: Limits) -> NormalizedInput:
    import img2pdf
    from PIL import Image, UnidentifiedImageError

    notes: list[str] = []
    frames: list[Path] | None = None
    dpi_missing = False
    pillow_limit(limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on damaged metadata
            with Image.open(src) as img:
                # inspect() has checked the page count and pixel limits on the headers.
                count = getattr(img, "n_frames", 1)
                dpi_missing = _dpi_missing(img)
                needs_flatten = False
                for i in range(count):
                    if i:
                        img.seek(i)
                    img.load()  # full decode: truncated and corrupt data fail here
                    needs_flatten |= _needs_flatten(img)
                if needs_flatten:
                    frames = _flatten_frames(img, count, work_dir)
                    notes.append("alpha_or_high_bit_depth_flattened")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise image_too_large(limits) from None
    except UnidentifiedImageError:
        raise CorruptFile("the image cannot be read; it is damaged or not an image") from None
    except (OSError, SyntaxError, ValueError, TypeError, struct.error, EOFError) as exc:
        raise damaged_image(exc) from None

    layout = img2pdf.get_fixed_dpi_layout_fun((DEFAULT_DPI, DEFAULT_DPI)) if dpi_missing else None
    if dpi_missing:
        notes.append(MISSING_DPI_WARNING)
    inputs = [str(p) for p in frames] if frames else [str(src)]
    kwargs = {"rotation": img2pdf.Rotation.ifvalid}
    if layout is not None:
        kwargs["layout_fun"] = layout
    try:
        with dest.open("wb") as out:
            img2pdf.convert(*inputs, outputstream=out, **kwargs)
    except (img2pdf.ImageOpenError, img2pdf.AlphaChannelError, ValueError, OSError) as exc:
        raise damaged_image(exc) from None
    return NormalizedInput(dest, len(frames) if frames else count, notes)


def _dpi_missing(img: object) -> bool:
    """True when the scan carries no usable resolution (absent, zero, or TIFF's 1×1 default)."""
    dpi = getattr(img, "info", {}).get("dpi")
    if not dpi:
        return True
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return True
    return x < 2 or y < 2


def _needs_flatten(img: object) -> bool:
    mode = getattr(img, "mode", "")
    info = getattr(img, "info", {})
    return mode in ("RGBA", "LA", "PA", "I;16", "I;16B", "I;16L", "I", "F") or (
        mode == "P" and "transparency" in info
    )


def _flatten_frames(img: Image.Image, count: int, work_dir: Path) -> list[Path]:
    """img2pdf refuses alpha; composite on white and keep the pixels lossless as PNG."""
    from PIL import Image

    out: list[Path] = []
    for i in range(count):
        img.seek(i)
        frame = img.convert("RGBA") if img.mode in ("P", "PA", "LA", "RGBA") else img
        if frame.mode == "RGBA":
            background = Image.new("RGB", frame.size, "white")
            background.paste(frame, mask=frame.getchannel("A"))
            frame = background
        elif frame.mode not in ("L", "RGB", "1"):
            frame = frame.point(lambda v: v / 256).convert("L")
        path = work_dir / f"frame-{i:04d}.png"
        dpi = img.info.get("dpi")
        frame.save(path, format="PNG", dpi=dpi) if dpi else frame.save(path, format="PNG")
        out.append(path)
    return out
