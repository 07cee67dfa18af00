"""Pipeline benchmark: the Tesseract limit, plain ocrmypdf and sohoa on the same pages, in one run.

(0) the limit: raw ``tesseract PAGE stdout -l vie`` on every page, two processes at a time;
(a) ``ocrmypdf --jobs 2 -l vie+eng --output-type pdfa --rotate-pages --deskew``, once on one
    ``--multi``-page PDF and once on the single-page files, two processes at a time;
(b) sohoa on the embedded default: upload through the API to a signed PDF/A in the store, with a
    long-lived worker (warmed up by one scan first), for the same multi-page PDF and single pages;
(c) ``sohoa digitize`` of the single-page files, once with every file through OCRmyPDF
    (``SOHOA_OCR_DIRECT=false``, the "before") and once as shipped.

Prints pages/min, the share of the Tesseract limit (the limit's seconds for those pages ÷ the
run's seconds), the ratio to plain ocrmypdf, character error rates and peak memory. The machine
is shared, so only the ratios of one run mean anything.
Usage: ``python bench/pipeline.py [--pages 8] [--multi 6] [--no-corpus] [--skip-api]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from ocr.extract import page_texts  # noqa: E402
from ocr.quality import cer  # noqa: E402
from tests.ocr.pagegen import A4, PARAGRAPHS, render_page  # noqa: E402

CORPUS = Path(os.environ.get("SOHOA_CORPUS", REPO.parent / "shared" / "corpus"))
CORPUS_PAGES = ("vietnamese/real_photos_scans/administrative_documents.jpg",)
CORES = os.cpu_count() or 2
TOKEN = "bench-token"


@dataclass
class Page:
    path: Path  # a single-page file (JPEG)
    truth: str


@dataclass
class Result:
    label: str
    pages: int
    seconds: float
    cer: tuple[float, float | None]
    peak_mb: float

    @property
    def ppm(self) -> float:
        return 60 * self.pages / self.seconds


def make_pages(out: Path, count: int, use_corpus: bool) -> list[Page]:
    """Vietnamese A4 pages at 300 dpi: skewed ±1–2°, one turned 90°, saved as scanner JPEGs."""
    pages = []
    skews = (1.2, -1.8, 0.0, 2.0, -1.0, 1.6, -0.6, 0.8, -1.4, 0.3)
    for i in range(count):
        paras = PARAGRAPHS[i % len(PARAGRAPHS) :] + PARAGRAPHS[: i % len(PARAGRAPHS)]
        page = render_page(
            paras, size_in=A4, skew_deg=skews[i % len(skews)], turn=90 if i == 2 else 0, seed=i
        )
        path = out / f"page-{i:02d}.jpg"
        page.image.save(path, "JPEG", quality=85, dpi=(300, 300))
        pages.append(Page(path, "\n".join(page.lines)))
    if use_corpus:
        for rel in CORPUS_PAGES:
            src = CORPUS / rel
            if src.exists():
                dest = out / src.name
                shutil.copyfile(src, dest)
                pages.append(Page(dest, src.with_suffix(".gt.txt").read_text("utf-8")))
    # Scanners deliver PDFs, and plain ocrmypdf refuses some JPEGs (a 72-dpi tag): both sides
    # get the same one-page PDFs made losslessly with img2pdf.
    import img2pdf

    for page in pages:
        pdf = page.path.with_suffix(".pdf")
        pdf.write_bytes(img2pdf.convert(str(page.path)))
        page.path = pdf
    return pages


def multipage_pdf(pages: list[Page], dest: Path) -> Path:
    import pikepdf

    with pikepdf.new() as out:
        for page in pages:
            with pikepdf.open(page.path) as one:
                out.pages.extend(one.pages)
        out.save(dest)
    return dest


RENDERED = 0  # how many of the pages are rendered ones (the corpus scans follow them)


def mean_cer(pdfs: list[Path], truths: list[str]) -> tuple[float, float | None]:
    """Mean CER over the rendered pages, and over the real corpus scans (None if there are none)."""
    texts: list[str] = []
    for pdf in pdfs:
        texts.extend(page_texts(pdf))
    rates = [cer(t, h) for t, h in zip(truths, texts, strict=True)]
    rendered, real = rates[:RENDERED], rates[RENDERED:]
    return sum(rendered) / len(rendered), (sum(real) / len(real) if real else None)


def tesseract_limit(pages: list[Page], lang: str) -> float:
    """Seconds for raw Tesseract on every page, ``CORES`` processes at a time: the limit."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        list(
            pool.map(
                lambda page: subprocess.run(
                    ["tesseract", str(page.path.with_suffix(".jpg")), "stdout", "-l", lang],
                    check=True,
                    capture_output=True,
                ),
                pages,
            )
        )
    return time.perf_counter() - t0


def run_digitize(pages: list[Page], work: Path, *, direct: bool) -> Result:
    """``sohoa digitize`` of the single-page files in a fresh data folder."""
    label = "as shipped" if direct else "all through OCRmyPDF"
    folder = work / f"digitize-{direct}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        SOHOA_DATA_DIR=str(folder / "data"),
        SOHOA_OCR_DIRECT=str(direct).lower(),
        OMP_THREAD_LIMIT="1",
        PYTHONWARNINGS="ignore",
    )
    cmd = [sys.executable, "-m", "wiring.cli", "digitize", "--out", str(folder / "out")]
    # One small file first: the development PKI and the database are made once, not timed.
    warm = work / "warm-digitize.jpg"
    render_page(size_in=(4.0, 3.0), seed=98).image.save(warm, "JPEG", dpi=(300, 300))
    subprocess.run([*cmd, str(warm)], env=env, cwd=REPO, check=True, capture_output=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, *(str(p.path) for p in pages)], env=env, cwd=REPO, capture_output=True
    )
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"digitize failed:\n{done.stdout.decode()[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    outs = [folder / "out" / f"{p.path.stem}.signed.pdf" for p in pages]
    return Result(
        f"sohoa digitize, {label}",
        len(pages),
        seconds,
        mean_cer(outs, [p.truth for p in pages]),
        peak,
    )


def tesseract_cpu_per_page(pages: list[Page], lang: str) -> float:
    """Raw Tesseract CPU seconds per page, one process at a time (the floor any pipeline pays)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        for i, page in enumerate(pages):
            subprocess.run(
                ["tesseract", str(page.path.with_suffix(".jpg")), f"{tmp}/{i}", "-l", lang, "pdf"],
                check=True,
                capture_output=True,
            )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / len(pages)


def ocrmypdf_cmd(src: Path, dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ocrmypdf",
        "--jobs",
        "2",
        "-l",
        "vie+eng",
        "--output-type",
        "pdfa",
        "--rotate-pages",
        "--deskew",
        "--quiet",
        str(src),
        str(dest),
    ]


def run_plain(pages: list[Page], work: Path, multi_pages: int) -> tuple[Result, Result]:
    multi = multipage_pdf(pages[:multi_pages], work / "all.pdf")
    truths = [p.truth for p in pages[:multi_pages]]
    t0 = time.perf_counter()
    subprocess.run(ocrmypdf_cmd(multi, work / "plain-all.pdf"), check=True)
    t_multi = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    r_multi = Result(
        f"ocrmypdf, one {multi_pages}-page PDF",
        multi_pages,
        t_multi,
        mean_cer([work / "plain-all.pdf"], truths),
        peak,
    )

    outs = [work / f"plain-{i:02d}.pdf" for i in range(len(pages))]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda a: subprocess.run(ocrmypdf_cmd(a[0].path, a[1]), check=True),
                zip(pages, outs, strict=True),
            )
        )
    t_single = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    r_single = Result(
        "ocrmypdf, single-page files ×2",
        len(pages),
        t_single,
        mean_cer(outs, [p.truth for p in pages]),
        peak,
    )
    return r_multi, r_single


class TreeMemory:
    """Peak resident memory of a process and its children, sampled from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, frontier = [self.pid], [self.pid]
        while frontier:
            pid = frontier.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            pids.extend(int(c) for c in children)
            frontier.extend(int(c) for c in children)
        return pids

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:
                    pass

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def run_sohoa(pages: list[Page], work: Path, multi_pages: int) -> tuple[Result, Result]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.settings import Settings
    from wiring.factory import build

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        SOHOA_DATA_DIR=str(work / "data"),
        SOHOA_API_TOKEN=TOKEN,
        SOHOA_BROKER_POLL_INTERVAL="0.05",
        OMP_THREAD_LIMIT="1",
        PYTHONWARNINGS="ignore",
    )
    settings = Settings(data_dir=work / "data", api_token=TOKEN)
    services = build(settings)
    client = TestClient(create_app(services))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "wiring.cli", "worker"],  # the shipped default concurrency
        env=env,
        stdout=(work / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    memory = TreeMemory(worker.pid)

    def upload(path: Path) -> str:
        with path.open("rb") as f:
            resp = client.post("/api/v1/scans", headers=auth, files={"file": (path.name, f)})
        resp.raise_for_status()
        return resp.json()["id"]

    def wait(ids: list[str]) -> list[str]:
        """Wait for each scan in turn, polling gently: the API shares the two cores."""
        docs = []
        for sid in ids:
            while True:
                body = client.get(f"/api/v1/scans/{sid}", headers=auth).json()
                if body["status"] == "failed":
                    raise SystemExit(f"sohoa failed a benchmark page: {body}")
                if body["status"] == "digitized":
                    docs.append(body["document_id"])
                    break
                time.sleep(0.25)
        return docs

    def fetch(doc_ids: list[str], prefix: str) -> list[Path]:
        outs = []
        for i, doc in enumerate(doc_ids):
            dest = work / f"{prefix}-{i:02d}.pdf"
            dest.write_bytes(client.get(f"/api/v1/documents/{doc}/file", headers=auth).content)
            outs.append(dest)
        return outs

    try:
        warm = work / "warm.jpg"
        render_page(size_in=(4.0, 3.0), seed=99).image.save(warm, "JPEG", dpi=(300, 300))
        wait([upload(warm)])
        truths = [p.truth for p in pages]

        multi = multipage_pdf(pages[:multi_pages], work / "sohoa-all-in.pdf")
        t0 = time.perf_counter()
        doc = wait([upload(multi)])
        t_multi = time.perf_counter() - t0
        r_multi = Result(
            f"sohoa API, one {multi_pages}-page PDF",
            multi_pages,
            t_multi,
            mean_cer(fetch(doc, "sohoa-all"), truths[:multi_pages]),
            0,
        )

        t0 = time.perf_counter()
        docs = wait([upload(p.path) for p in pages])
        t_single = time.perf_counter() - t0
        peak = memory.stop()
        r_single = Result(
            "sohoa API, single-page files",
            len(pages),
            t_single,
            mean_cer(fetch(docs, "sohoa"), truths),
            peak,
        )
        r_multi.peak_mb = peak
        return r_multi, r_single
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        services.engine.dispose()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--multi", type=int, default=6, help="pages of the multi-page PDF")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--skip-api", action="store_true", help="only the limit and digitize")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sohoa-bench-"))
    try:
        global RENDERED
        RENDERED = args.pages
        pages = make_pages(work, args.pages, not args.no_corpus)
        multi = min(args.multi, len(pages))
        from core.settings import Settings

        lang = Settings().ocr_languages
        cpu = tesseract_cpu_per_page(pages, lang)
        limit = tesseract_limit(pages, lang)
        print(
            f"{len(pages)} pages; raw Tesseract ({lang}) {cpu:.2f} CPU s/page; {CORES} cores; "
            f"the limit ({CORES} raw Tesseracts at a time) {limit:.1f} s"
        )
        runs: list[Result] = []
        if not args.skip_api:
            plain_multi, plain_single = run_plain(pages, work, multi)
            runs += [plain_multi, plain_single, *run_sohoa(pages, work, multi)]
        runs += [run_digitize(pages, work, direct=False), run_digitize(pages, work, direct=True)]
        per_page = limit / len(pages)
        print(
            f"\n{'run':40} {'pages/min':>9} {'seconds':>8} {'of limit':>8} "
            f"{'CER rendered':>12} {'CER scan':>8} {'peak MB':>8}"
        )
        for r in runs:
            print(
                f"{r.label:40} {r.ppm:9.1f} {r.seconds:8.1f} {per_page * r.pages / r.seconds:8.0%} "
                f"{r.cer[0]:12.2%} {_pct(r.cer[1]):>8} {r.peak_mb:8.0f}"
            )
        if not args.skip_api:
            plain_multi, plain_single, api_multi, api_single = runs[:4]
            print("\nspeed-up over plain ocrmypdf (its seconds / ours):")
            print(f"  API, {multi}-page PDF   {plain_multi.seconds / api_multi.seconds:.2f}×")
            print(f"  API, single pages    {plain_single.seconds / api_single.seconds:.2f}×")
            print(f"  digitize, same pages {plain_single.seconds / runs[-1].seconds:.2f}×")
        print(
            f"digitize, as shipped against all through OCRmyPDF: {runs[-2].seconds / runs[-1].seconds:.2f}×"
        )
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
