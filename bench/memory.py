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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300, help="pages of the dossier (300)")
    parser.add_argument("--dpi", type=int, default=200, help="resolution of the pages (200)")
    parser.add_argument("--ocr-jobs", type=int, default=1, help="SOHOA_OCR_JOBS (default 1)")
    parser.add_argument("--interval", type=float, default=0.2, help="sampling period, s (0.2)")
    parser.add_argument(
        "--ocr-time-limit",
        type=int,
        help="raise the OCR step's soft time limit (s; production default 1800)",
    )
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait (4 h)")
    add_topology_args(parser)
    args = parser.parse_args()
    backends = choose_backends(args)
    extra = {"SOHOA_OCR_JOBS": str(args.ocr_jobs)}
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


if __name__ == "__main__":
    run_main(main)
