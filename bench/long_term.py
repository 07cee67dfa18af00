"""Benchmark: what long-term signatures cost. B-B against B-T, B-LT and B-LTA, all measured in
one run, interleaved in rounds so that a noisy shared machine hits every level alike.

The input is bench/signing.py's page (an OCRed A4 scan as PDF/A-2b, cached in ``--work``); the
signer is the pipeline's ``DocumentSigner`` as ``make run`` configures it (embedded default,
development PKI, clerk key, scan stamp), with only the level changed. The service, with the
development PKI's TSA, OCSP responder and CRL, is served over real HTTP on 127.0.0.1 from a
thread of this process, so their CPU is counted in the figures, as on the embedded default. Printed per level: documents
per wall second and per CPU second, the ratio to B-B, bytes added to the file, and the time
an auditor's hard-fail validation (offline, from what the file carries) takes per document.

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/long_term.py --n 40
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.signing import LOCATION, REASON, page_pdf  # noqa: E402

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def serve(data_dir: Path) -> object:
    """The embedded default's services, served over HTTP on a free port as ``sohoa run``
    serves them (the development PKI's /pki included); returns the services."""
    import os

    import uvicorn

    from core.settings import Settings
    from wiring.asgi import application
    from wiring.factory import build

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ["SOHOA_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    services = build(Settings(data_dir=data_dir, pki_rate_limit=0, api_token="b" * 32))
    server = uvicorn.Server(
        uvicorn.Config(
            application(services), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="documents per level")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sohoa-bench")
    args = parser.parse_args()

    from signing.sign import DocumentSigner
    from signing.stamp import scan_stamp_lines
    from signing.verify import verify_pdf

    args.work.mkdir(parents=True, exist_ok=True)
    src = page_pdf(args.work)
    run = Path(tempfile.mkdtemp(dir=args.work))
    services = serve(run / "data")
    svc: Any = services
    roots = svc.trust_roots
    backend = svc.signers.for_clerk("clerk1")
    configured = svc.document_signer  # B-LTA, the development PKI's TSA (make run's setup)
    signers = {
        level: DocumentSigner(
            configured.font_path,
            timestamper=configured.timestamper if level != "B-B" else None,
            level=level,  # type: ignore[arg-type]
            validation_context=svc.signing_validation_context,
        )
        for level in LEVELS
    }
    lines = scan_stamp_lines(backend.name, dt.datetime.now(dt.UTC))
    wall = {level: 0.0 for level in LEVELS}
    cpu = {level: 0.0 for level in LEVELS}
    sizes: dict[str, list[int]] = {level: [] for level in LEVELS}
    outputs: dict[str, list[Path]] = {level: [] for level in LEVELS}
    for level in LEVELS:  # warm up: size estimates, font subsets, connections
        print(f"warming up {level}", file=sys.stderr, flush=True)
        signers[level].sign(
            src,
            run / f"warm-{level}.pdf",
            backend,
            stamp_lines=lines,
            reason=REASON,
            location=LOCATION,
        )
    per_round = max(1, args.n // args.rounds)
    for r in range(args.rounds):
        for level in LEVELS:
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(per_round):
                out = run / f"{level}-{r}-{i}.pdf"
                res = signers[level].sign(
                    src, out, backend, stamp_lines=lines, reason=REASON, location=LOCATION
                )
                sizes[level].append(res.size)
                outputs[level].append(out)
            wall[level] += time.perf_counter() - t0
            cpu[level] += time.process_time() - c0
    n = per_round * args.rounds
    base_size = src.stat().st_size
    verify_s: dict[str, float] = {}
    for level in LEVELS:
        print(f"verifying {level}", file=sys.stderr, flush=True)
        sample = outputs[level][:5]
        t0 = time.perf_counter()
        for path in sample:
            report = verify_pdf(path, trust_roots=roots, revocation="hard-fail", online=False)
            assert report.signatures, path
        verify_s[level] = (time.perf_counter() - t0) / len(sample)
    print(f"{n} documents per level, {args.rounds} interleaved rounds; input {base_size} bytes")
    print(
        f"{'level':6} {'docs/s wall':>11} {'docs/CPU-s':>10} {'vs B-B':>7} "
        f"{'bytes added':>11} {'verify s/doc':>12}"
    )
    for level in LEVELS:
        rate_wall, rate_cpu = n / wall[level], n / cpu[level]
        ratio = rate_wall / (n / wall["B-B"])
        added = statistics.median(sizes[level]) - base_size
        print(
            f"{level:6} {rate_wall:11.1f} {rate_cpu:10.1f} {ratio:7.2f} {added:11.0f} "
            f"{verify_s[level]:12.3f}"
        )


if __name__ == "__main__":
    main()
