"""The development PKI's online services: OCSP responder, CRL and RFC 3161 timestamp authority.

They make a development installation produce what a production one gets from a licensed CA
and TSA: signature timestamps, revocation data to embed (PAdES B-LT) and document timestamps
(B-LTA); and they let tests revoke a clerk and watch validation fail. Bytes in, bytes out: the
HTTP side is :mod:`api.routers.pki` (``sohoa run`` serves it under ``/pki``; compose runs
``sohoa pki serve``).

Choices, and why:

* The issuing CA signs the OCSP answers and the CRL itself (RFC 6960 allows the issuer as
  responder), so no delegated responder certificate needs its own revocation story.
* Answers are made per request from ``revoked.json`` (re-read when it changes), so a
  revocation is visible at once; OCSP answers are valid for an hour, the CRL for a day.
* Malformed requests get the protocol's own refusal (OCSP ``malformedRequest``, a TSA
  ``rejection`` with ``badDataFormat``), never an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from pyhanko.sign.general import as_signing_certificate_v2

from signing.errors import SignerConfigError
from signing.pki import DevPki, Revocation, load_issuing_ca, load_root_ca, read_revocations

__all__ = ["TSA_POLICY", "DevAuthority"]

log = logging.getLogger(__name__)

TSA_POLICY = "2.25.216443706203356126424925738117722465221"
"""The development TSA's policy OID (a UUID arc: no registration needed, unique to sohoa)."""

_OCSP_VALIDITY = dt.timedelta(hours=1)
_CRL_VALIDITY = dt.timedelta(days=1)
_TSA_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}
_MAX_REQUEST = 16 * 1024
"""Bytes: an OCSP or timestamp request is a few hundred; anything bigger is not one."""


class DevAuthority:
    """Answers OCSP, CRL and timestamp requests for one development PKI; safe across threads."""

    def __init__(
        self,
        pki: DevPki,
        password: str,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.pki = pki
        self._clock = clock
        pw = password.encode()
        self._ca_cert, self._ca_key = load_issuing_ca(pki.directory, pw)
        self._root = load_root_ca(pki.directory, pw)
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(pki.tsa_p12.read_bytes(), pw)
        except (OSError, ValueError) as exc:
            raise SignerConfigError(f"cannot open the development TSA key: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
            raise SignerConfigError("the development TSA key is not an RSA key with a certificate")
        self._tsa_key, self._tsa_cert = key, cert
        self._tsa_asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        self._tsa_cert_id = as_signing_certificate_v2(self._tsa_asn1)
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None  # revoked.json's (mtime, size)
        self._revoked: dict[int, Revocation] = {}
        self._issued: set[int] = set()

    # --- revocation state -------------------------------------------------------------------

    def _state(self) -> tuple[dict[int, Revocation], set[int]]:
        """Revoked and issued serials, re-read whenever ``revoked.json`` or ``issued/`` change."""
        stamp = _stamp(self.pki.revocations, self.pki.issued_dir)
        with self._lock:
            if stamp != self._seen:
                self._revoked = {r.serial: r for r in read_revocations(self.pki.directory)}
                self._issued = {
                    int(p.stem, 16) for p in self.pki.issued_dir.glob("*.pem") if _is_hex(p.stem)
                }
                self._seen = stamp
            return self._revoked, self._issued

    # --- OCSP (RFC 6960) ------------------------------------------------------------------

    def ocsp(self, request: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request."""
        if len(request) > _MAX_REQUEST:
            return _ocsp_refusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            req = ocsp.load_der_ocsp_request(request)
            serial, key_hash, name_hash = (
                req.serial_number,
                req.issuer_key_hash,
                req.issuer_name_hash,
            )
            algorithm = req.hash_algorithm
        except (ValueError, TypeError):
            return _ocsp_refusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if not isinstance(algorithm, hashes.SHA1 | hashes.SHA256):
            return _ocsp_refusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if key_hash != _key_hash(self._ca_cert, algorithm):
            # Not a certificate of ours: RFC 6960 §2.3 "unauthorized".
            return _ocsp_refusal(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        revoked, issued = self._state()
        now = self._clock().replace(microsecond=0)
        revocation = revoked.get(serial)
        revoked_at, reason = None, None
        if revocation is not None and revocation.revoked_at <= now:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at, reason = revocation.revoked_at, _reason(revocation.reason)
        elif serial in issued:
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.UNKNOWN
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=algorithm,
                cert_status=status,
                this_update=now,
                next_update=now + _OCSP_VALIDITY,
                revocation_time=revoked_at,
                revocation_reason=reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self._ca_cert)
        )
        for ext in req.extensions:  # echo the nonce: clients check it against replay
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        response = builder.sign(self._ca_key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    # --- CRL (RFC 5280) -------------------------------------------------------------------

    def crl(self) -> bytes:
        """The issuing CA's current CRL, DER."""
        revoked, _ = self._state()
        now = self._clock().replace(microsecond=0)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self._ca_cert.subject)
            .last_update(now)
            .next_update(now + _CRL_VALIDITY)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
        )
        for entry in revoked.values():
            if entry.revoked_at > now:
                continue
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
                .add_extension(x509.CRLReason(_reason(entry.reason)), critical=False)
                .build()
            )
        return builder.sign(self._ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def root_crl(self) -> bytes | None:
        """The root's CRL (empty: the issuing CA is never revoked here), DER; ``None`` for a
        PKI whose root key was not kept."""
        if self._root is None:
            return None
        root_cert, root_key = self._root
        now = self._clock().replace(microsecond=0)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root_cert.subject)
            .last_update(now)
            .next_update(now + _CRL_VALIDITY)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER)

    # --- timestamps (RFC 3161, RFC 5816) --------------------------------------------------

    def timestamp(self, request: bytes) -> bytes:
        """The DER ``TimeStampResp`` to a DER ``TimeStampReq``."""
        if len(request) > _MAX_REQUEST:
            return _tsa_refusal("bad_data_format", "request too large")
        try:
            req = tsp.TimeStampReq.load(request)
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            policy = req["req_policy"].native
        except (ValueError, TypeError, KeyError):
            return _tsa_refusal("bad_data_format", "not a TimeStampReq")
        if algorithm not in _TSA_HASHES or len(digest) != _TSA_HASHES[algorithm]:
            return _tsa_refusal("bad_alg", "message imprint must be SHA-256, -384 or -512")
        if policy is not None and policy != TSA_POLICY:
            return _tsa_refusal("unaccepted_policy", "unknown policy")
        info: dict[str, object] = {
            "version": "v1",
            "policy": TSA_POLICY,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": self._clock().astimezone(dt.UTC),
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self._tsa_asn1.subject),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute(
                    {"type": "message_digest", "values": [hashlib.sha256(content).digest()]}
                ),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [self._tsa_cert_id]}),
            ]
        )
        signature = self._tsa_key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={
                        "issuer": self._tsa_asn1.issuer,
                        "serial_number": self._tsa_asn1.serial_number,
                    },
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(content),
                },
                "certificates": [self._tsa_asn1] if cert_req else [],
                "signer_infos": [signer_info],
            }
        )
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        answer: bytes = tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": token}
        ).dump()
        return answer


def _key_hash(cert: x509.Certificate, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """Hash of the certificate's public key bits, as OCSP's CertID carries it."""
    spki = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).public_key
    digest = hashes.Hash(algorithm or hashes.SHA1())  # noqa: S303 - RFC 6960's CertID default
    digest.update(spki["public_key"].contents[1:])  # the BIT STRING's bytes, minus unused-bits
    return digest.finalize()


def _ocsp_refusal(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def _tsa_refusal(fail_info: str, text: str) -> bytes:
    """A ``TimeStampResp`` with only its status: asn1crypto's class insists on a token, so
    the SEQUENCE is written around the encoded status by hand."""
    status: bytes = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({fail_info}),
        }
    ).dump()
    return core.Sequence.load(b"\x30" + _der_length(len(status)) + status).dump()  # type: ignore[no-any-return]


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _reason(name: str) -> x509.ReasonFlags:
    return x509.ReasonFlags[name]


def _stamp(*paths: Path) -> tuple[float, int]:
    """A cheap fingerprint of files and directories: newest mtime and total size."""
    newest, size = 0.0, 0
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        newest, size = max(newest, st.st_mtime), size + st.st_size + st.st_nlink
    return newest, size


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
