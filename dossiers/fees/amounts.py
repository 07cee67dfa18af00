"""VND amounts in figures and in Vietnamese words, as a receipt must show both (NĐ 123/2020).

Reading rules, the ones e-invoice and e-receipt software print:

* "mười" for 10, "mười một" … "mười chín"; "mốt" for a 1 after a tens digit of 2 or more
  (21 "hai mươi mốt"), "tư" for a 4 after a tens digit of 2 or more (24 "hai mươi tư", but
  14 "mười bốn"), "lăm" for a 5 after any tens digit (15 "mười lăm", 25 "hai mươi lăm").
* A zero tens digit before a non-zero unit reads "linh" (or "lẻ", the southern usage) once a
  hundreds digit has been said: 105 "một trăm linh năm".
* Once a higher group has been read, every later non-zero group says its hundreds, even zero:
  1_005 "một nghìn không trăm linh năm". An all-zero group is skipped: 1_000_005 "một triệu
  không trăm linh năm".
* Scales nghìn, triệu, tỷ; above a tỷ the count of tỷ is itself read as a number, so
  1_001_000_000_000 is "một nghìn không trăm linh một tỷ", not "một nghìn tỷ … tỷ".
"""

from __future__ import annotations

from typing import Literal

__all__ = ["MAX_AMOUNT", "amount_in_words", "format_amount"]

MAX_AMOUNT = 999_999_999_999_999  # 999 nghìn tỷ, far above any fee

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_BILLION = 1_000_000_000


def _check(amount: int) -> int:
    # bool is an int subclass; a True amount is a caller bug, not one đồng.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"amount must be an int number of đồng, got {amount!r}")
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount {amount} exceeds {MAX_AMOUNT}")
    return amount


def format_amount(amount: int) -> str:
    """ "1.250.000": Vietnamese groups thousands with dots (no currency, for table cells)."""
    return f"{_check(amount):,}".replace(",", ".")


def _group(value: int, *, full: bool, zero_tens: str) -> list[str]:
    """Words for 1..999; ``full`` when a higher group precedes, so the hundreds are said."""
    hundreds, tens, units = value // 100, value // 10 % 10, value % 10
    words: list[str] = []
    if full or hundreds:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append(zero_tens)
            words.append(_DIGITS[units])
    elif tens == 1:
        words.append("mười")
        if units:
            words.append("lăm" if units == 5 else _DIGITS[units])
    else:
        words += [_DIGITS[tens], "mươi"]
        if units:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(units, _DIGITS[units]))
    return words


def _spell(value: int, *, full: bool, zero_tens: str) -> list[str]:
    """Words for a positive ``value``; the count of tỷ recurses, so the scale list stays short."""
    billions, rest = divmod(value, _BILLION)
    words: list[str] = []
    if billions:
        words += [*_spell(billions, full=full, zero_tens=zero_tens), "tỷ"]
        full = True
    groups = ((rest // 1_000_000, "triệu"), (rest // 1000 % 1000, "nghìn"), (rest % 1000, ""))
    for group, scale in groups:
        if group:
            words += _group(group, full=full, zero_tens=zero_tens)
            if scale:
                words.append(scale)
            full = True
    return words


def amount_in_words(amount: int, *, zero_tens: Literal["linh", "lẻ"] = "linh") -> str:
    """ "Một triệu hai trăm năm mươi nghìn đồng" for 1_250_000; "Không đồng" for 0."""
    _check(amount)
    if zero_tens not in ("linh", "lẻ"):
        raise ValueError(f'zero_tens must be "linh" or "lẻ", got {zero_tens!r}')
    words = _spell(amount, full=False, zero_tens=zero_tens) if amount else ["không"]
    text = " ".join([*words, "đồng"])
    return text[0].upper() + text[1:]
