"""RFC 9457 problem details: the only place package errors become HTTP answers."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problem_types import problem_types
from core.errors import SohoaError
from core.i18n import negotiate
from core.logs import request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# What stands in for a server path in a problem.
PATH_MASK = "<đường dẫn>"
# An absolute path of two segments or more, not part of a URL or a word ("PDF/A", "http://h/x").
# Our own URL paths are left alone: a problem may tell the caller where to go instead.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w/.:~%-])(?!/(?:api|public|problems|oai)/)/[^\s/'\"<>()\[\]{},;:]+(?:/[^\s/'\"<>()\[\]{},;:]*)+"
)


class ApiProblem(SohoaError):
    """An error decided by the API layer itself (auth, lookups, rate limits).

    ``headers`` go on the response (``Retry-After`` of a 429); ``extra`` into the body.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, code=code, **extra)
        self.http_status = status
        self.headers = dict(headers or {})


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    private_paths: Iterable[str] = (),
    lang: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """The problem+json answer. Every string in it is scrubbed of server paths last, whatever
    raised it: an error message that names a file must not tell the caller our layout.
    ``private_paths`` are directories (the data dir, relative or not) masked as well. The
    title is the problem type's, in Vietnamese when ``lang`` (from ``Accept-Language``) asks."""
    roots = _roots(private_paths)
    body = {
        "type": f"/problems/{code}",
        "title": title_of(code, lang),
        "status": status,
        "detail": scrub(detail, roots),
        "code": code,
        **{key: _scrub_value(value, roots) for key, value in extra.items()},
    }
    reply_headers: dict[str, str] = {}
    if status == 401:
        reply_headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        reply_headers["Retry-After"] = "5"
    reply_headers.update(headers or {})
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=reply_headers or None
    )


def title_of(code: str, lang: str | None) -> str:
    """The problem type's title, from the one message catalog."""
    entry = problem_types().get(code)
    if entry is None:
        return code.replace("_", " ").capitalize()
    return entry.title.vi if lang == "vi" else entry.title.en


def language(request: Request) -> str | None:
    return negotiate(request.headers.get("accept-language"))


def scrub(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` with server paths masked: the given directories first, then any absolute path."""
    for root in roots:
        if root.startswith("/"):
            text = re.sub(
                r"(?<![\w/.~-])"
                + re.escape(root)
                + r"(?![^\s/'\"<>()\[\]{},;:])[^\s'\"<>()\[\]{},;:]*",
                PATH_MASK,
                text,
            )
        else:  # relative ("data"): only as a path, never the bare word
            text = re.sub(
                r"(?<![\w/.-])" + re.escape(root) + r"/[^\s'\"<>()\[\]{},;:]*", PATH_MASK, text
            )
    return _ABSOLUTE_PATH.sub(PATH_MASK, text)


def _scrub_value(value: Any, roots: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, roots)
    if isinstance(value, list | tuple):
        return [_scrub_value(v, roots) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, roots) for k, v in value.items()}
    return value


def _roots(paths: Iterable[str]) -> list[str]:
    """Longest first, so /data/work is masked whole before /data; "." and "/" are no secret."""
    cleaned = {str(p).rstrip("/").removeprefix("./") for p in paths}
    return sorted((p for p in cleaned if p not in ("", ".", "..")), key=len, reverse=True)


def private_paths(request: Request) -> list[str]:
    """The server's own directories, as configured and as resolved."""
    services = getattr(request.app.state, "services", None)
    settings = getattr(services, "settings", None)
    if settings is None:
        return []
    paths = [settings.data_dir, settings.data_dir.resolve()]
    for name in ("work_path", "store_path", "pki_dir"):
        if (value := getattr(settings, name, None)) is not None:
            paths += [value, value.resolve()]
    for name in ("work_dir", "resolved_store_path", "resolved_pki_dir", "cache_dir"):
        paths.append(getattr(settings, name))
    return [str(p) for p in paths]


def allowed_methods(request: Request) -> list[str]:
    """The methods of the resource at this path: of the routes matching it, those with the
    fewest parameters (``/receipts/{id}/void`` rather than ``/receipts/{id}/{kind}``)."""
    from fastapi import routing
    from starlette.routing import compile_path

    path = request.url.path
    best: tuple[int, set[str]] | None = None
    for context in routing.iter_route_contexts(request.app.routes):
        route_methods = getattr(context, "methods", None)
        route_path = getattr(context, "path", None)
        if not route_methods or not route_path:
            continue
        regex, _, convertors = compile_path(route_path)
        if not regex.match(path):
            continue
        if best is None or len(convertors) < best[0]:
            best = (len(convertors), set(route_methods))
        elif len(convertors) == best[0]:
            best[1].update(route_methods)
    return sorted(best[1]) if best else []


class RequestGuard:
    """ASGI middleware refusing, before any route runs, what no honest client sends:

    - a NUL character in the path or query (PostgreSQL cannot store or compare text holding
      it and SQLite silently can, so the same request would fail on one and pass on the other);
    - a query parameter given twice: no operation takes a list, and answering with one of the
      two values would be a guess (OAI-PMH is exempt: it answers ``badArgument`` itself).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = _refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refusal(scope: Any) -> JSONResponse | None:
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    query = scope.get("query_string", b"")
    if any(b"\x00" in part or b"%00" in part.lower() for part in (raw, query)):
        return problem(
            422,
            "invalid_character",
            "Địa chỉ hoặc tham số có ký tự NUL: bỏ ký tự đó rồi gửi lại. "
            "(The path or query holds a NUL character.)",
        )
    if query and not scope.get("path", "").startswith("/oai"):
        names = [name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            return problem(
                422,
                "repeated_parameter",
                f"Tham số {', '.join(repeated)} chỉ được gửi một lần. "
                "(A query parameter was given more than once.)",
            )
    return None


def install(app: FastAPI) -> None:
    from sqlalchemy.exc import DataError

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(
            exc.http_status,
            exc.code,
            str(exc),
            headers=exc.headers,
            private_paths=private_paths(request),
            **exc.extra,
            lang=language(request),
        )

    async def _package(request: Request, exc: Exception) -> JSONResponse:
        status = int(getattr(exc, "http_status", 500))
        code = str(getattr(exc, "code", "internal_error"))
        extra = {}
        if getattr(exc, "scan_id", None):
            extra["scan_id"] = exc.scan_id  # type: ignore[attr-defined]
        extra.update(getattr(exc, "extra", None) or {})
        if status >= 500:
            log.error("request failed: %s: %s", code, exc)
        return problem(
            status,
            code,
            str(exc),
            private_paths=private_paths(request),
            lang=language(request),
            **extra,
        )

    app.add_exception_handler(SohoaError, _package)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return problem(
            422,
            "invalid_request",
            "the request is not valid",
            lang=language(request),
            errors=errors,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # What the database refuses to store or compare (a NUL character in text on PostgreSQL,
        # a number out of a column's range) is the caller's input, not our fault: a 422, with
        # the driver's words kept for the log.
        log.warning("a request value was refused by the database: %s", exc.orig)
        return problem(
            422,
            "invalid_value",
            "Một giá trị trong yêu cầu không lưu được (ký tự NUL, số quá lớn…): sửa rồi gửi lại. "
            "(A value in the request cannot be stored.)",
            lang=language(request),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # The exception's own headers stay. A 405's ``Allow`` from Starlette names only the
        # methods of the first route on the path (GET and POST of one path are two routes).
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        return problem(
            exc.status_code,
            code,
            str(exc.detail),
            headers=headers,
            private_paths=private_paths(request),
            lang=language(request),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        # This handler runs outside the request-id middleware: name the id so the caller can
        # quote it and the operator find the traceback.
        rid = request_id.get()
        extra: dict[str, Any] = {"request_id": rid} if rid else {}
        reply = problem(
            500,
            "internal_error",
            "an unexpected error occurred; it has been logged",
            **extra,
            lang=language(request),
        )
        if rid:
            reply.headers["X-Request-ID"] = rid
        return reply
