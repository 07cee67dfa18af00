"""Archive renewal: a document timestamp appended to a signed PDF, everything before it intact."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper
from pyhanko_certvalidator import ValidationContext

from signing.archive import add_document_timestamp, archive_horizon
from signing.backends import Pkcs12Backend
from signing.errors import ArchiveChainError, TimestampError
from signing.pki import DevPki, init_dev_pki
from signing.sign import DocumentSigner, SignResult
from signing.validation import FileValidation, validate_pdf
from signing.verify import load_certificates
from tests.fixtures.pki import CLERKS, DEV_PASSWORD, UNIT_CODE, UNIT_NAME, _load_tsa


@pytest.fixture(scope="module")
def tsa(dev_pki: DevPki) -> DummyTimeStamper:
    return _load_tsa(dev_pki)


def _vc(trust_roots: list) -> ValidationContext:
    return ValidationContext(trust_roots=list(trust_roots), allow_fetching=False)


def _sign(
    src: Path, dst: Path, font: Path, pki: DevPki, tsa: DummyTimeStamper | None
) -> SignResult:
    signer = DocumentSigner(font, timestamper=tsa)
    backend = Pkcs12Backend(pki.clerk_p12("lan.nt"), DEV_PASSWORD.encode())
    return signer.sign(src, dst, backend, stamp_lines=None, reason="r", location="l")


def _all_ok(report: FileValidation) -> None:
    assert report.signatures, report
    for sig in report.signatures:
        assert sig.intact and sig.valid and sig.trusted and sig.bottom_line, sig
        assert sig.modification_level in ("NONE", "LTA_UPDATES"), sig
    for ts in report.document_timestamps:
        assert ts.check.ok, ts


def test_renewal_appends_a_document_timestamp_and_keeps_every_signature(
    stamp_font: Path,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tsa: DummyTimeStamper,
    tmp_path: Path,
) -> None:
    signed = _sign(pdfa_input, tmp_path / "signed.pdf", stamp_font, dev_pki, tsa)
    tsa_until = tsa.tsa_cert["tbs_certificate"]["validity"]["not_after"].native
    # A B-T file: its horizon is the signature timestamp's TSA certificate.
    assert archive_horizon(signed.path) == tsa_until
    original = signed.path.read_bytes()
    before = validate_pdf(signed.path, trust_roots=trust_roots)
    assert len(before.document_timestamps) == 0

    first = add_document_timestamp(
        signed.path, tmp_path / "v2.pdf", timestamper=tsa, validation_context=_vc(trust_roots)
    )
    assert signed.path.read_bytes() == original  # src untouched
    renewed = first.path.read_bytes()
    assert renewed.startswith(original) and len(renewed) > len(original)
    assert first.size == len(renewed)
    assert first.sha256 == hashlib.sha256(renewed).hexdigest()
    assert first.archive_until == tsa_until == archive_horizon(first.path)
    report = validate_pdf(first.path, trust_roots=trust_roots, expected_sha256=first.sha256)
    assert report.stored_hash_match and report.has_dss
    assert len(report.document_timestamps) == 1
    assert report.document_timestamps[0].check.time == first.timestamped_at
    _all_ok(report)

    # Renewed again (years later, in production): one more, and the first one still holds.
    second = add_document_timestamp(
        first.path, tmp_path / "v3.pdf", timestamper=tsa, validation_context=_vc(trust_roots)
    )
    assert second.path.read_bytes().startswith(renewed)
    again = validate_pdf(second.path, trust_roots=trust_roots)
    assert len(again.document_timestamps) == 2
    assert again.document_timestamps[0].check == report.document_timestamps[0].check
    _all_ok(again)


def test_a_file_without_any_timestamp_has_no_horizon_but_can_get_one(
    stamp_font: Path,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tsa: DummyTimeStamper,
    tmp_path: Path,
) -> None:
    b_b = _sign(pdfa_input, tmp_path / "bb.pdf", stamp_font, dev_pki, None)
    assert archive_horizon(b_b.path) is None
    stamp = add_document_timestamp(
        b_b.path, tmp_path / "lta.pdf", timestamper=tsa, validation_context=_vc(trust_roots)
    )
    assert archive_horizon(stamp.path) == stamp.archive_until
    report = validate_pdf(stamp.path, trust_roots=trust_roots)
    assert len(report.document_timestamps) == 1 and report.has_dss
    _all_ok(report)


def test_tsa_down_writes_nothing(
    stamp_font: Path,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tsa: DummyTimeStamper,
    closed_port_url: str,
    tmp_path: Path,
) -> None:
    signed = _sign(pdfa_input, tmp_path / "signed.pdf", stamp_font, dev_pki, tsa)
    original = signed.path.read_bytes()
    out = tmp_path / "out"
    with pytest.raises(TimestampError) as caught:
        add_document_timestamp(
            signed.path,
            out / "renewed.pdf",
            timestamper=HTTPTimeStamper(closed_port_url, timeout=2),
            validation_context=_vc(trust_roots),
        )
    assert caught.value.retryable and caught.value.code == "timestamp_unavailable"
    assert list(out.iterdir()) == []  # no renewed file, no temp file left
    assert signed.path.read_bytes() == original


def test_a_timestamp_that_no_longer_validates_is_not_extended(
    stamp_font: Path,
    dev_pki: DevPki,
    pdfa_input: Path,
    tsa: DummyTimeStamper,
    tmp_path: Path,
) -> None:
    signed = _sign(pdfa_input, tmp_path / "signed.pdf", stamp_font, dev_pki, tsa)
    # Another installation's roots: the file's TSA does not chain to them.
    other = init_dev_pki(
        tmp_path / "other-pki",
        unit_name=UNIT_NAME,
        unit_code=UNIT_CODE,
        clerks=CLERKS[:1],
        password=DEV_PASSWORD,
    )
    with pytest.raises(ArchiveChainError) as caught:
        add_document_timestamp(
            signed.path,
            tmp_path / "renewed.pdf",
            timestamper=tsa,
            validation_context=_vc(load_certificates(other.root_cert)),
        )
    assert not caught.value.retryable and caught.value.code == "archive_chain_broken"
    assert not (tmp_path / "renewed.pdf").exists()
