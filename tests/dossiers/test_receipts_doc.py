"""E-receipts: XML written and read back field by field, hostile XML refused, and the PDFs
(receipt, hand-over record, reconciliation) read back as text, as a raster and as a QR, then a
receipt signed with the dev PKI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest
import zxingcpp
from pdfminer.high_level import extract_text
from PIL import Image

from dossiers.fees.receipts_doc import (
    RECONCILIATION_TITLE,
    RETURN_RECORD_TITLE,
    ReceiptDoc,
    ReceiptError,
    ReceiptLine,
    ReceiptParty,
    RelatedReceipt,
    parse_receipt_xml,
    receipt_qr_payload,
    receipt_xml,
    render_receipt_pdf,
    render_reconciliation,
    render_return_record,
)
from dossiers.paperwork.forms import (
    QR_BOX_MM,
    SIGNATURE_AREA_MM,
    Applicant,
    FormContext,
    FormError,
    qr_payload,
    sign_form,
)
from paper.fonts import FontMissingError, Fonts
from signing.backends import Pkcs12Backend
from signing.pki import DevPki
from signing.sign import DocumentSigner
from signing.verify import verify_pdf
from tests.fixtures.pki import DEV_PASSWORD

UTC = dt.UTC
ISSUED = dt.datetime(2026, 11, 28, 3, 5, 42, 123456, tzinfo=UTC)  # 10:05:42 in Hà Nội
CODE = "000.00.16.H08-261128-0001"
MM = 72 / 25.4
WORDS = "Một triệu hai trăm năm mươi nghìn đồng"

COLLECTOR = ReceiptParty("UBND xã Hòa Bình", "0101234567", "Thôn Đông, xã Hòa Bình, tỉnh Hưng Yên")
POST_OFFICE = ReceiptParty("Bưu điện xã Hòa Bình", "0100109106-123", "Số 1 đường Lê Lợi")
MANDATE = "Ủy nhiệm lập biên lai theo Hợp đồng số 12/2026/HĐUN ngày 01/07/2026"
DOC = ReceiptDoc(
    form_symbol="01BLP0-001",
    series="BL-26E",
    number=42,
    issued_at=ISSUED,
    payment_method="TM",
    collector=COLLECTOR,
    issuer=POST_OFFICE,
    mandate=MANDATE,
    payer=ReceiptParty("Nguyễn Thị Hương", "8012345678", "Xóm Trại, xã Hòa Bình"),
    lines=(
        ReceiptLine("Lệ phí đăng ký khai sinh", 1_000_000),
        ReceiptLine("Phí cấp bản sao trích lục", 250_000),
    ),
    dossier_code=CODE,
    procedure_code="1.001193",
    related=RelatedReceipt(
        kind=1,
        form_symbol="01BLP0-001",
        series="BL-26E",
        number=41,
        issued_at=dt.datetime(2026, 11, 27, 20, 30, tzinfo=UTC),  # 28/11 03:30 in Hà Nội
    ),
)
PLAIN = dataclasses.replace(
    DOC,
    issuer=COLLECTOR,
    mandate="",
    payer=ReceiptParty("Lê Văn Đức"),
    payment_method="CK",
    dossier_code="",
    procedure_code="",
    related=None,
    lines=(ReceiptLine("Lệ phí chứng thực", 10_000),),
)
VOID_NOTE = "ĐÃ HỦY - Lập sai tên người nộp tiền"
VOIDED = dataclasses.replace(DOC, related=None, status_note=VOID_NOTE)

CTX = FormContext(
    unit_name="UBND xã Hòa Bình - Bộ phận Một cửa",
    unit_code="000.00.16.H08",
    dossier_code=CODE,
    procedure_code="1.001193",
    procedure_name="Đăng ký khai sinh",
    applicant=Applicant(name="Nguyễn Văn An", id_type="Số CCCD", id_number="001090012345"),
    issued_at=ISSUED,
    staff_name="Trần Thị Bích",
    place="Hòa Bình",
)
RESULTS = ("Giấy khai sinh (bản chính)", "Trích lục khai sinh (bản sao)")
METHODS = ("TM", "CK")
STATUSES = ("issued", "issued", "voided", "replacement")


def reconciliation_rows(n: int) -> list[tuple[str, int, str, int, str, str]]:
    payers = ("Nguyễn Thị Hương", "Phạm Đức Thắng", "Hoàng Thị Yến Nhi")
    return [
        ("BL-26E", 100 + i, payers[i % 3], 10_000 * (i + 1), METHODS[i % 2], STATUSES[i % 4])
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("receipts")
    return {
        "receipt": render_receipt_pdf(DOC, out / "receipt.pdf"),
        "plain": render_receipt_pdf(PLAIN, out / "plain.pdf"),
        "voided": render_receipt_pdf(VOIDED, out / "voided.pdf"),
        "return": render_return_record(
            CTX,
            results=RESULTS,
            recipient_name="Nguyễn Thị Lan",
            recipient_id="001190054321",
            relation="Người được ủy quyền",
            handed_at=dt.datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
            out=out / "return.pdf",
        ),
        "reconciliation": render_reconciliation(
            unit_name="Bưu điện xã Hòa Bình",
            staff_name="Trần Thị Bích",
            day=dt.date(2026, 11, 28),
            rows=reconciliation_rows(60),
            totals={"TM": 7_000_000, "CK": 5_250_000},
            issued_count=45,
            voided_count=15,
            out=out / "reconciliation.pdf",
        ),
    }


def text_of(path: Path, **kwargs: object) -> str:
    return " ".join(extract_text(str(path), **kwargs).split())  # type: ignore[arg-type]


def page_image(path: Path, dpi: int = 200) -> Image.Image:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return pdf[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        pdf.close()


def red_pixels(path: Path) -> int:
    data = page_image(path, dpi=50).tobytes()
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    return sum(1 for r, g, b in pixels if r > 150 and g < 80 and b < 80)


def page_qr(path: Path) -> zxingcpp.Barcode:
    image = page_image(path)
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, codes
    pos = codes[0].position
    corners = (pos.top_left, pos.top_right, pos.bottom_left, pos.bottom_right)
    # top-left, where QR_BOX_MM puts it
    assert min(p.x for p in corners) / 200 * 25.4 == pytest.approx(QR_BOX_MM[0], abs=1)
    assert min(p.y for p in corners) / 200 * 25.4 == pytest.approx(QR_BOX_MM[1], abs=1)
    return codes[0]


# --- data ----------------------------------------------------------------------------------


def test_total_and_number() -> None:
    assert DOC.total == 1_250_000
    assert DOC.number_text == "0000042"
    assert isinstance(DOC.lines, tuple)
    assert ReceiptDoc(**{**vars(PLAIN), "lines": [ReceiptLine("x", 1)]}).lines == (
        ReceiptLine("x", 1),
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"number": 0},
        {"number": 10_000_000},
        {"payment_method": "Tiền mặt"},
        {"lines": ()},
        {"lines": (ReceiptLine("Lệ phí", -1),)},
        {"lines": (ReceiptLine(" ", 1),)},
        {"payer": ReceiptParty("  ")},
        {"series": ""},
        {"mandate": "bad \x0b char"},
        {"related": dataclasses.replace(DOC.related, kind=3)},  # type: ignore[type-var]
        {"related": dataclasses.replace(DOC.related, number=0)},  # type: ignore[type-var]
    ],
)
def test_invalid_receipts_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ReceiptError) as err:
        dataclasses.replace(DOC, **changes)
    assert err.value.code == "invalid_receipt_data"


def test_naive_time_is_refused() -> None:
    with pytest.raises(FormError, match="timezone-aware"):
        dataclasses.replace(DOC, issued_at=dt.datetime(2026, 11, 28, 10, 5))


# --- XML -----------------------------------------------------------------------------------


def test_xml_round_trip() -> None:
    data = receipt_xml(DOC)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<BLDT>')
    assert parse_receipt_xml(data) == {
        "version": "2.0.0",
        "receipt_type": "Biên lai thu phí, lệ phí",
        "form_symbol": "01BLP0-001",
        "series": "BL-26E",
        "number": 42,
        "issued_on": dt.date(2026, 11, 28),
        "payment_method": "TM",
        "currency": "VND",
        "related": {
            "kind": 1,
            "form_symbol": "01BLP0-001",
            "series": "BL-26E",
            "number": 41,
            "issued_on": dt.date(2026, 11, 28),  # the day in Hà Nội, not in UTC
        },
        "collector": {
            "name": "UBND xã Hòa Bình",
            "tax_code": "0101234567",
            "address": "Thôn Đông, xã Hòa Bình, tỉnh Hưng Yên",
        },
        "issuer": {
            "name": "Bưu điện xã Hòa Bình",
            "tax_code": "0100109106-123",
            "address": "Số 1 đường Lê Lợi",
        },
        "mandate": MANDATE,
        "payer": {
            "name": "Nguyễn Thị Hương",
            "tax_code": "8012345678",
            "address": "Xóm Trại, xã Hòa Bình",
        },
        "lines": [
            {"no": 1, "name": "Lệ phí đăng ký khai sinh", "amount": 1_000_000},
            {"no": 2, "name": "Phí cấp bản sao trích lục", "amount": 250_000},
        ],
        "total": 1_250_000,
        "total_in_words": WORDS,
        "dossier_code": CODE,
        "procedure_code": "1.001193",
    }


def test_xml_element_layout() -> None:
    data = receipt_xml(DOC)
    for element in (
        b"<SHDon>42</SHDon>",  # no padding in the data
        b"<NLap>2026-11-28</NLap>",
        b"<TCHDon>1</TCHDon>",
        b"<SHDCLQuan>41</SHDCLQuan>",
        b"<TgTTTBSo>1250000</TgTTTBSo>",
        b"<DVTTe>VND</DVTTe>",
        b"<HTTToan>TM</HTTToan>",
    ):
        assert element in data, element
    order = [data.index(tag) for tag in (b"<NBan>", b"<NUNhiem>", b"<NMua>", b"<DSHHDVu>")]
    assert order == sorted(order)
    assert data.index(b"<TTKhac>") > data.index(b"</NDHDon>")


def test_xml_leaves_out_empty_optional_fields() -> None:
    data = receipt_xml(PLAIN)
    for absent in (b"TTHDLQuan", b"TTKhac", b"TTUNhiem"):
        assert absent not in data
    payer = ET.fromstring(data).find("DLBLai/NDHDon/NMua")  # noqa: S314 - our own output
    assert payer is not None and [child.tag for child in payer] == ["Ten"]
    parsed = parse_receipt_xml(data)
    assert parsed["related"] is None
    assert parsed["payer"] == {"name": "Lê Văn Đức", "tax_code": "", "address": ""}
    assert parsed["issuer"] == parsed["collector"]
    assert (parsed["mandate"], parsed["dossier_code"], parsed["procedure_code"]) == ("", "", "")
    assert parsed["payment_method"] == "CK"
    assert parsed["total_in_words"] == "Mười nghìn đồng"


def test_xml_escapes_user_text() -> None:
    nasty = 'Công ty <TNHH> "A & B" </Ten><Ten>x'
    doc = dataclasses.replace(
        DOC, payer=ReceiptParty(nasty, address="Số 5 & 7 <ngõ 3>"), mandate="a]]>b"
    )
    data = receipt_xml(doc)
    assert b"&lt;TNHH&gt;" in data and b"&amp; B" in data
    assert data.count(b"<Ten>") == 3
    parsed = parse_receipt_xml(data)
    assert parsed["payer"]["name"] == nasty
    assert parsed["payer"]["address"] == "Số 5 & 7 <ngõ 3>"
    assert parsed["mandate"] == "a]]>b"


def test_xml_is_nfc() -> None:
    decomposed = "Nguye\u0302\u0303n"  # "Nguyễn" with combining marks
    data = receipt_xml(dataclasses.replace(DOC, payer=ReceiptParty(decomposed)))
    assert parse_receipt_xml(data)["payer"]["name"] == "Nguyễn"


HOSTILE = [
    b'<?xml version="1.0"?>\n<!DOCTYPE BLDT [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<BLDT>&b;</BLDT>",
    b'<?xml version="1.0"?>\n<!DOCTYPE BLDT [<!ENTITY x SYSTEM "file:///etc/passwd">]><BLDT>&x;</BLDT>',
    b'<!DOCTYPE BLDT SYSTEM "http://127.0.0.1:9/receipt.dtd"><BLDT/>',
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE BLDT [<!ENTITY a "x">]><BLDT>&a;</BLDT>'.encode(
        "utf-16"
    ),
]


@pytest.mark.parametrize("data", HOSTILE, ids=["laughs", "xxe", "external-dtd", "utf16"])
def test_xml_refuses_doctype(data: bytes) -> None:
    with pytest.raises(ValueError, match="DOCTYPE or ENTITY"):
        parse_receipt_xml(data)


def test_xml_refuses_bad_input() -> None:
    good = receipt_xml(DOC)
    with pytest.raises(ValueError, match="well-formed"):
        parse_receipt_xml(good[:-20])
    with pytest.raises(ValueError, match="root must be BLDT"):
        parse_receipt_xml(b"<HDon/>")
    with pytest.raises(ValueError, match="lacks"):
        parse_receipt_xml(good.replace(b"<KHHDon>BL-26E</KHHDon>", b""))
    with pytest.raises(ValueError, match="whole number"):
        parse_receipt_xml(good.replace(b"<SHDon>42<", b"<SHDon>4x2<"))
    with pytest.raises(ValueError, match="sum of its lines"):
        parse_receipt_xml(good.replace(b"<ThTien>250000<", b"<ThTien>250001<"))
    with pytest.raises(ValueError):
        parse_receipt_xml(good.decode())  # type: ignore[arg-type]


# --- the receipt PDF ---------------------------------------------------------------------


def test_receipt_reads_back(rendered: dict[str, Path]) -> None:
    text = text_of(rendered["receipt"])
    for needle in (
        "BIÊN LAI THU PHÍ, LỆ PHÍ",
        "Ngày 28 tháng 11 năm 2026",
        "Ký hiệu mẫu: 01BLP0-001",
        "Ký hiệu: BL-26E",
        "Số: 0000042",
        "Tổ chức thu phí, lệ phí: UBND xã Hòa Bình",
        "Mã số thuế: 0101234567",
        "Đơn vị lập biên lai theo ủy nhiệm: Bưu điện xã Hòa Bình",
        MANDATE,
        "Người nộp tiền: Nguyễn Thị Hương",
        "Địa chỉ: Xóm Trại, xã Hòa Bình",
        f"Mã hồ sơ: {CODE}",
        "STT",  # a table reads back column by column
        "Tên loại phí, lệ phí",
        "Số tiền (đồng)",
        "Lệ phí đăng ký khai sinh",
        "1.000.000",
        "250.000",
        "Tổng số tiền: 1.250.000 đồng",
        f"Số tiền bằng chữ: {WORDS}",
        "Hình thức thanh toán: Tiền mặt",
        "Biên lai thay thế cho biên lai số 0000041, ký hiệu mẫu 01BLP0-001, ký hiệu BL-26E, "
        "ngày 28/11/2026",
        "Biên lai điện tử - Ký hiệu BL-26E - Số 0000042 - Trang 1/1",
    ):
        assert needle in text, f"{needle!r} missing:\n{text}"
    assert "ĐÃ HỦY" not in text


def test_plain_receipt_has_no_mandate_or_replacement(rendered: dict[str, Path]) -> None:
    text = text_of(rendered["plain"])
    assert "Người nộp tiền: Lê Văn Đức" in text
    assert "Hình thức thanh toán: Chuyển khoản" in text
    assert "Số tiền bằng chữ: Mười nghìn đồng" in text
    for absent in ("ủy nhiệm", "thay thế", "Mã hồ sơ", "ĐÃ HỦY"):
        assert absent not in text


def test_voided_receipt_shows_a_red_note(rendered: dict[str, Path]) -> None:
    text = text_of(rendered["voided"])
    assert VOID_NOTE in text and "thay thế" not in text
    assert red_pixels(rendered["voided"]) > 200
    assert red_pixels(rendered["receipt"]) == 0


def test_receipt_qr(rendered: dict[str, Path]) -> None:
    code = page_qr(rendered["receipt"])
    assert code.ec_level == "M"
    assert code.text == receipt_qr_payload(DOC)
    assert json.loads(code.text) == {
        "tieu_de": "BIÊN LAI THU PHÍ, LỆ PHÍ",
        "ky_hieu_mau": "01BLP0-001",
        "ky_hieu": "BL-26E",
        "so": 42,
        "thoi_gian": "2026-11-28T10:05:42+07:00",
        "tong_tien": 1_250_000,
        "nguoi_nop": "Nguyễn Thị Hương",
        "ma_ho_so": CODE,
        "ma_tthc": "1.001193",
        "he_thong": "sohoa",
    }
    plain = json.loads(page_qr(rendered["plain"]).text)
    assert plain["ma_ho_so"] == "" and "ma_tthc" not in plain


def test_system_name_reaches_qr_and_metadata(tmp_path: Path) -> None:
    path = render_receipt_pdf(PLAIN, tmp_path / "r.pdf", system_name="Một cửa Hưng Yên")
    assert json.loads(page_qr(path).text)["he_thong"] == "Một cửa Hưng Yên"
    with pikepdf.open(path) as pdf:
        assert str(pdf.docinfo["/Creator"]) == "Một cửa Hưng Yên"


# --- the other papers ----------------------------------------------------------------------


def test_return_record_reads_back(rendered: dict[str, Path]) -> None:
    text = text_of(rendered["return"])
    for needle in (
        RETURN_RECORD_TITLE,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Hòa Bình, ngày 28 tháng 11 năm 2026",
        f"Mã hồ sơ: {CODE}",
        "Hôm nay, vào lúc 16 giờ 15 phút, ngày 30 tháng 11 năm 2026",
        "Bên nhận: Nguyễn Thị Lan",
        "Số giấy tờ tùy thân: 001190054321",
        "Quan hệ với người nộp hồ sơ: Người được ủy quyền",
        "Hồ sơ của: Nguyễn Văn An",
        "Số CCCD: 001090012345",
        "Đăng ký khai sinh (mã 1.001193)",
        "Giấy khai sinh (bản chính)",
        "Trích lục khai sinh (bản sao)",
        "Tên giấy tờ, kết quả giải quyết",
        "BÊN NHẬN",
        "BÊN GIAO",
        "Trần Thị Bích",
    ):
        assert needle in text, f"{needle!r} missing:\n{text}"


def test_return_record_qr_follows_forms_conventions(rendered: dict[str, Path]) -> None:
    expected = json.loads(qr_payload("03", CTX))
    expected["tieu_de"] = RETURN_RECORD_TITLE
    assert json.loads(page_qr(rendered["return"]).text) == expected


def test_return_record_needs_its_data(tmp_path: Path) -> None:
    good = {
        "results": RESULTS,
        "recipient_name": "Nguyễn Thị Lan",
        "recipient_id": "001190054321",
        "relation": "Chính chủ",
        "handed_at": ISSUED,
        "out": tmp_path / "r.pdf",
    }
    for key, bad in (
        ("results", [" ", ""]),
        ("recipient_name", " "),
        ("relation", ""),
        ("handed_at", dt.datetime(2026, 11, 30, 9, 15)),
    ):
        with pytest.raises(FormError):
            render_return_record(CTX, **{**good, key: bad})  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_reconciliation_spans_pages(rendered: dict[str, Path]) -> None:
    path = rendered["reconciliation"]
    with pikepdf.open(path) as pdf:
        pages = len(pdf.pages)
    assert pages >= 2
    text = text_of(path)
    for needle in (
        RECONCILIATION_TITLE,
        "BƯU ĐIỆN XÃ HÒA BÌNH",
        "Ngày 28 tháng 11 năm 2026",
        "Người thu tiền: Trần Thị Bích",
        "0000100",
        "0000159",
        "Hoàng Thị Yến Nhi",
        "600.000",  # row 60
        "Đã lập",
        "Đã hủy",
        "Lập thay thế",
        "Chuyển khoản",
        "Số biên lai đã lập: 45",
        "Số biên lai đã hủy: 15",
        "Số tiền thu - Tiền mặt: 7.000.000 đồng",
        "Số tiền thu - Chuyển khoản: 5.250.000 đồng",
        "Tổng số tiền đã thu: 12.250.000 đồng",
        "NGƯỜI LẬP BẢNG",
        f"Trang {pages}/{pages}",
    ):
        assert needle in text, f"{needle!r} missing:\n{text}"
    second = text_of(path, page_numbers=[1])
    assert "STT Ký hiệu Số Người nộp Số tiền (đồng) Hình thức Trạng thái" in second


def test_reconciliation_refuses_unknown_codes(tmp_path: Path) -> None:
    args = {
        "unit_name": "Bưu điện xã Hòa Bình",
        "staff_name": "Trần Thị Bích",
        "day": dt.date(2026, 11, 28),
        "totals": {"TM": 1},
        "issued_count": 1,
        "voided_count": 0,
        "out": tmp_path / "r.pdf",
    }
    for row in (
        ("BL-26E", 1, "A", 1, "TM", "cancelled"),
        ("BL-26E", 1, "A", 1, "tiền mặt", "issued"),
        ("BL-26E", 1, "A", -1, "TM", "issued"),
        ("BL-26E", 0, "A", 1, "TM", "issued"),
    ):
        with pytest.raises(ReceiptError):
            render_reconciliation(rows=[row], **args)  # type: ignore[arg-type]
    with pytest.raises(ReceiptError):
        render_reconciliation(rows=[], **{**args, "totals": {"XX": 1}})  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_reconciliation_takes_the_cashiers_method_codes(tmp_path: Path) -> None:
    path = render_reconciliation(
        unit_name="Bưu điện xã Hòa Bình",
        staff_name="Trần Thị Bích",
        day=dt.date(2026, 11, 28),
        rows=[("BL-26E", 7, "Lê Văn Đức", 10_000, "transfer", "issued")],
        totals={"cash": 0, "transfer": 10_000},
        issued_count=1,
        voided_count=0,
        out=tmp_path / "r.pdf",
    )
    text = text_of(path)
    assert "Chuyển khoản" in text and "Số tiền thu - Tiền mặt: 0 đồng" in text


# --- every PDF -----------------------------------------------------------------------------

ALL = ("receipt", "plain", "voided", "return", "reconciliation")


@pytest.mark.parametrize("name", ALL)
def test_fonts_embedded_and_a4(rendered: dict[str, Path], name: str) -> None:
    with pikepdf.open(rendered[name]) as pdf:
        box = [float(v) for v in pdf.pages[0].MediaBox]
        assert box == pytest.approx([0, 0, 210 * MM, 297 * MM], abs=0.01)
        fonts = [
            obj
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font"
        ]
        leaves = [f for f in fonts if f.get("/Subtype") != "/Type0"]
        assert len(leaves) == 2
        for font in leaves:
            assert "/FontFile2" in font.FontDescriptor, font.get("/BaseFont")
            assert str(font.FontDescriptor.FontName).endswith(("+NotoSans", "+NotoSansBold"))


@pytest.mark.parametrize("name", ALL)
def test_signature_area_is_blank(rendered: dict[str, Path], name: str) -> None:
    x0, y0, x1, y1 = SIGNATURE_AREA_MM
    assert x1 - x0 >= 75 and y1 - y0 >= 25  # room for the unit's 75x25 mm signature
    dpi = 100
    image = page_image(rendered[name], dpi=dpi).convert("L")
    px = dpi / 25.4
    area = image.crop((round(x0 * px), round(y0 * px), round(x1 * px) - 1, round(y1 * px)))
    assert area.getextrema() == (255, 255)


def test_metadata(rendered: dict[str, Path]) -> None:
    with pikepdf.open(rendered["receipt"]) as pdf:
        assert str(pdf.docinfo["/Title"]) == "BIÊN LAI THU PHÍ, LỆ PHÍ"
        assert str(pdf.docinfo["/Author"]) == "UBND xã Hòa Bình"
        assert str(pdf.docinfo["/Subject"]) == "Biên lai ký hiệu BL-26E số 0000042"
        assert str(pdf.docinfo["/CreationDate"]).startswith("D:20261128100542")
    with pikepdf.open(rendered["return"]) as pdf:
        assert str(pdf.docinfo["/Title"]) == RETURN_RECORD_TITLE
    with pikepdf.open(rendered["reconciliation"]) as pdf:
        assert str(pdf.docinfo["/Title"]) == RECONCILIATION_TITLE


def test_rendering_is_deterministic(rendered: dict[str, Path], tmp_path: Path) -> None:
    again = render_receipt_pdf(DOC, tmp_path / "receipt.pdf")
    assert again.read_bytes() == rendered["receipt"].read_bytes()


def test_missing_font_is_reported(tmp_path: Path) -> None:
    fonts = Fonts(tmp_path / "no-such-dir")
    with pytest.raises(FontMissingError, match="fonts-noto-core") as err:
        render_receipt_pdf(DOC, tmp_path / "r.pdf", fonts=fonts)
    assert err.value.code == "font_missing"
    with pytest.raises(FontMissingError):
        render_reconciliation(
            unit_name="Bưu điện xã Hòa Bình",
            staff_name="Trần Thị Bích",
            day=dt.date(2026, 11, 28),
            rows=[],
            totals={},
            issued_count=0,
            voided_count=0,
            out=tmp_path / "dc.pdf",
            fonts=fonts,
        )
    with pytest.raises(FontMissingError):
        render_return_record(
            dataclasses.replace(CTX, fonts=fonts),
            results=RESULTS,
            recipient_name="Nguyễn Thị Lan",
            recipient_id="001190054321",
            relation="Người được ủy quyền",
            handed_at=dt.datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
            out=tmp_path / "bb.pdf",
        )
    assert not list(tmp_path.iterdir())


# --- signing -------------------------------------------------------------------------------


def test_signed_receipt_verifies(
    rendered: dict[str, Path],
    dev_pki: DevPki,
    stamp_font: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    result = sign_form(
        rendered["receipt"],
        tmp_path / "receipt-signed.pdf",
        signer=DocumentSigner(stamp_font),
        backend=Pkcs12Backend(dev_pki.unit_p12, DEV_PASSWORD.encode()),
        unit_name=dev_pki.unit_name,
        location="Hòa Bình",
    )
    report = verify_pdf(result.path, trust_roots=trust_roots, expected_sha256=result.sha256)
    assert report.ok, report.to_dict()
    with pikepdf.open(result.path) as pdf:
        (widget,) = [a for a in pdf.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig"]
        llx, lly, urx, ury = (float(v) for v in widget.Rect)
    x0, y0, x1, y1 = SIGNATURE_AREA_MM
    assert llx >= x0 * MM and urx <= x1 * MM
    assert ury <= (297 - y0) * MM and lly >= (297 - y1) * MM
    assert page_qr(result.path).text == receipt_qr_payload(DOC)  # still readable once stamped
    assert "Số: 0000042" in text_of(result.path)
