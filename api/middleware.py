"""The API's request middleware: a request id, the client's address and one access line each."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from core.logs import request_id, valid_id

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# Where the request middleware leaves the client's address for the rest of the request.
CLIENT_IP_STATE = "client_ip"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HEADER = REQUEST_ID_HEADER.lower().encode("ascii")


class RequestIdMiddleware:
    """Give each HTTP request an id, echo it as ``X-Request-ID`` and log one access line.

    Pure ASGI rather than ``BaseHTTPMiddleware``, so streamed uploads and downloads pass through
    unbuffered. A caller's id is kept when it is short and plain (a proxy's or a client's, to
    join their logs to ours); anything else is replaced. The access line has the client's
    address (see ``client_address``; the rate limits key on the same one) and the path without
    the query string, which may carry tokens.

    Added with ``app.add_middleware`` it sits inside Starlette's ServerErrorMiddleware, so a
    500 from an unhandled exception goes out without the header (the log lines have the id).
    """

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted = trusted_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, _HEADER)
        rid = incoming if valid_id(incoming) else uuid.uuid4().hex
        peer = scope.get("client")
        client = client_address(peer[0] if peer else None, _forwarded_for(scope), self.trusted)
        # Request.state reads scope["state"]: the rate limits key on the same address we log.
        scope.setdefault("state", {})[CLIENT_IP_STATE] = client
        token = request_id.set(rid)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != _HEADER
                ]
                headers.append((_HEADER, rid.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            _log_access(scope, client, status or 500, started, error=type(exc).__name__)
            # request_id stays set on purpose: Starlette's ServerErrorMiddleware, outside us,
            # runs FastAPI's handler for Exception next and its log line should carry the id.
            # The variable lives in this request's own task, which ends with the request.
            raise
        _log_access(scope, client, status or 500, started)
        request_id.reset(token)


_access = logging.getLogger("sohoa.access")


def _log_access(
    scope: Scope, client: str | None, status: int, started: float, error: str | None = None
) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    method = scope.get("method", "")
    path = scope.get("path", "")
    peer = scope.get("client")
    extra: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "client": client,
    }
    if peer and peer[0] != client:
        extra["peer"] = peer[0]  # the proxy that told us who the client is
    if error:
        extra["error"] = error
    _access.info(
        "%s %s %s %s %.1fms", client or "-", method, path, status, duration_ms, extra=extra
    )


def trusted_networks(proxies: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse ``trusted_proxies`` (addresses or CIDR networks); a bad entry fails at start-up."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For entry that is not itself a trusted proxy.

    Everything left of that entry was written by the client and may be forged, hence right to
    left. An entry that is not an address ends the walk at the last trusted hop, so nobody gets
    a made-up string into the log or a rate-limit key of their choosing.
    """
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return client
        client = address
        if not _is_trusted(address, trusted):
            return address
    return client  # every hop is a proxy of ours: the left-most is as far as we can see


def _address(value: str) -> str | None:
    """An IP address from a forwarded hop (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``), else None."""
    candidates = [value]
    if value.startswith("[") and "]" in value:
        candidates.append(value[1 : value.index("]")])
    elif value.count(":") == 1:
        candidates.append(value.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # "testclient", a Unix socket: not a proxy we know
    return any(ip in net for net in trusted)


def _forwarded_for(scope: Scope) -> list[str]:
    return [
        value.decode("latin-1")
        for key, value in scope.get("headers", ())
        if key.lower() == b"x-forwarded-for"
    ]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
