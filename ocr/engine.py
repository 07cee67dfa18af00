"""OcrEngine: scan PDF in, searchable PDF/A-2b out, with page texts and what was fixed.

OCRmyPDF stays the engine; what it spends around Tesseract is cut (measured with
bench/ocr_engine.py):

1. Orientation and skew are found in Pillow (:mod:`ocr.geometry`, ~0.1 s a page) instead of
   Tesseract OSD + ``--psm 2`` (2–3 s a page), and fixed losslessly in the PDF
   (:func:`ocr.scanpage.straighten`), so OCRmyPDF runs without ``--rotate-pages``/``--deskew``
   and keeps the original page images (no JPEG re-encoding, no rebuilt pages). Tesseract OSD
   is asked only for pages whose text lines give no clear answer.
2. Scan pages are rasterized straight from their image by our plugin
   (:mod:`ocr.ocrmypdf_plugin`), not rendered by PDFium and written as zlib-6 PNGs.
3. The engine lives in the worker process: no interpreter start-up and plugin install per file.
4. Files whose OCR pages are all plain scans skip OCRmyPDF: :mod:`ocr.reader` hands each image
   to Tesseract through one page queue per process and lays Tesseract's own text-only page
   over it; pikepdf declares PDF/A-2b. Anything else still goes through OCRmyPDF.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pikepdf
from PIL import Image

from ocr import capture, childlimits, geometry, pdfium, reader, scanpage
from ocr.errors import OcrEngineError, OcrError, PdfaValidationError, translate
from ocr.extract import page_texts
from ocr.pdfa import PdfaReport, check_pdfa
from ocr.prepare import MAX_STREAM_BYTES, Attachment, PagePath, Prepared, prepare

if TYPE_CHECKING:
    from ocrmypdf import ExitCode

log = logging.getLogger(__name__)

PLUGIN = "ocr.ocrmypdf_plugin"
_PREVIEW_DPI = 100  # geometry detection works at 50–100 dpi
# OSD is only asked where our own evidence is weak, so a modest confidence is enough (OCRmyPDF
# wants 14 because it asks about every page); a weaker answer counts if it agrees with ours.
_OSD_MIN_CONFIDENCE = 2.0


@dataclass(frozen=True)
class OcrSettings:
    """OCR behaviour; one instance per worker.

    ``languages`` (Tesseract models joined by ``+``) was chosen by CER on Vietnamese material,
    measured through this engine (``bench/ocr_engine.py --languages ...``; CER %, NFC,
    whitespace collapsed; Tesseract 5.3.0 with Debian's 4.1 fast models):

    ==================================  =====  =======  ==========  ==============
    page                                vie    vie+eng  Vietnamese  vie+Vietnamese
    ==================================  =====  =======  ==========  ==============
    admin.jpg, real scan as is (90dpi)   9.41     9.05        9.41            9.32
    admin.jpg tagged 300 dpi             9.49     9.14        9.49            9.23
    admin.jpg upscaled x2 / x3 / x4      8.07     8.34        8.43            8.07
                                         8.78     9.58        9.23            9.14
                                         9.32     9.76       10.03            9.49
    viet.tif; 4 rendered A5 pages        0.00     0.00   0.00-0.10            0.00
    rendered harsh 9pt serif             1.77     2.30        1.51            1.51
    rendered harsh 8pt sans              0.45     0.55        0.30            0.30
    rendered harsh 8pt serif             0.83     1.19        0.78            0.47
    **mean of the Vietnamese rows**      4.11     4.21        4.20            4.06
    8 more harsh A5 pages, pooled       0.187    0.214       0.152           0.161
    seconds for the Vietnamese rows      41.5     47.5        45.7            48.8
    English: phototest / eurotext   0.0/5.34 0.0/2.91    0.0/3.64        0.0/3.64
    ==================================  =====  =======  ==========  ==============

    ``vie`` and the two script-model settings are within one or two characters a page of each
    other (a tie: 0.05 points of mean CER; 3-4 edits in 11,000 characters on the extra pages),
    so the fastest wins: ``vie`` is 9-15 % faster. ``vie+eng`` is worse on Vietnamese (and
    better only on the European eurotext page).

    ``rotate_pages``/``deskew`` are done by this package, not by OCRmyPDF (see the module doc).
    """

    languages: str = "vie"
    rotate_pages: bool = True
    deskew: bool = True
    jobs: int = 2
    tesseract_timeout: float = 180
    max_image_mpixels: float = 250
    optimize: int = 1
    #: ``RLIMIT_AS`` of each Tesseract child in MB (0: none); see :mod:`ocr.childlimits`.
    child_memory_mb: int = 2048
    #: The most a content stream may inflate to before it is parsed and re-emitted.
    max_stream_bytes: int = MAX_STREAM_BYTES
    #: Read plain scan pages with Tesseract directly (:mod:`ocr.reader`); False: OCRmyPDF only.
    direct: bool = True
    #: Tesseract slots for the whole machine, shared by every process (0: no machine-wide
    #: limit, only ``jobs`` per process); see :class:`ocr.reader.Slots`.
    machine_slots: int = 0
    slots_dir: Path | None = None


@dataclass(frozen=True)
class OcrResult:
    pages: int
    page_texts: list[str]
    language: str
    rotated_pages: list[int]  # 1-based
    deskewed_pages: list[int]  # 1-based
    pdfa: PdfaReport
    warnings: list[str] = field(default_factory=list)
    #: How each page was made (:class:`ocr.prepare.PagePath` values).
    page_paths: list[str] = field(default_factory=list)
    #: Files embedded in the input, taken out for PDF/A and to be stored beside the document.
    attachments: list[Attachment] = field(default_factory=list)
    #: Tesseract model each page was read with ("vie", "eng", "fra"; "" for a page without text).
    page_languages: list[str] = field(default_factory=list)
    #: What OCR measured on each page; the rescan warnings are made from it.
    page_quality: list[capture.PageQuality] = field(default_factory=list)


#: Pages that carry no text of their own (ocr.prepare judged them): only these are straightened.
_PICTURE_PATHS = (PagePath.SCAN, PagePath.RASTERIZED)


@dataclass
class _Fixes:
    rotated: list[int] = field(default_factory=list)
    deskewed: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class OcrEngine:
    """Long-lived OCR engine; ``run`` may be called concurrently from several threads.

    Concurrent runs overlap inside OCRmyPDF because every run passes the same plugin set
    (:data:`PLUGIN`); they should also share ``max_image_mpixels``, which is Pillow-global.
    """

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        # Tesseract's OpenMP threads fight each other on a busy machine (12 s instead of 2 s a
        # page); parallelism comes from ``jobs``. Set before any Tesseract runs, not at import.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        childlimits.install(self.settings.child_memory_mb)
        #: Tesseract slots shared by every run of this engine (threads start on first use).
        s = self.settings
        slots = reader.Slots(s.machine_slots, s.slots_dir) if s.machine_slots > 0 else None
        self.pages = reader.PageQueue(s.jobs, slots)

    def run(
        self,
        input_pdf: Path,
        output_pdf: Path,
        *,
        work_dir: Path,
        progress: Callable[[int, int], None] | None = None,
        languages: Sequence[str] | None = None,
    ) -> OcrResult:
        """OCR ``input_pdf`` into ``output_pdf`` (PDF/A-2b); raise only :class:`OcrError`.

        ``languages`` (Tesseract models or ``vi``/``en``/``fr``) reads every page with those
        instead of Vietnamese first with a per-page second reading.
        """
        from ocr import ocrmypdf_plugin as plugin

        work_dir.mkdir(parents=True, exist_ok=True)
        token = plugin.current_progress.set(progress)
        forced = contextlib.ExitStack()
        try:
            if languages is not None:
                forced.enter_context(plugin.page_options(languages))
            prepared = prepare(
                Path(input_pdf),
                work_dir / "prepare",
                max_stream_bytes=self.settings.max_stream_bytes,
            )
            fixes = _Fixes(warnings=list(prepared.warnings))
            try:
                direct = self._convert(prepared, Path(output_pdf), work_dir, fixes, progress)
            except PdfaValidationError as exc:
                # No scan ends pdfa_invalid while pictures of its pages would have been valid.
                log.warning("PDF/A conversion failed (%s); rasterizing every page", exc)
                prepared = prepare(
                    Path(input_pdf),
                    work_dir / "pictures",
                    pictures_only=True,
                    max_stream_bytes=self.settings.max_stream_bytes,
                )
                fixes = _Fixes(warnings=list(prepared.warnings))
                direct = self._convert(
                    prepared, Path(output_pdf), work_dir / "again", fixes, progress
                )
            report = check_pdfa(Path(output_pdf))
            if not report.ok:
                raise PdfaValidationError("; ".join(report.problems))
            texts = page_texts(Path(output_pdf))
            if direct is None:
                quality = plugin.collect(texts, Path(output_pdf))  # language, capture per page
            else:
                quality = [
                    direct.get(n) or plugin.text_quality(n, text) for n, text in enumerate(texts, 1)
                ]
            # Only paper can be scanned again: born-digital and rasterized pages get no advice.
            scanned = [
                q for q, path in zip(quality, prepared.paths, strict=True) if path is PagePath.SCAN
            ]
            fixes.warnings.extend(capture.warnings(scanned))
        except plugin.CallbackError as exc:
            raise exc.original from None
        except OcrError:
            raise
        except Exception as exc:
            if isinstance(exc.__cause__, plugin.CallbackError):
                raise exc.__cause__.original from None
            raise (childlimits.memory_error(exc) or translate(exc)) from exc
        finally:
            forced.close()
            plugin.current_progress.reset(token)
        fixes.warnings.extend(
            f"page {i}: no text found" for i, text in enumerate(texts, 1) if not text.strip()
        )
        return OcrResult(
            pages=len(texts),
            page_texts=texts,
            language=self.settings.languages,
            rotated_pages=fixes.rotated,
            deskewed_pages=fixes.deskewed,
            pdfa=report,
            warnings=fixes.warnings,
            page_paths=[path.value for path in prepared.paths],
            attachments=list(prepared.attachments),
            page_languages=[q.language for q in quality],
            page_quality=quality,
        )

    def _convert(
        self,
        prepared: Prepared,
        output: Path,
        work_dir: Path,
        fixes: _Fixes,
        progress: Callable[[int, int], None] | None,
    ) -> dict[int, capture.PageQuality] | None:
        """OCR the pages that need it and write PDF/A-2b; born-digital files skip OCRmyPDF.

        Returns what the direct reader measured per page (1-based), or None when OCRmyPDF ran
        (its plugin collected the same).
        """
        if prepared.ocr_pages:
            work_dir.mkdir(parents=True, exist_ok=True)
            # Scans and our own pictures may be turned or skewed; pages with text are not.
            pictures = [i for i, path in enumerate(prepared.paths) if path in _PICTURE_PATHS]
            source = self._straighten(prepared.pdf, pictures, work_dir, fixes)
            mixed = PagePath.MIXED in prepared.paths
            if self.settings.direct and not mixed:
                read = self._read_directly(source, output, prepared, work_dir, progress)
                if read is not None:
                    return read
            self._ocr(source, output, pages=prepared.ocr_pages, redo=mixed)
            return None
        # Born-digital throughout: nothing to read, only PDF/A to declare.
        with pikepdf.open(prepared.pdf) as pdf:
            _save_pdfa(pdf, output)
        if progress is not None:
            progress(len(prepared.paths), len(prepared.paths))
        return {}

    def _read_directly(
        self,
        source: Path,
        output: Path,
        prepared: Prepared,
        work_dir: Path,
        progress: Callable[[int, int], None] | None,
    ) -> dict[int, capture.PageQuality] | None:
        """Tesseract on each scan page through the shared queue; None if OCRmyPDF must do it."""
        from ocr import ocrmypdf_plugin as plugin

        indexes = [n - 1 for n in prepared.ocr_pages]
        with pikepdf.open(source) as pdf:
            if not reader.eligible(pdf, indexes):
                return None
        opts = plugin.current_page_options.get() or plugin.PageOptions()
        langs = tuple(opts.languages or self.settings.languages.split("+"))
        jobs = [
            reader.PageJob(
                source=source,
                index=index,
                work=work_dir / "pages" / f"{index + 1:06d}",
                languages=langs,
                detect=opts.languages is None and bool(plugin.DETECT_FROM & set(langs)),
                upsample_below=opts.upsample_below_dpi,
                timeout=self.settings.tesseract_timeout,
            )
            for index in indexes
        ]
        total = len(prepared.paths)

        def report(done: int, total: int) -> None:
            if progress is None:
                return
            try:
                progress(done, total)
            except Exception as exc:  # the caller's own error (a cancelled scan), as it was
                raise plugin.CallbackError(exc) from exc

        try:
            pages = reader.read_pages(self.pages, jobs, report, total, total - len(jobs))
        except reader.NotDirect as exc:
            log.info("reading through OCRmyPDF: %s", exc)
            return None
        with pikepdf.open(source) as pdf:
            reader.lay_text(pdf, pages)
            _save_pdfa(pdf, output)
        shutil.rmtree(work_dir / "pages", ignore_errors=True)
        return {p.index + 1: p.quality for p in pages}

    def _ocr(self, source: Path, output: Path, *, pages: list[int], redo: bool) -> None:
        """OCR ``pages`` (1-based); ``redo`` reads the image parts of pages that have text."""
        import ocrmypdf
        from ocrmypdf.exceptions import PdfaConversionFailedError

        try:
            rc = self._call_ocrmypdf(source, output, pages=pages, redo=redo)
        except PdfaConversionFailedError as exc:
            first = (str(exc).strip().splitlines() or ["OCRmyPDF could not produce PDF/A-2b"])[0]
            raise PdfaValidationError(first) from exc
        if rc == ocrmypdf.ExitCode.pdfa_conversion_failed:
            raise PdfaValidationError("OCRmyPDF could not produce PDF/A-2b")
        if rc != ocrmypdf.ExitCode.ok:
            raise OcrEngineError(f"OCRmyPDF exit code {int(rc)}")

    def _call_ocrmypdf(
        self, source: Path, output: Path, *, pages: list[int], redo: bool
    ) -> ExitCode:
        import ocrmypdf

        from ocr import ocrmypdf_plugin as plugin

        s = self.settings
        return ocrmypdf.ocr(
            source,
            output,
            **plugin.ocr_kwargs(s.languages, output),  # language, per-page options, collector
            output_type="pdfa-2",
            pdfa_backend="internal",
            mode="redo" if redo else "skip",
            pages=",".join(map(str, pages)),
            jobs=s.jobs,
            tesseract_timeout=s.tesseract_timeout,
            max_image_mpixels=s.max_image_mpixels,
            optimize=s.optimize,
            rotate_pages=False,
            deskew=False,
            progress_bar=False,
            plugins=[PLUGIN],
        )

    def _straighten(self, source: Path, pictures: list[int], work_dir: Path, fixes: _Fixes) -> Path:
        """Detect and fix orientation and skew of the ``pictures`` pages (0-based) that draw an
        image; return the PDF to OCR."""
        s = self.settings
        if s.max_image_mpixels:
            Image.MAX_IMAGE_PIXELS = int(s.max_image_mpixels * 1_000_000)
        with pikepdf.open(source) as pdf:  # ocr.prepare wrote it: readable, not encrypted
            scans = []
            for index in pictures:
                page = pdf.pages[index]
                try:
                    if page.get_images():  # OCRmyPDF leaves pages without images alone too
                        scans.append(index)
                except Exception:  # malformed content: OCRmyPDF will judge the page
                    log.debug("page %d: unreadable content", index + 1, exc_info=True)
            if not (s.rotate_pages or s.deskew):
                return source
            # Each preview is judged as soon as it is drawn, at most 2 × jobs waiting: holding
            # every page's preview first grew by 3 MB a page (1 GB at 300 pages).
            jobs = max(1, s.jobs)
            decided: list[tuple[int, tuple[int, float, str]]] = []
            pending: deque[tuple[int, Future[tuple[int, float, str]]]] = deque()
            with ThreadPoolExecutor(jobs) as pool:
                for index in scans:
                    try:
                        view = scanpage.preview(pdf.pages[index], _PREVIEW_DPI)
                    except Image.DecompressionBombError:
                        raise
                    except Exception:  # malformed content: let PDFium try
                        log.debug("page %d: no fast preview", index + 1, exc_info=True)
                        view = None
                    view = view or _render(source, index, _PREVIEW_DPI)
                    if view is None:
                        continue
                    pending.append((index, pool.submit(self._decide, source, index, *view)))
                    del view
                    while len(pending) > 2 * jobs:
                        first, future = pending.popleft()
                        decided.append((first, future.result()))
                decided.extend((i, future.result()) for i, future in pending)
            if not decided:
                return source
            changed = False
            for index, (turn, skew, note) in decided:
                rotate = (360 - turn) % 360
                if rotate or skew:
                    scanpage.straighten(pdf.pages[index], rotate_cw=rotate, skew_ccw=skew)
                    changed = True
                if rotate:
                    fixes.rotated.append(index + 1)
                if skew:
                    fixes.deskewed.append(index + 1)
                if note:
                    fixes.warnings.append(f"page {index + 1}: {note}")
            if not changed:
                return source
            straightened = work_dir / "straightened.pdf"
            pdf.save(straightened)
            return straightened

    def _decide(
        self, source: Path, index: int, im: Image.Image, dpi: float, native_dpi: float
    ) -> tuple[int, float, str]:
        """(counter-clockwise turn, skew to apply, warning) for one page."""
        s = self.settings
        geo = geometry.detect(im, dpi)
        turn, axis_known = geo.turn, geo.axis_certain
        note = ""
        if s.rotate_pages and not geo.certain and not geo.blank:
            # Our evidence is weak (few lines, columns, a low-resolution photo): ask OSD.
            osd_dpi = min(300.0, max(150.0, native_dpi))
            osd = _osd_turn(source, index, osd_dpi, s.tesseract_timeout, agree=geo.turn)
            if osd is None:
                # Leave it as scanned; its skew still holds if its lines run across the page.
                turn, note = 0, "orientation uncertain, left as scanned"
                axis_known = axis_known and geo.turn % 180 == 0
            else:
                # OSD agreeing on the direction of the lines confirms our skew estimate.
                axis_known = geo.lines > 0 and osd % 180 == geo.turn % 180
                turn = osd
        if not s.rotate_pages:
            turn = 0
        skew = geo.skew if s.deskew and axis_known else 0.0
        if abs(skew) <= geometry.SKEW_THRESHOLD:
            skew = 0.0
        return turn, skew, note


def _save_pdfa(pdf: pikepdf.Pdf, output: Path) -> None:
    """Declare PDF/A-2b on a prepared (and maybe OCRed) file; pikepdf validates what it writes."""
    from pikepdf.pdfa import PdfaError, save

    try:
        save(pdf, output, "2b", output_intent="sRGB")
    except PdfaError as exc:
        raise PdfaValidationError(
            "could not be made PDF/A-2b: " + "; ".join(f.message for f in exc.report.findings[:5])
        ) from None


def _render(source: Path, index: int, dpi: float) -> tuple[Image.Image, float, float] | None:
    """Render a page that is not a plain scan (vector, several images, masks) with PDFium."""
    drawn = pdfium.render(source, index, dpi)
    if drawn is None:  # an unrenderable page is left for OCRmyPDF to judge
        return None
    image, used, _, _ = drawn
    return image, used, used


def _osd_turn(source: Path, index: int, dpi: float, timeout: float, agree: int) -> int | None:
    """Tesseract OSD on one page: its counter-clockwise correction, or None if unsure.

    A weak OSD answer still counts when it agrees with our own guess ``agree``.
    """
    rendered = _render(source, index, dpi)
    if rendered is None:
        return None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sohoa-osd-") as tmp:
        png = Path(tmp) / "page.png"
        rendered[0].save(png, dpi=(round(dpi), round(dpi)), compress_level=1)
        try:
            out = subprocess.run(
                ["tesseract", str(png), "stdout", "--psm", "0"],
                capture_output=True,
                text=True,
                timeout=min(timeout, 60) if timeout else 60,
                check=False,
            ).stdout
        except subprocess.TimeoutExpired:
            return None
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())
    )
    try:
        angle = int(fields["Orientation in degrees"])
        confidence = float(fields["Orientation confidence"])
    except (KeyError, ValueError):
        return None
    angle %= 360
    if confidence < _OSD_MIN_CONFIDENCE and angle != agree:
        return None
    return angle
