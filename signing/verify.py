"""Signature verification reports for auditors and ``sohoa verify``.

Validation is offline (``allow_fetching=False``) against the trust roots the caller passes,
with pyHanko's default soft-fail revocation policy: certificates without reachable CRL/OCSP
(the development PKI has none) are not rejected for it. A production verifier that must prove
non-revocation should embed revocation data at signing time (PAdES B-LT) instead.

``ok`` is deliberately stricter than pyHanko's ``bottom_line``. pyHanko accepts a file whose
later revisions were cut off, and Info-dictionary edits as "LTA updates" (notes/signing.md §4),
so the caller should also pass the SHA-256 recorded at signing time.

A signature followed by allowed changes (an approval signature added later, as when we sign a
file that arrived already signed) is ``ok`` only when those changes are themselves covered by
a later signature that is ``ok``: every byte after the earlier signature is then signed by
someone the verifier trusts, and the diff policy found nothing but signing and form filling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509
from cryptography import x509 as pyca_x509

from signing._aio import run_sync
from signing.backends import common_name
from signing.errors import SignerConfigError

__all__ = [
    "SignatureReport",
    "VerificationReport",
    "development_chain",
    "is_development_name",
    "load_certificates",
    "verify_pdf",
]

_PADES = "/ETSI.CAdES.detached"
# signing.pki names every CA of the development PKI "sohoa DEVELOPMENT ... NOT FOR PRODUCTION".
_DEV_WORDS = ("sohoa DEVELOPMENT", "NOT FOR PRODUCTION")
_MAX_CHAIN = 8


def is_development_name(name: Any) -> bool:
    """Whether an X.509 name (asn1crypto or cryptography) is one of the development PKI's."""
    if hasattr(name, "native"):  # asn1crypto
        values = [str(v) for v in name.native.values()]
    else:  # cryptography
        values = [str(attr.value) for attr in name]
    return any(all(word in v for word in _DEV_WORDS) for v in values)


def development_chain(cert: x509.Certificate, certs: Sequence[x509.Certificate]) -> bool:
    """Whether ``cert`` was issued under the development PKI, walking its issuers through
    ``certs`` (embedded and known certificates) up to the root."""
    by_subject = {c.subject.hashable: c for c in certs}
    for _ in range(_MAX_CHAIN):
        if is_development_name(cert.issuer):
            return True
        issuer = by_subject.get(cert.issuer.hashable)
        if issuer is None or issuer.subject.hashable == cert.subject.hashable:
            return False
        cert = issuer
    return False


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Certificates from a PEM (one or several) or DER file, e.g. ``ca.pem``/``chain.pem``."""
    from pyhanko.keys import load_certs_from_pemder

    try:
        certs = list(load_certs_from_pemder([str(path)]))
    except (OSError, ValueError) as exc:
        raise SignerConfigError(f"cannot read certificates from {path}: {exc}") from None
    if not certs:
        raise SignerConfigError(f"no certificate in {path}")
    return certs


@dataclass(frozen=True)
class SignatureReport:
    """One signature field, as an auditor reads it."""

    field_name: str
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    signer: str | None = None
    signer_subject: str | None = None
    signing_time: str | None = None
    timestamp: str | None = None
    timestamp_trusted: bool | None = None
    coverage: str | None = None
    modification_level: str | None = None
    docmdp_ok: bool | None = None
    bottom_line: bool = False
    pades_level: str | None = None
    summary: str | None = None
    error: str | None = None
    later_changes_signed: bool = False
    """Every change after this signature is covered by a later signature that is ``ok``."""
    development_pki: bool = False
    """The signer's chain ends in sohoa's development root: a test signature, never a real one."""

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted, any timestamp token trusted too, and no change beyond
        signature maintenance, or only allowed changes that a later good signature covers."""
        changes_ok = self.modification_level in ("NONE", "LTA_UPDATES") or (
            self.later_changes_signed
            and bool(self.docmdp_ok)
            and self.modification_level not in (None, "OTHER")
        )
        return (
            self.error is None
            and self.intact
            and self.valid
            and self.trusted
            and self.bottom_line
            and changes_ok
            and self.timestamp_trusted is not False
        )


@dataclass(frozen=True)
class VerificationReport:
    """Verdict on a whole file; ``to_dict()`` is what the API and the CLI print.

    ``filename`` is the file's name only: the report is served over HTTP, where a server path
    (a work directory under the data dir) is nobody's business.
    """

    filename: str
    signed: bool
    ok: bool
    sha256: str | None = None
    sha256_matches: bool | None = None
    signatures: tuple[SignatureReport, ...] = field(default_factory=tuple)
    error: str | None = None

    @property
    def development_pki(self) -> bool:
        """Some signature chains to the development root (not for production)."""
        return any(sig.development_pki for sig in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["development_pki"] = self.development_pki
        data["signatures"] = [{**asdict(sig), "ok": sig.ok} for sig in self.signatures]
        return data


def verify_pdf(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
    expected_sha256: str | None = None,
) -> VerificationReport:
    """Validate every signature in ``path`` offline. Never raises on bad input.

    ``ok`` = signed, every signature :attr:`SignatureReport.ok`, and the file's SHA-256 equals
    ``expected_sha256`` when one is given. A non-PDF, a corrupted file or an unreadable path
    gives ``ok=False`` with ``error`` set.
    """
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return VerificationReport(
            filename=name,
            signed=False,
            ok=False,
            error=f"cannot read file: {exc.strerror or type(exc).__name__}",
        )
    sha256 = hashlib.sha256(data).hexdigest()
    matches = None if expected_sha256 is None else sha256 == expected_sha256.strip().lower()
    try:
        signatures = run_sync(lambda: _validate_all(data, trust_roots, other_certs))
    except Exception as exc:  # garbage in, report out: the verifier must never crash
        return VerificationReport(
            filename=name,
            signed=False,
            ok=False,
            sha256=sha256,
            sha256_matches=matches,
            error=f"not a readable PDF: {type(exc).__name__}: {exc}",
        )
    signatures = _mark_later_changes_signed(signatures)
    signed = bool(signatures)
    ok = signed and all(s.ok for s in signatures) and matches is not False
    return VerificationReport(
        filename=name,
        signed=signed,
        ok=ok,
        sha256=sha256,
        sha256_matches=matches,
        signatures=tuple(signatures),
    )


def _mark_later_changes_signed(signatures: list[SignatureReport]) -> list[SignatureReport]:
    """Walk from the last signature back: once one is ``ok``, the earlier ones' later changes
    are covered by it (signatures come in signing order)."""
    out: list[SignatureReport] = []
    covered = False
    for sig in reversed(signatures):
        if covered:
            sig = replace(sig, later_changes_signed=True)
        covered = covered or sig.ok
        out.append(sig)
    return out[::-1]


async def _validate_all(
    data: bytes,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate],
) -> list[SignatureReport]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(BytesIO(data))
    sigs = list(reader.embedded_regular_signatures)
    if not sigs:
        return []
    doc_ts_revisions = [ts.signed_revision for ts in reader.embedded_timestamp_signatures]
    has_dss = "/DSS" in reader.root
    vc = ValidationContext(
        trust_roots=list(trust_roots), other_certs=list(other_certs), allow_fetching=False
    )
    try:
        return [await _one(sig, vc, has_dss, doc_ts_revisions) for sig in sigs]
    finally:
        await vc.aclose()


async def _one(sig: Any, vc: Any, has_dss: bool, doc_ts_revisions: list[int]) -> SignatureReport:
    from pyhanko.sign.validation import async_validate_pdf_signature

    field_name = str(sig.field_name)
    try:
        st = await async_validate_pdf_signature(sig, vc, ts_validation_context=vc)
    except Exception as exc:  # a malformed CMS blob must not hide the other signatures
        return SignatureReport(field_name=field_name, error=f"{type(exc).__name__}: {exc}")
    cert = st.signing_cert
    tsv = st.timestamp_validity
    level = None
    if sig.sig_object.get("/SubFilter") == _PADES:
        level = "B-B"
        if tsv is not None:
            level = "B-T"
            if has_dss:
                level = "B-LT"
                if any(rev > sig.signed_revision for rev in doc_ts_revisions):
                    level = "B-LTA"
    mod = st.modification_level
    known = [*sig.other_embedded_certs, *vc.certificate_registry]
    return SignatureReport(
        field_name=field_name,
        intact=bool(st.intact),
        valid=bool(st.valid),
        trusted=bool(st.trusted),
        signer=common_name(cert),
        signer_subject=pyca_x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string(),
        signing_time=st.signer_reported_dt.isoformat() if st.signer_reported_dt else None,
        timestamp=tsv.timestamp.isoformat() if tsv is not None else None,
        timestamp_trusted=(None if tsv is None else bool(tsv.intact and tsv.valid and tsv.trusted)),
        coverage=st.coverage.name if st.coverage is not None else None,
        modification_level=mod.name if mod is not None else None,
        docmdp_ok=st.docmdp_ok,
        bottom_line=bool(st.bottom_line),
        pades_level=level,
        summary=st.summary(),
        development_pki=development_chain(cert, known),
    )
