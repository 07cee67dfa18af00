"""Signature verification reports for auditors and ``sohoa verify``.

A presentation of :func:`signing.validation.validate_pdf`: offline, against the trust roots the
caller passes, revocation soft-fail. :meth:`VerificationReport.to_dict` is the JSON the API's
``/verification`` answers and the CLI prints.

``ok`` is deliberately stricter than pyHanko's ``bottom_line``. pyHanko accepts a file whose
later revisions were cut off, and Info-dictionary edits as "LTA updates" (notes/signing.md §4),
so the caller should also pass the SHA-256 recorded at signing time.

A signature followed by allowed changes (an approval signature added later, as when we sign a
file that arrived already signed) is ``ok`` only when those changes are themselves covered by
a later signature that is ``ok``: every byte after the earlier signature is then signed by
someone the verifier trusts, and the diff policy found nothing but signing and form filling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from asn1crypto import x509

from signing.validation import (
    PADES_SUBFILTER,
    FileValidation,
    SignatureValidation,
    development_chain,
    is_development_name,
    load_certificates,
    validate_pdf,
)

__all__ = [
    "SignatureReport",
    "VerificationReport",
    "development_chain",
    "is_development_name",
    "load_certificates",
    "verify_pdf",
]


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
    """What the signature carries, not what validated: ``B-B`` a PAdES signature, ``B-T`` a
    timestamp token, ``B-LT`` a /DSS in the file, ``B-LTA`` a later document timestamp."""
    summary: str | None = None
    error: str | None = None
    later_changes_signed: bool = False
    """Every change after this signature is covered by a later signature that is ``ok``."""
    development_pki: bool = False
    """The signer's chain ends in sohoa's development root: a test signature, never a real one."""
    long_term: str | None = None
    """The long-term validation's indication/sub-indication (``TOTAL_PASSED/OK``), for a
    signature with a timestamp."""
    proven_at: str | None = None
    """When the signature is proven to have existed while its certificates were valid."""
    proof: tuple[str, ...] = ()
    """What that proof rests on (timestamps, revocation data in the DSS)."""
    revocation: str = "soft-fail"

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted, any timestamp token trusted too, and no change beyond
        signature maintenance, or only allowed changes that a later good signature covers."""
        changes_ok = self.modification_level in ("NONE", "LTA_UPDATES") or (
            self.later_changes_signed
            and bool(self.docmdp_ok)
            and self.modification_level not in (None, "OTHER")
        )
        # Proven valid now, or (a timestamped signature) at an earlier time by its long-term
        # evidence: a certificate revoked or expired since then does not undo it.
        proven = (self.trusted and self.bottom_line) or self.proven_at is not None
        return (
            self.error is None
            and self.intact
            and self.valid
            and proven
            and changes_ok
            and self.timestamp_trusted is not False
        )

    @classmethod
    def of(cls, sig: SignatureValidation, file: FileValidation) -> SignatureReport:
        """``sig`` as ``sohoa verify`` shows it; ``later_changes_signed`` is the file's to say."""
        if sig.failure is not None:
            return cls(field_name=sig.field_name, error=str(sig.failure))
        ts = sig.timestamp
        return cls(
            field_name=sig.field_name,
            intact=sig.intact,
            valid=sig.valid,
            trusted=sig.trusted,
            signer=sig.signer.common_name if sig.signer is not None else None,
            signer_subject=sig.signer_subject,
            signing_time=sig.signing_time.isoformat() if sig.signing_time else None,
            timestamp=ts.time.isoformat() if ts is not None and ts.time is not None else None,
            timestamp_trusted=None if ts is None else ts.ok,
            coverage=sig.coverage,
            modification_level=sig.modification_level,
            docmdp_ok=sig.docmdp_ok,
            bottom_line=sig.bottom_line,
            pades_level=_carried_level(sig, file),
            summary=sig.summary,
            development_pki=sig.development_pki,
            long_term=None
            if sig.long_term is None
            else f"{sig.long_term.indication}/{sig.long_term.sub_indication}",
            proven_at=sig.long_term.proven_at.isoformat()
            if sig.long_term is not None and sig.long_term.proven_at is not None
            else None,
            proof=sig.long_term.evidence if sig.long_term is not None else (),
            revocation=sig.revocation_mode,
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

    @classmethod
    def of(cls, validation: FileValidation) -> VerificationReport:
        """The verdict on ``validation``: ``ok`` = signed, every signature
        :attr:`SignatureReport.ok`, and the SHA-256 matches when one was given."""
        v = validation
        if v.read_error is not None:
            reason = v.read_error.strerror or v.read_error.kind
            return cls(
                filename=v.filename, signed=False, ok=False, error=f"cannot read file: {reason}"
            )
        if v.format_error is not None:
            return cls(
                filename=v.filename,
                signed=False,
                ok=False,
                sha256=v.sha256,
                sha256_matches=v.stored_hash_match,
                error=f"not a readable PDF: {v.format_error}",
            )
        signatures = _mark_later_changes_signed([SignatureReport.of(s, v) for s in v.signatures])
        signed = bool(signatures)
        ok = signed and all(s.ok for s in signatures) and v.stored_hash_match is not False
        return cls(
            filename=v.filename,
            signed=signed,
            ok=ok,
            sha256=v.sha256,
            sha256_matches=v.stored_hash_match,
            signatures=tuple(signatures),
        )


def verify_pdf(
    path: Path,
    *,
    trust_roots: Sequence[x509.Certificate],
    other_certs: Sequence[x509.Certificate] = (),
    expected_sha256: str | None = None,
    revocation: Literal["soft-fail", "hard-fail"] = "soft-fail",
    online: bool = False,
) -> VerificationReport:
    """Validate every signature in ``path`` now (see :func:`validate_pdf` for ``revocation``
    and ``online``). Never raises on bad input.

    A non-PDF, a corrupted file or an unreadable path gives ``ok=False`` with ``error`` set.
    """
    validation = validate_pdf(
        path,
        trust_roots=trust_roots,
        other_certs=other_certs,
        expected_sha256=expected_sha256,
        revocation=revocation,
        online=online,
    )
    return VerificationReport.of(validation)


def _carried_level(sig: SignatureValidation, file: FileValidation) -> str | None:
    if sig.subfilter != PADES_SUBFILTER:
        return None
    if sig.timestamp is None:
        return "B-B"
    if not file.has_dss:
        return "B-T"
    if any(ts.signed_revision > sig.signed_revision for ts in file.document_timestamps):
        return "B-LTA"
    return "B-LT"


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
