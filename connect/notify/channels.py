"""How a rendered message leaves: e-mail over SMTP, SMS and Zalo through a provider's HTTP API.

One interface (:class:`Channel`), chosen by configuration. Each send says whether failing again
later may help: the network, a timeout, a provider that is down, throttles or does not accept our
credentials now is retried with backoff (an operator can fix a token meanwhile); a provider that
refuses the message itself (a 4xx, an error code in its answer, an address it rejects) makes a
dead letter at once. Vendor exceptions stay inside: only :class:`DeliveryFailed` leaves.

Deliveries are at least once, so every message carries a stable reference (``Message.ref``):
the e-mail's Message-ID, the providers' ``Idempotency-Key`` header and their ``ref`` /
``tracking_id`` field, from which a receiver can tell a repeat.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol

import httpx

from connect.errors import DeliveryFailed
from dossiers.workflow.consent import mobile_number

_SNIPPET = 200
# Throttled, timed out, or not accepting our credentials right now: worth another try later.
_RETRY_STATUSES = frozenset({401, 403, 408, 409, 425, 429})


@dataclass(frozen=True)
class Message:
    """One rendered notification; channels take what they can carry of it."""

    subject: str  # e-mail only
    text: str
    ref: str  # stable per event and channel: "sohoa-<event id>-<channel>"
    kind: str = ""  # the event kind, for providers that map it to a registered template
    headers: Mapping[str, str] = field(default_factory=dict)  # e-mail only
    params: Mapping[str, str] = field(default_factory=dict)  # a registered template's (Zalo)


class Channel(Protocol):
    """A way to reach a person: ``send`` returns the receiver's answer in a few words."""

    @property
    def name(self) -> str:
        """ "email", "sms" or "zalo": what a citizen chooses and the subscriber is named after."""
        ...

    def send(self, to: str, message: Message) -> str:
        """Send ``message`` to ``to`` (an address or a phone number), or raise DeliveryFailed."""
        ...


class Mailer(Channel, Protocol):
    """A channel that can also send one message to several people (the staff's alerts)."""

    def send_many(self, to: Sequence[str], message: Message) -> str: ...


# -- e-mail -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpChannel:
    """E-mail through an SMTP relay: implicit TLS (``use_ssl``, port 465) or STARTTLS.

    A connection per send: notifications are few and a relay closes idle sessions anyway.
    """

    host: str
    sender: str  # "Bộ phận Một cửa <noreply@example.gov.vn>" or a bare address
    port: int = 587
    user: str = ""
    password: str = ""
    starttls: bool = True
    use_ssl: bool = False
    timeout: float = 20.0
    context: ssl.SSLContext | None = None  # None: the system's trust store
    name: str = "email"

    def send(self, to: str, message: Message) -> str:
        return self.send_many([to], message)

    def send_many(self, to: Sequence[str], message: Message) -> str:
        recipients = [a for a in to if a]
        if not recipients:
            raise DeliveryFailed("no recipient", retryable=False)
        mail = self.compose(recipients, message)
        envelope_from = parseaddr(self.sender)[1]
        try:
            refused = self._transmit(mail, envelope_from, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            # Every address refused: permanently (5xx) or for now (4xx, greylisting).
            raise DeliveryFailed(
                f"the relay refused every recipient ({', '.join(map(str, codes))})",
                response=" ".join(map(str, codes)),
                retryable=any(code < 500 for code in codes),
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"the relay refused our login ({exc.smtp_code})", response=str(exc.smtp_code)
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            # Our From is at fault, not the message: kept for when the operator fixes it.
            raise DeliveryFailed(
                f"the relay refused the sender ({exc.smtp_code})", response=str(exc.smtp_code)
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"the relay answered {exc.smtp_code}",
                response=f"{exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=exc.smtp_code < 500,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS
            raise DeliveryFailed(
                f"cannot reach the mail relay {self.host}:{self.port} ({type(exc).__name__})"
            ) from None
        answer = f"250 accepted by {self.host}"
        if refused:
            answer += f"; refused {', '.join(sorted(refused))}"
        return answer

    def compose(self, recipients: Sequence[str], message: Message) -> EmailMessage:
        """The MIME message: UTF-8 text, the subject encoded as RFC 2047 asks, a Message-ID
        made from the reference so a repeated delivery is recognisably the same mail."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = ", ".join(recipients)
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(datetime.now(UTC))
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "sohoa.invalid"
        mail["Message-ID"] = f"<{message.ref}@{domain}>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        for key, value in message.headers.items():
            mail[key] = value
        mail.set_content(message.text, charset="utf-8")
        return mail

    def _transmit(
        self, mail: EmailMessage, envelope_from: str, recipients: Sequence[str]
    ) -> dict[str, Any]:
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=self._context())
            if self.user:
                smtp.login(self.user, self.password)
            return dict(smtp.send_message(mail, envelope_from, list(recipients)))

    def _context(self) -> ssl.SSLContext:
        return self.context or ssl.create_default_context()


def _text(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else value)[:_SNIPPET]


# -- HTTP providers (SMS gateways, Zalo) -------------------------------------------------------


@dataclass(frozen=True)
class HttpProvider:
    """A provider's JSON endpoint: POST with the token as a bearer, the reference as the
    ``Idempotency-Key``; the HTTP status and the body's error code say what went wrong."""

    url: str
    token: str
    timeout: float = 20.0

    def post(self, body: Mapping[str, Any], *, ref: str) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": ref,
            "Accept": "application/json",
            "User-Agent": "sohoa-notify",
        }
        try:
            with httpx.Client(timeout=self.timeout) as client:
                resp = client.post(self.url, json=dict(body), headers=headers)
        except httpx.HTTPError as exc:  # connect, read, TLS, timeout
            raise DeliveryFailed(f"provider unreachable ({type(exc).__name__})") from None
        status = resp.status_code
        snippet = f"{status} {resp.text[:_SNIPPET]}".strip()
        if status >= 500 or status in _RETRY_STATUSES:
            raise DeliveryFailed(f"provider answered {status}", response=snippet)
        if status >= 400:
            raise DeliveryFailed(
                f"provider refused the message ({status})", response=snippet, retryable=False
            )
        if not 200 <= status < 300:
            raise DeliveryFailed(f"provider answered {status}", response=snippet)
        try:
            data = resp.json()
        except ValueError:
            data = {}
        return status, data if isinstance(data, dict) else {}


def _provider_error(status: int, data: Mapping[str, Any]) -> None:
    """A 2xx whose body still says no (``error``/``error_code`` not 0, as Zalo's API does)."""
    code = data.get("error_code", data.get("error", 0))
    if code not in (0, "0", None, ""):
        detail = str(data.get("error_message") or data.get("message") or "")[:_SNIPPET]
        raise DeliveryFailed(
            f"provider refused the message (error {code})",
            response=f"{status} error {code} {detail}".strip(),
            retryable=False,
        )


def _phone(to: str) -> str:
    number = mobile_number(to)
    if number is None:
        raise DeliveryFailed("not a Vietnamese mobile number", retryable=False)
    return number


@dataclass(frozen=True)
class HttpSmsChannel:
    """SMS through a gateway: ``{"to": "84…", "text": …, "ref": …}``; answers ``{"id": …}``."""

    provider: HttpProvider
    name: str = "sms"

    def send(self, to: str, message: Message) -> str:
        body = {"to": _phone(to), "text": message.text, "ref": message.ref}
        status, data = self.provider.post(body, ref=message.ref)
        _provider_error(status, data)
        return f"{status} id={str(data.get('id', ''))[:64]}"


@dataclass(frozen=True)
class ZaloOaChannel:
    """Zalo notification messages (ZNS), sent directly or through the OA's provider: the phone,
    the template the OA registered for the event's kind (``templates``: kind -> template id)
    with its parameters, our reference as ``tracking_id``; answers ``{"error": 0, "data":
    {"msg_id": …}}``. Zalo carries no free text: a kind without a registered template is not
    sent on this channel, and the delivery log says so."""

    provider: HttpProvider
    templates: Mapping[str, str]
    name: str = "zalo"

    def send(self, to: str, message: Message) -> str:
        template_id = self.templates.get(message.kind)
        if not template_id:
            return f"skipped: no Zalo template registered for {message.kind}"
        body = {
            "phone": _phone(to),
            "template_id": template_id,
            "template_data": dict(message.params),
            "tracking_id": message.ref,
        }
        status, data = self.provider.post(body, ref=message.ref)
        _provider_error(status, data)
        inner = data.get("data")
        msg_id = data.get("msg_id") or (inner.get("msg_id") if isinstance(inner, dict) else "")
        return f"{status} msg_id={str(msg_id or '')[:64]}"
