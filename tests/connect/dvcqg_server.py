"""A stand-in for the national portal (DVCQG / provincial one-stop sync), which tests cannot
reach: a real HTTP server in a thread that serves the six steps, CHECKS every payload against
the documented shape (domain notes §4.3, written out here independently of the builder) and
records every call, and that can be told to misbehave.

What it enforces: a bearer token it issued (401 otherwise); for NoiHoSo exactly the documented
keys, strings where the sync DTO has strings, lists where it has lists, the code catalogues
(TrangThaiHoSo 1..10, KenhThucHien 1..3, HinhThucThu 1/2/4, ...), dates as ``yyyyMMddHHmmss``,
a MaHoSo of the expected form (ours, or one it issued through GetNextValue), file ids it issued;
for progress and status a MaHoSo it holds. A payload that breaks the shape is answered 400 with
``E_SHAPE`` and kept in ``violations``. NoiHoSo is an upsert by MaHoSo; ``created`` and
``updated`` count which.

Misbehaviour on demand (``fail``): ``"500"``, ``"slow"`` (answers after ``slow_seconds``, having
done the work, as a portal whose answer is lost would), ``"business"`` (200 with a non-zero
``error_code``), ``"400"``; ``revoke_tokens`` makes every token bad (401).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

# -- the documented shape (§4.3), independent of connect/dvcqg/payload.py --------------------

HOSO_TEXT = {
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien",
    "SoGiayToChuHoSo", "ChuHoSo", "LoaiDoiTuong", "MaDoiTuong", "Email", "Fax", "SoDienThoai",
    "TrichYeuHoSo", "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "NgayTra", "ThongTinTra",
    "HinhThuc", "NgayKetThucXuLy", "DonViXuLy", "GhiChu", "NgayTuChoi", "NgayNopHoSo",
    "NoiNopHoSo", "HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID", "DuocThanhToanTrucTuyen",
}  # fmt: skip
HOSO_LISTS = {
    "TaiLieuNop": {
        "TepDinhKemId", "TenTepDinhKem", "IsDeleted", "MaThanhPhanHoSo", "DuongDanTaiTepTin",
        "DuocSoHoa", "DuocTaiSuDung", "DuocLayTuKhoDMQG", "MaKetQuaThayThe",
    },
    "DanhSachLePhi": {"TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi"},
    "DanhSachTepDinhKemKhac": {"TenGiayTo", "SoLuong", "LoaiGiayTo"},
    "DanhSachHoSoBoSung": {
        "NguoiYeuCauBoSung", "NoiDungBoSung", "NgayBoSung", "NguoiTiepNhanBoSung",
        "ThongTinTiepNhan", "NgayTiepNhanBoSung", "TrangThaiBoSung", "DanhSachGiayToBoSung",
        "DanhSachLePhiBoSung", "NgayHenTraTruoc", "NgayHenTraMoi",
    },
    "DanhSachGiayToKetQua": {
        "TenGiayTo", "MaThanhPhanHoSo", "GiayToId", "DuongDanTepTinKetQua", "MaGiayToKetQua",
    },
    "DinhDanhCHS": {"LoaiDinhDanh", "SoDinhDanh"},
    "DSKetNoiCSDL": {"MaCSDL"},
}  # fmt: skip
HOSO_REQUIRED = {
    "MaHoSo", "MaTTHC", "TenTTHC", "KenhThucHien", "SoGiayToChuHoSo", "ChuHoSo",
    "LoaiDoiTuong", "NgayTiepNhan", "TrangThaiHoSo", "HinhThuc", "DonViXuLy", "NoiNopHoSo",
}  # fmt: skip
HOSO_DATES = {
    "NgayTiepNhan",
    "NgayHenTra",
    "NgayTra",
    "NgayKetThucXuLy",
    "NgayTuChoi",
    "NgayNopHoSo",
}
STATUSES = {str(n) for n in range(1, 11)}
CATALOGUES = {
    "TrangThaiHoSo": STATUSES,
    "KenhThucHien": {"1", "2", "3"},
    "LoaiDoiTuong": {"0", "1", "2", "3", "4"},  # the two catalogues seen (0-based and 1-based)
    "HinhThuc": {"0", "1", "2"},
    "NoiNopHoSo": {"1", "2"},
    "HoSoCoThanhPhanSoHoa": {"0", "1"},
    "TaiKhoanDuocXacThucVoiVNeID": {"0", "1"},
    "DuocThanhToanTrucTuyen": {"0", "1", "2", "3"},
}
PROGRESS = {
    "MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy",
    "TrangThai", "NgayBatDau", "NgayKetThucTheoQuyDinh",
}  # fmt: skip
STATUS_REQUIRED = {"MaHoSo", "TrangThai"}
STATUS_OPTIONAL = {"DanhSachLePhi": {"5", "6", "9"}, "DanhSachGiayToKetQua": {"5", "6", "9", "10"}}
OUR_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$")  # TT 01/2018
UNIT_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
TTHC_CODE = re.compile(r"^\d\.\d{6}$")
PORTAL_DATE = re.compile(r"^\d{14}$")
OK = {"error_code": "0", "message": "Thành công"}


@dataclass
class Call:
    endpoint: str
    status: int
    body: Any  # what was sent (JSON), or the upload's name and size
    answer: Any


@dataclass
class Upload:
    id: str
    hash: str
    sha256: str
    size: int
    filename: str


@dataclass
class Fault:
    kind: str  # "500" | "slow" | "business" | "400"
    times: int
    code: str = "E_BUSINESS"


@dataclass
class PortalState:
    username: str
    password: str
    grant: str
    portal_codes: bool
    slow_seconds: float
    token_life: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    calls: list[Call] = field(default_factory=list)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # MaHoSo -> last status set
    noi_ho_so: Counter[str] = field(default_factory=Counter)  # MaHoSo -> NoiHoSo calls
    created: int = 0
    updated: int = 0
    files: dict[str, Upload] = field(default_factory=dict)
    issued_codes: list[str] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    busy: int = 0  # requests being answered
    idle: threading.Condition = field(default_factory=threading.Condition)


class PortalServer:
    """Start with ``with PortalServer() as portal:``; ``portal.url`` is its base URL."""

    def __init__(
        self,
        *,
        username: str = "sohoa-dongbo",
        password: str = "mat-khau-thu-nghiem",  # noqa: S107 - the stand-in's own
        grant: str = "password",
        portal_codes: bool = False,
        slow_seconds: float = 1.5,
        token_life: int = 3600,
    ) -> None:
        self.state = PortalState(username, password, grant, portal_codes, slow_seconds, token_life)
        state = self.state

        class Handler(_Handler):
            portal = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> PortalServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # -- what tests use ------------------------------------------------------------------------

    def fail(self, endpoint: str, kind: str, *, times: int = 1, code: str = "E_BUSINESS") -> None:
        """Misbehave on the next ``times`` calls of ``endpoint`` ("NoiHoSo", "UploadFile"...)."""
        with self.state.lock:
            self.state.faults.setdefault(endpoint, []).append(Fault(kind, times, code))

    def heal(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def wait_idle(self) -> None:
        """Until no request is being answered (a "slow" one finishes its work late)."""
        with self.state.idle:
            self.state.idle.wait_for(lambda: self.state.busy == 0)

    def revoke_tokens(self) -> None:
        with self.state.lock:
            self.state.tokens.clear()

    def endpoints(self, *, ok_only: bool = True) -> list[str]:
        with self.state.lock:
            return [c.endpoint for c in self.state.calls if not ok_only or c.status == 200]

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)


def _date_ok(value: Any, *, required: bool) -> bool:
    if value == "" and not required:
        return True
    if not isinstance(value, str) or not PORTAL_DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


class _Handler(BaseHTTPRequestHandler):
    portal: PortalState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, status: int, body: Any, endpoint: str, sent: Any) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        with self.portal.lock:
            self.portal.calls.append(Call(endpoint, status, sent, body))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)  # the client may have given up waiting (the "slow" fault)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def _authorized(self, endpoint: str) -> bool:
        auth = self.headers.get("Authorization", "")
        with self.portal.lock:
            self.portal.seen_headers.append({"path": self.path, "authorization": auth})
            good = auth.startswith("Bearer ") and auth[7:] in self.portal.tokens
        if not good:
            self._send(401, {"error_code": "401", "message": "Token không hợp lệ"}, endpoint, None)
        return good

    def _fault(self, endpoint: str, sent: Any) -> str | None:
        """Apply a queued fault; returns "slow" when the work should still be done late."""
        with self.portal.lock:
            queue = self.portal.faults.get(endpoint) or []
            fault = queue[0] if queue else None
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
        if fault is None:
            return None
        if fault.kind == "500":
            self._send(500, {"message": "Internal Server Error"}, endpoint, sent)
        elif fault.kind == "400":
            self._send(
                400, {"error_code": fault.code, "message": "Dữ liệu không hợp lệ"}, endpoint, sent
            )
        elif fault.kind == "business":
            self._send(
                200,
                {"error_code": fault.code, "message": "Mã TTHC không tồn tại trên hệ thống"},
                endpoint,
                sent,
            )
        elif fault.kind == "slow":
            time.sleep(self.portal.slow_seconds)
            return "slow"
        return fault.kind

    def _refuse(self, endpoint: str, sent: Any, problems: list[str]) -> None:
        with self.portal.lock:
            self.portal.violations.extend(f"{endpoint}: {p}" for p in problems)
        self._send(400, {"error_code": "E_SHAPE", "message": "; ".join(problems)}, endpoint, sent)

    # -- routes --------------------------------------------------------------------------------

    def _track(self, handle: Any) -> None:
        with self.portal.idle:
            self.portal.busy += 1
        try:
            handle()
        finally:
            with self.portal.idle:
                self.portal.busy -= 1
                self.portal.idle.notify_all()

    def do_GET(self) -> None:
        self._track(self._get)

    def do_POST(self) -> None:
        self._track(self._post)

    def _get(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/GetNextValue":
            self._send(404, {"message": "Không tìm thấy API"}, url.path, None)
            return
        if not self._authorized("GetNextValue"):
            return
        query = parse_qs(url.query)
        if self._fault("GetNextValue", query) not in (None, "slow"):
            return
        unit = (query.get("code") or [""])[0]
        if not UNIT_CODE.match(unit):
            self._refuse("GetNextValue", query, [f"code {unit!r} is no unit code"])
            return
        with self.portal.lock:
            n = len(self.portal.issued_codes) + 1
            value = f"{unit}-{datetime.now():%Y%m%d}-{n:07d}"
            self.portal.issued_codes.append(value)
        self._send(200, {**OK, "value": value}, "GetNextValue", query)

    def _post(self) -> None:
        path = urlsplit(self.path).path
        raw = self._body()
        if path == "/token":
            self._token(raw)
            return
        endpoint = path.lstrip("/")
        if endpoint not in ("UploadFile", "NoiHoSo", "CapNhatTienTrinh", "CapNhatTrangThai"):
            self._send(404, {"message": "Không tìm thấy API"}, endpoint, None)
            return
        if not self._authorized(endpoint):
            return
        if endpoint == "UploadFile":
            self._upload(raw)
            return
        try:
            sent = json.loads(raw)
        except ValueError:
            self._refuse(endpoint, None, ["body is not JSON"])
            return
        if not isinstance(sent, list) or not sent or not all(isinstance(x, dict) for x in sent):
            self._refuse(endpoint, sent, ["body must be a non-empty JSON list of objects"])
            return
        if self._fault(endpoint, sent) not in (None, "slow"):
            return
        {"NoiHoSo": self._noi_ho_so, "CapNhatTienTrinh": self._progress}.get(
            endpoint, self._status
        )(sent)

    def _token(self, raw: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        p = self.portal
        if p.grant == "password":
            good = form.get("grant_type") == "password" and (
                form.get("username"),
                form.get("password"),
            ) == (p.username, p.password)
        else:
            good = form.get("grant_type") == "client_credentials" and (
                form.get("client_id"),
                form.get("client_secret"),
            ) == (p.username, p.password)
        shown = {k: ("***" if "pass" in k or "secret" in k else v) for k, v in form.items()}
        if not good:
            self._send(400, {"error": "invalid_grant"}, "token", shown)
            return
        token = secrets.token_hex(16)
        with p.lock:
            p.tokens.add(token)
            p.token_requests += 1
        self._send(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": p.token_life},
            "token",
            shown,
        )

    def _upload(self, raw: bytes) -> None:
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            self._refuse("UploadFile", None, ["not multipart/form-data"])
            return
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
        )
        parts = list(message.iter_parts())
        files = [p for p in parts if p.get_param("name", header="content-disposition") == "files"]
        if len(files) != 1 or not files[0].get_filename():
            self._refuse("UploadFile", None, ["expected one file in the field 'files'"])
            return
        payload = files[0].get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        sent = {"filename": files[0].get_filename(), "size": len(data)}
        if not data.startswith(b"%PDF-"):
            self._refuse("UploadFile", sent, ["the file is not a PDF"])
            return
        if self._fault("UploadFile", sent) not in (None, "slow"):
            return
        digest = hashlib.sha256(data).hexdigest()
        upload = Upload(uuid.uuid4().hex, digest, digest, len(data), str(files[0].get_filename()))
        with self.portal.lock:
            self.portal.files[upload.id] = upload
        answer = {**OK, "data": [{"IdTepTin": upload.id, "HashTepTin": upload.hash}]}
        self._send(200, answer, "UploadFile", sent)

    # -- the dossier ---------------------------------------------------------------------------

    def _issued(self, file_id: Any) -> bool:
        with self.portal.lock:
            return isinstance(file_id, str) and file_id in self.portal.files

    def _check_hoso(self, h: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        keys = set(h)
        expected = HOSO_TEXT | set(HOSO_LISTS)
        if keys != expected:
            problems.append(
                f"keys: missing {sorted(expected - keys)}, not documented {sorted(keys - expected)}"
            )
        for k in HOSO_TEXT & keys:
            if not isinstance(h[k], str):
                problems.append(f"{k} must be a string, not {type(h[k]).__name__}")
        for k in HOSO_REQUIRED & keys:
            if h[k] in ("", None):
                problems.append(f"{k} is required")
        for k, allowed in CATALOGUES.items():
            if k in h and h[k] not in allowed:
                problems.append(f"{k}={h[k]!r} is not in its catalogue {sorted(allowed)}")
        for k in HOSO_DATES & keys:
            if not _date_ok(h[k], required=k == "NgayTiepNhan"):
                problems.append(f"{k}={h[k]!r} is not yyyyMMddHHmmss")
        code = h.get("MaHoSo")
        if self.portal.portal_codes:
            with self.portal.lock:
                if code not in self.portal.issued_codes:
                    problems.append(f"MaHoSo {code!r} was not issued by GetNextValue")
        elif not isinstance(code, str) or not OUR_CODE.match(code):
            problems.append(f"MaHoSo {code!r} is not a TT 01/2018 code")
        if not TTHC_CODE.match(str(h.get("MaTTHC", ""))):
            problems.append("MaTTHC is not a national TTHC code")
        for name, fields in HOSO_LISTS.items():
            items = h.get(name)
            if not isinstance(items, list):
                problems.append(f"{name} must be a list")
                continue
            for i, item in enumerate(items):
                if not isinstance(item, dict) or set(item) != fields:
                    got = sorted(item) if isinstance(item, dict) else type(item).__name__
                    problems.append(f"{name}[{i}] keys {got} != {sorted(fields)}")
                    continue
                problems += [f"{name}[{i}].{p}" for p in self._check_item(name, item)]
        digitized = any(t.get("DuocSoHoa") == "1" for t in h.get("TaiLieuNop") or [])
        if digitized and h.get("HoSoCoThanhPhanSoHoa") != "1":
            problems.append("HoSoCoThanhPhanSoHoa must be 1 when a paper is digitized")
        return problems

    def _check_item(self, name: str, item: dict[str, Any]) -> list[str]:
        bad: list[str] = []
        if name == "TaiLieuNop":
            if not self._issued(item["TepDinhKemId"]):
                bad.append(f"TepDinhKemId {item['TepDinhKemId']!r} was never uploaded")
            for k, allowed in (
                ("IsDeleted", {"0", "1"}),
                ("DuocSoHoa", {"0", "1"}),
                ("DuocTaiSuDung", {"0", "1", "2"}),
                ("DuocLayTuKhoDMQG", {"0", "1"}),
            ):
                if item[k] not in allowed:
                    bad.append(f"{k}={item[k]!r}")
            if (item["DuocTaiSuDung"] == "2") != bool(item["MaKetQuaThayThe"]):
                bad.append("MaKetQuaThayThe goes with DuocTaiSuDung=2 only")
        elif name in ("DanhSachLePhi", "DanhSachLePhiBoSung"):
            if item["HinhThucThu"] not in {"1", "2", "4"}:
                bad.append(f"HinhThucThu={item['HinhThucThu']!r}")
            if not (isinstance(item["Gia"], str) and item["Gia"].isdigit()):
                bad.append(f"Gia={item['Gia']!r}")
            if item["LoaiPhiLePhi"] not in {"1", "2", "3"}:
                bad.append(f"LoaiPhiLePhi={item['LoaiPhiLePhi']!r}")
        elif name == "DanhSachGiayToKetQua":
            if not self._issued(item["GiayToId"]):
                bad.append(f"GiayToId {item['GiayToId']!r} was never uploaded")
            if not item["MaGiayToKetQua"]:
                bad.append("MaGiayToKetQua is required")
        elif name == "DanhSachHoSoBoSung":
            for k in ("NgayBoSung", "NgayTiepNhanBoSung", "NgayHenTraTruoc", "NgayHenTraMoi"):
                if not _date_ok(item[k], required=k == "NgayBoSung"):
                    bad.append(f"{k}={item[k]!r}")
            if item["TrangThaiBoSung"] not in {"0", "1"}:
                bad.append(f"TrangThaiBoSung={item['TrangThaiBoSung']!r}")
        elif name == "DinhDanhCHS" and (
            item["LoaiDinhDanh"] not in {"1", "2"} or not item["SoDinhDanh"]
        ):
            bad.append(f"LoaiDinhDanh={item['LoaiDinhDanh']!r}")
        return [b for b in bad if b]

    def _noi_ho_so(self, sent: list[dict[str, Any]]) -> None:
        problems = [p for h in sent for p in self._check_hoso(h)]
        if problems:
            self._refuse("NoiHoSo", sent, problems)
            return
        with self.portal.lock:
            for h in sent:
                code = h["MaHoSo"]
                if code in self.portal.dossiers:
                    self.portal.updated += 1
                else:
                    self.portal.created += 1
                self.portal.dossiers[code] = h
                self.portal.noi_ho_so[code] += 1
        self._send(200, OK, "NoiHoSo", sent)

    def _known(self, endpoint: str, sent: list[dict[str, Any]]) -> bool:
        with self.portal.lock:
            unknown = [s.get("MaHoSo") for s in sent if s.get("MaHoSo") not in self.portal.dossiers]
        if unknown:
            self._send(
                200,
                {"error_code": "-1", "message": f"Không tìm thấy hồ sơ {unknown}"},
                endpoint,
                sent,
            )
        return not unknown

    def _progress(self, sent: list[dict[str, Any]]) -> None:
        problems = []
        for i, s in enumerate(sent):
            if set(s) != PROGRESS:
                problems.append(f"[{i}] keys {sorted(s)} != {sorted(PROGRESS)}")
                continue
            if not all(isinstance(v, str) for v in s.values()):
                problems.append(f"[{i}] every value must be a string")
            if not s["NguoiXuLy"] or len(s["NguoiXuLy"]) > 50:
                problems.append(f"[{i}] NguoiXuLy must have 1..50 characters")
            if s["TrangThai"] not in STATUSES:
                problems.append(f"[{i}] TrangThai={s['TrangThai']!r}")
            if not s["NoiDungXuLy"]:
                problems.append(f"[{i}] NoiDungXuLy is required")
            for k in ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh"):
                if not _date_ok(s[k], required=k == "ThoiDiemXuLy"):
                    problems.append(f"[{i}] {k}={s[k]!r} is not yyyyMMddHHmmss")
        if problems:
            self._refuse("CapNhatTienTrinh", sent, problems)
            return
        if not self._known("CapNhatTienTrinh", sent):
            return
        with self.portal.lock:
            self.portal.progress.extend(sent)
        self._send(200, OK, "CapNhatTienTrinh", sent)

    def _status(self, sent: list[dict[str, Any]]) -> None:
        problems = []
        for i, s in enumerate(sent):
            extra = set(s) - STATUS_REQUIRED
            if not set(s) >= STATUS_REQUIRED or extra - set(STATUS_OPTIONAL):
                problems.append(f"[{i}] keys {sorted(s)}")
                continue
            if s["TrangThai"] not in STATUSES:
                problems.append(f"[{i}] TrangThai={s['TrangThai']!r}")
            for name in extra:
                if s["TrangThai"] not in STATUS_OPTIONAL[name]:
                    problems.append(f"[{i}] {name} does not go with status {s['TrangThai']}")
                items = s[name] if isinstance(s[name], list) else [None]
                for j, item in enumerate(items):
                    if not isinstance(item, dict) or set(item) != HOSO_LISTS[name]:
                        problems.append(f"[{i}] {name}[{j}] keys")
                        continue
                    problems += [f"[{i}] {name}[{j}].{p}" for p in self._check_item(name, item)]
        if problems:
            self._refuse("CapNhatTrangThai", sent, problems)
            return
        if not self._known("CapNhatTrangThai", sent):
            return
        with self.portal.lock:
            self.portal.statuses.extend(sent)
            for s in sent:
                self.portal.status[s["MaHoSo"]] = s["TrangThai"]
        self._send(200, OK, "CapNhatTrangThai", sent)
