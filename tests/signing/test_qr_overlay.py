"""The result QR drawn on an OCR'd PDF/A page: still PDF/A, decodable, signed on top."""

from __future__ import annotations

import json
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
import zxingcpp

from ocr.pdfa import check_pdfa
from signing.errors import SigningError
from signing.qr import overlay_qr

PAYLOAD = json.dumps(
    {
        "ma_ho_so": "000.00.16.H99-261127-0001",
        "hieu_luc_den": "2031-11-27",
        "pham_vi": "Phường Hòa Bình",
    },
    ensure_ascii=False,
)


def test_overlay_keeps_pdfa_and_reads_back(pdfa_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "marked.pdf"
    overlay_qr(pdfa_input, out, PAYLOAD)
    report = check_pdfa(out)
    assert report.ok, report.problems
    page = pypdfium2.PdfDocument(str(out))[0]
    image = page.render(scale=200 / 72).to_pil()
    (code,) = zxingcpp.read_barcodes(image)
    assert json.loads(code.text) == json.loads(PAYLOAD)
    # Top-left corner of the page, and the text layer is untouched.
    x, y = code.position.top_left.x, code.position.top_left.y
    assert x < image.width / 3 and y < image.height / 3
    with pikepdf.open(pdfa_input) as before, pikepdf.open(out) as after:
        assert len(after.pages) == len(before.pages)
    before_text = pypdfium2.PdfDocument(str(pdfa_input))[0].get_textpage().get_text_range()
    assert page.get_textpage().get_text_range() == before_text  # the text layer is untouched


def test_a_broken_pdf_is_a_signing_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\nnot really")
    with pytest.raises(SigningError):
        overlay_qr(bad, tmp_path / "out.pdf", PAYLOAD)
