"""Who harvests what: every OAI-PMH verb and the JSON feed × every role × two provinces.

Records of three units: Hòa Bình and Tân Lập in province H99, and a unit of province H98. A
harvester sees its unit's province, or what the operator granted it (SOHOA_HARVEST_GRANTS); an
auditor its province; an admin everything; a counter nothing (403). Outside the scope a record
does not exist: not in a list, not in a set, and ``idDoesNotExist`` for its identifier. A
resumption token carries arguments, never a scope, so one minted for an admin widens nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from api.app import create_app
from api.routers import oai
from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from storage.db import session_scope
from tests.api.test_oai import NS, Rec, add_records, published
from tests.conftest import TOKEN
from tests.dossiers.world import FOREIGN, OTHER, OWN, VN, World, make_world
from wiring.factory import build

N = 90
PAGE = 7  # small pages: every list goes through several resumption tokens
H99 = {OWN, OTHER}
H98 = {FOREIGN}
EVERYWHERE = H99 | H98

# staff id -> (role, unit) of the accounts this module adds to the world
EXTRA = {
    "thu.h99": ("harvester", OWN),  # the provincial database of H99
    "thu.h98": ("harvester", FOREIGN),  # the provincial database of H98
    "thu.lienvung": ("harvester", OWN),  # H99, granted H98 too
    "quocgia": ("harvester", None),  # the national portal: granted every province
    "thu.tinh98": ("harvester", None),  # no unit, granted H98 only
    "quay.h98": ("counter", FOREIGN),
}
GRANTS = {"thu.lienvung": ["H98"], "quocgia": ["*"], "thu.tinh98": ["H98"]}

# Who sees which units' records; None: may not harvest at all (403).
SCOPE: dict[str, set[str] | None] = {
    "thu.h99": H99,
    "thu.h98": H98,
    "thu.lienvung": EVERYWHERE,
    "quocgia": EVERYWHERE,
    "thu.tinh98": H98,
    "harvest": set(),  # a harvester bound to nothing and granted nothing harvests nothing
    "kiemtra": H99,
    "kiemtra.b": H98,
    "quantri": EVERYWHERE,
    "lan.nt": None,
    "quay.h98": None,
}


@dataclass
class Env:
    world: World
    client: TestClient
    recs: list[Rec]

    def headers(self, staff: str) -> dict[str, str]:
        return self.world.headers(staff)

    def oai(self, staff: str, **params: str) -> etree._Element:
        resp = self.client.get("/oai", params=params, headers=self.headers(staff))
        assert resp.status_code == 200, resp.text
        return etree.fromstring(resp.content)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from core.settings import Settings

    data = tmp_path_factory.mktemp("scope")
    settings = Settings(data_dir=data / "data", api_token=TOKEN, ocr_jobs=1, harvest_grants=GRANTS)
    services = build(settings)
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    today = world.clock().astimezone(VN).date()
    with session_scope(services.sessions) as session:
        for staff_id, (role, unit) in EXTRA.items():
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id=staff_id,
                name=staff_id,
                role=role,
                unit_code=unit,
                today=today,
            )
        session.flush()
        for staff_id in EXTRA:
            world.tokens[staff_id] = staffing.new_token(session, BOOTSTRAP, staff_id)
    recs = add_records(services, N)
    app = create_app(services)
    app.state.harvest = replace(
        oai.config_from_settings(settings, services.url_secret), page_size=PAGE
    )
    client = TestClient(app)
    yield Env(world, client, recs)
    client.close()
    services.engine.dispose()


def expected(env: Env, units: set[str]) -> dict[str, Rec]:
    return published(env.recs, lambda r: r.unit_code in units)


def error_code(doc: etree._Element) -> str | None:
    el = doc.find("o:error", NS)
    return None if el is None else el.get("code")


def walk(env: Env, staff: str, verb: str, **params: str) -> tuple[list[str], list[str]]:
    """Every identifier of a list, following resumption tokens; also the raw pages."""
    doc = env.oai(staff, verb=verb, **params)
    if error_code(doc) == "noRecordsMatch":
        return [], [etree.tostring(doc).decode()]
    assert error_code(doc) is None, etree.tostring(doc)
    ids: list[str] = []
    pages: list[str] = []
    while True:
        pages.append(etree.tostring(doc, encoding="unicode"))
        ids += [h.text for h in doc.findall(f".//o:{verb}//o:header/o:identifier", NS)]
        token = doc.find(".//o:resumptionToken", NS)
        if token is None or not token.text:
            return ids, pages
        doc = env.oai(staff, verb=verb, resumptionToken=token.text)
        assert error_code(doc) is None


HARVESTING = [s for s, units in SCOPE.items() if units is not None]


@pytest.mark.parametrize("staff", HARVESTING)
@pytest.mark.parametrize(
    ("verb", "prefix"),
    [("ListIdentifiers", "oai_dc"), ("ListRecords", "sohoa"), ("ListRecords", "oai_dc")],
)
def test_lists_hold_the_callers_provinces_only(
    env: Env, staff: str, verb: str, prefix: str
) -> None:
    units = SCOPE[staff]
    assert units is not None
    ids, pages = walk(env, staff, verb, metadataPrefix=prefix)
    want = expected(env, units)
    assert len(ids) == len(set(ids)) and set(ids) == want.keys()
    # Nothing of a record outside the scope leaks: not its owner's ID, not its dossier code.
    body = "".join(pages)
    for rec in env.recs:
        if rec.unit_code not in units:
            assert rec.owner_id not in body and rec.identifier not in body


@pytest.mark.parametrize("staff", HARVESTING)
def test_get_record_and_formats_of_a_foreign_record_do_not_exist(env: Env, staff: str) -> None:
    units = SCOPE[staff]
    assert units is not None
    for unit in sorted(EVERYWHERE):
        rec = next(r for r in env.recs if r.unit_code == unit and not r.hidden and not r.deleted)
        for params in (
            {"verb": "GetRecord", "identifier": rec.identifier, "metadataPrefix": "sohoa"},
            {"verb": "ListMetadataFormats", "identifier": rec.identifier},
        ):
            doc = env.oai(staff, **params)
            text = etree.tostring(doc, encoding="unicode")
            if unit in units:
                assert error_code(doc) is None, (staff, unit, text)
            else:
                assert error_code(doc) == "idDoesNotExist", (staff, unit)
                assert rec.owner_id not in text


@pytest.mark.parametrize("staff", HARVESTING)
def test_list_sets_names_the_callers_units_only(env: Env, staff: str) -> None:
    units = SCOPE[staff]
    assert units is not None
    doc = env.oai(staff, verb="ListSets")
    specs = {s.text for s in doc.findall(".//o:setSpec", NS)}
    for unit in EVERYWHERE:
        assert (f"unit:{unit}" in specs) == (unit in units), (staff, unit)


@pytest.mark.parametrize("staff", HARVESTING)
def test_the_feed_holds_the_callers_provinces_only(env: Env, staff: str) -> None:
    units = SCOPE[staff]
    assert units is not None
    got: list[str] = []
    after = 0
    while True:
        resp = env.client.get(
            "/api/v1/feed", params={"after": after, "limit": 11}, headers=env.headers(staff)
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        got += [i["identifier"] for i in body["items"]]
        assert {i["unit_code"] for i in body["items"] if not i["deleted"]} <= units
        after = body["next"]
        if not body["more"]:
            break
    assert len(got) == len(set(got)) and set(got) == expected(env, units).keys()


@pytest.mark.parametrize("staff", [s for s, units in SCOPE.items() if units is None])
def test_counters_harvest_nothing(env: Env, staff: str) -> None:
    for params in ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"}, {"verb": "ListSets"}):
        resp = env.client.get("/oai", params=params, headers=env.headers(staff))
        assert resp.status_code == 403 and resp.json()["code"] == "role_forbidden"
    resp = env.client.get("/api/v1/feed", headers=env.headers(staff))
    assert resp.status_code == 403 and "items" not in resp.text


def _first_token(env: Env, staff: str, **params: Any) -> str:
    doc = env.oai(staff, verb="ListIdentifiers", metadataPrefix="oai_dc", **params)
    token = doc.find(".//o:resumptionToken", NS)
    assert token is not None and token.text
    return token.text


@pytest.mark.parametrize("set_spec", [None, f"unit:{FOREIGN}"])
def test_an_admins_resumption_token_does_not_widen_a_harvesters_scope(
    env: Env, set_spec: str | None
) -> None:
    params = {"set": set_spec} if set_spec else {}
    token = _first_token(env, "quantri", **params)
    seen: list[str] = []
    while token:
        doc = env.oai("thu.h99", verb="ListIdentifiers", resumptionToken=token)
        assert error_code(doc) is None
        seen += [h.text for h in doc.findall(".//o:header/o:identifier", NS)]
        el = doc.find(".//o:resumptionToken", NS)
        token = el.text if el is not None else None
    if set_spec:  # the foreign unit's set, asked for by the admin: nothing of it
        assert seen == []
    else:
        assert seen and set(seen) <= expected(env, H99).keys()


def test_a_set_of_a_foreign_unit_matches_nothing(env: Env) -> None:
    doc = env.oai("thu.h99", verb="ListRecords", metadataPrefix="sohoa", set=f"unit:{FOREIGN}")
    assert error_code(doc) == "noRecordsMatch"
    doc = env.oai("thu.h98", verb="ListRecords", metadataPrefix="sohoa", set=f"unit:{FOREIGN}")
    assert error_code(doc) is None
