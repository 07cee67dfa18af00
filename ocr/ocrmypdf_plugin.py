"""OCRmyPDF plugin used by :class:`ocr.engine.OcrEngine` (passed as ``plugins=[__name__]``).

Every OcrEngine run passes this same module, so concurrent runs in one process share one plugin
set, as OCRmyPDF ≥ 17.11 requires for them to overlap. Per-run state (the progress callback)
travels in a ContextVar: OCRmyPDF creates progress bars in the thread that called ``ocr()``.

Hooks:

- ``get_progressbar_class``: per-page progress to the run's callback.
- ``rasterize_pdf_page``: single-image scan pages come straight from their image (no PDFium
  render, PNG at zlib level 1 instead of 6: 2 s → 0.3 s on a noisy A4 page); others fall through
  to the built-in PDFium rasterizer.
- ``filter_ocr_image``: notes each page's scan resolution and upsamples a raster under
  :data:`ocr.capture.UPSAMPLE_BELOW_DPI` twofold for Tesseract only (the stored image stays as
  scanned): 72-90 dpi phone photos lose fewer letters (``bench/languages.py``).
- ``get_ocr_engine``: Tesseract, but a page that ran into ``tesseract_timeout`` raises
  instead of silently becoming a page without text, and each page is read with ``vie`` first
  and again with ``eng``/``fra`` when :mod:`ocr.language` says it is not Vietnamese.

Pages run on OCRmyPDF's worker threads (or processes with ``use_threads=False``), where a
ContextVar set by the caller is not visible. So what a run asks for travels in OCRmyPDF's
options (:func:`ocr_kwargs` adds ``sohoa_*`` entries, kept in ``options.extra_attrs``, which
also reach child processes), and what the pages report comes back as one small JSON file a page
in a folder owned by the run's :class:`PageCollector`, held in a ContextVar in the calling
thread like the progress callback.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pikepdf
from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins.tesseract_ocr import TesseractOcrEngine
from PIL import Image

from ocr import capture, language, scanpage

if TYPE_CHECKING:
    from ocrmypdf import OcrOptions, PageContext
    from ocrmypdf.helpers import Resolution

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]

#: The progress callback of the OcrEngine.run() executing in this thread (None: no reporting).
current_progress: ContextVar[ProgressCallback | None] = ContextVar(
    "sohoa_ocr_progress", default=None
)


@dataclass(frozen=True)
class PageOptions:
    """What one OcrEngine.run asks of every page.

    ``languages``: Tesseract models to use as given, with no per-page detection (the upload's
    ``languages`` field); None detects per page. ``upsample_below_dpi``: 0 turns upsampling off
    (the benchmark's "before").
    """

    languages: tuple[str, ...] | None = None
    upsample_below_dpi: float = capture.UPSAMPLE_BELOW_DPI


#: Set around OcrEngine.run() by its caller (or by run() from its ``languages`` argument).
current_page_options: ContextVar[PageOptions | None] = ContextVar(
    "sohoa_ocr_page_options", default=None
)


@contextmanager
def page_options(
    languages: Sequence[str] | None = None,
    *,
    upsample_below_dpi: float = capture.UPSAMPLE_BELOW_DPI,
) -> Iterator[PageOptions]:
    """Run OcrEngine.run() inside this to force languages; raises OcrInputError for unknown ones."""
    chosen = tuple(language.normalize_languages(languages)) if languages is not None else None
    opts = PageOptions(languages=chosen, upsample_below_dpi=upsample_below_dpi)
    token = current_page_options.set(opts)
    try:
        yield opts
    finally:
        current_page_options.reset(token)


class PageReport(TypedDict, total=False):
    """What a page's hooks found, one JSON file per hook (see :func:`collect`).

    ``filter_ocr_image`` writes the resolutions, the OCR engine the rest.
    """

    dpi: float | None  # the scan's own resolution
    ocr_dpi: float | None  # what Tesseract saw
    language: str
    language_confidence: float | None
    reread_from: str | None
    words: int
    chars: int
    confidence: float | None
    ink: float | None


class OcrKwargs(TypedDict):
    """What :func:`ocr_kwargs` adds to ``ocrmypdf.ocr``; the hooks read ``sohoa_*`` back from
    ``options.extra_attrs``."""

    language: list[str]
    sohoa_pages: str
    sohoa_detect: bool
    sohoa_upsample_below: float


class PageCollector:
    """A folder the page workers write their reports into; removed by :meth:`pages`."""

    def __init__(self, output: Path) -> None:
        self.output = Path(output)  # a stale collector of a failed run must not be read
        self.folder = Path(tempfile.mkdtemp(prefix="sohoa-pages-"))
        # A run that fails before collecting must not leave the folder behind.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def pages(self) -> dict[int, PageReport]:
        """Page number (1-based) → what its hooks reported; reads once, then removes the folder."""
        found: dict[int, PageReport] = {}
        for path in sorted(self.folder.glob("*.json")):
            page = int(path.name.split(".", 1)[0])
            try:
                found.setdefault(page, {}).update(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                log.debug("unreadable page report %s", path, exc_info=True)
        self._cleanup()
        return found


_current_collector: ContextVar[PageCollector | None] = ContextVar(
    "sohoa_ocr_collector", default=None
)


def ocr_kwargs(languages: str, output: Path) -> OcrKwargs:
    """Keyword arguments for ``ocrmypdf.ocr`` in OcrEngine._ocr; starts this run's collector.

    ``languages`` is the engine's setting (``vie``); the caller's :func:`page_options` win.
    Call it in the thread (context) of OcrEngine.run, which later calls :func:`collect`.
    """
    opts = current_page_options.get() or PageOptions()
    collector = PageCollector(output)
    _current_collector.set(collector)
    chosen = list(opts.languages) if opts.languages else languages.split("+")
    return OcrKwargs(
        language=chosen,
        sohoa_pages=str(collector.folder),
        sohoa_detect=opts.languages is None and bool(DETECT_FROM & set(chosen)),
        sohoa_upsample_below=float(opts.upsample_below_dpi),
    )


def collect(texts: Sequence[str], output: Path) -> list[capture.PageQuality]:
    """What this run's OCRmyPDF call into ``output`` found, one entry per page of ``texts``.

    Pages OCRmyPDF did not OCR (they had text) get the language of their text and no verdict.
    """
    collector = _current_collector.get()
    _current_collector.set(None)
    mine = collector is not None and collector.output == Path(output)
    reports = collector.pages() if mine and collector is not None else {}
    out = []
    for number, text in enumerate(texts, 1):
        rep = reports.get(number, {})
        if "language" not in rep:
            out.append(text_quality(number, text, dpi=rep.get("dpi")))
            continue
        out.append(
            capture.PageQuality(
                page=number,
                language=rep["language"],
                ocr=True,
                dpi=rep.get("dpi"),
                ocr_dpi=rep.get("ocr_dpi"),
                ink=rep.get("ink"),
                words=int(rep.get("words", 0)),
                chars=int(rep.get("chars", 0)),
                confidence=rep.get("confidence"),
                language_confidence=rep.get("language_confidence"),
                reread_from=rep.get("reread_from"),
            )
        )
    return out


def text_quality(number: int, text: str, *, dpi: float | None = None) -> capture.PageQuality:
    """A page that was not OCRed: the language of its own text, no verdict on the capture."""
    found = language.guess(text)
    return capture.PageQuality(
        page=number,
        language=found.language if text.strip() else "",
        ocr=False,
        dpi=dpi,
        words=found.words,
        chars=len(text.strip()),
    )


def _report(options: OcrOptions, page: int | None, kind: str, report: PageReport) -> None:
    """Write one page's findings where the run's collector will look (if anyone asked)."""
    folder = getattr(options, "sohoa_pages", None)
    if not folder or page is None:
        return
    name = f"{page:06d}.{kind}.json"
    (Path(folder) / name).write_text(json.dumps(report), encoding="utf-8")


#: Models whose readings are checked for another language (and read again with it).
DETECT_FROM = frozenset({language.VIE, "Vietnamese"})
_PAGE_STEPS = {"OCR", "Image processing"}
_DEVICE_MODES = {"pnggray": "L", "png16m": "RGB", "pngmono": "1", "pngmonod": "1"}


class CallbackError(Exception):
    """Carries an exception raised by the caller's progress callback through OCRmyPDF."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class PageProgress:
    """OCRmyPDF's ProgressBar protocol, reporting whole pages of the OCR step only.

    OCRmyPDF advances half a page when a page's OCR is done and half when it is grafted.
    """

    def __init__(
        self,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str | None = None,
        disable: bool = False,
        **kwargs: object,
    ) -> None:
        wanted = unit == "page" and desc in _PAGE_STEPS and total
        self._callback = current_progress.get() if wanted else None
        self._total = int(total or 0)
        self._done = 0.0
        self._reported = -1

    def __enter__(self) -> PageProgress:
        self._emit()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Exceptions pass through."""

    def update(self, n: float = 1, *, completed: float | None = None) -> None:
        self._done = completed if completed is not None else self._done + (n or 0)
        self._emit()

    def _emit(self) -> None:
        if self._callback is None:
            return
        pages = min(int(self._done + 1e-6), self._total)
        if pages != self._reported:
            self._reported = pages
            try:
                self._callback(pages, self._total)
            except Exception as exc:
                raise CallbackError(exc) from exc


@hookimpl
def get_progressbar_class() -> type[PageProgress]:
    return PageProgress


@hookimpl
def rasterize_pdf_page(
    input_file: Path,
    output_file: Path,
    raster_device: str,
    raster_dpi: Resolution[float],
    pageno: int,
    page_dpi: Resolution[float] | None,
    rotation: int | None,
    filter_vector: bool,
    stop_on_soft_error: bool,
    options: OcrOptions | None,
    use_cropbox: bool,
) -> Path | None:
    """Scan pages straight from their image; None hands the page to the next rasterizer."""
    mode = _DEVICE_MODES.get(str(raster_device).lower())
    if (
        mode is None
        or rotation
        or filter_vector
        or use_cropbox
        or getattr(options, "rasterizer", "auto") != "auto"  # a rasterizer was asked for
    ):
        return None
    try:
        with pikepdf.open(input_file) as pdf:
            page = pdf.pages[pageno - 1]
            im = scanpage.render(page, (float(raster_dpi.x), float(raster_dpi.y)))
    except Image.DecompressionBombError:
        raise  # the max_image_mpixels limit applies to us as to OCRmyPDF
    except Exception:  # anything odd about the page: PDFium will draw it
        log.debug("page %d: fast rasterizer declined", pageno, exc_info=True)
        return None
    if im is None:
        return None
    if im.mode != mode:
        if mode == "1":
            return None  # thresholding is PDFium's and Tesseract's business, not ours
        im = im.convert(mode)
    dpi = page_dpi if page_dpi is not None else raster_dpi
    im.save(output_file, format="PNG", compress_level=1, dpi=(float(dpi.x), float(dpi.y)))
    return output_file


@hookimpl(tryfirst=True)
def filter_ocr_image(page: PageContext, image: Image.Image) -> Image.Image | None:
    """Note the page's scan resolution; upsample a low-resolution raster for Tesseract only.

    Returns None (the image untouched, so OCRmyPDF links instead of re-encoding it, and
    Tesseract's own size filter runs next) unless the page is upsampled.
    """
    options = page.options
    number = page.pageno + 1
    try:
        res = page.pageinfo.dpi
        dpi = float(min(res.x, res.y)) or None
    except Exception:  # a page without images has no resolution to judge
        dpi = None
    raster = image.info.get("dpi")
    ocr_dpi = float(min(raster)) if raster else dpi
    factor = capture.upsample_factor(
        ocr_dpi, below=getattr(options, "sohoa_upsample_below", capture.UPSAMPLE_BELOW_DPI)
    )
    if factor > 1 and ocr_dpi:
        # Grey before resampling: on the 72 dpi decision scan, 8.2 % CER against 9.0 % for RGB.
        image = image.convert("L")
        size = (image.width * factor, image.height * factor)
        bigger = image.resize(size, Image.Resampling.LANCZOS)
        # The text layer is placed by the OCR image's resolution (hOCR scan_res), so scaling
        # the resolution with the pixels keeps every word where it is on the page.
        bigger.info["dpi"] = (ocr_dpi * factor, ocr_dpi * factor)
        _report(options, number, "capture", PageReport(dpi=dpi, ocr_dpi=ocr_dpi * factor))
        return bigger
    _report(options, number, "capture", PageReport(dpi=dpi, ocr_dpi=ocr_dpi))
    return None


_PAGE_PREFIX = re.compile(r"^(\d{6})_")


def _page_number(path: Path) -> int | None:
    """OCRmyPDF names a page's work files ``000002_...``."""
    m = _PAGE_PREFIX.match(path.name)
    return int(m.group(1)) if m else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _skipped(text: str) -> str:
    """OCRmyPDF's sidecar for a page Tesseract found empty says so; that is no text."""
    return "" if text.strip() == "[skipped page]" else text


class TimedTesseract(TesseractOcrEngine):
    """Tesseract as OCRmyPDF runs it, except that a timed-out page is an error, and a page that
    is not Vietnamese is read again with the model that fits it."""

    @staticmethod
    def generate_hocr(
        input_file: Path, output_hocr: Path, output_text: Path, options: OcrOptions
    ) -> None:
        def read(langs: list[str], hocr: Path, text: Path) -> None:
            _timed(TesseractOcrEngine.generate_hocr, input_file, hocr, text, options, langs)

        _read_page(read, input_file, output_hocr, output_text, options, hocr=True)

    @staticmethod
    def generate_pdf(
        input_file: Path, output_pdf: Path, output_text: Path, options: OcrOptions
    ) -> None:
        def read(langs: list[str], pdf: Path, text: Path) -> None:
            _timed(TesseractOcrEngine.generate_pdf, input_file, pdf, text, options, langs)

        _read_page(read, input_file, output_pdf, output_text, options, hocr=False)


def _timed(
    generate: Callable[[Path, Path, Path, OcrOptions], None],
    input_file: Path,
    output: Path,
    output_text: Path,
    options: OcrOptions,
    langs: list[str],
) -> None:
    """One Tesseract run with ``langs``; a run that hit the timeout raises."""
    if langs != list(options.languages):
        options = options.model_copy(update={"languages": langs})
    started = time.monotonic()
    generate(input_file, output, output_text, options)
    limit = options.tesseract.timeout
    if limit and time.monotonic() - started >= limit and not output.stat().st_size:
        raise subprocess.TimeoutExpired(["tesseract", str(input_file)], limit)


def _read_page(
    read: Callable[[list[str], Path, Path], None],
    input_file: Path,
    output: Path,
    output_text: Path,
    options: OcrOptions,
    *,
    hocr: bool,
) -> None:
    """Read with the run's languages; if asked, judge the text and re-read with a better model."""
    langs = list(options.languages)
    read(langs, output, output_text)
    text = _skipped(_read_text(output_text))
    used, guess, reread_from = "+".join(langs), None, None
    if getattr(options, "sohoa_detect", False):
        guess = language.guess(text)
        if guess.language not in langs:
            alt = output.with_name(f"{output.stem}.{guess.language}{output.suffix}")
            alt_text = output_text.with_name(f"{output_text.stem}.{guess.language}.txt")
            read([guess.language], alt, alt_text)
            alt.replace(output)
            if alt_text.exists():
                alt_text.replace(output_text)
            text = _skipped(_read_text(output_text))
            reread_from, used = used, guess.language
    number = _page_number(output)
    if number is None or not getattr(options, "sohoa_pages", None):
        return
    words, confidence = (
        capture.hocr_words(_read_text(output)) if hocr else (len(text.split()), None)
    )
    ink = capture.ink_area(input_file) if words < capture.FEW_WORDS else None
    _report(
        options,
        number,
        "ocr",
        PageReport(
            language=used,
            language_confidence=guess.confidence if guess else None,
            reread_from=reread_from,
            words=words,
            chars=len("".join(text.split())),
            confidence=confidence,
            ink=ink,
        ),
    )


@hookimpl
def get_ocr_engine(options: OcrOptions | None) -> TesseractOcrEngine | None:
    if options is not None and getattr(options, "ocr_engine", "auto") not in ("auto", "tesseract"):
        return None
    return TimedTesseract()
