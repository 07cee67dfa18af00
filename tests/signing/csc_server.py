"""A Cloud Signature Consortium (API v1.0.4) signing service on 127.0.0.1, for tests.

It behaves like a remote-signing provider and checks what it receives as strictly as one: the
bearer token, JSON shapes and types, known and enabled credentials, PIN and OTP (online OTPs
are "texted" by ``credentials/sendOTP`` into :attr:`CscTestServer.sent_otps`), SADs (valid,
unexpired, bound to the credential and, for SCAL 2, to the authorized hashes, used at most
``numSignatures`` times), hash lengths against ``hashAlgo``, supported ``signAlgo`` OIDs and
strict base64. Errors are CSC's JSON (``error``, ``error_description``) with HTTP 400, or 401
for the token. Every request is recorded (:attr:`CscTestServer.received`).

Keys come from the development PKI's PKCS#12 files. The server can stop listening (provider
down), answer late (timeouts), answer garbage, or return corrupted signatures.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import pkcs12

HASH_ALGOS: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256()),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384()),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512()),
}
RSA_PKCS1 = "1.2.840.113549.1.1.1"  # rsaEncryption: the digest algorithm comes from hashAlgo
RSA_WITH = {  # sha*WithRSAEncryption: the digest algorithm is in the OID
    "1.2.840.113549.1.1.11": "2.16.840.1.101.3.4.2.1",
    "1.2.840.113549.1.1.12": "2.16.840.1.101.3.4.2.2",
    "1.2.840.113549.1.1.13": "2.16.840.1.101.3.4.2.3",
}


class CscError(Exception):
    """An error answer, as the CSC specification words them."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class Credential:
    credential_id: str
    key: RSAPrivateKey
    chain_der: list[bytes]  # signer's certificate first
    user_id: str
    pin: str | None = "1234"
    otp_type: str | None = "online"  # "online" (sendOTP), "offline" (fixed) or None
    offline_otp: str | None = None
    auth_mode: str = "explicit"
    scal: int = 2
    enabled: bool = True
    cert_status: str = "valid"
    multisign: int = 1


@dataclass
class Grant:
    """One SAD: what it may still sign."""

    credential_id: str
    remaining: int
    expires_at: float
    hashes: frozenset[str] | None


@dataclass(frozen=True)
class Received:
    endpoint: str
    authorization: str | None
    body: Any
    status: int
    error: str | None


@dataclass
class CscTestServer:
    token: str
    credentials: dict[str, Credential] = field(default_factory=dict)
    sad_lifetime: int = 300
    delay: float = 0.0
    """Seconds to wait before answering anything (a slow provider)."""
    canned: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    """Endpoint → (status, raw body) answered instead of the real thing (garbage)."""
    corrupt_signatures: bool = False
    received: list[Received] = field(default_factory=list)
    sent_otps: dict[str, list[str]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._pending_otp: dict[str, str] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._site: web.BaseSite | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_credential(
        self, credential_id: str, p12: Path, password: str, **options: Any
    ) -> Credential:
        key, cert, extra = pkcs12.load_key_and_certificates(p12.read_bytes(), password.encode())
        assert isinstance(key, RSAPrivateKey) and cert is not None
        der = serialization.Encoding.DER
        chain = [cert.public_bytes(der), *(c.public_bytes(der) for c in extra)]
        user = options.pop("user_id", credential_id)
        credential = Credential(credential_id, key, chain, user, **options)
        self.credentials[credential_id] = credential
        return credential

    def calls(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.endpoint == endpoint]

    def start(self) -> CscTestServer:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/csc/v1/{endpoint:.+}", self._handle)
        # Handler cancellation: a client that timed out must not keep a slow answer alive.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            assert self._runner is not None
            self._loop.run_until_complete(self._runner.setup())
            self._site = web.SockSite(self._runner, sock)
            self._loop.run_until_complete(self._site.start())
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="test-csc", daemon=True)
        self._thread.start()
        assert started.wait(10), "CSC test server did not start"
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def stop_listening(self) -> None:
        """The provider goes down: connections to its port are refused."""
        asyncio.run_coroutine_threadsafe(self._stop_site(), self._loop).result(10)

    def start_listening(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start_site(), self._loop).result(10)

    async def _stop_site(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def _start_site(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    # --- dispatch ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        auth = request.headers.get("Authorization")
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if self.delay:
            await asyncio.sleep(self.delay)
        if endpoint in self.canned:
            status, canned = self.canned[endpoint]
            self._record(endpoint, auth, body, status, "canned")
            return web.Response(status=status, body=canned, content_type="text/html")
        try:
            handler = {
                "info": self._info,
                "credentials/list": self._list,
                "credentials/info": self._credential_info,
                "credentials/authorize": self._authorize,
                "credentials/sendOTP": self._send_otp,
                "signatures/signHash": self._sign_hash,
            }.get(endpoint)
            if handler is None:
                raise CscError("invalid_request", f"Unknown method {endpoint}")
            if endpoint != "info":  # info is public in CSC 1.0.4; everything else needs it
                self._check_token(auth)
            if request.content_type != "application/json":
                raise CscError("invalid_request", "The request body must be JSON")
            if not isinstance(body, dict):
                raise CscError("invalid_request", "The request body must be a JSON object")
            answer = handler(body)
        except CscError as exc:
            self._record(endpoint, auth, body, exc.status, exc.error)
            headers = (
                {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
            )
            return web.json_response(
                {"error": exc.error, "error_description": exc.description},
                status=exc.status,
                headers=headers,
            )
        if answer is None:
            self._record(endpoint, auth, body, 204, None)
            return web.Response(status=204)
        self._record(endpoint, auth, body, 200, None)
        return web.json_response(answer)

    def _record(
        self, endpoint: str, auth: str | None, body: Any, status: int, error: str | None
    ) -> None:
        with self._lock:
            self.received.append(Received(endpoint, auth, body, status, error))

    def _check_token(self, auth: str | None) -> None:
        scheme, _, value = (auth or "").partition(" ")
        if scheme != "Bearer" or not secrets.compare_digest(value.encode(), self.token.encode()):
            raise CscError("invalid_token", "The access token is not valid", status=401)

    # --- checks ------------------------------------------------------------------------------

    @staticmethod
    def _string(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise CscError("invalid_request", f"Missing (or invalid type) string parameter {name}")
        return value

    @staticmethod
    def _boolean(body: dict[str, Any], name: str) -> bool:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise CscError("invalid_request", f"Invalid type boolean parameter {name}")
        return value

    def _credential(self, body: dict[str, Any]) -> Credential:
        credential_id = self._string(body, "credentialID")
        credential = self.credentials.get(credential_id or "")
        if credential is None:
            raise CscError("invalid_request", "Invalid parameter credentialID")
        return credential

    @staticmethod
    def _hashes(body: dict[str, Any], *, required: bool) -> list[str] | None:
        value = body.get("hash")
        if value is None and not required:
            return None
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(h, str) and h for h in value)
        ):
            raise CscError("invalid_request", "Missing (or invalid type) array parameter hash")
        for h in value:
            try:
                base64.b64decode(h, validate=True)
            except binascii.Error:
                raise CscError("invalid_request", "Invalid Base64 hash string parameter") from None
        return list(value)

    # --- endpoints ---------------------------------------------------------------------------

    def _info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "specs": "1.0.4.0",
            "name": "Dịch vụ ký số từ xa (thử nghiệm)",
            "logo": "",
            "region": "VN",
            "lang": "vi-VN",
            "description": "CSC test provider for sohoa's tests",
            "authType": ["external"],
            "methods": [
                "credentials/list",
                "credentials/info",
                "credentials/authorize",
                "credentials/sendOTP",
                "signatures/signHash",
            ],
        }

    def _list(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._string(body, "userID", required=False)
        max_results = body.get("maxResults", 100)
        if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
            raise CscError("invalid_request", "Invalid parameter maxResults")
        ids = [c.credential_id for c in self.credentials.values() if user in (None, c.user_id)]
        return {"credentialIDs": ids[:max_results]}

    def _credential_info(self, body: dict[str, Any]) -> dict[str, Any]:
        credential = self._credential(body)
        certificates = body.get("certificates", "single")
        if certificates not in ("none", "single", "chain"):
            raise CscError("invalid_request", "Invalid parameter certificates")
        self._boolean(body, "certInfo")
        auth_info = self._boolean(body, "authInfo")
        chain = {"none": [], "single": credential.chain_der[:1], "chain": credential.chain_der}
        answer: dict[str, Any] = {
            "key": {
                "status": "enabled" if credential.enabled else "disabled",
                "algo": [RSA_PKCS1, *RSA_WITH],
                "len": credential.key.key_size,
            },
            "cert": {
                "status": credential.cert_status,
                "certificates": [base64.b64encode(c).decode() for c in chain[certificates]],
            },
            "authMode": credential.auth_mode,
            "SCAL": str(credential.scal),
            "multisign": credential.multisign,
            "lang": "vi-VN",
        }
        if auth_info and credential.auth_mode == "explicit":
            if credential.pin is not None:
                answer["PIN"] = {"presence": "true", "format": "N", "label": "PIN"}
            if credential.otp_type is not None:
                answer["OTP"] = {
                    "presence": "true",
                    "type": credential.otp_type,
                    "format": "N",
                    "label": "OTP",
                    "ID": "sms",
                    "provider": "test",
                }
        return answer

    def _send_otp(self, body: dict[str, Any]) -> None:
        credential = self._credential(body)
        if credential.otp_type != "online":
            raise CscError("invalid_request", "The credential has no online OTP")
        otp = f"{secrets.randbelow(10**6):06d}"
        self._pending_otp[credential.credential_id] = otp
        self.sent_otps.setdefault(credential.credential_id, []).append(otp)
        return None

    def _authorize(self, body: dict[str, Any]) -> dict[str, Any]:
        credential = self._credential(body)
        if not credential.enabled:
            raise CscError("invalid_request", "The credential is disabled")
        num = body.get("numSignatures")
        if not isinstance(num, int) or isinstance(num, bool):
            raise CscError(
                "invalid_request", "Missing (or invalid type) integer parameter numSignatures"
            )
        if not 1 <= num <= credential.multisign:
            raise CscError("invalid_request", "Numbers of signatures is too high")
        hashes_b64 = self._hashes(body, required=credential.scal == 2)
        if hashes_b64 is not None and len(hashes_b64) != num:
            raise CscError("invalid_request", "The number of hashes does not match numSignatures")
        for name in ("description", "clientData"):
            self._string(body, name, required=False)
        pin = self._string(body, "PIN", required=False)
        otp = self._string(body, "OTP", required=False)
        if credential.auth_mode == "explicit":
            if credential.pin is not None:
                if pin is None:
                    raise CscError(
                        "invalid_request", "Missing (or invalid type) string parameter PIN"
                    )
                if not secrets.compare_digest(pin.encode(), credential.pin.encode()):
                    raise CscError("invalid_pin", "The PIN is invalid")
            if credential.otp_type is not None:
                if otp is None:
                    raise CscError(
                        "invalid_request", "Missing (or invalid type) string parameter OTP"
                    )
                expected = (
                    self._pending_otp.get(credential.credential_id)
                    if credential.otp_type == "online"
                    else credential.offline_otp
                )
                if expected is None or not secrets.compare_digest(otp.encode(), expected.encode()):
                    raise CscError("invalid_otp", "The OTP is invalid")
                if credential.otp_type == "online":
                    del self._pending_otp[credential.credential_id]  # an OTP works once
        sad = secrets.token_urlsafe(24)
        self.grants[sad] = Grant(
            credential.credential_id,
            num,
            time.monotonic() + self.sad_lifetime,
            frozenset(hashes_b64) if hashes_b64 is not None else None,
        )
        return {"SAD": sad, "expiresIn": self.sad_lifetime}

    def _sign_hash(self, body: dict[str, Any]) -> dict[str, Any]:
        credential = self._credential(body)
        sad = self._string(body, "SAD")
        hashes_b64 = self._hashes(body, required=True)
        assert sad is not None and hashes_b64 is not None
        sign_algo = self._string(body, "signAlgo")
        hash_algo = self._string(body, "hashAlgo", required=False)
        self._string(body, "clientData", required=False)
        if "signAlgoParams" in body:
            raise CscError("invalid_request", "Invalid parameter signAlgoParams")
        if sign_algo in RSA_WITH:
            if hash_algo not in (None, RSA_WITH[sign_algo]):
                raise CscError("invalid_request", "Invalid parameter hashAlgo")
            hash_algo = RSA_WITH[sign_algo]
        elif sign_algo == RSA_PKCS1:
            if hash_algo is None:
                raise CscError(
                    "invalid_request", "Missing (or invalid type) string parameter hashAlgo"
                )
        else:
            raise CscError("invalid_request", "Invalid parameter signAlgo")
        if hash_algo not in HASH_ALGOS:
            raise CscError("invalid_request", "Invalid parameter hashAlgo")
        digest = HASH_ALGOS[hash_algo][1]
        raw = [base64.b64decode(h, validate=True) for h in hashes_b64]
        if any(len(h) != digest.digest_size for h in raw):
            raise CscError("invalid_request", "Invalid digest value length")
        grant = self.grants.get(sad)
        if grant is None or grant.credential_id != credential.credential_id:
            raise CscError("invalid_request", "Invalid parameter SAD")
        if time.monotonic() >= grant.expires_at:
            del self.grants[sad]
            raise CscError("invalid_request", "SAD expired")
        if len(raw) > grant.remaining:
            raise CscError("invalid_request", "Invalid parameter SAD: no signatures left")
        if grant.hashes is not None and not set(hashes_b64) <= grant.hashes:
            raise CscError("invalid_request", "Invalid parameter hash: not authorized by the SAD")
        grant.remaining -= len(raw)
        if grant.remaining == 0:
            del self.grants[sad]
        signatures = [credential.key.sign(h, padding.PKCS1v15(), Prehashed(digest)) for h in raw]
        if self.corrupt_signatures:
            signatures = [bytes([s[0] ^ 1]) + s[1:] for s in signatures]
        return {"signatures": [base64.b64encode(s).decode() for s in signatures]}


def running(server: CscTestServer) -> Iterator[CscTestServer]:
    """Start ``server`` for a fixture and stop it afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.close()
