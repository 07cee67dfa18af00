"""Integrators' webhooks: signed HTTP POSTs of a unit's or a province's outbox events.

An administrator subscribes a URL to some event kinds of one unit or one province
(:class:`WebhookService`); the dispatcher delivers each matching event to it through a
:class:`WebhookSubscriber` (one per active subscription, named ``webhook:<id>``), at least once
and in order per dossier, retrying with backoff and ending in a dead letter an administrator
can replay.

What a receiver gets
--------------------
``POST <url>`` with ``Content-Type: application/json`` and the body::

    {"id": 1234, "kind": "dossier.receive", "at": "2026-03-02T01:00:00+00:00",
     "dossier_id": "…", "unit_code": "000.00.16.H99", "province_code": "H99",
     "data": {…the event's payload: the dossier's code, status and dates, no person…}}

and the headers

- ``Sohoa-Event-Id``: the event's id (the same number as ``id``). A delivery can come twice
  (at least once), and a replay sends it again on purpose: apply an id once.
- ``Sohoa-Event``: the kind, e.g. ``dossier.receive``.
- ``Sohoa-Webhook-Id``: the subscription's id.
- ``Sohoa-Timestamp``: when it was signed, in Unix seconds.
- ``Sohoa-Signature``: ``v1=<hex>``, the lowercase hex HMAC-SHA256, keyed with the secret
  exactly as shown at creation (``whsec_…``, UTF-8, prefix included), over the bytes
  ``f"{timestamp}.".encode() + raw_body``. More than one ``v1=`` may come, comma-separated;
  one that matches is enough.

A receiver recomputes the signature over the raw body as received (before any JSON parsing),
compares in constant time and refuses a timestamp more than five minutes from its clock, so a
captured request cannot be played again later: :func:`verify_signature` does exactly that
with the standard library only and may be copied as is. Events of one dossier arrive in order,
each after the previous one was answered 2xx; events of different dossiers are not ordered.

Answers
-------
Any 2xx is delivered. Everything else is tried again later with a doubling wait, up to the
installation's attempts (``SOHOA_OUTBOX_MAX_ATTEMPTS``), then it is a dead letter: 3xx too
(redirects are not followed; subscribe the final URL), 4xx too (a receiver that refuses an
event today usually has a bug fixed tomorrow, and a dead letter would need a person), and
timeouts (5 s to connect, 10 s to read) and refused connections. Only the status and the first
200 characters of the answer are kept, for the delivery log.

Secrets and URLs
----------------
The secret is 32 random bytes, shown once (on creation and on rotation) and stored only
sealed: AES-256-GCM under a key derived with HKDF-SHA256 from the installation's URL secret
(``SOHOA_URL_SECRET`` or the data dir's ``url-secret``), bound to its subscription's id.
Changing the URL secret therefore makes every sealed secret unreadable: deliveries fail as
dead letters until each subscription's secret is rotated. A rotation takes effect on the next
dispatcher run; deliveries signed with the old secret that the receiver refuses are retried
with the new one, so nothing is lost while the receiver switches.

A URL is http or https, without user name or password, at most 2000 characters. Where the
installation's public URL is not on this machine (``localhost``, a loopback address), it must
be https and may not name a loopback, link-local, multicast or unspecified address: a
receiver in production is reached over TLS, and the delivery log must not become a way to read
this server's own ports or the cloud's metadata service. The same holds for what the host name
resolves to, checked at every delivery and not only when the URL is saved (a name can be made
to point elsewhere later), and the connection goes to the address that was checked: the name
is resolved once per delivery, so a second answer cannot slip in between check and connect.
Private networks are allowed: a province's own systems live there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connect.base import Event
from connect.dispatcher import DEAD, PENDING, DeliveryView, Dispatcher
from connect.errors import ConnectError, DeliveryFailed
from dossiers.access import Principal, merged_into
from dossiers.audit import record
from dossiers.calendar import VN_TZ
from dossiers.models import OutboxDelivery, Unit, WebhookSubscription
from dossiers.outbox import DEADLINE_NEAR, DOCUMENT_DIGITIZED
from dossiers.results.returns import POSTAL_STEPS
from dossiers.workflow.lifecycle import TRANSITIONS
from storage.db import session_scope
from storage.models import new_id

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a visible prefix, not a secret
SEAL_VERSION = "v1"
# The HKDF "info": a key for this purpose only, never the URL secret itself.
SEAL_PURPOSE = b"sohoa webhook signing secrets v1"
URL_MAX = 2000
EVENTS_MAX = 64
TOLERANCE = 300  # seconds a receiver accepts a timestamp away from its clock
RESPONSE_CHARS = 200
TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
SUBSCRIBER_PREFIX = "webhook:"

# Every kind an integrator may name. The dossier's steps (the status table and the desk's own
# events) become "dossier.<action>"; "dossier.*" takes them all, "*" everything.
_DESK_ACTIONS = (
    "create",
    "check",
    "reception_pending",
    "payment",
    "receipt_void",
    "reuse",
    "posted",
    "link_issued",
)
_POSTAL = {status for steps in POSTAL_STEPS.values() for status in steps} | set(POSTAL_STEPS)
KNOWN_KINDS: frozenset[str] = frozenset(
    {f"dossier.{action}" for action in TRANSITIONS}
    | {f"dossier.{action}" for action in _DESK_ACTIONS}
    | {f"dossier.postal_{status}" for status in _POSTAL}
    | {DOCUMENT_DIGITIZED, DEADLINE_NEAR}
)
WILDCARDS = ("*", "dossier.*", "document.*")

Scope = Literal["unit", "province"]


# -- errors ----------------------------------------------------------------------------------


class WebhookNotFound(ConnectError):
    """Also what an administrator of another province gets: existence is not leaked."""

    code = "webhook_not_found"
    http_status = 404
    retryable = False


class WebhookUrlInvalid(ConnectError):
    code = "webhook_url_invalid"
    http_status = 422
    retryable = False


class WebhookEventsInvalid(ConnectError):
    code = "webhook_events_invalid"
    http_status = 422
    retryable = False


class WebhookScopeInvalid(ConnectError):
    code = "webhook_scope_invalid"
    http_status = 422
    retryable = False


class WebhookDisabled(ConnectError):
    code = "webhook_disabled"
    http_status = 409
    retryable = False


# -- the signature (copy this part into a receiver) ------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``Sohoa-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (Sohoa-Signature) signs ``body`` (the raw bytes received) at
    ``timestamp`` (Sohoa-Timestamp) with ``secret``, and that time is within ``tolerance``
    seconds of ``now`` (this machine's clock). Standard library only: copy it."""
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    for part in header.split(","):
        version, _, value = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(value.strip(), expected):
            return True
    return False


# -- sealing ---------------------------------------------------------------------------------


class SecretBox:
    """AES-GCM under a key of its own, derived from the installation's URL secret; each
    sealed secret is bound to its subscription (the id is the associated data), so a sealed
    value copied to another row does not open."""

    def __init__(self, installation_secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_PURPOSE).derive(
            installation_secret
        )
        self._aead = AESGCM(key)

    def seal(self, subscription_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())
        return f"{SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, subscription_id: str, sealed: str) -> str:
        version, _, data = sealed.partition(".")
        if version != SEAL_VERSION:
            raise ValueError("unknown sealing")
        raw = base64.urlsafe_b64decode(data)
        return self._aead.decrypt(raw[:12], raw[12:], subscription_id.encode()).decode()


def new_secret() -> str:
    return SECRET_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


# -- checks ----------------------------------------------------------------------------------


def https_required(public_url: str) -> bool:
    """Whether this installation runs for real: its public URL is not on this machine."""
    return not _is_local(urlsplit(public_url).hostname or "")


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, https_only: bool) -> str:
    """The URL as it will be called, or :class:`WebhookUrlInvalid` saying what is wrong."""
    url = url.strip()
    if not url or len(url) > URL_MAX or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise WebhookUrlInvalid(
            f"địa chỉ webhook có tối đa {URL_MAX} ký tự, không có khoảng trắng "
            f"(a webhook URL has at most {URL_MAX} characters and no spaces)"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise WebhookUrlInvalid(f"địa chỉ webhook không hợp lệ (not a URL: {exc})") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookUrlInvalid(
            "địa chỉ webhook phải là http:// hoặc https:// kèm tên máy "
            "(a webhook URL is http:// or https:// with a host)"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlInvalid(
            "địa chỉ webhook không được chứa tên đăng nhập hay mật khẩu; bên nhận kiểm tra "
            "chữ ký (no user or password in a webhook URL: the receiver checks the signature)"
        )
    if parts.fragment:
        raise WebhookUrlInvalid("địa chỉ webhook không có phần #... (no #fragment)")
    if https_only:
        if parts.scheme != "https":
            raise WebhookUrlInvalid(
                "hệ thống đang chạy thật: webhook phải dùng https:// "
                "(this installation delivers to https:// URLs only)"
            )
        literal = _address(host)
        if _is_local(host) or (literal is not None and _refused(literal)):
            raise WebhookUrlInvalid(
                "webhook không được trỏ về chính máy chủ hoặc địa chỉ nội bộ đặc biệt "
                "(a webhook may not name this server, a link-local, multicast or "
                "unspecified address)"
            )
    return url


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _refused(address: Address) -> bool:
    """This machine, the link (where cloud metadata answers), multicast, or nowhere."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    this_network = isinstance(address, ipaddress.IPv4Address) and address.packed[0] == 0
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or this_network
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` has now, in the resolver's order, each once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"the receiver's host name does not resolve ({exc})"[:300]) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_events(events: Iterable[str]) -> list[str]:
    """The kinds, each once, in the order given; an unknown one is refused by name."""
    kinds = list(dict.fromkeys(e.strip() for e in events))
    if not kinds or len(kinds) > EVENTS_MAX:
        raise WebhookEventsInvalid(
            f"chọn từ 1 đến {EVENTS_MAX} loại sự kiện (name 1 to {EVENTS_MAX} event kinds)"
        )
    unknown = [k for k in kinds if k not in KNOWN_KINDS and k not in WILDCARDS]
    if unknown:
        raise WebhookEventsInvalid(
            f"loại sự kiện không có: {', '.join(unknown)[:300]} (unknown event kinds; "
            f'"dossier.*" takes every dossier step)',
            unknown=unknown[:20],
        )
    return kinds


def matches(events: Sequence[str], kind: str) -> bool:
    for entry in events:
        if entry == kind or entry == "*":
            return True
        if entry.endswith(".*") and kind.startswith(entry[:-1]):
            return True
    return False


# -- the subscriber --------------------------------------------------------------------------


@cache
def _tls() -> ssl.SSLContext:
    """Built once: loading the CA bundle for every delivery costs more than the delivery."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class WebhookSubscriber:
    """One subscription as the dispatcher sees it. Built afresh on every dispatcher run, so a
    new URL, kinds or secret apply from the next run."""

    def __init__(
        self,
        *,
        subscription_id: str,
        scope: str,
        units: frozenset[str],
        province: str | None,
        url: str,
        events: Sequence[str],
        sealed_secret: str,
        box: SecretBox,
        guard: bool = True,
        resolver: Callable[[str, int], list[str]] = resolve,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = f"{SUBSCRIBER_PREFIX}{subscription_id}"
        self.subscription_id = subscription_id
        self.scope = scope
        self.units = units  # the unit and those merged into it (their dossiers went along)
        self.province = province
        self.url = url
        self.events = tuple(events)
        self._sealed = sealed_secret
        self._box = box
        self.guard = guard  # refuse this machine's and link-local addresses (production)
        self.resolver = resolver
        # Transport time, not the domain's clock: the receiver compares it with its own.
        self.now = now

    def wants(self, event: Event) -> bool:
        if not matches(self.events, event.kind):
            return False
        if self.scope == "unit":
            return event.unit_code is not None and event.unit_code in self.units
        return event.province_code is not None and event.province_code == self.province

    def body(self, event: Event) -> bytes:
        document = {
            "id": event.id,
            "kind": event.kind,
            "at": event.at.isoformat(),
            "dossier_id": event.dossier_id,
            "unit_code": event.unit_code,
            "province_code": event.province_code,
            "data": event.payload,
        }
        return json.dumps(
            document, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
        ).encode()

    def deliver(self, event: Event) -> str:
        try:
            secret = self._box.open(self.subscription_id, self._sealed)
        except (InvalidTag, ValueError) as exc:
            # Only a new secret helps (the URL secret changed?): a dead letter at once.
            raise DeliveryFailed(
                "the signing secret cannot be unsealed (was SOHOA_URL_SECRET changed?); "
                "rotate the subscription's secret, then replay",
                retryable=False,
            ) from exc
        body = self.body(event)
        timestamp = str(int(self.now()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sohoa-webhooks/1",
            "Sohoa-Event-Id": str(event.id),
            "Sohoa-Event": event.kind,
            "Sohoa-Webhook-Id": self.subscription_id,
            "Sohoa-Timestamp": timestamp,
            "Sohoa-Signature": sign(secret, timestamp, body),
        }
        try:
            status, said = self._post(body, headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                f"the receiver did not answer in time ({type(exc).__name__})", response="timeout"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryFailed(
                f"the receiver cannot be reached ({type(exc).__name__}: {exc})"[:300]
            ) from exc
        if 200 <= status < 300:
            return f"HTTP {status}"
        answer = f"HTTP {status}: {said}" if said else f"HTTP {status}"
        raise DeliveryFailed(f"the receiver answered HTTP {status}", response=answer)

    def addresses(self, url: httpx.URL) -> list[str]:
        """Where to connect: the URL's own address, or what its name resolves to now; every
        one checked, since the connection may go to any of them."""
        literal = _address(url.host)
        found = (
            [str(literal)]
            if literal is not None
            else self.resolver(url.host, url.port or (443 if url.scheme == "https" else 80))
        )
        if not found:
            raise DeliveryFailed("the receiver's host name has no address")
        refused = [a for a in found if (ip := _address(a)) is not None and _refused(ip)]
        if self.guard and refused:
            # Not retried: a name pointing at this server is a configuration (or an attack),
            # and a dead letter puts it in front of an administrator.
            raise DeliveryFailed(
                f"the receiver's host name resolves to {refused[0]}: this server, a "
                "link-local, multicast or unspecified address is not delivered to; correct "
                "the URL, then replay",
                retryable=False,
            )
        return found

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST to the checked addresses in turn (the next one when one refuses to connect),
        naming the host in ``Host`` and, for TLS, in SNI and the certificate check."""
        url = httpx.URL(self.url)
        named = {**headers, "Host": url.netloc.decode("ascii")}
        extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
        *others, last = self.addresses(url)
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, verify=_tls()) as client:

            def post(address: str) -> tuple[int, str]:
                request = client.build_request(
                    "POST",
                    url.copy_with(host=address),
                    content=body,
                    headers=named,
                    extensions=extensions,
                )
                response = client.send(request, stream=True)
                try:
                    status = response.status_code
                    return status, _first_words(response) if not 200 <= status < 300 else ""
                finally:
                    response.close()

            for address in others:
                with contextlib.suppress(httpx.ConnectError):
                    return post(address)
            return post(last)


def _first_words(response: httpx.Response) -> str:
    """At most the first few hundred characters of an answer, printable, on one line."""
    raw = b""
    for chunk in response.iter_raw(1024):
        raw += chunk
        if len(raw) >= 4 * RESPONSE_CHARS:
            break
    text = raw.decode("utf-8", errors="replace")
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())[:RESPONSE_CHARS]


def active_subscribers(
    sessions: sessionmaker[Session], installation_secret: bytes, *, guard: bool
) -> list[WebhookSubscriber]:
    """One subscriber per active subscription, as the database says now; ``guard`` refuses
    receivers that resolve to this machine or the link (where the installation is real)."""
    box = SecretBox(installation_secret)
    subs: list[WebhookSubscriber] = []
    with session_scope(sessions) as session:
        rows = session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.active.is_(True))
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        ).all()
        for row in rows:
            unit = row.scope == "unit"
            subs.append(
                WebhookSubscriber(
                    subscription_id=row.id,
                    scope=row.scope,
                    units=frozenset({row.scope_code} | merged_into(session, row.scope_code))
                    if unit
                    else frozenset(),
                    province=None if unit else row.scope_code,
                    url=row.url,
                    events=[str(e) for e in row.events or []],
                    sealed_secret=row.secret_sealed,
                    box=box,
                    guard=guard,
                )
            )
    return subs


# -- read models -----------------------------------------------------------------------------


class WebhookView(BaseModel):
    """A subscription as administrators read it; the secret is never part of it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    scope: Scope = Field(description="unit: one unit's events; province: all its units'.")
    scope_code: str = Field(description="The unit's code, or the province's (e.g. H99).")
    url: str
    events: list[str] = Field(description='Event kinds; "dossier.*" takes every dossier step.')
    active: bool
    created_by: str
    created_at: datetime
    disabled_at: datetime | None
    subscriber: str = Field(description='Its name in the outbox: "webhook:<id>".')

    @classmethod
    def of(cls, row: WebhookSubscription) -> WebhookView:
        return cls(
            id=row.id,
            scope=row.scope,  # type: ignore[arg-type]
            scope_code=row.scope_code,
            url=row.url,
            events=[str(e) for e in row.events or []],
            active=row.active,
            created_by=row.created_by,
            created_at=row.created_at,
            disabled_at=row.disabled_at,
            subscriber=f"{SUBSCRIBER_PREFIX}{row.id}",
        )


class WebhookWithSecret(WebhookView):
    """The answer to a creation or a rotation: the only time the secret is shown."""

    secret: str = Field(
        description="The signing secret (whsec_…); shown once, keep it at the receiver."
    )


class WebhookList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[WebhookView]


class WebhookDeliveryLog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_id: str
    items: list[DeliveryView]
    next_before: int | None = Field(description="Pass as ``before`` for older ones; null: end.")


# -- the service -----------------------------------------------------------------------------


class WebhookService:
    """Subscriptions for administrators. An administrator without a unit manages every
    subscription; one with a unit manages those of its province (its units' and its own)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        installation_secret: bytes,
        *,
        clock: Callable[[], datetime],
        https_only: bool,
    ) -> None:
        self.sessions = sessions
        self.box = SecretBox(installation_secret)
        self.clock = clock
        self.https_only = https_only

    # -- scope ---------------------------------------------------------------------------------

    @staticmethod
    def _province_of(principal: Principal) -> str | None:
        """None: every province. An admin with a unit but no province sees nothing ("")."""
        principal.require("admin")
        if principal.unit_code is None:
            return None
        return principal.province_code or ""

    def _check_scope(self, session: Session, principal: Principal, scope: str, code: str) -> None:
        province = self._province_of(principal)
        if scope == "unit":
            unit = session.get(Unit, code)
            if unit is None or (province is not None and unit.province_code != province):
                raise WebhookScopeInvalid(
                    f"không có đơn vị {code[:64]} (no unit {code[:64]} you administer)"
                )
            if unit.valid_to is not None and unit.valid_to < self.clock().astimezone(VN_TZ).date():
                raise WebhookScopeInvalid(
                    f"đơn vị {code} đã sáp nhập vào {unit.successor_code}; đăng ký cho đơn vị "
                    f"đó (unit {code} was merged into {unit.successor_code}: subscribe there)"
                )
        elif scope == "province":
            known = session.scalar(select(Unit.code).where(Unit.province_code == code).limit(1))
            if known is None or (province is not None and code != province):
                raise WebhookScopeInvalid(
                    f"không có tỉnh {code[:16]} (no province {code[:16]} you administer)"
                )
        else:
            raise WebhookScopeInvalid("scope là unit hoặc province (scope is unit or province)")

    def _find(self, session: Session, principal: Principal, webhook_id: str) -> WebhookSubscription:
        province = self._province_of(principal)
        row = session.get(WebhookSubscription, webhook_id[:32])
        if (
            row is not None
            and province is not None
            and not self._in_province(session, row, province)
        ):
            row = None
        if row is None:
            raise WebhookNotFound(f"không có webhook {webhook_id[:32]} (no such webhook)")
        return row

    @staticmethod
    def _in_province(session: Session, row: WebhookSubscription, province: str) -> bool:
        if row.scope == "province":
            return row.scope_code == province
        unit = session.get(Unit, row.scope_code)
        return unit is not None and unit.province_code == province

    def _audit(
        self, session: Session, principal: Principal, action: str, row: WebhookSubscription
    ) -> None:
        # The host only: a query string may carry the integrator's own token, and audit rows
        # are never erased.
        record(
            session,
            actor_id=principal.staff_id,
            actor_role=principal.role,
            action=f"webhook.{action}",
            subject_type="webhook",
            subject_id=row.id,
            data={
                "scope": row.scope,
                "scope_code": row.scope_code,
                "host": urlsplit(row.url).hostname or "",
                "events": list(row.events or []),
            },
            at=self.clock(),
        )

    # -- operations ----------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        *,
        scope: str,
        scope_code: str,
        url: str,
        events: Iterable[str],
    ) -> WebhookWithSecret:
        principal.require("admin")
        checked_url = check_url(url, https_only=self.https_only)
        kinds = check_events(events)
        secret = new_secret()
        with session_scope(self.sessions) as session:
            self._check_scope(session, principal, scope, scope_code)
            row = WebhookSubscription(
                id=new_id(),
                scope=scope,
                scope_code=scope_code,
                url=checked_url,
                events=kinds,
                active=True,
                created_by=principal.staff_id,
                created_at=self.clock(),
            )
            row.secret_sealed = self.box.seal(row.id, secret)
            session.add(row)
            session.flush()
            self._audit(session, principal, "create", row)
            view = WebhookView.of(row)
        log.info("webhook %s made for %s %s by %s", view.id, scope, scope_code, principal.staff_id)
        return WebhookWithSecret(**view.model_dump(), secret=secret)

    def list(self, principal: Principal) -> WebhookList:
        province = self._province_of(principal)
        with session_scope(self.sessions) as session:
            stmt = select(WebhookSubscription).order_by(
                WebhookSubscription.created_at.desc(), WebhookSubscription.id
            )
            if province is not None:
                units = select(Unit.code).where(Unit.province_code == province)
                stmt = stmt.where(
                    or_(
                        and_(
                            WebhookSubscription.scope == "province",
                            WebhookSubscription.scope_code == province,
                        ),
                        and_(
                            WebhookSubscription.scope == "unit",
                            WebhookSubscription.scope_code.in_(units),
                        ),
                    )
                )
            return WebhookList(items=[WebhookView.of(r) for r in session.scalars(stmt)])

    def get(self, principal: Principal, webhook_id: str) -> WebhookView:
        with session_scope(self.sessions) as session:
            return WebhookView.of(self._find(session, principal, webhook_id))

    def update(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Iterable[str] | None = None,
    ) -> WebhookView:
        principal.require("admin")
        checked_url = check_url(url, https_only=self.https_only) if url is not None else None
        kinds = check_events(events) if events is not None else None
        with session_scope(self.sessions) as session:
            row = self._find(session, principal, webhook_id)
            if not row.active:
                raise WebhookDisabled("webhook đã tắt (the webhook is disabled)")
            if checked_url is not None:
                row.url = checked_url
            if kinds is not None:
                row.events = kinds
            self._audit(session, principal, "update", row)
            return WebhookView.of(row)

    def disable(self, principal: Principal, webhook_id: str) -> WebhookView:
        """Stops its deliveries: what still waits becomes a dead letter saying why. Disabling
        twice is the same as once."""
        with session_scope(self.sessions) as session:
            row = self._find(session, principal, webhook_id)
            if row.active:
                row.active = False
                row.disabled_at = self.clock()
                session.execute(
                    update(OutboxDelivery)
                    .where(
                        OutboxDelivery.subscriber == f"{SUBSCRIBER_PREFIX}{row.id}",
                        OutboxDelivery.state == PENDING,
                    )
                    .values(state=DEAD, lease_until=None, last_error="webhook disabled")
                )
                self._audit(session, principal, "disable", row)
            return WebhookView.of(row)

    def rotate(self, principal: Principal, webhook_id: str) -> WebhookWithSecret:
        """A new secret from the next dispatcher run on; the old one stops working then."""
        secret = new_secret()
        with session_scope(self.sessions) as session:
            row = self._find(session, principal, webhook_id)
            if not row.active:
                raise WebhookDisabled("webhook đã tắt (the webhook is disabled)")
            row.secret_sealed = self.box.seal(row.id, secret)
            self._audit(session, principal, "rotate", row)
            view = WebhookView.of(row)
        log.info("webhook %s: secret rotated by %s", view.id, principal.staff_id)
        return WebhookWithSecret(**view.model_dump(), secret=secret)

    def deliveries(
        self,
        principal: Principal,
        webhook_id: str,
        dispatcher: Dispatcher,
        *,
        state: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> WebhookDeliveryLog:
        view = self.get(principal, webhook_id)
        items = dispatcher.deliveries(view.subscriber, limit=limit, before_id=before, state=state)
        return WebhookDeliveryLog(
            webhook_id=view.id,
            items=items,
            next_before=items[-1].id if len(items) == limit else None,
        )

    def replay(
        self,
        principal: Principal,
        webhook_id: str,
        dispatcher: Dispatcher,
        *,
        event_ids: Sequence[int] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        include_delivered: bool = False,
    ) -> int:
        """Send again (dead letters; delivered ones too when asked or named) and back-fill
        events from before the subscription: only those in its scope and kinds."""
        view = self.get(principal, webhook_id)
        if not view.active:
            raise WebhookDisabled("webhook đã tắt (the webhook is disabled)")
        count = dispatcher.replay(
            event_ids=event_ids,
            since=since,
            until=until,
            subscriber=view.subscriber,
            include_delivered=include_delivered,
        )
        self._audit_replay(principal, view, count)
        return count

    def _audit_replay(self, principal: Principal, view: WebhookView, count: int) -> None:
        with session_scope(self.sessions) as session:
            record(
                session,
                actor_id=principal.staff_id,
                actor_role=principal.role,
                action="webhook.replay",
                subject_type="webhook",
                subject_id=view.id,
                data={"deliveries": count},
                at=self.clock(),
            )
