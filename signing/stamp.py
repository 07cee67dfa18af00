"""The visible signature stamp: a Vietnamese-capable embedded font, its text, its place.

Why not pyHanko's default stamp: it uses a non-embedded Courier, which breaks PDF/A-2b
(rule 6.2.11.4.1) and garbles Vietnamese. pyHanko's ``GlyphAccumulator`` writes glyph widths in
raw font units, so the font must have 1000 units per em (Noto Sans does; DejaVu/Liberation with
2048 render letters 2x apart). pyHanko parses and subsets the font again for every signature,
so the cached subset is small and has no OpenType layout tables: stamp text is NFC-normalised,
and every Vietnamese letter then has its own precomposed glyph (measured: 300 → ~90 ms CPU per
visibly signed page against the full font, 130 ms with the layout tables kept).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import unicodedata
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal

from pyhanko.pdf_utils import generic, layout, text
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import TextStamp, TextStampStyle

from paper.fonts import DEFAULT_FONTS, Fonts
from signing.errors import SignerConfigError, StampFontMissingError

__all__ = [
    "SCAN_STAMP_NOTE",
    "STAMP_HEIGHT",
    "STAMP_MARGIN",
    "STAMP_WIDTH",
    "VN_TZ",
    "VnTextStampStyle",
    "as_tz",
    "default_stamp_style",
    "ensure_stamp_font",
    "printable",
    "scan_stamp_lines",
    "stamp_box",
    "stamp_style",
]

VN_TZ = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
SCAN_STAMP_NOTE = "Bản số hóa từ bản giấy"
STAMP_WIDTH = 200.0
STAMP_HEIGHT = 50.0
STAMP_MARGIN = 15.0
STAMP_FONT_SIZE = 7

Position = Literal["top-left", "top-right"]

# Latin-1, the Vietnamese letters and combining marks, the dong sign, dashes and quotes.
_UNICODE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),
    (0x00A0, 0x00FF),
    (0x0102, 0x0103),
    (0x0110, 0x0111),
    (0x0128, 0x0129),
    (0x0168, 0x0169),
    (0x01A0, 0x01A1),
    (0x01AF, 0x01B0),
    (0x0300, 0x0303),
    (0x0309, 0x0309),
    (0x0323, 0x0323),
    (0x1EA0, 0x1EF9),
    (0x2013, 0x2014),
    (0x2018, 0x201D),
    (0x2026, 0x2026),
    (0x20AB, 0x20AB),
)
_SUBSET_VERSION = "2"

# Appearance-stream matrices that undo the page's /Rotate, so the stamp reads upright.
_MATRICES = {90: (0, 1, -1, 0, 0, 0), 180: (-1, 0, 0, -1, 0, 0), 270: (0, -1, 1, 0, 0, 0)}


def ensure_stamp_font(cache_dir: Path, fonts: Fonts = DEFAULT_FONTS) -> Path:
    """Return a Vietnamese subset of ``fonts.regular`` in ``cache_dir``, making it once.

    The file name carries a digest of the source (path, size, mtime) and the subset spec, so
    a font upgrade makes a new subset instead of reusing a stale one. A missing source is a
    :class:`paper.fonts.FontMissingError`, as for every other printed page.
    """
    fonts.check(bold=False)
    source = fonts.regular
    try:
        st = source.stat()
    except OSError as exc:
        raise StampFontMissingError(f"cannot read stamp font {source}: {exc}") from exc
    digest = hashlib.sha256(
        f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{_SUBSET_VERSION}|{_UNICODE_RANGES}".encode()
    ).hexdigest()[:12]
    target = Path(cache_dir) / f"{source.stem}-vi-{digest}.ttf"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            _subset(source, Path(tmp))
            os.replace(tmp, target)  # atomic: concurrent workers may race, results are equal
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise SignerConfigError(f"cannot write the stamp font cache {target}: {exc}") from exc
    return target


def _subset(source: Path, out: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTLibError

    options = subset.Options()
    options.layout_features = []
    options.drop_tables = [*options.drop_tables, "FFTM", "GSUB", "GPOS", "GDEF"]
    try:
        font = subset.load_font(str(source), options)
    except (TTLibError, OSError) as exc:
        raise StampFontMissingError(f"cannot read stamp font {source}: {exc}") from exc
    try:
        upem = font["head"].unitsPerEm
        if upem != 1000:
            raise SignerConfigError(
                f"stamp font {source} has {upem} units per em; pyHanko needs 1000 "
                "(use Noto Sans from fonts-noto-core)"
            )
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[cp for lo, hi in _UNICODE_RANGES for cp in range(lo, hi + 1)])
        subsetter.subset(font)
        subset.save_font(font, str(out), options)
    finally:
        font.close()


@functools.lru_cache(maxsize=8)
def font_codepoints(font_path: Path) -> frozenset[int]:
    """Code points the font can draw (read once per font file and process)."""
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path), lazy=True) as font:
        return frozenset(font.getBestCmap())


def as_tz(tz: tzinfo | str) -> tzinfo:
    """A tzinfo from an IANA name (settings hold strings) or a tzinfo."""
    if isinstance(tz, str):
        try:
            return zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise SignerConfigError(f"unknown time zone {tz!r}") from exc
    return tz


def scan_stamp_lines(
    clerk_name: str, scanned_at: datetime, *, tz: tzinfo | str = VN_TZ
) -> list[str]:
    """The stamp of a digitised paper: who scanned it, when (local time), and that it is a copy.

    An aware ``scanned_at`` is shown in ``tz``; a naive one is taken as already local.
    """
    local = scanned_at.astimezone(as_tz(tz)) if scanned_at.tzinfo else scanned_at
    return [
        f"Người số hóa: {clerk_name}",
        f"Thời gian: {local:%d/%m/%Y %H:%M}",
        SCAN_STAMP_NOTE,
    ]


def stamp_box(
    page_box: Sequence[float],
    rotate: int,
    position: Position,
    *,
    width: float = STAMP_WIDTH,
    height: float = STAMP_HEIGHT,
    margin: float = STAMP_MARGIN,
) -> tuple[tuple[float, float, float, float], int]:
    """Field rectangle (user space) for a stamp in the visual corner ``position`` of a page.

    ``page_box`` is the visible box (CropBox or MediaBox) and ``rotate`` the page's /Rotate;
    a page shown rotated 90° has its visual top-left at the user-space bottom-left, and so on.
    Returns the rectangle and the normalised rotation (0/90/180/270) for the appearance.
    """
    if position not in ("top-left", "top-right"):
        raise ValueError(f"unknown stamp position {position!r}")
    rot = int(rotate) % 360
    if rot % 90:
        rot = 0  # invalid /Rotate: viewers ignore it, so do we
    x0, y0, x1, y1 = page_box
    llx, urx = sorted((float(x0), float(x1)))
    lly, ury = sorted((float(y0), float(y1)))
    # Visual size of the page, and a stamp shrunk to fit tiny pages.
    vis_w, vis_h = (ury - lly, urx - llx) if rot in (90, 270) else (urx - llx, ury - lly)
    w = max(min(width, vis_w - 2 * margin), 1.0)
    h = max(min(height, vis_h - 2 * margin), 1.0)
    left = position == "top-left"
    if rot == 0:
        x = llx + margin if left else urx - margin - w
        rect = (x, ury - margin - h, x + w, ury - margin)
    elif rot == 90:  # visual right = user +y, visual down = user +x
        y = lly + margin if left else ury - margin - w
        rect = (llx + margin, y, llx + margin + h, y + w)
    elif rot == 180:  # visual right = user -x, visual down = user +y
        x = urx - margin - w if left else llx + margin
        rect = (x, lly + margin, x + w, lly + margin + h)
    else:  # 270: visual right = user -y, visual down = user -x
        y = ury - margin - w if left else lly + margin
        rect = (urx - margin - h, y, urx - margin, y + w)
    llx, lly, urx, ury = rect
    return (round(llx, 2), round(lly, 2), round(urx, 2), round(ury, 2)), rot


class _RotatedTextStamp(TextStamp):
    """A text stamp whose appearance carries a /Matrix that cancels the page rotation."""

    def __init__(
        self,
        *,
        writer: BasePdfFileWriter,
        style: TextStampStyle,
        box: BoxConstraints,
        text_params: dict[str, object] | None,
        rotation: int,
    ) -> None:
        super().__init__(writer=writer, style=style, text_params=text_params, box=box)
        self._rotation = rotation

    def as_form_xobject(self) -> generic.StreamObject:
        xobj = super().as_form_xobject()
        matrix = _MATRICES.get(self._rotation)
        if matrix:
            xobj["/Matrix"] = generic.ArrayObject(
                # pyHanko leaves NumberObject.__new__ unannotated
                [generic.NumberObject(v) for v in matrix]  # type: ignore[no-untyped-call]
            )
        return xobj


@dataclass(frozen=True)
class VnTextStampStyle(TextStampStyle):
    """``TextStampStyle`` that lays text out in the page's visual orientation."""

    page_rotation: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: BoxConstraints, text_params: dict[str, object]
    ) -> TextStamp:
        if self.page_rotation in (90, 270) and box.width_defined and box.height_defined:
            box = BoxConstraints(width=box.height, height=box.width)
        return _RotatedTextStamp(
            writer=writer,
            style=self,
            box=box,
            text_params=text_params,
            rotation=self.page_rotation,
        )


def printable(font_path: Path, value: str) -> str:
    """``value`` in NFC (precomposed glyphs), with characters the font lacks replaced by '?'."""
    covered = font_codepoints(Path(font_path))
    return "".join(ch if ord(ch) in covered else "?" for ch in unicodedata.normalize("NFC", value))


def stamp_style(
    font_path: Path,
    lines: Sequence[str],
    *,
    rotation: int = 0,
    font_size: int = STAMP_FONT_SIZE,
) -> VnTextStampStyle:
    """Stamp style showing ``lines`` literally (NFC, ``%`` escaped, unknown glyphs as '?')."""
    clean = [printable(font_path, line).replace("%", "%%") for line in lines]
    return _style(font_path, "\n".join(clean), rotation, font_size)


def default_stamp_style(
    font_path: Path, *, rotation: int = 0, font_size: int = STAMP_FONT_SIZE
) -> VnTextStampStyle:
    """ "Signed by <CN> / time" stamp used when the caller gives no lines."""
    return _style(font_path, "Đã ký số bởi: %(signer)s\nThời gian: %(ts)s", rotation, font_size)


def _style(font_path: Path, template: str, rotation: int, font_size: int) -> VnTextStampStyle:
    font = GlyphAccumulatorFactory(str(font_path), font_size=font_size)
    return VnTextStampStyle(
        stamp_text=template,
        timestamp_format="%d/%m/%Y %H:%M:%S",
        text_box_style=text.TextBoxStyle(font=font, font_size=font_size),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(left=5, right=5, top=5, bottom=5),
        ),
        border_width=1,
        page_rotation=rotation,
    )
