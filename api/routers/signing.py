"""The clerk's confirmation of a remote signature (PIN/OTP), and asking the provider for an OTP.

With ``SOHOA_SIGNER=csc`` the clerks' keys stay at a remote-signing provider (Cloud Signature
Consortium API) that signs only with the key holder's confirmation. A scan whose signature
needs it waits as ``awaiting_confirmation`` (OCR done, nothing failed) until its clerk confirms
here. The PIN/OTP goes from this request to the provider and nowhere else (no task message, no
database row, no log), so the signature is made in this process, with the same sign step the
workers run. The API builds only the CSC backend: with local keys (PKCS#12, PKCS#11) these
operations answer 409 before any signer is built, so no private key is ever loaded here.

Guessing is limited per clerk as logins are per client: after ``auth_failure_limit`` refused
confirmations in ``auth_failure_window`` seconds the clerk gets 429; every OTP request counts
(each one texts the clerk).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.deps import Caller, Svc, rate_limiter, too_many
from api.problems import ApiProblem
from api.scans import ScanView, scan_body
from dossiers.access import Principal
from dossiers.workflow.scan_access import document_of, visible_scan
from storage.db import session_scope
from storage.models import ScanStatus

router = APIRouter(tags=["signing"])

PIN_PATTERN = r"^[0-9A-Za-z]{4,32}$"
OTP_PATTERN = r"^[0-9A-Za-z]{4,12}$"


def _secret_schema(pattern: str) -> dict[str, Any]:
    """A password field for clients and /docs: never echoed, letters and digits only."""
    return {"type": "string", "format": "password", "writeOnly": True, "pattern": pattern}


class SigningConfirmation(BaseModel):
    """What the clerk types to confirm one signature; the credential says which are needed.

    SecretStr, so neither value shows in a repr, a traceback or a log line.
    """

    model_config = ConfigDict(extra="forbid")

    pin: SecretStr | None = Field(
        default=None,
        description="The clerk's PIN: 4 to 32 letters or digits.",
        json_schema_extra=_secret_schema(PIN_PATTERN),
    )
    otp: SecretStr | None = Field(
        default=None,
        description="The one-time password (OTP) the clerk received: 4 to 12 letters or digits.",
        json_schema_extra=_secret_schema(OTP_PATTERN),
    )

    @field_validator("pin", "otp")
    @classmethod
    def _letters_and_digits(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The message never repeats the value: a problem body or a log line must not show it.
        pin = info.field_name == "pin"
        pattern = PIN_PATTERN if pin else OTP_PATTERN
        if value is not None and not re.fullmatch(pattern, value.get_secret_value()):
            raise ValueError(f"the {'PIN' if pin else 'OTP'} must match {pattern}")
        return value

    @model_validator(mode="after")
    def _something(self) -> SigningConfirmation:
        if self.pin is None and self.otp is None:
            raise ValueError("give the PIN, the OTP, or both, as the credential asks")
        return self


class OtpRequested(BaseModel):
    """The provider was asked to send the calling clerk a one-time password."""

    model_config = ConfigDict(extra="forbid")

    clerk_id: str = Field(description="Whose credential the OTP is for: the caller.")
    detail: str = Field(description="What happens next, in Vietnamese.")


CONFIRMATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not the scan's clerk, or the provider refused the PIN/OTP "
        "(``signing_confirmation_rejected``; the scan still waits)."
    },
    409: {"description": "The scan is not waiting for a confirmation, or keys are local."},
    428: {"description": "The credential needs more than was given (PIN and OTP)."},
    502: {"description": "The remote signing service answered with nothing usable."},
    503: {"description": "The remote signing service cannot be reached; the scan still waits."},
}


def _require_remote(svc: Svc) -> None:
    """409 unless keys are at a CSC provider; checked before any signer is built."""
    if svc.settings.signer != "csc":
        raise ApiProblem(
            409,
            "conflict",
            "Hệ thống ký bằng khóa cục bộ, không cần xác nhận OTP/PIN "
            "(this installation signs with local keys: nothing waits for a confirmation)",
        )


def _limit_key(who: Principal, what: str) -> str:
    return f"{what}:{who.staff_id}"


def _check_limit(request: Request, svc: Svc, key: str, *, count: bool) -> None:
    """429 once the clerk reached the limit; ``count`` adds this call (an OTP request)."""
    settings = svc.settings
    limit, window = settings.auth_failure_limit, settings.auth_failure_window
    if not limit:
        return
    limiter = rate_limiter(request)
    seen = (
        limiter.hit(key, limit=limit, window=window)
        if count
        else limiter.peek(key, limit=limit, window=window)
    )
    if seen.count > limit or (not count and seen.count >= limit):
        raise too_many(seen)


@router.post(
    "/scans/{scan_id}/confirmation",
    response_model=ScanView,
    responses=CONFIRMATION_RESPONSES,
)
def confirm_signature(
    scan_id: str, body: SigningConfirmation, request: Request, who: Caller, svc: Svc
) -> ScanView:
    """Sign a scan that awaits its clerk's confirmation with their PIN and/or OTP.

    Only the clerk whose key signs the scan may confirm (others who may read the scan get 403).
    Answers the scan, digitized. A refused PIN/OTP (403) or an unreachable provider (503)
    leaves the scan waiting; the clerk asks for a new OTP and confirms again.
    """
    from ingest.runner import sign_confirmed
    from signing.backends import SignerBackend
    from signing.csc import CscBackend
    from signing.errors import ConfirmationRejected

    limit_key = _limit_key(who, "signing-confirmation")
    _check_limit(request, svc, limit_key, count=False)
    with session_scope(svc.sessions) as session:
        scan = visible_scan(session, who, scan_id)
        if scan is None:
            raise ApiProblem(404, "scan_not_found", f"no scan {scan_id}")
        if scan.clerk_id != who.staff_id:
            raise ApiProblem(
                403,
                "forbidden",
                "Chỉ người ký của bản số hóa này được xác nhận ký số "
                "(only the clerk whose key signs this scan confirms its signature)",
            )
        waiting = scan.status == ScanStatus.AWAITING_CONFIRMATION
        filename = scan.filename
    _require_remote(svc)
    if not waiting:
        raise ApiProblem(
            409,
            "conflict",
            f"Bản số hóa không chờ xác nhận ký số (scan {scan_id} is not waiting for a signing "
            "confirmation); read its status again",
        )
    pin = body.pin.get_secret_value() if body.pin else None
    otp = body.otp.get_secret_value() if body.otp else None

    def confirm(backend: SignerBackend) -> SignerBackend:
        if not isinstance(backend, CscBackend):  # settings changed under us: never sign here
            raise ApiProblem(409, "conflict", "the scan's signer is not a remote signing service")
        return backend.confirmed(
            pin=pin, otp=otp, description=f"sohoa: ký số bản số hóa {filename}"[:500]
        )

    try:
        signed = sign_confirmed(svc, scan_id, confirm)
    except ConfirmationRejected:
        _check_limit(request, svc, limit_key, count=True)  # a wrong guess counts
        raise
    with session_scope(svc.sessions) as session:
        return scan_body(signed, document_of(session, scan_id))


@router.post(
    "/signing/otp",
    status_code=202,
    response_model=OtpRequested,
    responses={
        409: {"description": "Keys are local, or the credential takes no texted OTP."},
        502: {"description": "The remote signing service answered with nothing usable."},
        503: {"description": "The remote signing service cannot be reached."},
    },
)
def request_otp(request: Request, who: Caller, svc: Svc) -> OtpRequested:
    """Ask the remote signing service to send the calling clerk a one-time password (SMS or
    app), to confirm their next signature with."""
    from signing.csc import CscBackend

    who.require("counter", "agency", "admin")
    _require_remote(svc)
    _check_limit(request, svc, _limit_key(who, "signing-otp"), count=True)
    backend = svc.pipeline_deps.signers.for_clerk(who.staff_id)
    assert isinstance(backend, CscBackend)  # the registry builds CSC backends for "csc"
    credential = backend.credential
    if credential.otp_presence != "true" or credential.otp_type != "online":
        raise ApiProblem(
            409,
            "conflict",
            "Chứng thư ký số này không dùng mã OTP gửi qua tin nhắn "
            "(this credential takes no texted OTP: use the PIN, or the OTP app or token)",
        )
    backend.send_otp()
    return OtpRequested(
        clerk_id=who.staff_id,
        detail="Đã yêu cầu gửi mã OTP: nhập mã nhận được để xác nhận ký số "
        "(the provider was asked to send your OTP)",
    )
