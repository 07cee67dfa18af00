"""``GET /public/dossiers/{code}?secret=``: the status page's answer as JSON. The receipt's code
and secret show the status and nothing personal; an unknown code and a wrong secret answer the
very same 404; hostile input is a 404 or 422 problem, never a 500; the public budget holds; and
every lookup, found or not, is in the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.problems import PROBLEM_JSON
from dossiers.audit import AuditEvent
from dossiers.workflow.lookup import format_secret, status_secret
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from tests.dossiers.world import VN, World, make_world
from wiring.factory import build

APPLICANT = ApplicantIn(
    name="Phạm Thị Hương",
    id_type="CCCD",
    id_number="031190004567",
    phone="0912345678",
    address="Số 5 ngõ 10 phố Huế, phường Hòa Bình",
)
PERSONAL = (APPLICANT.id_number, APPLICANT.phone, APPLICANT.address, APPLICANT.name, "Hương")
COPY = ("1.004873", {"to_khai": 1})  # civil status: a fee at reception, same-day appointment
START = datetime(2026, 11, 27, 9, 0, tzinfo=VN)


@pytest.fixture
def lookup(make_settings: Any) -> Iterator[tuple[World, TestClient]]:
    services = build(make_settings())
    world = make_world(services, START)
    client = TestClient(create_app(services))
    yield world, client
    client.close()
    services.engine.dispose()


def received(world: World) -> str:
    """A dossier lan.nt has received (form 01 issued); its code."""
    svc, lan = world.services, world.principal("lan.nt")
    ref = svc.dossiers.create(lan, procedure_code=COPY[0], applicant=APPLICANT)
    svc.dossiers.check_components(lan, ref, COPY[1])
    svc.dossiers.receive(lan, ref)
    return str(svc.dossiers.view(lan, ref).code)


def secret_of(world: World, code: str) -> str:
    return status_secret(world.services.url_secret, code)


def lookups(world: World) -> list[AuditEvent]:
    with session_scope(world.services.sessions) as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "dossier.status_lookup")
            .order_by(AuditEvent.seq)
        ).all()
        session.expunge_all()
        return list(rows)


def _problem(resp: Any) -> dict[str, Any]:
    assert resp.headers["content-type"] == PROBLEM_JSON, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_the_right_secret_shows_the_status_and_nothing_personal(lookup) -> None:  # type: ignore[no-untyped-def]
    world, client = lookup
    code = received(world)
    # As printed (XXXX-XXXX), and as a citizen types it: lower case, spaces.
    printed = format_secret(secret_of(world, code))
    resp = client.get(f"/public/dossiers/{code}", params={"secret": printed})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["code"] == code
    assert body["applicant"] == "Phạm T. H."
    assert body["status"] == 2 and body["status_label"] == "Được tiếp nhận"
    assert body["received_at"].startswith("2026-11-27T")
    assert datetime.fromisoformat(body["received_at"]) == START
    assert datetime.fromisoformat(body["due_at"]) == datetime(2026, 11, 27, 17, 0, tzinfo=VN)
    assert body["return_channel"] is None and body["returned"] is False
    assert body["procedure_code"] == COPY[0] and body["unit_name"].startswith(
        "UBND phường Hòa Bình"
    )
    assert body["amount_due"] == 8000
    text = resp.text
    for private in PERSONAL:
        assert private not in text
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"

    typed = f" {printed.lower().replace('-', ' ')} "
    again = client.get(f"/public/dossiers/{code}", params={"secret": typed})
    assert again.status_code == 200 and again.json() == body

    # The operation says what it answers: a model, and the public budget's 429.
    op = client.get("/openapi.json").json()["paths"]["/public/dossiers/{code}"]["get"]
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PublicStatus"}
    assert {"404", "422", "429"} <= set(op["responses"]) and "401" not in op["responses"]


def test_a_wrong_secret_and_an_unknown_code_answer_alike(lookup) -> None:  # type: ignore[no-untyped-def]
    world, client = lookup
    code = received(world)
    unknown_code = code[:-4] + "9999"
    wrong = client.get(f"/public/dossiers/{code}", params={"secret": "ABCD-EFGH"})
    unknown = client.get(
        f"/public/dossiers/{unknown_code}", params={"secret": secret_of(world, unknown_code)}
    )
    # Another dossier's secret opens only that dossier.
    other = received(world)
    crossed = client.get(f"/public/dossiers/{code}", params={"secret": secret_of(world, other)})
    answers = [wrong, unknown, crossed]
    assert [r.status_code for r in answers] == [404, 404, 404]
    bodies = [_problem(r) for r in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["code"] == "dossier_not_found"
    assert code not in wrong.text and unknown_code not in unknown.text  # nothing echoed

    def headers(resp: Any) -> dict[str, str]:
        return {k: v for k, v in resp.headers.items() if k.lower() != "x-request-id"}

    assert headers(wrong) == headers(unknown) == headers(crossed)
    missing = client.get(f"/public/dossiers/{code}")
    assert missing.status_code == 422 and _problem(missing)["code"] == "invalid_request"


HOSTILE = [
    "/public/dossiers/..%2F..%2Fetc%2Fpasswd",
    "/public/dossiers/%2e%2e",
    "/public/dossiers/..%5C..%5Cwindows",
    "/public/dossiers/" + "A" * 10_000,
    "/public/dossiers/H%E1%BB%93%20s%C6%A1%20%F0%9F%A6%86",  # "Hồ sơ 🦆"
    "/public/dossiers/%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
    "/public/dossiers/%FF%FE",  # not UTF-8 at all
    "/public/dossiers/%00",
    "/public/dossiers/%E2%80%AE%E2%80%8B",  # right-to-left override, zero-width space
    "/public/dossiers/'%20OR%201=1--",
    "/public/dossiers/%3Cscript%3E",
    "/public/dossiers/",
]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_hostile_code_is_a_problem_never_a_500(
    request: pytest.FixtureRequest, make_settings: Any, database: str
) -> None:
    """PostgreSQL and SQLite refuse different text (NUL, invalid encodings): both are asked."""
    extra = {"database_url": request.getfixturevalue("pg_database")} if database != "sqlite" else {}
    services = build(make_settings(public_rate_limit=0, **extra))
    world = make_world(services, START)
    code = received(world)
    wrong = []
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        for path in HOSTILE:
            for secret in ("ABCD-EFGH", "ẞ" * 8, "\u202e" * 8, "x" * 33):
                resp = client.get(path, params={"secret": secret})
                body = resp.json()
                if (
                    resp.status_code not in (404, 422)
                    or resp.headers["content-type"] != PROBLEM_JSON
                    or body["status"] != resp.status_code
                    or "A" * 100 in resp.text  # the long code is not echoed back
                ):
                    wrong.append((path[:60], secret, resp.status_code, resp.text[:200]))
        # The dossier still answers: nothing above broke the lookup.
        ok = client.get(f"/public/dossiers/{code}", params={"secret": secret_of(world, code)})
        assert ok.status_code == 200
    services.engine.dispose()
    assert not wrong, wrong


def test_lookups_are_rate_limited_on_the_public_budget(make_settings: Any) -> None:
    services = build(make_settings(public_rate_limit=3, public_rate_window=60))
    world = make_world(services, START)
    code = received(world)
    with TestClient(create_app(services)) as client:
        answers = [
            client.get(f"/public/dossiers/{code}", params={"secret": secret_of(world, code)})
            for _ in range(4)
        ]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        limited = _problem(answers[-1])
        assert limited["code"] == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) > 0
        # The web page's lookups spend the same budget: the API's limit is no way around it.
        assert client.get(f"/public/results/guess-{code}").status_code == 429
        # Staff calls are not charged to the public quota.
        staff = client.get("/api/v1/dossiers", headers=world.headers("lan.nt"))
        assert staff.status_code == 200
    # What was refused was not looked up: three audited lookups, not four.
    assert len(lookups(world)) == 3
    services.engine.dispose()


def test_every_lookup_is_audited_found_or_not(lookup) -> None:  # type: ignore[no-untyped-def]
    world, client = lookup
    code = received(world)
    unknown_code = code[:-4] + "9999"
    client.get(f"/public/dossiers/{code}", params={"secret": secret_of(world, code)})
    client.get(f"/public/dossiers/{code}", params={"secret": "ABCD-EFGH"})
    client.get(f"/public/dossiers/{unknown_code}", params={"secret": "ABCD-EFGH"})
    client.get("/public/dossiers/<script>Nguyễn", params={"secret": "ABCD-EFGH"})
    events = lookups(world)
    dossier_id = world.services.dossiers.view(world.principal("lan.nt"), code).id
    assert [(e.actor_id, e.actor_role, e.subject_id, e.dossier_id, e.data) for e in events] == [
        ("citizen", "citizen", dossier_id, dossier_id, {"found": True}),
        ("citizen", "citizen", code, None, {"found": False}),
        ("citizen", "citizen", unknown_code, None, {"found": False}),
        ("citizen", "citizen", "-", None, {"found": False}),  # what was typed stays out
    ]
    assert all(e.at == START for e in events)
    assert all(e.action == "dossier.status_lookup" for e in events)
