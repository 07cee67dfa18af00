"""A cheap PDF/A-2b sanity check, run on every OCR output and usable on signed files.

OCRmyPDF validates its own output, but the archive's promise is ours: we re-check the claim
(XMP ``pdfaid``), the output intent and font embedding, which are the properties that later
steps (signing adds a widget with its own font) can break. This is not a full validator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from pikepdf import Dictionary, Name, Stream

from ocr.scanpage import inherited

_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


@dataclass(frozen=True)
class PdfaReport:
    part: int | None
    conformance: str | None
    has_output_intent: bool
    fonts_embedded: bool
    unembedded_fonts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """PDF/A-2b as the repository requires it."""
        return (
            self.part == 2
            and self.conformance == "B"
            and self.has_output_intent
            and self.fonts_embedded
        )


def check_pdfa(path: Path) -> PdfaReport:
    """Report PDF/A identification, output intent and unembedded fonts of ``path``."""
    problems: list[str] = []
    with pikepdf.open(path) as pdf:
        part, conformance = _pdfaid(pdf)
        if part is None:
            problems.append("no PDF/A identification (pdfaid) in the XMP metadata")
        elif part != 2 or conformance != "B":
            problems.append(f"claims PDF/A-{part}{(conformance or '').lower()}, expected PDF/A-2b")
        has_intent = _has_pdfa_output_intent(pdf)
        if not has_intent:
            problems.append("no /OutputIntents entry with /S /GTS_PDFA1 and a DestOutputProfile")
        unembedded = sorted(_unembedded_fonts(pdf))
        problems.extend(f"font not embedded: {name}" for name in unembedded)
    return PdfaReport(
        part=part,
        conformance=conformance,
        has_output_intent=has_intent,
        fonts_embedded=not unembedded,
        unembedded_fonts=unembedded,
        problems=problems,
    )


def _pdfaid(pdf: pikepdf.Pdf) -> tuple[int | None, str | None]:
    meta = pdf.open_metadata()
    part, conformance = meta.get("pdfaid:part"), meta.get("pdfaid:conformance")
    try:
        part_no = int(str(part).strip()) if part is not None else None
    except ValueError:
        part_no = None
    return part_no, (str(conformance).strip().upper() or None) if conformance else None


def _has_pdfa_output_intent(pdf: pikepdf.Pdf) -> bool:
    intents = pdf.Root.get("/OutputIntents")
    if not isinstance(intents, pikepdf.Array):
        return False
    return any(
        isinstance(oi, Dictionary)
        and oi.get("/S") == Name.GTS_PDFA1
        and isinstance(oi.get("/DestOutputProfile"), Stream)
        for oi in intents
    )


def _font_is_embedded(font: Dictionary) -> bool:
    subtype = font.get("/Subtype")
    if subtype == Name.Type3:
        return True  # glyphs are content streams inside the font
    described: pikepdf.Object = font
    if subtype == Name.Type0:
        descendants = font.get("/DescendantFonts")
        if not isinstance(descendants, pikepdf.Array) or len(descendants) == 0:
            return False
        described = descendants[0]  # the CID font carries the descriptor
    descriptor = described.get("/FontDescriptor")
    return isinstance(descriptor, Dictionary) and any(k in descriptor for k in _FONT_FILES)


def _unembedded_fonts(pdf: pikepdf.Pdf) -> set[str]:
    """Walk page resources, Form XObjects, patterns and annotation appearances."""
    missing: set[str] = set()
    seen: set[tuple[int, int]] = set()

    def visit_resources(resources: object) -> None:
        if not isinstance(resources, Dictionary):
            return
        if resources.is_indirect:
            if resources.objgen in seen:
                return
            seen.add(resources.objgen)
        fonts = resources.get("/Font")
        if isinstance(fonts, Dictionary):
            for key, font in fonts.items():
                if not isinstance(font, Dictionary):
                    continue
                if font.get("/Subtype") == Name.Type3:
                    visit_resources(font.get("/Resources"))
                if not _font_is_embedded(font):
                    base = font.get("/BaseFont")
                    missing.add(str(base)[1:] if base is not None else key[1:])
        for group in ("/XObject", "/Pattern"):
            objs = resources.get(group)
            if isinstance(objs, Dictionary):
                for obj in objs.values():
                    visit_stream(obj)

    def visit_stream(obj: object) -> None:
        if not isinstance(obj, Stream | Dictionary):
            return
        if obj.is_indirect:
            if obj.objgen in seen:
                return
            seen.add(obj.objgen)
        if obj.get("/Subtype") == Name.Image:
            return
        visit_resources(obj.get("/Resources"))

    def visit_appearance(ap: object) -> None:
        if isinstance(ap, Stream):
            visit_stream(ap)
        elif isinstance(ap, Dictionary):
            for state in ap.values():
                visit_appearance(state)

    for page in pdf.pages:
        visit_resources(inherited(page.obj, "/Resources"))
        annots = page.obj.get("/Annots")
        if isinstance(annots, pikepdf.Array):
            for annot in annots:
                if isinstance(annot, Dictionary) and isinstance(annot.get("/AP"), Dictionary):
                    for key in ("/N", "/R", "/D"):
                        visit_appearance(annot.AP.get(key))
    return missing
