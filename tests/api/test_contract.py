"""The OpenAPI contract and the problem answers: every operation documents its problems as
problem+json, a 405 says what is allowed, and no problem tells a caller where our files live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import PATH_MASK, PROBLEM_JSON
from dossiers.errors import InvalidInput
from ingest.errors import CorruptFile
from storage.errors import StorageError
from tests.conftest import TOKEN
from wiring.factory import build

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Failures answered with a body of their own, not a problem: a monitor reads what is down.
OWN_FAILURE_BODIES = {("GET /readyz", "503"): {"$ref": "#/components/schemas/Readiness"}}


@pytest.fixture
def app(make_settings):  # type: ignore[no-untyped-def]
    services = build(make_settings())
    app = create_app(services)
    yield app
    services.engine.dispose()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _documents_problem(op: dict[str, Any], status: int) -> bool:
    entry = op["responses"].get(str(status), {})
    return entry.get("content") == {PROBLEM_JSON: {"schema": PROBLEM_REF}}


def test_every_operation_documents_its_problems_as_problem_json(app) -> None:  # type: ignore[no-untyped-def]
    document = app.openapi()
    operations = _operations(document)
    assert len(operations) > 70
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "code",
    ]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert _documents_problem(op, 422), where
        for status, entry in op["responses"].items():
            if (where, status) in OWN_FAILURE_BODIES:
                schema = entry["content"]["application/json"]["schema"]
                assert schema == OWN_FAILURE_BODIES[where, status]
            elif status.startswith(("4", "5")):
                assert PROBLEM_JSON in entry.get("content", {}), f"{where} {status}"
                assert "application/json" not in entry.get("content", {}), f"{where} {status}"
        if op.get("security"):  # takes a Caller
            assert _documents_problem(op, 401) and _documents_problem(op, 403), where
            assert "WWW-Authenticate" in op["responses"]["401"]["headers"], where
            assert "Retry-After" in op["responses"]["429"]["headers"], where
        if "{" in path:
            assert _documents_problem(op, 404), where
        if method in {"post", "put", "delete"}:
            assert _documents_problem(op, 409) and _documents_problem(op, 413), where


def test_contract_follows_the_route(app) -> None:  # type: ignore[no-untyped-def]
    paths = app.openapi()["paths"]
    health = paths["/healthz"]["get"]["responses"]
    assert "401" not in health and "429" not in health  # no login, no limit
    link = paths["/public/results/{token}"]["get"]["responses"]
    assert "429" in link and "401" not in link and "404" in link
    upload = paths["/api/v1/scans"]["post"]["responses"]
    assert {"400", "413", "415"} <= set(upload)
    pdf = paths["/api/v1/documents/{doc_id}/file"]["get"]["responses"]["200"]["content"]
    assert list(pdf) == ["application/pdf"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert app.openapi() == app.openapi()  # post-processing is idempotent


def test_405_says_which_methods_are_allowed(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        both = client.patch("/api/v1/dossiers")  # GET and POST are two routes on one path
        assert both.status_code == 405
        assert both.headers["content-type"] == PROBLEM_JSON
        assert both.headers["Allow"] == "GET, POST"
        one = client.delete("/api/v1/receipts/r-1/void")
        assert one.status_code == 405 and one.headers["Allow"] == "POST"
        assert client.put("/healthz").headers["Allow"] == "GET"


def test_a_repeated_or_nul_query_parameter_is_refused_before_any_route(app) -> None:  # type: ignore[no-untyped-def]
    """Answering with one of two values would be a guess; OAI-PMH answers for itself (badVerb)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app) as client:
        twice = client.get("/api/v1/dossiers?limit=1&limit=500", headers=headers)
        assert twice.status_code == 422
        assert twice.headers["content-type"] == PROBLEM_JSON
        assert twice.json()["code"] == "repeated_parameter" and "limit" in twice.json()["detail"]
        nul = client.get("/api/v1/dossiers?unit_code=a%00b", headers=headers)
        assert nul.status_code == 422 and nul.json()["code"] == "invalid_character"
        oai = client.get("/oai?verb=Identify&verb=Identify", headers=headers)
        assert oai.status_code == 200 and '<error code="badVerb"' in oai.text
        once = client.get("/api/v1/dossiers?limit=1", headers=headers)
        assert once.status_code == 200


def _raise(app: Any, exc: Exception) -> None:
    @app.get("/_test/raise")
    def boom() -> None:
        raise exc


@pytest.mark.parametrize(
    "exc",
    [
        CorruptFile("cannot read /srv/sohoa/work/tmpab12/upload.pdf: broken xref"),
        StorageError("[Errno 2] No such file or directory: '/var/lib/sohoa/objects/ab/cd'"),
    ],
)
def test_no_server_path_in_a_problem(app, exc: Exception) -> None:  # type: ignore[no-untyped-def]
    _raise(app, exc)
    with TestClient(app) as client:
        body = client.get("/_test/raise").json()
    assert "/srv" not in body["detail"] and "/var/lib" not in body["detail"]
    assert PATH_MASK in body["detail"]


def test_the_data_dir_is_masked_even_relative(make_settings, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    services = build(make_settings(data_dir=Path("data")))  # as the default, relative
    data = services.settings.data_dir
    app = create_app(services)
    exc = InvalidInput(
        f"cannot read {data}/work/x.pdf or data/objects/y (see {data.resolve()}/pki)",
        scan_id="scan-1",
        path=f"{data.resolve()}/objects/z",
    )
    _raise(app, exc)
    with TestClient(app) as client:
        body = client.get("/_test/raise").json()
    text = str(body)
    assert str(tmp_path) not in text and "data/objects" not in text
    assert body["scan_id"] == "scan-1" and body["path"] == PATH_MASK
    assert body["detail"].startswith("cannot read ")
    services.engine.dispose()


def test_our_own_urls_and_words_survive_the_scrub(app) -> None:  # type: ignore[no-untyped-def]
    _raise(
        app,
        CorruptFile("not PDF/A-2b; upload to /api/v1/dossiers/D-1/components/c/scans instead"),
    )
    with TestClient(app) as client:
        detail = client.get("/_test/raise").json()["detail"]
    assert detail == "not PDF/A-2b; upload to /api/v1/dossiers/D-1/components/c/scans instead"


def _success_schemas(op: dict[str, Any]) -> dict[str, Any]:
    """The media types and schemas of an operation's successes (its 2xx answers)."""
    found: dict[str, Any] = {}
    for status, entry in op["responses"].items():
        if status.isdigit() and 200 <= int(status) < 300:
            for media, body in entry.get("content", {}).items():
                found[f"{status} {media}"] = body.get("schema", {})
    return found


def _says_something(schema: dict[str, Any]) -> bool:
    """A schema a client can generate code from: a named model, or a typed value."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _says_something(schema.get("items", {}))
    if schema.get("type") == "object":
        return bool(schema.get("properties")) or isinstance(
            schema.get("additionalProperties"), dict
        )
    if "anyOf" in schema or "oneOf" in schema:
        return all(_says_something(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    return schema.get("type") in {"string", "integer", "number", "boolean", "null"}


def test_every_operation_declares_its_success_schema(app) -> None:  # type: ignore[no-untyped-def]
    """A client generated from /openapi.json knows what each success carries: a JSON success
    has a model (not a bare object), a file or text success names its media type."""
    document = TestClient(app).get("/openapi.json").json()
    bare = []
    for path, method, op in _operations(document):
        successes = _success_schemas(op)
        if not successes and not any(s in op["responses"] for s in ("204", "301", "303", "307")):
            bare.append(f"{method.upper()} {path}: no success content")
        for where, schema in successes.items():
            if not _says_something(schema):
                bare.append(f"{method.upper()} {path} {where}: {schema}")
    assert not bare, "\n".join(sorted(bare))


def test_every_operation_that_reads_its_body_declares_it(app) -> None:  # type: ignore[no-untyped-def]
    """Uploads and the catalog import parse their bodies as they stream, past FastAPI: each
    declares its body itself, or ``/docs`` offers no way to send one (no file picker for a
    scan) and generated clients send nothing."""
    import inspect

    from fastapi.routing import APIRoute

    from api.routers import admin, documents, dossiers, money, reports, scans

    document = TestClient(app).get("/openapi.json").json()
    routes = [
        r for m in (admin, documents, dossiers, money, reports, scans) for r in m.router.routes
    ]
    readers = [
        route
        for route in routes
        if isinstance(route, APIRoute)
        and route.include_in_schema
        and any(
            mark in inspect.getsource(route.endpoint)
            for mark in ("request.stream()", "accept_scan(", "read_upload(")
        )
    ]
    assert len(readers) >= 4  # scans, a component's scans, results, the catalog
    missing = []
    for route in readers:
        for method in route.methods:
            op = document["paths"]["/api/v1" + route.path_format][method.lower()]
            if not op.get("requestBody", {}).get("content"):
                missing.append(f"{method} {route.path_format}")
    assert not missing, missing
    scan_body = document["paths"]["/api/v1/scans"]["post"]["requestBody"]["content"]
    schema = scan_body["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
