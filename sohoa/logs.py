"""Structured logs that follow one request or one scan across the API and the workers.

An operator greps one id and gets the whole story: the API request that accepted a scan (its
``request_id``), the Celery tasks that ran for it (their ``task_id``, the same ``request_id``
carried in the message headers, and the ``scan_id``). Ids live in context variables, so any
logger anywhere picks them up without being handed them.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TextIO, TypeGuard

if TYPE_CHECKING:
    from celery import Celery
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
# Immutable, so the shared default can never be mutated in place by one caller for all others.
_bound: ContextVar[Mapping[str, Any]] = ContextVar("log_fields", default=MappingProxyType({}))

REQUEST_ID_HEADER = "X-Request-ID"
# Where the request middleware leaves the client's address for the rest of the request.
CLIENT_IP_STATE = "client_ip"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HEADER = REQUEST_ID_HEADER.lower().encode("ascii")
# What we accept from outside as an id: short and harmless in a log line, a header or a grep.
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]

# LogRecord's own attributes (and what Formatter adds); everything else on a record came from
# ``extra=``. ``color_message`` is uvicorn's ANSI-coloured duplicate of the message.
_RECORD_ATTRS = frozenset(
    {
        "args",
        "asctime",
        "created",
        "exc_info",
        "exc_text",
        "filename",
        "funcName",
        "levelname",
        "levelno",
        "lineno",
        "message",
        "module",
        "msecs",
        "msg",
        "name",
        "pathname",
        "process",
        "processName",
        "relativeCreated",
        "stack_info",
        "taskName",
        "thread",
        "threadName",
        "color_message",
    }
)


def _valid_id(value: object) -> TypeGuard[str]:
    """Whether an id from outside (a header, a task message) is safe to log and echo."""
    return isinstance(value, str) and _VALID_ID.fullmatch(value) is not None


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields such as ``scan_id`` to every log line written inside the block."""
    token = _bound.set(MappingProxyType({**_bound.get(), **fields}))
    try:
        yield
    finally:
        _bound.reset(token)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # wrong %-args: keep both halves rather than lose the line
        return f"{_safe_str(record.msg)} {_safe_str(record.args)}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log shippers and ``jq`` need no parsing rules.

    Never raises: a value JSON cannot carry is written as its ``str()``, and a record that
    cannot be read at all still yields a line saying so.
    """

    def format(self, record: logging.LogRecord) -> str:
        try:
            entry = self._entry(record)
        except Exception as exc:
            entry = {
                "ts": _timestamp(record),
                "level": _safe_str(getattr(record, "levelname", "")),
                "logger": _safe_str(getattr(record, "name", "")),
                "msg": _safe_str(getattr(record, "msg", "")),
                "format_error": _safe_str(exc),
            }
        try:
            return json.dumps(entry, ensure_ascii=False, default=_safe_str)
        except Exception:  # a circular value or odd dict keys: settle it field by field
            return json.dumps(_one_by_one(entry), ensure_ascii=False, default=_safe_str)

    def _entry(self, record: logging.LogRecord) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": _message(record),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        if (tid := task_id.get()) is not None:
            entry["task_id"] = tid
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # The call's own extras win over bound fields; neither replaces the keys above.
        for key, value in {**_bound.get(), **_extras(record)}.items():
            entry.setdefault(key, value)
        return entry


class TextFormatter(logging.Formatter):
    """The classic one-line format for a terminal, with the ids appended when there are any."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = []
        if (rid := request_id.get()) is not None:
            tags.append(f"req={rid}")
        if (tid := task_id.get()) is not None:
            tags.append(f"task={tid}")
        tags.extend(f"{key}={_safe_str(value)}" for key, value in _bound.get().items())
        if not tags:
            return line
        # Before the traceback, if any, so the ids stay on the line that greps find.
        first, sep, rest = line.partition("\n")
        return f"{first} [{' '.join(tags)}]{sep}{rest}"


def _timestamp(record: logging.LogRecord) -> str:
    try:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
    except Exception:
        stamp = datetime.now(tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def _one_by_one(entry: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in entry.items():
        try:
            json.dumps(value, ensure_ascii=False, default=_safe_str)
        except Exception:
            safe[key] = _safe_str(value)
        else:
            safe[key] = value
    return safe


# ---------------------------------------------------------------------------------------------
# Set-up


class _Handler(logging.StreamHandler[TextIO]):
    """Our stderr handler, told apart from handlers others (pytest, an embedding app) added."""


def _formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter()
    raise ValueError(f"log format is text or json, not {fmt!r}")


def _make_handler(fmt: str = "text") -> logging.Handler:
    # Also named in logging_dict(), for dictConfig to call.
    handler = _Handler(sys.stderr)
    handler.setFormatter(_formatter(fmt))
    return handler


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _level(level: str | int) -> str | int:
    return level.upper() if isinstance(level, str) else level


def configure_logging(level: str | int = "INFO", fmt: LogFormat | str = "text") -> None:
    """Send every log line, uvicorn's included, to stderr in one format.

    Idempotent: calling it again replaces our handler and leaves handlers others added alone.
    """
    handler = _make_handler(fmt)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.captureWarnings(True)  # Python's warnings, too, as log lines in the same format
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def logging_dict(level: str | int = "INFO", fmt: LogFormat | str = "text") -> dict[str, Any]:
    """``configure_logging`` as a ``dictConfig`` dict, for processes we do not start ourselves.

    uvicorn spawns its ``--workers`` processes afresh and applies its ``log_config`` in each;
    a root logger configured in the parent does not reach them.
    """
    _formatter(fmt)  # fail here, in the parent, on a bad format
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"sohoa": {"()": "sohoa.logs._make_handler", "fmt": fmt}},
        "root": {"level": _level(level), "handlers": ["sohoa"]},
        "loggers": {
            "alembic": {"level": "WARNING"},
            **{name: {"handlers": [], "propagate": True} for name in _UVICORN_LOGGERS},
        },
    }


# ---------------------------------------------------------------------------------------------
# The API


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
        rid = incoming if _valid_id(incoming) else uuid.uuid4().hex
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


# ---------------------------------------------------------------------------------------------
# Celery

# Apps whose tasks get ids; weak, so tests that build many apps do not keep them alive.
_celery_apps: weakref.WeakSet[Celery] = weakref.WeakSet()
# The previous values, restored when the task ends (an eager task inside a request, say).
_task_tokens: dict[str, tuple[Token[str | None], Token[str | None], Token[Mapping[str, Any]]]] = {}


def current_headers() -> dict[str, str]:
    """Message headers for ``send_task`` that carry this request's id to the worker."""
    rid = request_id.get()
    return {"request_id": rid} if rid is not None else {}


def bind_celery(app: Celery) -> None:
    """Log a task's lines with its ``task_id``, the sender's ``request_id`` and the ``scan_id``.

    Also keeps Celery's worker from installing its own log handlers and stdout redirection
    over ours: it does so unless something answers its ``setup_logging`` signal.
    """
    from celery import signals

    _celery_apps.add(app)
    # Celery's signals are process-wide; the receivers are module functions, so connecting
    # them again (one app per test) does not pile up duplicates.
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)
    signals.setup_logging.connect(_worker_logging, weak=False)


def _task_request_id(task: Any) -> str | None:
    request = getattr(task, "request", None)
    # On a worker (Celery 5.7) a message's custom headers are both attributes of the request
    # and entries of ``request.headers``; ``apply(headers=...)`` fills only ``headers``.
    rid = getattr(request, "request_id", None)
    if rid is None:
        headers = getattr(request, "headers", None)
        rid = headers.get("request_id") if isinstance(headers, Mapping) else None
    return rid if _valid_id(rid) else None


def _task_started(task: Any = None, args: Any = None, **signal: Any) -> None:
    tid = signal.get("task_id")
    if task is None or not tid or getattr(task, "app", None) not in _celery_apps:
        return
    fields = dict(_bound.get())
    if args and isinstance(args[0], str):
        fields["scan_id"] = args[0]  # every pipeline task takes the scan id first
    _task_tokens[tid] = (
        task_id.set(tid),
        # An eager task run inside a request keeps that request's id.
        request_id.set(_task_request_id(task) or request_id.get()),
        _bound.set(MappingProxyType(fields)),
    )


def _task_finished(**signal: Any) -> None:
    tokens = _task_tokens.pop(signal.get("task_id") or "", None)
    if tokens is None:
        return
    tid_token, rid_token, bound_token = tokens
    try:
        task_id.reset(tid_token)
        request_id.reset(rid_token)
        _bound.reset(bound_token)
    except ValueError:  # prerun ran in another context (no pool we use does this): clear
        task_id.set(None)
        request_id.set(None)
        _bound.set(MappingProxyType({}))


def _worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # The CLI configured logging before starting the worker; configure it here only for a
    # worker started some other way (``celery -A``), in the plain text format.
    if not logging.getLogger().handlers:
        configure_logging(loglevel or "INFO")
