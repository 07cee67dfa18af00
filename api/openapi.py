"""The OpenAPI document as the API really answers: every problem status, as problem+json.

FastAPI documents only the success and its own 422 (as ``application/json`` with a schema we
never send). The statuses each operation can answer follow from the route itself, so they are
derived here rather than written on every route: a caller (``Caller``) can get 401, 403 and
429; a path parameter can name nothing (404); a call that changes state can conflict (409) and
carry too much (413); any body can be unreadable (400), a raw one (uploads, catalog files) of
the wrong kind (415); an identifier in the path, query or body can name nothing (404); a public
link is rate limited (429); anything may find the database or store away (503). Statuses a
route already documents keep their description and gain the problem content, unless the route
answers that status with a model of its own (``/readyz``'s 503 names what is down).

Successes are the routes' own: each declares its response model, or its media type and schema
when it answers a file or text (``tests/api/test_contract.py`` keeps every operation so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from api.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; ``code`` is the stable reason to branch on.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "retry_after": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The request could not be read (a malformed form or file).",
    401: "No token, or an unknown, revoked or expired one.",
    403: "The token's role or unit may not do this.",
    404: "Nothing by that identifier that the caller may see.",
    409: "The resource is not in a state that allows this.",
    413: "The request or its file is larger than allowed.",
    415: "The body is not of a supported type.",
    422: "The request is well-formed but not valid.",
    429: "Too many requests (or failed logins) from this client; see Retry-After.",
    503: "A service the API depends on is unavailable; see Retry-After.",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "Seconds until the client's window ends.",
        }
    },
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
}

_CHANGES_STATE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with FastAPI's document post-processed by ``complete``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return complete(generate(), app)

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Add the problem responses to every operation of ``document`` (in place; idempotent)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, method, route in _operations(app):
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        content = operation.get("requestBody", {}).get("content", {})
        derived = problem_statuses(
            route, method, "requestBody" in operation, json_body="application/json" in content
        )
        declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
        for status in sorted(derived | declared):  # a route's own 410 is a problem too
            _document(responses, status)
    # FastAPI's own validation error schemas are answered by no operation now.
    if "HTTPValidationError" in schemas and "HTTPValidationError" not in _refs(document):
        schemas.pop("HTTPValidationError")
        if "#/components/schemas/ValidationError" not in _refs(document):
            schemas.pop("ValidationError", None)
    return document


def problem_statuses(
    route: Any, method: str, declared_body: bool, *, json_body: bool = False
) -> set[int]:
    """The problem statuses one operation can answer, read off its route."""
    calls = set(_calls(route.dependant))
    statuses = {422, 503}
    if _named(calls, "principal", "_metrics_caller"):
        statuses |= {401, 403, 429}
    if _named(calls, "limit_public"):
        statuses.add(429)
    dependant = route.dependant
    if dependant.path_params or dependant.query_params or declared_body or "{" in route.path_format:
        statuses.add(404)
    if method in _CHANGES_STATE:
        statuses |= {400, 409, 413}
        if not json_body:  # the route reads the body itself: a form, a file, a catalog
            statuses.add(415)
    return statuses


def _document(responses: dict[str, Any], status: int) -> None:
    entry = responses.setdefault(str(status), {})
    if _own_model(entry):
        return
    if status == 422 or entry.get("description") in (None, "", "Validation Error"):
        entry["description"] = DESCRIPTIONS.get(status, "A problem.")
    entry["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    if status in _HEADERS:
        entry.setdefault("headers", {}).update(_HEADERS[status])


def _own_model(entry: dict[str, Any]) -> bool:
    """The route declared this status with a model of its own (not a problem, and not the
    validation error FastAPI documents on every operation although we answer a problem)."""
    for body in entry.get("content", {}).values():
        ref = body.get("schema", {}).get("$ref")
        if ref and ref not in (PROBLEM_REF, _FASTAPI_VALIDATION_REF):
            return True
    return False


def _operations(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    for context in routing.iter_route_contexts(app.routes):
        if not isinstance(context.original_route, routing.APIRoute):
            continue
        if not context.include_in_schema:
            continue
        for method in sorted(context.methods or ()):
            yield context.path_format or "", method, context


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _named(calls: set[Callable[..., Any]], *names: str) -> bool:
    return any(getattr(call, "__name__", None) in names for call in calls)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        found = set()
        for value in node:
            found |= _refs(value)
        return found
    return set()
