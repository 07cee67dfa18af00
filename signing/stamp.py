"""The visible signature stamp: a Vietnamese-capable embedded font, its text, its place.

Why not pyHanko's default stamp: it uses a non-embedded Courier, which breaks PDF/A-2b
(rule 6.2.11.4.1) and garbles Vietnamese. pyHanko's ``GlyphAccumulator`` writes glyph widths in
raw font units, so the font must have 1000 units per em (Noto Sans does; DejaVu/Liberation with
2048 render letters 2x apart). The cached subset is small and has no OpenType layout tables:
stamp text is NFC-normalised, and every Vietnamese letter then has its own precomposed glyph
(measured: 300 → ~90 ms CPU per visibly signed page against the full font, 130 ms with the
layout tables kept).

pyHanko would also subset and compile that font again for every signature (≈10 ms, the largest
cost left in a signature). :class:`StampFontFactory` keeps, per process, the font programs it
embedded, keyed by their glyph set, and always embeds the digits and the stamp's fixed words:
a stamp's glyphs then differ only by the signer's name, and a clerk's second document reuses
the first one's program.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import threading
import unicodedata
import zoneinfo
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal

from pyhanko.pdf_utils import generic, layout, text
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator
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
    "StampFontFactory",
    "VnTextStampStyle",
    "as_tz",
    "default_stamp_style",
    "ensure_stamp_font",
    "printable",
    "scan_stamp_lines",
    "stamp_box",
    "stamp_font_factory",
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
    font = stamp_font_factory(Path(font_path), font_size)
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


# Always embedded: the glyphs of every fixed part of a stamp (labels, dates, times, '?').
_ALWAYS_EMBEDDED = "0123456789/:.,-?% " + " ".join(
    ("Người số hóa", "Thời gian", SCAN_STAMP_NOTE, "Đã ký số bởi")
)
_PROGRAMS_KEPT = 256  # font programs of ~7 KB each: one per signer name in use


def stamp_font_factory(font_path: Path, font_size: int = STAMP_FONT_SIZE) -> StampFontFactory:
    """The process-wide factory for one stamp font file and size (its cache lives in it)."""
    return _factory(Path(font_path), font_size)


@functools.lru_cache(maxsize=8)
def _factory(font_path: Path, font_size: int) -> StampFontFactory:
    return StampFontFactory(font_path, font_size)


class StampFontFactory(FontEngineFactory):
    """Makes pyHanko glyph accumulators for the stamp font, sharing their embedded programs.

    Thread-safe: the font bytes and the padding glyphs never change, the program cache is
    guarded by a lock, and every accumulator (one per document) is used by one thread only.
    """

    def __init__(self, font_path: Path, font_size: int = STAMP_FONT_SIZE) -> None:
        from fontTools.ttLib import TTFont

        self.font_path = Path(font_path)
        self.font_size = font_size
        try:
            self.data = self.font_path.read_bytes()
        except OSError as exc:
            raise StampFontMissingError(f"cannot read stamp font {font_path}: {exc}") from exc
        with TTFont(io.BytesIO(self.data), lazy=True) as font:
            cmap = font.getBestCmap()
            self.padding_gids = tuple(
                sorted(
                    {font.getGlyphID(cmap[ord(ch)]) for ch in _ALWAYS_EMBEDDED if ord(ch) in cmap}
                )
            )
        self._programs: OrderedDict[frozenset[int], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.subsets_made = 0  # how many programs were compiled (tests and the bench read it)

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: object = None
    ) -> GlyphAccumulator:
        # As pyHanko's GlyphAccumulatorFactory: the font's objects go in an object stream.
        if obj_stream is None and writer.stream_xrefs:
            # pyHanko leaves prepare_object_stream unannotated
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return _StampFont(self, writer, obj_stream)

    def program(self, glyphs: frozenset[int]) -> bytes | None:
        """The compressed FontFile2 made earlier for exactly these glyphs, if any."""
        with self._lock:
            found = self._programs.get(glyphs)
            if found is not None:
                self._programs.move_to_end(glyphs)
            return found

    def keep(self, glyphs: frozenset[int], program: bytes) -> None:
        with self._lock:
            self.subsets_made += 1
            self._programs[glyphs] = program
            while len(self._programs) > _PROGRAMS_KEPT:
                self._programs.popitem(last=False)


class _ProgramFont(CIDFontType2):
    """pyHanko's CIDFontType2 whose font file is a program given to it, not compiled here."""

    program = b""

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        stream = generic.StreamObject(
            {generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")},
            encoded_data=self.program,
        )
        ref = writer.add_object(stream)
        self._font_descriptor[generic.NameObject("/FontFile2")] = ref
        return ref


class _StampFont(GlyphAccumulator):
    """pyHanko's glyph accumulator, embedding a cached program when its glyph set has one.

    Shaping, widths, ToUnicode and the font dictionaries stay pyHanko's; only the subset and
    compile step is skipped on a hit (on a miss it runs as in pyHanko, and is kept).
    """

    def __init__(
        self, factory: StampFontFactory, writer: BasePdfFileWriter, obj_stream: object
    ) -> None:
        super().__init__(
            writer=writer,
            font_handle=io.BytesIO(factory.data),
            font_size=factory.font_size,
            obj_stream=obj_stream,
        )
        self._factory = factory
        stock = self.cidfont_obj
        # Only a TrueType program is cached (the Noto Sans subset is one); CIDs are then glyph
        # ids. A CFF-flavoured font would be embedded by pyHanko as usual.
        if type(stock) is CIDFontType2 and self.use_raw_gids:
            base_name = stock.name.split("+", 1)[1]  # "<prefix>+<PostScript name>"
            self.cidfont_obj = _ProgramFont(self.tt, base_name, self.subset_prefix)

    def prepare_write(self) -> None:
        if self._write_prepared or not isinstance(self.cidfont_obj, _ProgramFont):
            super().prepare_write()  # type: ignore[no-untyped-call]  # pyHanko: unannotated
            return
        for gid in self._factory.padding_gids:
            self._get_cid_and_width(gid)
        glyphs = frozenset(self._glyphs)
        program = self._factory.program(glyphs)
        if program is None:
            self._extract_subset()  # pyHanko's own subsetting (destructive: this font only)
            buf = io.BytesIO()
            self.tt.save(buf)
            stream = generic.StreamObject(stream_data=buf.getvalue())
            stream.compress()  # type: ignore[no-untyped-call]  # pyHanko: unannotated
            program = stream.encoded_data
            self._factory.keep(glyphs, program)
        self._subset_created = True
        self.cidfont_obj.program = program
        super().prepare_write()  # type: ignore[no-untyped-call]  # pyHanko: unannotated
