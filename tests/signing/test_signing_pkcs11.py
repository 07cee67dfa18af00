"""Signing with keys on a real SoftHSM2 token through python-pkcs11 and pyHanko."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import backends
from signing.backends import Pkcs11Backend, RegistryConfig, SignerRegistry
from signing.errors import KeyUnavailableError, SignerConfigError
from signing.sign import DocumentSigner
from signing.stamp import scan_stamp_lines
from signing.verify import load_certificates, verify_pdf
from tests.fixtures.pki import SoftHsm

SCANNED_AT = dt.datetime(2026, 11, 27, 9, 0)  # naive: already local time


@pytest.fixture(scope="module")
def hsm_registry(softhsm: SoftHsm) -> SignerRegistry:
    return SignerRegistry(
        RegistryConfig(
            kind="pkcs11",
            pkcs11_module=softhsm.module,
            pkcs11_token_label=softhsm.token_label,
            pkcs11_pin=softhsm.pin,
            pkcs11_chain_pem=softhsm.chain_pem,
        )
    )


def test_sign_with_softhsm(
    hsm_registry: SignerRegistry,
    softhsm: SoftHsm,
    stamp_font: Path,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(stamp_font)
    lan = hsm_registry.get("lan.nt")
    assert lan.name == "Nguyễn Thị Lan"
    assert hsm_registry.get("lan.nt") is lan
    for who, backend in (("lan", lan), ("unit", hsm_registry.unit())):
        result = signer.sign(
            pdfa_input,
            tmp_path / f"{who}.pdf",
            backend,
            stamp_lines=scan_stamp_lines(backend.name, SCANNED_AT),
            reason="r",
            location="l",
        )
        report = verify_pdf(result.path, trust_roots=trust_roots)  # chain embedded: root only
        assert report.ok, report.to_dict()
        assert report.signatures[0].signer == backend.name

    pss = Pkcs11Backend(
        softhsm.module,
        softhsm.token_label,
        softhsm.pin,
        "lan.nt",
        prefer_pss=True,
        ca_chain=load_certificates(softhsm.chain_pem),
    )
    result = signer.sign(
        pdfa_input, tmp_path / "pss.pdf", pss, stamp_lines=None, reason="r", location="l"
    )
    assert verify_pdf(result.path, trust_roots=trust_roots).ok
    with result.path.open("rb") as fh:
        (sig,) = PdfFileReader(fh).embedded_regular_signatures
        assert sig.signer_info["signature_algorithm"]["algorithm"].native == "rsassa_pss"


def test_lost_session_is_reopened(
    hsm_registry: SignerRegistry,
    softhsm: SoftHsm,
    stamp_font: Path,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(stamp_font)
    lan = hsm_registry.get("lan.nt")
    token = backends._TOKENS[(softhsm.module, softhsm.token_label)]
    token.session().close()  # what a HSM restart or network blip does to us
    result = signer.sign(
        pdfa_input, tmp_path / "after.pdf", lan, stamp_lines=None, reason="r", location="l"
    )
    assert verify_pdf(result.path, trust_roots=trust_roots).ok
    # the unit key shares the token session and recovers too
    unit = signer.sign(
        pdfa_input,
        tmp_path / "unit.pdf",
        hsm_registry.unit(),
        stamp_lines=None,
        reason="r",
        location="l",
    )
    assert verify_pdf(unit.path, trust_roots=trust_roots).ok


def test_pkcs11_errors(hsm_registry: SignerRegistry, softhsm: SoftHsm) -> None:
    with pytest.raises(SignerConfigError, match=r"binh\.tv"):
        hsm_registry.get("binh.tv")  # valid clerk, but no key on the token
    missing_token = Pkcs11Backend(softhsm.module, "no-such-token", softhsm.pin, "lan.nt")
    with pytest.raises(KeyUnavailableError) as exc_info:
        missing_token.pyhanko_signer()
    assert exc_info.value.retryable and softhsm.pin not in repr(missing_token)
    with pytest.raises(SignerConfigError, match="not found"):
        Pkcs11Backend("/nonexistent/libpkcs11.so", "x", "1", "lan.nt").pyhanko_signer()
