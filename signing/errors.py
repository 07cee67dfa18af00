"""The signing package's one error hierarchy.

Every failure that leaves ``signing/`` is a :class:`SigningError`; pyHanko, python-pkcs11 and
cryptography exceptions are wrapped at the edge of the package. The class attributes carry the
behaviour the callers need (Celery retry, HTTP problem status, stable reason code), so the API
layer and the pipeline task translate errors without knowing where they came from.
"""

from __future__ import annotations

from core.errors import SohoaError

__all__ = [
    "ArchiveChainError",
    "CertificateNotValid",
    "ConfirmationRejected",
    "ConfirmationRequired",
    "InvalidClerkIdError",
    "InvalidPdfForSigning",
    "KeyUnavailableError",
    "RemoteCredentialError",
    "RemoteSignerError",
    "SignedInputLocked",
    "SignerConfigError",
    "SigningError",
    "StampFontMissingError",
    "TimestampError",
]


class SigningError(SohoaError):
    """Base class: a signature could not be produced (or the signing setup is unusable)."""

    code: str = "signing_failed"
    retryable: bool = False
    http_status: int = 500


class SignerConfigError(SigningError):
    """No usable signer for the request: unknown clerk, missing key file, wrong password or PIN.

    Not retryable: an operator has to fix the configuration (retrying a wrong PIN can even lock
    an HSM token).
    """

    code = "signer_not_configured"


class StampFontMissingError(SignerConfigError):
    """The stamp's font file is there but unreadable; Courier would break PDF/A and Vietnamese.

    A missing font is :class:`paper.fonts.FontMissingError`, as for every printed page."""

    code = "stamp_font_missing"


class InvalidClerkIdError(SignerConfigError):
    """A clerk id that cannot be used as a file name or token label."""

    code = "invalid_clerk_id"
    http_status = 422


class KeyUnavailableError(SigningError):
    """The key exists but cannot be reached right now (HSM session lost, token removed)."""

    code = "signing_key_unavailable"
    retryable = True
    http_status = 503


class TimestampError(SigningError):
    """The configured RFC 3161 timestamp authority could not be reached or answered badly."""

    code = "timestamp_unavailable"
    retryable = True
    http_status = 503


class ArchiveChainError(SigningError):
    """The newest timestamp of a file no longer validates, so a new one cannot extend its proof.

    Not retryable: the archive chain is broken (an expired or revoked TSA certificate, a
    timestamp from a TSA nobody trusts) and an operator has to look at the document.
    """

    code = "archive_chain_broken"


class CertificateNotValid(SigningError):
    """The signing (or TSA) certificate cannot be proven valid now: revoked (``code``
    ``certificate_revoked``), or its revocation status or chain cannot be established.

    Not retryable for the document: a revoked clerk must get a new certificate, a silent OCSP
    responder needs an operator; the scan keeps its original and can be re-signed.
    """

    code = "certificate_not_valid"


class InvalidPdfForSigning(SigningError):
    """The input is not a PDF pyHanko can sign incrementally (corrupt, encrypted, locked)."""

    code = "unsignable_pdf"
    http_status = 422


class SignedInputLocked(InvalidPdfForSigning):
    """The received file is certified (DocMDP) or locked so that no change at all is allowed.

    Adding our signature, even as an incremental update, would break the earlier one; the file
    is refused rather than broken. The counter keeps the file as received, unsigned by us.
    """

    code = "signed_input_locked"


class ConfirmationRequired(SigningError):
    """A remote (cloud) key signs only with its holder's confirmation (PIN, OTP), none given.

    The caller asks the clerk and signs again with the confirmed backend; a confirmation
    counts for one document, so a second use of it lands here too.
    """

    code = "signing_confirmation_required"
    http_status = 428


class ConfirmationRejected(SigningError):
    """The remote signing service refused the clerk's PIN or OTP, or their authorization is
    expired or used up. The clerk confirms again (a new OTP); retrying the same one is futile."""

    code = "signing_confirmation_rejected"
    http_status = 403


class RemoteCredentialError(SignerConfigError):
    """The remote signing service does not know the clerk's credential, or has it disabled,
    expired or revoked: the provider's account has to be fixed, not the request."""

    code = "signing_credential_unusable"
    http_status = 409


class RemoteSignerError(KeyUnavailableError):
    """The remote signing service answered, but not with anything usable (an error page, a
    malformed reply, a signature that does not verify). Usually transient, hence retryable."""

    code = "signing_provider_error"
    http_status = 502
