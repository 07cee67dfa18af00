"""extract_fields on realistic OCR output, noise included (no Tesseract needed)."""

from __future__ import annotations

import pytest

from ocr.extract import ExtractedFields, detect_language, extract_fields, strip_accents

# What Tesseract made of the corpus scan administrative_documents.jpg (two-column header merged
# into lines, stamped digits misread, accents lost): the fields must survive it.
ADMIN_OCR = """\
'VIỆN KIỂM SÁT NHÂN DÂN _ CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
TỐI CAO Độc lập - Tự do - Hạnh phúc
só£86/QÐ-VKSTC Hà Nội, ngày ( tháng “năm 2019
QUYÉT ĐỊNH
Ban hành Quy định về quy trình kiểm sát
- Căn cứ Luật Tổ tụng hành chính ngày 25 tháng I1 năm 2015;
- Căn cứ Luật Tổ chức Viện kiểm sát nhân dân ngày 24 tháng II năm 2014;
QUYÉT ĐỊNH:
Điều 1. Ban hành kèm theo Quyết định này Quy định về quy trình kiểm sát.
"""

UBND_LETTER = """\
ỦY BAN NHÂN DÂN
HUYỆN GIA LÂM
Số: 123/UBND-VP
V/v tiếp nhận hồ sơ qua bưu điện
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Gia Lâm, ngay 5 thang 3 nam 2020
Kính gửi: Bưu điện huyện Gia Lâm
Căn cứ Nghị định số 61/2018/NÐ-CP và Thông tư số 01/2018/TT-VPCP, Ủy ban nhân dân huyện
đề nghị Bưu điện phối hợp tiếp nhận hồ sơ của người dân.
"""

BIRTH = """\
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
GIẤY KHAI SINH
Họ, chữ đệm, tên: NGUYỄN THỊ HƯƠNG GIANG
Ngày, tháng, năm sinh: 21/08/2016
Số định danh cá nhân: 027316004589
Họ, chữ đệm, tên người mẹ: Trần Thị Thu Hà, CCCD số 027 190 001 234
Điện thoại: 0912 345 678; số tài khoản 019123456789
"""


def test_administrative_decision_with_ocr_noise() -> None:
    f = extract_fields([ADMIN_OCR])
    assert f.document_numbers == ("286/QĐ-VKSTC",)  # "£" is what the stamped 2 became
    assert f.issuing_body == "VIỆN KIỂM SÁT NHÂN DÂN TỐI CAO"
    assert f.document_type == "QUYẾT ĐỊNH"  # "QUYÉT" lost its accent
    assert f.dates == ("2015-11-25", "2014-11-24")  # "I1" and "II" read as 11
    assert f.language == "vi"
    assert f.id_numbers == ()


def test_official_letter_without_title_is_a_cong_van() -> None:
    f = extract_fields([UBND_LETTER])
    assert f.issuing_body == "ỦY BAN NHÂN DÂN HUYỆN GIA LÂM"
    assert f.document_numbers == ("123/UBND-VP", "61/2018/NĐ-CP", "01/2018/TT-VPCP")
    assert f.document_type == "CÔNG VĂN"
    assert f.dates == ("2020-03-05",)  # "ngay ... thang ... nam" without diacritics


def test_birth_certificate_ids_but_not_phone_or_account_numbers() -> None:
    f = extract_fields([BIRTH])
    assert f.document_type == "GIẤY KHAI SINH"
    assert f.id_numbers == ("027316004589", "027190001234")
    assert f.dates == ("2016-08-21",)
    assert f.issuing_body is None  # the motto is not an issuer


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("CCCD: 001203004567", ("001203004567",)),
        ("CCCD 001 203 004 567 cấp ngày", ("001203004567",)),
        ("CCCD 001.203.004.567", ("001203004567",)),
        ("mã 0012030045678 (13 chữ số)", ()),  # inside a longer run
        ("số 10012030045 67", ()),
        ("001 203 004 567 890", ()),  # a longer grouping is not an ID
        ("001 203.004 567", ()),  # mixed separators: ambiguous
        ("ĐT 001203004567", ()),  # phone context
        ("STK: 001203004567", ()),  # bank account context
        ("999203004567", ()),  # 999 is no province code
        ("+84 912 345 678", ()),
        ("0222 3821 456", ()),
        ("CMND 027190001234, CCCD 027190001234", ("027190001234",)),
    ],
)
def test_id_numbers(text: str, ids: tuple[str, ...]) -> None:
    assert extract_fields([text]).id_numbers == ids


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("ngày 12 tháng 3 năm 2019", ("2019-03-12",)),
        ("ngày 05 tháng 03 năm 2019", ("2019-03-05",)),
        ("NGÀY 7 THÁNG 7 NĂM 2019", ("2019-07-07",)),
        ("ngay 1 thang 10 nam 2020", ("2020-10-01",)),
        ("ngàv 08 thảng 7 nảm 2019", ("2019-07-08",)),  # OCR swaps accents and y/v
        ("ngày 30 tháng 2 năm 2019", ()),  # not a real date
        ("12/03/2019 và 12.03.2019 và 12-3-2019", ("2019-03-12",)),  # one date, deduplicated
        ("5/3/2020", ("2020-03-05",)),
        ("12/2020/NĐ-CP", ()),  # a document number, not a date
        ("12/03/2019/NĐ", ()),
        ("12/03-2019", ()),  # mixed separators
        ("31/12/1899", ()),  # out of range
        ("sinh 21/08/2016, cấp 02-01-2021", ("2016-08-21", "2021-01-02")),
    ],
)
def test_dates(text: str, dates: tuple[str, ...]) -> None:
    assert extract_fields([text]).dates == dates


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Số: 286/QĐ-VKSTC", ("286/QĐ-VKSTC",)),
        ("Số 286/QÐ-VKSTC", ("286/QĐ-VKSTC",)),  # Eth for Đ
        ("Số: 286/QD-VKSTC", ("286/QĐ-VKSTC",)),  # lost stroke
        ("Nghị định 12/2020/NĐ-CP", ("12/2020/NĐ-CP",)),
        ("Thông tư số 01/2018/TT-VPCP", ("01/2018/TT-VPCP",)),
        ("Số: 123/UBND-VP", ("123/UBND-VP",)),
        ("Tờ trình số 45/TTr-VP", ("45/TTr-VP",)),
        ("Số: 45 / TB - UBND", ("45/TB-UBND",)),
        ("SốI5/QĐ-UBND", ("15/QĐ-UBND",)),  # look-alike digit after "Số"
        ("ngày 12/03/2019", ()),
        ("V/v tiếp nhận", ()),
        ("ảnh 4x6 cm, 3/4 trang", ()),
        ("Sổ ABC/QĐ-UBND", ()),  # no digit at all
    ],
)
def test_document_numbers(text: str, numbers: tuple[str, ...]) -> None:
    assert extract_fields([text]).document_numbers == numbers


@pytest.mark.parametrize(
    ("text", "doc_type"),
    [
        ("UBND XÃ A\nSố: 1/TB-UBND\nTHÔNG BÁO\nVề việc ...", "THÔNG BÁO"),
        ("TỜ TRÌNH\nVề việc phê duyệt", "TỜ TRÌNH"),
        ("GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT", "GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT"),
        ("GIAY KHAI SINH\n(Bản chính)", "GIẤY KHAI SINH"),
        ("ĐƠN ĐỀ NGHỊ CẤP BẢN SAO GIẤY TỜ", "ĐƠN ĐỀ NGHỊ"),
        ("ĐƠN VỊ: UBND XÃ A\nSố: 12/KH-UBND\nkế hoạch ...", "KẾ HOẠCH"),  # from the symbol
        ("Quyết định này có hiệu lực", None),  # lower-case prose is not a title
    ],
)
def test_document_type(text: str, doc_type: str | None) -> None:
    assert extract_fields([text]).document_type == doc_type


def test_issuing_body_takes_at_most_two_header_lines() -> None:
    text = "SỞ TƯ PHÁP\nTỈNH BẮC NINH\nPHÒNG CÔNG CHỨNG SỐ 1\nSố: 7/TB-STP\n"
    assert extract_fields([text]).issuing_body == "SỞ TƯ PHÁP TỈNH BẮC NINH"
    assert extract_fields(["Ủy ban nhân dân tỉnh\nSố: 1/TB"]).issuing_body is None


def test_fields_come_from_all_pages_but_header_from_page_one() -> None:
    pages = ["BỘ TƯ PHÁP\nSố: 9/QĐ-BTP\nQUYẾT ĐỊNH", "Phụ lục\nngày 01 tháng 02 năm 2021"]
    f = extract_fields(pages)
    assert f.issuing_body == "BỘ TƯ PHÁP"
    assert f.dates == ("2021-02-01",)


def test_to_dict_is_json_ready() -> None:
    f = extract_fields([BIRTH])
    d = f.to_dict()
    assert d["id_numbers"] == ["027316004589", "027190001234"]
    assert d["document_type"] == "GIẤY KHAI SINH"
    assert set(d) == {
        "id_numbers",
        "dates",
        "document_numbers",
        "issuing_body",
        "document_type",
        "language",
    }
    assert extract_fields([]) == ExtractedFields()


def test_language_and_accents() -> None:
    assert detect_language("Căn cứ Luật Tổ chức của Chính phủ và các Bộ, ngày 12 tháng 3") == "vi"
    assert detect_language("The quick brown fox jumps over the lazy dog in the park") == "en"
    assert detect_language("1234 5678") == "und"
    assert strip_accents("Quyết định Đồng Kỵ") == "Quyet dinh Dong Ky"
