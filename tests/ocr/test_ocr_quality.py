from __future__ import annotations

import unicodedata

import pytest

from ocr.quality import bag_of_words_f1, cer, levenshtein, normalize


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("tiếng", "tiêng", 1),  # a lost tone mark is one edit on NFC text
        ("Quyết định", "Quyết định", 0),
        ("flaw", "lawn", 2),
        ("abcdef", "azced", 3),
    ],
)
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_cer_counts_edits_over_reference_length() -> None:
    assert cer("tiếng Việt", "tiếng Việt") == 0.0
    assert cer("tiếng Việt", "tieng Viet") == pytest.approx(2 / 10)
    assert cer("abcd", "abxd") == pytest.approx(0.25)
    assert cer("abcd", "abcdefgh") == pytest.approx(1.0)  # insertions count too


def test_cer_normalizes_unicode_and_whitespace() -> None:
    nfd = unicodedata.normalize("NFD", "Hạnh  phúc\n\tĐộc lập ")
    assert cer("Hạnh phúc Độc lập", nfd) == 0.0
    assert normalize(" a \r\n b ") == "a b"


def test_cer_empty_reference() -> None:
    assert cer("", "") == 0.0
    assert cer("  ", "x") == 1.0


def test_bag_of_words_ignores_order_but_not_spelling() -> None:
    ref = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập Tự do Hạnh phúc"
    swapped = "Độc lập Tự do Hạnh phúc CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert bag_of_words_f1(ref, swapped) == 1.0
    assert cer(ref, swapped) > 0.5
    assert bag_of_words_f1(ref, ref.replace("Hạnh", "Hanh")) == pytest.approx(1 - 1 / 14)
    assert bag_of_words_f1("a b", "") == 0.0
    assert bag_of_words_f1("", "") == 1.0


def test_levenshtein_handles_page_sized_text_quickly() -> None:
    ref = "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015. " * 25
    hyp = ref.replace("Luật", "Luat").replace("2015", "2O15")
    assert levenshtein(ref, hyp) == 25 * 2  # ậ->a and 0->O, one edit each
