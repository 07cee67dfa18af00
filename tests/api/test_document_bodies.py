"""The response models of scans and documents keep the bodies clients read: the verification
and report bodies are ``to_dict()`` of signing's dataclasses, byte for byte, and a scan carries
its document's keys only once it has one."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from api.routers.documents import (
    DocumentReport,
    DocumentVerification,
    SignatureCheck,
    SignatureVerdict,
    SignerCertificate,
    TimestampToken,
    ValidatedFile,
)
from api.scans import ScanAccepted, ScanView, scan_body
from signing.report import DocumentInfo, SignatureResult, SimpleReport, TimestampInfo
from signing.validation import SignerInfo
from signing.verify import SignatureReport, VerificationReport

VN = timezone(timedelta(hours=7))
AT = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=VN)


def _wire(model: Any) -> str:
    return model.model_dump_json()


def _as_before(body: dict[str, Any]) -> str:
    """The dict as a JSONResponse sends it."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def test_verification_body_is_the_report_dict_behind_the_document_id() -> None:
    signature = SignatureReport(
        field_name="SohoaSignature",
        intact=True,
        valid=True,
        trusted=True,
        signer="Nguyễn Thị Lan",
        signing_time=AT.isoformat(),
        timestamp=AT.isoformat(),
        timestamp_trusted=True,
        coverage="ENTIRE_FILE",
        modification_level="NONE",
        docmdp_ok=True,
        bottom_line=True,
        pades_level="B-LTA",
        development_pki=True,
    )
    report = VerificationReport(
        filename="document.pdf",
        signed=True,
        ok=True,
        sha256="ab" * 32,
        sha256_matches=True,
        signatures=(signature, SignatureReport(field_name="Broken", error="unreadable")),
    )
    body = {"document_id": "d1", **report.to_dict()}
    assert _wire(DocumentVerification.model_validate(body)) == _as_before(body)


def test_report_body_is_the_simple_report_dict_behind_the_document_id() -> None:
    signed = SignatureResult(
        id="S-1",
        field_name="SohoaSignature",
        indication="TOTAL_PASSED",
        signer=SignerInfo(
            common_name="Nguyễn Thị Lan",
            organization="Bộ phận Một cửa",
            not_before=AT,
            not_after=AT + timedelta(days=365),
            certificate_sha256="cd" * 32,
        ),
        signing_time=AT,
        timestamp=TimestampInfo(present=True, time=AT.astimezone(UTC), tsa_name="TSA", valid=True),
        pades_level="PAdES-BASELINE-LTA",
        coverage="ENTIRE_FILE",
        modifications_after_signing="NONE",
        modification_level="NONE",
        digest_algorithm="sha256",
        signature_algorithm="sha256_rsa",
        warnings=("một cảnh báo",),
        development_pki=True,
    )
    broken = SignatureResult(
        id="S-2", field_name="Theirs", indication="TOTAL_FAILED", sub_indication="FORMAT_FAILURE"
    )
    report = SimpleReport(
        document=DocumentInfo(filename="document.pdf", sha256="ab" * 32, size=10, pages=1),
        validation_time=AT,
        indication="TOTAL_FAILED",
        sub_indication="FORMAT_FAILURE",
        signatures=(signed, broken),
        document_timestamps=(TimestampInfo(present=True, time=AT, valid=False), TimestampInfo()),
        errors=("lỗi",),
        warnings=("cảnh báo",),
    )
    body = {"document_id": "d1", **report.to_dict()}
    assert _wire(DocumentReport.model_validate(body)) == _as_before(body)


@pytest.mark.parametrize(
    ("model", "dataclass", "computed"),
    [
        (DocumentVerification, VerificationReport, {"document_id", "development_pki"}),
        (SignatureCheck, SignatureReport, {"ok"}),
        (
            DocumentReport,
            SimpleReport,
            {
                "document_id",
                "format",
                "validation_policy",
                "signatures_count",
                "valid_signatures_count",
                "development_pki",
            },
        ),
        (SignatureVerdict, SignatureResult, set()),
        (SignerCertificate, SignerInfo, set()),
        (TimestampToken, TimestampInfo, set()),
        (ValidatedFile, DocumentInfo, set()),
    ],
)
def test_every_field_of_the_dataclass_is_declared(
    model: type[BaseModel], dataclass: type, computed: set[str]
) -> None:
    """A field added to signing's dataclass must be declared here too: the model refuses
    undeclared keys, so a forgotten one would make the route answer 500."""
    assert set(model.model_fields) == {f.name for f in fields(dataclass)} | computed


def _scan(**changes: Any) -> Any:
    values: dict[str, Any] = {
        "id": "s1",
        "status": "received",
        "step": "ocr",
        "filename": "giấy tờ.pdf",
        "media_type": "application/pdf",
        "size": 7,
        "sha256": "ab" * 32,
        "clerk_id": "clerk1",
        "pages_done": 0,
        "pages_total": 2,
        "attempts": 0,
        "warnings": ["pdf_decrypted_copy_processed", "rescan_suggested: page 2: quét lại trang 2"],
        "ocr_languages": "eng+fra",
        "reason_code": None,
        "reason_message": None,
        "created_at": AT,
        "finished_at": None,
    }
    return SimpleNamespace(**{**values, **changes})


def test_a_scan_has_document_keys_only_once_digitized() -> None:
    waiting = json.loads(_wire(scan_body(_scan(), None)))
    assert "document_id" not in waiting and "document_url" not in waiting
    assert waiting["created_at"] == AT.isoformat() and waiting["languages"] == ["eng", "fra"]
    assert waiting["notices"] == [
        {"code": "rescan_suggested", "page": 2, "message": "quét lại trang 2"}
    ]
    done = scan_body(_scan(status="digitized", step=None, finished_at=AT), "d1")
    body = json.loads(_wire(done))
    assert body["document_id"] == "d1" and body["document_url"] == "/api/v1/documents/d1"
    assert list(body)[-2:] == ["document_id", "document_url"]
    accepted = ScanAccepted(**dict(scan_body(_scan(), None)), duplicate=False)
    assert list(json.loads(_wire(accepted)))[-2:] == ["status_url", "duplicate"]
    assert ScanView.model_config.get("extra") == "forbid"
