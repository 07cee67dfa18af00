"""A problem's ``type`` (``/problems/<code>``) leads somewhere: every code the code base can
answer with is explained in Vietnamese and English, as a page for people and as JSON for
clients; nothing else is, and nothing the caller sends is echoed."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.problem_types import problem_types
from api.problems import PROBLEM_JSON
from core.errors import SohoaError
from tests.conftest import TOKEN
from wiring.factory import build

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "core",
    "paper",
    "ocr",
    "signing",
    "storage",
    "ingest",
    "dossiers",
    "api",
    "web",
    "wiring",
)
# Callables that take the code as their second positional argument.
PROBLEM_MAKERS = {"ApiProblem", "problem"}


def _import_everything() -> None:
    """Every module of the packages, so every error class is defined before the walk."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def _subclasses(cls: type[SohoaError]) -> Iterator[type[SohoaError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_in_the_code_base() -> dict[str, str]:
    """code -> where it was found: the error classes' own codes, the codes passed where errors
    and problems are raised, defaults of ``code`` parameters, and the status-to-code tables of
    the API's handlers (``{404: "not_found", …}.get(status, "http_error")``)."""
    _import_everything()
    errors = {cls.__name__: cls for cls in _subclasses(SohoaError)}
    found = {str(cls.code): f"{cls.__module__}.{name}" for name, cls in errors.items()}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            where = str(path.relative_to(REPO))
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Call):
                    name = _called(node)
                    positional = node.args[1] if len(node.args) >= 2 else None
                    if name in PROBLEM_MAKERS and (code := _literal(positional)):
                        found.setdefault(code, f"{where}:{node.lineno}")
                    if name in errors or name in PROBLEM_MAKERS:
                        for keyword in node.keywords:
                            if keyword.arg == "code" and (code := _literal(keyword.value)):
                                found.setdefault(code, f"{where}:{node.lineno}")
                    if (
                        name == "get"
                        and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Dict)
                        and all(_is_status(k) for k in node.func.value.keys)
                    ):
                        for value in [*node.func.value.values, *node.args[1:]]:
                            if code := _literal(value):
                                found.setdefault(code, f"{where}:{node.lineno}")
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    arguments = [*node.args.args, *node.args.kwonlyargs]
                    defaults = [
                        *[None] * (len(node.args.args) - len(node.args.defaults)),
                        *node.args.defaults,
                        *node.args.kw_defaults,
                    ]
                    for argument, default in zip(arguments, defaults, strict=True):
                        if argument.arg == "code" and (code := _literal(default)):
                            found.setdefault(code, f"{where}:{node.lineno}")
    return found


def _is_status(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value >= 400


def test_every_code_in_the_code_base_is_explained_and_nothing_else() -> None:
    found = codes_in_the_code_base()
    assert len(found) > 100  # the scan itself works
    missing = {code: where for code, where in found.items() if code not in problem_types()}
    assert not missing, f"codes without an entry in api/problem_types.py: {missing}"
    stale = sorted(set(problem_types()) - set(found))
    assert not stale, f"entries for codes nothing raises: {stale}"
    for code, entry in problem_types().items():
        assert entry.code == code and entry.type == f"/problems/{code}"
        for text in (entry.title, entry.meaning, entry.action):
            assert text.vi.strip() and text.en.strip() and text.vi != text.en, code


@pytest.fixture
def client(make_settings) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    services = build(make_settings())
    with TestClient(create_app(services)) as client:
        yield client
    services.engine.dispose()


def _explained(client: TestClient, problem: dict[str, object]) -> None:
    """The problem's type resolves: a page by default, JSON on request, both for its code."""
    kind, code = problem["type"], problem["code"]
    assert kind == f"/problems/{code}"
    page = client.get(str(kind))
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"<code>{code}</code>" in page.text
    assert escape(problem_types()[str(code)].title.vi) in page.text
    assert escape(problem_types()[str(code)].action.en) in page.text
    data = client.get(str(kind), headers={"Accept": "application/json"})
    assert data.status_code == 200 and data.headers["content-type"] == "application/json"
    assert data.json() == problem_types()[str(code)].model_dump()


def test_the_type_of_real_problems_resolves(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = [
        client.get("/api/v1/dossiers"),  # no token: unauthorized
        client.get("/api/v1/dossiers/no-such-dossier", headers=auth),
        client.get("/api/v1/nowhere"),  # no route: not_found
        client.patch("/api/v1/dossiers"),  # method_not_allowed
        client.get("/api/v1/dossiers", params={"limit": "many"}, headers=auth),
        client.get("/api/v1/audit/events", params={"limit": 1, "dossier": "D-0"}, headers=auth),
    ]
    codes = set()
    for answer in answers:
        assert answer.status_code >= 400 and answer.headers["content-type"] == PROBLEM_JSON
        _explained(client, answer.json())
        codes.add(answer.json()["code"])
    assert {"unauthorized", "not_found", "method_not_allowed", "invalid_request"} <= codes


def test_an_unknown_code_is_a_404_problem_and_is_not_echoed(client: TestClient) -> None:
    for code in ("no_such_code", "<img src=x onerror=alert(1)>", "Dossier_Not_Found", "x" * 300):
        answer = client.get(f"/problems/{code}")
        assert answer.status_code == 404, code
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["code"] == "problem_type_not_found"
        assert code not in answer.text
    _explained(client, client.get("/problems/no_such_code").json())


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("", "text/html"),
        ("*/*", "text/html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/json", "application/json"),
        ("application/json, text/html;q=0.5", "application/json"),
        ("text/html, application/json;q=0.5", "text/html"),
        ("application/json;q=0", "text/html"),
    ],
)
def test_the_page_or_the_data(client: TestClient, accept: str, media: str) -> None:
    answer = client.get("/problems/dossier_not_found", headers={"Accept": accept})
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == media
    assert answer.headers["vary"] == "Accept"


def test_the_pages_are_rate_limited_like_other_public_routes(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(public_rate_limit=2, public_rate_window=60))
    with TestClient(create_app(services)) as client:
        assert [client.get("/problems/not_found").status_code for _ in range(3)] == [200, 200, 429]
        limited = client.get("/problems/not_found")
        assert limited.json()["code"] == "rate_limited" and "Retry-After" in limited.headers
    services.engine.dispose()


def test_a_problems_title_speaks_the_language_asked_for(client: TestClient) -> None:
    """The title comes from the one message catalog the web page uses: Vietnamese when
    ``Accept-Language`` asks for it, English otherwise; the code stays the same."""
    english = client.get("/api/v1/dossiers")
    vietnamese = client.get(
        "/api/v1/dossiers", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}
    )
    assert english.status_code == vietnamese.status_code == 401
    assert english.json()["code"] == vietnamese.json()["code"] == "unauthorized"
    assert english.json()["title"] == problem_types()["unauthorized"].title.en
    assert vietnamese.json()["title"] == problem_types()["unauthorized"].title.vi
    assert english.json()["title"] != vietnamese.json()["title"]
    missing = client.get("/no/such/page", headers={"Accept-Language": "vi"})
    assert missing.json()["title"] == problem_types()["not_found"].title.vi
