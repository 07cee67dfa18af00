"""QR codes as runs of dark modules, ready to draw as vector rectangles on any PDF.

Error level M exactly (no boosting), so the symbol depends only on the payload; byte mode in
UTF-8 without an ECI header, which is what phone readers expect in practice.
"""

from __future__ import annotations

import segno

__all__ = ["qr_runs"]


def qr_runs(payload: str) -> tuple[int, list[tuple[int, int, int]]]:
    """The QR of ``payload`` (level M, no quiet zone) as its width in modules and the
    horizontal runs of dark modules, ``(row, first column, length)``: one rectangle each."""
    qr = segno.make(payload, error="m", micro=False, boost_error=False)
    size, _ = qr.symbol_size(scale=1, border=0)
    width = int(size)  # a whole number of modules at scale 1
    runs: list[tuple[int, int, int]] = []
    for r, row in enumerate(qr.matrix_iter(scale=1, border=0)):
        cells = list(row)
        c = 0
        while c < width:
            if not cells[c]:
                c += 1
                continue
            start = c
            while c < width and cells[c]:
                c += 1
            runs.append((r, start, c - start))
    return width, runs
