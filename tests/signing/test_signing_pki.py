"""The development PKI: shape of the certificates, idempotence, clerk id validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.errors import InvalidClerkIdError, SignerConfigError
from signing.pki import DevPki, init_dev_pki, validate_clerk_id
from tests.fixtures.pki import DEV_PASSWORD, UNIT_CODE, UNIT_NAME


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_layout_and_certificates(dev_pki: DevPki) -> None:
    d = dev_pki.directory
    for name in ("ca.pem", "chain.pem", "unit.p12", "tsa.p12", "README.txt"):
        assert (d / name).is_file(), name
    assert "NOT FOR PRODUCTION" in dev_pki.readme.read_text()
    assert (d / "unit.p12").stat().st_mode & 0o077 == 0

    root = _cert(dev_pki.root_cert)
    assert "DEVELOPMENT" in root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert (
        "NOT FOR PRODUCTION"
        in root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    )

    key, clerk, extra = pkcs12.load_key_and_certificates(
        dev_pki.clerk_p12("lan.nt").read_bytes(), DEV_PASSWORD.encode()
    )
    assert key is not None and key.key_size >= 2048
    assert clerk.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Thị Lan"
    ku = clerk.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert clerk.signature_hash_algorithm.name == "sha256"
    assert {c.subject for c in extra} == {root.subject, _cert(dev_pki.intermediate_cert).subject}

    tsa = _cert(dev_pki.tsa_cert)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]

    unit = _cert(dev_pki.unit_cert)
    assert unit.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == (
        UNIT_CODE
    )


def test_idempotent_and_adds_missing_clerks(tmp_path: Path) -> None:
    first = init_dev_pki(
        tmp_path,
        unit_name=UNIT_NAME,
        unit_code=UNIT_CODE,
        clerks=[("lan.nt", "Nguyễn Thị Lan")],
        password=DEV_PASSWORD,
    )
    root, lan = first.root_cert.read_bytes(), first.clerk_p12("lan.nt").read_bytes()

    again = init_dev_pki(
        tmp_path,
        unit_name="ignored",
        unit_code="ignored",
        clerks=[("lan.nt", "Nguyễn Thị Lan"), ("an.pv", "Phạm Văn An")],
        password=DEV_PASSWORD,
    )
    assert again.root_cert.read_bytes() == root
    assert again.clerk_p12("lan.nt").read_bytes() == lan
    assert again.unit_name == UNIT_NAME
    assert set(again.clerks) == {"lan.nt", "an.pv"}
    an = _cert(again.clerk_cert("an.pv"))
    assert an.issuer == _cert(again.intermediate_cert).subject

    with pytest.raises(SignerConfigError):
        init_dev_pki(
            tmp_path,
            unit_name=UNIT_NAME,
            unit_code=UNIT_CODE,
            clerks=[("new.one", "X")],
            password="wrong",
        )


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "Lan", ".hidden", "x" * 65, "unit"])
def test_rejects_unsafe_clerk_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidClerkIdError):
        validate_clerk_id(bad)
    with pytest.raises(InvalidClerkIdError):
        init_dev_pki(
            tmp_path,
            unit_name=UNIT_NAME,
            unit_code=UNIT_CODE,
            clerks=[(bad, "X")],
            password=DEV_PASSWORD,
        )
    assert not (tmp_path / "pki.json").exists()
