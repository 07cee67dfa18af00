"""Where a page's time goes: every stage of the pipeline timed on single-page scans, in one process.

Each file runs alone (one Tesseract at a time, ``ocr_jobs=1``) and every stage is timed in this
process's CPU seconds, which a busy machine does not inflate as it does wall time. Both OCR paths are timed on the same pages: the
direct reader (as shipped) and OCRmyPDF (``ocr_direct=False``). Tesseract's own share comes
from the children's CPU time (``RUSAGE_CHILDREN``); everything else is what the pipeline adds,
the figure to drive down. Prints one table (seconds per page) for ``bench/README.md``.
Usage: ``python bench/stages.py [--pages 8]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from tests.ocr.pagegen import A4, PARAGRAPHS, render_page  # noqa: E402

Timers = dict[str, float]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@contextmanager
def timed(timers: Timers, owner: Any, name: str, label: str) -> Iterator[None]:
    """Add this process's CPU time during every call of ``owner.name`` to ``timers[label]``."""
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            timers[label] += time.process_time() - started

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, real)


def make_files(folder: Path, count: int) -> list[Path]:
    """A4 pages at 300 dpi, skewed as a feeder leaves them, one turned: scanner JPEGs."""
    files = []
    skews = (1.2, -1.8, 0.0, 2.0, -1.0, 1.6, -0.6, 0.8)
    for i in range(count):
        paras = PARAGRAPHS[i % len(PARAGRAPHS) :] + PARAGRAPHS[: i % len(PARAGRAPHS)]
        page = render_page(paras, size_in=A4, skew_deg=skews[i % 8], turn=90 if i == 2 else 0)
        path = folder / f"page-{i:02d}.jpg"
        page.image.save(path, "JPEG", quality=85, dpi=(300, 300))
        files.append(path)
    return files


def profile(files: list[Path], work: Path, *, direct: bool) -> tuple[Timers, float, float, float]:
    """Stage CPU seconds summed over ``files``; wall, this process's CPU and Tesseract's CPU."""
    import ingest.stages
    import ocr.engine
    import ocr.extract
    import ocr.reader
    from core.settings import Settings
    from ingest.runner import run_step
    from ingest.upload import accept_upload, upload_dir
    from ingest.validate import read_chunks, spool
    from ocr.engine import OcrEngine
    from storage.models import Step
    from wiring.factory import build

    settings = Settings(data_dir=work / "data", ocr_jobs=1, ocr_direct=direct)
    services = build(settings)
    store = type(services.store)
    signer = type(services.pipeline_deps.document_signer)
    timers: Timers = defaultdict(float)
    stages = [
        (ingest.stages, "normalize", "normalize (sniff, budgets, image→PDF)"),
        (ocr.engine, "prepare", "prepare (page paths, PDF/A clean-up)"),
        (OcrEngine, "_straighten", "orientation and skew"),
        (OcrEngine, "_call_ocrmypdf", "OCRmyPDF (Tesseract included)"),
        (ocr.reader, "read_page", "direct: page image for Tesseract"),
        (ocr.reader, "lay_text", "text layer laid over the page"),
        (ocr.engine, "_save_pdfa", "PDF/A-2b written and validated"),
        (ocr.engine, "check_pdfa", "PDF/A checked again"),
        (ocr.engine, "page_texts", "text extracted"),
        (ocr.extract, "extract_fields", "fields (numbers, dates, type)"),
        (store, "put_file", "object store put"),
        (store, "get_to_file", "object store get"),
        (signer, "sign", "PAdES signature with stamp"),
    ]

    def one(path: Path, number: int) -> None:
        spooled_path = upload_dir(services.pipeline_config) / f"bench-{number}"
        with path.open("rb") as f:
            spooled = spool(read_chunks(f), spooled_path, max_bytes=settings.max_upload_bytes)
        scan = accept_upload(services, spooled, filename=path.name).scan
        for step in (Step.OCR, Step.SIGN):
            outcome = run_step(services, scan.id, step)
            if outcome.failed:
                raise SystemExit(f"{path.name}: {step} failed")

    one(files[0], 999)  # warm: PKI, fonts, database, the engine's first run
    with _all(timers, stages):
        cpu0, own0 = _children_cpu(), time.process_time()
        started = time.perf_counter()
        for number, path in enumerate(files):
            one(path, number)
        total = time.perf_counter() - started
        tesseract, own = _children_cpu() - cpu0, time.process_time() - own0
    services.engine.dispose()
    return timers, total, own, tesseract


@contextmanager
def _all(timers: Timers, stages: list[tuple[Any, str, str]]) -> Iterator[None]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        for owner, name, label in stages:
            stack.enter_context(timed(timers, owner, name, label))
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sohoa-stages-"))
    try:
        files = make_files(work, args.pages)
        results = {
            direct: profile(files, work / f"run-{direct}", direct=direct)
            for direct in (False, True)
        }
        n = len(files)
        labels = list(dict.fromkeys(k for r in results.values() for k in r[0]))
        print(f"{n} single-page A4 scans at 300 dpi, one at a time; CPU seconds per page\n")
        print(f"{'stage':42} {'OCRmyPDF':>9} {'direct':>9}")
        for label in labels:
            cells = [results[d][0].get(label, 0.0) / n for d in (False, True)]
            print(f"{label:42} {cells[0]:9.3f} {cells[1]:9.3f}")
        rows = (
            ("everything but Tesseract (this process)", 2),
            ("Tesseract and other children", 3),
            ("wall time, for reference", 1),
        )
        for name, index in rows:
            cells = [results[d][index] / n for d in (False, True)]
            print(f"{name:42} {cells[0]:9.3f} {cells[1]:9.3f}")
        shares = [results[d][3] / (results[d][2] + results[d][3]) for d in (False, True)]
        print(f"{'Tesseract share of all CPU':42} {shares[0]:9.0%} {shares[1]:9.0%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
