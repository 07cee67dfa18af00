"""The portal's JSON, built from a :class:`~connect.dvcqg.snapshot.DossierSnapshot`.

A builder is a pure function of the snapshot (and of the ids the portal gave our files), so it
is swapped per province without touching the database or the HTTP flow: the catalogues that
differ between sources (``LoaiDoiTuong``, ``LoaiBan``, how the result is handed back) live in a
builder, and ``dvcqg_builder`` (province code -> builder name) picks one; the others use
``default``.

Shapes (domain notes §4.3; the field names are those of one province's production sync code
``SyncLocalDataToDVCQG``, the catalogues partly from a ministry's integration playground). Only
the documented fields are sent, none of ours beside them. All unverified against the official
DVCQG specification, in particular:

- every value is sent as a string, as that province's DTO declares them (the playground sends
  ``TrangThai`` as a number);
- dates are ``yyyyMMddHHmmss`` in Vietnam time (that province's code; the playground shows
  ``yyyy-MM-dd HH:mm:ss`` and ``yyyy-MM-ddTHH:mm:ss.fff``), "" when not yet known;
- ``LoaiDoiTuong`` 1 citizen / 2 enterprise (default) or 0 citizen / 1 enterprise ("dvc-bo");
  ``HinhThuc`` 0 at the counter / 1 by post / 2 online; ``NoiNopHoSo`` "2" (filed at the local
  one-stop system); ``DinhDanhCHS`` ``LoaiDinhDanh`` "1" for a 12-digit CCCD only;
- ``MaThanhPhanHoSo`` is our component key (the national component code is not in our catalog);
  ``DuongDanTaiTepTin`` / ``DuongDanTepTinKetQua`` are empty because the file travels by upload
  (``TepDinhKemId`` / ``GiayToId``), not by a download link the portal would fetch;
- the field names inside ``DanhSachHoSoBoSung`` come from that province's DTO only;
- the status payload (MaHoSo, TrangThai, plus ``DanhSachLePhi`` at 6 and
  ``DanhSachGiayToKetQua`` at 9 and 10) follows the playground's sample.

The applicant's name, ID number, phone and e-mail go into the dossier payload because the
portal needs the applicant; nothing here logs a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from connect.dvcqg.client import UploadedFile
from connect.dvcqg.snapshot import DossierSnapshot, FileRef, Step
from dossiers.calendar import VN_TZ

PORTAL_TIME = "%Y%m%d%H%M%S"  # "yyyyMMddHHmmss", unverified (see the module docstring)
# Statuses whose status payload carries the result papers and the fees due.
RESULT_STATUSES = frozenset({9, 10})
FEE_STATUSES = frozenset({6})
_PERSON_CHARS = 50  # NguoiXuLy is cut at 50 characters by the province's sync code

HINH_THUC_THU = {"receipt": "1", "supplement": "2", "assessed": "2", "return": "4"}
HINH_THUC_TRA = {"counter": "0", "post": "1", "online": "2"}
TITLES = {
    "counter": "Cán bộ tiếp nhận và trả kết quả",
    "agency": "Chuyên viên xử lý",
    "admin": "Quản trị hệ thống",
}
# What each step says on the portal's timeline (NoiDungXuLy), by action.
CONTENT = {
    "receive": "Tiếp nhận hồ sơ",
    "reuse": "Sử dụng lại giấy tờ từ kho dữ liệu",
    "payment": "Thu phí, lệ phí",
    "receipt_void": "Hủy biên lai thu phí, lệ phí",
    "await_payment": "Yêu cầu thực hiện nghĩa vụ tài chính",
    "paid": "Đã thực hiện nghĩa vụ tài chính",
    "paid_before_routing": "Đã thực hiện nghĩa vụ tài chính",
    "route": "Chuyển hồ sơ đến cơ quan giải quyết",
    "take": "Cơ quan giải quyết nhận hồ sơ",
    "forward": "Chuyển hồ sơ liên thông đến cơ quan tiếp theo",
    "request_supplement": "Yêu cầu bổ sung hồ sơ",
    "supplement_received": "Công dân đã bổ sung hồ sơ",
    "supplement_agency": "Công dân đã bổ sung hồ sơ",
    "supplement_counter": "Công dân đã bổ sung hồ sơ",
    "apology": "Xin lỗi và hẹn lại ngày trả kết quả",
    "finish": "Đã xử lý xong, chuyển kết quả về Bộ phận Một cửa",
    "posted": "Gửi kết quả qua bưu chính công ích",
    "return": "Trả kết quả",
    "withdraw": "Công dân rút hồ sơ",
    "stop": "Dừng xử lý hồ sơ",
    "document.digitized": "Số hóa giấy tờ",
}
# Reasons that are the step's content (what to supplement, why it stopped); other reasons
# (a recipient's name on return) stay in our history.
SAYS_WHY = frozenset({"request_supplement", "apology", "withdraw", "stop", "await_payment"})

Files = Mapping[str, UploadedFile]  # document sha256 -> what the portal calls it


def portal_time(value: datetime | None) -> str:
    """A moment as the portal reads it (Vietnam time), or "" when there is none."""
    if value is None:
        return ""
    return value.astimezone(VN_TZ).strftime(PORTAL_TIME)


class PayloadBuilder(Protocol):
    """Turns a snapshot into the portal's payloads; one per catalogue variant."""

    name: str

    def files(self, snap: DossierSnapshot) -> list[FileRef]:
        """The files the dossier payload refers to (uploaded first, once each)."""
        ...

    def dossier(self, snap: DossierSnapshot, ma_ho_so: str, files: Files) -> dict[str, Any]:
        """HoSo for NoiHoSo."""
        ...

    def progress(self, snap: DossierSnapshot, ma_ho_so: str, step: Step) -> dict[str, Any]:
        """One entry of CapNhatTienTrinh."""
        ...

    def status(
        self, snap: DossierSnapshot, ma_ho_so: str, status: int, files: Files
    ) -> dict[str, Any]:
        """One entry of CapNhatTrangThai."""
        ...


class DefaultBuilder:
    """The shape of §4.3 with the catalogue of the province whose sync code it was read from."""

    name = "default"

    # -- catalogues a province may differ on -------------------------------------------------

    def subject_type(self, snap: DossierSnapshot) -> str:
        """LoaiDoiTuong: 1 citizen, 2 enterprise (3 state agency, 4 other organisation)."""
        return "2" if snap.applicant_id_type == "MST" else "1"

    def identities(self, snap: DossierSnapshot) -> list[dict[str, str]]:
        """DinhDanhCHS: the applicant's personal identification number, when it is one."""
        number = snap.applicant_id_number
        if snap.applicant_id_type == "CCCD" and len(number) == 12 and number.isdigit():
            return [{"LoaiDinhDanh": "1", "SoDinhDanh": number}]
        return []

    def return_form(self, snap: DossierSnapshot) -> str:
        """HinhThuc: how the result is handed back, as the citizen chose at the counter."""
        return HINH_THUC_TRA.get(snap.return_channel or snap.collect_at, "0")

    def return_info(self, snap: DossierSnapshot) -> str:
        """ThongTinTra: how it was handed back (no recipient's name: that stays with us)."""
        if snap.returned_at is None:
            return ""
        if snap.return_channel == "post":
            return f"Trả qua bưu chính công ích, số hiệu bưu gửi {snap.tracking_number}"
        if snap.return_channel == "online":
            return "Trả kết quả điện tử qua đường liên kết"
        return "Trả trực tiếp tại Bộ phận Một cửa"

    # -- the payloads --------------------------------------------------------------------------

    def files(self, snap: DossierSnapshot) -> list[FileRef]:
        seen: dict[str, FileRef] = {}
        for p in snap.papers:
            if p.file is not None:
                seen.setdefault(p.file.sha256, p.file)
        if snap.status in RESULT_STATUSES:
            for r in snap.results:
                if r.file is not None:
                    seen.setdefault(r.file.sha256, r.file)
        return list(seen.values())

    def papers(self, snap: DossierSnapshot, files: Files) -> list[dict[str, str]]:
        out = []
        for p in snap.papers:
            if p.file is None:
                continue  # brought on paper only: nothing to attach
            out.append(
                {
                    "TepDinhKemId": files[p.file.sha256].id,
                    "TenTepDinhKem": p.name,
                    "IsDeleted": "0",
                    "MaThanhPhanHoSo": p.key,
                    "DuongDanTaiTepTin": "",
                    "DuocSoHoa": "1" if p.digitized else "0",
                    "DuocTaiSuDung": str(p.reuse_flag),
                    "DuocLayTuKhoDMQG": "0",  # our repository is the province's, not the DVCQG's
                    "MaKetQuaThayThe": p.replaced_by_code if p.reuse_flag == 2 else "",
                }
            )
        return out

    def fees(self, snap: DossierSnapshot, *, paid: bool) -> list[dict[str, str]]:
        return [
            {
                "TenPhiLePhi": f.name,
                "MaPhiLePhi": f.code,
                "HinhThucThu": HINH_THUC_THU.get(f.collect_at, "1"),
                "Gia": str(f.amount),
                "LoaiPhiLePhi": "1",  # "phí, lệ phí thông thường"
            }
            for f in snap.fees
            if f.paid == paid and f.amount > 0
        ]

    def results(self, snap: DossierSnapshot, files: Files) -> list[dict[str, str]]:
        if snap.status not in RESULT_STATUSES:
            return []  # results are the citizen's once processed; not before
        return [
            {
                "TenGiayTo": r.name,
                "MaThanhPhanHoSo": "",
                "GiayToId": files[r.file.sha256].id,
                "DuongDanTepTinKetQua": "",
                "MaGiayToKetQua": r.code,
            }
            for r in snap.results
            if r.file is not None
        ]

    def supplements(self, snap: DossierSnapshot) -> list[dict[str, Any]]:
        return [
            {
                "NguoiYeuCauBoSung": s.requested_by,
                "NoiDungBoSung": "; ".join((s.reason, *s.items)),
                "NgayBoSung": portal_time(s.requested_at),
                "NguoiTiepNhanBoSung": s.fulfilled_by,
                "ThongTinTiepNhan": "",
                "NgayTiepNhanBoSung": portal_time(s.fulfilled_at),
                "TrangThaiBoSung": "1" if s.fulfilled_at is not None else "0",
                "DanhSachGiayToBoSung": [],
                "DanhSachLePhiBoSung": [],
                "NgayHenTraTruoc": portal_time(s.due_before),
                "NgayHenTraMoi": portal_time(s.due_after),
            }
            for s in snap.supplements
        ]

    def dossier(self, snap: DossierSnapshot, ma_ho_so: str, files: Files) -> dict[str, Any]:
        papers = self.papers(snap, files)
        paid = self.fees(snap, paid=True)
        return {
            "MaHoSo": ma_ho_so,
            "MaTTHC": snap.procedure_code,
            "TenTTHC": snap.procedure_name,
            "MaLinhVuc": snap.field_code,
            "TenLinhVuc": snap.field_name,
            "KenhThucHien": str(snap.channel),
            "SoGiayToChuHoSo": snap.applicant_id_number,
            "ChuHoSo": snap.applicant_name,
            "LoaiDoiTuong": self.subject_type(snap),
            "MaDoiTuong": "",  # the citizen's portal account: none for a counter dossier
            "Email": snap.applicant_email,
            "Fax": "",
            "SoDienThoai": snap.applicant_phone,
            "TrichYeuHoSo": snap.procedure_name,
            "NgayTiepNhan": portal_time(snap.received_at),
            "NgayHenTra": portal_time(snap.due_at),
            "TrangThaiHoSo": str(snap.status),
            "NgayTra": portal_time(snap.returned_at),
            "ThongTinTra": self.return_info(snap),
            "HinhThuc": self.return_form(snap),
            "NgayKetThucXuLy": portal_time(snap.finished_at),
            "DonViXuLy": snap.agency_name,
            "GhiChu": "",
            "NgayTuChoi": portal_time(snap.finished_at) if snap.status == 3 else "",
            "NgayNopHoSo": portal_time(snap.received_at),
            "TaiLieuNop": papers,
            "DanhSachLePhi": paid,
            "DanhSachTepDinhKemKhac": [],
            "DanhSachHoSoBoSung": self.supplements(snap),
            "DanhSachGiayToKetQua": self.results(snap, files),
            "NoiNopHoSo": "2",
            "HoSoCoThanhPhanSoHoa": "1" if papers else "0",
            "TaiKhoanDuocXacThucVoiVNeID": "0",
            "DuocThanhToanTrucTuyen": "0",  # paid at the counter, not through a payment platform
            "DinhDanhCHS": self.identities(snap),
            "DSKetNoiCSDL": [],
        }

    def content(self, snap: DossierSnapshot, step: Step) -> str:
        action = "document.digitized" if step.kind == "document.digitized" else step.action
        text = CONTENT.get(action, action.replace("_", " "))
        if action in SAYS_WHY and step.reason.strip():
            text = f"{text}: {step.reason.strip()}"
        return text

    def progress(self, snap: DossierSnapshot, ma_ho_so: str, step: Step) -> dict[str, Any]:
        status = step.to_status if step.to_status is not None else snap.status
        return {
            "MaHoSo": ma_ho_so,
            "NguoiXuLy": (step.actor_name or "Cán bộ một cửa")[:_PERSON_CHARS],
            "ChucDanh": TITLES.get(step.actor_role, ""),
            "ThoiDiemXuLy": portal_time(step.at),
            "PhongBanXuLy": step.actor_unit_name,
            "NoiDungXuLy": self.content(snap, step),
            "TrangThai": str(status),
            "NgayBatDau": portal_time(step.at),
            "NgayKetThucTheoQuyDinh": portal_time(snap.due_at),
        }

    def status(
        self, snap: DossierSnapshot, ma_ho_so: str, status: int, files: Files
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"MaHoSo": ma_ho_so, "TrangThai": str(status)}
        if status in FEE_STATUSES:
            body["DanhSachLePhi"] = self.fees(snap, paid=False)
        if status in RESULT_STATUSES:
            body["DanhSachGiayToKetQua"] = self.results(snap, files)
        return body


class ZeroBasedSubjectsBuilder(DefaultBuilder):
    """Provinces whose one-stop system uses the 0-based LoaiDoiTuong catalogue seen in a
    ministry's DVC integration guide (0 citizen, 1 enterprise, 2 household business)."""

    name = "dvc-bo"

    def subject_type(self, snap: DossierSnapshot) -> str:
        return "1" if snap.applicant_id_type == "MST" else "0"


BUILDERS: dict[str, Callable[[], PayloadBuilder]] = {
    DefaultBuilder.name: DefaultBuilder,
    ZeroBasedSubjectsBuilder.name: ZeroBasedSubjectsBuilder,
}


def register(name: str, factory: Callable[[], PayloadBuilder]) -> None:
    """Add a province's builder (a site's own catalogue) under ``name``."""
    BUILDERS[name] = factory


class BuilderChoice:
    """Which builder serves which province: ``by_province`` maps province codes ("H08") to
    builder names; every other province gets ``default``. Unknown names fail at start-up."""

    def __init__(self, by_province: Mapping[str, str] | None = None, default: str = "default"):
        names = {**dict(by_province or {}), "*": default}
        unknown = sorted({n for n in names.values() if n not in BUILDERS})
        if unknown:
            raise ValueError(f"unknown DVCQG payload builders {unknown}; known: {sorted(BUILDERS)}")
        self._made = {n: BUILDERS[n]() for n in set(names.values())}
        self._by_province = dict(by_province or {})
        self._default = default

    def for_province(self, province_code: str | None) -> PayloadBuilder:
        return self._made[self._by_province.get(province_code or "", self._default)]


__all__ = [
    "BUILDERS",
    "PORTAL_TIME",
    "BuilderChoice",
    "DefaultBuilder",
    "PayloadBuilder",
    "ZeroBasedSubjectsBuilder",
    "portal_time",
    "register",
]
