"""Benchmark: per-page language and low-resolution upsampling, in one run.

For every page, in the same run (so machine load hits all columns alike):

  raw     ``tesseract <image> stdout -l <model>`` on the page image (the baseline to match:
          ``eng`` for English pages, ``fra`` for French, ``vie`` for Vietnamese);
  before  OcrEngine as it was: ``vie`` on every page, no upsampling
          (``page_options(languages=["vie"], upsample_below_dpi=0)``);
  after   OcrEngine as it is: ``vie`` first, re-read with ``eng``/``fra`` when the page is not
          Vietnamese; rasters under 150 dpi upsampled twofold for Tesseract;
  flat    (``--no-geometry``) "after" with rotate_pages/deskew off: on the 1-bit UNLV pages the
          remaining gap to raw ``eng`` is the deskew resampling, not the language.

It prints WER and CER per page (whitespace tokens, NFC; order-sensitive, so a multi-column
page's reading order counts against every column alike), the language each page was read
with, and seconds for the Vietnamese pages before/after with their ratio (median of
``--repeat`` alternating rounds).

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/languages.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocr import ocrmypdf_plugin as plugin  # noqa: E402
from ocr.engine import OcrEngine, OcrSettings  # noqa: E402
from ocr.quality import cer, levenshtein, normalize  # noqa: E402
from tests.ocr.langpages import (  # noqa: E402
    ADMIN_JPG,
    CORPUS,
    ENGLISH,
    ENGLISH_GT,
    FRENCH,
    downsample,
    image_pdf,
    render,
)
from tests.ocr.pagegen import A5, PARAGRAPHS, SANS, SERIF, render_page  # noqa: E402


@dataclass
class Sample:
    name: str
    pdf: Path
    image: Path  # what raw tesseract reads
    truth: str
    model: str  # the raw baseline's model, and the language the page should be read as
    vietnamese: bool = False


_HYPHEN = re.compile(r"(\w)-[ \t]*\n\s*(\w)")


def dehyphenate(text: str) -> str:
    """Join words broken at line ends: the UNLV truth keeps "weath-/ered" as printed, while the
    engine's text layer yields "weathered" (same recognition, 5 points of WER on 8087_054)."""
    return _HYPHEN.sub(r"\1\2", text)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate over whitespace tokens of the normalized, de-hyphenated texts."""
    ref = normalize(dehyphenate(reference)).split()
    hyp = normalize(dehyphenate(hypothesis)).split()
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)  # type: ignore[arg-type]  # works on any sequence


def raw_tesseract(image: Path, model: str) -> tuple[str, float]:
    t = time.perf_counter()
    out = subprocess.run(
        ["tesseract", str(image), "stdout", "-l", model],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out, time.perf_counter() - t


def samples(tmp: Path) -> list[Sample]:
    out = []
    for stem, gt in (
        ("8071_093.3B", "8071_093.3B.txt"),
        ("8087_054.3B", "8087_054.3B.txt"),
        ("phototest", "phototest.gold.txt"),
        ("eurotext", "eurotext.txt"),
    ):
        tif = ENGLISH_GT / f"{stem}.tif"
        if tif.exists():
            truth = (ENGLISH_GT / gt).read_text(encoding="utf-8", errors="replace")
            out.append(Sample(stem, image_pdf(tif, tmp / f"{stem}.pdf"), tif, truth, "eng"))
    for name, paragraphs, model in (("rendered English A6", ENGLISH, "eng"),):
        page = render(paragraphs, seed=7)
        png = tmp / "english.png"
        page.image.save(png, dpi=(300, 300))
        out.append(Sample(name, image_pdf(page.image, tmp / "en.pdf"), png, page.text, model))
    for name, kw in (
        ("rendered French A6", {}),
        ("rendered French A6 degraded", {"degrade": True, "skew_deg": 0.8, "seed": 3}),
    ):
        page = render(FRENCH, **kw)
        png = tmp / f"{name.replace(' ', '_')}.png"
        page.image.save(png, dpi=(300, 300))
        pdf = image_pdf(page.image, tmp / f"{name.replace(' ', '_')}.pdf")
        out.append(Sample(name, pdf, png, page.text, "fra"))
    if ADMIN_JPG.exists():
        gt = ADMIN_JPG.with_suffix(".gt.txt").read_text(encoding="utf-8")
        out.append(
            Sample(
                "admin.jpg as scanned (72 dpi)",
                image_pdf(ADMIN_JPG, tmp / "admin.pdf"),
                ADMIN_JPG,
                gt,
                "vie",
                True,
            )
        )
    viet = CORPUS / "vietnamese/tesseract_test/viet.tif"
    if viet.exists():
        gt = viet.with_name("viet.gt.txt").read_text(encoding="utf-8")
        out.append(Sample("viet.tif", image_pdf(viet, tmp / "viet.pdf"), viet, gt, "vie", True))
    for name, kw in (
        ("rendered Vietnamese A5 serif", {"font_path": SERIF}),
        ("rendered Vietnamese A5 sans", {"font_path": SANS, "seed": 1}),
        (
            "rendered Vietnamese A5 harsh",
            {"font_path": SERIF, "degrade": True, "harshness": 1.5, "font_pt": 9, "seed": 3},
        ),
    ):
        page = render_page(PARAGRAPHS[6:] + PARAGRAPHS[:6], size_in=A5, **kw)  # type: ignore[arg-type]
        png = tmp / f"{name.replace(' ', '_')}.png"
        page.image.save(png, dpi=(300, 300))
        pdf = image_pdf(page.image, tmp / f"{name.replace(' ', '_')}.pdf")
        out.append(Sample(name, pdf, png, page.text, "vie", True))
    page = render(PARAGRAPHS[6:], font_pt=11)
    small = downsample(page, 100)
    png = tmp / "vi100.png"
    small.save(png, dpi=(100, 100))
    out.append(
        Sample("rendered Vietnamese A6 at 100 dpi", image_pdf(small, tmp / "vi100.pdf"), png,
               page.text, "vie", True)
    )  # fmt: skip
    return out


def main() -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=1, help="rounds (timings: median)")
    p.add_argument(
        "--no-geometry",
        action="store_true",
        help="also 'after' with rotate_pages/deskew off, to separate their effect on WER",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-bench-lang-"))
    pages = samples(tmp)
    engine = OcrEngine(OcrSettings(jobs=1))
    flat = OcrEngine(OcrSettings(jobs=1, rotate_pages=False, deskew=False))
    variants = ("before", "after", "flat") if args.no_geometry else ("before", "after")
    engine.run(pages[0].pdf, tmp / "warm.pdf", work_dir=tmp / "warm")  # imports, plugin install

    times: dict[tuple[str, str], list[float]] = {}
    texts: dict[tuple[str, str], str] = {}
    langs: dict[str, str] = {}
    for rnd in range(args.repeat):
        order = variants if rnd % 2 == 0 else variants[::-1]
        for s in pages:
            text, dt = raw_tesseract(s.image, s.model)
            texts[s.name, "raw"] = text
            times.setdefault((s.name, "raw"), []).append(dt)
            for variant in order:
                forced = (
                    {"languages": ["vie"], "upsample_below_dpi": 0} if variant == "before" else {}
                )
                with plugin.page_options(**forced):  # type: ignore[arg-type]
                    t = time.perf_counter()
                    eng = flat if variant == "flat" else engine
                    res = eng.run(s.pdf, tmp / "out.pdf", work_dir=tmp / "w")
                    times.setdefault((s.name, variant), []).append(time.perf_counter() - t)
                texts[s.name, variant] = "\n".join(res.page_texts)
                if variant == "after":
                    langs[s.name] = "+".join(res.page_languages)
                    if rnd == 0 and res.warnings:
                        print(f"  {s.name}: {res.warnings}", flush=True)
        print(f"round {rnd + 1} done, load {os.getloadavg()[0]:.2f}", flush=True)

    print()
    cols = ("raw", *variants)
    head = f"{'page':36} {'raw':>4} {'lang':>5} "
    head += " ".join(f"{'WER% ' + c:>11}" for c in cols)
    head += " " + " ".join(f"{'CER% ' + c:>11}" for c in cols)
    print(head)
    for s in pages:
        w = [100 * wer(s.truth, texts[s.name, v]) for v in cols]
        c = [100 * cer(dehyphenate(s.truth), dehyphenate(texts[s.name, v])) for v in cols]
        print(
            f"{s.name:36} {s.model:>4} {langs[s.name]:>5} "
            + " ".join(f"{x:11.1f}" for x in w)
            + " "
            + " ".join(f"{x:11.2f}" for x in c)
        )
    print()
    vi = [s for s in pages if s.vietnamese]
    med = {
        v: sum(statistics.median(times[s.name, v]) for s in vi) for v in ("raw", "before", "after")
    }
    print(f"Vietnamese pages ({len(vi)}), seconds per round (sum of per-page medians):")
    for s in vi:
        b, a = statistics.median(times[s.name, "before"]), statistics.median(times[s.name, "after"])
        print(f"  {s.name:36} before {b:5.2f}  after {a:5.2f}  ratio {a / b:4.2f}")
    print(
        f"  {'total':36} before {med['before']:5.2f}  after {med['after']:5.2f}  "
        f"ratio {med['after'] / med['before']:4.2f}  (raw tesseract {med['raw']:.2f})"
    )
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
