"""The messages, as data: one entry per event kind, an e-mail (subject and body) and a short text
for SMS and Zalo, in Vietnamese.

Placeholders are filled by :mod:`connect.notify.render` from the dossier's rows at delivery
time; a part that may be missing (the papers to bring, a tracking number) arrives as a whole
line, or empty. The texts name the unit and the dossier and never the person: no name, ID
number, phone or address, nothing the receipt does not already show. Every citizen message
ends with the status link and how to stop the messages; the short texts are kept to a few SMS
segments (Vietnamese needs Unicode SMS, 70 characters a segment, 67 when joined).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Template:
    subject: str
    email: str
    short: str


EMAIL_FOOTER = """
{lookup_email}

--
{unit}
Thư gửi tự động, xin không trả lời thư này.
Ông/Bà nhận thư vì đã đồng ý nhận thông báo khi nộp hồ sơ. Để ngừng nhận thông báo về hồ sơ này: {optout_url}
"""
SHORT_FOOTER = "{lookup_short} Ngừng nhận tin: {optout_url}"

_CITIZEN = {
    "dossier.receive": Template(
        subject="Hồ sơ {code} đã được tiếp nhận – hẹn trả kết quả {appointment}",
        email="""Kính gửi Ông/Bà,

{unit} đã tiếp nhận hồ sơ của Ông/Bà.

Mã hồ sơ: {code}
Thủ tục: {procedure}
Ngày hẹn trả kết quả: {appointment}
Nhận kết quả: {collect}
""",
        short="{unit}: đã tiếp nhận hồ sơ {code}, hẹn trả kết quả {appointment}.",
    ),
    "dossier.request_supplement": Template(
        subject="Hồ sơ {ref_label}: đề nghị bổ sung giấy tờ",
        email="""Kính gửi Ông/Bà,

{unit} đề nghị Ông/Bà bổ sung giấy tờ cho hồ sơ {ref_label} (thủ tục: {procedure}).

{missing_email}Lý do: {reason}
Nơi nộp bổ sung: {where}
Thời gian giải quyết được tính lại từ khi nhận đủ giấy tờ bổ sung.
""",
        short="{unit}: hồ sơ {ref_label} cần bổ sung {missing_short}. Nộp tại Bộ phận Một cửa.",
    ),
    "dossier.refuse": Template(
        subject="Hồ sơ thủ tục {procedure_code} không được tiếp nhận",
        email="""Kính gửi Ông/Bà,

{unit} không tiếp nhận hồ sơ của Ông/Bà (thủ tục: {procedure}).

Lý do: {reason}

Ông/Bà có thể hoàn thiện hồ sơ và nộp lại, hoặc hỏi Bộ phận Một cửa để được hướng dẫn.
""",
        short="{unit}: hồ sơ thủ tục {procedure_code} không được tiếp nhận. Lý do: {reason_short}.",
    ),
    "dossier.apology": Template(
        subject="Hồ sơ {code}: thư xin lỗi và hẹn lại ngày trả kết quả {new_date}",
        email="""Kính gửi Ông/Bà,

{unit} thành thật xin lỗi Ông/Bà: hồ sơ {code} (thủ tục: {procedure}) không giải quyết kịp ngày hẹn {old_date}.

Lý do: {reason}
Ngày hẹn trả kết quả mới: {new_date}
""",
        short="{unit} xin lỗi: hồ sơ {code} chậm hẹn, hẹn trả kết quả mới {new_date}.",
    ),
    "dossier.await_payment": Template(
        subject="Hồ sơ {code}: đề nghị nộp phí, lệ phí {amount}",
        email="""Kính gửi Ông/Bà,

Hồ sơ {code} (thủ tục: {procedure}) đang chờ Ông/Bà thực hiện nghĩa vụ tài chính.

Số tiền cần nộp: {amount}
{fee_lines}Nơi nộp: {where}
Hồ sơ được giải quyết tiếp khi đã nộp đủ.
""",
        short="{unit}: hồ sơ {code} cần nộp phí, lệ phí {amount} để giải quyết tiếp.",
    ),
    "dossier.finish": Template(
        subject="Hồ sơ {code}: đã có kết quả",
        email="""Kính gửi Ông/Bà,

Hồ sơ {code} (thủ tục: {procedure}) đã được giải quyết xong.

{pickup}
{fees_due_line}""",
        short="{unit}: hồ sơ {code} đã có kết quả. {pickup_short}",
    ),
    "dossier.posted": Template(
        subject="Hồ sơ {code}: kết quả đã được gửi qua bưu chính",
        email="""Kính gửi Ông/Bà,

Kết quả hồ sơ {code} (thủ tục: {procedure}) đã được gửi đến Ông/Bà qua dịch vụ bưu chính công ích, theo địa chỉ đã đăng ký.
{tracking_email}""",
        short="{unit}: kết quả hồ sơ {code} đã gửi qua bưu chính{tracking_short}.",
    ),
}
CITIZEN = MappingProxyType(_CITIZEN)

# Zalo sends only templates the OA registered with Zalo (ZNS), each naming its parameters; the
# province registers one per kind with these parameter names, and maps kind to template id in
# SOHOA_ZALO_TEMPLATES. Each parameter is filled from the value named beside it (what the
# short text says, without the free text around it). Every template has the unit, the dossier
# and the two links; the rest depends on the kind.
_ZNS_COMMON = {"don_vi": "unit", "ma_ho_so": "ref_label", "tra_cuu": "status_url", "ngung_nhan": "optout_url"}  # fmt: skip
ZNS_PARAMS = MappingProxyType(
    {
        "dossier.receive": {**_ZNS_COMMON, "thu_tuc": "procedure", "ngay_hen": "appointment"},
        "dossier.request_supplement": {**_ZNS_COMMON, "giay_to": "missing_short"},
        "dossier.refuse": {**_ZNS_COMMON, "thu_tuc": "procedure", "ly_do": "reason_short"},
        "dossier.apology": {**_ZNS_COMMON, "ngay_hen": "new_date", "ly_do": "reason_short"},
        "dossier.await_payment": {**_ZNS_COMMON, "so_tien": "amount"},
        "dossier.finish": {**_ZNS_COMMON, "nhan_ket_qua": "pickup_short"},
        "dossier.posted": {**_ZNS_COMMON, "so_hieu": "tracking"},
    }
)
ZNS_TEXT_MAX = 100  # characters of a text parameter; links are never cut

# Where the result is collected (``Dossier.collect_at``), for "finish" and "receive".
PICKUP = MappingProxyType(
    {
        "counter": (
            "Mời Ông/Bà đến nhận kết quả tại {where}, mang theo phiếu tiếp nhận hồ sơ và giấy tờ "
            "tùy thân.",
            "Mời nhận tại Bộ phận Một cửa.",
        ),
        "post": (
            "Kết quả sẽ được gửi đến Ông/Bà qua dịch vụ bưu chính công ích, theo địa chỉ đã "
            "đăng ký.",
            "Kết quả sẽ gửi qua bưu chính.",
        ),
        "online": (
            "Kết quả sẽ được gửi đến Ông/Bà dưới dạng đường liên kết để tải về; trang tra cứu "
            "cho biết khi nào đã gửi.",
            "Kết quả sẽ gửi bằng đường liên kết.",
        ),
    }
)
COLLECT = MappingProxyType(
    {
        "counter": "tại Bộ phận Một cửa",
        "post": "qua dịch vụ bưu chính công ích",
        "online": "trực tuyến (đường liên kết tải kết quả)",
    }
)

# The staff's alert (the e-mail subscriber's other audience): no footer, a link to the desk.
STAFF = MappingProxyType(
    {
        "dossier.deadline_near": Template(
            subject="[{alert}] Hồ sơ {code} – hạn trả kết quả {due}",
            email="""Hồ sơ {code} (thủ tục: {procedure}) {when}.

Hạn trả kết quả: {due}
Trạng thái: {status_label}
Đang giải quyết tại: {holder}
Xem hồ sơ: {staff_url}

Không kịp hạn thì cơ quan đang giải quyết lập văn bản xin lỗi và hẹn lại ngày trả kết quả (mẫu 04) trước ngày hẹn.

--
Thư gửi tự động từ {system}.
""",
            short="",
        ),
    }
)
