"""Catalog imports are bounded and never stall the API: refused past the size limit while the
body is read (declared or chunked), refused when nested too deep or expanded by YAML aliases
before anything is validated, and parsed and imported in a worker thread so that health
checks answer meanwhile."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.routers import admin
from dossiers.admin.catalog import parse_catalog, sample_catalog
from dossiers.errors import CatalogError
from tests.dossiers.world import VN, World, make_world
from wiring.factory import build

DEEP = 10_000
LAUGHS = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"{k}: &{k} [{', '.join([f'*{prev}'] * 9)}]"
            for prev, k in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "procedures: []",
    ]
)


@pytest.fixture
def api(make_settings) -> Iterator[tuple[World, TestClient]]:  # type: ignore[no-untyped-def]
    services = build(make_settings(sign_forms=False))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    # As a context manager: one event loop serves every request, as uvicorn's does.
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield world, client
    services.engine.dispose()


def _sample_json() -> bytes:
    return sample_catalog().model_dump_json().encode()


def _problem(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == code


def test_a_4_mb_catalog_is_refused_with_413(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    admin_h = world.headers("quantri")
    body = b'{"procedures": [], "source": "' + b"x" * (4 * 2**20) + b'"}'
    _problem(
        client.post("/api/v1/admin/catalog", headers=admin_h, content=body),
        413,
        "catalog_too_large",
    )

    # Chunked, without a Content-Length: counted as it arrives.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    resp = client.post("/api/v1/admin/catalog", headers=admin_h, content=chunks())
    _problem(resp, 413, "catalog_too_large")
    assert resp.json()["max_bytes"] == 2 * 2**20


@pytest.mark.parametrize(
    "text",
    [
        "[" * DEEP + "]" * DEEP,
        '{"a":' * DEEP + "1" + "}" * DEEP,
        "procedures:\n" + "".join(" " * i + "-\n" for i in range(1, 1000)) + " " * 1000 + "x",
        "procedures: " + "[" * DEEP + "]" * DEEP,
        "- " * DEEP + "1",
    ],
    ids=["json-lists", "json-objects", "yaml-block", "yaml-flow", "yaml-compact"],
)
def test_a_deeply_nested_catalog_is_a_422(api, text: str) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    resp = client.post(
        "/api/v1/admin/catalog", headers=world.headers("quantri"), content=text.encode()
    )
    _problem(resp, 422, "catalog_too_deep")


def test_a_billion_laughs_catalog_is_refused_before_it_expands(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    resp = client.post(
        "/api/v1/admin/catalog", headers=world.headers("quantri"), content=LAUGHS.encode()
    )
    _problem(resp, 422, "catalog_too_many_nodes")


def test_anchors_within_budget_still_load() -> None:
    """Aliases are not refused as such: a catalog may share a component list."""
    raw = json.loads(_sample_json())
    text = yaml.safe_dump(raw)
    first = raw["procedures"][0]["components"]
    raw["procedures"][1]["components"] = first  # the dump writes an anchor and an alias
    shared = yaml.safe_dump(raw)
    assert "&id" in shared and "*id" in shared
    assert (
        parse_catalog(shared).procedures[1].components
        == parse_catalog(text).procedures[0].components
    )


def test_the_depth_limit_is_a_setting() -> None:
    nested = {"procedures": [], "source": "", "units": [{"postal_contact": {"a": "b"}}]}
    with pytest.raises(CatalogError) as exc:
        parse_catalog(json.dumps(nested), max_depth=3)
    assert exc.value.code == "catalog_too_deep"
    with pytest.raises(CatalogError) as exc:
        parse_catalog(json.dumps(nested), max_depth=4)
    assert exc.value.code == "catalog_invalid"  # past the shape check: a unit needs a code


def test_health_answers_while_a_catalog_is_imported(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The import is held until /healthz has answered; on the event loop it never would."""
    world, client = api
    started, healthy = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}
    real = admin.import_catalog

    def held_import(*args: Any, **kwargs: Any) -> Any:
        started.set()
        seen["health_answered_meanwhile"] = healthy.wait(timeout=20)
        return real(*args, **kwargs)

    monkeypatch.setattr(admin, "import_catalog", held_import)
    answers: dict[str, Any] = {}
    posting = threading.Thread(
        target=lambda: answers.update(
            resp=client.post(
                "/api/v1/admin/catalog",
                headers=world.headers("quantri"),
                content=_sample_json(),
            )
        )
    )
    posting.start()
    assert started.wait(timeout=60)
    health = client.get("/healthz")
    healthy.set()
    posting.join()
    assert health.status_code == 200
    assert seen["health_answered_meanwhile"] is True
    assert answers["resp"].status_code == 200, answers["resp"].text
    assert len(answers["resp"].json()["unchanged"]) == 8
