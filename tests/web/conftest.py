"""The web page on the embedded default: the dossier world of ``tests.dossiers.world`` (units,
staff with tokens, the sample catalog) served by the same application ``sohoa run`` serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.dossiers.world import VN, World, make_world
from tests.web.browser import browser, console, live_site, live_worker, page, tablet  # noqa: F401
from wiring.asgi import application
from wiring.factory import build

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@dataclass
class Site:
    world: World
    client: TestClient

    def sign_in(self, staff_id: str, client: TestClient | None = None) -> TestClient:
        """Sign ``staff_id`` in through the form, as a browser does; returns the client."""
        c = client or self.client
        form = c.get("/web/login")
        nonce = NONCE.search(form.text)
        assert nonce, form.text
        resp = c.post(
            "/web/login",
            data={"token": self.world.tokens[staff_id], "nonce": nonce.group(1), "next": "/web/"},
            follow_redirects=False,
        )
        assert resp.status_code == 303, resp.text
        return c

    def another(self) -> TestClient:
        """A second browser, with its own cookies."""
        return TestClient(self.client.app)

    def csrf(self, path: str = "/web/", client: TestClient | None = None) -> str:
        """The CSRF token of the signed-in session, read from a page's forms."""
        found = CSRF.search((client or self.client).get(path, follow_redirects=True).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)


@pytest.fixture
def site(make_settings: Any) -> Iterator[Site]:
    services = build(make_settings())
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(application(services))
    yield Site(world, client)
    client.close()
    services.engine.dispose()
