"""OCRmyPDF's own test PDFs, the ordinary files a counter meets, through a real worker.

Every one of the 32 non-hostile files is digitized (PDF/A-2b by our check, signed, searchable
where it has words) except two refused at upload with what to do: the dynamic XFA form, and
the poster whose single page is 250 × 500 inches (over the page-area budget: at 300 dpi it
would be 11 billion pixels).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ocr.pdfa import check_pdfa

pytestmark = pytest.mark.slow

DIGITIZED = [
    "acroform",
    "aspect",
    "blank",
    "cardinal",
    "ccitt",
    "cmyk",
    "docinfo_latin1_key",
    "epson",
    "formxobject",
    "francais",
    "graph",
    "graph_ocred",
    "jbig2",
    "lichtenstein",
    "link",
    "linn",
    "masks",
    "meta",
    "missing_docinfo",
    "multipage",
    "negzero",
    "overlay",
    "palette",
    "tagged",
    "toc",
    "trivial",
    "truetype_font_nomapping",
    "type3_font_nomapping",
    "vector",
    "3small",
]
#: Files with no words on them (a blank page, a photograph, a page of graphics).
WORDLESS = {"blank", "trivial", "meta", "docinfo_latin1_key", "lichtenstein"}


def test_ocrmypdf_test_set(make_stack, corpus: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    refused = stack.client.post(
        "/api/v1/scans",
        headers=stack.auth,
        files={"file": ("livecycle.pdf", (corpus / "ocrmypdf/livecycle.pdf").read_bytes())},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "xfa_form"
    poster = stack.client.post(
        "/api/v1/scans",
        headers=stack.auth,
        files={"file": ("poster.pdf", (corpus / "ocrmypdf/poster.pdf").read_bytes())},
    )
    assert poster.status_code == 413, poster.text
    assert poster.json()["code"] == "page_too_large"
    assert "A4" in poster.json()["detail"]  # says what to do

    stack.start_worker()
    ids = {name: stack.upload(corpus / "ocrmypdf" / f"{name}.pdf")["id"] for name in DIGITIZED}
    states = stack.wait(list(ids.values()), timeout=1200)
    failed = {
        n: states[i].get("reason_message")
        for n, i in ids.items()
        if states[i]["status"] != "digitized"
    }
    assert not failed, failed

    paths: Counter[str] = Counter()
    for name, scan_id in ids.items():
        scan = states[scan_id]
        assert "Traceback" not in str(scan) and "object has no attribute" not in str(scan)
        doc = stack.client.get(scan["document_url"], headers=stack.auth).json()
        assert len(doc["page_info"]) == doc["pages"] == scan["pages_total"]
        paths.update(page["path"] for page in doc["page_info"])
        signed = tmp_path / f"{name}.pdf"
        resp = stack.client.get(doc["file_url"], headers=stack.auth)
        assert resp.status_code == 200
        signed.write_bytes(resp.content)
        assert check_pdfa(signed).ok, name
        if name not in WORDLESS:
            assert any(text.strip() for text in doc["page_texts"]), name
    print(f"\npages per path over the OCRmyPDF set: {dict(paths)}")
    assert paths["text"] and paths["scan"] and paths["rasterized"]

    # A born-digital page keeps its producer's text: link.pdf's words are exact, not OCR.
    link = stack.client.get(states[ids["link"]]["document_url"], headers=stack.auth).json()
    assert [p["path"] for p in link["page_info"]] == ["text", "text"]
    assert "Go to page 2" in link["page_texts"][0]
    verification = stack.client.get(link["verification_url"], headers=stack.auth).json()
    assert verification["ok"] is True
