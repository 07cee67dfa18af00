"""Memory benchmark: one 300-page dossier through one worker, and the worker tree's peak memory.

A single PDF of ``--pages`` rendered A4 pages (tests/ocr/pagegen.py, ``--dpi`` 200 by default
to keep rendering quick, JPEG in the PDF as a scanner makes it, put together with img2pdf) is
uploaded once through ``sohoa api`` and processed by one ``sohoa worker --concurrency 1``
(``SOHOA_OCR_JOBS`` from ``--ocr-jobs``, 1 by default; production's default is 2), warmed by one
small scan first. Every ``--interval`` seconds the worker's whole process tree is read from /proc
(the Celery main process, its pool child, and the Tesseract, Ghostscript, qpdf... processes they
start): the sum of RSS over the tree, the sum of PSS (shared pages divided among the processes
sharing them; the forked pool child shares much with its parent, so the RSS sum overstates), and
the largest single process.

Prints progress (pages_done/pages_total) while waiting, then the peaks overall and per step (ocr,
sign), pages/min from upload to digitized, and the goal: peak tree RSS <= 1 GB (1024 MiB).
Sampling every 0.2 s can miss a short spike, so the peaks are lower bounds. The machine is
shared; memory figures are steadier than times. Usage:
``python bench/memory.py [--pages 300] [--dpi 200] [--ocr-jobs 1] [--postgres URL --redis URL | --embedded]``

``--functions`` runs no stack and no OCR of the dossier: each step's functions that could hold
memory per page (normalize, prepare, straighten, page_texts, check_pdfa, extract_fields, the
object store's put_file/get_to_file, signing) run alone, each in a fresh process, on the same
dossier (the OCRed input is two really OCRed pages copied to ``--pages``), and print the peak
RSS above the process's own baseline (VmHWM, reset before the call). Run it at two page counts
for the slope per page: ``python bench/memory.py --functions --pages 1000 --dpi 100``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from bench._topology import (  # noqa: E402
    ScanFailed,
    Stack,
    add_topology_args,
    choose_backends,
    comm,
    parse_time,
    process_tree,
    pss_kb,
    rss_kb,
    run_main,
)
from core.settings import Settings  # noqa: E402
from tests.ocr.pagegen import A4, PARAGRAPHS, render_page  # noqa: E402

GOAL_MB = 1024
SKEWS = (1.2, -1.8, 0.0, 2.0, -1.0, 1.6, -0.6, 0.8, -1.4, 0.3)


def make_dossier(dest: Path, pages: int, dpi: int) -> Path:
    """One PDF of distinct rendered pages (a numbered heading, paragraphs rotated, skewed)."""
    import img2pdf

    blobs = []
    for i in range(pages):
        k = i % len(PARAGRAPHS)
        paras = (f"Trang {i + 1}/{pages} của hồ sơ", *PARAGRAPHS[k:], *PARAGRAPHS[:k])
        page = render_page(paras, size_in=A4, dpi=dpi, skew_deg=SKEWS[i % len(SKEWS)], seed=i)
        buf = io.BytesIO()
        page.image.save(buf, "JPEG", quality=85, dpi=(dpi, dpi))
        blobs.append(buf.getvalue())
    dest.write_bytes(img2pdf.convert(blobs))
    return dest


@dataclass
class Peak:
    tree_rss_kb: int = 0
    tree_pss_kb: int = 0
    processes: str = ""  # what the tree held at the RSS peak, e.g. "python×2 tesseract"
    single_kb: int = 0
    single_name: str = ""


def _composition(pids: list[int]) -> str:
    names = Counter(comm(pid) for pid in pids)
    return " ".join(name if n == 1 else f"{name}×{n}" for name, n in sorted(names.items()))


@dataclass
class TreeSampler:
    """Samples one process tree in a thread; peaks overall and per phase (set by the caller)."""

    root: int
    interval: float
    phase: str = "start"
    last_rss_kb: int = 0
    samples: int = 0
    overall: Peak = field(default_factory=Peak)
    by_phase: dict[str, Peak] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        pids = process_tree(self.root)
        rss = {pid: rss_kb(pid) for pid in pids}
        tree_rss = sum(rss.values())
        tree_pss = sum(pss_kb(pid) for pid in pids)
        biggest = max(rss, key=lambda pid: rss[pid])
        self.last_rss_kb, self.samples = tree_rss, self.samples + 1
        for peak in (self.overall, self.by_phase.setdefault(self.phase, Peak())):
            if tree_rss > peak.tree_rss_kb:
                peak.tree_rss_kb, peak.processes = tree_rss, _composition(pids)
            peak.tree_pss_kb = max(peak.tree_pss_kb, tree_pss)
            if rss[biggest] > peak.single_kb:
                peak.single_kb, peak.single_name = rss[biggest], comm(biggest)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Progress:
    """Prints pages_done/pages_total when it changes, or every 15 s, with the tree's RSS."""

    def __init__(self, sampler: TreeSampler, t0: float) -> None:
        self.sampler, self.t0 = sampler, t0
        self.last: tuple[Any, ...] = ()
        self.printed = 0.0

    def __call__(self, scan: dict[str, Any]) -> None:
        self.sampler.phase = scan["step"] or scan["status"]
        state = (scan["status"], scan["step"], scan["pages_done"])
        now = time.monotonic()
        if state != self.last or now - self.printed > 15:
            self.last, self.printed = state, now
            print(
                f"  [{now - self.t0:6.0f}s] {scan['status']:10} {scan['step'] or '-':5} "
                f"{scan['pages_done'] or 0}/{scan['pages_total']} pages; tree RSS "
                f"{self.sampler.last_rss_kb / 1024:.0f} MB "
                f"(peak {self.sampler.overall.tree_rss_kb / 1024:.0f} MB)",
                flush=True,
            )


FUNCTIONS = (
    "normalize",
    "prepare",
    "straighten",
    "page_texts",
    "check_pdfa",
    "extract_fields",
    "put_file",
    "get_to_file",
    "sign",
)


BENCH_KEY_PASSWORD = "bench-only"  # a throwaway PKI made for this run


def _kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def _ocred(scan: Path, dest: Path, pages: int) -> Path:
    """An OCRed PDF/A of ``pages`` pages: the first two pages OCRed, then copied (own objects)."""
    import pikepdf

    from ocr.engine import OcrEngine, OcrSettings

    two, small = dest.with_name("two.pdf"), dest.with_name("two-ocr.pdf")
    with pikepdf.open(scan) as pdf:
        del pdf.pages[2:]
        pdf.save(two)
    OcrEngine(OcrSettings(jobs=2)).run(two, small, work_dir=dest.with_name("ocr-work"))
    with pikepdf.open(small) as out:
        del out.pages[:]
        while len(out.pages) < pages:
            with pikepdf.open(small) as src:
                out.pages.extend(src.pages[: pages - len(out.pages)])
        out.save(dest)
    return dest


def _function_call(name: str, folder: Path, work: Path) -> Any:
    """Set ``name`` up outside the measurement; return the call to measure."""
    scan, ocred = folder / "dossier.pdf", folder / "ocred.pdf"
    if name == "normalize":
        from ingest.limits import Limits
        from ingest.normalize import normalize

        limits = Limits(2**40, 10**6, 10**9, 10**13, max_document_pixels=10**13)
        return lambda: normalize(scan, work, limits)
    if name in ("prepare", "straighten"):
        from ocr.engine import OcrEngine, OcrSettings, _Fixes
        from ocr.prepare import prepare

        if name == "prepare":
            return lambda: prepare(scan, work / "prepare")
        prepared = prepare(scan, work / "prepare")
        engine = OcrEngine(OcrSettings(jobs=1))
        pictures = list(range(len(prepared.paths)))
        return lambda: engine._straighten(prepared.pdf, pictures, work, _Fixes())
    if name in ("page_texts", "extract_fields"):
        from ocr.extract import extract_fields, page_texts

        if name == "page_texts":
            return lambda: page_texts(ocred)
        texts = page_texts(ocred)
        return lambda: extract_fields(texts)
    if name == "check_pdfa":
        from ocr.pdfa import check_pdfa

        return lambda: check_pdfa(ocred)
    if name in ("put_file", "get_to_file"):
        from storage.objects import make_object_store

        store = make_object_store("local", root=work / "store", url_secret=b"bench" * 8)
        if name == "put_file":
            return lambda: store.put_file("documents/x.pdf", ocred, content_type="application/pdf")
        store.put_file("documents/x.pdf", ocred, content_type="application/pdf")
        return lambda: store.get_to_file("documents/x.pdf", work / "got.pdf")
    if name == "sign":
        from signing.backends import RegistryConfig, SignerRegistry
        from signing.pki import init_dev_pki
        from signing.sign import DocumentSigner
        from signing.stamp import ensure_stamp_font

        pki = init_dev_pki(
            work / "pki",
            unit_name="UBND",
            unit_code="000.00.16.H08",
            clerks=(("lan.nt", "Nguyễn Thị Lan"),),
            password=BENCH_KEY_PASSWORD,
        )
        config = RegistryConfig(
            kind="pkcs12", pkcs12_dir=pki.directory, pkcs12_password=BENCH_KEY_PASSWORD
        )
        backend = SignerRegistry(config).get("lan.nt")
        signer = DocumentSigner(ensure_stamp_font(work / "fonts"))
        return lambda: signer.sign(
            ocred, work / "signed.pdf", backend, stamp_lines=None, reason="bench", location="-"
        )
    raise SystemExit(f"unknown function {name!r}")


def _measure_one(name: str, folder: Path) -> None:
    """In a fresh process: peak RSS of one call above this process's baseline."""
    import gc

    with tempfile.TemporaryDirectory(prefix=f"sohoa-{name}-") as tmp:
        call = _function_call(name, folder, Path(tmp))
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _kb("VmRSS")
        t = time.perf_counter()
        call()
        seconds = time.perf_counter() - t
        peak = _kb("VmHWM")
    print(f"{name:15} {(peak - base) / 1024:10.1f} {base / 1024:10.0f} {seconds:8.1f}", flush=True)


def functions_main(args: argparse.Namespace) -> int:
    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="sohoa-memory-functions-"))
    try:
        dossier = make_dossier(folder / "dossier.pdf", args.pages, args.dpi)
        _ocred(dossier, folder / "ocred.pdf", args.pages)
        print(f"{args.pages} A4 pages at {args.dpi} dpi; each function alone, in its own process")
        print(f"{'function':15} {'peak+ MB':>10} {'base MB':>10} {'seconds':>8}")
        for name in FUNCTIONS:
            subprocess.run(
                [sys.executable, __file__, "--measure-one", name, str(folder)], check=False
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--measure-one"]:
        _measure_one(sys.argv[2], Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pages",
        default="300",
        help="pages of the dossier (300); several, comma-separated, run one after another",
    )
    parser.add_argument("--dpi", type=int, default=200, help="resolution of the pages (200)")
    parser.add_argument("--ocr-jobs", type=int, default=1, help="SOHOA_OCR_JOBS (default 1)")
    parser.add_argument("--interval", type=float, default=0.2, help="sampling period, s (0.2)")
    parser.add_argument(
        "--ocr-time-limit",
        type=int,
        help="raise the OCR step's soft time limit (s; production default 1800)",
    )
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait (4 h)")
    parser.add_argument(
        "--functions",
        action="store_true",
        help="no stack: peak RSS of each step's functions alone on the dossier (see above)",
    )
    add_topology_args(parser)
    args = parser.parse_args()
    counts = [int(n) for n in str(args.pages).split(",") if n.strip()]
    if len(counts) > 1:
        return _each(counts)
    args.pages = counts[0]
    if args.functions:
        return functions_main(args)
    backends = choose_backends(args)
    extra = {"SOHOA_OCR_JOBS": str(args.ocr_jobs)}
    if args.pages > Settings().max_pages:
        # A dossier past the counter's limits (500 pages, 5 G px counted at 300 dpi) is
        # refused at the door; the bench raises them to measure what such a file would cost.
        extra["SOHOA_MAX_PAGES"] = str(args.pages)
        extra["SOHOA_MAX_DOCUMENT_PIXELS"] = str(args.pages * 10_000_000)
        extra["SOHOA_MAX_UPLOAD_BYTES"] = str(max(Settings().max_upload_bytes, args.pages * 10**6))
    if args.ocr_time_limit:
        extra["SOHOA_OCR_SOFT_TIME_LIMIT"] = str(args.ocr_time_limit)
        extra["SOHOA_OCR_TIME_LIMIT"] = str(args.ocr_time_limit + 60)
    print(f"topology: {backends.label}; one worker, concurrency 1, SOHOA_OCR_JOBS={args.ocr_jobs}")

    work = Path(tempfile.mkdtemp(prefix="sohoa-memory-"))
    try:
        t = time.perf_counter()
        dossier = make_dossier(work / "dossier.pdf", args.pages, args.dpi)
        print(
            f"dossier: {args.pages} A4 pages at {args.dpi} dpi, "
            f"{dossier.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - t:.0f}s"
        )
        warm = work / "warm.jpg"
        render_page(size_in=(4.0, 3.0), seed=999).image.save(warm, "JPEG", dpi=(300, 300))

        with Stack(backends, work / "stack", extra_env=extra, keep=args.keep) as stack:
            worker = stack.start_worker(concurrency=1)
            sampler = TreeSampler(worker.pid, args.interval)
            try:
                sampler.phase = "warm-up"
                stack.wait([stack.upload(warm)["id"]], timeout=600)
                t0 = time.time()
                scan = stack.upload(dossier)
                progress = Progress(sampler, time.monotonic())
                try:
                    final = stack.wait(
                        [scan["id"]], timeout=args.timeout, poll=1.0, on_poll=progress
                    )
                except ScanFailed as exc:
                    raise ScanFailed(f"{exc}\n{stack.log_tail('worker-0', 2000)}") from None
                sampler.sample()
            finally:
                sampler.stop()
            result = final[scan["id"]]
            if result["status"] != "digitized":
                print(
                    f"FAILED: {result['reason_code']}: {result['reason_message']}\n"
                    f"{stack.log_tail('worker-0', 2000)}",
                    file=sys.stderr,
                )
                if result["reason_code"] == "time_limit":
                    print("(raise it with --ocr-time-limit SECONDS)", file=sys.stderr)
                return 1
            end = parse_time(result["finished_at"]) or time.time()
    except ScanFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    seconds = end - t0
    print(
        f"\n{'phase':9} {'tree RSS MB':>11} {'tree PSS MB':>11} {'largest process MB':>22}  "
        "tree at its RSS peak"
    )
    rows = [*((name, p) for name, p in sampler.by_phase.items()), ("overall", sampler.overall)]
    for name, p in rows:
        print(
            f"{name:9} {p.tree_rss_kb / 1024:11.0f} {p.tree_pss_kb / 1024:11.0f} "
            f"{p.single_kb / 1024:10.0f} {'(' + p.single_name + ')':11}  {p.processes}"
        )
    peak_mb = sampler.overall.tree_rss_kb / 1024
    verdict = "met" if peak_mb <= GOAL_MB else "NOT met"
    print(
        f"\n{args.pages} pages in {seconds:.1f}s from upload to digitized: "
        f"{60 * args.pages / seconds:.1f} pages/min ({sampler.samples} samples)"
    )
    print(f"peak worker tree RSS: {peak_mb:.0f} MB   (goal <= {GOAL_MB} MB: {verdict})")
    return 0


def _each(counts: list[int]) -> int:
    """``--pages 300,1000``: one full run per count, in turn, then their verdicts together."""
    import re
    import subprocess

    argv = sys.argv[1:]
    at = next(i for i, a in enumerate(argv) if a == "--pages" or a.startswith("--pages="))
    rest = argv[:at] + argv[at + (1 if "=" in argv[at] else 2) :]
    verdicts, failed = [], 0
    for count in counts:
        print(f"\n=== {count} pages ===", flush=True)
        run = subprocess.run(
            [sys.executable, __file__, "--pages", str(count), *rest],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        print(run.stdout, end="", flush=True)
        failed |= run.returncode
        found = re.search(r"^peak worker tree RSS: .*$", run.stdout, re.M)
        verdicts.append(f"{count:5} pages: " + (found.group(0) if found else "no result"))
    print("\n" + "\n".join(verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
