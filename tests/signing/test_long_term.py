"""Long-term signatures: B-LTA against the development PKI's own TSA, OCSP responder and CRL,
served over real HTTP on 127.0.0.1, and what revoking a clerk does to signing and validation."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from signing.backends import Pkcs12Backend
from signing.errors import CertificateNotValid, SignerConfigError
from signing.pki import DevPki, init_dev_pki, revoke
from signing.report import render_pdf, simple_report
from signing.sign import DocumentSigner, make_timestamper
from signing.validation import etsi_report, load_certificates, validate_pdf
from signing.verify import verify_pdf
from tests.fixtures.pki import CLERKS, DEV_PASSWORD, UNIT_CODE, UNIT_NAME


@dataclass
class PkiServer:
    pki: DevPki
    base: str

    @property
    def roots(self) -> list:
        return load_certificates(self.pki.root_cert)

    @property
    def chain(self) -> list:
        return load_certificates(self.pki.chain)

    def clerk(self, clerk_id: str = "lan.nt") -> Pkcs12Backend:
        return Pkcs12Backend(self.pki.clerk_p12(clerk_id), DEV_PASSWORD.encode())

    def signer(self, font: Path, level: str = "B-LTA") -> DocumentSigner:
        from pyhanko_certvalidator import ValidationContext

        return DocumentSigner(
            font,
            timestamper=make_timestamper(f"{self.base}/tsa"),
            level=level,  # type: ignore[arg-type]
            validation_context=lambda: ValidationContext(
                trust_roots=self.roots,
                other_certs=self.chain,
                allow_fetching=True,
                revocation_mode="hard-fail",
            ),
        )


@pytest.fixture
def pki_server(tmp_path: Path) -> Iterator[PkiServer]:
    """A fresh development PKI (revocation changes it) and its services over HTTP."""
    import uvicorn

    from api.routers.pki import standalone_app
    from core.settings import Settings
    from signing.authority import DevAuthority

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/pki"
    pki = init_dev_pki(
        tmp_path / "pki",
        unit_name=UNIT_NAME,
        unit_code=UNIT_CODE,
        clerks=CLERKS,
        password=DEV_PASSWORD,
        base_url=base,
    )
    settings = Settings(data_dir=tmp_path / "data", pki_rate_limit=0)
    app = standalone_app(
        SimpleNamespace(settings=settings, dev_authority=DevAuthority(pki, DEV_PASSWORD))
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "PKI server did not start"
        time.sleep(0.02)
    yield PkiServer(pki, base)
    server.should_exit = True
    thread.join(10)


def _sign(server: PkiServer, font: Path, src: Path, dst: Path, **kw: object):  # type: ignore[no-untyped-def]
    level = str(kw.pop("level", "B-LTA"))
    return server.signer(font, level).sign(
        src, dst, server.clerk(), stamp_lines=None, reason="Số hóa", location="Hà Nội"
    )


def test_certificates_name_the_ocsp_responder_and_crl(pki_server: PkiServer) -> None:
    cert = x509.load_pem_x509_certificate(pki_server.pki.clerk_cert("lan.nt").read_bytes())
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    ocsp_urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    assert ocsp_urls == [f"{pki_server.base}/ocsp"]
    crl_dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl_dp[0].full_name[0].value == f"{pki_server.base}/crl"


def test_b_lta_document_validates_as_long_term(
    pki_server: PkiServer, stamp_font: Path, pdfa_input: Path, tmp_path: Path
) -> None:
    result = _sign(pki_server, stamp_font, pdfa_input, tmp_path / "signed.pdf")
    assert result.level == "B-LTA"
    tsa = x509.load_pem_x509_certificate(pki_server.pki.tsa_cert.read_bytes())
    assert result.archive_until == tsa.not_valid_after_utc

    # pyHanko's own AdES validation, offline from what the file carries, as an auditor would.
    validation = validate_pdf(
        result.path, trust_roots=pki_server.roots, revocation="hard-fail", online=False
    )
    (sig,) = validation.signatures
    assert validation.has_dss and len(validation.document_timestamps) == 1
    assert sig.dss_revocation_data
    assert sig.long_term is not None and sig.long_term.passed, sig.long_term
    assert sig.long_term.proven_at is not None
    assert abs(sig.long_term.proven_at - result.signing_time) < dt.timedelta(minutes=1)

    report = verify_pdf(result.path, trust_roots=pki_server.roots, revocation="hard-fail")
    assert report.ok
    assert [s.pades_level for s in report.signatures] == ["B-LTA"]
    assert "signature timestamp" in report.signatures[0].proof

    xml = etsi_report(result.path, trust_roots=pki_server.roots, revocation="hard-fail")
    assert "http://uri.etsi.org/19102/v1.2.1#" in xml
    assert "urn:etsi:019102:mainindication:total-passed" in xml


def test_revoked_clerk_cannot_sign_and_only_earlier_signatures_stay_valid(
    pki_server: PkiServer, stamp_font: Path, pdfa_input: Path, tmp_path: Path
) -> None:
    before = _sign(pki_server, stamp_font, pdfa_input, tmp_path / "before.pdf")
    time.sleep(1.1)  # revocation times have one-second resolution
    revoke(pki_server.pki.directory, "lan.nt", reason="key_compromise")

    # At B-LT and above the chain is validated before signing: a revoked clerk is refused.
    with pytest.raises(CertificateNotValid) as refused:
        _sign(pki_server, stamp_font, pdfa_input, tmp_path / "refused.pdf")
    assert refused.value.code == "certificate_revoked"
    assert not (tmp_path / "refused.pdf").exists()

    # A deployment at B-T does not look: the signature is made, and an auditor rejects it.
    after = _sign(pki_server, stamp_font, pdfa_input, tmp_path / "after.pdf", level="B-T")
    late = verify_pdf(after.path, trust_roots=pki_server.roots, revocation="hard-fail", online=True)
    assert not late.ok
    assert late.signatures[0].proven_at is None

    # The one made before the revocation is proven valid at its timestamp, online or not.
    for online in (True, False):
        early = verify_pdf(
            before.path, trust_roots=pki_server.roots, revocation="hard-fail", online=online
        )
        assert early.ok, early.to_dict()
        assert early.signatures[0].long_term == "TOTAL_PASSED/OK"

    # The auditor's report says the same, with when and by what it was proven.
    kept = simple_report(before.path, trust_roots=pki_server.roots, revocation="hard-fail")
    (verdict,) = kept.signatures
    assert verdict.indication == "TOTAL_PASSED", verdict
    assert verdict.best_signature_time is not None and verdict.proof
    assert verdict.pades_level == "PAdES-BASELINE-LTA" and verdict.revocation == "hard-fail"
    assert render_pdf(kept, tmp_path / "report.pdf").stat().st_size > 0
    lost = simple_report(
        after.path, trust_roots=pki_server.roots, revocation="hard-fail", online=True
    )
    assert lost.signatures[0].indication != "TOTAL_PASSED"
    assert lost.signatures[0].best_signature_time is None


def test_ocsp_answers_good_revoked_unknown_and_refuses_garbage(
    pki_server: PkiServer, dev_pki: DevPki
) -> None:
    import httpx

    issuer = x509.load_pem_x509_certificate(pki_server.pki.intermediate_cert.read_bytes())
    clerk = x509.load_pem_x509_certificate(pki_server.pki.clerk_cert("lan.nt").read_bytes())

    def ask(cert: x509.Certificate, issued_by: x509.Certificate) -> ocsp.OCSPResponse:
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issued_by, hashes.SHA256()).build()
        resp = httpx.post(
            f"{pki_server.base}/ocsp",
            content=req.public_bytes(serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"},
        )
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/ocsp-response"
        return ocsp.load_der_ocsp_response(resp.content)

    good = ask(clerk, issuer)
    assert good.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    # Signed by the issuing CA itself (RFC 6960 §2.2: the issuer may answer for its own).
    issuer.public_key().verify(  # type: ignore[call-arg,union-attr]
        good.signature,
        good.tbs_response_bytes,
        padding.PKCS1v15(),
        good.signature_hash_algorithm,
    )

    revoke(pki_server.pki.directory, "lan.nt", reason="affiliation_changed")
    revoked = ask(clerk, issuer)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.affiliation_changed

    # Another PKI's certificate: not ours to answer for.
    other_issuer = x509.load_pem_x509_certificate(dev_pki.intermediate_cert.read_bytes())
    other = x509.load_pem_x509_certificate(dev_pki.clerk_cert("lan.nt").read_bytes())
    assert ask(other, other_issuer).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED

    garbage = httpx.post(
        f"{pki_server.base}/ocsp",
        content=b"\x30\x03\x02\x01",
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert garbage.status_code == 200
    malformed = ocsp.load_der_ocsp_response(garbage.content)
    assert malformed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    wrong_type = httpx.post(
        f"{pki_server.base}/ocsp", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    huge = httpx.post(
        f"{pki_server.base}/ocsp",
        content=b"0" * 100_000,
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert huge.status_code == 413

    crl = x509.load_der_x509_crl(httpx.get(f"{pki_server.base}/crl").content)
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(clerk.serial_number)
    assert entry is not None


def test_tsa_refuses_what_is_not_a_sha2_request(pki_server: PkiServer) -> None:
    import httpx
    from asn1crypto import core, tsp

    def ask(body: bytes) -> tsp.PKIStatusInfo:
        resp = httpx.post(
            f"{pki_server.base}/tsa",
            content=body,
            headers={"Content-Type": "application/timestamp-query"},
        )
        assert resp.status_code == 200
        # A refusal is a TimeStampResp holding only its status (no token).
        return tsp.PKIStatusInfo.load(core.Sequence.load(resp.content).contents)

    sha1 = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": b"\0" * 20,
            },
            "cert_req": True,
        }
    ).dump()
    refused = ask(sha1)
    assert refused["status"].native == "rejection"
    assert "bad_alg" in refused["fail_info"].native
    assert ask(b"not asn1")["status"].native == "rejection"


def test_revoking_an_unknown_clerk_or_reason_is_refused(pki_server: PkiServer) -> None:
    with pytest.raises(SignerConfigError):
        revoke(pki_server.pki.directory, "nobody")
    with pytest.raises(SignerConfigError):
        revoke(pki_server.pki.directory, "lan.nt", reason="because")


def test_a_pki_made_without_an_address_gets_certificates_that_name_one(tmp_path: Path) -> None:
    """A development PKI from before revocation existed: restarting with an address re-issues
    the end-entity certificates under the same CAs, and the old ones stay known to OCSP."""
    old = init_dev_pki(
        tmp_path / "pki",
        unit_name=UNIT_NAME,
        unit_code=UNIT_CODE,
        clerks=CLERKS,
        password=DEV_PASSWORD,
    )
    before = x509.load_pem_x509_certificate(old.clerk_cert("lan.nt").read_bytes())
    root_before = old.root_cert.read_bytes()
    new = init_dev_pki(
        tmp_path / "pki",
        unit_name=UNIT_NAME,
        unit_code=UNIT_CODE,
        clerks=CLERKS,
        password=DEV_PASSWORD,
        base_url="http://pki.test:8080/pki",
    )
    after = x509.load_pem_x509_certificate(new.clerk_cert("lan.nt").read_bytes())
    assert new.base_url == "http://pki.test:8080/pki"
    assert after.serial_number != before.serial_number
    after.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    assert new.root_cert.read_bytes() == root_before
    issued = {p.stem for p in new.issued_dir.glob("*.pem")}
    assert {f"{before.serial_number:x}", f"{after.serial_number:x}"} <= issued
