"""Scan pages read by Tesseract directly, their text layer laid over the page with pikepdf.

For a page that is one scanned image, OCRmyPDF spends more around Tesseract than Tesseract
spends reading (``bench/README.md``: per-file start-up, version probes, a PNG of every page,
the hOCR text layer rebuilt in Python by fpdf2, its own PDF/A pass). Here the image goes to
Tesseract as it is stored (a JPEG is handed over byte for byte; only a turned, deskewed or
low-resolution page is drawn first), Tesseract writes the text-only PDF itself
(``textonly_pdf``), and that page becomes a Form XObject drawn over the page in invisible
text. One copy of Tesseract's glyphless font serves every page.

Pages of all documents share one queue per process (:class:`PageQueue`): a small file's last
page never leaves a core idle while a long one still has pages waiting. Across the processes of
one machine (a Celery worker's pool children, ``sohoa digitize``) the pages hold
:class:`Slots`, one per core, so more documents can be in flight than there are cores without
more Tesseracts than cores.

Anything this path does not cover (pages that also carry text, vector-only pages, bilevel
pages that need a deskew, odd colour spaces) raises :class:`NotDirect` before any work is done
or while a page is read, and the engine gives the whole file to OCRmyPDF as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream
from PIL import Image

from ocr import capture, language, scanpage

log = logging.getLogger(__name__)

#: The name our text layer has in a page's resources (a scan page has no other XObject of it).
LAYER = Name("/SohoaOcrText")
#: Colour spaces whose JPEG Tesseract decodes as we do (CMYK JPEGs are often stored inverted).
_JPEG_SPACES = {Name.DeviceGray: 1, Name.DeviceRGB: 3}
_PNM = {"L": ".pgm", "RGB": ".ppm", "1": ".pbm"}


class NotDirect(Exception):
    """This file (or one of its pages) is OCRmyPDF's business, not this module's."""


@dataclass(frozen=True)
class PageJob:
    """What a worker thread needs to read one page: no pikepdf object crosses threads."""

    source: Path  # the (straightened) PDF
    index: int  # 0-based
    work: Path  # folder of this page's files
    languages: tuple[str, ...]
    detect: bool  # read again with the model the text says it needs
    upsample_below: float
    timeout: float


@dataclass(frozen=True)
class PageText:
    """One page as Tesseract read it."""

    index: int
    layer: Path  # Tesseract's one-page text-only PDF
    quality: capture.PageQuality


class Slots:
    """``count`` Tesseract slots shared by every process of this machine that uses ``folder``.

    A slot is an exclusive ``flock`` on a file: the kernel frees it when its holder exits, so a
    worker killed mid-page (a time limit, the OOM killer) never takes a slot with it.
    """

    def __init__(self, count: int, folder: Path | None = None) -> None:
        self.count = max(1, count)
        self.folder = folder or Path(tempfile.gettempdir()) / f"sohoa-ocr-slots-{os.getuid()}"

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Wait for a free slot and hold it; yields its number."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fds = [
            os.open(self.folder / f"{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            for n in range(self.count)
        ]
        try:
            wait = 0.002
            while True:
                for number, fd in enumerate(fds):
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue
                    try:
                        yield number
                    finally:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    return
                # Every slot busy (other processes' pages): a page takes about a second, and a
                # slot left idle for 10 ms costs 1 %; a try costs microseconds.
                time.sleep(wait)
                wait = min(wait * 2, 0.01)
        finally:
            for fd in fds:
                os.close(fd)


class PageQueue:
    """Pages of every run in this process, first come, first served.

    Twice ``jobs`` pages are in hand at once but only ``jobs`` Tesseracts run (and, with
    ``slots``, only as many as the machine has slots): the next page's picture is drawn while
    Tesseract reads the current ones, so a Tesseract slot never waits for Python.
    """

    def __init__(self, jobs: int, slots: Slots | None = None) -> None:
        self.jobs = max(1, jobs)
        self.slots = slots
        self._running = threading.BoundedSemaphore(self.jobs)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, job: PageJob) -> Future[PageText]:
        with self._lock:
            if self._pool is None:  # made on first use: nothing runs at import or construction
                self._pool = ThreadPoolExecutor(2 * self.jobs, thread_name_prefix="sohoa-page")
            return self._pool.submit(read_page, job, self.slot)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Held around each Tesseract run: one of this process's jobs and a machine slot."""
        with self._running:
            if self.slots is None:
                yield
            else:
                with self.slots.hold():
                    yield


def eligible(pdf: pikepdf.Pdf, indexes: Sequence[int]) -> bool:
    """Whether every page in ``indexes`` (0-based) is one image this module can hand over."""
    for index in indexes:
        try:
            found = scanpage.single_image(pdf.pages[index])
        except Exception:  # unreadable content: OCRmyPDF judges it
            return False
        if found is None:
            return False
        xobj, _ = found
        if _components(xobj.get("/ColorSpace")) is None:
            return False
    return True


def _components(space: object) -> int | None:
    """Colour components of a grey or RGB colour space (device or ICC-based), else None."""
    if isinstance(space, Name):
        return _JPEG_SPACES.get(space)
    if isinstance(space, Array) and len(space) == 2 and space[0] == Name.ICCBased:
        profile = space[1]
        n = profile.get("/N") if isinstance(profile, Stream) else None
        return int(n) if n in (1, 3) else None
    return None


def read_pages(
    queue: PageQueue,
    jobs: Sequence[PageJob],
    progress: Callable[[int, int], None] | None,
    total: int,
    done_before: int,
) -> list[PageText]:
    """Read ``jobs`` through the shared queue; report pages done of ``total`` as they finish."""
    if progress is not None:
        progress(done_before, total)
    futures = [queue.submit(job) for job in jobs]
    results: list[PageText] = []
    try:
        for done, future in enumerate(as_completed(futures), done_before + 1):
            results.append(future.result())
            if progress is not None:
                progress(done, total)
    finally:
        for future in futures:  # a failed page stops the file: drop what has not started
            future.cancel()
    return sorted(results, key=lambda r: r.index)


def read_page(
    job: PageJob,
    slot: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> PageText:
    """Hand one page's image to Tesseract (inside ``slot``); text-only PDF, text, measurements."""
    job.work.mkdir(parents=True, exist_ok=True)
    image, scan_dpi, ocr_dpi = _page_image(job)
    langs = list(job.languages)
    out = job.work / "page"
    with slot():
        _tesseract(image, out, langs, ocr_dpi, job.timeout)
    text = _text(out)
    used, guess, reread_from = "+".join(langs), None, None
    if job.detect:
        guess = language.guess(text)
        if guess.language not in langs:
            again = job.work / f"page.{guess.language}"
            with slot():
                _tesseract(image, again, [guess.language], ocr_dpi, job.timeout)
            for suffix in (".pdf", ".txt", ".hocr"):
                again.with_suffix(again.suffix + suffix).replace(out.with_suffix(suffix))
            text = _text(out)
            reread_from, used = used, guess.language
    words, confidence = capture.hocr_words(
        out.with_suffix(".hocr").read_text(encoding="utf-8", errors="replace")
    )
    ink = None
    if words < capture.FEW_WORDS:
        with Image.open(image) as im:
            im.info["dpi"] = (ocr_dpi, ocr_dpi)
            ink = capture.ink_area(im)
    quality = capture.PageQuality(
        page=job.index + 1,
        language=used,
        ocr=True,
        dpi=scan_dpi,
        ocr_dpi=ocr_dpi,
        ink=ink,
        words=words,
        chars=len("".join(text.split())),
        confidence=confidence,
        language_confidence=guess.confidence if guess else None,
        reread_from=reread_from,
    )
    image.unlink(missing_ok=True)  # a page's pixels are not kept: 1,000 pages would fill the disk
    return PageText(job.index, out.with_suffix(".pdf"), quality)


def _page_image(job: PageJob) -> tuple[Path, float, float]:
    """The page's picture as a file Tesseract reads: (path, scan dpi, dpi Tesseract sees).

    A JPEG placed plainly on an unturned page at a resolution worth reading goes as stored.
    """
    with pikepdf.open(job.source) as pdf:
        page = pdf.pages[job.index]
        found = scanpage.single_image(page)
        if found is None:
            raise NotDirect(f"page {job.index + 1}: not a single image")
        xobj, ctm = found
        scan_dpi = _scan_dpi(xobj, ctm)
        if scan_dpi is None:
            raise NotDirect(f"page {job.index + 1}: image placed at no usable resolution")
        factor = capture.upsample_factor(scan_dpi, below=job.upsample_below)
        if factor == 1 and _plain_jpeg(page, xobj, ctm):
            path = job.work / "image.jpg"
            path.write_bytes(xobj.read_raw_bytes())
            return path, scan_dpi, scan_dpi
        im = scanpage.render(page, (scan_dpi, scan_dpi))
    if im is None:
        raise NotDirect(f"page {job.index + 1}: not drawn by the fast renderer")
    ocr_dpi = scan_dpi
    if factor > 1:
        # As the OCRmyPDF path does: grey, then Lanczos, the resolution scaled with the pixels.
        im = im.convert("L")
        im = im.resize((im.width * factor, im.height * factor), Image.Resampling.LANCZOS)
        ocr_dpi = scan_dpi * factor
    path = job.work / f"image{_PNM[im.mode]}"
    im.save(path)  # uncompressed: nothing to encode, Tesseract reads PNM directly
    return path, scan_dpi, ocr_dpi


def _scan_dpi(xobj: Stream, ctm: scanpage.Affine) -> float | None:
    """The image's resolution on the page, if its pixels are square (within 2 %)."""
    a, b, c, d, _, _ = ctm
    width_pt, height_pt = (a * a + b * b) ** 0.5, (c * c + d * d) ** 0.5
    try:
        w, h = int(xobj.get("/Width", 0)), int(xobj.get("/Height", 0))
    except (TypeError, ValueError):
        return None
    if w <= 0 or h <= 0 or width_pt <= 0 or height_pt <= 0:
        return None
    dpi_x, dpi_y = float(w * 72 / width_pt), float(h * 72 / height_pt)
    if abs(dpi_x - dpi_y) > 0.02 * dpi_x or not 10 <= dpi_x <= 2400:
        return None
    return dpi_x


def _plain_jpeg(page: pikepdf.Page, xobj: Stream, ctm: scanpage.Affine) -> bool:
    """A baseline 8-bit grey or RGB JPEG, upright, neither turned nor skewed on the page."""
    a, b, c, d, _, _ = ctm
    return (
        xobj.get("/Filter") in (Name.DCTDecode, Array([Name.DCTDecode]))
        and _components(xobj.get("/ColorSpace")) is not None
        and xobj.get("/BitsPerComponent", 8) == 8
        and "/DecodeParms" not in xobj
        and abs(b) < 1e-6
        and abs(c) < 1e-6
        and a > 0
        and d > 0
        and scanpage.page_rotation(page) == 0
    )


def _tesseract(image: Path, out: Path, langs: list[str], dpi: float, timeout: float) -> None:
    """One Tesseract run writing ``out``.pdf (text only), .txt and .hocr."""
    args = [
        "tesseract",
        str(image),
        str(out),
        "--dpi",
        str(round(dpi)),
        "-l",
        "+".join(langs),
        "-c",
        "textonly_pdf=1",
        "hocr",
        "pdf",
        "txt",
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=timeout or None)


def _text(out: Path) -> str:
    try:
        text = out.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return text.replace("\f", "")


def lay_text(pdf: pikepdf.Pdf, pages: Sequence[PageText]) -> None:
    """Draw each page's text layer over it, invisible, scaled to the page as displayed."""
    font: pikepdf.Object | None = None
    for read in pages:
        page = pdf.pages[read.index]
        with pikepdf.open(read.layer) as layer:
            text_page = layer.pages[0]
            content = b"".join(_contents(text_page))
            fonts = text_page.obj.Resources.get("/Font")
            if font is None and isinstance(fonts, Dictionary):
                # The same glyphless font on every page: copied once per document.
                font = Dictionary({k: pdf.copy_foreign(v) for k, v in fonts.items()})
            tw, th = (float(v) for v in scanpage.page_box(text_page)[2:])
        form = Stream(pdf, zlib.compress(content))  # held until saved: 1,000 pages add up
        form.Filter = Name.FlateDecode
        form.Type, form.Subtype = Name.XObject, Name.Form
        form.BBox = Array([0, 0, tw, th])
        form.Resources = Dictionary(Font=font) if font is not None else Dictionary()
        matrix = _layer_matrix(page, tw, th)
        # The page gets resources of its own: a shared (or inherited) dictionary would carry
        # this page's layer onto every page that shares it.
        inherited = scanpage.inherited(page.obj, "/Resources")
        resources = (
            Dictionary(dict(inherited.items()))
            if isinstance(inherited, Dictionary)
            else Dictionary()
        )
        xobjects = resources.get("/XObject")
        xobjects = (
            Dictionary(dict(xobjects.items())) if isinstance(xobjects, Dictionary) else Dictionary()
        )
        xobjects[LAYER] = pdf.make_indirect(form)
        resources.XObject = xobjects
        page.obj.Resources = resources
        cm = " ".join(f"{v:.6f}" for v in matrix)
        # The scan's own content may leave the graphics state changed: isolate it first.
        page.contents_add(b"q\n", prepend=True)
        page.contents_add(f"\nQ q {cm} cm {LAYER} Do Q\n".encode(), prepend=False)


def _contents(page: pikepdf.Page) -> list[bytes]:
    contents = page.obj.get("/Contents")
    if isinstance(contents, Array):
        return [s.read_bytes() for s in contents]
    return [contents.read_bytes()] if isinstance(contents, Stream) else []


def _layer_matrix(page: pikepdf.Page, tw: float, th: float) -> scanpage.Affine:
    """Text-page space (``tw`` × ``th`` pt, as the page is displayed) → the page's user space."""
    x0, y0, x1, y1 = scanpage.page_box(page)
    w, h = x1 - x0, y1 - y0
    rotation = scanpage.page_rotation(page)
    shown_w, shown_h = (h, w) if rotation in (90, 270) else (w, h)
    scale: scanpage.Affine = (shown_w / tw, 0.0, 0.0, shown_h / th, 0.0, 0.0)
    # Where a displayed point (X, Y) lies on the unrotated page (/Rotate turns clockwise).
    turns: dict[int, scanpage.Affine] = {
        0: (1.0, 0.0, 0.0, 1.0, x0, y0),
        90: (0.0, 1.0, -1.0, 0.0, x0 + w, y0),
        180: (-1.0, 0.0, 0.0, -1.0, x0 + w, y0 + h),
        270: (0.0, -1.0, 1.0, 0.0, x0, y0 + h),
    }
    return scanpage.multiply(scale, turns[rotation])
