"""Structured logs: one request's and one scan's story, greppable across the API and workers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from celery import Celery
from celery.contrib.testing.worker import start_worker
from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from api.middleware import RequestIdMiddleware
from core import logs
from core.logs import (
    JsonFormatter,
    TextFormatter,
    bind,
    configure_logging,
    current_headers,
    logging_dict,
    request_id,
    task_id,
)
from ingest.tasklogs import bind_celery
from tests.fixtures.seaweedfs import free_ports

REPO = Path(__file__).resolve().parents[1]
HEX_ID = re.compile(r"[0-9a-f]{32}")
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Everything logged during the test, through JsonFormatter, parsed back line by line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers; put them back as they were."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic"]
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name in names
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
        lg.disabled = disabled
    logging.captureWarnings(False)


def _api() -> FastAPI:
    app = FastAPI()
    log = logging.getLogger("tests.api")

    @app.get("/sync")
    def sync_endpoint() -> dict[str, str | None]:  # runs in the thread pool
        log.info("sync handler")
        return {"seen": request_id.get()}

    @app.get("/async")
    async def async_endpoint() -> dict[str, str | None]:
        log.info("async handler")
        return {"seen": request_id.get()}

    @app.get("/own-header")
    def own_header() -> JSONResponse:
        return JSONResponse({}, headers={"X-Request-ID": "not-ours"})

    @app.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("division by zero in the handler")

    @app.exception_handler(Exception)
    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal"}, status_code=500)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app.add_middleware(RequestIdMiddleware)
    return app


def _access(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "sohoa.access"]


# ---------------------------------------------------------------------------------------------
# The API


@pytest.mark.parametrize("path", ["/sync", "/async"])
def test_a_requests_lines_carry_its_id(json_lines: Lines, path: str) -> None:
    with TestClient(_api()) as client:
        response = client.get(f"{path}?token=s3cret-in-the-query", headers={"X-Request-ID": ""})
    assert response.status_code == 200
    rid = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(rid)
    assert response.json() == {"seen": rid}
    lines = json_lines()
    handler_line = next(line for line in lines if line["logger"] == "tests.api")
    assert handler_line["request_id"] == rid
    assert TS.fullmatch(handler_line["ts"]) and handler_line["level"] == "INFO"
    [access] = _access(lines)
    assert access["request_id"] == rid
    assert access["method"] == "GET" and access["path"] == path and access["status"] == 200
    assert isinstance(access["duration_ms"], float) and access["client"] == "testclient"
    server_side = [line for line in lines if not line["logger"].startswith("httpx")]
    assert "s3cret" not in json.dumps(server_side)
    assert request_id.get() is None


def test_a_callers_plain_id_is_kept_and_echoed(json_lines: Lines) -> None:
    with TestClient(_api()) as client:
        response = client.get("/sync", headers={"X-Request-ID": "edge-7f3a.b_C-9"})
        second = client.get("/sync")
    assert response.headers["X-Request-ID"] == "edge-7f3a.b_C-9"
    assert response.json() == {"seen": "edge-7f3a.b_C-9"}
    assert HEX_ID.fullmatch(second.headers["X-Request-ID"])
    assert [line["request_id"] for line in _access(json_lines())] == [
        "edge-7f3a.b_C-9",
        second.headers["X-Request-ID"],
    ]


def test_the_response_carries_one_request_id_header(json_lines: Lines) -> None:
    with TestClient(_api()) as client:
        response = client.get("/own-header", headers={"X-Request-ID": "abc"})
    assert response.headers.get_list("X-Request-ID") == ["abc"]


async def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], Any]:
    """Drive the middleware with raw ASGI, as a server would, bytes and all."""
    sent: list[dict[str, Any]] = []
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen["inside"] = request_id.get()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/scans",
        "query_string": b"",
        "headers": headers,
        "client": ("10.0.0.5", 51234),
    }
    await app(inner)(scope, receive, send)
    seen["after"] = request_id.get()  # the same task: the middleware must have reset it
    return seen, dict(sent[0]["headers"])


@pytest.mark.parametrize(
    "hostile",
    [
        b"abc\nFAKE-LOG-LINE level=ERROR",
        b"abc\n",  # `$` in a regex would accept this trailing newline
        b"a" * 65,
        b"a" * 200,
        b"has space",
        b'quote"brace{',
        "Nguy\u1ec5n".encode(),
        b"",
    ],
)
def test_a_hostile_request_id_is_replaced(json_lines: Lines, hostile: bytes) -> None:
    seen, headers = asyncio.run(_call(RequestIdMiddleware, [(b"x-request-id", hostile)]))
    rid = headers[b"x-request-id"].decode()
    assert HEX_ID.fullmatch(rid)
    assert seen == {"inside": rid, "after": None}
    [access] = _access(json_lines())
    assert access["request_id"] == rid and access["status"] == 204
    assert access["client"] == "10.0.0.5" and access["method"] == "POST"


def test_a_64_character_id_is_kept(json_lines: Lines) -> None:
    edge = b"A" * 64
    seen, headers = asyncio.run(_call(RequestIdMiddleware, [(b"X-Request-Id", edge)]))
    assert headers[b"x-request-id"] == edge and seen["inside"] == "A" * 64


def test_an_unhandled_error_is_logged_with_the_request_id(json_lines: Lines) -> None:
    with TestClient(_api(), raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    lines = json_lines()
    [error] = [line for line in lines if line["msg"] == "unexpected error"]
    assert error["request_id"] == "req-boom" and error["level"] == "ERROR"
    assert "Traceback" in error["exc"] and "ZeroDivisionError" in error["exc"]
    [access] = _access(lines)
    assert access["status"] == 500 and access["error"] == "ZeroDivisionError"
    assert access["request_id"] == "req-boom"


def test_lifespan_and_websockets_pass_through(json_lines: Lines) -> None:
    with TestClient(_api()) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hi"
    assert _access(json_lines()) == []


# ---------------------------------------------------------------------------------------------
# The formatters


def test_exceptions_are_one_line_with_the_traceback(json_lines: Lines) -> None:
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("tests.exc").exception("lookup failed for %s", "scan-1")
    [line] = json_lines()
    assert line["msg"] == "lookup failed for scan-1" and line["level"] == "ERROR"
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'missing'" in line["exc"]


def test_vietnamese_text_survives_as_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.vi")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("Hồ sơ của %s bị trả lại", "Nguyễn Thị Lan", extra={"ly_do": "thiếu chữ ký"})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    raw = stream.getvalue()
    assert "Nguyễn Thị Lan" in raw and "thiếu chữ ký" in raw and "\\u" not in raw
    line = json.loads(raw)
    assert line["msg"] == "Hồ sơ của Nguyễn Thị Lan bị trả lại" and line["ly_do"] == "thiếu chữ ký"


def test_extras_and_bound_fields(json_lines: Lines) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    circular: dict[str, Any] = {}
    circular["self"] = circular
    log = logging.getLogger("tests.extra")
    with bind(scan_id="scan-5", clerk="clerk1"), bind(step="ocr"):
        log.info(
            "stored",
            extra={
                "pages": 3,
                "path": Path("/srv/objects/a.pdf"),
                "clerk": "clerk2",  # the call's own value wins over the bound one
                "level": "not-a-level",  # cannot replace the record's own keys
                "odd": Unprintable(),
                "loop": circular,
            },
        )
    log.info("after the block")
    first, second = json_lines()
    assert first["scan_id"] == "scan-5" and first["step"] == "ocr" and first["clerk"] == "clerk2"
    assert first["pages"] == 3 and first["path"] == "/srv/objects/a.pdf"
    assert first["level"] == "INFO" and first["odd"] == "<unprintable Unprintable>"
    assert isinstance(first["loop"], str)
    for attr in ("args", "lineno", "pathname", "levelno", "exc_info", "thread"):
        assert attr not in first
    assert {"scan_id", "step", "clerk"}.isdisjoint(second)


def test_the_json_formatter_never_raises() -> None:
    # Straight to the formatter: pytest's own capture handler raises on such records.
    def line(msg: str, *args: object) -> dict[str, Any]:
        record = logging.LogRecord("tests.broken", logging.INFO, __file__, 1, msg, args, None)
        return json.loads(JsonFormatter().format(record))

    assert line("%d pages", "three")["msg"] == "%d pages ('three',)"  # wrong type
    assert line("%s and %s", "one")["msg"] == "%s and %s ('one',)"  # too few arguments
    record = logging.LogRecord("tests.broken", logging.INFO, __file__, 1, "m", None, None)
    record.created = float("nan")  # not a time at all
    assert TS.fullmatch(json.loads(JsonFormatter().format(record))["ts"])


def test_the_timestamp_is_utc_with_milliseconds() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created = 1_700_000_000.1234
    line = json.loads(JsonFormatter().format(record))
    assert line["ts"] == "2023-11-14T22:13:20.123Z"


def test_the_text_format_appends_the_ids() -> None:
    formatter = TextFormatter()

    def record(exc: bool = False) -> logging.LogRecord:
        exc_info = None
        if exc:
            try:
                raise ValueError("bad")
            except ValueError:
                exc_info = sys.exc_info()
        return logging.LogRecord("sohoa.x", logging.INFO, __file__, 1, "hello", None, exc_info)

    assert formatter.format(record()).endswith(" INFO sohoa.x: hello")
    rid, tid = request_id.set("r1"), task_id.set("t1")
    try:
        with bind(scan_id="s1"):
            plain = formatter.format(record())
            with_exc = formatter.format(record(exc=True))
    finally:
        request_id.reset(rid)
        task_id.reset(tid)
    assert plain.endswith("sohoa.x: hello [req=r1 task=t1 scan_id=s1]")
    first, _, rest = with_exc.partition("\n")
    assert first.endswith("hello [req=r1 task=t1 scan_id=s1]")
    assert rest.startswith("Traceback") and rest.endswith("ValueError: bad")


# ---------------------------------------------------------------------------------------------
# Set-up


def _ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, logs._Handler)]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_is_idempotent_and_takes_over_uvicorn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What uvicorn does with its default log_config: handlers of its own, no propagation.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    assert logging.getLogger("uvicorn").handlers and logging.getLogger("uvicorn.access").handlers
    configure_logging("debug", "json")
    configure_logging("info", "json")
    root = logging.getLogger()
    [handler] = _ours(root)
    assert isinstance(handler.formatter, JsonFormatter) and root.level == logging.INFO
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert logging.getLogger(name).handlers == [] and logging.getLogger(name).propagate
    assert logging.getLogger("alembic").level == logging.WARNING

    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("running as root", UserWarning, stacklevel=1)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("uvicorn.error", "INFO"),
        ("py.warnings", "WARNING"),
    ]
    assert lines[0]["msg"] == "Started server process [42]" and "running as root" in lines[1]["msg"]

    configure_logging("warning", "text")
    [handler] = _ours(root)
    assert isinstance(handler.formatter, TextFormatter) and root.level == logging.WARNING
    with pytest.raises(ValueError, match="text or json"):
        configure_logging("info", "xml")


@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_without_log_config_leaves_ours_alone() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    configure_logging("info", "json")
    uvicorn.Config(app, log_config=None, access_log=False)  # applies its logging set-up
    assert len(_ours(logging.getLogger())) == 1
    for name in ("uvicorn", "uvicorn.error"):
        assert logging.getLogger(name).handlers == [] and logging.getLogger(name).propagate
    uvicorn.Config(app)  # its default, for contrast: "uvicorn" lines stop reaching the root
    assert not logging.getLogger("uvicorn").propagate


@pytest.mark.usefixtures("restore_logging")
def test_logging_dict_configures_the_same_as_configure_logging() -> None:
    logging.config.dictConfig(logging_dict("warning", "json"))
    root = logging.getLogger()
    [handler] = _ours(root)
    assert isinstance(handler.formatter, JsonFormatter) and root.level == logging.WARNING
    assert logging.getLogger("uvicorn.error").propagate
    assert logging.getLogger("alembic").level == logging.WARNING
    with pytest.raises(ValueError, match="text or json"):
        logging_dict("info", "xml")


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_falls_back_to_text_when_settings_do_not_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wiring.cli import _configure_logging

    monkeypatch.setenv("SOHOA_LOG_FORMAT", "json")
    monkeypatch.setenv("SOHOA_LOG_LEVEL", "debug")
    assert _configure_logging() == ("DEBUG", "json")
    assert _configure_logging("warning") == ("WARNING", "json")
    monkeypatch.setenv("SOHOA_LOG_LEVEL", "chatty")
    assert _configure_logging() == ("INFO", "json")
    monkeypatch.setenv("SOHOA_LOG_FORMAT", "xml")
    assert _configure_logging() == ("INFO", "text")
    [handler] = _ours(logging.getLogger())
    assert isinstance(handler.formatter, TextFormatter)


# ---------------------------------------------------------------------------------------------
# Celery


def _celery(name: str) -> Celery:
    app = Celery(name, broker="memory://", set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        result_backend=None,
        worker_hijack_root_logger=False,
        broker_transport_options={"polling_interval": 0.05},
    )
    return app


def test_task_signals_set_and_restore_the_ids(json_lines: Lines) -> None:
    app, unbound = _celery("bound"), _celery("unbound")
    seen: list[tuple[str | None, str | None]] = []

    @app.task(name="tests.probe")
    def probe(scan_id: str) -> None:
        seen.append((task_id.get(), request_id.get()))
        logging.getLogger("tests.task").info("in the task")

    @unbound.task(name="tests.other")
    def other(scan_id: str) -> None:
        seen.append((task_id.get(), request_id.get()))

    bind_celery(app)
    bind_celery(app)  # a second call must not run the handlers twice
    outer = request_id.set("outer-request")
    try:
        result = probe.apply(args=["scan-9"], headers={"request_id": "req-from-api"})
        assert result.successful()
        assert task_id.get() is None and request_id.get() == "outer-request"
        hostile = probe.apply(args=["scan-10"], headers={"request_id": "x\nforged"})
        none = probe.apply(args=["scan-11"])
        other.apply(args=["scan-12"], headers={"request_id": "req-other"})
    finally:
        request_id.reset(outer)
    assert seen == [
        (result.id, "req-from-api"),
        (hostile.id, "outer-request"),  # a forged id is dropped; the eager caller's stays
        (none.id, "outer-request"),
        (None, "outer-request"),  # an app nobody bound is left alone
    ]
    lines = [line for line in json_lines() if line["logger"] == "tests.task"]
    assert [(x["task_id"], x["request_id"], x["scan_id"]) for x in lines] == [
        (result.id, "req-from-api", "scan-9"),
        (hostile.id, "outer-request", "scan-10"),
        (none.id, "outer-request", "scan-11"),
    ]


def test_current_headers() -> None:
    assert current_headers() == {}
    token = request_id.set("req-1")
    try:
        assert current_headers() == {"request_id": "req-1"}
    finally:
        request_id.reset(token)


def test_a_worker_logs_with_the_request_id_the_api_sent(json_lines: Lines) -> None:
    app = _celery("worker")
    ran = threading.Event()

    @app.task(name="tests.worker_probe")
    def worker_probe(scan_id: str) -> None:
        logging.getLogger("tests.worker").info("OCR started")
        ran.set()

    bind_celery(app)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        token = request_id.set("req-from-upload")
        try:
            sent = app.send_task("tests.worker_probe", args=["scan-42"], headers=current_headers())
        finally:
            request_id.reset(token)
        assert ran.wait(20)
    lines = json_lines()
    [line] = [line for line in lines if line["logger"] == "tests.worker"]
    assert line["request_id"] == "req-from-upload" and line["task_id"] == sent.id
    assert line["scan_id"] == "scan-42"
    # Celery's own "succeeded" line is written while the ids are still bound.
    assert any(
        x["logger"] == "celery.app.trace" and x.get("request_id") == "req-from-upload"
        for x in lines
    )


# ---------------------------------------------------------------------------------------------
# The command line, as an operator runs it


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    return {**env, "SOHOA_DATA_DIR": str(data), **extra}


def _stalled_scan(data: Path) -> str:
    from core.settings import Settings
    from storage.db import session_scope
    from storage.models import utcnow
    from tests.factories import make_scan
    from wiring.factory import build

    services = build(Settings(data_dir=data))
    try:
        with session_scope(services.sessions) as session:
            scan = make_scan(updated_at=utcnow() - timedelta(hours=1))
            session.add(scan)
            session.flush()
            return scan.id
    finally:
        services.engine.dispose()


def test_the_cli_writes_json_lines_on_stderr(tmp_path: Path) -> None:
    data = tmp_path / "data"
    scan_id = _stalled_scan(data)
    proc = subprocess.run(
        [sys.executable, "-m", "wiring.cli", "sweep"],
        env=_env(data, SOHOA_LOG_FORMAT="json"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "re-enqueued 1 scan(s)" in proc.stdout
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert any(
        line["logger"] == "ingest.pipeline" and scan_id in line["msg"] and line["level"] == "INFO"
        for line in lines
    ), proc.stderr


def test_api_worker_processes_log_json_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _stalled_scan(data)  # migrates once: spawned workers would race to create the schema
    [port] = free_ports(1)
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wiring.cli", "api", "--workers", "2", "--port", str(port)],
            env=_env(data, SOHOA_LOG_FORMAT="json"),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            while stderr.read_text().count("Application startup complete") < 2:
                assert proc.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    started = {line["msg"] for line in lines if line["msg"].startswith("Started server process")}
    assert len(started) == 2  # one line from each spawned process, in JSON
    assert all(line["logger"].startswith("uvicorn") for line in lines)


def test_celerys_routine_lines_about_the_dispatcher_tick_are_kept_out() -> None:
    from connect.tasks import DISPATCH_TASK
    from core.logs import _make_handler, quiet_task

    quiet_task(DISPATCH_TASK)
    stream = io.StringIO()
    handler = _make_handler("text")
    handler.setStream(stream)  # type: ignore[attr-defined]

    def emit(name: str, level: int, msg: str, *args: object) -> None:
        handler.handle(logging.LogRecord(name, level, __file__, 1, msg, args, None))

    emit(
        "celery.beat",
        logging.INFO,
        "Scheduler: Sending due task %s (%s)",
        "outbox-dispatch",
        DISPATCH_TASK,
    )
    emit("celery.app.trace", logging.INFO, "Task %s[%s] succeeded in 0.01s: {}", DISPATCH_TASK, "x")
    emit("celery.app.trace", logging.INFO, "Task %s[%s] succeeded in 2.1s", "sohoa.ocr", "y")
    emit(
        "celery.app.trace", logging.ERROR, "Task %s[%s] raised unexpected: boom", DISPATCH_TASK, "z"
    )
    emit("connect.tasks", logging.INFO, "outbox: 3 delivered, 0 to retry, 0 dead")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert "sohoa.ocr" in lines[0] and "raised unexpected" in lines[1] and "3 delivered" in lines[2]
