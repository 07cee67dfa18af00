"""The auditor's signature validation report, shaped like EU DSS's "simple report".

A presentation of :func:`signing.validation.validate_pdf`, as JSON (:meth:`SimpleReport.to_dict`)
and as a PDF (:func:`render_pdf`). Each signature gets one of DSS's three indications, with a
DSS sub-indication saying why:

* ``TOTAL_FAILED``: the signed bytes or the signature value are broken (``HASH_FAILURE``,
  ``SIG_CRYPTO_FAILURE``), the signature does not cover a whole revision or cannot be parsed
  (``FORMAT_FAILURE``). Nothing later can repair this.
* ``INDETERMINATE``: the signature is intact but cannot be accepted *as validated here*: no
  chain to the trust roots given (``NO_CERTIFICATE_CHAIN_FOUND``), a certificate expired or not
  yet valid at the validation time (``OUT_OF_BOUNDS_NO_POE``, ``NOT_YET_VALID``), revoked
  (``REVOKED_NO_POE``), a timestamp that does not validate, or changes after signing that
  pyHanko's diff policy does not allow (``SIG_CONSTRAINTS_FAILURE``, as DSS reports a failed
  DocMDP/FieldMDP check).
* ``TOTAL_PASSED``: everything above holds. Incremental updates the diff policy allows (a
  later approval signature, form filling, DSS and document timestamps) keep a signature valid,
  as in DSS; they are listed under ``modifications_after_signing`` and as warnings.

The whole file also gets an indication, the worst of its signatures', and ``TOTAL_FAILED``
(sub-indication ``STORED_HASH_MISMATCH``, ours, not DSS's) when its SHA-256 differs from the
value recorded at signing time: pyHanko accepts a B-LT file cut back to its signed revision,
and Info-dictionary edits as "LTA updates" (notes/signing.md §4), so only that hash proves the
file is the one that was stored.

Validation is offline and soft-fail: revocation is checked only against data embedded in the
file (the report warns when there is none).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from asn1crypto import x509

from paper.fonts import DEFAULT_FONTS, Fonts
from signing.stamp import VN_TZ
from signing.validation import (
    INDETERMINATE,
    PADES_SUBFILTER,
    TOTAL_FAILED,
    TOTAL_PASSED,
    Failure,
    FileValidation,
    Indication,
    SignatureValidation,
    SignerInfo,
    TimestampCheck,
    validate_pdf,
)

__all__ = [
    "DEVELOPMENT_PKI_WARNING",
    "INDETERMINATE",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "DocumentInfo",
    "Indication",
    "SignatureResult",
    "SignerInfo",
    "SimpleReport",
    "TimestampInfo",
    "render_pdf",
    "simple_report",
]

Coverage = Literal["ENTIRE_FILE", "ENTIRE_REVISION", "PARTIAL"]
Modifications = Literal["NONE", "ALLOWED", "DISALLOWED", "UNKNOWN"]
Verdict = tuple[Indication, str | None]

_RANK = {TOTAL_PASSED: 0, INDETERMINATE: 1, TOTAL_FAILED: 2}

VALIDATION_POLICY = (
    "sohoa offline: trust roots given by the caller, revocation soft-fail (embedded data "
    "only), pyHanko default diff policy for changes after signing"
)
REPORT_FORMAT = "sohoa-simple-report/1"

DEVELOPMENT_PKI_WARNING = (
    "Ký bằng PKI phát triển của sohoa, KHÔNG có giá trị pháp lý (signed with sohoa's "
    "development PKI: a test signature, not for production)."
)


# --- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentInfo:
    """The file as it was validated. ``stored_hash_match`` is ``None`` when no hash was given."""

    filename: str
    sha256: str | None = None
    size: int | None = None
    pages: int | None = None
    stored_hash_match: bool | None = None


@dataclass(frozen=True)
class TimestampInfo:
    """An RFC 3161 token: a signature timestamp, or a document timestamp (``/DocTimeStamp``).

    ``valid`` means intact, cryptographically valid and issued by a TSA chaining to the trust
    roots; ``None`` when there is no token.
    """

    present: bool = False
    time: datetime | None = None
    tsa_name: str | None = None
    valid: bool | None = None

    @classmethod
    def of(cls, check: TimestampCheck | None) -> TimestampInfo:
        if check is None:
            return cls()
        return cls(present=True, time=check.time, tsa_name=check.tsa_name, valid=check.ok)


@dataclass(frozen=True)
class SignatureResult:
    """One signature field's verdict (DSS: one ``Signature`` element of the simple report)."""

    id: str
    field_name: str
    indication: Indication
    sub_indication: str | None = None
    signer: SignerInfo | None = None
    signing_time: datetime | None = None
    """Claimed by the signer (``/M``): proven only by a valid timestamp."""
    timestamp: TimestampInfo = field(default_factory=TimestampInfo)
    pades_level: str | None = None
    """``PAdES-BASELINE-B/-T/-LT/-LTA`` reached, ``PDF-NOT-ETSI`` for a non-PAdES signature."""
    coverage: Coverage | None = None
    modifications_after_signing: Modifications | None = None
    modification_level: str | None = None
    """pyHanko's ``ModificationLevel`` name (``NONE``, ``LTA_UPDATES``, ``FORM_FILLING``...)."""
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    development_pki: bool = False
    """The signer's chain ends in sohoa's development root (a test signature)."""
    best_signature_time: datetime | None = None
    """When the long-term validation proves the signature existed while its certificates were
    valid (DSS's best-signature-time); ``None`` when nothing proves it."""
    proof: tuple[str, ...] = ()
    """What that proof rests on: the signature timestamp, revocation data, document timestamps."""
    revocation: str = "soft-fail"
    """The revocation policy of the validation (``hard-fail``: the auditor's)."""

    @property
    def passed(self) -> bool:
        return self.indication == TOTAL_PASSED

    @classmethod
    def of(cls, sig: SignatureValidation, file: FileValidation) -> SignatureResult:
        """``sig``'s indication, sub-indication, level and the words that explain them."""
        if sig.failure is not None:
            return _unvalidated(sig, sig.failure)
        errors: list[str] = []
        warnings: list[str] = []
        coverage = _coverage(sig.coverage)
        modifications = _modifications(sig)
        indication, sub = _judge(sig, coverage, modifications, errors)
        timestamp = TimestampInfo.of(sig.timestamp)
        level = _pades_level(sig, timestamp, file, warnings)

        mod_level = sig.modification_level
        if modifications == "ALLOWED" and mod_level != "LTA_UPDATES":
            warnings.append(
                f"Tài liệu có cập nhật sau khi ký, được phép ({mod_level}): ví dụ một chữ ký sau "
                "hoặc điền biểu mẫu; phần cập nhật không thuộc phạm vi chữ ký này."
            )
        elif modifications == "UNKNOWN":
            warnings.append(
                "Không phân tích được các cập nhật sau khi ký (modifications not analysed)."
            )
        if sig.development_pki:
            warnings.insert(0, DEVELOPMENT_PKI_WARNING)
        if not timestamp.present:
            warnings.append(
                "Không có dấu thời gian: thời gian ký chỉ là khai báo của người ký "
                "(no signature timestamp; the signing time is claimed)."
            )
        elif (
            timestamp.valid
            and timestamp.time is not None
            and sig.signing_time
            and sig.signing_time > timestamp.time
        ):
            warnings.append(
                "Thời gian ký khai báo muộn hơn dấu thời gian (claimed signing time after the "
                "signature timestamp)."
            )
        long_term = sig.long_term
        carries_proof = level in ("PAdES-BASELINE-LT", "PAdES-BASELINE-LTA")
        if carries_proof and long_term is not None and not long_term.passed:
            warnings.append(
                "Không chứng minh được chữ ký hợp lệ tại thời điểm dấu thời gian "
                f"(long-term validation: {long_term.indication}/{long_term.sub_indication})."
            )
        if level not in ("PAdES-BASELINE-LT", "PAdES-BASELINE-LTA"):
            warnings.append(
                "Tệp không chứa dữ liệu thu hồi chứng thư; tình trạng thu hồi không được kiểm "
                "tra (no revocation data embedded; revocation not checked)."
            )
        return cls(
            id=sig.id,
            field_name=sig.field_name,
            indication=indication,
            sub_indication=sub,
            signer=sig.signer,
            signing_time=sig.signing_time,
            timestamp=timestamp,
            pades_level=level,
            coverage=coverage,
            modifications_after_signing=modifications,
            modification_level=mod_level,
            digest_algorithm=sig.digest_algorithm,
            signature_algorithm=sig.signature_algorithm,
            errors=tuple(errors),
            warnings=tuple(warnings),
            development_pki=sig.development_pki,
            best_signature_time=long_term.proven_at if long_term is not None else None,
            proof=long_term.evidence if long_term is not None and long_term.passed else (),
            revocation=sig.revocation_mode,
        )


@dataclass(frozen=True)
class SimpleReport:
    """Verdict on a whole file; :meth:`to_dict` is the JSON the API returns."""

    document: DocumentInfo
    validation_time: datetime
    indication: Indication
    sub_indication: str | None = None
    signatures: tuple[SignatureResult, ...] = ()
    document_timestamps: tuple[TimestampInfo, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def signatures_count(self) -> int:
        return len(self.signatures)

    @property
    def valid_signatures_count(self) -> int:
        return sum(1 for s in self.signatures if s.passed)

    @property
    def development_pki(self) -> bool:
        return any(s.development_pki for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; keys are always present, in a fixed order, datetimes ISO 8601."""
        data: dict[str, object] = {
            "format": REPORT_FORMAT,
            "validation_policy": VALIDATION_POLICY,
            "validation_time": self.validation_time,
            "document": asdict(self.document),
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "signatures_count": self.signatures_count,
            "valid_signatures_count": self.valid_signatures_count,
            "development_pki": self.development_pki,
            "signatures": [asdict(s) for s in self.signatures],
            "document_timestamps": [asdict(t) for t in self.document_timestamps],
            "errors": self.errors,
            "warnings": self.warnings,
        }
        return {key: _jsonable(value) for key, value in data.items()}

    @classmethod
    def of(cls, validation: FileValidation) -> SimpleReport:
        """The DSS-style verdict on ``validation``, with errors and warnings in words."""
        v = validation
        document = DocumentInfo(
            filename=v.filename,
            sha256=v.sha256,
            size=v.size,
            pages=v.pages,
            stored_hash_match=v.stored_hash_match,
        )
        if v.read_error is not None:
            reason = v.read_error.strerror or v.read_error.message
            return cls(
                document=document,
                validation_time=v.validation_time,
                indication=INDETERMINATE,
                sub_indication="SIGNED_DATA_NOT_FOUND",
                errors=(f"Không đọc được tệp (cannot read file): {reason}",),
            )
        if v.format_error is not None:
            return cls(
                document=document,
                validation_time=v.validation_time,
                indication=TOTAL_FAILED,
                sub_indication="FORMAT_FAILURE",
                errors=(f"Không phải tệp PDF đọc được (not a readable PDF): {v.format_error}",),
            )
        signatures = [SignatureResult.of(s, v) for s in v.signatures]
        doc_timestamps = [TimestampInfo.of(ts.check) for ts in v.document_timestamps]
        errors: list[str] = []
        warnings: list[str] = [
            f"Dấu thời gian tài liệu {n} không hợp lệ (document timestamp not valid)."
            for n, ts in enumerate(doc_timestamps, start=1)
            if not ts.valid
        ]
        if any(s.development_pki for s in signatures):
            warnings.insert(0, DEVELOPMENT_PKI_WARNING)
        indication: Indication
        sub: str | None
        if signatures:
            worst = max(signatures, key=lambda s: _RANK[s.indication])
            indication, sub = worst.indication, worst.sub_indication
        else:
            indication, sub = INDETERMINATE, None
            warnings.append("Tệp không có chữ ký số nào (no signature found).")
        if v.stored_hash_match is False:
            indication, sub = TOTAL_FAILED, "STORED_HASH_MISMATCH"
            errors.append(
                "Mã băm SHA-256 của tệp khác giá trị đã lưu khi ký: đây không phải tệp đã được "
                "lưu (stored hash mismatch)."
            )
        return cls(
            document=document,
            validation_time=v.validation_time,
            indication=indication,
            sub_indication=sub,
            signatures=tuple(signatures),
            document_timestamps=tuple(doc_timestamps),
            errors=tuple(errors),
            warnings=tuple(warnings),
        )


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def simple_report(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
    expected_sha256: str | None = None,
    validation_time: datetime | None = None,
    revocation: Literal["soft-fail", "hard-fail"] = "soft-fail",
    online: bool = False,
) -> SimpleReport:
    """Validate every signature in ``path`` offline into a DSS-style simple report.

    Never raises on bad input: an unreadable path, a non-PDF or a broken signature becomes an
    indication with errors. ``validation_time`` (timezone-aware; default now) is the time at
    which certificates must be valid; pass it for reproducible reports. A naive datetime is a
    programming error (``ValueError``).
    """
    validation = validate_pdf(
        path,
        trust_roots=trust_roots,
        other_certs=other_certs,
        expected_sha256=expected_sha256,
        validation_time=validation_time,
        revocation=revocation,
        online=online,
    )
    return SimpleReport.of(validation)


# --- the verdict ---------------------------------------------------------------------------


def _unvalidated(sig: SignatureValidation, failure: Failure) -> SignatureResult:
    """A signature pyHanko refused or could not read: its AdES status when pyHanko named one,
    else a format failure."""
    indication: Indication = TOTAL_FAILED
    sub = "FORMAT_FAILURE"
    if failure.rejected:
        if failure.ades is not None:
            indication, sub = failure.ades.indication, failure.ades.sub_indication
        error = f"Không kiểm tra được chữ ký (signature cannot be validated): {failure.message}"
    else:
        error = f"Chữ ký không đọc được (malformed signature): {failure}"
    return SignatureResult(
        id=sig.id,
        field_name=sig.field_name,
        indication=indication,
        sub_indication=sub,
        signer=sig.signer,
        errors=(error,),
        development_pki=sig.development_pki,
    )


_CHAIN_MESSAGES = {
    "NO_CERTIFICATE_CHAIN_FOUND": "Không xây dựng được chuỗi chứng thư tới một gốc tin cậy",
    "OUT_OF_BOUNDS_NO_POE": "Chứng thư hết hạn tại thời điểm xác thực, không có bằng chứng "
    "tồn tại trước khi hết hạn",
    "NOT_YET_VALID": "Chứng thư chưa có hiệu lực tại thời điểm xác thực",
    "REVOKED_NO_POE": "Chứng thư của người ký đã bị thu hồi",
    "REVOKED_CA_NO_POE": "Chứng thư của tổ chức cấp trong chuỗi đã bị thu hồi",
    "REVOKED": "Chứng thư đã bị thu hồi trước thời điểm ký",
    "CHAIN_CONSTRAINTS_FAILURE": "Chứng thư không đáp ứng ràng buộc của chuỗi "
    "(mục đích sử dụng khóa, ràng buộc cơ bản)",
    "CRYPTO_CONSTRAINTS_FAILURE": "Thuật toán trong chuỗi chứng thư không còn được chấp nhận",
}


def _judge(
    sig: SignatureValidation,
    coverage: Coverage | None,
    modifications: Modifications,
    errors: list[str],
) -> Verdict:
    """Indication and sub-indication, the most serious problem first (DSS's order)."""
    if not sig.intact:
        errors.append(
            "Nội dung đã ký bị thay đổi: mã băm không khớp (the signed bytes were altered)."
        )
        return TOTAL_FAILED, "HASH_FAILURE"
    if not sig.valid:
        errors.append("Giá trị chữ ký không hợp lệ (the signature value does not verify).")
        return TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    if coverage == "PARTIAL":
        errors.append(
            "Chữ ký không bao trùm trọn một phiên bản của tệp (the signature does not cover "
            "a whole revision)."
        )
        return TOTAL_FAILED, "FORMAT_FAILURE"

    result: Verdict = (TOTAL_PASSED, None)
    chain = sig.chain_problem
    long_term = sig.long_term
    if chain is not None and long_term is not None and long_term.passed:
        chain = None  # revoked or expired since, but proven valid earlier by its evidence
    if chain is not None:
        message = _CHAIN_MESSAGES.get(chain.sub_indication, "Chuỗi chứng thư không hợp lệ")
        errors.append(f"{message} ({chain.sub_indication}).")
        result = _worse(result, (chain.indication, chain.sub_indication))
    if modifications == "DISALLOWED":
        errors.append(
            f"Tài liệu bị sửa đổi sau khi ký theo cách không được phép "
            f"({sig.modification_level or 'OTHER'})."
        )
        result = _worse(result, (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"))
    if sig.seed_value_error is not None:
        errors.append(
            f"Chữ ký không đáp ứng ràng buộc của ô chữ ký (seed value constraints): "
            f"{sig.seed_value_error}"
        )
        result = _worse(result, (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"))
    for label, tst in (
        ("Dấu thời gian (signature timestamp)", sig.timestamp),
        ("Dấu thời gian nội dung (content timestamp)", sig.content_timestamp),
    ):
        if tst is None or tst.ok:
            continue
        if not (tst.intact and tst.valid):
            reason, sub = "bị hỏng (broken)", "SIG_CONSTRAINTS_FAILURE"
        else:
            sub = tst.trust_problem or "NO_CERTIFICATE_CHAIN_FOUND"
            reason = f"không được tin cậy (TSA untrusted: {sub})"
        errors.append(f"{label} {reason}.")
        result = _worse(result, (INDETERMINATE, sub))
    proven = long_term is not None and long_term.passed
    if result[0] == TOTAL_PASSED and not sig.bottom_line and not proven:
        errors.append("pyHanko không chấp nhận chữ ký này (bottom line false).")
        result = (INDETERMINATE, "GENERIC")
    return result


def _worse(a: Verdict, b: Verdict) -> Verdict:
    return b if _RANK[b[0]] > _RANK[a[0]] else a


def _coverage(level: str | None) -> Coverage | None:
    if level is None:
        return None
    if level == "ENTIRE_FILE":
        return "ENTIRE_FILE"
    if level == "ENTIRE_REVISION":
        return "ENTIRE_REVISION"
    return "PARTIAL"


def _modifications(sig: SignatureValidation) -> Modifications:
    level = sig.modification_level
    if level is None:
        return "UNKNOWN"
    if level == "NONE":
        return "NONE"
    if sig.docmdp_ok and level != "OTHER":
        return "ALLOWED"
    return "DISALLOWED"


def _pades_level(
    sig: SignatureValidation,
    timestamp: TimestampInfo,
    file: FileValidation,
    warnings: list[str],
) -> str | None:
    """The highest PAdES baseline level whose requirements this signature meets.

    B: PAdES SubFilter and a signing-certificate attribute; T: a valid signature timestamp;
    LT: the DSS holds revocation data (CRL or OCSP) for the signer's certificate; LTA: a
    valid document timestamp over a later revision. Each level needs the previous one.
    """
    if sig.subfilter != PADES_SUBFILTER:
        warnings.append(f"Chữ ký không theo chuẩn PAdES (SubFilter {sig.subfilter}).")
        return "PDF-NOT-ETSI"
    if not sig.signing_certificate_attribute:
        warnings.append(
            "Thiếu thuộc tính signing-certificate: chưa đạt PAdES-BASELINE-B "
            "(no signing certificate attribute)."
        )
        return None
    if not timestamp.valid:
        return "PAdES-BASELINE-B"
    if not sig.dss_revocation_data:
        return "PAdES-BASELINE-T"
    if not any(
        ts.check.ok and ts.signed_revision > sig.signed_revision for ts in file.document_timestamps
    ):
        return "PAdES-BASELINE-LT"
    return "PAdES-BASELINE-LTA"


# --- the PDF -------------------------------------------------------------------------------

_INDICATION_TEXT = {
    TOTAL_PASSED: "Hợp lệ",
    INDETERMINATE: "Chưa xác định được",
    TOTAL_FAILED: "Không hợp lệ",
}
_COLOURS = {  # (text, background): green, amber, red
    TOTAL_PASSED: ((27, 94, 32), (232, 245, 233)),
    INDETERMINATE: ((166, 87, 0), (255, 243, 224)),
    TOTAL_FAILED: ((183, 28, 28), (255, 235, 238)),
}
_COVERAGE_TEXT = {
    "ENTIRE_FILE": "Toàn bộ tệp",
    "ENTIRE_REVISION": "Toàn bộ phiên bản đã ký (tệp có cập nhật sau đó)",
    "PARTIAL": "Một phần tệp",
}
_MODIFICATION_TEXT = {
    "NONE": "Không có",
    "ALLOWED": "Có, được phép",
    "DISALLOWED": "Có, KHÔNG được phép",
    "UNKNOWN": "Không xác định",
}


def render_pdf(report: SimpleReport, out: Path, *, fonts: Fonts = DEFAULT_FONTS) -> Path:
    """Write ``report`` as "BÁO CÁO XÁC THỰC CHỮ KÝ SỐ" (A4, Noto Sans embedded) to ``out``.

    Labels are Vietnamese with DSS's English terms; times are shown in Vietnam time. The file
    is written atomically. Returns ``out``.
    """
    pdf = _ReportPdf(report, fonts)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(pdf.output()))
        os.replace(tmp_name, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return out


def _fmt_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S (UTC+07:00)")


def _yes_no(value: bool | None, yes: str, no: str, none: str) -> str:
    return none if value is None else (yes if value else no)


class _ReportPdf:
    """Lays out one report with fpdf2 (imported lazily: only report rendering needs it)."""

    LABEL_W = 62.0

    def __init__(self, report: SimpleReport, fonts: Fonts) -> None:
        from fpdf import FPDF

        from paper.page import a4_document

        when = _fmt_time(report.validation_time)

        class _Doc(FPDF):
            def footer(self) -> None:
                self.set_y(-12)
                self.set_font("NotoSans", size=7.5)
                self.set_text_color(110)
                self.cell(
                    0,
                    5,
                    f"sohoa · Báo cáo xác thực chữ ký số (simple report) · Thời điểm xác thực "
                    f"{when} · Trang {self.page_no()}/{{nb}}",
                    align="C",
                )

        self.report = report
        pdf = a4_document(
            _Doc,
            fonts,
            margins=(16, 14, 16),
            bottom=16,
            title="Báo cáo xác thực chữ ký số",
            subject=f"Signature validation report: {report.document.filename}",
            author="sohoa",
            creator="sohoa",
            lang="vi",
            created_at=report.validation_time,
        )
        self.pdf = pdf

    def output(self) -> bytearray:
        from fpdf import FPDF

        pdf: FPDF = self.pdf
        report = self.report
        pdf.add_page()
        pdf.set_font("NotoSans", "B", 15)
        pdf.cell(0, 8, "BÁO CÁO XÁC THỰC CHỮ KÝ SỐ", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("NotoSans", size=9)
        pdf.set_text_color(90)
        pdf.cell(
            0,
            5,
            "Signature validation report — simple report (EU DSS / ETSI EN 319 102-1)",
            align="C",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0)
        pdf.ln(3)

        doc = report.document
        self._heading("1. Tài liệu (Document)")
        self._rows(
            [
                ("Tên tệp (Filename)", doc.filename),
                ("Mã băm SHA-256 (SHA-256)", doc.sha256 or "—"),
                (
                    "Kích thước (Size)",
                    "—" if doc.size is None else f"{doc.size:,} byte".replace(",", "."),
                ),
                ("Số trang (Pages)", "—" if doc.pages is None else str(doc.pages)),
                (
                    "Khớp mã băm đã lưu (Stored hash match)",
                    _yes_no(
                        doc.stored_hash_match,
                        "Có, khớp (match)",
                        "KHÔNG KHỚP (mismatch)",
                        "Không kiểm tra (no stored hash given)",
                    ),
                ),
            ],
            small=frozenset({"Mã băm SHA-256 (SHA-256)"}),
        )

        self._heading("2. Kết luận chung (Validation summary)")
        self._rows(
            [
                ("Thời điểm xác thực (Validation time)", _fmt_time(report.validation_time)),
                (
                    "Chữ ký hợp lệ / tổng số (Valid signatures)",
                    f"{report.valid_signatures_count} / {report.signatures_count}",
                ),
                *(
                    [("PKI phát triển (Development PKI)", "CÓ — KHÔNG dùng cho sản xuất (yes)")]
                    if report.development_pki
                    else []
                ),
            ]
        )
        self._indication_row(report.indication, report.sub_indication)
        self._notes(report.errors, report.warnings)

        for n, sig in enumerate(report.signatures, start=1):
            self._signature(n, sig)

        if report.document_timestamps:
            n = len(report.signatures) + 3
            self._heading(f"{n}. Dấu thời gian tài liệu (Document timestamps)")
            self._rows(
                [
                    (f"Dấu thời gian {n}", self._timestamp_text(ts))
                    for n, ts in enumerate(report.document_timestamps, start=1)
                ]
            )

        pdf.ln(2)
        pdf.set_font("NotoSans", size=7.5)
        pdf.set_text_color(90)
        pdf.multi_cell(
            0,
            4,
            f"Chính sách xác thực (validation policy): {VALIDATION_POLICY}.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0)
        return pdf.output()

    def _heading(self, text: str) -> None:
        pdf = self.pdf
        pdf.ln(2)
        pdf.set_font("NotoSans", "B", 11)
        pdf.set_text_color(21, 67, 120)
        pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(21, 67, 120)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.set_text_color(0)
        pdf.ln(1)

    def _rows(self, rows: list[tuple[str, str]], *, small: frozenset[str] = frozenset()) -> None:
        """Label/value rows; values whose label is in ``small`` use a smaller font (hashes)."""
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font("NotoSans", size=9)
        label = FontFace(emphasis="BOLD", color=(70, 70, 70))
        with pdf.table(
            col_widths=(self.LABEL_W, pdf.epw - self.LABEL_W),
            width=pdf.epw,
            first_row_as_headings=False,
            borders_layout="NONE",
            text_align="LEFT",
            line_height=4.6,
            padding=(0.6, 1, 0.6, 0),
            v_align="TOP",
        ) as table:
            for key, value in rows:
                row = table.row()
                row.cell(key, style=label)
                row.cell(value, style=FontFace(size_pt=7.5) if key in small else None)

    def _indication_row(self, indication: Indication, sub: str | None) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        text, fill = _COLOURS[indication]
        value = f"{indication} — {_INDICATION_TEXT[indication]}"
        pdf.set_font("NotoSans", size=9)
        with pdf.table(
            col_widths=(self.LABEL_W, pdf.epw - self.LABEL_W),
            width=pdf.epw,
            first_row_as_headings=False,
            borders_layout="NONE",
            text_align="LEFT",
            line_height=5.5,
            padding=(0.8, 1.5, 0.8, 1.5),
        ) as table:
            row = table.row()
            row.cell(
                "Kết quả (Indication)",
                style=FontFace(emphasis="BOLD", color=(70, 70, 70)),
                padding=(0.8, 1, 0.8, 0),
            )
            row.cell(value, style=FontFace(emphasis="BOLD", color=text, fill_color=fill))
            if sub:
                row = table.row()
                row.cell(
                    "Lý do (Sub-indication)",
                    style=FontFace(emphasis="BOLD", color=(70, 70, 70)),
                    padding=(0.8, 1, 0.8, 0),
                )
                row.cell(sub, style=FontFace(emphasis="BOLD", color=text))

    def _notes(self, errors: Sequence[str], warnings: Sequence[str]) -> None:
        rows = [("Lỗi (Errors)", e) for e in errors]
        rows += [("Cảnh báo (Warnings)", w) for w in warnings]
        if rows:
            self._rows(rows)

    @staticmethod
    def _timestamp_text(ts: TimestampInfo) -> str:
        if not ts.present:
            return "Không có (none)"
        state = "hợp lệ (valid)" if ts.valid else "KHÔNG hợp lệ (not valid)"
        return f"{_fmt_time(ts.time)} · TSA: {ts.tsa_name or '—'} · {state}"

    def _signature(self, n: int, sig: SignatureResult) -> None:
        self._heading(f"{n + 2}. Chữ ký {n} (Signature): {sig.field_name}")
        self._indication_row(sig.indication, sig.sub_indication)
        signer = sig.signer
        rows: list[tuple[str, str]] = [("Mã chữ ký (Signature id)", sig.id)]
        if signer is not None:
            rows += [
                ("Người ký (Signer)", signer.common_name),
                ("Tổ chức (Organization)", signer.organization or "—"),
                ("Số hiệu chứng thư (Certificate serial)", signer.serial_number or "—"),
                ("Tổ chức cấp (Issuer)", signer.issuer_common_name or "—"),
                (
                    "Hiệu lực chứng thư (Certificate validity)",
                    f"{_fmt_time(signer.not_before)} – {_fmt_time(signer.not_after)}",
                ),
            ]
        rows += [
            ("Thời gian ký khai báo (Claimed signing time)", _fmt_time(sig.signing_time)),
            ("Dấu thời gian (Signature timestamp)", self._timestamp_text(sig.timestamp)),
            ("Mức chữ ký (Signature level)", sig.pades_level or "—"),
            (
                "Chứng minh hợp lệ tại (Proven valid at)",
                _fmt_time(sig.best_signature_time) if sig.best_signature_time else "—",
            ),
            ("Bằng chứng (Evidence)", "; ".join(sig.proof) or "—"),
            ("Kiểm tra thu hồi (Revocation check)", sig.revocation),
            (
                "Phạm vi ký (Signature scope)",
                f"{_COVERAGE_TEXT[sig.coverage]} ({sig.coverage})" if sig.coverage else "—",
            ),
            (
                "Thay đổi sau khi ký (Modifications after signing)",
                (
                    f"{_MODIFICATION_TEXT[sig.modifications_after_signing]} "
                    f"({sig.modification_level or sig.modifications_after_signing})"
                    if sig.modifications_after_signing
                    else "—"
                ),
            ),
        ]
        if sig.digest_algorithm or sig.signature_algorithm:
            rows.append(
                (
                    "Thuật toán (Algorithms)",
                    f"{sig.digest_algorithm or '—'} / {sig.signature_algorithm or '—'}",
                )
            )
        self._rows(rows)
        self._notes(sig.errors, sig.warnings)
