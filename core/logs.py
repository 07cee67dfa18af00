"""Structured logs that follow one request or one scan across the API and the workers.

This module holds the context and the formatting; the API's request middleware lives in
``api.middleware`` and the Celery signal glue in ``ingest.tasklogs``.

An operator greps one id and gets the whole story: the API request that accepted a scan (its
``request_id``), the Celery tasks that ran for it (their ``task_id``, the same ``request_id``
carried in the message headers, and the ``scan_id``). Ids live in context variables, so any
logger anywhere picks them up without being handed them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO, TypeGuard

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
# Immutable, so the shared default can never be mutated in place by one caller for all others.
log_fields: ContextVar[Mapping[str, Any]] = ContextVar("log_fields", default=MappingProxyType({}))

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


def valid_id(value: object) -> TypeGuard[str]:
    """Whether an id from outside (a header, a task message) is safe to log and echo."""
    return isinstance(value, str) and _VALID_ID.fullmatch(value) is not None


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields such as ``scan_id`` to every log line written inside the block."""
    token = log_fields.set(MappingProxyType({**log_fields.get(), **fields}))
    try:
        yield
    finally:
        log_fields.reset(token)


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
        for key, value in {**log_fields.get(), **_extras(record)}.items():
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
        tags.extend(f"{key}={_safe_str(value)}" for key, value in log_fields.get().items())
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

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.addFilter(_quiet_ticks)


# Tasks beat sends every few seconds (the outbox dispatcher): Celery's "received", "succeeded"
# and "sending due task" lines for them would be most of an operator's log, three lines every
# two seconds. Their warnings and errors, and what the tasks log themselves, still pass.
_QUIET_TASKS: set[str] = set()


def quiet_task(name: str) -> None:
    """Keep Celery's routine INFO lines about task ``name`` out of the log."""
    _QUIET_TASKS.add(name)


def _quiet_ticks(record: logging.LogRecord) -> bool:
    if record.levelno > logging.INFO or not record.name.startswith("celery") or not _QUIET_TASKS:
        return True
    message = record.getMessage()
    return not any(name in message for name in _QUIET_TASKS)


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
        "handlers": {"sohoa": {"()": "core.logs._make_handler", "fmt": fmt}},
        "root": {"level": _level(level), "handlers": ["sohoa"]},
        "loggers": {
            "alembic": {"level": "WARNING"},
            **{name: {"handlers": [], "propagate": True} for name in _UVICORN_LOGGERS},
        },
    }


def current_headers() -> dict[str, str]:
    """Message headers for ``send_task`` that carry this request's id to the worker."""
    rid = request_id.get()
    return {"request_id": rid} if rid is not None else {}
