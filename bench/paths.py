"""Benchmark: seconds per page on each path a page can take, against plain OCRmyPDF.

The same Vietnamese A4 text is produced three ways, four pages each:

  text        born-digital (fpdf2, embedded Noto Sans): kept as it is, no OCR;
  scan        the same pages rendered at 300 dpi into a JPEG scan PDF: OCRed;
  rasterized  born-digital pages behind a shading PDF/A cannot hold: drawn at 300 dpi, OCRed.

Each file goes through OcrEngine (in-process, warmed up) and through the stock
``ocrmypdf --pdfa-backend internal --output-type pdfa-2 --mode skip`` CLI, measured in the same
run so the ratios hold on a busy machine. Plain OCRmyPDF refuses the shaded file (its PDF/A
validator cannot approve shadings), which the table says.

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/paths.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pikepdf  # noqa: E402
from fpdf import FPDF  # noqa: E402

from ocr.engine import OcrEngine  # noqa: E402
from tests.ocr.pagegen import A4, PARAGRAPHS, SANS, render_page, save_pdf  # noqa: E402

OCRMYPDF = ROOT / ".venv" / "bin" / "ocrmypdf"
PAGES = 4


def born_digital(path: Path) -> Path:
    pdf = FPDF(format="A4")
    pdf.add_font("noto", fname=str(SANS))
    pdf.set_font("noto", size=11)
    for i in range(PAGES):
        pdf.add_page()
        k = (i * 3) % len(PARAGRAPHS)
        for paragraph in PARAGRAPHS[k:] + PARAGRAPHS[:k]:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def scanned(path: Path) -> Path:
    pages = []
    for i in range(PAGES):
        k = (i * 3) % len(PARAGRAPHS)
        pages.append(render_page(PARAGRAPHS[k:] + PARAGRAPHS[:k], size_in=A4).image)
    return save_pdf(pages, path)


def shaded(src: Path, path: Path) -> Path:
    """The born-digital pages with an axial shading under the text (PDF/A-legal, but beyond
    what pikepdf's validator checks, so only a picture of the page passes)."""
    with pikepdf.open(src) as pdf:
        shading = pikepdf.Dictionary(
            ShadingType=2,
            ColorSpace=pikepdf.Name.DeviceGray,
            Coords=[0, 0, 595, 0],
            Function=pikepdf.Dictionary(FunctionType=2, Domain=[0, 1], C0=[0.9], C1=[1.0], N=1),
        )
        for page in pdf.pages:
            resources = page.obj.Resources
            resources.Shading = pikepdf.Dictionary(Sh0=shading)
            page.contents_add(b"q /Sh0 sh Q", prepend=True)
        pdf.save(path)
    return path


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # a refusal is a result too
        result = exc
    return time.perf_counter() - start, result


def main() -> None:
    engine = OcrEngine()
    with tempfile.TemporaryDirectory(prefix="sohoa-paths-") as tmp:
        work = Path(tmp)
        text = born_digital(work / "text.pdf")
        files = {"text": text, "scan": scanned(work / "scan.pdf")}
        files["rasterized"] = shaded(text, work / "shaded.pdf")
        engine.run(files["text"], work / "warm.pdf", work_dir=work / "warm")
        print(
            f"{'path':<11} {'pages':>5} {'sohoa s/page':>13} {'ocrmypdf s/page':>16} {'ratio':>6}"
        )
        for name, src in files.items():
            ours, result = timed(
                lambda src=src, name=name: engine.run(
                    src, work / f"{name}.out.pdf", work_dir=work / f"{name}.w"
                )
            )
            paths = getattr(result, "page_paths", None) or [type(result).__name__]
            plain, proc = timed(
                lambda src=src, name=name: subprocess.run(
                    [
                        str(OCRMYPDF),
                        "-q",
                        "-l",
                        "vie",
                        "--output-type",
                        "pdfa-2",
                        "--pdfa-backend",
                        "internal",
                        "--mode",
                        "skip",
                        "--jobs",
                        "2",
                        str(src),
                        str(work / f"{name}.plain.pdf"),
                    ],
                    capture_output=True,
                    check=False,
                )
            )
            ok = isinstance(proc, subprocess.CompletedProcess) and proc.returncode == 0
            plain_cell = f"{plain / PAGES:16.2f}" if ok else f"{'refused':>16}"
            ratio = f"{ours / plain:6.2f}" if ok else f"{'-':>6}"
            print(f"{name:<11} {PAGES:>5} {ours / PAGES:13.2f} {plain_cell} {ratio}  {set(paths)}")


if __name__ == "__main__":
    main()
