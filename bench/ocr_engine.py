"""Benchmark: stock OCRmyPDF CLI vs sohoa's OcrEngine on the same scan PDF.

Renders N Vietnamese A4 pages at 300 dpi (skewed 1–2° either way, one page turned 90°, every
other page degraded like a cheap scanner: blur, noise, grey paper, JPEG q70) into one JPEG
scan PDF, then times

  (a) ``ocrmypdf --jobs 2 -l vie+eng --output-type pdfa --rotate-pages --deskew`` (subprocess),
  (b) OcrEngine with its default settings, in-process and warmed up,
  (c) optionally OcrEngine with other languages (``--also vie+eng``), to separate the pipeline
      gain from the language choice,

and prints pages/min, the ratio to (a), CER against the rendered text, and which pages each
rotated and deskewed. ``--languages`` instead prints a CER table per language on the corpus.

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/ocr_engine.py --pages 6 --also vie+eng
    OMP_THREAD_LIMIT=1 .venv/bin/python bench/ocr_engine.py --languages vie,vie+eng,Vietnamese
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import img2pdf  # noqa: E402
from PIL import Image  # noqa: E402

from ocr.engine import OcrEngine, OcrSettings  # noqa: E402
from ocr.extract import page_texts  # noqa: E402
from ocr.quality import bag_of_words_f1, cer, levenshtein, normalize  # noqa: E402
from tests.ocr.pagegen import A4, PARAGRAPHS, SANS, SERIF, render_page, save_pdf  # noqa: E402

CORPUS = Path(os.environ.get("SOHOA_CORPUS", "/work/shared/corpus"))
OCRMYPDF = ROOT / ".venv" / "bin" / "ocrmypdf"


def make_scan(n: int, out: Path) -> list[str]:
    """N pages; returns the ground truth of each page."""
    skews = [1.8, -1.2, 1.5, -1.8, 1.1, -1.5, 2.0, -1.0]
    turned = min(2, n - 1)
    pages = []
    for i in range(n):
        k = (i * 3) % len(PARAGRAPHS)
        pages.append(
            render_page(
                PARAGRAPHS[k:] + PARAGRAPHS[:k],
                size_in=A4,
                skew_deg=skews[i % len(skews)],
                turn=90 if i == turned else 0,
                degrade=i % 2 == 1,
                seed=i,
                font_path=SERIF if i % 2 == 0 else SANS,
                font_pt=12 if i % 3 else 11,
            )
        )
    save_pdf([p.image for p in pages], out, jpeg=85)
    return [p.text for p in pages]


def quality(pdf: Path, truth: list[str]) -> tuple[float, float]:
    """CER pooled over pages (edits summed page by page: O(page²), not O(document²)), BoW F1."""
    texts = page_texts(pdf)
    edits = sum(levenshtein(normalize(r), normalize(h)) for r, h in zip(truth, texts, strict=True))
    chars = sum(len(normalize(r)) for r in truth)
    return edits / chars, bag_of_words_f1("\n".join(truth), "\n".join(texts))


def cpu_seconds() -> float:
    """User+system CPU of this process and its finished children (Tesseract, the CLI)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_baseline(src: Path, out: Path, jobs: int) -> tuple[float, list[int], list[int]]:
    cmd = [str(OCRMYPDF), "-v1", "--jobs", str(jobs), "-l", "vie+eng", "--output-type", "pdfa"]
    cmd += ["--rotate-pages", "--deskew", str(src), str(out)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    rotated, deskewed = set(), set()
    for line in proc.stderr.splitlines():
        m = re.match(r"\s*(\d+)\s.*will rotate", line)
        if m:
            rotated.add(int(m.group(1)))
        m = re.match(r"\s*(\d+)\s.*Deskew angle: (-?[\d.]+)", line)
        if m and abs(float(m.group(2))) > 0.05:
            deskewed.add(int(m.group(1)))
    return wall, sorted(rotated), sorted(deskewed)


def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-bench-"))
    src = tmp / "scan.pdf"
    truth = make_scan(args.pages, src)
    n = args.pages
    print(f"{n} pages A4 300 dpi, {src.stat().st_size / 1e6:.1f} MB, load {os.getloadavg()[0]:.2f}")

    warm = tmp / "warm.pdf"
    save_pdf([render_page(size_in=(4.13, 2.0)).image], warm)
    rows = []
    variants = [("ours " + OcrSettings().languages, OcrSettings())]
    variants += [(f"ours {lang}", OcrSettings(languages=lang)) for lang in args.also]
    for rep in range(args.repeat):
        if not args.skip_baseline:
            out = tmp / f"base{rep}.pdf"
            cpu = cpu_seconds()
            wall, rot, desk = run_baseline(src, out, args.jobs)
            rows.append(("(a) ocrmypdf CLI vie+eng", wall, out, rot, desk, cpu_seconds() - cpu))
        for name, settings in variants:
            engine = OcrEngine(OcrSettings(**{**settings.__dict__, "jobs": args.jobs}))
            if rep == 0:
                engine.run(warm, tmp / "warm.out.pdf", work_dir=tmp / "warm")
            out = tmp / f"{name.replace(' ', '_')}{rep}.pdf"
            cpu, t = cpu_seconds(), time.perf_counter()
            res = engine.run(src, out, work_dir=tmp / f"w{rep}")
            wall = time.perf_counter() - t
            rows.append(
                (
                    f"(b) {name}",
                    wall,
                    out,
                    res.rotated_pages,
                    res.deskewed_pages,
                    cpu_seconds() - cpu,
                )
            )
        done = rows[-len(variants) - (0 if args.skip_baseline else 1) :]
        print(
            f"  round {rep + 1} (load {os.getloadavg()[0]:.2f}): "
            + ", ".join(f"{r[0]} {r[1]:.1f}s wall {r[5]:.1f}s CPU" for r in done),
            flush=True,
        )

    base = [r for r in rows if r[0].startswith("(a)")]
    base_wall = statistics.median(r[1] for r in base) if base else None
    base_cpu = statistics.median(r[5] for r in base) if base else None
    print()
    print(
        f"{'run':28} {'median s':>8} {'min s':>6} {'pages/min':>9} {'ratio':>6} "
        f"{'CPU s':>6} {'ratio':>6} {'CER %':>6} {'BoW F1':>6}  rotated / deskewed"
    )
    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == name]
        med = statistics.median(r[1] for r in mine)
        cpu = statistics.median(r[5] for r in mine)
        c, f1 = quality(mine[-1][2], truth)
        ratio = f"{base_wall / med:5.2f}x" if base_wall else "-"
        cpu_ratio = f"{base_cpu / cpu:5.2f}x" if base_cpu else "-"
        print(
            f"{name:28} {med:8.1f} {min(r[1] for r in mine):6.1f} {60 * n / med:9.1f} "
            f"{ratio:>6} {cpu:6.1f} {cpu_ratio:>6} {100 * c:6.2f} {f1:6.3f}  "
            f"{mine[-1][3]} / {mine[-1][4]}"
        )
    print(
        f"\nexpected: rotated [{min(3, n)}], deskewed {list(range(1, n + 1))}; load "
        f"{os.getloadavg()[0]:.2f}"
    )


def ablation(args: argparse.Namespace) -> None:
    """What each change buys, in-process and warm, on the same scan as the benchmark."""
    import ocrmypdf
    import pikepdf

    from ocr.engine import PLUGIN, _Fixes

    tmp = Path(tempfile.mkdtemp(prefix="sohoa-ablation-"))
    src = tmp / "scan.pdf"
    truth = make_scan(args.pages, src)
    warm = tmp / "warm.pdf"
    save_pdf([render_page(size_in=(4.13, 2.0)).image], warm)
    engine = OcrEngine(OcrSettings(jobs=args.jobs))
    (tmp / "work").mkdir()
    ours = {"output_type": "pdfa-2", "pdfa_backend": "internal", "mode": "skip"}
    steps = [
        (
            "stock OCRmyPDF in-process, vie+eng, --rotate-pages --deskew",
            False,
            "vie+eng",
            {"output_type": "pdfa", "rotate_pages": True, "deskew": True},
        ),
        (
            "+ our orientation/skew fix, no OCRmyPDF rotate/deskew",
            True,
            "vie+eng",
            {**ours, "rasterizer": "pypdfium"},
        ),
        (
            "+ scan pages rasterized from their image (plugin)",
            True,
            "vie+eng",
            {**ours, "plugins": [PLUGIN]},
        ),
        ("+ languages vie (the OcrEngine default)", True, "vie", {**ours, "plugins": [PLUGIN]}),
    ]
    print(f"{args.pages} pages; each step adds to the one above; median of {args.repeat}")
    for name, straighten, lang, options in steps:

        def run(
            pdf: Path,
            out: Path,
            straighten: bool = straighten,
            lang: str = lang,
            options: dict[str, object] = options,
        ) -> None:
            if straighten:
                with pikepdf.open(pdf) as doc:
                    every = list(range(len(doc.pages)))
                pdf = engine._straighten(pdf, every, tmp / "work", _Fixes())
            ocrmypdf.ocr(
                pdf, out, language=lang.split("+"), jobs=args.jobs, progress_bar=False, **options
            )

        run(warm, tmp / "warm.out.pdf")
        walls, cpus = [], []
        for rep in range(args.repeat):
            out = tmp / f"out{rep}.pdf"
            cpu, t = cpu_seconds(), time.perf_counter()
            run(src, out)
            walls.append(time.perf_counter() - t)
            cpus.append(cpu_seconds() - cpu)
        c, _ = quality(out, truth)
        wall = statistics.median(walls)
        print(
            f"  {name:62} {wall:5.1f} s wall {statistics.median(cpus):5.1f} s CPU "
            f"{60 * args.pages / wall:5.1f} pages/min  CER {100 * c:.2f} %",
            flush=True,
        )


def corpus_pages(tmp: Path) -> list[tuple[str, Path, str]]:
    """(name, one-page PDF, ground truth) for the language table."""
    out = []
    admin = CORPUS / "vietnamese/real_photos_scans/administrative_documents.jpg"
    if admin.exists():
        gt = admin.with_suffix(".gt.txt").read_text()
        for dpi in (72, 90, 300):  # the JPEG's own bytes, tagged with another resolution
            pdf = tmp / f"admin_{dpi}.pdf"
            pdf.write_bytes(img2pdf.convert(str(admin), layout_fun=_dpi_layout(dpi)))
            out.append((f"admin.jpg tagged {dpi} dpi", pdf, gt))
        for scale in (2, 3, 4):  # upscaled (Lanczos) to 180/270/360 dpi, stored losslessly
            im = Image.open(admin).convert("L")
            im = im.resize((im.width * scale, im.height * scale), Image.Resampling.LANCZOS)
            pdf = tmp / f"admin_x{scale}.pdf"
            save_pdf([_with_dpi(im, 90 * scale)], pdf, jpeg=None)
            out.append((f"admin.jpg upscaled x{scale}", pdf, gt))
    for rel, gt_rel in (
        ("vietnamese/tesseract_test/viet.tif", "vietnamese/tesseract_test/viet.gt.txt"),
        ("english_gt/tesseract_test/phototest.tif", "english_gt/tesseract_test/phototest.gold.txt"),
        ("english_gt/tesseract_test/eurotext.tif", "english_gt/tesseract_test/eurotext.txt"),
    ):
        if (CORPUS / rel).exists():
            pdf = tmp / (Path(rel).stem + ".pdf")
            pdf.write_bytes(img2pdf.convert(str(CORPUS / rel)))
            out.append((Path(rel).name, pdf, (CORPUS / gt_rel).read_text()))
    for name, kw in (
        ("rendered serif A5", {"font_path": SERIF, "size_in": (5.83, 8.27)}),
        ("rendered sans A5", {"font_path": SANS, "size_in": (5.83, 8.27), "seed": 1}),
        (
            "rendered degraded A5",
            {"font_path": SERIF, "size_in": (5.83, 8.27), "skew_deg": 1.5, "degrade": True},
        ),
        (
            "rendered degraded sans A5",
            {
                "font_path": SANS,
                "size_in": (5.83, 8.27),
                "skew_deg": -1.5,
                "degrade": True,
                "font_pt": 10,
                "seed": 2,
            },
        ),
        (
            "rendered harsh serif 9pt A5",
            {
                "font_path": SERIF,
                "size_in": (5.83, 8.27),
                "skew_deg": 1.2,
                "degrade": True,
                "harshness": 1.6,
                "font_pt": 9,
                "seed": 3,
            },
        ),
        (
            "rendered harsh sans 8pt A5",
            {
                "font_path": SANS,
                "size_in": (5.83, 8.27),
                "skew_deg": -0.8,
                "degrade": True,
                "harshness": 1.4,
                "font_pt": 8,
                "seed": 4,
            },
        ),
        (
            "rendered harsh serif 8pt A5",
            {
                "font_path": SERIF,
                "size_in": (5.83, 8.27),
                "skew_deg": 0.6,
                "degrade": True,
                "harshness": 1.5,
                "font_pt": 8,
                "seed": 5,
            },
        ),
    ):
        page = render_page(PARAGRAPHS[6:] + PARAGRAPHS[:6], **kw)
        pdf = tmp / (name.replace(" ", "_") + ".pdf")
        save_pdf([page.image], pdf, jpeg=None if "degraded" in name else 90)
        out.append((name, pdf, page.text))
    return out


def _with_dpi(im: Image.Image, dpi: float) -> Image.Image:
    im.info["dpi"] = (dpi, dpi)
    return im


def _dpi_layout(dpi: float):  # img2pdf's layout-function type is private
    def layout(imgw: int, imgh: int, _ndpi: object) -> tuple[float, float, float, float]:
        w, h = imgw * 72 / dpi, imgh * 72 / dpi
        return w, h, w, h

    return layout


def languages(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-lang-"))
    pages = corpus_pages(tmp)
    langs = args.languages.split(",")
    print(f"{'page':30} " + " ".join(f"{lang:>22}" for lang in langs))
    print(f"{'':30} " + " ".join(f"{'CER% / F1 / s':>22}" for _ in langs))
    vi_cer: dict[str, list[float]] = {lang: [] for lang in langs}
    vi_time: dict[str, float] = dict.fromkeys(langs, 0.0)
    for name, pdf, gt in pages:
        cells = []
        vietnamese = not name.startswith(("phototest", "eurotext"))
        for lang in langs:
            engine = OcrEngine(OcrSettings(languages=lang, jobs=1))
            t = time.perf_counter()
            res = engine.run(pdf, tmp / "out.pdf", work_dir=tmp / "w")
            dt = time.perf_counter() - t
            text = "\n".join(res.page_texts)
            c = cer(gt, text)
            if vietnamese:
                vi_cer[lang].append(c)
                vi_time[lang] += dt
            cells.append(f"{100 * c:6.2f} / {bag_of_words_f1(gt, text):.3f} / {dt:4.1f}")
        print(f"{name:30} " + " ".join(f"{c:>22}" for c in cells), flush=True)
    print(
        f"{'mean CER% Vietnamese / total s':30} "
        + " ".join(
            f"{100 * statistics.mean(vi_cer[lang]):13.2f} / {vi_time[lang]:5.1f}" for lang in langs
        )
    )


def main() -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=6)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--also", nargs="*", default=[], help="extra OcrEngine languages to time")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--languages", help="comma-separated: print the CER table instead")
    p.add_argument("--ablation", action="store_true", help="time each optimisation in turn")
    args = p.parse_args()
    if args.ablation:
        ablation(args)
    elif args.languages:
        languages(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
