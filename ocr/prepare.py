"""Make any PDF ready for OCR and PDF/A-2b, deciding page by page what each page needs.

A counter receives scans, born-digital documents, filled forms and odd producers' output. Each
page takes the path its content needs (:class:`PagePath`):

``scan``        no text at all (a scanned image, vector art, a blank page): OCR it.
``text``        a text layer we can read, little image: keep its vector content, no OCR.
``mixed``       readable text plus a large image: OCR only what has no text (OCRmyPDF ``redo``).
``rasterized``  nothing else makes it PDF/A or readable: render at 300 dpi, then OCR it.

Before that, what PDF/A-2 forbids is taken out of the document: actions and JavaScript,
embedded files (set aside and returned, to be stored beside the document), optional content,
filled form fields (flattened into the page), annotations without appearances, dynamic XFA
(refused). Then nothing passes through as it came ("sign only what we made"): every content
stream (pages, forms, appearances, patterns, glyphs, soft masks) is parsed and written again
with only the operators PDF defines, so junk, unknown operators and trailing bytes are gone;
image data ends where its picture ends (after the JPEG's EOI; at width × height for Flate);
JavaScript, launch, remote and multimedia actions go wherever they hang (outlines, links,
``/Next`` chains); a stream too large to parse safely ends the scan instead. pikepdf writes
only objects reachable from the catalog, so an unused stream never reaches the output.
pikepdf's PDF/A validator then says what is still wrong; keys it does not know are
dropped, and a page that still carries a construct it cannot approve (an unembedded font,
Type 3 fonts, shadings, JPEG 2000, CMYK without a matching intent) is rasterized, with a
warning that says so. The validator approves only what it knows conforms, so a page we keep is
one it has checked.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Array, Dictionary, Name, Object, Stream
from pikepdf.pdfa import Finding

from ocr import budget
from ocr.errors import OcrInputError, PdfaValidationError
from ocr.fonts import embed_missing_fonts
from ocr.scanpage import (
    Affine,
    affine,
    inherited,
    multiply,
    page_box,
    page_rotation,
    resource_named,
    text_drawn,
)

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

FLAVOUR = "2b"
RASTER_DPI = 300
#: An image covering this share of a page with text makes it a mixed page.
MIXED_IMAGE_SHARE = 0.25
#: Embedded files above this size are not kept (the upload limit bounds the whole file anyway).
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024
#: A content stream is parsed only up to this size decoded (the upload budget's default).
MAX_STREAM_BYTES = 256 * 1024 * 1024
_FIX_ROUNDS = 4

_CATALOG_DROP = (
    "/OpenAction",
    "/AA",
    "/OCProperties",
    "/NeedsRendering",
    "/Collection",
    "/Threads",
    "/SpiderInfo",
    "/PieceInfo",
    "/Perms",
    "/Requirements",
    "/URI",
    "/AF",
)
_PAGE_DROP = ("/AA", "/AF", "/Thumb", "/Trans", "/PieceInfo", "/PresSteps", "/Dur", "/B")
_UNKNOWN_KEYS = re.compile(r"unrecognized key\(s\) (.+) are not checked")
_OBJ = re.compile(r"^obj (\d+) (\d+)")
_KEY_AT = re.compile(r"\) (/\w+)$")
_SUBKEY = re.compile(r"(/[^\s()]+) \(")
_BAD_BOX = re.compile(r"^(/(?:Art|Bleed|Trim|Crop)Box) is ")


class PagePath(StrEnum):
    SCAN = "scan"
    TEXT = "text"
    MIXED = "mixed"
    RASTERIZED = "rasterized"

    @property
    def needs_ocr(self) -> bool:
        return self is not PagePath.TEXT


class DynamicXfaForm(OcrInputError):
    """A dynamic XFA form has no pages of its own until a LiveCycle viewer renders it."""

    code = "xfa_form"


@dataclass(frozen=True)
class Attachment:
    """A file that was embedded in the upload; PDF/A-2 cannot hold it, so it travels beside."""

    name: str
    path: Path
    size: int
    media_type: str


@dataclass
class Prepared:
    pdf: Path
    paths: list[PagePath]
    attachments: list[Attachment] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ocr_pages(self) -> list[int]:
        """1-based numbers of the pages OCR must read."""
        return [i for i, path in enumerate(self.paths, 1) if path.needs_ocr]


def prepare(
    src: Path,
    work_dir: Path,
    *,
    pictures_only: bool = False,
    max_stream_bytes: int = MAX_STREAM_BYTES,
) -> Prepared:
    """Write ``work_dir/prepared.pdf``: ``src`` with every page on its path, PDF/A-approvable.

    ``pictures_only`` skips straight to the last resort: a new document made of a picture of
    each page (for when a later step still could not make PDF/A of the prepared file).
    ``max_stream_bytes`` bounds every stream that is parsed and re-emitted.
    """
    from pikepdf.pdfa import prepare as pdfa_prepare

    work_dir.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    try:
        pdf = pikepdf.open(src)
    except pikepdf.PasswordError as exc:
        raise OcrInputError("encrypted PDF") from exc
    except pikepdf.PdfError as exc:
        raise OcrInputError(f"not a readable PDF: {exc}") from exc
    with pdf:
        if pdf.is_encrypted:
            raise OcrInputError("encrypted PDF")
        _refuse_dynamic_xfa(pdf)
        attachments = _take_attachments(pdf, work_dir, warnings)
        _flatten_forms(pdf, warnings)
        _strip_document(pdf)
        embedded = embed_missing_fonts(pdf)
        if embedded:
            warnings.append(
                f"{embedded} standard font(s) embedded from metric-compatible URW fonts"
            )
        for number, page in enumerate(pdf.pages, 1):
            _strip_page(page, number, warnings)
        _defuse_actions(pdf)
        _reemit_content(pdf, max_stream_bytes, warnings)
        _trim_images(pdf, warnings)
        staged = work_dir / "stage.pdf"
        pdf.save(staged)
    out = work_dir / "prepared.pdf"
    if pictures_only:
        return _as_pictures(staged, out, attachments, warnings, "its PDF/A conversion failed")
    paths = classify(staged)
    raster = {i for i, p in enumerate(paths) if p is PagePath.RASTERIZED}
    for i in sorted(raster):
        warnings.append(f"page {i + 1} rasterized: its text cannot be read (no Unicode mapping)")

    current = staged
    for _ in range(_FIX_ROUNDS):
        if raster:
            current = _rasterize(current, raster, work_dir / f"raster-{len(raster)}.pdf")
            for i in raster:
                paths[i] = PagePath.RASTERIZED
        with pikepdf.open(current) as pdf:
            pdfa_prepare(pdf, FLAVOUR, output_intent="sRGB")
            findings = _fix_until_stable(pdf)
            if not findings:
                pdf.save(out)
                return Prepared(out, paths, attachments, warnings)
            by_page = _pages_of(pdf, findings)
            culprits = set(by_page) - raster
        if not culprits:
            # Something of the document itself, not of a page: its pages can still be kept.
            reason = "; ".join(sorted({f.message for f in findings})[:3])
            return _as_pictures(current, out, attachments, warnings, reason)
        for i in sorted(culprits):
            warnings.append(f"page {i + 1} rasterized: {_plain_reason(by_page[i])}")
        raster |= culprits
    return _as_pictures(current, out, attachments, warnings, "too many problems to repair")


def _as_pictures(
    src: Path, out: Path, attachments: list[Attachment], warnings: list[str], reason: str
) -> Prepared:
    """The last resort: a new document holding a picture of each page and nothing else."""
    from pikepdf.pdfa import check
    from pikepdf.pdfa import prepare as pdfa_prepare

    with pikepdf.open(src) as old:
        count = len(old.pages)
    with pikepdf.new() as pdf:
        for index in range(count):
            image, width, height = _render(src, index)
            page = pdf.add_blank_page(page_size=(width, height))
            _replace_with_image(pdf, page, image, width, height)
        pdfa_prepare(pdf, FLAVOUR, output_intent="sRGB")
        findings = check(pdf, FLAVOUR).findings
        if findings:
            raise PdfaValidationError(
                "even pictures of its pages could not be made PDF/A-2b: "
                + "; ".join(sorted({f.message for f in findings})[:3])
            )
        pdf.save(out)
    warnings.append(f"every page rasterized: {reason}")
    return Prepared(out, [PagePath.RASTERIZED] * count, attachments, warnings)


# --- document-level clean-up ------------------------------------------------------------------


def _refuse_dynamic_xfa(pdf: pikepdf.Pdf) -> None:
    if is_dynamic_xfa(pdf):
        raise DynamicXfaForm(
            "dynamic XFA form: open it in Adobe Reader and print it to PDF, then upload that"
        )
    form = pdf.Root.get("/AcroForm")
    if isinstance(form, Dictionary) and "/XFA" in form:
        del form["/XFA"]  # static XFA keeps an AcroForm twin, which we flatten


def is_dynamic_xfa(pdf: pikepdf.Pdf) -> bool:
    """True for a LiveCycle form whose pages exist only as XFA (``/NeedsRendering true``)."""
    return bool(pdf.Root.get("/NeedsRendering", False))


def _take_attachments(pdf: pikepdf.Pdf, work_dir: Path, warnings: list[str]) -> list[Attachment]:
    """Embedded files leave the PDF and are returned, to be stored as objects of their own.

    Both kinds are taken: the document's /EmbeddedFiles and file attachment annotations.
    """
    kept: list[Attachment] = []
    folder = work_dir / "attachments"
    specs: list[object] = []
    try:
        specs.extend(spec.obj for spec in pdf.attachments.values())
    except Exception:  # a damaged name tree: nothing to keep
        log.debug("unreadable /EmbeddedFiles", exc_info=True)
    for page in pdf.pages:
        for annot in _annotations(page):
            if annot.get("/Subtype") == Name.FileAttachment and "/FS" in annot:
                specs.append(annot.FS)
    seen: set[tuple[int, int]] = set()
    for spec in specs:
        if not isinstance(spec, Dictionary) or (spec.is_indirect and spec.objgen in seen):
            continue
        if spec.is_indirect:
            seen.add(spec.objgen)
        name = _spec_name(spec)
        try:
            data, media = _embedded_file(spec)
        except _TooLarge:
            warnings.append(f"embedded file {name!r} is larger than {MAX_ATTACHMENT_BYTES} bytes")
            continue
        except Exception:
            log.debug("unreadable embedded file %r", name, exc_info=True)
            warnings.append(f"embedded file {name!r} is unreadable and was not kept")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(kept):03d}.bin"
        path.write_bytes(data)
        kept.append(Attachment(name=name, path=path, size=len(data), media_type=media))
    names = pdf.Root.get("/Names")
    if isinstance(names, Dictionary):
        for key in ("/EmbeddedFiles", "/JavaScript"):
            if key in names:
                del names[key]
    if kept:
        warnings.append(f"{len(kept)} embedded file(s) moved out of the PDF and kept beside it")
    return kept


class _TooLarge(Exception):
    pass


def _spec_name(spec: Dictionary) -> str:
    for key in ("/UF", "/F"):
        value = spec.get(key)
        if isinstance(value, pikepdf.String):
            return str(value)[:200] or "attachment"
    return "attachment"


def _embedded_file(spec: Dictionary) -> tuple[bytes, str]:
    """The file's bytes and media type, inflated at most to :data:`MAX_ATTACHMENT_BYTES`."""
    files = spec.get("/EF")
    stream = files.get("/UF") or files.get("/F") if isinstance(files, Dictionary) else None
    if not isinstance(stream, Stream):
        raise ValueError("file specification without an embedded file")
    subtype = stream.get("/Subtype")
    media = str(subtype)[1:].replace("#2F", "/") if isinstance(subtype, Name) else ""
    raw = stream.read_raw_bytes()
    if len(raw) > MAX_ATTACHMENT_BYTES:
        raise _TooLarge
    filters = stream.get("/Filter")
    if filters is None:
        data = raw
    elif filters == Name.FlateDecode and "/DecodeParms" not in stream:
        # Inflate with a ceiling: a small stream can expand to gigabytes.
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, MAX_ATTACHMENT_BYTES + 1)
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise _TooLarge
    elif len(raw) * 1000 <= MAX_ATTACHMENT_BYTES:  # other filters: only where even 1000x fits
        data = stream.read_bytes()
    else:
        raise _TooLarge
    return data, media or "application/octet-stream"


def _flatten_forms(pdf: pikepdf.Pdf, warnings: list[str]) -> None:
    """Filled form fields become page content: a PDF/A archive copy shows, it does not edit."""
    form = pdf.Root.get("/AcroForm")
    has_widgets = any(
        annot.get("/Subtype") == Name.Widget for page in pdf.pages for annot in _annotations(page)
    )
    if isinstance(form, Dictionary) or has_widgets:
        try:
            pdf.generate_appearance_streams()
        except Exception:  # fields without a usable /DA keep whatever appearance they have
            log.debug("could not generate form appearances", exc_info=True)
        try:
            pdf.flatten_annotations("screen")
            warnings.append("form fields flattened into the page")
        except Exception:
            log.debug("could not flatten annotations", exc_info=True)
    if "/AcroForm" in pdf.Root:
        del pdf.Root["/AcroForm"]


def _strip_document(pdf: pikepdf.Pdf) -> None:
    for key in _CATALOG_DROP:
        if key in pdf.Root:
            del pdf.Root[key]
    names = pdf.Root.get("/Names")
    if isinstance(names, Dictionary):
        for key in list(names.keys()):
            if key != "/Dests":
                del names[key]


def _annotations(page: pikepdf.Page) -> Iterator[Dictionary]:
    annots = page.obj.get("/Annots")
    if isinstance(annots, Array):
        for annot in annots:
            if isinstance(annot, Dictionary):
                yield annot


def _strip_page(page: pikepdf.Page, number: int, warnings: list[str]) -> None:
    """No page actions; links keep only a go-to or a web address; the unseen is dropped."""
    for key in _PAGE_DROP:
        if key in page.obj:
            del page.obj[key]
    annots = page.obj.get("/Annots")
    if not isinstance(annots, Array):
        if annots is not None:
            del page.obj["/Annots"]
        return
    kept = Array()
    dropped = 0
    for annot in annots:
        if not isinstance(annot, Dictionary):
            continue
        subtype = annot.get("/Subtype")
        if "/AA" in annot:
            del annot["/AA"]
        if subtype == Name.Link:
            if "/A" in annot and not _safe_action(annot.get("/A")):
                del annot["/A"]
            kept.append(annot)
        elif subtype == Name.Popup:
            continue
        elif isinstance(annot.get("/AP"), Dictionary) and subtype != Name.FileAttachment:
            if "/A" in annot:
                del annot["/A"]
            kept.append(annot)
        else:
            dropped += 1
    if dropped:
        warnings.append(f"page {number}: {dropped} annotation(s) without an appearance removed")
    if len(kept):
        page.obj.Annots = kept
    else:
        del page.obj["/Annots"]


# --- sign only what we made -------------------------------------------------------------------

#: Every operator ISO 32000 defines; anything else in a content stream is dropped.
_OPERATORS = frozenset(
    b"b B b* B* BDC BI BMC BT BX c cm CS cs d d0 d1 Do DP EI EMC ET EX f F f* G g gs h i ID j J K k l "
    b"m M MP n q Q re RG rg ri s S SC sc SCN scn sh T* Tc Td TD Tf Tj TJ TL Tm Tr Ts Tw Tz v w "
    b"W W* y ' \"".split()
)
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_OUTLINE_LIMIT = 10_000


def _safe_action(action: object) -> bool:
    """A go-to inside the document or a web/mail link; never script, launch or a chain."""
    if not isinstance(action, Dictionary) or "/Next" in action:
        return False
    kind = action.get("/S")
    if kind == Name.GoTo:
        return True
    if kind == Name.URI:
        uri = action.get("/URI")
        text = bytes(uri).decode("latin-1") if isinstance(uri, pikepdf.String) else ""
        text = "".join(ch for ch in text if ch > " ").lower()
        return text.startswith(_SAFE_SCHEMES)
    return False


def _defuse_actions(pdf: pikepdf.Pdf) -> None:
    """JavaScript and multimedia wherever pikepdf's sanitizer finds them; outline actions
    other than a go-to or a web link (launch, remote go-to, form submission) by us."""
    from pikepdf.sanitize import Sanitizer

    Sanitizer().remove_javascript().remove_multimedia().apply(pdf)
    outlines = pdf.Root.get("/Outlines")
    stack = [outlines.get("/First")] if isinstance(outlines, Dictionary) else []
    seen: set[tuple[int, int]] = set()
    while stack and len(seen) < _OUTLINE_LIMIT:
        item = stack.pop()
        if not isinstance(item, Dictionary) or (item.is_indirect and item.objgen in seen):
            continue
        if item.is_indirect:
            seen.add(item.objgen)
        if "/A" in item and not _safe_action(item.get("/A")):
            del item["/A"]
        stack.extend(item.get(key) for key in ("/First", "/Next"))


def _reemit_content(pdf: pikepdf.Pdf, limit: int, warnings: list[str]) -> None:
    """Parse every content stream and write back only what PDF defines."""
    done: set[tuple[int, int]] = set()
    dropped = 0
    for scope in pdf.content_scopes():
        content = scope.content
        if isinstance(content, Stream):
            if content.objgen in done:
                continue
            done.add(content.objgen)
            streams = [content]
        else:
            page_contents = content.get("/Contents")
            parts = page_contents if isinstance(page_contents, Array) else [page_contents]
            streams = [part for part in parts if isinstance(part, Stream)]
        for stream in streams:
            try:
                size = budget.decoded_size(stream, limit)
            except budget.Unmeasurable:
                size = limit + 1
            if size > limit:
                raise budget.StreamOverBudget(
                    f"a content stream inflates beyond {limit // 2**20} MB; refused"
                )
        try:
            instructions = pikepdf.parse_content_stream(content)
        except pikepdf.PdfError:
            log.info("unparsable content stream in %s; left for rasterizing", scope.kind)
            continue
        kept = []
        for instruction in instructions:
            inline = isinstance(instruction, pikepdf.ContentStreamInlineImage)
            if inline or instruction.operator.unparse() in _OPERATORS:
                kept.append(instruction)
            else:
                dropped += 1
        data = zlib.compress(pikepdf.unparse_content_stream(kept), 6)
        if isinstance(content, Stream):
            content.write(data, filter=Name.FlateDecode)
        else:
            content.Contents = pdf.make_stream(data, Filter=Name.FlateDecode)
    if dropped:
        warnings.append(f"{dropped} unknown content operator(s) removed")


def _trim_images(pdf: pikepdf.Pdf, warnings: list[str]) -> None:
    """Image data ends with its picture: bytes after a JPEG's EOI or beyond a Flate image's
    width × height are what a viewer never shows, and a place to smuggle a payload."""
    trimmed = 0
    for obj in pdf.objects:
        if not isinstance(obj, Stream) or obj.get("/Subtype") != Name.Image:
            continue
        try:
            chain = budget.filters(obj)
        except budget.Unmeasurable:
            continue
        parms = obj.get("/DecodeParms")
        if chain == [Name.DCTDecode]:
            raw = obj.read_raw_bytes()
            end = budget.jpeg_end(raw)
            if end is not None and end < len(raw):
                obj.write(raw[:end], filter=Name.DCTDecode, decode_parms=_decode_parms(parms))
                trimmed += 1
        elif chain == [Name.FlateDecode]:
            expected = budget.expected_image_bytes(obj)
            if expected is None:
                continue
            data, more = budget.inflate_at_most(obj.read_raw_bytes(), expected)
            if more:
                obj.write(
                    zlib.compress(data, 6),
                    filter=Name.FlateDecode,
                    decode_parms=_decode_parms(parms),
                )
                trimmed += 1
    if trimmed:
        warnings.append(f"{trimmed} image(s) carried bytes beyond their picture; removed")


def _decode_parms(value: Object | None) -> Dictionary | Array | None:
    """/DecodeParms as ``Stream.write`` takes them; anything else is malformed (TypeError)."""
    if value is None or isinstance(value, Dictionary | Array):
        return value
    raise TypeError("/DecodeParms must be a dictionary or an array of dictionaries")


# --- page classification ----------------------------------------------------------------------


def classify(path: Path) -> list[PagePath]:
    """The path each page of ``path`` takes, from its text layer and its images."""
    texts = _page_texts(path)
    paths: list[PagePath] = []
    with pikepdf.open(path) as pdf:
        for page, text in zip(pdf.pages, texts, strict=True):
            try:
                has_text, visible = text_drawn(page)
                share = image_share(page)
            except Exception:  # unparsable content: render it and read the pixels
                paths.append(PagePath.RASTERIZED)
                continue
            if not has_text:
                paths.append(PagePath.SCAN)
            elif not readable(text):
                paths.append(PagePath.RASTERIZED)
            # Only invisible text over an image is a scan OCRed before us: its layer is kept.
            elif share >= MIXED_IMAGE_SHARE and visible:
                paths.append(PagePath.MIXED)
            else:
                paths.append(PagePath.TEXT)
    return paths


def readable(text: str) -> bool:
    """Text a search can use: mostly Latin letters and digits (Vietnamese, English, French).

    Fonts without a Unicode mapping give control characters, symbols or byte-swapped CJK.
    """
    chars = [ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] not in "PS"]
    if not chars and not any(unicodedata.category(ch)[0] == "C" for ch in text):
        return True  # text operators that draw nothing visible: nothing to lose
    latin = sum(1 for ch in chars if ch.isdigit() or _is_latin_letter(ch))
    return latin >= 3 and latin / max(len(chars), 1) >= 0.6


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


def _page_texts(path: Path) -> list[str]:
    from ocr.extract import page_texts

    return page_texts(path)


def image_share(page: pikepdf.Page) -> float:
    """Share of the page area covered by images (placed boxes, overlaps counted twice)."""
    x0, y0, x1, y1 = page_box(page)
    area = max((x1 - x0) * (y1 - y0), 1.0)
    covered = 0.0
    for a, b, c, d, _e, _f in _image_placements(page):
        covered += abs(a * d - b * c)
    return min(covered / area, 1.0)


def _image_placements(page: pikepdf.Page) -> Iterator[Affine]:
    """The CTM of every image drawn by the page, inside Form XObjects too (bounded depth)."""

    def walk(
        container: Object | pikepdf.Page,
        resources: Object | None,
        ctm: Affine,
        depth: int,
    ) -> Iterator[Affine]:
        if depth > 8:
            return
        stack: list[Affine] = []
        xobjs = resources.get("/XObject") if isinstance(resources, Dictionary) else None
        for instruction in pikepdf.parse_content_stream(container, "q Q cm Do BI INLINE IMAGE"):
            operands, name = instruction.operands, str(instruction.operator)
            if name == "q":
                stack.append(ctm)
            elif name == "Q":
                ctm = stack.pop() if stack else ctm
            elif name == "cm" and len(operands) == 6:
                ctm = multiply(affine(operands), ctm)
            elif name == "INLINE IMAGE":
                yield ctm
            elif name == "Do" and isinstance(xobjs, Dictionary):
                xobj = resource_named(xobjs, operands[0])
                if not isinstance(xobj, Stream):
                    continue
                if xobj.get("/Subtype") == Name.Image:
                    yield ctm
                elif xobj.get("/Subtype") == Name.Form:
                    matrix = xobj.get("/Matrix")
                    inner = (
                        multiply(affine(matrix), ctm)
                        if isinstance(matrix, Array) and len(matrix) == 6
                        else ctm
                    )
                    yield from walk(xobj, xobj.get("/Resources", resources), inner, depth + 1)

    yield from walk(page, inherited(page.obj, "/Resources"), (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), 0)


# --- what the validator still finds -----------------------------------------------------------


def _fix_until_stable(pdf: pikepdf.Pdf) -> list[Finding]:
    """Drop the keys the validator does not know and the few we can repair; return the rest."""
    from pikepdf.pdfa import check

    for _ in range(_FIX_ROUNDS):
        findings = list(check(pdf, FLAVOUR).findings)
        rest = [f for f in findings if not _repair(pdf, f)]
        if len(rest) == len(findings):
            return rest
    return list(check(pdf, FLAVOUR).findings)


def _target(pdf: pikepdf.Pdf, where: str) -> Dictionary | Stream | None:
    if where.startswith("trailer"):
        trailer = pdf.trailer
        return trailer if isinstance(trailer, Dictionary) else None
    match = _OBJ.match(where)
    if not match:
        return None
    try:
        obj = pdf.get_object((int(match[1]), int(match[2])))
    except Exception:
        return None
    # "obj 11 0 (FormXObject) /Resources (Resources)": the finding is in a direct sub-dictionary.
    for key in _SUBKEY.findall(where[match.end() :]):
        inner = obj.get(key) if isinstance(obj, Dictionary | Stream) else None
        if not isinstance(inner, Dictionary | Stream):
            return None
        obj = inner
    return obj if isinstance(obj, Dictionary | Stream) else None


def _repair(pdf: pikepdf.Pdf, finding: Finding) -> bool:
    """Fix one finding in place when that is safe; True if something was changed."""
    where, message = finding.where, finding.message
    target = _target(pdf, where)
    if target is None:
        return False
    unknown = _UNKNOWN_KEYS.search(message)
    if unknown and not where.startswith("trailer"):
        keys = [k.strip() for k in unknown[1].replace(" and ", ", ").split(",")]
        removable = [k for k in keys if k.startswith("/") and k in target]
        for key in removable:
            del target[key]
        return bool(removable)
    if unknown:  # trailer keys of a producer's own (/DocChecksum, /PDFpenVersion)
        keys = [k.strip() for k in unknown[1].replace(" and ", ", ").split(",")]
        removable = [k for k in keys if k in target and k not in ("/Root", "/Info", "/ID")]
        for key in removable:
            del target[key]
        return bool(removable)
    if "has no /CIDToGIDMap" in message:
        descendants = target.get("/DescendantFonts")
        cid = descendants[0] if isinstance(descendants, Array) and len(descendants) else target
        if isinstance(cid, Dictionary) and "/CIDToGIDMap" not in cid:
            cid["/CIDToGIDMap"] = Name.Identity  # the default it omitted (ISO 32000-1 9.7.4.2)
            return True
    box = _BAD_BOX.match(message)
    if box and box[1] in target:
        del target[box[1]]  # a degenerate secondary box; the MediaBox still frames the page
        return True
    key = _KEY_AT.search(where)
    if key and "(ExtGState)" in where and key[1] in ("/TR", "/TR2", "/HTP", "/HT"):
        del target[key[1]]  # transfer functions and halftones only matter on a press
        return True
    return False


def _reachable(obj: object, seen: set[tuple[int, int]], depth: int = 0) -> None:
    """Object numbers reachable from ``obj`` without climbing back to the page tree."""
    if depth > 64:
        return
    if isinstance(obj, Dictionary | Stream | Array) and obj.is_indirect:
        if obj.objgen in seen:
            return
        seen.add(obj.objgen)
    if isinstance(obj, Dictionary | Stream):
        for key, value in obj.items():
            if key in ("/Parent", "/P"):
                continue
            _reachable(value, seen, depth + 1)
    elif isinstance(obj, Array):
        for value in obj:
            _reachable(value, seen, depth + 1)


def _pages_of(pdf: pikepdf.Pdf, findings: list[Finding]) -> dict[int, list[Finding]]:
    wanted: dict[tuple[int, int], list[Finding]] = {}
    for finding in findings:
        match = _OBJ.match(finding.where)
        if match:
            wanted.setdefault((int(match[1]), int(match[2])), []).append(finding)
    found: dict[int, list[Finding]] = {}
    for index, page in enumerate(pdf.pages):
        seen: set[tuple[int, int]] = set()
        _reachable(page.obj, seen)
        for objgen in seen & wanted.keys():
            found.setdefault(index, []).extend(wanted[objgen])
    return found


def _plain_reason(findings: list[Finding]) -> str:
    """One short reason a clerk or auditor can read, from the validator's messages."""
    text = " ".join(f.message.lower() for f in findings)
    if "not embedded" in text or ("font" in text and "width" in text):
        return "font not embeddable"
    if "type 3" in text:
        return "Type 3 font"
    if "jpeg 2000" in text:
        return "JPEG 2000 image"
    if "shading" in text or "pattern" in text:
        return "shadings or patterns"
    if "colour" in text or "color" in text or "cmyk" in text:
        return "colours PDF/A cannot declare"
    return "content PDF/A cannot hold"


# --- rasterizing ------------------------------------------------------------------------------


def _rasterize(src: Path, pages: set[int], dest: Path) -> Path:
    """Replace ``pages`` (0-based) of ``src`` by a picture of each, as displayed."""
    images = {i: _render(src, i) for i in sorted(pages)}
    with pikepdf.open(src) as pdf:
        for index, (image, width, height) in images.items():
            _replace_with_image(pdf, pdf.pages[index], image, width, height)
        pdf.remove_unreferenced_resources()
        pdf.save(dest)
    return dest


def _render(src: Path, index: int) -> tuple[Image.Image, float, float]:
    """The page drawn by PDFium at up to 300 dpi, with its displayed size in points."""
    from ocr import pdfium

    drawn = pdfium.render(src, index, RASTER_DPI, grayscale=False)
    if drawn is None:
        raise PdfaValidationError(f"page {index + 1} can neither be kept nor drawn")
    image, _, width, height = drawn
    return image.convert("RGB"), width, height


def _replace_with_image(
    pdf: pikepdf.Pdf, page: pikepdf.Page, image: Image.Image, width: float, height: float
) -> None:
    from PIL import ImageChops

    r, g, b = image.split()
    gray = not ImageChops.difference(r, g).getbbox() and not ImageChops.difference(g, b).getbbox()
    if gray:
        data = zlib.compress(image.convert("L").tobytes(), 6)
        xobj = Stream(pdf, data)
        xobj.ColorSpace = Name.DeviceGray
        xobj.Filter = Name.FlateDecode
    else:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=92)
        xobj = Stream(pdf, buf.getvalue())
        xobj.ColorSpace = Name.DeviceRGB
        xobj.Filter = Name.DCTDecode
    xobj.Type, xobj.Subtype = Name.XObject, Name.Image
    xobj.Width, xobj.Height, xobj.BitsPerComponent = image.width, image.height, 8
    # Links keep working only where the picture has the page's own coordinates.
    x0, y0, _x1, _y1 = page_box(page)
    same_space = page_rotation(page) == 0 and abs(x0) < 0.5 and abs(y0) < 0.5
    links = Array(a for a in _annotations(page) if a.get("/Subtype") == Name.Link)
    for key in list(page.obj.keys()):
        if key not in ("/Type", "/Parent"):
            del page.obj[key]
    page.obj.MediaBox = Array([0, 0, width, height])
    page.obj.Rotate = 0  # the picture is drawn as displayed; an inherited turn must not apply
    page.obj.Resources = Dictionary(XObject=Dictionary(Im0=xobj))
    page.obj.Contents = pdf.make_stream(f"q {width:.4f} 0 0 {height:.4f} 0 0 cm /Im0 Do Q".encode())
    if len(links) and same_space:
        page.obj.Annots = links
