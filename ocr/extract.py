"""Text per page, and the metadata a one-stop counter needs from it.

The fields come from OCR text, so every pattern expects OCR noise: lost diacritics ("ngay ...
thang ... nam"), look-alike letters in digit positions of a document number, Ð (U+00D0) for Đ.
Each pattern is anchored so that it does not fire inside longer digit runs (phone and account
numbers, dates inside document numbers).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

#: Pages read per opening of the document. PDFium keeps what it parsed of every page loaded
#: (image streams included) until the document is closed, even after the page is: read whole,
#: a 300-page scan at 200 dpi held 160 MB, a 1,000-page one at 100 dpi 200 MB; reopened every
#: 16 pages, 10-15 MB whatever the length, for under 1 s more per 1,000 pages.
TEXT_PAGES_PER_OPEN = 16


def page_texts(pdf: Path) -> list[str]:
    """The text layer of each page, NFC, one line per text line.

    PDFium over pdfminer.six: both keep OCRmyPDF's Vietnamese text intact (identical after NFC
    on our test pages), but PDFium keeps the line breaks that header parsing needs (pdfminer
    merged the header lines into one paragraph) and is C. The document is reopened every
    :data:`TEXT_PAGES_PER_OPEN` pages so that memory does not grow with the page count, and
    the PDFium lock is released in between.
    """
    texts: list[str] = []
    while True:
        chunk, total = _page_texts_from(pdf, len(texts), TEXT_PAGES_PER_OPEN)
        texts.extend(chunk)
        if len(texts) >= total or not chunk:
            return texts


def _page_texts_from(pdf: Path, start: int, count: int) -> tuple[list[str], int]:
    """Texts of pages ``start`` to ``start + count - 1`` (0-based), and the page count."""
    import pypdfium2

    from ocr import pdfium

    texts = []
    with pdfium.lock():
        doc = pypdfium2.PdfDocument(pdf)
        try:
            total = len(doc)
            for index in range(start, min(start + count, total)):
                page = doc[index]
                textpage = page.get_textpage()
                raw = textpage.get_text_bounded()
                textpage.close()
                page.close()
                lines = (line.rstrip() for line in raw.replace("\r\n", "\n").split("\n"))
                texts.append(unicodedata.normalize("NFC", "\n".join(lines).strip("\n")))
        finally:
            doc.close()
    return texts, total


@dataclass(frozen=True)
class ExtractedFields:
    id_numbers: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()  # ISO 8601, first occurrence first
    document_numbers: tuple[str, ...] = ()
    issuing_body: str | None = None
    document_type: str | None = None
    language: str = "und"  # ISO 639-1, "und" when unsure

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def extract_fields(texts: Sequence[str]) -> ExtractedFields:
    """Fields of a scanned Vietnamese administrative document, from its page texts."""
    pages = [_clean(t) for t in texts]
    text = "\n".join(pages)
    return ExtractedFields(
        id_numbers=tuple(_unique(_id_numbers(text))),
        dates=tuple(_unique(_dates(text))),
        document_numbers=tuple(_unique(_document_numbers(text))),
        issuing_body=_issuing_body(pages[0]) if pages else None,
        document_type=_document_type(pages[0], text) if pages else None,
        language=detect_language(text),
    )


#: Eth and African D are what Tesseract most often returns for Đ/đ.
_D_LOOKALIKES = str.maketrans("ÐƉð", "ĐĐđ")


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).translate(_D_LOOKALIKES)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def strip_accents(text: str) -> str:
    """Vietnamese without diacritics, as OCR sometimes returns it: "Quyết định" -> "Quyet dinh"."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# --- personal ID numbers (CCCD / số định danh cá nhân: 12 digits) -----------------------------

#: Province codes that open a CCCD number (Circular 07/2016/TT-BCA, annex).
_PROVINCES = frozenset(
    re.findall(
        r"\d{3}",
        "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
        "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
        "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096 ",
    )
)
_ID_PLAIN = re.compile(r"(?<![\d+.,/-])(\d{12})(?![\d])(?![.,/-]\d)")
# Four groups of three with one separator used throughout, e.g. "001 203 004 567"; no digit or
# separator-digit on either side, so "0222 3821 456 789" or a longer grouping never matches.
_ID_GROUPED = re.compile(
    r"(?<![\d+])(?<![\d][ .])(\d{3})([ .])(\d{3})\2(\d{3})\2(\d{3})(?!\d)(?![ .]\d)"
)
# Matched against the 20 characters before a candidate, accents stripped and lower-cased.
_PHONE_CONTEXT = re.compile(
    r"\b(dien\s*thoai|dt|sdt|tel|fax|hotline|di\s*dong|tai\s*khoan|stk)\W{0,3}$"
)


def _id_numbers(text: str) -> Iterable[str]:
    spans: list[tuple[int, str]] = [(m.start(), m.group(1)) for m in _ID_PLAIN.finditer(text)]
    spans += [(m.start(), "".join(m.group(1, 3, 4, 5))) for m in _ID_GROUPED.finditer(text)]
    for start, number in sorted(spans):
        if number[:3] not in _PROVINCES:
            continue
        if _PHONE_CONTEXT.search(strip_accents(text[max(0, start - 20) : start]).lower()):
            continue
        yield number


# --- dates --------------------------------------------------------------------------------------

_NUMERIC_DATE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\d/])(?![.-]\d)")
# "ngày 12 tháng 3 năm 2019" with OCR's usual damage to the words (accents lost or swapped).
_A = "aàáảãạăắằẳẵặâấầẩẫậ"  # every "a" Tesseract may put in ngày / tháng / năm
_DAY_MONTH = r"([\dIlO]{1,2})"  # I, l and O stand for 1, 1 and 0 often enough
_WORDED_DATE = re.compile(
    rf"ng[{_A}][yv]\W{{0,2}}\s*{_DAY_MONTH}\s*[,.]?\s*"
    rf"th[{_A}]ng\W{{0,2}}\s*{_DAY_MONTH}\s*[,.]?\s*"
    rf"n[{_A}][mn]\W{{0,2}}\s*(\d{{4}})",
    re.I,
)


_DATE_LOOKALIKES = str.maketrans("IlO", "110")


def _iso(day: str, month: str, year: str) -> str | None:
    day, month = day.translate(_DATE_LOOKALIKES), month.translate(_DATE_LOOKALIKES)
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    return date.isoformat() if 1900 <= date.year <= 2100 else None


def _dates(text: str) -> Iterable[str]:
    found = [(m.start(), m.group(1), m.group(3), m.group(4)) for m in _NUMERIC_DATE.finditer(text)]
    found += [(m.start(), m.group(1), m.group(2), m.group(3)) for m in _WORDED_DATE.finditer(text)]
    for _, day, month, year in sorted(found):
        iso = _iso(day, month, year)
        if iso:
            yield iso


# --- document numbers ("Số: 286/QĐ-VKSTC", "12/2020/NĐ-CP") ----------------------------------

_SYMBOL = r"[A-ZĐ][A-Za-zĐđ]*(?:\s?-\s?[A-ZĐ][A-ZĐa-z0-9]*)*"
_DOC_NUMBER = re.compile(
    rf"(?<![\w/.-])(\d{{1,5}})\s?/\s?(?:((?:19|20)\d\d)\s?/\s?)?({_SYMBOL})(?![\w-])"
)
# After "Số" a number may carry look-alike letters (stamped or handwritten digits).
_SO = "[Ss][oóòỏõọôốồổỗộơớờởỡợ0OÓÒỎÕỌÔỐỒỔỖỘƠỚỜỞỠỢ]"  # "Số" as OCR returns it
_SO_NUMBER = re.compile(
    rf"\b{_SO}[:.]?\s*([0-9OoDQIl|!Zz£SsG$bBgq]{{1,6}})\s?/\s?"
    rf"(?:((?:19|20)\d\d)\s?/\s?)?({_SYMBOL})(?![\w-])",
)
_LOOKALIKE_DIGITS = str.maketrans("OoDQIl|!Zz£Ss$GbBgq", "0000111122255566899")


def _symbol(raw: str) -> str | None:
    symbol = re.sub(r"\s", "", raw)
    parts = symbol.split("-")
    if not any(sum(c.isupper() for c in p) >= 2 for p in parts):
        return None  # "V/v" and the like
    if parts[0] == "QD":
        parts[0] = "QĐ"  # "QD" is not a symbol in use; Tesseract dropped the stroke
    return "-".join(parts)


def _document_numbers(text: str) -> Iterable[str]:
    found: list[tuple[int, str]] = []
    for m in _SO_NUMBER.finditer(text):
        raw = m.group(1)
        number = raw.translate(_LOOKALIKE_DIGITS)
        symbol = _symbol(m.group(3))
        if symbol and number.isdigit() and sum(c.isdigit() for c in raw) * 2 >= len(raw):
            found.append((m.start(1), "/".join(filter(None, (number, m.group(2), symbol)))))
    taken = {pos for pos, _ in found}
    for m in _DOC_NUMBER.finditer(text):
        symbol = _symbol(m.group(3))
        if symbol and not any(abs(m.start() - pos) <= 6 for pos in taken):
            found.append((m.start(), "/".join(filter(None, (m.group(1), m.group(2), symbol)))))
    return (number for _, number in sorted(found))


# --- header: issuing body and document type -----------------------------------------------------

_NATIONAL_MOTTO = ("CONG HOA XA HOI", "DOC LAP", "TU DO", "HANH PHUC")
_NUMBER_LINE = re.compile(rf"^\W*{_SO}\b\s*[:.]?\s*\S*\d")  # "Số: 12/..." but not "SỞ TƯ PHÁP"


def _uppercase_share(line: str) -> float:
    letters = [c for c in line if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def _issuing_body(page: str) -> str | None:
    """The upper-case lines at the top left, before the number line; the national motto that
    sits at the top right is cut off where OCR put it on the same line."""
    picked: list[str] = []
    for raw in page.splitlines()[:12]:
        plain = strip_accents(raw).upper()
        cut = min((plain.find(m) for m in _NATIONAL_MOTTO if m in plain), default=-1)
        line = raw[:cut] if cut >= 0 else raw
        line = re.sub(r"[^\w\s.,&()-]", " ", line)
        line = re.sub(r"\s+", " ", line).strip(" _-.,")
        if cut == 0 or _NUMBER_LINE.match(line):  # the motto or the number ends the block
            break
        words = [w for w in line.split() if len(w) > 1 or w.isalpha()]
        if len(line) >= 3 and _uppercase_share(line) >= 0.8 and words:
            picked.append(" ".join(words))
            if len(picked) == 2:
                break
        elif picked:
            break
    return " ".join(picked) or None


#: Title words of administrative documents; the longest matching title wins.
DOCUMENT_TYPES = (
    "QUYẾT ĐỊNH",
    "NGHỊ ĐỊNH",
    "NGHỊ QUYẾT",
    "THÔNG TƯ",
    "THÔNG TƯ LIÊN TỊCH",
    "CHỈ THỊ",
    "CÔNG VĂN",
    "THÔNG BÁO",
    "TỜ TRÌNH",
    "BÁO CÁO",
    "KẾ HOẠCH",
    "BIÊN BẢN",
    "HỢP ĐỒNG",
    "GIẤY MỜI",
    "GIẤY KHAI SINH",
    "GIẤY CHỨNG SINH",
    "GIẤY CHỨNG TỬ",
    "GIẤY CHỨNG NHẬN",
    "GIẤY CHỨNG NHẬN KẾT HÔN",
    "GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT",
    "GIẤY XÁC NHẬN",
    "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
    "GIẤY ỦY QUYỀN",
    "GIẤY PHÉP",
    "TRÍCH LỤC",
    "ĐƠN ĐỀ NGHỊ",
    "ĐƠN XIN",
    "ĐƠN ĐĂNG KÝ",
    "TỜ KHAI",
    "CĂN CƯỚC CÔNG DÂN",
    "CHỨNG MINH NHÂN DÂN",
    "SỔ HỘ KHẨU",
    "BẰNG TỐT NGHIỆP",
)
_TYPE_BY_SYMBOL = {
    "QĐ": "QUYẾT ĐỊNH",
    "NĐ": "NGHỊ ĐỊNH",
    "NQ": "NGHỊ QUYẾT",
    "TT": "THÔNG TƯ",
    "CT": "CHỈ THỊ",
    "TB": "THÔNG BÁO",
    "TTr": "TỜ TRÌNH",
    "BC": "BÁO CÁO",
    "KH": "KẾ HOẠCH",
    "BB": "BIÊN BẢN",
    "HĐ": "HỢP ĐỒNG",
    "GM": "GIẤY MỜI",
}
_PLAIN_TYPES = sorted(((strip_accents(t), t) for t in DOCUMENT_TYPES), key=lambda p: -len(p[0]))


def _document_type(page: str, text: str) -> str | None:
    """A title line (mostly upper case, starting with a known title), else the number's symbol."""
    for raw in page.splitlines()[:40]:
        line = raw.strip(" _-.:;\"'“”")
        if _uppercase_share(line) < 0.8:
            continue
        plain = strip_accents(line).upper()
        for key, title in _PLAIN_TYPES:
            if plain == key or (plain.startswith(key + " ") and len(plain) <= len(key) + 40):
                return title
    for number in _document_numbers(text):
        parts = number.split("/")[-1].split("-")
        if parts[0] in _TYPE_BY_SYMBOL:
            return _TYPE_BY_SYMBOL[parts[0]]
        if re.search(r"\bV/v\b", text):
            return "CÔNG VĂN"  # a numbered letter whose symbol names only the issuer
    return None


# --- language -----------------------------------------------------------------------------------

_VI_WORDS = frozenset(
    [
        "của",
        "và",
        "các",
        "là",
        "được",
        "trong",
        "có",
        "không",
        "những",
        "cho",
        "với",
        "theo",
        "này",
        "người",
        "một",
        "đã",
        "về",
        "tại",
        "từ",
        "ngày",
        "tháng",
        "năm",
    ]
)
_EN_WORDS = frozenset(
    [
        "the",
        "and",
        "of",
        "to",
        "in",
        "is",
        "for",
        "that",
        "with",
        "on",
        "as",
        "by",
        "this",
        "are",
        "be",
        "from",
    ]
)


_WORD = re.compile(r"\w+")


def detect_language(text: str) -> str:
    """ "vi", "en" or "und", from function words; enough to tag a page, not a general detector."""
    vi = en = 0
    # One word at a time: a list of every word of a 1,000-page dossier took 36 MB.
    for match in _WORD.finditer(text):
        word = match.group().lower()
        vi += word in _VI_WORDS
        en += word in _EN_WORDS
    if max(vi, en) < 3:
        return "und"
    return "vi" if vi >= en else "en"
