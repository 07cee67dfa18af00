"""Benchmark: signing digitized PDF/A pages the way the pipeline does, against plain pyHanko.

Makes (once, cached in ``--work``) a realistic input: an A4 page rendered at 300 dpi by
tests/ocr/pagegen.py, degraded like an office scanner, OCRed by ``ocr.engine.OcrEngine`` into
a PDF/A-2b with a text layer (or takes ``--input``). Then, in one process and interleaved in
rounds so that a noisy shared machine hits both alike, it signs ``--n`` documents with

  (a) sohoa: ``DocumentSigner`` with the development PKI's clerk key (``SignerRegistry``,
      PKCS#12), the scan stamp (clerk name, scan time, "converted from paper") top-left, B-B,
      no TSA: what ``ingest.stages.sign_step`` does;
  (b) baseline: pyHanko's plain ``signers.sign_pdf`` with a stock ``SimpleSigner`` (loaded
      once), PAdES, no stamp;
  (c) the floor: the same plain ``sign_pdf`` with (a)'s key object (``CachedKeySigner``, with
      whatever it caches), so that a/c is the price of the stamp and of sohoa's own steps;

and prints documents per CPU second (so: per core; wall clock beside it) of each and the ratios
a/b and a/c. ``--profile K`` prints cProfile's top K functions of (a) instead. ``--pages 300``
signs one document of 300 distinct copies of the page with (a) and with (b), each in a fresh
child process, and prints the child's peak RSS (VmHWM) before and after that signature.

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/signing.py --n 100
    OMP_THREAD_LIMIT=1 .venv/bin/python bench/signing.py --n 40 --profile 25
    OMP_THREAD_LIMIT=1 .venv/bin/python bench/signing.py --pages 300
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signing.backends import RegistryConfig, SignerRegistry  # noqa: E402
from signing.pki import init_dev_pki  # noqa: E402
from signing.sign import DocumentSigner  # noqa: E402
from signing.stamp import ensure_stamp_font, scan_stamp_lines  # noqa: E402

PASSWORD = "sohoa-bench"
CLERK = ("lan.nt", "Nguyễn Thị Lan")
REASON = "Số hóa từ bản giấy"
LOCATION = "Việt Nam"  # core.settings default
INPUT_VERSION = "2"


def page_pdf(work: Path) -> Path:
    """The single-page PDF/A input, OCRed once and kept in ``work``."""
    out = work / f"page-v{INPUT_VERSION}.pdf"
    if out.is_file():
        return out
    from ocr.engine import OcrEngine, OcrSettings
    from tests.ocr.pagegen import A4, PARAGRAPHS, render_page, save_pdf

    page = render_page(
        PARAGRAPHS, size_in=A4, dpi=300, skew_deg=0.8, degrade=True, harshness=0.5, seed=3
    )
    scan = save_pdf([page.image], work / "scan.pdf", jpeg=85)
    tmp = work / "page.tmp.pdf"
    OcrEngine(OcrSettings(jobs=1)).run(scan, tmp, work_dir=work / "ocr")
    tmp.replace(out)
    return out


def many_pages_pdf(src: Path, pages: int) -> Path:
    """``pages`` copies of ``src``'s page, each with its own objects (no shared image)."""
    import pikepdf

    out = src.with_name(f"{src.stem}-x{pages}.pdf")
    if out.is_file():
        return out
    with pikepdf.open(src) as pdf:
        for _ in range(pages - 1):
            with pikepdf.open(src) as other:  # a fresh source: copies are not deduplicated
                pdf.pages.append(other.pages[0])
        pdf.save(out.with_suffix(".tmp"))
    out.with_suffix(".tmp").replace(out)
    return out


class Setup:
    """The PKI, the registry, the stamp font and both signers, as a worker holds them."""

    def __init__(self, work: Path) -> None:
        pki = init_dev_pki(
            work / "pki",
            unit_name="UBND Phường Thử Nghiệm - Bộ phận Một cửa",
            unit_code="000.00.16.H08",
            clerks=(CLERK,),
            password=PASSWORD,
        )
        self.registry = SignerRegistry(
            RegistryConfig(kind="pkcs12", pkcs12_dir=pki.directory, pkcs12_password=PASSWORD)
        )
        self.backend = self.registry.for_clerk(CLERK[0])
        self.signer = DocumentSigner(ensure_stamp_font(work / "fonts"), tz="Asia/Ho_Chi_Minh")
        from pyhanko.sign import signers

        stock = signers.SimpleSigner.load_pkcs12(
            str(pki.clerk_p12(CLERK[0])), passphrase=PASSWORD.encode()
        )
        assert stock is not None
        self.stock = stock
        self.out = work / "out"
        self.out.mkdir(exist_ok=True)
        self.scanned = dt.datetime.now(dt.UTC)

    def sohoa(self, src: Path, i: int) -> None:
        """What ``ingest.stages.sign_step`` does for a paper scan (minus the PDF/A check)."""
        scanned = self.scanned + dt.timedelta(minutes=i)  # every stamp has its own text
        self.signer.sign(
            src,
            self.out / "sohoa.pdf",
            self.backend,
            stamp_lines=scan_stamp_lines(self.backend.name, scanned),
            position="top-left",
            reason=REASON,
            location=LOCATION,
        )

    def plain(self, src: Path, i: int) -> None:
        self._plain(src, self.stock)

    def floor(self, src: Path, i: int) -> None:
        self._plain(src, self.backend.pyhanko_signer())

    def _plain(self, src: Path, signer: Any) -> None:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers

        meta = signers.PdfSignatureMetadata(
            field_name="Signature1",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=REASON,
            location=LOCATION,
        )
        with src.open("rb") as inf, (self.out / "plain.pdf").open("wb") as out:
            signers.sign_pdf(IncrementalPdfFileWriter(inf), meta, signer=signer, output=out)


def rate(setup: Setup, src: Path, n: int, rounds: int) -> None:
    setup.sohoa(src, -1)  # warm: imports, key, caches
    setup.plain(src, -1)
    setup.floor(src, -1)
    names = ("sohoa", "plain", "floor")
    times = dict.fromkeys(names, 0.0)
    walls = dict.fromkeys(names, 0.0)
    per = max(1, n // rounds)
    done = 0
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            fn = getattr(setup, name)
            t0, w0 = time.process_time(), time.perf_counter()
            for i in range(per):
                fn(src, done + i)
            times[name] += time.process_time() - t0
            walls[name] += time.perf_counter() - w0
        done += per
    total = per * rounds
    a, b, c = (total / times[name] for name in names)
    wa, wb, wc = (total / walls[name] for name in names)
    print(f"input: {src.name}, {src.stat().st_size // 1024} KB, {total} documents each")
    print("                                                    per CPU second  (wall clock)")
    print(f"(a) sohoa DocumentSigner, visible scan stamp, B-B: {a:6.1f} docs/s ({wa:5.1f})")
    print(f"(b) plain pyHanko sign_pdf, SimpleSigner, no stamp: {b:6.1f} docs/s ({wb:5.1f})")
    print(f"(c) plain pyHanko sign_pdf, (a)'s key, no stamp:   {c:6.1f} docs/s ({wc:5.1f})")
    print(f"ratio a/b: {a / b:.2f}, a/c: {a / c:.2f}")


def profile(setup: Setup, src: Path, n: int, top: int) -> None:
    setup.sohoa(src, -1)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        setup.sohoa(src, i)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    print(f"per signature: {stats.total_tt / n * 1000:.1f} ms under cProfile ({n} signatures)")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(buf.getvalue())


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_child(work: Path, which: str, big: Path, small: Path) -> dict[str, Any]:
    """In a fresh process: warm up on the small page, then sign ``big`` once; VmHWM in KB."""
    setup = Setup(work)
    fn = getattr(setup, which)
    fn(small, 0)
    before = _status_kb("VmHWM")
    t0, c0 = time.perf_counter(), time.process_time()
    fn(big, 1)
    return {
        "which": which,
        "hwm_before_kb": before,
        "hwm_after_kb": _status_kb("VmHWM"),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }


def rss(work: Path, small: Path, pages: int) -> None:
    big = many_pages_pdf(small, pages)
    print(f"input: {big.name}, {pages} pages, {big.stat().st_size / 2**20:.1f} MB")
    for which in ("sohoa", "plain"):
        out = subprocess.run(
            [sys.executable, __file__, "--work", str(work), "--_rss", which, str(big)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        label = "(a) sohoa DocumentSigner" if which == "sohoa" else "(b) plain pyHanko sign_pdf"
        print(
            f"{label}: peak RSS {r['hwm_before_kb'] / 1024:.0f} MB after warm-up, "
            f"{r['hwm_after_kb'] / 1024:.0f} MB after the {pages}-page signature "
            f"(+{(r['hwm_after_kb'] - r['hwm_before_kb']) / 1024:.0f} MB), "
            f"{r['seconds']:.2f} s ({r['cpu_seconds']:.2f} s CPU)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="documents per signer")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--input", type=Path, help="a single-page PDF/A to sign instead")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "sohoa-bench-signing"
    )
    parser.add_argument("--profile", type=int, metavar="K", help="print cProfile's top K of (a)")
    parser.add_argument(
        "--pages", type=int, help="peak RSS signing one document of this many pages"
    )
    parser.add_argument("--_rss", nargs=2, metavar=("WHICH", "PDF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    small = args.input or page_pdf(work)
    if args._rss:
        print(json.dumps(rss_child(work, args._rss[0], Path(args._rss[1]), small)))
        return
    if args.pages:
        rss(work, small, args.pages)
        return
    setup = Setup(work)
    if args.profile:
        profile(setup, small, args.n, args.profile)
    else:
        rate(setup, small, args.n, args.rounds)


if __name__ == "__main__":
    main()
