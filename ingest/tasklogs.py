"""Celery glue for the logs: a task's lines carry its ``task_id``, the ``request_id`` of the
request that queued it and the ``scan_id`` it works on."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from contextvars import Token
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from core.logs import configure_logging, log_fields, request_id, task_id, valid_id

if TYPE_CHECKING:
    from celery import Celery


# Apps whose tasks get ids; weak, so tests that build many apps do not keep them alive.
_celery_apps: weakref.WeakSet[Celery] = weakref.WeakSet()
# The previous values, restored when the task ends (an eager task inside a request, say).
_task_tokens: dict[str, tuple[Token[str | None], Token[str | None], Token[Mapping[str, Any]]]] = {}


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
    return rid if valid_id(rid) else None


def _task_started(task: Any = None, args: Any = None, **signal: Any) -> None:
    tid = signal.get("task_id")
    if task is None or not tid or getattr(task, "app", None) not in _celery_apps:
        return
    fields = dict(log_fields.get())
    if args and isinstance(args[0], str):
        fields["scan_id"] = args[0]  # every pipeline task takes the scan id first
    _task_tokens[tid] = (
        task_id.set(tid),
        # An eager task run inside a request keeps that request's id.
        request_id.set(_task_request_id(task) or request_id.get()),
        log_fields.set(MappingProxyType(fields)),
    )


def _task_finished(**signal: Any) -> None:
    tokens = _task_tokens.pop(signal.get("task_id") or "", None)
    if tokens is None:
        return
    tid_token, rid_token, bound_token = tokens
    try:
        task_id.reset(tid_token)
        request_id.reset(rid_token)
        log_fields.reset(bound_token)
    except ValueError:  # prerun ran in another context (no pool we use does this): clear
        task_id.set(None)
        request_id.set(None)
        log_fields.set(MappingProxyType({}))


def _worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # The CLI configured logging before starting the worker; configure it here only for a
    # worker started some other way (``celery -A``), in the plain text format.
    if not logging.getLogger().handlers:
        configure_logging(loglevel or "INFO")
