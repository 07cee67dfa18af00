"""E-receipts for fees and charges (biên lai thu phí, lệ phí) as data, XML and PDF, and the
two papers around them: the result hand-over record and a collector's daily reconciliation.

Choices, and why:

* A receipt is not an invoice: the postal enterprise's own delivery charge needs a VAT invoice
  from the enterprise; this module only covers the state fee, collected for the agency
  (``collector``) and possibly issued by another unit under its mandate (``issuer``, *ủy nhiệm
  lập biên lai*, registered on form 01/ĐKTĐ-CTĐT).
* The XML uses the element names of the GDT e-invoice format where one exists (``TTChung``,
  ``NDHDon/NBan``, ``NMua``, ``DSHHDVu/HHDVu``, ``TToan``, ``TTHDLQuan``). Ours, marked as
  extensions: ``BLDT``/``DLBLai`` (the envelope), ``NUNhiem`` with ``TTUNhiem`` (the issuing
  unit and the text of its mandate) and ``TTKhac/MHSo``, ``TTKhac/MTTHC`` (dossier and
  procedure codes). It is built with ElementTree, so user text is always escaped.
* Parsing refuses any DOCTYPE or entity declaration before building a tree: defusedxml is not
  installed, and a receipt has no business declaring entities (billion laughs, XXE).
* The PDFs reuse :mod:`dossiers.paperwork.forms` (its A4 page and Noto fonts from :mod:`paper`, the
  vector QR top-left, the blank top-right kept for :func:`dossiers.paperwork.forms.sign_form`, tables
  whose heading repeats, atomic save), so a receipt signs and reads back exactly like the
  one-stop forms.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from xml.parsers import expat

from fpdf import FPDF

from dossiers.fees.amounts import MAX_AMOUNT, amount_in_words, format_amount
from dossiers.paperwork import forms
from dossiers.paperwork.forms import (
    _BODY_TOP,
    _FAMILY,
    _MARGIN,
    QR_BOX_MM,
    SIGNATURE_AREA_MM,
    FormContext,
    FormError,
    _local,
    _t,
)
from paper.fonts import DEFAULT_FONTS, Fonts

__all__ = [
    "PAYMENT_METHODS",
    "RECEIPT_STATUSES",
    "RECONCILIATION_TITLE",
    "RETURN_RECORD_TITLE",
    "XML_VERSION",
    "ReceiptDoc",
    "ReceiptError",
    "ReceiptLine",
    "ReceiptParty",
    "RelatedReceipt",
    "parse_receipt_xml",
    "receipt_qr_payload",
    "receipt_xml",
    "render_receipt_pdf",
    "render_reconciliation",
    "render_return_record",
]

XML_VERSION = "2.0.0"
PAYMENT_METHODS: Mapping[str, str] = {
    "TM": "Tiền mặt",
    "CK": "Chuyển khoản",
    "TM/CK": "Tiền mặt/Chuyển khoản",
}
# The cashier's own payment codes, accepted on the reconciliation next to the GDT ones.
_METHOD_ALIASES: Mapping[str, str] = {"cash": "TM", "transfer": "CK"}
RELATION_KINDS: Mapping[int, str] = {1: "thay thế", 2: "điều chỉnh"}
RECEIPT_STATUSES: Mapping[str, str] = {
    "issued": "Đã lập",
    "voided": "Đã hủy",
    "replacement": "Lập thay thế",
}
RETURN_RECORD_TITLE = "BIÊN BẢN GIAO NHẬN KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
RECONCILIATION_TITLE = "BẢNG ĐỐI CHIẾU THU PHÍ, LỆ PHÍ"
MAX_NUMBER = 9_999_999  # số biên lai has seven digits

# Characters XML 1.0 cannot carry at all; refused up front rather than written ill-formed.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_RED = (200, 0, 0)


class ReceiptError(FormError):
    """Receipt data that must not be issued or rendered; a :class:`FormError` for the API."""

    code = "invalid_receipt_data"


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptParty:
    name: str
    tax_code: str = ""
    address: str = ""


@dataclass(frozen=True)
class ReceiptLine:
    """One fee or charge; ``amount`` in whole đồng."""

    name: str
    amount: int


@dataclass(frozen=True)
class RelatedReceipt:
    """The receipt this one replaces (``kind`` 1, thay thế) or adjusts (2, điều chỉnh)."""

    kind: int
    form_symbol: str
    series: str
    number: int
    issued_at: datetime


@dataclass(frozen=True, kw_only=True)
class ReceiptDoc:
    """One e-receipt, checked on construction so an invalid one cannot reach XML or paper.

    ``number`` is printed zero-padded to seven digits; ``issued_at`` must be aware and its date
    in Vietnam is the ngày lập. ``status_note`` (e.g. "ĐÃ HỦY - <lý do>") is shown in red when
    a voided receipt is rendered again; ``status_lookup`` is the line that tells the payer how
    to follow the dossier (its lookup secret and the status page). Neither is part of the XML.
    """

    receipt_type: str = "Biên lai thu phí, lệ phí"
    form_symbol: str
    series: str
    number: int
    issued_at: datetime
    payment_method: str
    collector: ReceiptParty
    issuer: ReceiptParty
    mandate: str = ""
    payer: ReceiptParty
    lines: tuple[ReceiptLine, ...]
    dossier_code: str = ""
    procedure_code: str = ""
    related: RelatedReceipt | None = None
    status_note: str = ""
    status_lookup: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        for what in ("receipt_type", "form_symbol", "series"):
            _checked(getattr(self, what), what, required=True)
        for what in ("mandate", "dossier_code", "procedure_code", "status_note", "status_lookup"):
            _checked(getattr(self, what), what)
        _check_number(self.number, "number")
        _local(self.issued_at, "issued_at")
        if self.payment_method not in PAYMENT_METHODS:
            raise ReceiptError(
                f"payment_method must be one of {sorted(PAYMENT_METHODS)}, "
                f"got {self.payment_method!r}"
            )
        for what in ("collector", "issuer", "payer"):
            party: ReceiptParty = getattr(self, what)
            _checked(party.name, f"{what}.name", required=True)
            _checked(party.tax_code, f"{what}.tax_code")
            _checked(party.address, f"{what}.address")
        if not self.lines:
            raise ReceiptError("a receipt needs at least one fee line")
        for i, line in enumerate(self.lines, 1):
            _checked(line.name, f"line {i} name", required=True)
            if not isinstance(line.amount, int) or isinstance(line.amount, bool):
                raise ReceiptError(f"line {i} amount must be an int, got {line.amount!r}")
            if line.amount < 0:
                raise ReceiptError(f"line {i} amount must not be negative, got {line.amount}")
        if self.total > MAX_AMOUNT:
            raise ReceiptError(f"total {self.total} exceeds {MAX_AMOUNT}")
        if self.related is not None:
            rel = self.related
            if rel.kind not in RELATION_KINDS:
                raise ReceiptError(f"related.kind must be 1 or 2, got {rel.kind!r}")
            _checked(rel.form_symbol, "related.form_symbol", required=True)
            _checked(rel.series, "related.series", required=True)
            _check_number(rel.number, "related.number")
            _local(rel.issued_at, "related.issued_at")

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def number_text(self) -> str:
        """ "0000042": the receipt number as printed."""
        return f"{self.number:07d}"


def _checked(value: str, what: str, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ReceiptError(f"{what} must be text, got {value!r}")
    if required and not value.strip():
        raise ReceiptError(f"{what} is required")
    if _XML_ILLEGAL.search(value):
        raise ReceiptError(f"{what} contains a control character")
    return value


def _check_number(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_NUMBER:
        raise ReceiptError(f"{what} must be 1..{MAX_NUMBER}, got {value!r}")


def _day(value: datetime) -> date:
    """The calendar day in Vietnam: a receipt made at 23:30 UTC belongs to the next day."""
    return _local(value, "date").date()


# --- XML -----------------------------------------------------------------------------------


def _leaf(parent: ET.Element, tag: str, value: str | int, *, optional: bool = False) -> None:
    text = unicodedata.normalize("NFC", str(value))
    if optional and not text:
        return
    ET.SubElement(parent, tag).text = text


def _party_xml(parent: ET.Element, tag: str, party: ReceiptParty) -> ET.Element:
    node = ET.SubElement(parent, tag)
    _leaf(node, "Ten", party.name)
    _leaf(node, "MST", party.tax_code, optional=True)
    _leaf(node, "DChi", party.address, optional=True)
    return node


def receipt_xml(doc: ReceiptDoc) -> bytes:
    """The receipt's data as UTF-8 XML (root ``BLDT``), NFC text, empty optional fields left out.

    ``SHDon`` is the bare integer (padding is presentation), dates are the Vietnam calendar day.
    """
    root = ET.Element("BLDT")
    body = ET.SubElement(root, "DLBLai")
    general = ET.SubElement(body, "TTChung")
    _leaf(general, "PBan", XML_VERSION)
    _leaf(general, "THDon", doc.receipt_type)
    _leaf(general, "KHMSHDon", doc.form_symbol)
    _leaf(general, "KHHDon", doc.series)
    _leaf(general, "SHDon", doc.number)
    _leaf(general, "NLap", _day(doc.issued_at).isoformat())
    _leaf(general, "HTTToan", doc.payment_method)
    _leaf(general, "DVTTe", "VND")
    if doc.related is not None:
        rel = doc.related
        related = ET.SubElement(general, "TTHDLQuan")
        _leaf(related, "TCHDon", rel.kind)
        _leaf(related, "KHMSHDCLQuan", rel.form_symbol)
        _leaf(related, "KHHDCLQuan", rel.series)
        _leaf(related, "SHDCLQuan", rel.number)
        _leaf(related, "NLHDCLQuan", _day(rel.issued_at).isoformat())
    content = ET.SubElement(body, "NDHDon")
    _party_xml(content, "NBan", doc.collector)
    agent = _party_xml(content, "NUNhiem", doc.issuer)  # our extension
    _leaf(agent, "TTUNhiem", doc.mandate, optional=True)
    _party_xml(content, "NMua", doc.payer)
    items = ET.SubElement(content, "DSHHDVu")
    for i, line in enumerate(doc.lines, 1):
        item = ET.SubElement(items, "HHDVu")
        _leaf(item, "STT", i)
        _leaf(item, "THHDVu", line.name)
        _leaf(item, "ThTien", line.amount)
    totals = ET.SubElement(content, "TToan")
    _leaf(totals, "TgTTTBSo", doc.total)
    _leaf(totals, "TgTTTBChu", amount_in_words(doc.total))
    if doc.dossier_code or doc.procedure_code:
        other = ET.SubElement(body, "TTKhac")  # our extension
        _leaf(other, "MHSo", doc.dossier_code, optional=True)
        _leaf(other, "MTTHC", doc.procedure_code, optional=True)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _refuse_dtd(data: bytes) -> None:
    """Raise before any entity can be expanded: the DOCTYPE handler fires at its start."""

    def refuse(*_: object) -> None:
        raise ValueError("receipt XML must not contain a DOCTYPE or ENTITY declaration")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise ValueError(f"receipt XML is not well-formed: {exc}") from exc


def _node(parent: ET.Element, path: str) -> ET.Element:
    node = parent.find(path)
    if node is None:
        raise ValueError(f"receipt XML lacks {path}")
    return node


def _str(parent: ET.Element, path: str, *, required: bool = True) -> str:
    node = parent.find(path)
    if node is None:
        if required:
            raise ValueError(f"receipt XML lacks {path}")
        return ""
    return node.text or ""


def _int(parent: ET.Element, path: str) -> int:
    text = _str(parent, path)
    if not text.isdigit():
        raise ValueError(f"receipt XML {path} is not a whole number: {text!r}")
    return int(text)


def _party_dict(node: ET.Element) -> dict[str, str]:
    return {
        "name": _str(node, "Ten"),
        "tax_code": _str(node, "MST", required=False),
        "address": _str(node, "DChi", required=False),
    }


def parse_receipt_xml(data: bytes) -> dict[str, Any]:
    """Read back :func:`receipt_xml` output as plain data, checking that the total adds up.

    Keys follow :class:`ReceiptDoc`; dates come back as :class:`datetime.date` (``issued_on``)
    since the XML carries the day only. Raises ValueError on DTDs, malformed or foreign XML.
    """
    if not isinstance(data, bytes | bytearray):
        raise ValueError("receipt XML must be given as bytes")
    _refuse_dtd(bytes(data))
    try:
        root = ET.fromstring(bytes(data))  # noqa: S314 - DTDs and entities refused just above
    except ET.ParseError as exc:  # pragma: no cover - expat already accepted it
        raise ValueError(f"receipt XML is not well-formed: {exc}") from exc
    if root.tag != "BLDT":
        raise ValueError(f"receipt XML root must be BLDT, got {root.tag!r}")
    body = _node(root, "DLBLai")
    general = _node(body, "TTChung")
    content = _node(body, "NDHDon")
    try:
        related = None
        rel = general.find("TTHDLQuan")
        if rel is not None:
            related = {
                "kind": _int(rel, "TCHDon"),
                "form_symbol": _str(rel, "KHMSHDCLQuan"),
                "series": _str(rel, "KHHDCLQuan"),
                "number": _int(rel, "SHDCLQuan"),
                "issued_on": date.fromisoformat(_str(rel, "NLHDCLQuan")),
            }
        agent = _node(content, "NUNhiem")
        lines = [
            {"no": _int(item, "STT"), "name": _str(item, "THHDVu"), "amount": _int(item, "ThTien")}
            for item in _node(content, "DSHHDVu").findall("HHDVu")
        ]
        result = {
            "version": _str(general, "PBan"),
            "receipt_type": _str(general, "THDon"),
            "form_symbol": _str(general, "KHMSHDon"),
            "series": _str(general, "KHHDon"),
            "number": _int(general, "SHDon"),
            "issued_on": date.fromisoformat(_str(general, "NLap")),
            "payment_method": _str(general, "HTTToan"),
            "currency": _str(general, "DVTTe"),
            "related": related,
            "collector": _party_dict(_node(content, "NBan")),
            "issuer": _party_dict(agent),
            "mandate": _str(agent, "TTUNhiem", required=False),
            "payer": _party_dict(_node(content, "NMua")),
            "lines": lines,
            "total": _int(content, "TToan/TgTTTBSo"),
            "total_in_words": _str(content, "TToan/TgTTTBChu"),
            "dossier_code": _str(body, "TTKhac/MHSo", required=False),
            "procedure_code": _str(body, "TTKhac/MTTHC", required=False),
        }
    except ValueError as exc:
        raise ValueError(f"receipt XML is invalid: {exc}") from exc
    if result["total"] != sum(line["amount"] for line in lines):
        raise ValueError("receipt XML total does not equal the sum of its lines")
    return result


# --- QR payloads -----------------------------------------------------------------------------


def _qr_json(data: Mapping[str, object]) -> str:
    """Compact, key-sorted JSON: the same encoding as :func:`dossiers.paperwork.forms.qr_payload`."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def receipt_qr_payload(doc: ReceiptDoc, *, system_name: str = "sohoa") -> str:
    """What the receipt's QR says: enough to look it up and to check the printed figures."""
    data: dict[str, object] = {
        "tieu_de": _t(doc.receipt_type).upper(),
        "ky_hieu_mau": _t(doc.form_symbol),
        "ky_hieu": _t(doc.series),
        "so": doc.number,
        "thoi_gian": _local(doc.issued_at, "issued_at").replace(microsecond=0).isoformat(),
        "tong_tien": doc.total,
        "nguoi_nop": _t(doc.payer.name),
        "ma_ho_so": _t(doc.dossier_code),
        "he_thong": _t(system_name),
    }
    if doc.procedure_code:
        data["ma_tthc"] = _t(doc.procedure_code)
    return _qr_json(data)


def _dossier_paper_payload(title: str, ctx: FormContext) -> str:
    """forms.qr_payload for a paper outside FORM_TITLES, which it refuses.

    Form 03's payload has exactly TT 01/2023's minimum fields and nothing form-specific, so it
    is taken as is and only its title replaced: key names, NFC and times stay those of forms.
    """
    data = json.loads(forms.qr_payload("03", ctx))
    data["tieu_de"] = title
    return _qr_json(data)


# --- page building -------------------------------------------------------------------------


class _Paper(forms._Form):
    """A forms._Form for papers without a FORM_TITLES entry: same page, fonts and blocks.

    Only the constructor differs (forms._Form takes its title and footer from the form number);
    ``ctx`` is needed only for :meth:`forms._Form.header` and its applicant/procedure blocks.
    """

    def __init__(
        self,
        name: str,
        title: str,
        *,
        author: str,
        subject: str,
        creator: str,
        created_at: datetime,
        footer: str,
        fonts: Fonts,
        ctx: FormContext | None = None,
    ) -> None:
        if ctx is not None:
            self.ctx = ctx
        self.form_no = name
        self.title = _t(title)
        self.pdf: FPDF = forms._document(
            fonts,
            title=self.title,
            author=_t(author),
            subject=_t(subject),
            creator=_t(creator),
            created_at=_local(created_at, "created_at"),
            footer=_t(footer),
        )

    @contextlib.contextmanager
    def column(self, x0: float, x1: float, top: float) -> Iterator[None]:
        """Narrow the margins so :meth:`line` and :meth:`text` wrap inside ``x0..x1``."""
        pdf = self.pdf
        left, right = pdf.l_margin, pdf.r_margin
        pdf.set_left_margin(x0)
        pdf.set_right_margin(pdf.w - x1)
        pdf.set_xy(x0, top)
        try:
            yield
        finally:
            pdf.set_left_margin(left)
            pdf.set_right_margin(right)

    def title_block(self, *subtitles: str) -> None:
        pdf = self.pdf
        pdf.set_font(_FAMILY, "B", 14)
        pdf.multi_cell(0, 7, self.title, align="C", new_x="LMARGIN", new_y="NEXT")
        for subtitle in subtitles:
            self.text(subtitle, size=10, align="C")
        pdf.ln(2)

    def red_note(self, note: str) -> None:
        """A boxed red line that no one can miss on screen or on a colour print."""
        pdf = self.pdf
        pdf.set_text_color(*_RED)
        pdf.set_draw_color(*_RED)
        pdf.set_line_width(0.6)
        pdf.set_font(_FAMILY, "B", 13)
        pdf.multi_cell(0, 8, _t(note), border=1, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        pdf.ln(3)


def _beside_qr(pdf: FPDF, lines: Sequence[tuple[str, bool]]) -> None:
    """Text between the QR and the blank signature area, as forms' header places it."""
    x = QR_BOX_MM[2] + 4
    width = SIGNATURE_AREA_MM[0] - 2 - x
    pdf.set_xy(x, QR_BOX_MM[1] + 6)
    for text, bold in lines:
        pdf.set_x(x)
        pdf.set_font(_FAMILY, "B" if bold else "", 10 if bold else 8)
        pdf.multi_cell(width, 5 if bold else 4, _t(text), align="L")


def _short_date(value: datetime) -> str:
    return f"{_day(value):%d/%m/%Y}"


def _long_date(value: datetime | date) -> str:
    day = value if not isinstance(value, datetime) else _day(value)
    return f"Ngày {day:%d} tháng {day:%m} năm {day:%Y}"


def _party_lines(paper: _Paper, label: str, party: ReceiptParty, size: float) -> None:
    paper.line(label, party.name, size=size, bold_value=True)
    if party.tax_code:
        paper.line("Mã số thuế:", party.tax_code, size=size)
    if party.address:
        paper.line("Địa chỉ:", party.address, size=size)


# --- the e-receipt -------------------------------------------------------------------------


def render_receipt_pdf(
    doc: ReceiptDoc, out: Path, *, system_name: str = "sohoa", fonts: Fonts = DEFAULT_FONTS
) -> Path:
    """The receipt as an A4 page: QR top-left, signature area top-right left blank."""
    payload = receipt_qr_payload(doc, system_name=system_name)
    words = amount_in_words(doc.total)
    title = _t(doc.receipt_type).upper()
    name = f"BL {doc.series} {doc.number_text}"
    rows = [(str(i), x.name, format_amount(x.amount)) for i, x in enumerate(doc.lines, 1)]
    related = ""
    if doc.related is not None:
        rel = doc.related
        related = (
            f"Biên lai {RELATION_KINDS[rel.kind]} cho biên lai số {rel.number:07d}, "
            f"ký hiệu mẫu {rel.form_symbol}, ký hiệu {rel.series}, "
            f"ngày {_short_date(rel.issued_at)}"
        )
    mandated = doc.issuer != doc.collector or bool(doc.mandate.strip())

    def build() -> Path:
        paper = _Paper(
            name,
            title,
            author=doc.collector.name,
            subject=f"Biên lai ký hiệu {doc.series} số {doc.number_text}",
            creator=system_name,
            created_at=doc.issued_at,
            footer=f"Biên lai điện tử - Ký hiệu {doc.series} - Số {doc.number_text}",
            fonts=fonts,
        )
        pdf = paper.pdf
        pdf.add_page()
        forms._draw_qr(pdf, payload, QR_BOX_MM)
        top_lines = [(f"Mã hồ sơ: {doc.dossier_code}", True)] if doc.dossier_code else []
        _beside_qr(pdf, [*top_lines, (f"Quét mã QR để tra cứu biên lai ({system_name})", False)])

        left_x1, right_x0 = 128.0, 138.0
        with paper.column(_MARGIN, left_x1, _BODY_TOP):
            _party_lines(paper, "Tổ chức thu phí, lệ phí:", doc.collector, 10)
            if mandated:
                _party_lines(paper, "Đơn vị lập biên lai theo ủy nhiệm:", doc.issuer, 10)
                if doc.mandate.strip():
                    paper.text(doc.mandate, size=9)
        left_bottom = pdf.get_y()
        with paper.column(right_x0, pdf.w - _MARGIN, _BODY_TOP):
            paper.line("Ký hiệu mẫu:", doc.form_symbol, size=10)
            paper.line("Ký hiệu:", doc.series, size=10)
            paper.line("Số:", doc.number_text, size=10, bold_value=True)
        pdf.set_xy(_MARGIN, max(left_bottom, pdf.get_y()) + 4)

        paper.title_block("(Biên lai điện tử)", _long_date(doc.issued_at))
        if related:
            paper.text(related, size=10, align="C", bold=True)
        if doc.status_note.strip():
            paper.red_note(doc.status_note.strip())

        _party_lines(paper, "Người nộp tiền:", doc.payer, 11)
        if doc.dossier_code:
            paper.line("Mã hồ sơ:", doc.dossier_code)
        if doc.procedure_code:
            paper.line("Mã thủ tục hành chính:", doc.procedure_code)
        if doc.status_lookup.strip():
            paper.line("", doc.status_lookup.strip(), bold_value=True)
        pdf.ln(2)
        paper.table(
            ("STT", "Tên loại phí, lệ phí", "Số tiền (đồng)"),
            rows,
            (14, 124, 42),
            ("C", "L", "R"),
        )
        paper.line("Tổng số tiền:", forms.format_vnd(doc.total), bold_value=True)
        paper.line("Số tiền bằng chữ:", words)
        paper.line("Hình thức thanh toán:", PAYMENT_METHODS[doc.payment_method])
        paper.signatures(
            (
                ("NGƯỜI NỘP TIỀN", "(Ký, ghi rõ họ tên)", ""),
                ("ĐƠN VỊ THU TIỀN", "(Chữ ký số ở góc trên bên phải trang 1)", ""),
            )
        )
        return paper.save(out)

    return forms._run(name, build)


# --- the result hand-over record -----------------------------------------------------------


def render_return_record(
    ctx: FormContext,
    *,
    results: Sequence[str],
    recipient_name: str,
    recipient_id: str,
    relation: str,
    handed_at: datetime,
    out: Path,
) -> Path:
    """Biên bản giao nhận kết quả: who received which result papers, when, and in what right.

    Laid out like the one-stop forms (same header, QR and blank signature area), with the QR
    payload of :func:`dossiers.paperwork.forms.qr_payload` under this paper's own title.
    """
    papers = [r.strip() for r in results if r and r.strip()]
    if not papers:
        raise FormError("a hand-over record needs at least one result", code="items_required")
    recipient_name = forms._require(recipient_name, "the recipient's name")
    recipient_id = forms._require(recipient_id, "the recipient's identity document number")
    relation = forms._require(relation, "the recipient's relation to the applicant")
    handed = forms.format_time(handed_at)
    payload = _dossier_paper_payload(RETURN_RECORD_TITLE, ctx)
    name = "BB-TKQ"

    def build() -> Path:
        paper = _Paper(
            name,
            RETURN_RECORD_TITLE,
            author=ctx.unit_name,
            subject=f"Biên bản giao nhận kết quả - Mã hồ sơ {ctx.dossier_code}",
            creator=ctx.system_name,
            created_at=ctx.issued_at,
            footer=f"Biên bản giao nhận kết quả - Mã hồ sơ: {ctx.dossier_code}",
            fonts=ctx.fonts,
            ctx=ctx,
        )
        paper.header(payload)
        paper.text(f"Hôm nay, vào lúc {handed}, tại {ctx.unit_name}, chúng tôi gồm:")
        paper.line("Bên giao:", f"Bộ phận tiếp nhận và trả kết quả - {ctx.unit_name}")
        paper.line("Người giao:", ctx.staff_name)
        paper.line("Bên nhận:", recipient_name, bold_value=True)
        paper.line("Số giấy tờ tùy thân:", recipient_id)
        paper.line("Quan hệ với người nộp hồ sơ:", relation)
        paper.applicant("Hồ sơ của:")
        paper.procedure()
        paper.text(
            "Bên giao đã giao và bên nhận đã nhận đầy đủ kết quả giải quyết thủ tục hành chính "
            "gồm các giấy tờ sau:"
        )
        paper.table(
            ("STT", "Tên giấy tờ, kết quả giải quyết"),
            [(str(i), p) for i, p in enumerate(papers, 1)],
            (14, 166),
            ("C", "L"),
        )
        paper.text(
            "Bên nhận đã kiểm tra số lượng, nội dung các giấy tờ trên. Biên bản được lập thành "
            "02 bản, mỗi bên giữ 01 bản."
        )
        paper.signatures(
            (
                ("BÊN NHẬN", "(Ký và ghi rõ họ tên)", recipient_name),
                ("BÊN GIAO", "(Ký và ghi rõ họ tên)", ctx.staff_name),
            )
        )
        return paper.save(out)

    return forms._run(name, build)


# --- the daily reconciliation --------------------------------------------------------------


def render_reconciliation(
    *,
    unit_name: str,
    staff_name: str,
    day: date,
    rows: Sequence[tuple[str, int, str, int, str, str]],
    totals: Mapping[str, int],
    issued_count: int,
    voided_count: int,
    out: Path,
    fonts: Fonts = DEFAULT_FONTS,
) -> Path:
    """Bảng đối chiếu: one collector's receipts of one day, for the unit's accountant.

    ``rows`` are (series, number, payer, amount, method, status): method a GDT code (TM, CK,
    TM/CK) or the cashier's "cash"/"transfer", status "issued", "voided" or "replacement". Counts and totals are printed as given (they come from the
    ledger; a mismatch with the rows is what the accountant looks for). No QR: it is an
    internal paper, not one printed for a dossier, but the top right stays blank for signing.
    """
    unit_name = forms._require(unit_name, "the unit's name")
    staff_name = forms._require(staff_name, "the collector's name")
    table_rows = []
    for i, (series, number, payer, amount, method, status) in enumerate(rows, 1):
        _check_number(number, f"row {i} number")
        method = _METHOD_ALIASES.get(method, method)
        if method not in PAYMENT_METHODS:
            raise ReceiptError(f"row {i}: unknown payment method {method!r}")
        if status not in RECEIPT_STATUSES:
            raise ReceiptError(f"row {i}: status must be issued/voided/replacement, got {status!r}")
        try:
            figures = format_amount(amount)
        except (TypeError, ValueError) as exc:
            raise ReceiptError(f"row {i}: {exc}") from exc
        table_rows.append(
            (
                str(i),
                series,
                f"{number:07d}",
                payer,
                figures,
                PAYMENT_METHODS[method],
                RECEIPT_STATUSES[status],
            )
        )
    total_lines = []
    for method, amount in totals.items():
        method = _METHOD_ALIASES.get(method, method)
        if method not in PAYMENT_METHODS:
            raise ReceiptError(f"totals: unknown payment method {method!r}")
        total_lines.append((f"{PAYMENT_METHODS[method]}:", forms.format_vnd(amount)))
    grand_total = forms.format_vnd(sum(totals.values()))
    name = f"DC {day:%Y%m%d}"

    def build() -> Path:
        paper = _Paper(
            name,
            RECONCILIATION_TITLE,
            author=unit_name,
            subject=f"Bảng đối chiếu thu phí, lệ phí - {staff_name} - {day:%d/%m/%Y}",
            creator="sohoa",
            created_at=datetime.combine(day, time(0), tzinfo=forms.VN_TZ),
            footer=f"Bảng đối chiếu thu phí, lệ phí - {staff_name} - ngày {day:%d/%m/%Y}",
            fonts=fonts,
        )
        pdf = paper.pdf
        pdf.add_page()
        with paper.column(_MARGIN, SIGNATURE_AREA_MM[0] - 4, 14):
            paper.text(unit_name.upper(), size=11, bold=True)
        pdf.set_xy(_MARGIN, max(pdf.get_y(), SIGNATURE_AREA_MM[3]) + 2)
        paper.title_block(_long_date(day))
        paper.line("Đơn vị:", unit_name)
        paper.line("Người thu tiền:", staff_name, bold_value=True)
        pdf.ln(2)
        paper.table(
            ("STT", "Ký hiệu", "Số", "Người nộp", "Số tiền (đồng)", "Hình thức", "Trạng thái"),
            table_rows,
            (10, 20, 18, 48, 28, 30, 26),
            ("C", "C", "C", "L", "R", "C", "C"),
        )
        paper.line("Số biên lai đã lập:", str(issued_count))
        paper.line("Số biên lai đã hủy:", str(voided_count))
        for label, amount in total_lines:
            paper.line(f"Số tiền thu - {label}", amount)
        paper.line("Tổng số tiền đã thu:", grand_total, bold_value=True)
        paper.signatures(
            (
                ("NGƯỜI LẬP BẢNG", "(Ký và ghi rõ họ tên)", staff_name),
                ("KẾ TOÁN", "(Ký và ghi rõ họ tên)", ""),
            )
        )
        return paper.save(out)

    return forms._run(name, build)
