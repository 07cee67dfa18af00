"""Printed forms of the one-stop mechanism (Mẫu 01, 02, 03, 04, 06), rendered as PDF.

Choices, and why:

* fpdf2 with Noto Sans embedded (and subset by fpdf2), set up by :func:`paper.page.a4_document`
  from the :class:`paper.fonts.Fonts` in the form's context: every Vietnamese letter has a
  precomposed glyph, so text is NFC-normalised and needs no shaping engine; the PDF carries a
  ToUnicode map, so the text can be searched and extracted with its diacritics.
* A QR code at the top left of page 1, as TT 01/2023 asks of every paper printed from a TTHC
  system, drawn as vector rectangles: it stays sharp at any print or scan resolution. Error
  level M exactly (no boosting), so the symbol depends only on the payload. Byte mode in UTF-8
  without an ECI header: what phone readers expect in practice.
* The top right of page 1 is left blank (:data:`SIGNATURE_AREA_MM`): the unit's signature
  stamp goes there when the form is signed (:func:`sign_form`), clear of the QR.
* Deterministic output for the same input: the creation date is the form's ``issued_at`` and
  fpdf2's file /ID and subset tags derive from the content.
* Every time is shown in Asia/Ho_Chi_Minh, whatever zone the caller's datetimes carry; naive
  datetimes are refused rather than guessed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import FontFace

from dossiers.errors import DossierError
from paper.fonts import DEFAULT_FONTS, FontMissingError, Fonts
from paper.page import FAMILY, a4_document
from paper.qr import qr_runs

if TYPE_CHECKING:
    from signing.backends import SignerBackend
    from signing.sign import DocumentSigner, SignResult

__all__ = [
    "FORM_TITLES",
    "QR_BOX_MM",
    "SIGNATURE_AREA_MM",
    "Applicant",
    "ComponentLine",
    "FeeLine",
    "FormContext",
    "FormError",
    "HandoverRow",
    "StatusLink",
    "format_time",
    "format_vnd",
    "qr_payload",
    "render_apology",
    "render_control_sheet",
    "render_receipt",
    "render_refusal",
    "render_supplement_request",
    "sign_form",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

FORM_TITLES: Mapping[str, str] = {
    "01": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "02": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "03": "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
    "04": "VĂN BẢN XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
    "06": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
}

# Page geometry, in mm from the top-left corner of an A4 portrait page (x0, y0, x1, y1).
QR_BOX_MM = (10.0, 8.0, 40.0, 38.0)
# Kept blank for the signature stamp: signing.stamp puts a 200x50 pt box 15 pt from the
# top-right corner, i.e. x 134.2-204.7 mm, y 5.3-22.9 mm on A4.
SIGNATURE_AREA_MM = (128.0, 0.0, 210.0, 32.0)
_BODY_TOP = 42.0
_MARGIN = 15.0
_FAMILY = FAMILY

_RESULT_LABELS = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}
_SIGN_REASON = "Phát hành biểu mẫu một cửa"


class FormError(DossierError):
    """A form could not be rendered; ``code`` is the stable reason the API reports."""

    code: str = "form_render_failed"
    http_status = 422


@dataclass(frozen=True)
class Applicant:
    """Who the dossier belongs to. ``id_type`` is the label as printed, e.g. "Số CCCD"."""

    name: str
    id_type: str
    id_number: str
    phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class ComponentLine:
    """One paper of the dossier; ``kind`` is "Bản chính", "Bản sao" or "Bản chụp"."""

    name: str
    kind: str
    count: int


@dataclass(frozen=True)
class FeeLine:
    name: str
    amount_vnd: int


@dataclass(frozen=True)
class StatusLink:
    """How the citizen follows the dossier: ``line`` is printed as it is (the lookup secret and
    where to type it), ``url`` is the dossier's own status page, which a second QR opens."""

    line: str
    url: str


@dataclass(frozen=True)
class HandoverRow:
    """One hand-over on the control sheet; ``result`` is "early", "on_time", "late" or None."""

    from_party: str
    to_party: str
    handed_at: datetime
    due_at: datetime | None
    result: str | None
    note: str = ""


@dataclass(frozen=True)
class FormContext:
    """What every form shares. ``issued_at`` must be aware; ``place`` heads the date line;
    ``system_name`` and ``fonts`` are the installation's, handed down by the dossier kernel."""

    unit_name: str
    unit_code: str
    dossier_code: str
    procedure_code: str
    procedure_name: str
    applicant: Applicant
    issued_at: datetime
    staff_name: str
    place: str = ""
    system_name: str = "sohoa"
    fonts: Fonts = DEFAULT_FONTS


# --- formatting ----------------------------------------------------------------------------


def _local(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise FormError(f"{what} must be timezone-aware, got {value!r}", code="invalid_form_data")
    return value.astimezone(VN_TZ)


def format_time(value: datetime) -> str:
    """ "10 giờ 05 phút, ngày 28 tháng 11 năm 2026", in Vietnam's time."""
    t = _local(value, "time")
    return f"{t:%H} giờ {t:%M} phút, ngày {t:%d} tháng {t:%m} năm {t:%Y}"


def _short_time(value: datetime, what: str) -> str:
    t = _local(value, what)
    return f"{t:%H:%M}, {t:%d/%m/%Y}"


def _date_line(ctx: FormContext) -> str:
    t = _local(ctx.issued_at, "issued_at")
    date = f"ngày {t:%d} tháng {t:%m} năm {t:%Y}"
    place = _t(ctx.place).strip()
    return f"{place}, {date}" if place else date[0].upper() + date[1:]


def format_vnd(amount: int) -> str:
    """ "1.250.000 đồng": Vietnamese groups thousands with dots."""
    if amount < 0:
        raise FormError(f"negative amount {amount}", code="invalid_form_data")
    return f"{amount:,} đồng".replace(",", ".")


def _iso(value: datetime, what: str) -> str:
    return _local(value, what).replace(microsecond=0).isoformat()


def _t(value: str) -> str:
    """NFC, so every Vietnamese letter maps to one precomposed glyph of the font."""
    return unicodedata.normalize("NFC", value)


# --- QR payload ----------------------------------------------------------------------------


def qr_payload(
    form_no: str,
    ctx: FormContext,
    *,
    appointment: datetime | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The QR text: TT 01/2023's minimum fields as compact, key-sorted JSON.

    ``appointment`` (ngay_hen_tra) belongs on form 01 only; ``extra`` may add keys (validity
    period, scope) but never replace the mandatory ones.
    """
    if form_no not in FORM_TITLES:
        raise FormError(f"unknown form {form_no!r}", code="invalid_form_data")
    data = {
        "ma_ho_so": _t(ctx.dossier_code),
        "ma_tthc": _t(ctx.procedure_code),
        "ma_dinh_danh": _t(ctx.applicant.id_number),
        "tieu_de": FORM_TITLES[form_no],
        "he_thong": _t(ctx.system_name),
        "thoi_gian": _iso(ctx.issued_at, "issued_at"),
    }
    if appointment is not None:
        data["ngay_hen_tra"] = _iso(appointment, "appointment")
    for key, value in (extra or {}).items():
        if key in data:
            raise FormError(
                f"extra QR key {key!r} would replace a mandatory field", code="invalid_form_data"
            )
        data[key] = _t(value)
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- page building -------------------------------------------------------------------------


class _Pdf(FPDF):
    """fpdf2 document whose footer names the form and dossier on every page."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FAMILY, "", 8)
        self.cell(0, 5, f"{self.footer_text} - Trang {self.page_no()}/{{nb}}", align="C")


def _document(
    fonts: Fonts,
    *,
    title: str,
    author: str,
    subject: str,
    creator: str,
    created_at: datetime,
    footer: str,
) -> _Pdf:
    """An A4 page with the margins, page break and fonts every one-stop paper shares."""
    pdf = a4_document(
        _Pdf,
        fonts,
        margins=(_MARGIN, 12, _MARGIN),
        bottom=18,
        title=title,
        subject=subject,
        author=author,
        creator=creator,
        lang="vi-VN",
        created_at=created_at,
        family=_FAMILY,
    )
    pdf.footer_text = footer
    return pdf


class _Form:
    """One form being laid out: the fpdf2 document plus the few building blocks forms share."""

    def __init__(self, form_no: str, ctx: FormContext) -> None:
        self.ctx = ctx
        self.form_no = form_no
        self.title = FORM_TITLES[form_no]
        self.pdf: FPDF = _document(
            ctx.fonts,
            title=self.title,
            author=_t(ctx.unit_name),
            subject=_t(f"Mẫu {form_no} - Mã hồ sơ {ctx.dossier_code}"),
            creator=_t(ctx.system_name),
            created_at=_local(ctx.issued_at, "issued_at"),
            footer=_t(f"Mẫu {form_no} - Mã hồ sơ: {ctx.dossier_code}"),
        )

    # Top of page 1: QR left, dossier code in the middle, the stamp area right (left blank).
    def header(self, payload: str) -> None:
        pdf, ctx = self.pdf, self.ctx
        pdf.add_page()
        _draw_qr(pdf, payload, QR_BOX_MM)
        mid_x = QR_BOX_MM[2] + 4
        mid_w = SIGNATURE_AREA_MM[0] - 2 - mid_x
        pdf.set_xy(mid_x, QR_BOX_MM[1] + 6)
        pdf.set_font(_FAMILY, "B", 10)
        pdf.multi_cell(mid_w, 5, _t(f"Mã hồ sơ: {ctx.dossier_code}"), align="L")
        pdf.set_x(mid_x)
        pdf.set_font(_FAMILY, "", 8)
        pdf.multi_cell(mid_w, 4, _t(f"Quét mã QR để tra cứu hồ sơ ({ctx.system_name})"), align="L")
        # Two columns, as on every administrative paper: the unit, then the national motto.
        top = _BODY_TOP
        left_w, right_x = 78.0, 15.0 + 78.0 + 4.0
        right_w = 210.0 - _MARGIN - right_x
        pdf.set_xy(_MARGIN, top)
        pdf.set_font(_FAMILY, "B", 10)
        pdf.multi_cell(left_w, 5, _t(ctx.unit_name).upper(), align="C")
        left_bottom = pdf.get_y()
        pdf.line(
            _MARGIN + left_w / 2 - 15, left_bottom + 1, _MARGIN + left_w / 2 + 15, left_bottom + 1
        )
        pdf.set_xy(right_x, top)
        pdf.multi_cell(right_w, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C")
        pdf.set_x(right_x)
        pdf.set_font(_FAMILY, "B", 11)
        pdf.multi_cell(right_w, 5.5, "Độc lập - Tự do - Hạnh phúc", align="C")
        motto_w = pdf.get_string_width("Độc lập - Tự do - Hạnh phúc")
        y = pdf.get_y() + 0.5
        pdf.line(right_x + (right_w - motto_w) / 2, y, right_x + (right_w + motto_w) / 2, y)
        pdf.set_xy(right_x, y + 2)
        pdf.set_font(_FAMILY, "", 10)
        pdf.multi_cell(right_w, 5, _date_line(ctx), align="C")
        pdf.set_y(max(pdf.get_y(), left_bottom + 3) + 5)
        pdf.set_font(_FAMILY, "B", 13)
        pdf.multi_cell(0, 6.5, self.title, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)

    def line(
        self, label: str, value: str = "", *, size: float = 11, bold_value: bool = False
    ) -> None:
        """A bold label followed by its value, wrapping at the margin like running text."""
        pdf = self.pdf
        pdf.set_x(pdf.l_margin)
        h = size * 0.55
        if label:
            pdf.set_font(_FAMILY, "B", size)
            pdf.write(h, _t(label) + (" " if value else ""))
        pdf.set_font(_FAMILY, "B" if bold_value else "", size)
        if value:
            pdf.write(h, _t(value))
        pdf.ln(h + 1)

    def text(self, value: str, *, size: float = 11, align: str = "L", bold: bool = False) -> None:
        pdf = self.pdf
        pdf.set_font(_FAMILY, "B" if bold else "", size)
        pdf.multi_cell(0, size * 0.55, _t(value), align=align, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def applicant(self, label: str) -> None:
        a = self.ctx.applicant
        self.line(label, a.name, bold_value=True)
        self.line(f"{a.id_type}:", a.id_number)
        if a.phone:
            self.line("Số điện thoại:", a.phone)
        if a.address:
            self.line("Địa chỉ:", a.address)

    def procedure(self, label: str = "Thủ tục hành chính:") -> None:
        ctx = self.ctx
        self.line(label, f"{ctx.procedure_name} (mã {ctx.procedure_code})")

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        aligns: Sequence[str],
    ) -> None:
        """A bordered table whose cells wrap and whose heading repeats on each new page."""
        pdf = self.pdf
        pdf.set_font(_FAMILY, "", 10)
        with pdf.table(
            col_widths=tuple(widths),
            width=sum(widths),
            text_align=tuple(aligns),
            line_height=5,
            padding=1.2,
            headings_style=FontFace(family=_FAMILY, emphasis="BOLD"),
            repeat_headings=1,
        ) as table:
            head = table.row()
            for heading in headings:
                head.cell(_t(heading), align="C")
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(_t(value))
        pdf.ln(3)

    def signatures(
        self, blocks: Sequence[tuple[str, str, str]], *, aligns: Sequence[str] | None = None
    ) -> None:
        """Side-by-side signature blocks of (caption, hint, name), kept together on one page."""
        pdf = self.pdf
        if pdf.will_page_break(42):
            pdf.add_page()
        pdf.ln(3)
        top = pdf.get_y()
        # A lone signer signs on the right half, as on paper.
        slots = max(len(blocks), 2)
        width = (pdf.w - 2 * _MARGIN) / slots
        bottom = top
        for i, (caption, hint, name) in enumerate(blocks):
            align = aligns[i] if aligns else "C"
            x = _MARGIN + (slots - len(blocks) + i) * width
            pdf.set_xy(x, top)
            pdf.set_font(_FAMILY, "B", 11)
            pdf.multi_cell(width, 5.5, _t(caption), align=align)
            pdf.set_x(x)
            pdf.set_font(_FAMILY, "", 9)
            pdf.multi_cell(width, 4.5, _t(hint), align=align)
            if name:
                pdf.set_xy(x, pdf.get_y() + 20)
                pdf.set_font(_FAMILY, "B", 11)
                pdf.multi_cell(width, 5.5, _t(name), align=align)
            bottom = max(bottom, pdf.get_y())
        pdf.set_xy(_MARGIN, bottom + 3)

    def save(self, out: Path) -> Path:
        """Write the PDF atomically: a reader never sees half a form."""
        out = Path(out)
        try:
            data = bytes(self.pdf.output())
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, out)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        except FormError:
            raise
        except Exception as exc:
            raise FormError(f"cannot write form {self.form_no} to {out}: {exc}") from exc
        return out


def _draw_qr(pdf: FPDF, payload: str, box: tuple[float, float, float, float]) -> None:
    """The QR as filled rectangles, one per horizontal run of dark modules."""
    width, runs = qr_runs(payload)
    x0, y0, x1, _ = box
    module = (x1 - x0) / width
    pdf.set_fill_color(0, 0, 0)
    for r, start, length in runs:
        pdf.rect(x0 + start * module, y0 + r * module, length * module, module, style="F")


_LOOKUP_QR_MM = 24.0


def _status_block(form: _Form, link: StatusLink) -> None:
    """Item 8 of form 01: the status page's QR on the left, how to look it up on the right."""
    pdf = form.pdf
    form.line("8. Tra cứu tình trạng hồ sơ:")
    if pdf.will_page_break(_LOOKUP_QR_MM + 2):
        pdf.add_page()
    x, top = pdf.l_margin, pdf.get_y()
    _draw_qr(pdf, link.url, (x, top, x + _LOOKUP_QR_MM, top + _LOOKUP_QR_MM))
    text_x = x + _LOOKUP_QR_MM + 4
    pdf.set_xy(text_x, top + 2)
    pdf.set_font(_FAMILY, "B", 11)
    pdf.multi_cell(pdf.w - pdf.r_margin - text_x, 5.5, _t(link.line), align="L")
    pdf.set_x(text_x)
    pdf.set_font(_FAMILY, "", 9.5)
    pdf.multi_cell(
        pdf.w - pdf.r_margin - text_x,
        5,
        _t("Quét mã QR bên cạnh bằng điện thoại để xem tình trạng hồ sơ, không cần đăng nhập."),
        align="L",
    )
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + _LOOKUP_QR_MM) + 2)


def _begin(form_no: str, ctx: FormContext, payload: str) -> _Form:
    form = _Form(form_no, ctx)
    form.header(payload)
    return form


def _run(form_no: str, build: Callable[[], Path]) -> Path:
    """Call ``build`` and turn any fpdf2/segno failure into a :class:`FormError`; a missing
    font stays a :class:`~paper.fonts.FontMissingError`, which the operator has to fix."""
    try:
        return build()
    except (FormError, FontMissingError):
        raise
    except Exception as exc:
        raise FormError(f"form {form_no} could not be rendered: {exc!r}") from exc


def _require(value: str, what: str, code: str = "invalid_form_data") -> str:
    if not value or not value.strip():
        raise FormError(f"{what} is required", code=code)
    return value.strip()


# --- the forms -----------------------------------------------------------------------------


def render_receipt(
    ctx: FormContext,
    *,
    components: Sequence[ComponentLine],
    sets: int,
    processing_time: str,
    received_at: datetime,
    appointment: datetime,
    collect_at: str,
    fees: Sequence[FeeLine],
    out: Path,
    status_link: StatusLink | None = None,
) -> Path:
    """Mẫu 01, Giấy tiếp nhận hồ sơ và hẹn trả kết quả; its QR also carries the appointment.

    With ``status_link``, item 8 tells the citizen how to follow the dossier: the lookup line
    and a QR of the status page that any phone's camera opens. The top-left QR keeps TT
    01/2023's payload, which is JSON, not a link.
    """
    if sets < 1:
        raise FormError(f"sets must be at least 1, got {sets}", code="invalid_form_data")
    if any(c.count < 1 for c in components):
        raise FormError("every component needs a count of at least 1", code="invalid_form_data")
    payload = qr_payload("01", ctx, appointment=appointment)
    total = sum(f.amount_vnd for f in fees)
    fee_lines = [format_vnd(f.amount_vnd) for f in fees]
    received, due = format_time(received_at), format_time(appointment)

    def build() -> Path:
        form = _begin("01", ctx, payload)
        form.line("Bộ phận tiếp nhận và trả kết quả:", ctx.unit_name)
        form.applicant("Tiếp nhận hồ sơ của:")
        form.procedure("Thủ tục hành chính cần giải quyết:")
        form.line("1. Thành phần hồ sơ gồm:")
        form.table(
            ("STT", "Tên giấy tờ", "Loại", "Số lượng"),
            [(str(i), c.name, c.kind, str(c.count)) for i, c in enumerate(components, 1)],
            (14, 110, 32, 24),
            ("C", "L", "C", "C"),
        )
        form.line("2. Số lượng hồ sơ:", f"{sets} bộ.")
        form.line("3. Thời gian giải quyết hồ sơ theo quy định:", processing_time)
        form.line("4. Thời gian nhận hồ sơ:", received)
        form.line("5. Thời gian trả kết quả giải quyết hồ sơ:", due, bold_value=True)
        form.line("6. Đăng ký nhận kết quả tại:", collect_at)
        if fees:
            form.line("7. Phí, lệ phí:")
            for fee, amount in zip(fees, fee_lines, strict=True):
                form.line("", f"- {fee.name}: {amount}")
            form.line("Tổng cộng:", format_vnd(total), bold_value=True)
        else:
            form.line("7. Phí, lệ phí:", "Không thu.")
        if status_link is not None:
            _status_block(form, status_link)
        form.signatures(
            (
                ("NGƯỜI NỘP HỒ SƠ", "(Ký và ghi rõ họ tên)", ctx.applicant.name),
                ("NGƯỜI TIẾP NHẬN HỒ SƠ", "(Ký và ghi rõ họ tên)", ctx.staff_name),
            )
        )
        form.text(
            "Lưu ý: Khi đến nhận kết quả, ông/bà mang theo Giấy tiếp nhận hồ sơ và hẹn trả kết "
            "quả này và giấy tờ tùy thân (căn cước, hộ chiếu); nếu nhận thay, mang theo văn bản "
            "ủy quyền theo quy định.",
            size=9.5,
        )
        return form.save(out)

    return _run("01", build)


def render_supplement_request(
    ctx: FormContext, *, items: Sequence[str], reason: str, contact: str, out: Path
) -> Path:
    """Mẫu 02, Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ: a numbered list of what is missing."""
    wanted = [item.strip() for item in items if item and item.strip()]
    if not wanted:
        raise FormError("a supplement request needs at least one item", code="items_required")
    payload = qr_payload("02", ctx)

    def build() -> Path:
        form = _begin("02", ctx, payload)
        form.applicant("Hồ sơ của:")
        form.procedure("Đề nghị giải quyết thủ tục hành chính:")
        form.text(
            f"Sau khi xem xét thành phần hồ sơ, {ctx.unit_name} đề nghị ông/bà bổ sung, "
            "hoàn thiện hồ sơ gồm những nội dung sau:"
        )
        for i, item in enumerate(wanted, 1):
            form.text(f"{i}. {item}")
        if reason.strip():
            form.line("Lý do:", reason.strip())
        if contact.strip():
            form.text(
                "Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, ông/bà liên hệ để được "
                "hướng dẫn:"
            )
            form.line("Người hướng dẫn, liên hệ:", contact.strip())
        form.text("Xin trân trọng cảm ơn!")
        form.signatures((("NGƯỜI HƯỚNG DẪN", "(Ký và ghi rõ họ tên)", ctx.staff_name),))
        return form.save(out)

    return _run("02", build)


def render_refusal(ctx: FormContext, *, reason: str, out: Path) -> Path:
    """Mẫu 03, Phiếu từ chối tiếp nhận giải quyết hồ sơ; a refusal must say why."""
    reason = _require(reason, "the reason for refusing the dossier", "reason_required")
    payload = qr_payload("03", ctx)

    def build() -> Path:
        form = _begin("03", ctx, payload)
        form.line("Bộ phận tiếp nhận và trả kết quả:", ctx.unit_name)
        form.applicant("Tiếp nhận hồ sơ của:")
        form.procedure("Đề nghị giải quyết thủ tục hành chính:")
        form.text(
            "Qua xem xét, Bộ phận tiếp nhận và trả kết quả thông báo không tiếp nhận, giải "
            "quyết hồ sơ này với lý do cụ thể như sau:"
        )
        form.text(reason, bold=True)
        form.text("Xin thông báo cho ông/bà được biết và thực hiện./.")
        form.signatures((("NGƯỜI TIẾP NHẬN HỒ SƠ", "(Ký và ghi rõ họ tên)", ctx.staff_name),))
        return form.save(out)

    return _run("03", build)


def render_apology(
    ctx: FormContext, *, original_due: datetime, new_due: datetime, reason: str, out: Path
) -> Path:
    """Mẫu 04, the apology for a late result with the new appointment; signed by the head."""
    reason = _require(reason, "the reason for the delay", "reason_required")
    if new_due <= original_due:
        raise FormError(
            "the new appointment must be after the original one", code="invalid_form_data"
        )
    original, new = format_time(original_due), format_time(new_due)
    payload = qr_payload("04", ctx)

    def build() -> Path:
        form = _begin("04", ctx, payload)
        a = ctx.applicant
        form.line("Kính gửi:", a.name, bold_value=True)
        if a.address:
            form.line("Địa chỉ:", a.address)
        if a.phone:
            form.line("Số điện thoại:", a.phone)
        form.procedure("Hồ sơ đề nghị giải quyết thủ tục hành chính:")
        form.line("Thời gian hẹn trả kết quả theo giấy tiếp nhận:", original)
        form.text(
            f"Đến nay, {ctx.unit_name} chưa trả kết quả giải quyết hồ sơ của ông/bà đúng "
            "thời gian đã hẹn."
        )
        form.line("Lý do:", reason)
        form.text(
            "Sự chậm trễ này đã gây phiền hà cho ông/bà. Chúng tôi thành thật xin lỗi ông/bà và "
            "hẹn lại thời gian trả kết quả như sau:"
        )
        form.line("Thời gian hẹn trả kết quả lại:", new, bold_value=True)
        form.text("Rất mong nhận được sự thông cảm của ông/bà. Trân trọng./.")
        form.signatures(
            (
                ("Nơi nhận:", "- Như trên;\n- Lưu: VT.", ""),
                ("THỦ TRƯỞNG CƠ QUAN", "(Ký, ghi rõ họ tên và đóng dấu)", ctx.staff_name),
            ),
            aligns=("L", "C"),
        )
        return form.save(out)

    return _run("04", build)


def render_control_sheet(
    ctx: FormContext, *, received_at: datetime, rows: Sequence[HandoverRow], out: Path
) -> Path:
    """Mẫu 06, Phiếu kiểm soát quá trình giải quyết hồ sơ: one row per hand-over."""
    table_rows = []
    for i, row in enumerate(rows, 1):
        if row.result is not None and row.result not in _RESULT_LABELS:
            raise FormError(
                f"row {i}: result must be early/on_time/late or None, got {row.result!r}",
                code="invalid_form_data",
            )
        when = f"Giao nhận: {_short_time(row.handed_at, f'row {i} handed_at')}"
        if row.due_at is not None:
            when += f"\nHạn: {_short_time(row.due_at, f'row {i} due_at')}"
        table_rows.append(
            (
                f"{i}. Giao: {row.from_party}\nNhận: {row.to_party}",
                when,
                _RESULT_LABELS.get(row.result or "", ""),
                row.note,
            )
        )
    received = format_time(received_at)
    payload = qr_payload("06", ctx)

    def build() -> Path:
        form = _begin("06", ctx, payload)
        form.applicant("Kèm theo hồ sơ của:")
        form.procedure()
        form.line("Thời gian nhận hồ sơ:", received)
        form.table(
            (
                "TÊN CƠ QUAN (BÊN GIAO - BÊN NHẬN)",
                "THỜI GIAN GIAO, NHẬN HỒ SƠ",
                "KẾT QUẢ GIẢI QUYẾT HỒ SƠ",
                "Ghi chú",
            ),
            table_rows,
            (64, 53, 27, 36),
            ("L", "L", "C", "L"),
        )
        form.text(
            "Kết quả giải quyết hồ sơ: Trước hạn / Đúng hạn / Quá hạn so với thời hạn của "
            "từng bước.",
            size=9,
        )
        return form.save(out)

    return _run("06", build)


# --- signing -------------------------------------------------------------------------------


def sign_form(
    src: Path,
    dst: Path,
    *,
    signer: DocumentSigner,
    backend: SignerBackend,
    unit_name: str,
    location: str,
) -> SignResult:
    """Sign a rendered form with the unit's visible stamp in the blank top-right area.

    The stamp's lines are literal text, so the time shown is read just before signing; the
    signature's own time (``/M``, returned in the result) is taken a moment later. If the two
    fall in different minutes the form is signed again, so the stamp never contradicts it.
    """
    tz: tzinfo = signer.tz
    result = None
    for _ in range(2):
        shown = datetime.now(tz).replace(second=0, microsecond=0)
        result = signer.sign(
            src,
            dst,
            backend,
            stamp_lines=[unit_name, f"Ký số: {shown:%H:%M} ngày {shown:%d/%m/%Y}"],
            position="top-right",
            reason=_SIGN_REASON,
            location=location,
        )
        if result.signing_time.astimezone(tz).replace(second=0, microsecond=0) == shown:
            break
    assert result is not None
    return result
