"""VND amounts in words and figures, against the readings e-receipts print."""

from __future__ import annotations

import pytest

from dossiers.fees.amounts import MAX_AMOUNT, amount_in_words, format_amount

WORDS = [
    (0, "Không đồng"),
    (1, "Một đồng"),
    (4, "Bốn đồng"),
    (5, "Năm đồng"),
    (10, "Mười đồng"),
    (11, "Mười một đồng"),
    (14, "Mười bốn đồng"),
    (15, "Mười lăm đồng"),
    (20, "Hai mươi đồng"),
    (21, "Hai mươi mốt đồng"),
    (24, "Hai mươi tư đồng"),
    (25, "Hai mươi lăm đồng"),
    (41, "Bốn mươi mốt đồng"),
    (99, "Chín mươi chín đồng"),
    (100, "Một trăm đồng"),
    (101, "Một trăm linh một đồng"),
    (104, "Một trăm linh bốn đồng"),
    (105, "Một trăm linh năm đồng"),
    (110, "Một trăm mười đồng"),
    (111, "Một trăm mười một đồng"),
    (115, "Một trăm mười lăm đồng"),
    (121, "Một trăm hai mươi mốt đồng"),
    (1_000, "Một nghìn đồng"),
    (1_005, "Một nghìn không trăm linh năm đồng"),
    (1_010, "Một nghìn không trăm mười đồng"),
    (1_100, "Một nghìn một trăm đồng"),
    (10_000, "Mười nghìn đồng"),
    (15_000, "Mười lăm nghìn đồng"),
    (21_000, "Hai mươi mốt nghìn đồng"),
    (100_000, "Một trăm nghìn đồng"),
    (105_000, "Một trăm linh năm nghìn đồng"),
    (1_000_000, "Một triệu đồng"),
    (1_000_005, "Một triệu không trăm linh năm đồng"),
    (1_250_000, "Một triệu hai trăm năm mươi nghìn đồng"),
    (2_001_000, "Hai triệu không trăm linh một nghìn đồng"),
    (30_050_000, "Ba mươi triệu không trăm năm mươi nghìn đồng"),
    (1_000_000_000, "Một tỷ đồng"),
    (
        1_234_567_891,
        "Một tỷ hai trăm ba mươi tư triệu năm trăm sáu mươi bảy nghìn tám trăm chín mươi mốt đồng",
    ),
    (5_000_000_000_000, "Năm nghìn tỷ đồng"),
    (1_001_000_000_000, "Một nghìn không trăm linh một tỷ đồng"),
    (1_000_000_500_000, "Một nghìn tỷ năm trăm nghìn đồng"),
    (1_000_000_005_000, "Một nghìn tỷ không trăm linh năm nghìn đồng"),
    (
        MAX_AMOUNT,
        "Chín trăm chín mươi chín nghìn chín trăm chín mươi chín tỷ chín trăm chín mươi chín "
        "triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng",
    ),
]


@pytest.mark.parametrize(("amount", "words"), WORDS, ids=[str(a) for a, _ in WORDS])
def test_amount_in_words(amount: int, words: str) -> None:
    assert amount_in_words(amount) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (105, "Một trăm lẻ năm đồng"),
        (1_005, "Một nghìn không trăm lẻ năm đồng"),
        (2_001_000, "Hai triệu không trăm lẻ một nghìn đồng"),
        (15, "Mười lăm đồng"),  # no zero tens digit: nothing to say
    ],
)
def test_le_variant(amount: int, words: str) -> None:
    assert amount_in_words(amount, zero_tens="lẻ") == words


@pytest.mark.parametrize(
    ("amount", "figures"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1.000"),
        (1_250_000, "1.250.000"),
        (MAX_AMOUNT, "999." * 4 + "999"),
    ],
)
def test_format_amount(amount: int, figures: str) -> None:
    assert format_amount(amount) == figures


def test_bad_amounts_are_refused() -> None:
    for call in (amount_in_words, format_amount):
        with pytest.raises(ValueError, match="negative"):
            call(-1)
        with pytest.raises(ValueError, match="exceeds"):
            call(MAX_AMOUNT + 1)
        with pytest.raises(TypeError):
            call(True)
        with pytest.raises(TypeError):
            call(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zero_tens"):
        amount_in_words(105, zero_tens="le")  # type: ignore[arg-type]
