"""Scanned pages as images: find the one image a scan page draws, decode it, fix its geometry.

A scanner's PDF page is one image painted over the whole page. For such pages we can skip
PDFium and the slow default PNG encoder: the pixels are already there. Anything more complex
(several images, vector art, masks, annotations, CMYK, JBIG2 without ``jbig2dec``) returns
None, and the caller falls back to rendering the page.

Orientation and skew are fixed without touching the image bytes: a quarter turn goes into the
page's ``/Rotate`` and a skew into a rotation matrix wrapped around the page's content, so a
JPEG is never re-encoded and the file does not grow.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import SupportsFloat

import pikepdf
from pikepdf import Dictionary, Name, Object, Stream
from PIL import Image

Affine = tuple[float, float, float, float, float, float]
_IDENTITY: Affine = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_MODES = {"L", "RGB", "1"}
_PAINT_OPS = {"q", "Q", "cm", "Do"}
#: Filter for a deskewed page's OCR image. Not bicubic, which OCRmyPDF's deskew uses: on a noisy
#: scan its overshoot wrecked Tesseract's binarization (harsh 9pt page: 30 % CER against 0.8 %
#: with bilinear); on clean pages the two differ by a character or two. Lanczos costs 20 % more.
RESAMPLE = Image.Resampling.BILINEAR


def affine(values: Iterable[SupportsFloat]) -> Affine:
    """Six PDF numbers (``cm`` operands, a /Matrix) as a matrix; ValueError for another count."""
    a, b, c, d, e, f = (float(v) for v in values)
    return (a, b, c, d, e, f)


def multiply(m: Affine, n: Affine) -> Affine:
    """m then n, in PDF's row-vector convention (``cm`` gives CTM' = M · CTM)."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    )


def inherited(node: Dictionary, key: str) -> Object | None:
    """Page attributes (/Resources, /Rotate, /MediaBox) may live on an ancestor /Pages node."""
    for _ in range(64):  # a deeper page tree is hostile
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if not isinstance(parent, Dictionary):
            return None
        node = parent
    return None


def page_rotation(page: pikepdf.Page) -> int:
    value = inherited(page.obj, "/Rotate")
    try:
        return int(value) % 360 if value is not None else 0
    except (TypeError, ValueError):
        return 0


def page_box(page: pikepdf.Page) -> tuple[float, float, float, float]:
    box = inherited(page.obj, "/MediaBox")
    if box is None:
        raise TypeError("page without a /MediaBox")
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def resource_named(resources: Dictionary, operand: Object) -> Object | None:
    """The resource a content-stream operand names (the ``/Im0`` of ``/Im0 Do``), or None.

    A damaged stream may give a number or a string instead of a name: pikepdf then raises
    (TypeError, PdfError), and every caller treats that as unreadable content.
    """
    # pikepdf's stub takes only a Name (or str, int) key; its binding takes any object.
    value: Object | None = resources.get(operand)  # type: ignore[call-overload]
    return value


def page_has_text(page: pikepdf.Page) -> bool:
    """Any text-showing operator in the page or its Form XObjects (visible or not)."""
    return text_drawn(page)[0]


def text_drawn(page: pikepdf.Page) -> tuple[bool, bool]:
    """(draws any glyph, draws a visible one), in the page and its Form XObjects.

    Render mode 3 is invisible: the text layer OCR lays over a scan.
    """
    seen: set[tuple[int, int]] = set()
    found = False

    def walk(container: Object | pikepdf.Page, resources: Object | None, mode: int) -> bool:
        """True as soon as a visible glyph is drawn."""
        nonlocal found
        stack: list[int] = []
        xobjs = resources.get("/XObject") if isinstance(resources, Dictionary) else None
        for instruction in pikepdf.parse_content_stream(container, "q Q Tr Tj TJ ' \" Do"):
            operands, name = instruction.operands, str(instruction.operator)
            if name == "q":
                stack.append(mode)
            elif name == "Q":
                mode = stack.pop() if stack else mode
            elif name == "Tr":
                mode = int(operands[0]) if operands else mode
            elif name == "Do":
                xobj = resource_named(xobjs, operands[0]) if isinstance(xobjs, Dictionary) else None
                if (
                    isinstance(xobj, Stream)
                    and xobj.get("/Subtype") == Name.Form
                    and xobj.objgen not in seen
                ):
                    seen.add(xobj.objgen)
                    if walk(xobj, xobj.get("/Resources", resources), mode):
                        return True
            else:
                found = True
                if mode != 3:
                    return True
        return False

    visible = walk(page, inherited(page.obj, "/Resources"), 0)
    return found, visible


def single_image(page: pikepdf.Page) -> tuple[Stream, Affine] | None:
    """The page's only image XObject and its CTM, if the page draws nothing else."""
    if page.obj.get("/Annots"):
        return None
    resources = inherited(page.obj, "/Resources")
    xobjs = resources.get("/XObject") if isinstance(resources, Dictionary) else None
    if not isinstance(xobjs, Dictionary):
        return None
    ctm = _IDENTITY
    stack: list[Affine] = []
    found: tuple[Stream, Affine] | None = None
    for instruction in pikepdf.parse_content_stream(page):
        operands, name = instruction.operands, str(instruction.operator)
        if name not in _PAINT_OPS:
            return None
        if name == "q":
            stack.append(ctm)
        elif name == "Q":
            ctm = stack.pop() if stack else ctm
        elif name == "cm":
            ctm = multiply(affine(operands), ctm)
        else:
            xobj = resource_named(xobjs, operands[0])
            if found is not None or not isinstance(xobj, Stream):
                return None
            if xobj.get("/Subtype") != Name.Image or any(
                k in xobj for k in ("/SMask", "/Mask", "/Decode", "/SMaskInData")
            ):
                return None
            if xobj.get("/ImageMask"):
                return None
            found = (xobj, ctm)
    return found


def decode(xobj: Stream, *, min_size: tuple[int, int] | None = None) -> Image.Image | None:
    """Decode an image XObject with Pillow; ``min_size`` lets a JPEG decode at 1/2..1/8 scale."""
    im: Image.Image
    try:
        filters = xobj.get("/Filter")
        if filters == Name.DCTDecode or (
            isinstance(filters, pikepdf.Array) and list(filters) == [Name.DCTDecode]
        ):
            im = Image.open(io.BytesIO(xobj.read_raw_bytes()))
            if min_size is not None:
                im.draft(im.mode, min_size)
        else:
            im = pikepdf.PdfImage(xobj).as_pil_image()
        im.load()
    except Image.DecompressionBombError:
        raise
    except Exception:  # any codec trouble (JBIG2 without jbig2dec, odd JPX) -> PDFium renders it
        return None
    if im.mode not in _MODES:
        return None
    return im


def _device_map(
    image_size: tuple[int, int], ctm: Affine, box: Sequence[float], dpi: tuple[float, float]
) -> Affine:
    """Image pixel (i, j) -> unrotated device pixel (u, v), as (A11, A12, A21, A22, B1, B2)."""
    w, h = image_size
    a, b, c, d, e, f = ctm
    kx, ky = dpi[0] / 72, dpi[1] / 72
    x0, y1 = box[0], box[3]
    return (kx * a / w, -kx * c / h, -ky * b / w, ky * d / h, kx * (c + e - x0), ky * (y1 - d - f))


def _invert(m: Affine) -> Affine | None:
    a11, a12, a21, a22, b1, b2 = m
    det = a11 * a22 - a12 * a21
    if abs(det) < 1e-12:
        return None
    i11, i12, i21, i22 = a22 / det, -a12 / det, -a21 / det, a11 / det
    return (i11, i12, -(i11 * b1 + i12 * b2), i21, i22, -(i21 * b1 + i22 * b2))


_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def _white(mode: str) -> int | tuple[int, int, int]:
    return (255, 255, 255) if mode == "RGB" else (1 if mode == "1" else 255)


def render(page: pikepdf.Page, dpi: tuple[float, float]) -> Image.Image | None:
    """The page as PDFium would draw it at ``dpi`` (MediaBox, /Rotate applied), or None.

    Only for single-image pages; the image is resampled only when its placement is not a plain
    scale at exactly ``dpi`` (a deskew matrix, a differing resolution).
    """
    found = single_image(page)
    if found is None:
        return None
    xobj, ctm = found
    im = decode(xobj)
    if im is None:
        return None
    box = page_box(page)
    size = (round((box[2] - box[0]) * dpi[0] / 72), round((box[3] - box[1]) * dpi[1] / 72))
    fwd = _device_map(im.size, ctm, box, dpi)
    plain = (
        max(abs(fwd[0] - 1), abs(fwd[1]), abs(fwd[2]), abs(fwd[3] - 1)) < 1e-3
        and max(abs(fwd[4]), abs(fwd[5])) < 0.5
    )
    if plain and abs(im.width - size[0]) <= 2 and abs(im.height - size[1]) <= 2:
        if im.size != size:
            canvas = Image.new(im.mode, size, _white(im.mode))
            canvas.paste(im, (0, 0))
            im = canvas
    else:
        inverse = _invert(fwd)
        if inverse is None or im.mode == "1":
            return None
        im = im.transform(
            size,
            Image.Transform.AFFINE,
            inverse,
            resample=RESAMPLE,
            fillcolor=_white(im.mode),
        )
    rotation = page_rotation(page)
    if rotation in _TRANSPOSE:
        im = im.transpose(_TRANSPOSE[rotation])
    return im


def preview(page: pikepdf.Page, min_dpi: float) -> tuple[Image.Image, float, float] | None:
    """A cheap as-displayed view of a scan page for geometry detection: (image, its dpi, the
    scan's own dpi).

    Only for an image placed by a plain scale with square pixels; JPEGs decode at reduced size.
    """
    found = single_image(page)
    if found is None:
        return None
    xobj, (a, b, c, d, _e, _f) = found
    if abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
        return None
    w, h = int(xobj.get("/Width", 0)), int(xobj.get("/Height", 0))
    if w <= 0 or h <= 0:
        return None
    dpi_x, dpi_y = w * 72 / a, h * 72 / d
    if abs(dpi_x - dpi_y) > 0.02 * dpi_x:
        return None
    scale = max(1, min(8, int(dpi_x / min_dpi)))
    im = decode(xobj, min_size=(math.ceil(w / scale), math.ceil(h / scale)))
    if im is None:
        return None
    dpi = dpi_x * im.width / w
    rotation = page_rotation(page)
    if rotation in _TRANSPOSE:
        im = im.transpose(_TRANSPOSE[rotation])
    return im, dpi, dpi_x


def straighten(page: pikepdf.Page, *, rotate_cw: int, skew_ccw: float) -> None:
    """Turn the page by ``rotate_cw`` (added to /Rotate) and level it by ``skew_ccw`` degrees.

    The skew becomes a rotation about the MediaBox centre wrapped around the existing content,
    which is exact whatever the page holds and leaves every image stream untouched.
    """
    if rotate_cw % 360:
        page.obj.Rotate = (page_rotation(page) + rotate_cw) % 360
    if skew_ccw:
        x0, y0, x1, y1 = page_box(page)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        t = math.radians(skew_ccw)
        cos, sin = math.cos(t), math.sin(t)
        e, f = cx - cos * cx + sin * cy, cy - sin * cx - cos * cy
        matrix = " ".join(f"{v:.6f}" for v in (cos, sin, -sin, cos, e, f))
        page.contents_coalesce()
        page.contents_add(f"q {matrix} cm\n".encode(), prepend=True)
        page.contents_add(b"\nQ\n", prepend=False)
