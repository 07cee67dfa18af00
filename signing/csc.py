"""Remote ("cloud") signing through a provider's Cloud Signature Consortium API, v1.0.4.

The clerk's key lives at the provider; we send the digest of the CMS signed attributes to
``signatures/signHash`` and get the raw signature back. pyHanko's :class:`CSCSigner` builds the
requests; this module adds what a counter needs around it:

* The certificate chain comes from ``credentials/info``, once per backend (the registry keeps
  one backend per clerk and process), and is checked: key enabled, certificate valid.
* Explicit authorization: the clerk confirms each document with a PIN and/or an OTP
  (``backend.send_otp()`` asks the provider to text one). ``backend.confirmed(pin=, otp=)`` is
  a one-shot backend for one document: its ``credentials/authorize`` call is made at signing
  time, for exactly one signature and bound to that signature's hash, so the SAD cannot sign
  anything else. Credentials in ``implicit`` mode sign without confirmation.
* pyHanko's size estimate (a dry run) never reaches the provider: :class:`CSCSigner` answers
  it with zeros.
* One aiohttp session per request: :class:`~signing.sign.DocumentSigner` runs every signature
  in its own event loop, and a session belongs to the loop it was made in.
* Every failure is a :class:`~signing.errors.SigningError` saying what to do. The access token,
  PIN and OTP are never logged or repeated; provider texts are scrubbed of them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from asn1crypto import algos, x509
from cryptography.exceptions import InvalidSignature
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    base64_digest,
)
from pyhanko_certvalidator.sig_validate import (
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from signing._aio import run_sync
from signing.errors import (
    ConfirmationRejected,
    ConfirmationRequired,
    KeyUnavailableError,
    RemoteCredentialError,
    RemoteSignerError,
    SignerConfigError,
    SigningError,
)
from signing.pki import UNIT_ID

__all__ = [
    "Confirmation",
    "ConfirmedCscBackend",
    "CscBackend",
    "CscConfig",
    "CscCredential",
    "Secret",
    "list_credentials",
]

log = logging.getLogger(__name__)

_API = "v1"
_MASK = "**********"


class _HasSecretValue(Protocol):
    def get_secret_value(self) -> str: ...


class Secret:
    """A string that never shows itself in repr, str or logs (pydantic's SecretStr accepted)."""

    __slots__ = ("_value",)

    def __init__(self, value: str | _HasSecretValue) -> None:
        self._value = value if isinstance(value, str) else value.get_secret_value()

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class CscConfig:
    """Where the provider is and which of its credentials belongs to whom.

    ``service_url`` is the part before ``/csc/v1/...``. A signer id (clerk id or ``"unit"``)
    maps to a credential id through ``credentials`` first, then ``credential_template``
    (``{clerk_id}`` is replaced by the signer id).
    """

    service_url: str
    access_token: Secret = field(repr=False)
    credential_template: str = "{clerk_id}"
    credentials: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    """Seconds for one request to the provider, connection included."""

    def __post_init__(self) -> None:
        url = self.service_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SignerConfigError(
                f"the remote signing service URL must start with https:// (or http://): {url!r}"
            )
        if parts.username or parts.password or parts.query:
            raise SignerConfigError(
                "the remote signing service URL must not carry credentials or a query; "
                "put the access token in its own setting"
            )
        object.__setattr__(self, "service_url", url)
        if not isinstance(self.access_token, Secret):
            object.__setattr__(self, "access_token", Secret(self.access_token))
        if not self.access_token:
            raise SignerConfigError("remote signing needs the provider's service access token")
        if "{clerk_id}" not in self.credential_template and not self.credentials:
            raise SignerConfigError(
                "the credential id template must contain {clerk_id} (or give explicit "
                "credential ids per clerk)"
            )
        if not self.timeout > 0:
            raise SignerConfigError("the remote signing timeout must be positive")

    @property
    def host(self) -> str:
        """The provider's host, for messages (never the full URL with its path)."""
        return urlsplit(self.service_url).netloc

    def credential_id(self, signer_id: str) -> str:
        explicit = self.credentials.get(signer_id)
        if explicit:
            return explicit
        return self.credential_template.replace("{clerk_id}", signer_id)


@dataclass(frozen=True)
class Confirmation:
    """What the clerk typed to confirm one signature; shown nowhere."""

    pin: str | None = field(default=None, repr=False)
    otp: str | None = field(default=None, repr=False)
    description: str = "sohoa: ký số bản số hóa"
    """Shown to the clerk by providers that display what is being authorized (≤ 500 chars)."""

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.pin, self.otp) if s)


@dataclass(frozen=True)
class CscCredential:
    """``credentials/info`` as far as signing needs it."""

    credential_id: str
    info: CSCCredentialInfo
    auth_mode: str
    """``explicit`` (PIN/OTP per authorization), ``implicit`` or ``oauth2code``."""
    pin_presence: str
    otp_presence: str
    otp_type: str | None
    """``online`` (the provider sends it: ``credentials/sendOTP``) or ``offline`` (an app)."""


def _common_name(cert: x509.Certificate) -> str:
    """CN of a certificate, else its subject: the rule of ``signing.backends.common_name``,
    repeated because that module imports this one (the registry builds CSC backends)."""
    cn = cert.subject.native.get("common_name")
    if isinstance(cn, list):
        cn = cn[-1]
    return str(cn) if cn else str(cert.subject.human_friendly)


# --- HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SessionInfo(CSCServiceSessionInfo):
    """pyHanko's session info, with the token kept as a :class:`Secret` (its own
    ``oauth_token`` would appear in every repr of the object)."""

    token: Secret = field(default_factory=lambda: Secret(""), repr=False)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.reveal()}"}


class _Client:
    """POSTs JSON to one credential's endpoints and turns every failure into our errors."""

    def __init__(self, config: CscConfig, credential_id: str, who: str) -> None:
        self.config = config
        self.who = who
        self.session_info = _SessionInfo(
            service_url=config.service_url,
            credential_id=credential_id,
            api_ver=_API,
            token=config.access_token,
        )

    async def call(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        secrets: Iterable[str] = (),
        empty_ok: bool = False,
    ) -> dict[str, Any]:
        """The JSON object answered by ``endpoint``; ``{}`` for an empty answer if
        ``empty_ok`` (``credentials/sendOTP`` answers 204)."""
        url = f"{self.config.service_url}/csc/{_API}/{endpoint}"
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(url, json=dict(body), headers=self.session_info.auth_headers) as resp,
            ):
                status, raw = resp.status, await resp.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors
            log.warning("remote signing: %s timed out after %ss", endpoint, self.config.timeout)
            raise KeyUnavailableError(
                f"the remote signing service ({self.config.host}) did not answer within "
                f"{self.config.timeout:g} s; try again in a moment, and tell the operator if "
                "it keeps happening"
            ) from exc
        except aiohttp.ClientError as exc:
            log.warning("remote signing: %s failed: %s", endpoint, type(exc).__name__)
            raise KeyUnavailableError(
                f"the remote signing service ({self.config.host}) cannot be reached; try again "
                "in a moment, and tell the operator if it keeps happening"
            ) from exc
        all_secrets = (self.config.access_token.reveal(), *secrets)
        if 200 <= status < 300:
            if not raw.strip() and empty_ok:
                return {}
            payload = _json_object(raw)
            if payload is None:
                log.warning("remote signing: %s answered %d with no JSON object", endpoint, status)
                raise RemoteSignerError(
                    f"the remote signing service ({self.config.host}) answered {endpoint} with "
                    "something that is not CSC JSON; try again later, and tell the operator "
                    "(the provider may be failing)"
                )
            return payload
        raise self._error(endpoint, status, _json_object(raw) or {}, all_secrets)

    def _error(
        self, endpoint: str, status: int, payload: Mapping[str, Any], secrets: Iterable[str]
    ) -> SigningError:
        """Map a CSC error answer (``error``, ``error_description``) to our hierarchy."""
        error = payload.get("error")
        code = error if isinstance(error, str) and re.fullmatch(r"[\w.-]{1,64}", error) else ""
        description = payload.get("error_description")
        text = _scrub(description if isinstance(description, str) else "", secrets)
        said = f" ({': '.join(p for p in (code, text) if p)})" if code or text else ""
        host = self.config.host
        log.warning("remote signing: %s answered HTTP %d%s", endpoint, status, said)
        lowered = f"{code} {text}".lower()
        if status == 401 or code in ("invalid_token", "unauthorized_client", "invalid_client"):
            return SignerConfigError(
                f"the remote signing service ({host}) refused sohoa's access token{said}; the "
                "operator must renew the service access token"
            )
        if code in ("invalid_pin", "invalid_otp") or (
            endpoint == "credentials/authorize" and re.search(r"\b(pin|otp)\b", lowered)
        ):
            what = {"invalid_pin": "PIN", "invalid_otp": "OTP"}.get(code) or (
                "OTP" if "otp" in lowered else "PIN" if "pin" in lowered else "PIN or OTP"
            )
            return ConfirmationRejected(
                f"the remote signing service refused the {what} for {self.who}{said}; ask the "
                "clerk to check it (request a new OTP if it has expired) and sign again"
            )
        if re.search(r"\bsad\b", lowered):
            return ConfirmationRejected(
                f"the remote signing service did not accept the authorization for {self.who}"
                f"{said} (expired or already used); the clerk has to confirm again"
            )
        if "credentialid" in lowered or re.search(r"\b(disabled|locked|revoked)\b", lowered):
            return RemoteCredentialError(
                f"the remote signing service does not accept credential "
                f"{self.session_info.credential_id!r} of {self.who}{said}; check the credential "
                "mapping, or have the provider enable the credential"
            )
        return RemoteSignerError(
            f"the remote signing service ({host}) refused {endpoint} with HTTP {status}{said}; "
            "tell the operator if it keeps happening"
        )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """A provider's text, short, on one line, and without our secrets in it (some echo input)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


def _b64decode(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


# --- credentials/info -----------------------------------------------------------------------


def _parse_credential(
    credential_id: str, who: str, host: str, data: Mapping[str, Any]
) -> CscCredential:
    def garbage(what: str) -> RemoteSignerError:
        return RemoteSignerError(
            f"the remote signing service ({host}) described credential {credential_id!r} of "
            f"{who} without {what}; tell the operator (the provider's answer is malformed)"
        )

    key, cert = data.get("key"), data.get("cert")
    if not isinstance(key, dict) or not isinstance(cert, dict):
        raise garbage("its key and certificate")
    if key.get("status") != "enabled":
        raise RemoteCredentialError(
            f"credential {credential_id!r} of {who} is disabled at the remote signing service; "
            "the clerk or the provider must enable it before signing"
        )
    cert_status = cert.get("status", "valid")
    if cert_status != "valid":
        if not (isinstance(cert_status, str) and re.fullmatch(r"[a-z]{1,20}", cert_status)):
            cert_status = "not valid"
        raise RemoteCredentialError(
            f"the certificate of credential {credential_id!r} of {who} is {cert_status} at the "
            "remote signing service; the clerk needs a new certificate from the provider"
        )
    try:
        certs = [x509.Certificate.load(_b64decode(c)) for c in cert["certificates"]]
        for c in certs:
            c.native  # noqa: B018 - asn1crypto parses lazily; fail here, not in pyHanko
    except (KeyError, TypeError, ValueError) as exc:
        raise garbage("readable certificates") from exc
    if not certs:
        raise garbage("certificates")
    try:
        mechanisms = frozenset(algos.SignedDigestAlgorithmId(o).native for o in key["algo"])
        multisign = int(data.get("multisign", 1))
        scal = int(data.get("SCAL", 1))
    except (KeyError, TypeError, ValueError) as exc:
        raise garbage("its signature algorithms") from exc
    auth_mode = data.get("authMode")
    if auth_mode not in ("explicit", "implicit", "oauth2code"):
        raise garbage("an authorization mode")
    if auth_mode == "oauth2code":
        raise SignerConfigError(
            f"credential {credential_id!r} of {who} needs OAuth2 authorization per signature, "
            "which sohoa does not do; ask the provider for PIN/OTP (explicit) authorization"
        )

    def presence(name: str) -> str:
        part = data.get(name)
        value = part.get("presence", "false") if isinstance(part, dict) else "false"
        return str(value).lower()

    otp = data.get("OTP")
    otp_type = otp.get("type") if isinstance(otp, dict) else None
    return CscCredential(
        credential_id=credential_id,
        info=CSCCredentialInfo(
            signing_cert=certs[0],  # the spec puts the signer's certificate first
            chain=certs[1:],
            supported_mechanisms=mechanisms,
            max_batch_size=multisign,
            hash_pinning_required=scal == 2,
            response_data=dict(data),
        ),
        auth_mode=str(auth_mode),
        pin_presence=presence("PIN"),
        otp_presence=presence("OTP"),
        otp_type=str(otp_type) if otp_type else None,
    )


# --- authorization and signing --------------------------------------------------------------


class _Authorizer(CSCAuthorizationManager):
    """``credentials/authorize`` for one signature, bound to its hash.

    ``confirmation`` is the clerk's; ``None`` means "no confirmation given", which only an
    implicit-mode credential accepts. Used once: a second request is refused here, before any
    call to the provider.
    """

    def __init__(
        self,
        client: _Client,
        credential: CscCredential,
        confirmation: Confirmation | None,
        *,
        one_shot: bool,
    ) -> None:
        super().__init__(client.session_info, credential.info)
        self.client = client
        self.credential = credential
        self.confirmation = confirmation
        self.one_shot = one_shot
        self._used = False
        self._lock = threading.Lock()

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        credential, who = self.credential, self.client.who
        if self.confirmation is None and credential.auth_mode == "explicit":
            raise ConfirmationRequired(
                f"signing as {who} needs the clerk's confirmation (PIN/OTP) at the remote "
                "signing service; ask the clerk and sign with backend.confirmed(...)"
            )
        with self._lock:
            if self._used and self.one_shot:
                raise ConfirmationRequired(
                    f"this confirmation by {who} was used for a document already; each "
                    "document needs its own confirmation"
                )
            self._used = True
        c = self.confirmation or Confirmation()
        body = self.format_csc_auth_request(
            pin=c.pin,
            otp=c.otp,
            hash_b64s=hash_b64s,
            description=c.description[:500],
        )
        answer = await self.client.call("credentials/authorize", body, secrets=c.secrets())
        sad = answer.get("SAD")
        if not isinstance(sad, str) or not sad:
            raise RemoteSignerError(
                f"the remote signing service ({self.client.config.host}) authorized {who} "
                "without a SAD; tell the operator (the provider's answer is malformed)"
            )
        expires_in = answer.get("expiresIn", 3600)
        if not isinstance(expires_in, int) or isinstance(expires_in, bool):
            expires_in = 3600
        return CSCAuthorizationInfo(
            sad=sad, expires_at=datetime.now(UTC) + timedelta(seconds=expires_in)
        )


class _CscSigner(CSCSigner):
    """pyHanko's CSC signer, one signature per ``signatures/signHash`` call, with our errors.

    pyHanko's batching swallows the commit's exception (it logs it and raises "No signing
    results available"), losing why the provider refused; a document is one signature anyway,
    so ``async_sign_raw`` asks for it directly. Requests go through :class:`_Client`, not the
    ``session`` attribute (see the module docstring), and the answer is verified against the
    certificate before pyHanko embeds it.
    """

    def __init__(self, client: _Client, authorizer: _Authorizer) -> None:
        # No shared aiohttp session: _Client opens one per request, in the running loop.
        super().__init__(session=None, auth_manager=authorizer)  # type: ignore[arg-type]
        self.client = client

    def _mechanism(self, digest_algorithm: str) -> algos.SignedDigestAlgorithm:
        # pyHanko leaves CSCSigner's override unannotated
        mechanism: algos.SignedDigestAlgorithm = self.get_signature_mechanism_for_digest(  # type: ignore[no-untyped-call]
            digest_algorithm
        )
        return mechanism

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:  # pyHanko's size estimate: never bother the provider (or the clerk)
            return bytes(self.est_raw_signature_size)
        try:
            mechanism = self._mechanism(digest_algorithm)
            request = await self.format_csc_signing_req(
                [base64_digest(data, digest_algorithm)], digest_algorithm
            )
        except PyHankoSigningError as exc:
            raise SignerConfigError(
                f"the remote credential of {self.client.who} cannot make this signature: "
                f"{exc}; ask the provider which algorithms it supports"
            ) from exc
        authorizer = self.auth_manager
        assert isinstance(authorizer, _Authorizer)
        secrets = (authorizer.confirmation or Confirmation()).secrets()
        answer = await self.client.call(
            "signatures/signHash", request, secrets=(request["SAD"], *secrets)
        )
        try:
            (signature,) = [_b64decode(s) for s in answer["signatures"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteSignerError(
                f"the remote signing service ({self.client.config.host}) did not return exactly "
                "one base64 signature; tell the operator (the provider's answer is malformed)"
            ) from exc
        assert self.signing_cert is not None
        try:
            DefaultSignatureValidator().validate_signature(
                signature,
                data,
                self.signing_cert.public_key,
                mechanism,
                SignatureValidationContext(contextual_md_algorithm=digest_algorithm),
            )
        except (InvalidSignature, ValueError) as exc:
            raise RemoteSignerError(
                f"the signature returned by the remote signing service for {self.client.who} "
                "does not match the certificate; nothing was signed, tell the operator"
            ) from exc
        return signature


# --- backends -------------------------------------------------------------------------------


class _CscIdentity:
    """Certificate and display name of a CSC credential (the SignerBackend properties)."""

    def _credential(self) -> CscCredential:
        raise NotImplementedError

    @property
    def certificate(self) -> x509.Certificate:
        return self._credential().info.signing_cert

    @property
    def name(self) -> str:
        return _common_name(self.certificate)


class CscBackend(_CscIdentity):
    """One clerk's (or the unit's) credential at a CSC provider.

    Its own :meth:`pyhanko_signer` signs only implicit-mode credentials; for explicit ones
    (PIN/OTP), sign with :meth:`confirmed`, a backend for one document.
    """

    def __init__(self, config: CscConfig, signer_id: str) -> None:
        self.config = config
        self.signer_id = signer_id
        self.credential_id = config.credential_id(signer_id)
        who = "the unit" if signer_id == UNIT_ID else f"clerk {signer_id!r}"
        self._client = _Client(config, self.credential_id, who)
        self._lock = threading.Lock()
        self._cached: CscCredential | None = None
        self._signer: _CscSigner | None = None

    def __repr__(self) -> str:  # the host only: no URL path, no token
        return (
            f"CscBackend({self.config.host!r}, signer={self.signer_id!r}, "
            f"credential={self.credential_id!r})"
        )

    @property
    def credential(self) -> CscCredential:
        """``credentials/info``, asked once; a failure is not cached, so it is asked again."""
        return self._credential()

    def _credential(self) -> CscCredential:
        cached = self._cached
        if cached is None:
            with self._lock:
                if self._cached is None:
                    self._cached = run_sync(self._fetch_credential)
                    log.info(
                        "remote signing: credential %r of %s loaded (%s, %s)",
                        self.credential_id,
                        self._client.who,
                        _common_name(self._cached.info.signing_cert),
                        self._cached.auth_mode,
                    )
                cached = self._cached
        return cached

    async def _fetch_credential(self) -> CscCredential:
        body = {
            "credentialID": self.credential_id,
            "certificates": "chain",
            "certInfo": False,
            "authInfo": True,
        }
        data = await self._client.call("credentials/info", body)
        return _parse_credential(self.credential_id, self._client.who, self.config.host, data)

    def pyhanko_signer(self) -> CSCSigner:
        """The process-wide signer: loads the credential now, signs without confirmation
        (implicit mode only; explicit mode raises :class:`ConfirmationRequired` at signing)."""
        signer = self._signer
        if signer is None:
            credential = self._credential()
            with self._lock:
                if self._signer is None:
                    self._signer = _CscSigner(
                        self._client,
                        _Authorizer(self._client, credential, None, one_shot=False),
                    )
                signer = self._signer
        return signer

    def confirmed(
        self, *, pin: str | None = None, otp: str | None = None, description: str | None = None
    ) -> ConfirmedCscBackend:
        """A backend that signs one document with the clerk's PIN and/or OTP.

        Checked against what the credential asks for before anything is sent; the provider
        checks the values themselves when the document is signed.
        """
        credential = self._credential()
        confirmation = Confirmation(pin=pin or None, otp=otp or None)
        if description:
            confirmation = replace(confirmation, description=description)
        missing = [
            what
            for what, presence, given in (
                ("PIN", credential.pin_presence, confirmation.pin),
                ("OTP", credential.otp_presence, confirmation.otp),
            )
            if presence == "true" and not given
        ]
        if credential.auth_mode == "explicit" and missing:
            raise ConfirmationRequired(
                f"signing as {self._client.who} needs the clerk's {' and '.join(missing)}"
            )
        return ConfirmedCscBackend(self, credential, confirmation)

    def send_otp(self) -> None:
        """Ask the provider to send the clerk a one-time password (SMS, app) for signing."""
        run_sync(self.async_send_otp)

    async def async_send_otp(self) -> None:
        """:meth:`send_otp` for async callers (the credential is loaded first if need be)."""
        credential = self._cached or await self._fetch_credential()
        if credential.otp_presence == "false" or credential.otp_type == "offline":
            raise SignerConfigError(
                f"the remote signing service sends no OTP for {self._client.who}: "
                + (
                    "the clerk reads it from their own OTP app or token"
                    if credential.otp_type == "offline"
                    else "this credential needs no OTP"
                )
            )
        await self._client.call(
            "credentials/sendOTP", {"credentialID": self.credential_id}, empty_ok=True
        )
        log.info("remote signing: OTP requested for %s", self._client.who)


class ConfirmedCscBackend(_CscIdentity):
    """A :class:`CscBackend` with one clerk confirmation: good for one document."""

    def __init__(
        self, parent: CscBackend, credential: CscCredential, confirmation: Confirmation
    ) -> None:
        self.parent = parent
        self._cred = credential
        self._signer = _CscSigner(
            parent._client,
            _Authorizer(parent._client, credential, confirmation, one_shot=True),
        )

    def __repr__(self) -> str:
        return f"ConfirmedCscBackend({self.parent!r})"

    def _credential(self) -> CscCredential:
        return self._cred

    def pyhanko_signer(self) -> CSCSigner:
        return self._signer


def list_credentials(config: CscConfig, user_id: str | None = None) -> list[str]:
    """The credential ids the provider lists for sohoa's token (or for ``user_id``): for an
    operator checking the setup and the credential mapping."""
    client = _Client(config, "", "the service")
    body: dict[str, Any] = {"maxResults": 1000}
    if user_id:
        body["userID"] = user_id
    answer = run_sync(lambda: client.call("credentials/list", body))
    ids = answer.get("credentialIDs")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RemoteSignerError(
            f"the remote signing service ({config.host}) listed credentials without "
            "credentialIDs; tell the operator (the provider's answer is malformed)"
        )
    return list(ids)
