"""The portal's HTTP flow: token, GetNextValue, UploadFile, NoiHoSo, CapNhatTienTrinh,
CapNhatTrangThai (domain notes §4.3).

What the portal's answer means for the outbox is decided here, once: a timeout, a refused
connection, a 5xx or a 429 is worth trying again later (``DeliveryFailed``, retryable); a 4xx or
a 200 whose body carries a non-zero ``error_code`` is the portal refusing the payload itself,
which no retry fixes (``DeliveryFailed(retryable=False)`` with the portal's code as
``response``, so the dead letter and the sync report show it).

The bearer token is kept until shortly before it expires, shared by every client of the
process for the same portal and account (the dispatcher builds its subscribers afresh on each
run), and fetched again once when the portal answers 401.

Never logged or put in an error: the password, the token, and payloads (they carry the
applicant's name and ID number). The portal's own messages are kept short and stripped of long
digit runs and e-mail addresses before they reach an error, because the dispatcher logs errors.

Unverified (secondary sources only): the paths, the token request (an OAuth2-style form post
with ``grant_type`` password or client_credentials), sending the token as ``Authorization:
Bearer`` (a ministry's playground passes ``?token=``), the multipart field name ``files``,
the answer envelopes (``error_code`` "0" = success as in one province's sync code; ``value`` for
GetNextValue; ``data[0].IdTepTin`` / ``HashTepTin`` for uploads), and lists as request bodies.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from connect.errors import DeliveryFailed

log = logging.getLogger(__name__)

SYSTEM = "dvcqg"  # the ExternalRef.system of the portal's ids
_TOKEN_MARGIN = 30.0  # seconds before its expiry a token is no longer used
_DEFAULT_TOKEN_LIFE = 3600.0  # when the portal does not say
_MESSAGE_CHARS = 200
_DIGITS = re.compile(r"\d{6,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")

Grant = Literal["password", "client_credentials"]


@dataclass(frozen=True)
class PortalPaths:
    """Where each step lives under the portal's base URL (unverified; a site can change them)."""

    token: str = "/token"  # noqa: S105 - a path, not a secret
    next_value: str = "/GetNextValue"
    upload: str = "/UploadFile"
    dossier: str = "/NoiHoSo"
    progress: str = "/CapNhatTienTrinh"
    status: str = "/CapNhatTrangThai"


@dataclass(frozen=True)
class PortalConfig:
    """The portal and our account there. The password never appears in ``repr``."""

    url: str
    username: str
    password: str = field(repr=False)
    grant: Grant = "password"
    timeout: float = 20.0
    paths: PortalPaths = field(default_factory=PortalPaths)

    @property
    def account(self) -> tuple[str, str]:
        return (self.url.rstrip("/"), self.username)


@dataclass(frozen=True)
class UploadedFile:
    """What the portal calls a file we uploaded: its IdTepTin and HashTepTin."""

    id: str
    hash: str


class TokenCache:
    """Bearer tokens by (portal, account), shared by the clients of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._fetching: dict[tuple[str, str], threading.Lock] = {}

    def fetching(self, account: tuple[str, str]) -> threading.Lock:
        """Held while one thread asks the portal for a token, so the others wait for it."""
        with self._lock:
            return self._fetching.setdefault(account, threading.Lock())

    def get(self, account: tuple[str, str], now: float) -> str | None:
        with self._lock:
            found = self._tokens.get(account)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def put(self, account: tuple[str, str], token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[account] = (token, expires_at)

    def drop(self, account: tuple[str, str], token: str) -> None:
        """Forget ``token`` unless another client has already replaced it."""
        with self._lock:
            if self._tokens.get(account, ("", 0.0))[0] == token:
                del self._tokens[account]


def scrub(text: str) -> str:
    """A portal message fit for an error and a log line: short, without ID numbers, phone
    numbers or e-mail addresses it may echo back from our payload."""
    text = _EMAIL.sub("***@***", _DIGITS.sub("***", " ".join(str(text).split())))
    return text[:_MESSAGE_CHARS]


class DvcqgClient:
    """One portal account. Use as a context manager around a delivery: the HTTP connection is
    opened on enter and closed on exit, so no socket outlives the delivery that used it. The
    dispatcher delivers several dossiers side by side on threads; each thread has its own
    connection."""

    def __init__(
        self,
        config: PortalConfig,
        *,
        tokens: TokenCache | None = None,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.tokens = tokens or TokenCache()
        self._transport = transport
        self._monotonic = monotonic
        self._local = threading.local()

    def __enter__(self) -> DvcqgClient:
        if getattr(self._local, "http", None) is None:
            self._local.http = httpx.Client(
                base_url=self.config.url.rstrip("/"),
                timeout=httpx.Timeout(self.config.timeout),
                transport=self._transport,
                headers={"Accept": "application/json"},
                follow_redirects=False,
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        http: httpx.Client | None = getattr(self._local, "http", None)
        if http is not None:
            http.close()
            self._local.http = None

    # -- the six steps -------------------------------------------------------------------------

    def next_value(self, unit_code: str) -> str:
        """A dossier code (MaHoSo) issued by the portal for ``unit_code``."""
        body = self._call(
            "GET", self.config.paths.next_value, "GetNextValue", params={"code": unit_code}
        )
        value = body.get("value")
        if value is None and isinstance(body.get("data"), dict):
            value = body["data"].get("value")
        if not isinstance(value, str) or not value.strip():
            raise DeliveryFailed(
                "the portal's GetNextValue answer carries no code", response="no value"
            )
        return value.strip()

    def upload(
        self, path: Path, filename: str, content_type: str = "application/pdf"
    ) -> UploadedFile:
        """Upload one file; the portal answers its IdTepTin and HashTepTin."""
        body = self._call(
            "POST",
            self.config.paths.upload,
            "UploadFile",
            upload=(path, filename, content_type),
        )
        data = body.get("data")
        first = data[0] if isinstance(data, list) and data else data
        if not isinstance(first, dict):
            raise DeliveryFailed("the portal's upload answer names no file", response="no data")
        file_id, file_hash = first.get("IdTepTin"), first.get("HashTepTin")
        if not isinstance(file_id, str) or not file_id:
            raise DeliveryFailed("the portal's upload answer has no IdTepTin", response="no id")
        return UploadedFile(id=file_id, hash=str(file_hash or ""))

    def put_dossier(self, hoso: dict[str, Any]) -> str:
        """NoiHoSo: create or update the dossier whose MaHoSo the payload carries."""
        return self._summary(self._call("POST", self.config.paths.dossier, "NoiHoSo", json=[hoso]))

    def progress(self, steps: list[dict[str, Any]]) -> str:
        """CapNhatTienTrinh: add processing steps."""
        return self._summary(
            self._call("POST", self.config.paths.progress, "CapNhatTienTrinh", json=steps)
        )

    def status(self, statuses: list[dict[str, Any]]) -> str:
        """CapNhatTrangThai: set the dossier's status."""
        return self._summary(
            self._call("POST", self.config.paths.status, "CapNhatTrangThai", json=statuses)
        )

    # -- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _summary(body: dict[str, Any]) -> str:
        code = body.get("error_code", body.get("code", "0"))
        return f"{code} {scrub(str(body.get('message', '')))}".strip()

    def _client(self) -> httpx.Client:
        http: httpx.Client | None = getattr(self._local, "http", None)
        if http is None:
            raise RuntimeError("use DvcqgClient as a context manager around its calls")
        return http

    def _token(self) -> str:
        account = self.config.account
        cached = self.tokens.get(account, self._monotonic())
        if cached is not None:
            return cached
        with self.tokens.fetching(account):
            cached = self.tokens.get(account, self._monotonic())  # another thread got one
            return cached if cached is not None else self._new_token()

    def _new_token(self) -> str:
        now = self._monotonic()
        c = self.config
        form = (
            {"grant_type": "password", "username": c.username, "password": c.password}
            if c.grant == "password"
            else {
                "grant_type": "client_credentials",
                "client_id": c.username,
                "client_secret": c.password,
            }
        )
        try:
            resp = self._client().post(c.paths.token, data=form)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                "the portal's token endpoint timed out", response="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed(
                f"cannot reach the portal for a token ({type(exc).__name__})", response="connect"
            ) from exc
        if resp.status_code != 200:
            # Bad credentials are an operator's to fix; the deliveries wait (and retry) meanwhile
            # rather than all becoming dead letters at once.
            raise DeliveryFailed(
                f"the portal refused our token request (HTTP {resp.status_code}); "
                "check SOHOA_DVCQG_USERNAME / SOHOA_DVCQG_PASSWORD",
                response=f"token HTTP {resp.status_code}",
            )
        try:
            body = resp.json()
            token = body["access_token"]
            life = float(body.get("expires_in") or _DEFAULT_TOKEN_LIFE)
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryFailed(
                "the portal's token answer is not readable", response="token unreadable"
            ) from exc
        if not isinstance(token, str) or not token:
            raise DeliveryFailed("the portal's token answer is empty", response="token empty")
        self.tokens.put(self.config.account, token, now + max(0.0, life - _TOKEN_MARGIN))
        log.info("dvcqg: new token for %s (valid %.0f s)", c.username, life)
        return token

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, str] | None,
        json: Any,
        upload: tuple[Path, str, str] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        client = self._client()
        if upload is None:
            return client.request(method, path, params=params, json=json, headers=headers)
        file_path, filename, content_type = upload
        with file_path.open("rb") as fh:
            return client.request(
                method,
                path,
                params=params,
                files={"files": (filename, fh, content_type)},
                headers=headers,
            )

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        upload: tuple[Path, str, str] | None = None,
    ) -> dict[str, Any]:
        """One step, with one fresh token on a 401; the answer's body, or DeliveryFailed."""
        token = self._token()
        try:
            resp = self._send(method, path, token, params=params, json=json, upload=upload)
            if resp.status_code == 401:
                self.tokens.drop(self.config.account, token)
                token = self._token()
                resp = self._send(method, path, token, params=params, json=json, upload=upload)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                f"the portal did not answer {what} within {self.config.timeout:g} s",
                response="timeout",
            ) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed(
                f"cannot reach the portal for {what} ({type(exc).__name__})", response="connect"
            ) from exc
        return _answer(resp, what)


def _answer(resp: httpx.Response, what: str) -> dict[str, Any]:
    status = resp.status_code
    body: Any
    try:
        body = resp.json()
    except ValueError:
        body = None
    portal_code = _code(body)
    message = scrub(str(body.get("message", ""))) if isinstance(body, dict) else ""
    if status == 401:
        raise DeliveryFailed(f"the portal refused our token for {what} twice", response="HTTP 401")
    if status == 403:
        # Our account lacks a right: an operator's to fix, and every delivery waits meanwhile.
        raise DeliveryFailed(
            f"the portal forbids our account {what} (HTTP 403); check its rights",
            response="HTTP 403",
        )
    if status >= 500 or status in (408, 425, 429):
        raise DeliveryFailed(
            f"the portal answered {what} with HTTP {status}", response=f"HTTP {status}"
        )
    if status >= 400:
        raise DeliveryFailed(
            f"the portal refused {what} (HTTP {status} {portal_code or ''}): {message}".rstrip(
                ": "
            ),
            response=portal_code or f"HTTP {status}",
            retryable=False,
        )
    if not isinstance(body, dict):
        # A proxy's HTML error page, a half-written answer: the portal may be mid-restart.
        raise DeliveryFailed(
            f"the portal's answer to {what} is not JSON", response=f"HTTP {status}"
        )
    if portal_code is not None and portal_code != "0":
        raise DeliveryFailed(
            f"the portal refused {what} ({portal_code}): {message}".rstrip(": "),
            response=portal_code,
            retryable=False,
        )
    log.info("dvcqg: %s answered %s", what, portal_code or status)
    return body


def _code(body: Any) -> str | None:
    """The portal's result code in an answer (``error_code``, else ``code``), as text."""
    if not isinstance(body, dict):
        return None
    for key in ("error_code", "code"):
        value = body.get(key)
        if value is not None and value != "":
            return str(value)
    return None


__all__ = [
    "SYSTEM",
    "DvcqgClient",
    "PortalConfig",
    "PortalPaths",
    "TokenCache",
    "UploadedFile",
    "scrub",
]
