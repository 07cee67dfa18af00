"""One-stop forms: rendered with Vietnamese data, then read back the way a person or a phone
would (text extraction, a 200 dpi raster and a QR decoder), and signed with the dev PKI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
import zxingcpp
from pdfminer.high_level import extract_text

from dossiers.paperwork.forms import (
    FORM_TITLES,
    QR_BOX_MM,
    SIGNATURE_AREA_MM,
    Applicant,
    ComponentLine,
    FeeLine,
    FormContext,
    FormError,
    HandoverRow,
    qr_payload,
    render_apology,
    render_control_sheet,
    render_receipt,
    render_refusal,
    render_supplement_request,
    sign_form,
)
from paper.fonts import DEFAULT_FONTS, FontMissingError, Fonts
from signing.backends import Pkcs12Backend
from signing.pki import DevPki
from signing.sign import DocumentSigner
from signing.verify import verify_pdf
from tests.fixtures.pki import DEV_PASSWORD

UTC = dt.UTC
ISSUED = dt.datetime(2026, 11, 28, 3, 5, 42, 123456, tzinfo=UTC)  # 10:05:42 in Hà Nội
RECEIVED = dt.datetime(2026, 11, 28, 3, 5, tzinfo=UTC)
APPOINTMENT = dt.datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # 16:30 in Hà Nội
NEW_DUE = dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
UNIT = "UBND xã Hòa Bình - Bộ phận Một cửa"
CODE = "000.00.16.H08-261128-0001"
REFUSAL = "Hồ sơ không thuộc thẩm quyền giải quyết của Ủy ban nhân dân xã Hòa Bình"

CTX = FormContext(
    unit_name=UNIT,
    unit_code="000.00.16.H08",
    dossier_code=CODE,
    procedure_code="1.001193",
    procedure_name="Đăng ký khai sinh",
    applicant=Applicant(
        name="Nguyễn Văn An",
        id_type="Số CCCD",
        id_number="001090012345",
        phone="0912 345 678",
        address="Thôn Đông, xã Hòa Bình, tỉnh Hưng Yên",
    ),
    issued_at=ISSUED,
    staff_name="Trần Thị Bích",
    place="Hòa Bình",
)
RESULTS = ("early", "on_time", "late", None)
MM = 72 / 25.4


def handovers(n: int) -> list[HandoverRow]:
    parties = ("Bộ phận Một cửa", "Công chức Tư pháp - Hộ tịch", "Chủ tịch UBND xã")
    return [
        HandoverRow(
            from_party=parties[i % 3],
            to_party=parties[(i + 1) % 3],
            handed_at=RECEIVED + dt.timedelta(hours=2 * i),
            due_at=RECEIVED + dt.timedelta(hours=2 * i + 4) if i % 4 != 3 else None,
            result=RESULTS[i % 4],
            note="Đã ký duyệt, chuyển trả kết quả cho công dân" if i % 5 == 0 else "",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("forms")
    return {
        "01": render_receipt(
            CTX,
            components=[
                ComponentLine("Tờ khai đăng ký khai sinh theo mẫu", "Bản chính", 1),
                ComponentLine("Giấy chứng sinh do cơ sở y tế cấp", "Bản chính", 1),
                ComponentLine("Giấy chứng nhận kết hôn của cha, mẹ", "Bản sao", 2),
            ],
            sets=1,
            processing_time="Trong ngày làm việc; trường hợp cần xác minh không quá 03 ngày",
            received_at=RECEIVED,
            appointment=APPOINTMENT,
            collect_at="Bộ phận Một cửa UBND xã Hòa Bình",
            fees=[FeeLine("Lệ phí đăng ký khai sinh", 1_250_000), FeeLine("Phí sao y", 8_000)],
            out=out / "01.pdf",
        ),
        "02": render_supplement_request(
            CTX,
            items=["Bản sao Giấy chứng nhận kết hôn của cha, mẹ", "Văn bản ủy quyền có chứng thực"],
            reason="Thành phần hồ sơ chưa đầy đủ theo quy định",
            contact="Trần Thị Bích, điện thoại 0243 123 456",
            out=out / "02.pdf",
        ),
        "03": render_refusal(CTX, reason=REFUSAL, out=out / "03.pdf"),
        "04": render_apology(
            CTX,
            original_due=APPOINTMENT,
            new_due=NEW_DUE,
            reason="Cần xác minh thông tin với cơ quan đăng ký cư trú",
            out=out / "04.pdf",
        ),
        "06": render_control_sheet(
            CTX, received_at=RECEIVED, rows=handovers(4), out=out / "06.pdf"
        ),
    }


def text_of(path: Path) -> str:
    return extract_text(str(path))


def expected_qr(form_no: str) -> dict[str, str]:
    data = {
        "ma_ho_so": CODE,
        "ma_tthc": "1.001193",
        "ma_dinh_danh": "001090012345",
        "tieu_de": FORM_TITLES[form_no],
        "he_thong": "sohoa",
        "thoi_gian": "2026-11-28T10:05:42+07:00",
    }
    if form_no == "01":
        data["ngay_hen_tra"] = "2026-11-30T16:30:00+07:00"
    return data


def page_qr(path: Path, dpi: int = 200) -> tuple[zxingcpp.Barcode, float, float]:
    """The one QR on page 1 and the page size in pixels."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        image = pdf[0].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        pdf.close()
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, codes
    return codes[0], image.width, image.height


def qr_bounds_pt(code: zxingcpp.Barcode, dpi: int) -> tuple[float, float, float, float]:
    """The QR's box in PDF user space (origin bottom-left), from its pixel corners."""
    pos = code.position
    xs = [p.x * 72 / dpi for p in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)]
    ys = [p.y * 72 / dpi for p in (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)]
    height = 297 * MM
    return min(xs), height - max(ys), max(xs), height - min(ys)


# --- text ----------------------------------------------------------------------------------

COMMON = (
    "Nguyễn Văn An",
    f"Mã hồ sơ: {CODE}",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "UBND XÃ HÒA BÌNH - BỘ PHẬN MỘT CỬA",
    "Hòa Bình, ngày 28 tháng 11 năm 2026",
    "Đăng ký khai sinh (mã 1.001193)",
)

EXPECTED_TEXT = {
    "01": (
        "Số CCCD: 001090012345",
        "Số điện thoại: 0912 345 678",
        "Tờ khai đăng ký khai sinh theo mẫu",
        "Giấy chứng nhận kết hôn của cha, mẹ",
        "Bản chính",
        "Bản sao",
        "2. Số lượng hồ sơ: 1 bộ.",
        "3. Thời gian giải quyết hồ sơ theo quy định: Trong ngày làm việc",
        "4. Thời gian nhận hồ sơ: 10 giờ 05 phút, ngày 28 tháng 11 năm 2026",
        "5. Thời gian trả kết quả giải quyết hồ sơ: 16 giờ 30 phút, ngày 30 tháng 11 năm 2026",
        "6. Đăng ký nhận kết quả tại: Bộ phận Một cửa UBND xã Hòa Bình",
        "Lệ phí đăng ký khai sinh: 1.250.000 đồng",
        "Phí sao y: 8.000 đồng",
        "Tổng cộng: 1.258.000 đồng",
        "NGƯỜI NỘP HỒ SƠ",
        "NGƯỜI TIẾP NHẬN HỒ SƠ",
        "Trần Thị Bích",
        "giấy tờ tùy thân",
    ),
    "02": (
        "1. Bản sao Giấy chứng nhận kết hôn của cha, mẹ",
        "2. Văn bản ủy quyền có chứng thực",
        "Lý do: Thành phần hồ sơ chưa đầy đủ theo quy định",
        "Trần Thị Bích, điện thoại 0243 123 456",
        "NGƯỜI HƯỚNG DẪN",
    ),
    "03": (REFUSAL, "NGƯỜI TIẾP NHẬN HỒ SƠ", "Trần Thị Bích"),
    "04": (
        "Kính gửi: Nguyễn Văn An",
        "16 giờ 30 phút, ngày 30 tháng 11 năm 2026",
        "Thời gian hẹn trả kết quả lại: 09 giờ 00 phút, ngày 02 tháng 12 năm 2026",
        "Lý do: Cần xác minh thông tin với cơ quan đăng ký cư trú",
        "THỦ TRƯỞNG CƠ QUAN",
    ),
    "06": (
        "Kèm theo hồ sơ của: Nguyễn Văn An",
        "Thời gian nhận hồ sơ: 10 giờ 05 phút, ngày 28 tháng 11 năm 2026",
        "THỜI GIAN GIAO, NHẬN",
        "1. Giao: Bộ phận Một cửa",
        "Nhận: Công chức Tư pháp - Hộ tịch",
        "Giao nhận: 10:05, 28/11/2026",
        "Hạn: 14:05, 28/11/2026",
        "Trước hạn",
        "Đúng hạn",
        "Quá hạn",
        "Đã ký duyệt, chuyển",  # the note wraps inside its cell
    ),
}


@pytest.mark.parametrize("form_no", sorted(EXPECTED_TEXT))
def test_text_reads_back_with_diacritics(rendered: dict[str, Path], form_no: str) -> None:
    text = text_of(rendered[form_no])
    for needle in (FORM_TITLES[form_no], *COMMON, *EXPECTED_TEXT[form_no]):
        assert needle in text, f"{needle!r} missing from form {form_no}:\n{text}"


def test_control_sheet_leaves_unknown_result_blank(rendered: dict[str, Path]) -> None:
    text = text_of(rendered["06"])
    # rows 1-3 carry a result, row 4 none: each label exactly once, plus the legend line
    for label in ("Trước hạn", "Đúng hạn", "Quá hạn"):
        assert text.count(label) == 2, label


@pytest.mark.parametrize("form_no", sorted(FORM_TITLES))
def test_metadata(rendered: dict[str, Path], form_no: str) -> None:
    with pikepdf.open(rendered[form_no]) as pdf:
        assert str(pdf.docinfo["/Title"]) == FORM_TITLES[form_no]
        assert str(pdf.docinfo["/Author"]) == UNIT
        assert str(pdf.docinfo["/CreationDate"]).startswith("D:20261128")
        box = [float(v) for v in pdf.pages[0].MediaBox]
        assert box == pytest.approx([0, 0, 210 * MM, 297 * MM], abs=0.01)  # A4 portrait


# --- QR --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form_no", sorted(FORM_TITLES))
def test_qr_decodes_top_left(rendered: dict[str, Path], form_no: str) -> None:
    code, width, height = page_qr(rendered[form_no])
    assert code.ec_level == "M"
    assert json.loads(code.text) == expected_qr(form_no)
    pos = code.position
    corners = (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)
    cx = sum(p.x for p in corners) / 4
    cy = sum(p.y for p in corners) / 4
    assert cx < width / 2 and cy < height / 2
    # about 30 mm wide, where QR_BOX_MM says
    llx, lly, urx, ury = qr_bounds_pt(code, 200)
    assert (urx - llx) / MM == pytest.approx(30, abs=1.5)
    assert (ury - lly) / MM == pytest.approx(30, abs=1.5)
    assert llx / MM == pytest.approx(QR_BOX_MM[0], abs=1)
    assert 297 - ury / MM == pytest.approx(QR_BOX_MM[1], abs=1)


def test_qr_payload_is_compact_sorted_json() -> None:
    payload = qr_payload("01", CTX, appointment=APPOINTMENT, extra={"hieu_luc": "5 năm"})
    assert payload == (
        '{"he_thong":"sohoa","hieu_luc":"5 năm","ma_dinh_danh":"001090012345",'
        f'"ma_ho_so":"{CODE}","ma_tthc":"1.001193",'
        '"ngay_hen_tra":"2026-11-30T16:30:00+07:00",'
        '"thoi_gian":"2026-11-28T10:05:42+07:00",'
        '"tieu_de":"GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"}'
    )
    assert "ngay_hen_tra" not in json.loads(qr_payload("03", CTX))
    with pytest.raises(FormError):
        qr_payload("01", CTX, extra={"ma_ho_so": "forged"})
    with pytest.raises(FormError):
        qr_payload("05", CTX)


# --- fonts, determinism, errors ----------------------------------------------------------


@pytest.mark.parametrize("form_no", sorted(FORM_TITLES))
def test_all_fonts_embedded(rendered: dict[str, Path], form_no: str) -> None:
    with pikepdf.open(rendered[form_no]) as pdf:
        fonts = [
            obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font"
        ]
        leaves = [f for f in fonts if f.get("/Subtype") != "/Type0"]
        assert len(leaves) == 2  # Noto Sans Regular and Bold, nothing else
        for font in leaves:
            descriptor = font.FontDescriptor
            assert "/FontFile2" in descriptor, font.get("/BaseFont")
            assert str(descriptor.FontName).endswith(("+NotoSans", "+NotoSansBold"))


def test_rendering_is_deterministic(rendered: dict[str, Path], tmp_path: Path) -> None:
    again = render_refusal(CTX, reason=REFUSAL, out=tmp_path / "03.pdf")
    assert again.read_bytes() == rendered["03"].read_bytes()


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_refusal_needs_a_reason(tmp_path: Path, reason: str) -> None:
    with pytest.raises(FormError) as err:
        render_refusal(CTX, reason=reason, out=tmp_path / "03.pdf")
    assert err.value.code == "reason_required"
    assert not list(tmp_path.iterdir())


def test_bad_input_is_a_form_error(tmp_path: Path) -> None:
    naive = dataclasses.replace(CTX, issued_at=dt.datetime(2026, 11, 28, 10, 5))
    with pytest.raises(FormError) as err:
        render_refusal(naive, reason=REFUSAL, out=tmp_path / "a.pdf")
    assert err.value.code == "invalid_form_data"
    with pytest.raises(FormError):
        render_apology(
            CTX, original_due=NEW_DUE, new_due=APPOINTMENT, reason="x", out=tmp_path / "b.pdf"
        )
    with pytest.raises(FormError):
        render_control_sheet(
            CTX,
            received_at=RECEIVED,
            rows=[HandoverRow("A", "B", RECEIVED, None, "sớm")],
            out=tmp_path / "c.pdf",
        )
    with pytest.raises(FormError) as err:
        render_supplement_request(CTX, items=[" "], reason="", contact="", out=tmp_path / "d.pdf")
    assert err.value.code == "items_required"
    assert not list(tmp_path.iterdir())


def test_missing_font_directory_is_reported(tmp_path: Path) -> None:
    """A wrong SOHOA_FONT_DIR is the operator's error with its fix, not an fpdf2 traceback."""
    ctx = dataclasses.replace(CTX, fonts=Fonts(tmp_path / "no-such-dir"))
    with pytest.raises(FontMissingError, match="apt-get install fonts-noto-core") as err:
        render_refusal(ctx, reason=REFUSAL, out=tmp_path / "03.pdf")
    assert err.value.code == "font_missing" and err.value.http_status == 500
    assert str(tmp_path / "no-such-dir" / "NotoSans-Regular.ttf") in str(err.value)
    assert not (tmp_path / "03.pdf").exists()


def test_missing_bold_font_is_reported(tmp_path: Path) -> None:
    only_regular = tmp_path / "fonts"
    only_regular.mkdir()
    (only_regular / DEFAULT_FONTS.regular.name).symlink_to(DEFAULT_FONTS.regular)
    ctx = dataclasses.replace(CTX, fonts=Fonts(only_regular))
    with pytest.raises(FontMissingError, match=r"NotoSans-Bold\.ttf") as err:
        render_receipt(
            ctx,
            components=[],
            sets=1,
            processing_time="Trong ngày",
            received_at=RECEIVED,
            appointment=APPOINTMENT,
            collect_at="Tại Bộ phận Một cửa",
            fees=[],
            out=tmp_path / "01.pdf",
        )
    assert err.value.code == "font_missing"


def test_fonts_come_from_the_context(tmp_path: Path) -> None:
    """Another directory with the same files prints the same form, byte for byte."""
    elsewhere = tmp_path / "fonts"
    elsewhere.mkdir()
    for font in (DEFAULT_FONTS.regular, DEFAULT_FONTS.bold):
        (elsewhere / font.name).symlink_to(font)
    default = render_refusal(CTX, reason=REFUSAL, out=tmp_path / "a.pdf")
    moved = render_refusal(
        dataclasses.replace(CTX, fonts=Fonts(elsewhere)), reason=REFUSAL, out=tmp_path / "b.pdf"
    )
    assert moved.read_bytes() == default.read_bytes()


def test_long_control_sheet_wraps_onto_more_pages(tmp_path: Path) -> None:
    path = render_control_sheet(
        CTX, received_at=RECEIVED, rows=handovers(40), out=tmp_path / "06.pdf"
    )
    with pikepdf.open(path) as pdf:
        pages = len(pdf.pages)
    assert pages >= 2
    text = text_of(path)
    assert "40. Giao:" in text and f"Trang {pages}/{pages}" in text
    # the heading row repeats on the next page
    assert "KẾT QUẢ GIẢI" in extract_text(str(path), page_numbers=[1])
    page_qr(path)  # page 1 still carries its QR


def test_long_text_wraps_inside_the_page(tmp_path: Path) -> None:
    reason = " ".join(["Giấy tờ chứng minh nơi cư trú không hợp lệ theo quy định hiện hành."] * 12)
    path = render_refusal(CTX, reason=reason, out=tmp_path / "03.pdf")
    text = " ".join(text_of(path).split())
    assert reason in text
    pdf = pdfium.PdfDocument(str(path))
    try:
        page = pdf[0].get_textpage()
        for i in range(page.count_rects()):
            left, _, right, _ = page.get_rect(i)
            assert left >= 14 * MM and right <= 196 * MM
    finally:
        pdf.close()


# --- signing -------------------------------------------------------------------------------


def test_sign_form_stamps_top_right_clear_of_qr(
    rendered: dict[str, Path],
    dev_pki: DevPki,
    stamp_font: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(stamp_font)
    backend = Pkcs12Backend(dev_pki.unit_p12, DEV_PASSWORD.encode())
    result = sign_form(
        rendered["01"],
        tmp_path / "01-signed.pdf",
        signer=signer,
        backend=backend,
        unit_name=dev_pki.unit_name,
        location="Hòa Bình",
    )
    report = verify_pdf(result.path, trust_roots=trust_roots, expected_sha256=result.sha256)
    assert report.ok, report.to_dict()
    (sig,) = report.signatures
    assert sig.valid and sig.intact and sig.trusted

    with pikepdf.open(result.path) as pdf:
        (widget,) = [a for a in pdf.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig"]
        llx, lly, urx, ury = (float(v) for v in widget.Rect)
        assert str(widget.get("/V").get("/Reason")) == "Phát hành biểu mẫu một cửa"
    page_w, page_h = 210 * MM, 297 * MM
    assert llx > page_w / 2 and lly > page_h * 3 / 4  # top-right
    # inside the area the forms leave blank
    ax0, ay0, ax1, ay1 = SIGNATURE_AREA_MM
    assert llx >= ax0 * MM and urx <= ax1 * MM
    assert ury <= page_h - ay0 * MM and lly >= page_h - ay1 * MM

    code, _, _ = page_qr(result.path)  # the QR still decodes once stamped
    assert json.loads(code.text) == expected_qr("01")
    qx0, qy0, qx1, qy1 = qr_bounds_pt(code, 200)
    assert qx1 < llx or urx < qx0 or qy1 < lly or ury < qy0  # no overlap
