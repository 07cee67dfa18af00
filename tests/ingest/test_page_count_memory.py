"""What the OCR step keeps per page is bounded: nothing reads a whole dossier in one go.

Issue 16 ("memory flat in the page count"): PDFium keeps every page it has loaded until its
document is closed, so the page texts are read a bounded number of pages per opening; the
language guess counts words without listing them all. The peak itself is measured by
``bench/memory.py``; these tests pin the mechanisms, which a memory figure cannot do reliably.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pypdfium2
import pytest

from ocr import extract
from ocr.extract import detect_language, extract_fields, page_texts
from tests.fixtures.pki import born_digital_pdf

PAGES = [f"Trang {n}: Giấy xác nhận số {n:03d}/GXN-UBND của Ủy ban nhân dân" for n in range(1, 8)]


class _CountingDocument(pypdfium2.PdfDocument):  # type: ignore[misc]
    """Records how many pages each opened document was asked for."""

    opened: ClassVar[list[_CountingDocument]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded = 0
        _CountingDocument.opened.append(self)

    def get_page(self, index: int) -> Any:
        self.loaded += 1
        return super().get_page(index)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_CountingDocument]:
    _CountingDocument.opened = []
    monkeypatch.setattr(pypdfium2, "PdfDocument", _CountingDocument)
    return _CountingDocument


@pytest.fixture(scope="module")
def seven_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return born_digital_pdf(tmp_path_factory.mktemp("pages") / "seven.pdf", PAGES)


@pytest.mark.parametrize("per_open", [1, 3, 7, 16])
def test_page_texts_reads_a_bounded_number_of_pages_per_opening(
    seven_pages: Path,
    counting: type[_CountingDocument],
    monkeypatch: pytest.MonkeyPatch,
    per_open: int,
) -> None:
    monkeypatch.setattr(extract, "TEXT_PAGES_PER_OPEN", per_open)
    texts = page_texts(seven_pages)
    assert len(texts) == len(PAGES)
    for text, expected in zip(texts, PAGES, strict=True):
        assert " ".join(text.split()) == expected  # every page once, in order
    assert max(doc.loaded for doc in counting.opened) <= per_open
    assert sum(doc.loaded for doc in counting.opened) == len(PAGES)  # no page read twice


def test_page_texts_default_bound_holds_for_a_long_document(
    tmp_path: Path, counting: type[_CountingDocument]
) -> None:
    """40 pages, the default bound: more than one opening, none holding every page."""
    pages = [f"Trang {n} của hồ sơ" for n in range(1, 41)]
    texts = page_texts(born_digital_pdf(tmp_path / "forty.pdf", pages))
    assert [" ".join(t.split()) for t in texts] == pages
    assert len(counting.opened) > 1
    assert max(doc.loaded for doc in counting.opened) <= extract.TEXT_PAGES_PER_OPEN < 40


def test_detect_language_counts_words_as_before() -> None:
    vietnamese = (
        "Ủy ban nhân dân của phường đã cấp giấy này cho người dân ngày 12 tháng 3 năm 2024."
    )
    english = "The certificate is issued by the office for the applicant and is valid from today."
    assert detect_language(vietnamese * 2000) == "vi"
    assert detect_language(english * 2000) == "en"
    assert detect_language("Số: 12/QĐ-UBND") == "und"
    # Case does not matter, as when the whole text was lowered first.
    assert detect_language("CỦA VÀ CÁC LÀ ĐƯỢC") == "vi"
    assert detect_language("THE AND OF TO IN") == "en"


def test_extract_fields_of_many_pages_sees_every_page() -> None:
    pages = ["Ủy ban nhân dân của phường và các hộ"] * 999 + ["CCCD 001203004567 ngày 12/03/2024"]
    fields = extract_fields(pages)
    assert fields.id_numbers == ("001203004567",)
    assert fields.dates == ("2024-03-12",)
    assert fields.language == "vi"
