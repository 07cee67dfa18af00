"""A QR code drawn onto page 1 of an existing PDF, before it is signed.

Results carry the QR of TT 01/2023 (dossier, procedure, validity and scope). It is drawn as
vector rectangles in DeviceGray on a white quiet zone, which PDF/A-2b accepts, and the page's
own content is wrapped in q/Q so its graphics state cannot move the code.
"""

from __future__ import annotations

from pathlib import Path

import pikepdf

from paper.qr import qr_runs
from signing.errors import SigningError

MM = 72 / 25.4


def overlay_qr(
    src: Path, dst: Path, payload: str, *, size_mm: float = 24.0, margin_mm: float = 5.0
) -> None:
    """Write ``src`` to ``dst`` with ``payload`` as a QR in page 1's top-left corner."""
    width, runs = qr_runs(payload)
    size = size_mm * MM
    module = size / width
    quiet = 2 * module
    try:
        with pikepdf.open(src) as pdf:
            page = pikepdf.Page(pdf.pages[0])
            box = [float(v) for v in page.mediabox]
            x0 = box[0] + margin_mm * MM
            top = box[3] - margin_mm * MM
            white = _rect(x0 - quiet, top - size - quiet, size + 2 * quiet, size + 2 * quiet)
            ops = [b"q", b"1 g", white, b"f", b"0 g"]
            for r, start, length in runs:
                y = top - (r + 1) * module
                ops += [_rect(x0 + start * module, y, length * module, module), b"f"]
            ops.append(b"Q")
            page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
            page.contents_add(pikepdf.Stream(pdf, b"Q\n" + b"\n".join(ops) + b"\n"))
            pdf.save(dst)
    except (pikepdf.PdfError, OSError) as exc:
        raise SigningError(f"cannot draw the QR code on {src.name}: {exc}") from exc


def _rect(x: float, y: float, w: float, h: float) -> bytes:
    return f"{x:.3f} {y:.3f} {w:.3f} {h:.3f} re".encode()
