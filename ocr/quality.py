"""OCR quality measures, used to choose the language setting and as test bounds.

CER is order-sensitive and punishes a two-column header read in the "wrong" order as heavily
as misread letters, so there is an order-insensitive bag-of-words F1 as well (the corpus
README asks for both).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    """NFC, whitespace collapsed to single spaces, trimmed: the form every measure compares."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs; two rows, O(len(a)·len(b)) time, O(len(b)) space."""
    # Good OCR shares long runs with its reference; trimming them first is exact and cheap.
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    a, b = a[start:], b[start:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edits / reference length, after :func:`normalize`.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise, so the value stays
    usable as a bound instead of dividing by zero.
    """
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)


def words(text: str) -> list[str]:
    """Lower-cased NFC word tokens (letters and digits, Vietnamese diacritics kept)."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def bag_of_words_f1(reference: str, hypothesis: str) -> float:
    """F1 of the word multisets: reading order does not matter, misspelt words do."""
    ref, hyp = Counter(words(reference)), Counter(words(hypothesis))
    if not ref and not hyp:
        return 1.0
    overlap = sum((ref & hyp).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(hyp.values())
    recall = overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)
