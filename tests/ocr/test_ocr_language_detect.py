"""ocr.language: the page-language decision on short texts, without Tesseract."""

from __future__ import annotations

import pytest

from ocr.errors import OcrInputError
from ocr.language import ENG, FRA, VIE, guess, normalize_languages
from tests.ocr.conftest import SHORT_TEXT
from tests.ocr.langpages import ENGLISH, FRENCH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" ".join(SHORT_TEXT), VIE),
        ("Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015", VIE),
        # Upper case, as on a decision's heading.
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc QUYẾT ĐỊNH", VIE),
        (" ".join(ENGLISH), ENG),
        ("The applicant filed the request for a copy of the record at the counter.", ENG),
        (" ".join(FRENCH), FRA),
        ("Le délai d'instruction est de deux mois à compter de la date du dépôt.", FRA),
        # English as the Vietnamese model reads it: a few invented marks do not make it Vietnamese.
        ("wandered around the house with the look of an injured puppy, liếe and lơve of the", ENG),
    ],
)
def test_language_of_short_texts(text: str, expected: str) -> None:
    assert guess(text).language == expected


def test_vietnamese_page_with_english_lines_stays_vietnamese() -> None:
    text = " ".join(SHORT_TEXT) + " Attached: the certificate of the applicant and a copy."
    assert guess(text).language == VIE


@pytest.mark.parametrize(
    "text",
    ["", "Số: 45", "The end.", "12/03/2019 027316004589", "Cong hoa xa hoi chu nghia Viet Nam"],
)
def test_too_little_evidence_keeps_the_default(text: str) -> None:
    found = guess(text)
    assert found.language == VIE
    assert guess(text, default=ENG).language in {ENG, VIE}


def test_several_european_languages_read_with_english() -> None:
    eurotext_by_vie = (
        "The (quick) [brown] {fox} jumps Over the $43,456.78 <lazy> #90 dog & duck/goose, as "
        "12.5% of E-mail from aspammer@website.com is spam. Der schnelle braune Fuchs springt "
        "über den faulen Hund. Le renard brun rapide saute par-dessus le chien paresseux. La "
        "volpe marrone rapida salta sopra il cane pigro. El zorro marrón rápido salta sobre el "
        "perro perezoso. A raposa marrom rápida salta sobre o cão preguiçoso."
    )
    assert guess(eurotext_by_vie).language == ENG


def test_confidence_is_a_share() -> None:
    for text in (" ".join(SHORT_TEXT), " ".join(ENGLISH), " ".join(FRENCH)):
        assert 0.5 <= guess(text).confidence <= 1.0


def test_normalize_languages() -> None:
    assert normalize_languages(["vi"]) == [VIE]
    assert normalize_languages(["EN", "fr", "eng"]) == [ENG, FRA]
    assert normalize_languages(["vie+eng"]) == [VIE, ENG]
    assert normalize_languages(["Vietnamese"]) == ["Vietnamese"]
    with pytest.raises(OcrInputError, match="deu"):
        normalize_languages(["deu"])
    with pytest.raises(OcrInputError):
        normalize_languages(["osd"])  # Tesseract's internal model, not a language
    with pytest.raises(OcrInputError):
        normalize_languages([])
