"""Upload benchmark: how fast the API acknowledges ~2 MB scans, 20 at once against one at a time.

Only the API runs (``sohoa api --workers N``, ``--api-workers``); no pipeline worker, so what
is measured is the acknowledgement: the upload spooled to disk and hashed, the
file inspected, the original put in the object store, the scan recorded and its OCR task sent to
the broker, up to the 202. Scans then wait in the queue; nothing is OCR'd.

Each round makes fresh files (one rendered, degraded A4 page at 300 dpi, JPEG at the quality
closest to ``--size-mb``, made distinct by a JPEG comment, since the same bytes uploaded again
return the existing scan) and does two things: ``--concurrency`` uploads released together by a
barrier (threads with one httpx client each, connected beforehand), then as many uploads one at
a time, the baseline. Latency is from sending the request to its 202. One round is a warm-up,
not counted. Prints p50/p95/p99/max of each (goal: concurrent p95 <= 50 ms), their ratio, and
the API's CPU time per upload and memory (all its processes together): RSS sampled every
0.1 s and the sum of their high-water marks (VmHWM). CPU per upload is the steadiest figure
on a busy machine: latencies there measure the neighbours as much as the API.

What limits it: the client threads run here, sharing the GIL and the two cores with the API and
the database, so the figures are upper bounds; the machine is shared and noisy, so compare the
concurrent and sequential figures of one run. Usage:
``python bench/upload.py [--rounds 5] [--concurrency 20] [--api-workers N]
[--postgres URL --redis URL | --embedded]``
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import httpx  # noqa: E402

from bench._topology import (  # noqa: E402
    TOKEN,
    Stack,
    add_topology_args,
    choose_backends,
    cpu_seconds,
    process_tree,
    rss_kb,
    run_main,
    status_kb,
)
from tests.ocr.pagegen import A4, render_page  # noqa: E402

GOAL_P95_MS = 50.0
API_WORKERS = 4  # as docker-compose.yml starts it; measured best here (2 cores)
BOUNDARY = "sohoa-bench-boundary-7f3a"


@dataclass
class Upload:
    """A ready-to-send multipart body, so building it is not part of the measured time."""

    body: bytes
    size: int  # of the file in it


@dataclass
class Latencies:
    label: str
    ms: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)  # seconds per round, first send to last 202
    cpu: float = 0.0  # seconds of the API's processes (all of them) over the measured rounds
    bytes_sent: int = 0

    def pct(self, p: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class ApiStack(Stack):
    """The stack with ``sohoa api --workers N``: uvicorn's supervisor and N server processes."""

    api_workers: int = 1

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        if name == "api" and self.api_workers > 1:
            args = [*args, "--workers", str(self.api_workers)]
        return super()._spawn(name, args)


class RssSampler:
    """RSS of a process and its children every ``interval`` seconds, in a thread; peak, in kB.

    The children are looked up again every 2 s (a /proc walk is not free on a busy machine).
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kb = self.samples = 0
        self.pids = process_tree(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.samples % 20 == 19:
                self.pids = process_tree(self.pid)
            self.peak_kb = max(self.peak_kb, sum(rss_kb(p) for p in self.pids))
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def base_jpeg(target_mb: float) -> bytes:
    """A degraded A4 page at 300 dpi as JPEG, at the quality whose size is closest to target."""
    image = render_page(size_in=A4, degrade=True, seed=7).image
    best = b""
    for quality in range(80, 99):
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, dpi=(300, 300))
        data = buf.getvalue()
        if not best or abs(len(data) - target_mb * 1e6) < abs(len(best) - target_mb * 1e6):
            best = data
    return best


def distinct(jpeg: bytes) -> Upload:
    """The same image with a unique COM segment after SOI: other bytes, same picture."""
    note = f"sohoa bench {uuid.uuid4()}".encode()
    data = jpeg[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + jpeg[2:]
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="scan-{uuid.uuid4().hex[:8]}.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return Upload(head + data + f"\r\n--{BOUNDARY}--\r\n".encode(), len(data))


def new_client(base_url: str) -> httpx.Client:
    client = httpx.Client(
        base_url=base_url,
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
        timeout=httpx.Timeout(120.0),
    )
    client.get("/healthz").raise_for_status()  # connected: the TCP handshake is not measured
    return client


def post(client: httpx.Client, upload: Upload, failures: list[str]) -> float:
    """Send one upload; its latency in ms (failures are collected, not raised)."""
    t0 = time.perf_counter()
    resp = client.post("/api/v1/scans", content=upload.body)
    ms = 1000 * (time.perf_counter() - t0)
    if resp.status_code != 202:
        failures.append(f"{resp.status_code} {resp.text[:300]}")
    return ms


def concurrent_round(
    clients: list[httpx.Client], uploads: list[Upload], failures: list[str]
) -> tuple[list[float], float]:
    barrier = threading.Barrier(len(clients) + 1)
    results: list[float] = [0.0] * len(clients)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait()
            results[i] = post(clients[i], uploads[i], failures)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return results, wall


def sequential_round(
    client: httpx.Client, uploads: list[Upload], failures: list[str]
) -> tuple[list[float], float]:
    t0 = time.perf_counter()
    results = [post(client, u, failures) for u in uploads]
    return results, time.perf_counter() - t0


def report(rows: list[Latencies], sampler: RssSampler, start_kb: int, api_pid: int) -> None:
    print(
        f"\n{'uploads':24} {'n':>4} {'min ms':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'uploads/s':>9} {'MB/s':>6} {'API CPU ms/upload':>17}"
    )
    for r in rows:
        wall = sum(r.walls)
        print(
            f"{r.label:24} {len(r.ms):4} {min(r.ms):7.1f} {r.pct(50):7.1f} {r.pct(95):7.1f} {r.pct(99):7.1f} "
            f"{max(r.ms):7.1f} {len(r.ms) / wall:9.1f} {r.bytes_sent / wall / 1e6:6.1f} "
            f"{1000 * r.cpu / len(r.ms):17.1f}"
        )
    conc, seq = rows
    verdict = "met" if conc.pct(95) <= GOAL_P95_MS else "NOT met"
    print(f"\nconcurrent p95: {conc.pct(95):.1f} ms   (goal <= {GOAL_P95_MS:.0f} ms: {verdict})")
    print(
        f"ratio concurrent/sequential: p50 {conc.pct(50) / seq.pct(50):.2f}, "
        f"p95 {conc.pct(95) / seq.pct(95):.2f}"
    )
    pids = process_tree(api_pid)
    hwm = sum(status_kb(pid, "VmHWM").get("VmHWM", 0) for pid in pids)
    print(
        f"API memory ({len(pids)} process(es)): RSS {start_kb / 1024:.0f} MB when ready, sampled "
        f"peak {sampler.peak_kb / 1024:.0f} MB ({sampler.samples} samples), VmHWM {hwm / 1024:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--concurrency", type=int, default=20, help="uploads at once (default 20)")
    parser.add_argument("--size-mb", type=float, default=2.0, help="file size aimed at (2.0)")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=API_WORKERS,
        help=f"uvicorn processes of the API, sohoa api --workers (default {API_WORKERS})",
    )
    add_topology_args(parser)
    args = parser.parse_args()
    backends = choose_backends(args)
    print(
        f"topology: {backends.label}; API only ({args.api_workers} uvicorn process(es)), "
        "no pipeline worker"
    )

    jpeg = base_jpeg(args.size_mb)
    print(
        f"{args.rounds} rounds (+1 warm-up) of {args.concurrency} concurrent and "
        f"{args.concurrency} sequential uploads of {len(jpeg) / 1e6:.2f} MB (A4 300 dpi JPEG)"
    )
    work = Path(tempfile.mkdtemp(prefix="sohoa-upload-"))
    failures: list[str] = []
    conc, seq = Latencies(f"{args.concurrency} concurrent"), Latencies("one at a time")
    clients: list[httpx.Client] = []
    try:
        with ApiStack(
            backends, work / "stack", keep=args.keep, api_workers=args.api_workers
        ) as stack:
            assert stack.api is not None
            api_pid = stack.api.pid
            start_kb = sum(rss_kb(pid) for pid in process_tree(api_pid))
            sampler = RssSampler(api_pid)
            try:
                clients = [new_client(stack.base_url) for _ in range(args.concurrency)]
                for rnd in range(args.rounds + 1):
                    together = [distinct(jpeg) for _ in range(args.concurrency)]
                    pids = process_tree(api_pid)
                    cpu0 = cpu_seconds(pids)
                    c_ms, c_wall = concurrent_round(clients, together, failures)
                    cpu1 = cpu_seconds(pids)
                    one_by_one = [distinct(jpeg) for _ in range(args.concurrency)]
                    s_ms, s_wall = sequential_round(clients[0], one_by_one, failures)
                    cpu2 = cpu_seconds(pids)
                    label = "warm-up" if rnd == 0 else f"round {rnd}"
                    print(
                        f"  {label:8} concurrent p50 {sorted(c_ms)[len(c_ms) // 2]:6.1f} ms, "
                        f"max {max(c_ms):6.1f} ms; one at a time p50 "
                        f"{sorted(s_ms)[len(s_ms) // 2]:6.1f} ms, max {max(s_ms):6.1f} ms",
                        flush=True,
                    )
                    if rnd == 0:
                        continue
                    for row, ms, wall, sent, cpu in (
                        (conc, c_ms, c_wall, together, cpu1 - cpu0),
                        (seq, s_ms, s_wall, one_by_one, cpu2 - cpu1),
                    ):
                        row.ms.extend(ms)
                        row.walls.append(wall)
                        row.cpu += cpu
                        row.bytes_sent += sum(u.size for u in sent)
                if failures:
                    print(
                        f"FAILED: {len(failures)} upload(s) not accepted with 202; first: "
                        f"{failures[0]}\n{stack.log_tail('api', 1500)}",
                        file=sys.stderr,
                    )
                    return 1
            finally:
                sampler.stop()
                for client in clients:
                    client.close()
            report([conc, seq], sampler, start_kb, api_pid)  # while the API still runs
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
