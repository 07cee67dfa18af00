"""One validation of a file's signatures, read the same way by ``sohoa verify``, the API's
``/verification`` and the auditor's report: each presents it, none validates on its own."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from asn1crypto import cms

from signing.backends import Pkcs12Backend
from signing.errors import SignerConfigError
from signing.pki import DevPki
from signing.report import SimpleReport, simple_report
from signing.sign import DocumentSigner, SignResult
from signing.validation import (
    INDETERMINATE,
    PADES_SUBFILTER,
    AdesStatus,
    load_certificates,
    validate_pdf,
)
from signing.verify import VerificationReport, verify_pdf
from tests.fixtures.pki import DEV_PASSWORD

CLERK = "Nguyễn Thị Lan"


@pytest.fixture(scope="module")
def signed(
    stamp_font: Path, dev_pki: DevPki, pdfa_input: Path, tmp_path_factory: pytest.TempPathFactory
) -> SignResult:
    clerk = Pkcs12Backend(dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD.encode())
    return DocumentSigner(stamp_font).sign(
        pdfa_input,
        tmp_path_factory.mktemp("validation") / "signed.pdf",
        clerk,
        stamp_lines=None,
        reason="Số hóa",
        location="HN",
    )


def _at(result: SignResult) -> dt.datetime:
    return result.signing_time + dt.timedelta(minutes=2)


def test_both_reports_present_the_same_validation(signed: SignResult, trust_roots: list) -> None:
    at = _at(signed)
    validation = validate_pdf(
        signed.path, trust_roots=trust_roots, expected_sha256=signed.sha256, validation_time=at
    )
    assert validation.validation_time == at and validation.stored_hash_match is True
    assert validation.pages == 1 and validation.document_timestamps == ()
    (sig,) = validation.signatures
    assert sig.failure is None and sig.chain_problem is None
    assert (sig.intact, sig.valid, sig.trusted, sig.bottom_line) == (True,) * 4
    assert sig.signer is not None and sig.signer.common_name == CLERK and sig.development_pki
    assert sig.subfilter == PADES_SUBFILTER and sig.signing_certificate_attribute
    assert sig.coverage == "ENTIRE_FILE" and sig.modification_level == "NONE"
    assert sig.signing_time == signed.signing_time and sig.timestamp is None

    verification = VerificationReport.of(validation)
    assert verification.ok
    assert (
        verification.to_dict()
        == verify_pdf(signed.path, trust_roots=trust_roots, expected_sha256=signed.sha256).to_dict()
    )
    report = SimpleReport.of(validation)
    assert report.indication == "TOTAL_PASSED"
    assert (
        report.to_dict()
        == simple_report(
            signed.path, trust_roots=trust_roots, expected_sha256=signed.sha256, validation_time=at
        ).to_dict()
    )


def test_untrusted_chain_is_a_fact_both_read(signed: SignResult) -> None:
    validation = validate_pdf(signed.path, trust_roots=[], validation_time=_at(signed))
    (sig,) = validation.signatures
    assert sig.intact and sig.valid and not sig.trusted
    assert sig.chain_problem == AdesStatus(INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    (shown,) = VerificationReport.of(validation).signatures
    assert not shown.trusted and not shown.ok
    (result,) = SimpleReport.of(validation).signatures
    assert (result.indication, result.sub_indication) == (
        "INDETERMINATE",
        "NO_CERTIFICATE_CHAIN_FOUND",
    )


def _strip_certificates(src: Path, dst: Path) -> None:
    """The same signature with the certificates left out of its CMS blob, padded in place:
    the signed byte ranges stay intact, but nobody can say who signed."""
    data = bytearray(src.read_bytes())
    found = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", data)
    assert found is not None
    blob = cms.ContentInfo.load(bytes.fromhex(found.group(1).decode()))
    blob["content"]["certificates"] = cms.CertificateSet([])
    hexed = blob.dump(force=True).hex().encode()
    data[found.start(1) : found.end(1)] = hexed.ljust(len(found.group(1)), b"0")
    dst.write_bytes(bytes(data))


def test_a_refused_signature_is_reported_not_raised(
    signed: SignResult, trust_roots: list, tmp_path: Path
) -> None:
    stripped = tmp_path / "stripped.pdf"
    _strip_certificates(signed.path, stripped)
    validation = validate_pdf(stripped, trust_roots=trust_roots)
    (sig,) = validation.signatures
    assert sig.failure is not None and sig.failure.rejected
    assert sig.failure.ades == AdesStatus(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND")
    assert sig.signer is None and not sig.intact

    verification = VerificationReport.of(validation)
    assert verification.signed and not verification.ok
    (shown,) = verification.signatures
    assert shown.error is not None and shown.error.startswith("SignatureValidationError: ")
    report = SimpleReport.of(validation)
    (result,) = report.signatures
    assert (result.indication, result.sub_indication) == (
        "INDETERMINATE",
        "NO_SIGNING_CERTIFICATE_FOUND",
    )
    assert result.errors[0].startswith("Không kiểm tra được chữ ký")


def test_unreadable_and_unparsable_files(trust_roots: list, tmp_path: Path) -> None:
    missing = validate_pdf(tmp_path / "missing.pdf", trust_roots=trust_roots)
    assert missing.read_error is not None and missing.read_error.strerror
    assert missing.sha256 is None and missing.signatures == ()
    assert VerificationReport.of(missing).error == "cannot read file: No such file or directory"

    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n\x00\xff garbage")
    broken = validate_pdf(garbage, trust_roots=trust_roots, expected_sha256="0" * 64)
    assert broken.format_error is not None and broken.read_error is None
    assert broken.size == len(garbage.read_bytes()) and broken.stored_hash_match is False
    report = SimpleReport.of(broken)
    assert (report.indication, report.sub_indication) == ("TOTAL_FAILED", "FORMAT_FAILURE")


def test_naive_validation_time_is_refused(signed: SignResult, trust_roots: list) -> None:
    with pytest.raises(ValueError, match="timezone"):
        validate_pdf(signed.path, trust_roots=trust_roots, validation_time=dt.datetime(2026, 1, 1))


def test_load_certificates(dev_pki: DevPki, tmp_path: Path) -> None:
    assert len(load_certificates(dev_pki.chain)) == 2
    with pytest.raises(SignerConfigError, match="cannot read"):
        load_certificates(tmp_path / "missing.pem")
    empty = tmp_path / "empty.pem"
    empty.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SignerConfigError, match="no certificate"):
        load_certificates(empty)
