"""Which Tesseract model fits a page, judged from the text the Vietnamese model read.

Every page is read with ``vie`` first (the counter's documents are Vietnamese, and ``vie`` reads
the English lines on them well: notes/ocr.md §8). Only when that text plainly is not Vietnamese
is the page read again with ``eng`` or ``fra``: the Vietnamese model on an English page loses
5-50 points of word accuracy (bench/languages.py), while re-reading a Vietnamese page with
``eng`` costs every diacritic. So the rules are lopsided: Vietnamese unless the evidence
against it is strong.

Evidence, per word token of the ``vie`` reading:

- letters only Vietnamese writes (ă đ ơ ư, dot below, hook above, two marks on one vowel) and
  Vietnamese function words (và, của, là ...): Vietnamese text has them on 30-60 % of its
  syllables; ``vie`` reading English or French invents a few (1-5 %);
- English and French function words, which make up 30-50 % of running prose in those languages
  and which ``vie`` reads back unchanged; French also by ç, œ and elided l' d' qu'.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from ocr.errors import OcrInputError

VIE, ENG, FRA = "vie", "eng", "fra"
#: Tesseract models a caller may ask for (installed by scripts/apt-packages.txt).
SUPPORTED = frozenset({VIE, ENG, FRA, "Vietnamese"})
_ALIASES = {"vi": VIE, "en": ENG, "fr": FRA, "vn": VIE}

#: Below this many word tokens a page says too little to overrule the default.
MIN_WORDS = 8
#: A non-Vietnamese reading needs this share of function words (English prose: 0.35-0.5) ...
MIN_FOREIGN_SHARE = 0.15
#: ... and must beat the Vietnamese evidence by this factor.
MARGIN = 2.0
#: Vietnamese evidence below this share counts as none (``vie`` invents a mark now and then).
NO_VIETNAMESE = 0.03


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_VI_WORDS = _words(
    "và của là các được trong có không những cho với theo này người một đã về tại từ ngày "
    "tháng năm đến để khi thì như cũng phải nhà nước việc số điều quyết định"
)
_EN_WORDS = _words(
    "the of and to in is that for it with as was on be by this are from at or an have not "
    "which you he she his her they we will has were been their but all would there can our "
    "your if shall any such said may should these those than other into upon who what when "
    "where does did had its also only"
)
_FR_WORDS = _words(
    "le la les de des du et est un une que qui dans pour par sur pas au aux avec ce cette "
    "il elle ne se sont ont nous vous leur leurs son sa ses été être plus mais ou où comme "
    "tout tous très sans chez dont entre aussi même lui fait peut"
)
_FR_ELISIONS = _words("l d qu n s j c")  # l'État, d'un, qu'il, n'est ...
# Vietnamese-only marks after NFD: breve (ă), horn (ơ ư), dot below, hook above.
_VI_MARKS = frozenset("\u0306\u031b\u0323\u0309")
_FR_LETTERS = frozenset("çœæîïëûÿ")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class LanguageGuess:
    """The model to use for a page and how sure the guess is (0-1)."""

    language: str
    confidence: float
    words: int
    scores: dict[str, float] = field(default_factory=dict)


def _vietnamese_letters(token: str) -> bool:
    if "đ" in token:
        return True
    marks = 0
    for ch in unicodedata.normalize("NFD", token):
        if ch in _VI_MARKS:
            return True
        if unicodedata.combining(ch):
            marks += 1
            if marks >= 2:  # ấ ề ổ ...: circumflex plus a tone mark
                return True
        else:
            marks = 0
    return False


def scores(text: str) -> tuple[int, dict[str, float]]:
    """Word count and per-language evidence, each a share of the word tokens (0-1)."""
    tokens = _TOKEN.findall(unicodedata.normalize("NFC", text).lower())
    n = len(tokens)
    if not n:
        return 0, {VIE: 0.0, ENG: 0.0, FRA: 0.0}
    vi = en = fr = 0.0
    for token in tokens:
        head, sep, tail = token.replace("’", "'").partition("'")
        if sep and head in _FR_ELISIONS:
            fr += 1
            token = tail
        if token in _VI_WORDS or _vietnamese_letters(token):
            vi += 1
        if token in _EN_WORDS:
            en += 1
        if token in _FR_WORDS:
            fr += 1
        if any(ch in _FR_LETTERS for ch in token):
            fr += 0.5
    return n, {VIE: vi / n, ENG: en / n, FRA: fr / n}


def guess(text: str, default: str = VIE) -> LanguageGuess:
    """The model for a page whose ``vie`` reading is ``text``; ``default`` when unsure."""
    n, s = scores(text)
    if n < MIN_WORDS:
        return LanguageGuess(default, 0.0, n, s)
    foreign = ENG if s[ENG] >= s[FRA] else FRA
    plainly = s[foreign] >= MIN_FOREIGN_SHARE and s[foreign] >= MARGIN * s[VIE]
    # A page in several European languages (eurotext): no Vietnamese letter at all, and
    # function words of ours; ``eng`` reads Latin text better than ``vie`` does.
    mixed = s[VIE] < NO_VIETNAMESE and s[ENG] + s[FRA] >= MIN_FOREIGN_SHARE * 2 / 3
    if plainly or mixed:
        # English and French share few function words; a tie goes to the stronger one.
        total = s[foreign] + s[VIE] + min(s[ENG], s[FRA])
        return LanguageGuess(foreign, round(s[foreign] / total, 3), n, s)
    total = s[VIE] + max(s[ENG], s[FRA])
    confidence = s[VIE] / total if total else 0.0
    return LanguageGuess(default, round(confidence, 3), n, s)


def normalize_languages(languages: Iterable[str]) -> list[str]:
    """Tesseract model names for an upload's ``languages`` field (``vi``/``vie`` both work).

    Raises :class:`OcrInputError` for anything not installed here, before OCR starts.
    """
    out: list[str] = []
    for raw in languages:
        for part in str(raw).replace(",", "+").split("+"):
            code = part.strip()
            code = _ALIASES.get(code.lower(), code if code == "Vietnamese" else code.lower())
            if not code:
                continue
            if code not in SUPPORTED:
                raise OcrInputError(
                    f"unsupported OCR language {part.strip()!r}; use {', '.join(sorted(SUPPORTED))}"
                )
            if code not in out:
                out.append(code)
    if not out:
        raise OcrInputError("empty OCR language list")
    return out
