"""PAdES B-T against a real RFC 3161 TSA served over HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from signing.backends import Pkcs12Backend
from signing.errors import SignerConfigError, TimestampError
from signing.pki import DevPki
from signing.sign import DocumentSigner, make_timestamper
from signing.verify import verify_pdf
from tests.fixtures.pki import DEV_PASSWORD, LocalTsa


def test_make_timestamper() -> None:
    assert make_timestamper(None) is None
    assert make_timestamper("") is None
    with pytest.raises(SignerConfigError):
        make_timestamper("ftp://tsa.example")


def test_b_t_with_trusted_timestamp(
    local_tsa: LocalTsa,
    stamp_font: Path,
    dev_pki: DevPki,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(stamp_font, timestamper=make_timestamper(local_tsa.url, timeout=5))
    backend = Pkcs12Backend(dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD.encode())
    for name in ("one.pdf", "two.pdf"):  # the timestamper object is reused across documents
        result = signer.sign(
            pdfa_input, tmp_path / name, backend, stamp_lines=None, reason="r", location="l"
        )
        assert result.level == "B-T"
        report = verify_pdf(result.path, trust_roots=trust_roots, expected_sha256=result.sha256)
        assert report.ok, report.to_dict()
        (sig,) = report.signatures
        assert sig.pades_level == "B-T"
        assert sig.timestamp is not None and sig.timestamp_trusted is True


def test_tsa_down_is_retryable(
    closed_port_url: str, stamp_font: Path, dev_pki: DevPki, pdfa_input: Path, tmp_path: Path
) -> None:
    signer = DocumentSigner(stamp_font, timestamper=make_timestamper(closed_port_url, timeout=2))
    backend = Pkcs12Backend(dev_pki.clerk_p12("lan.nt"), DEV_PASSWORD.encode())
    with pytest.raises(TimestampError) as exc_info:
        signer.sign(
            pdfa_input, tmp_path / "out.pdf", backend, stamp_lines=None, reason="r", location="l"
        )
    assert exc_info.value.retryable and exc_info.value.code == "timestamp_unavailable"
    assert list(tmp_path.iterdir()) == []
