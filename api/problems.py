"""RFC 9457 problem details: the only place package errors become HTTP answers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sohoa.logs import request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """An error decided by the API layer itself (auth, lookups)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.http_status = status
        self.code = code
        self.extra = extra


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "5"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    from dossiers.errors import DossierError
    from ingest.errors import IngestError
    from ocr.errors import OcrError
    from signing.errors import SigningError
    from storage.errors import StorageError

    @app.exception_handler(ApiProblem)
    async def _api(_: Request, exc: ApiProblem) -> JSONResponse:
        return problem(exc.http_status, exc.code, str(exc), **exc.extra)

    async def _package(_: Request, exc: Exception) -> JSONResponse:
        status = int(getattr(exc, "http_status", 500))
        code = str(getattr(exc, "code", "internal_error"))
        extra = {}
        if getattr(exc, "scan_id", None):
            extra["scan_id"] = exc.scan_id  # type: ignore[attr-defined]
        extra.update(getattr(exc, "extra", None) or {})
        if status >= 500:
            log.error("request failed: %s: %s", code, exc)
        return problem(status, code, str(exc), **extra)

    for cls in (DossierError, IngestError, OcrError, SigningError, StorageError):
        app.add_exception_handler(cls, _package)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(422, "invalid_request", "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        # This handler runs outside the request-id middleware: name the id so the caller can
        # quote it and the operator find the traceback.
        rid = request_id.get()
        reply = problem(
            500,
            "internal_error",
            "an unexpected error occurred; it has been logged",
            **({"request_id": rid} if rid else {}),
        )
        if rid:
            reply.headers["X-Request-ID"] = rid
        return reply
