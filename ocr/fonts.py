"""Embed a metric-compatible font where a PDF names a standard font without embedding it.

Helvetica, Times and Courier (and their Arial / Times New Roman / Courier New aliases) are the
fonts most producers leave out (fpdf2 core fonts, form field appearances, old office
software). PDF/A requires every font embedded. URW's base-35 fonts, which Ghostscript itself
uses for these names, have the same advance widths as Adobe's, so embedding them keeps every
line where it was and the page's own text layer stays searchable instead of being rasterized.

Only simple Type 1 fonts with a Latin encoding are handled; anything else (symbol fonts,
TrueType or CID fonts that are not embedded) is left for the caller to rasterize.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from ocr.scanpage import inherited

log = logging.getLogger(__name__)

URW_DIR = Path("/usr/share/fonts/opentype/urw-base35")
_FAMILIES = {
    "helvetica": "NimbusSans",
    "arial": "NimbusSans",
    "arialmt": "NimbusSans",
    "times": "NimbusRoman",
    "timesnewroman": "NimbusRoman",
    "timesnewromanps": "NimbusRoman",
    "timesnewromanpsmt": "NimbusRoman",
    "courier": "NimbusMonoPS",
    "couriernew": "NimbusMonoPS",
    "couriernewpsmt": "NimbusMonoPS",
}
#: Symbolic fonts: drawn through the font program's own encoding, not a Latin one.
_SYMBOLIC = {"symbol": "StandardSymbolsPS.otf", "zapfdingbats": "D050000L.otf"}
_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")


def urw_font_for(base_font: str) -> Path | None:
    """The URW font file standing in for a standard font name, or None if there is none."""
    name = _SUBSET_TAG.sub("", base_font.lstrip("/"))
    family, _, style = name.replace(",", "-").partition("-")
    family, style = family.replace(" ", "").lower(), style.lower()
    if family in _SYMBOLIC and not style:
        return URW_DIR / _SYMBOLIC[family]
    for suffix in ("bolditalic", "boldoblique", "bold", "italic", "oblique"):
        if not style and family.endswith(suffix) and family[: -len(suffix)] in _FAMILIES:
            family, style = family[: -len(suffix)], suffix
    urw = _FAMILIES.get(family)
    if urw is None:
        return None
    bold = "bold" in style
    italic = "italic" in style or "oblique" in style
    face = (
        "BoldItalic" if bold and italic else "Bold" if bold else "Italic" if italic else "Regular"
    )
    path = URW_DIR / f"{urw}-{face}.otf"
    return path if path.is_file() else None


def _standard_encoding() -> list[str]:
    from fontTools.encodings.StandardEncoding import StandardEncoding

    return list(StandardEncoding)


def _mac_roman() -> list[str]:
    from fontTools.encodings.MacRoman import MacRoman

    return list(MacRoman)


def _win_ansi() -> list[str]:
    from fontTools.agl import UV2AGL

    names = [".notdef"] * 256
    for code in range(32, 256):
        try:
            ch = bytes([code]).decode("cp1252")
        except UnicodeDecodeError:
            names[code] = "bullet"  # undefined WinAnsi codes show a bullet (ISO 32000-1 D.2)
            continue
        names[code] = UV2AGL.get(ord(ch), ".notdef")
    names[0x27], names[0x60], names[0xA0], names[0xAD] = "quotesingle", "grave", "space", "hyphen"
    return names


_BASE = {"/WinAnsiEncoding": _win_ansi, "/MacRomanEncoding": _mac_roman}


def glyph_names(font: Dictionary) -> list[str] | None:
    """Code → glyph name for a simple Latin font, or None for an encoding we do not model."""
    encoding = font.get("/Encoding")
    differences: object = None
    base = "/StandardEncoding"
    if isinstance(encoding, Name):
        base = str(encoding)
    elif isinstance(encoding, Dictionary):
        base = str(encoding.get("/BaseEncoding", "/StandardEncoding"))
        differences = encoding.get("/Differences")
    elif encoding is not None:
        return None
    if base == "/StandardEncoding":
        names = _standard_encoding()
    elif base in _BASE:
        names = _BASE[base]()
    else:
        return None
    if isinstance(differences, Array):
        code = 0
        for item in differences:
            if isinstance(item, Name):
                if 0 <= code < 256:
                    names[code] = str(item)[1:]
                code += 1
            else:
                try:
                    code = int(item)
                except (TypeError, ValueError):
                    return None
    return names


@lru_cache(maxsize=4)
def _builtin_encoding(path: Path) -> list[str] | None:
    """A symbol font's own code → glyph table (its CFF encoding)."""
    from fontTools.ttLib import TTFont

    cff = TTFont(path)["CFF "].cff
    encoding = cff[cff.fontNames[0]].Encoding
    return (
        list(encoding) + [".notdef"] * (256 - len(encoding)) if isinstance(encoding, list) else None
    )


@dataclass(frozen=True)
class _Metrics:
    """What a /FontDescriptor says about the stand-in font, in glyph space (1000 units/em)."""

    bbox: tuple[int, ...]
    italic_angle: float
    ascent: int
    descent: int
    cap_height: int
    fixed: bool
    serif: bool


@lru_cache(maxsize=32)
def _program(path: Path, glyphs: frozenset[str]) -> tuple[bytes, dict[str, int], _Metrics]:
    """The font subset to ``glyphs`` as bare CFF, its advance widths and descriptor metrics."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(path)
    order = set(font.getGlyphOrder())
    keep = sorted((glyphs & order) | {".notdef"})
    options = subset.Options()
    options.glyph_names = True
    options.notdef_outline = True
    options.name_IDs = []
    options.layout_features = []
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=keep)
    subsetter.subset(font)
    cff = font["CFF "]
    buf = io.BytesIO()
    cff.cff.compile(buf, font)
    scale = 1000 / font["head"].unitsPerEm
    widths = {name: round(font["hmtx"][name][0] * scale) for name in font.getGlyphOrder()}
    top = cff.cff[cff.cff.fontNames[0]]
    os2, post = font["OS/2"], font["post"]
    metrics = _Metrics(
        bbox=tuple(round(v * scale) for v in top.FontBBox),
        italic_angle=float(post.italicAngle),
        ascent=round(os2.sTypoAscender * scale),
        descent=round(os2.sTypoDescender * scale),
        cap_height=round(getattr(os2, "sCapHeight", 700) * scale),
        fixed=bool(post.isFixedPitch),
        serif="Roman" in path.name or "Mono" in path.name,
    )
    return buf.getvalue(), widths, metrics


def embed_standard_font(pdf: pikepdf.Pdf, font: Dictionary) -> bool:
    """Embed a URW stand-in into a non-embedded simple Type 1 font; True if it was done."""
    if font.get("/Subtype") != Name.Type1 or "/BaseFont" not in font:
        return False
    descriptor = font.get("/FontDescriptor")
    if isinstance(descriptor, Dictionary) and any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
    ):
        return False
    path = urw_font_for(str(font.BaseFont))
    if path is None:
        return False
    symbolic = path.name in _SYMBOLIC.values()
    names = _builtin_encoding(path) if symbolic and "/Encoding" not in font else glyph_names(font)
    if names is None:
        return False
    used = [n for n in names if n != ".notdef"]
    data, widths, metrics = _program(path, frozenset(used))
    present = [code for code, name in enumerate(names) if name in widths and name != ".notdef"]
    if not present:
        return False
    first, last = min(present), max(present)
    program = Stream(pdf, data)
    program.Subtype = Name.Type1C
    flags = 4 if symbolic else 32 | (1 if metrics.fixed else 0) | (2 if metrics.serif else 0)
    if metrics.italic_angle:
        flags |= 64
    base = str(font.BaseFont)[1:]
    font.FontDescriptor = pdf.make_indirect(
        Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/" + base),
            Flags=flags,
            FontBBox=Array(list(metrics.bbox)),
            ItalicAngle=metrics.italic_angle,
            Ascent=metrics.ascent,
            Descent=metrics.descent,
            CapHeight=metrics.cap_height,
            StemV=80,
            FontFile3=program,
        )
    )
    font.FirstChar, font.LastChar = first, last
    font.Widths = Array(
        [
            widths.get(names[code], 0) if names[code] in widths else 0
            for code in range(first, last + 1)
        ]
    )
    return True


def embed_missing_fonts(pdf: pikepdf.Pdf) -> int:
    """Embed stand-ins for every non-embedded standard font the pages use; return how many."""
    done = 0
    for font in _fonts(pdf):
        try:
            done += embed_standard_font(pdf, font)
        except Exception:  # a font we cannot model stays as it was; its page gets rasterized
            log.debug("could not embed a stand-in for %s", font.get("/BaseFont"), exc_info=True)
    return done


def _fonts(pdf: pikepdf.Pdf) -> Iterator[Dictionary]:
    seen: set[tuple[int, int]] = set()

    def from_resources(resources: object, depth: int) -> Iterator[Dictionary]:
        if not isinstance(resources, Dictionary) or depth > 16:
            return
        fonts = resources.get("/Font")
        if isinstance(fonts, Dictionary):
            for font in fonts.values():
                if isinstance(font, Dictionary) and font.objgen not in seen:
                    if font.is_indirect:
                        seen.add(font.objgen)
                    yield font
        xobjs = resources.get("/XObject")
        if isinstance(xobjs, Dictionary):
            for xobj in xobjs.values():
                if isinstance(xobj, Stream) and xobj.get("/Subtype") == Name.Form:
                    if xobj.objgen in seen:
                        continue
                    seen.add(xobj.objgen)
                    yield from from_resources(xobj.get("/Resources"), depth + 1)

    for page in pdf.pages:
        yield from from_resources(inherited(page.obj, "/Resources"), 0)
        annots = page.obj.get("/Annots")
        if isinstance(annots, Array):
            for annot in annots:
                ap = annot.get("/AP") if isinstance(annot, Dictionary) else None
                normal = ap.get("/N") if isinstance(ap, Dictionary) else None
                streams = (
                    [normal]
                    if isinstance(normal, Stream)
                    else list(normal.values())
                    if isinstance(normal, Dictionary)
                    else []
                )
                for stream in streams:
                    if isinstance(stream, Stream):
                        yield from from_resources(stream.get("/Resources"), 1)
