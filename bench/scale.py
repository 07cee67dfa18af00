"""Scale-out benchmark: the same single-page scans through one worker process, then through two.

Each topology is a fresh deployment (data dir, and database/broker when on PostgreSQL + Redis)
started as production starts it: ``sohoa api`` plus ``sohoa worker --concurrency 1`` processes,
``SOHOA_OCR_JOBS=1`` each, so two workers mean two Tesseracts at a time. N distinct A4 pages
(300 dpi JPEG, rendered by tests/ocr/pagegen.py; distinct bytes, since the same bytes uploaded
again return the same scan) are uploaded one after another as fast as the API takes them; the
time is from the first upload to the last scan's ``finished_at`` (digitized, i.e. signed and
stored). Each topology is first warmed with one small scan per worker, not counted.

Prints pages/min for one and two workers and the ratio two/one (goal >= 1.8 on two cores), plus
the workers' CPU seconds per page and how busy they kept the cores. What limits the ratio: the
API, the database, the broker and this script share the same cores as the workers; the machine
is shared and noisy, so only the ratio of one run means anything. Usage:
``python bench/scale.py [--pages 16] [--postgres URL --redis URL | --embedded]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from bench._topology import (  # noqa: E402
    Backends,
    ScanFailed,
    Stack,
    add_topology_args,
    choose_backends,
    cpu_seconds,
    parse_time,
    process_tree,
    run_main,
)
from tests.ocr.pagegen import A4, PARAGRAPHS, render_page  # noqa: E402

CORES = os.cpu_count() or 2
GOAL = 1.8
SKEWS = (1.2, -1.8, 0.0, 2.0, -1.0, 1.6, -0.6, 0.8, -1.4, 0.3)


@dataclass
class Run:
    workers: int
    pages: int
    seconds: float
    worker_cpu: float  # CPU seconds of the worker process trees during the timed part
    api_cpu: float

    @property
    def ppm(self) -> float:
        return 60 * self.pages / self.seconds


def make_pages(out: Path, count: int) -> list[Path]:
    """Distinct A4 pages at 300 dpi, skewed like scans: a numbered heading, paragraphs rotated."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        k = i % len(PARAGRAPHS)
        paras = (f"Trang số {i + 1}: hồ sơ BENCH-{i:04d}", *PARAGRAPHS[k:], *PARAGRAPHS[:k])
        page = render_page(paras, size_in=A4, skew_deg=SKEWS[i % len(SKEWS)], seed=i)
        path = out / f"page-{i:03d}.jpg"
        page.image.save(path, "JPEG", quality=85, dpi=(300, 300))
        paths.append(path)
    return paths


def make_warmups(out: Path, count: int) -> list[Path]:
    """Small pages, distinct from each other and from the measured ones."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        page = render_page((f"Khởi động {i}", *PARAGRAPHS[:6]), size_in=(4.0, 3.0), seed=900 + i)
        path = out / f"warm-{i}.jpg"
        page.image.save(path, "JPEG", quality=85, dpi=(300, 300))
        paths.append(path)
    return paths


def run_topology(
    backends: Backends, work: Path, pages: list[Path], workers: int, timeout: float, keep: bool
) -> Run:
    with Stack(backends, work / f"{workers}-workers", keep=keep) as stack:
        procs = [stack.start_worker(concurrency=1) for _ in range(workers)]
        warm = make_warmups(work / f"warm-{workers}", workers)
        warm_ids = [stack.upload(p)["id"] for p in warm]
        _check(stack.wait(warm_ids, timeout=timeout), "warm-up")

        assert stack.api is not None
        cpu0 = sum(cpu_seconds(process_tree(p.pid)) for p in procs)
        api0 = cpu_seconds([stack.api.pid])
        t0 = time.time()
        ids = [stack.upload(p)["id"] for p in pages]
        try:
            states = stack.wait(ids, timeout=timeout)
        except ScanFailed as exc:
            raise ScanFailed(f"{exc}\n{stack.log_tail('worker-0', 1500)}") from None
        cpu1 = sum(cpu_seconds(process_tree(p.pid)) for p in procs)
        api1 = cpu_seconds([stack.api.pid])
        _check(states, f"{workers} worker(s)")
        ends = [parse_time(s["finished_at"]) for s in states.values()]
        end = max(e for e in ends if e is not None) if any(ends) else time.time()
        return Run(workers, len(pages), end - t0, cpu1 - cpu0, api1 - api0)


def _check(states: dict[str, dict[str, object]], what: str) -> None:
    failed = [s for s in states.values() if s["status"] != "digitized"]
    if failed:
        first = failed[0]
        raise ScanFailed(
            f"{len(failed)} scan(s) failed in {what}; first: "
            f"{first.get('reason_code')}: {first.get('reason_message')}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=16, help="single-page scans (default 16)")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed per topology (default 3600)"
    )
    add_topology_args(parser)
    args = parser.parse_args()
    backends = choose_backends(args)
    print(f"topology: {backends.label}; {CORES} cores; SOHOA_OCR_JOBS=1 per worker")

    work = Path(tempfile.mkdtemp(prefix="sohoa-scale-"))
    runs: list[Run] = []
    try:
        t = time.perf_counter()
        pages = make_pages(work / "pages", args.pages)
        print(
            f"{len(pages)} distinct A4 pages at 300 dpi rendered in {time.perf_counter() - t:.0f}s"
        )
        for workers in (1, 2):
            run = run_topology(backends, work, pages, workers, args.timeout, args.keep)
            runs.append(run)
            print(f"  {workers} worker(s): {run.seconds:.1f}s", flush=True)
    except ScanFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        print(
            f"logs in {work}" if args.keep else "(re-run with --keep for the logs)", file=sys.stderr
        )
        return 1
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{'workers':>7} {'pages':>5} {'seconds':>8} {'pages/min':>9} {'s/page':>7} "
        f"{'worker CPU s/page':>17} {'cores busy':>10} {'API CPU s':>9}"
    )
    for r in runs:
        busy = r.worker_cpu / (r.seconds * CORES)
        print(
            f"{r.workers:7} {r.pages:5} {r.seconds:8.1f} {r.ppm:9.1f} {r.seconds / r.pages:7.2f} "
            f"{r.worker_cpu / r.pages:17.2f} {busy:10.0%} {r.api_cpu:9.1f}"
        )
    one, two = runs
    ratio = two.ppm / one.ppm
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"\nratio two/one workers: {ratio:.2f}   (goal >= {GOAL} on two cores: {verdict})")
    return 0


if __name__ == "__main__":
    run_main(main)
