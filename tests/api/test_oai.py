"""OAI-PMH at /oai, harvested end to end by a real client (Sickle) over HTTP with small pages.

300 records in three units of two provinces and four fields: some results hidden (never
published), some records deleted (published as deleted). Every harvest is compared with the
published rows exactly; then sets, from/until, each protocol error, tampered tokens, what
``oai_dc`` must not carry, and who may harvest at all.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import BadArgument, IdDoesNotExist, NoRecordsMatch
from sqlalchemy import event, select

from api.app import create_app
from api.routers import feed, oai
from dossiers.models import Dossier, Procedure, RepositoryRecord
from dossiers.records import harvest
from dossiers.workflow.codes import next_in_sequence
from storage.db import session_scope
from storage.models import new_id
from tests.conftest import TOKEN
from tests.dossiers.world import FOREIGN, OTHER, OWN, VN, World, make_world
from wiring.factory import build

NS = {"o": harvest.OAI_NS, "dc": harvest.DC_NS, "s": harvest.SOHOA_NS}
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=20)
PAGE = 50
N = 300
PROCEDURES = ("1.001193", "2.000815", "1.004227", "2.000720")  # G15-HT, G15-CT, G10-DD, G12-HKD
UNITS = (OWN, OTHER, FOREIGN)
SCHEMA = etree.XMLSchema(etree.parse(str(oai.SCHEMA)))


# -- records, written the way dossiers.records.repository writes them ---------------------------------


@dataclass
class Rec:
    id: str
    seq: int
    owner_id: str
    third_party_id: str
    code: str
    field_code: str
    unit_code: str
    hidden: bool
    deleted: bool
    permanent: bool
    updated_at: datetime

    @property
    def identifier(self) -> str:
        return harvest.ID_PREFIX + self.id

    @property
    def sets(self) -> list[str]:
        return [f"field:{self.field_code}", f"unit:{self.unit_code}"]


def add_records(services: Any, n: int, *, start: datetime = T0) -> list[Rec]:
    """``n`` records, one every 20 minutes, across units and fields; every 5th a result, every
    15th hidden (a result not yet returned), every 17th from the 4th deleted."""
    recs: list[Rec] = []
    with session_scope(services.sessions) as session:
        dossiers: dict[tuple[str, str], tuple[str, str]] = {}
        for unit in UNITS:
            for code in PROCEDURES:
                proc = session.scalars(select(Procedure).where(Procedure.code == code)).first()
                assert proc is not None
                d = Dossier(
                    procedure_id=proc.id,
                    procedure_code=code,
                    unit_code=unit,
                    applicant_name="Nguyễn Văn An",
                    applicant_id_type="CCCD",
                    applicant_id_number="001090099999",
                    created_by="lan.nt",
                )
                session.add(d)
                session.flush()
                dossiers[unit, code] = (d.id, proc.field_code)
        for i in range(n):
            unit, procedure = UNITS[i % 3], PROCEDURES[i % 4]
            dossier_id, field_code = dossiers[unit, procedure]
            result = i % 5 == 0
            at = start + i * STEP
            owner, third = f"0010900{i:05d}", f"0790851{i:05d}"
            row = RepositoryRecord(
                seq=next_in_sequence(session, "repository", "all"),
                code=f"{owner}.GIAY-KHAI-SINH.{i}-GKS.01",
                owner_id=owner,
                owner_id_type="CCCD",
                doc_type="KQ.G15.000001" if result else "giay_khai_sinh",
                title="Trích lục khai sinh" if result else "Giấy khai sinh",
                number_symbol=f"{i}/GKS",
                issue_date=date(2025, 1, 1) + timedelta(days=i),
                issuer="UBND phường Hòa Bình",
                valid_until=date(2031, 1, 1) if result and i % 2 else None,
                permanent=result and not i % 2,
                scope="Toàn quốc" if result else "",
                kind="result" if result else "component",
                digitizer_id="lan.nt",
                digitized_at=at,
                dossier_id=dossier_id,
                dossier_code=f"{unit}-261120-{i:04d}",
                procedure_code=procedure,
                field_code=field_code,
                unit_code=unit,
                document_id=new_id(),
                fields={
                    "id_numbers": [owner, third],
                    "dates": ["2025-01-01"],
                    "document_numbers": [f"{i}/GKS"],
                    "issuing_body": "UBND phường Hòa Bình",
                    "document_type": None,
                    "language": "vi",
                    "nested": {"page": 1},
                },
                text=f"OCR-TEXT-{i} Họ tên cha: Trần Văn Bình, CCCD {third}\x0c",
                hidden=i % 15 == 0,
                deleted=i % 17 == 3,
                updated_at=at,
            )
            session.add(row)
            session.flush()
            recs.append(
                Rec(
                    row.id,
                    row.seq,
                    owner,
                    third,
                    row.code,
                    field_code,
                    unit,
                    row.hidden,
                    row.deleted,
                    row.permanent,
                    at,
                )
            )
    return recs


def touch(services: Any, rec: Rec, at: datetime, **changes: Any) -> Rec:
    """A change as dossiers.records.repository.touch makes it: new seq, new datestamp."""
    with session_scope(services.sessions) as session:
        row = session.get(RepositoryRecord, rec.id)
        assert row is not None
        for key, value in changes.items():
            setattr(row, key, value)
        row.seq = next_in_sequence(session, "repository", "all")
        row.updated_at = at
        seq = row.seq
    known = {k: v for k, v in changes.items() if k in Rec.__dataclass_fields__}
    return replace(rec, seq=seq, updated_at=at, **known)


def published(recs: list[Rec], keep: Callable[[Rec], bool] = lambda r: True) -> dict[str, Rec]:
    return {r.identifier: r for r in recs if not r.hidden and keep(r)}


# -- the app, served over HTTP for Sickle --------------------------------------------------------


def make_app(services: Any, page_size: int = PAGE) -> FastAPI:
    """The app with /oai and /api/v1/feed mounted (by create_app once api/app.py does it)."""
    app = create_app(services)
    paths = {getattr(r, "path", None) for r in app.routes}
    if "/oai" not in paths:
        app.include_router(oai.router)
    if "/api/v1/feed" not in paths:
        app.include_router(feed.router, prefix="/api/v1")
    config = oai.config_from_settings(services.settings, services.url_secret)
    app.state.harvest = replace(config, page_size=page_size)
    app.state.oai_requests = 0

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        if request.url.path == "/oai":
            app.state.oai_requests += 1
        return await call_next(request)

    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """uvicorn on a free port in a thread; yields the OAI base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/oai"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@dataclass
class Env:
    world: World
    app: FastAPI
    client: TestClient
    url: str
    recs: list[Rec]

    def sickle(self, staff: str = "harvest", **kwargs: Any) -> Sickle:
        headers = (
            self.world.headers(staff) if staff != "admin" else {"Authorization": f"Bearer {TOKEN}"}
        )
        return Sickle(self.url, headers=headers, **kwargs)

    def get(self, staff: str = "harvest", params: Any = None) -> etree._Element:
        resp = self.client.get("/oai", params=params, headers=self.world.headers(staff))
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "text/xml; charset=utf-8"
        return etree.fromstring(resp.content)


@contextmanager
def environment(make_settings: Callable[..., Any] | None, n: int, **settings: Any) -> Iterator[Env]:
    """Records in two provinces; the world's harvester (no unit of its own) is granted both,
    the way an operator grants a national harvester (scope by province: test_harvest_scope)."""
    from core.settings import Settings

    settings.setdefault("harvest_grants", {"harvest": ["*"]})
    if make_settings is not None:
        services = build(make_settings(**settings))
    else:
        services = build(Settings(**settings))
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    recs = add_records(services, n)
    app = make_app(services)
    client = TestClient(app)
    try:
        with serve(app) as url:
            yield Env(world, app, client, url, recs)
    finally:
        client.close()
        services.engine.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("oai")
    with environment(None, N, data_dir=data / "data", api_token=TOKEN, ocr_jobs=1) as e:
        yield e


def error(doc: etree._Element) -> tuple[str | None, dict[str, str]]:
    el = doc.find("o:error", NS)
    request = doc.find("o:request", NS)
    assert request is not None
    return (el.get("code") if el is not None else None), dict(request.attrib)


def token_of(doc: etree._Element) -> etree._Element:
    el = doc.find(".//o:resumptionToken", NS)
    assert el is not None
    return el


# -- whole harvests -----------------------------------------------------------------------------


def test_sickle_harvests_every_published_record_in_both_formats(env: Env) -> None:
    expected = published(env.recs)
    assert N // 2 < len(expected) < N and any(r.deleted for r in expected.values())
    sickle = env.sickle()
    for prefix in ("oai_dc", "sohoa"):
        before = env.app.state.oai_requests
        records = list(sickle.ListRecords(metadataPrefix=prefix))
        assert env.app.state.oai_requests - before == math.ceil(len(expected) / PAGE)
        got = {r.header.identifier: r for r in records}
        assert len(got) == len(records) == len(expected)
        assert got.keys() == expected.keys()
        for ident, record in got.items():
            rec = expected[ident]
            assert record.deleted == rec.deleted
            assert record.header.datestamp == harvest.datestamp(rec.updated_at)
            assert record.header.setSpecs == rec.sets
            metadata = record.xml.find("o:metadata", NS)
            if rec.deleted:
                assert metadata is None
            elif prefix == "sohoa":
                SCHEMA.assertValid(metadata[0])
                assert record.metadata["code"] == [rec.code]
                assert record.metadata["owner"] == [rec.owner_id]
            else:
                assert record.metadata["identifier"][0] == ident
                assert record.metadata["publisher"] == ["UBND phường Hòa Bình"]
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_dc"))
    assert {h.identifier: h.deleted for h in headers} == {k: r.deleted for k, r in expected.items()}
    # Harvest order is change order, so a harvester can stop and resume anywhere.
    assert [h.identifier for h in headers] == [
        r.identifier for r in sorted(expected.values(), key=lambda r: r.seq)
    ]


def test_harvest_by_post(env: Env) -> None:
    sickle = env.sickle(http_method="POST")
    got = {h.identifier for h in sickle.ListIdentifiers(metadataPrefix="sohoa", set="unit:" + OWN)}
    assert got == published(env.recs, lambda r: r.unit_code == OWN).keys()
    wrong = env.client.post(
        "/oai", content=b'{"verb": "Identify"}', headers=env.world.headers("harvest")
    )
    assert wrong.status_code == 415


def test_resumption_tokens_are_keysets_without_offset(env: Env) -> None:
    """A page is ``seq > :after ... LIMIT``: no OFFSET, so its cost does not grow with depth."""
    statements: list[tuple[str, Any]] = []
    engine = env.world.services.engine

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "repository_records" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", spy)
    try:
        doc = env.get(params={"verb": "ListRecords", "metadataPrefix": "oai_dc"})
        first = token_of(doc)
        assert first.get("cursor") == "0" and first.text
        deeper = env.get(params={"verb": "ListRecords", "resumptionToken": first.text})
        assert token_of(deeper).get("cursor") == str(PAGE)
        assert error(deeper) == (None, {"verb": "ListRecords", "resumptionToken": first.text})
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert len(statements) == 2
    for statement, parameters in statements:
        assert "repository_records.seq > ?" in statement
        # SQLite's compiler always writes "LIMIT ? OFFSET ?"; the offset stays 0.
        assert "OFFSET" not in statement or parameters[-1] == 0
    assert statements[1][1][0] > statements[0][1][0] == 0  # the cursor moved, not an offset


def test_last_page_has_an_empty_token(env: Env) -> None:
    params = {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "unit:" + FOREIGN}
    doc = env.get(params=params)
    total = len(doc.findall(".//o:header", NS))
    while (el := token_of(doc)).text:
        doc = env.get(params={"verb": "ListIdentifiers", "resumptionToken": el.text})
        total += len(doc.findall(".//o:header", NS))
    assert el.get("cursor") == str(total - len(doc.findall(".//o:header", NS)))
    assert total == len(published(env.recs, lambda r: r.unit_code == FOREIGN))


def test_a_complete_list_has_no_token(env: Env) -> None:
    first = min((r for r in env.recs if not r.hidden), key=lambda r: r.seq)
    stamp = harvest.datestamp(first.updated_at)
    doc = env.get(
        params={"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": stamp, "until": stamp}
    )
    assert [h.text for h in doc.findall(".//o:header/o:identifier", NS)] == [first.identifier]
    assert doc.find(".//o:resumptionToken", NS) is None


# -- sets and dates -----------------------------------------------------------------------------


def test_list_sets_names_fields_and_units(env: Env) -> None:
    sets = {s.setSpec: s.setName for s in env.sickle().ListSets()}
    assert {"field", "unit", "field:G15-HT", "field:G10-DD", f"unit:{OWN}", f"unit:{FOREIGN}"} <= (
        sets.keys()
    )
    assert sets[f"unit:{OWN}"].startswith("Đơn vị: ")


@pytest.mark.parametrize(
    ("spec", "keep"),
    [
        ("field:G15-HT", lambda r: r.field_code == "G15-HT"),
        ("field:G12-HKD", lambda r: r.field_code == "G12-HKD"),
        (f"unit:{OTHER}", lambda r: r.unit_code == OTHER),
        ("field", lambda r: True),
    ],
)
def test_sets_by_field_and_unit(env: Env, spec: str, keep: Callable[[Rec], bool]) -> None:
    got = {h.identifier for h in env.sickle().ListIdentifiers(metadataPrefix="oai_dc", set=spec)}
    assert got == published(env.recs, keep).keys()


def test_from_until_by_second_include_both_ends(env: Env) -> None:
    lo, hi = env.recs[40].updated_at, env.recs[180].updated_at
    got = env.sickle().ListRecords(
        metadataPrefix="sohoa", **{"from": harvest.datestamp(lo), "until": harvest.datestamp(hi)}
    )
    assert {r.header.identifier for r in got} == published(
        env.recs, lambda r: lo <= r.updated_at <= hi
    ).keys()


def test_from_until_by_day_with_a_set(env: Env) -> None:
    day = date(2026, 11, 21)
    got = env.sickle().ListIdentifiers(
        metadataPrefix="oai_dc", set="field:G15-HT", **{"from": "2026-11-21", "until": "2026-11-21"}
    )
    keep = lambda r: r.updated_at.date() == day and r.field_code == "G15-HT"  # noqa: E731
    assert {h.identifier for h in got} == published(env.recs, keep).keys() != set()
    only_until = env.sickle().ListIdentifiers(metadataPrefix="oai_dc", until="2026-11-20")
    assert {h.identifier for h in only_until} == published(
        env.recs, lambda r: r.updated_at.date() == date(2026, 11, 20)
    ).keys()


# -- single records, formats and the repository itself ------------------------------------------


def test_identify_and_metadata_formats(env: Env) -> None:
    identify = env.sickle().Identify()
    assert identify.protocolVersion == "2.0"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.deletedRecord == "persistent"
    assert identify.earliestDatestamp == harvest.datestamp(T0)
    assert identify.baseURL == env.app.state.harvest.base_url
    formats = {f.metadataPrefix: f for f in env.sickle().ListMetadataFormats()}
    assert formats.keys() == {"oai_dc", "sohoa"}
    assert formats["sohoa"].metadataNamespace == harvest.SOHOA_NS
    assert formats["sohoa"].schema.endswith("/oai/schema/sohoa.xsd")
    one = next(r for r in env.recs if not r.hidden)
    assert len(list(env.sickle().ListMetadataFormats(identifier=one.identifier))) == 2


def test_schema_is_published_without_a_token(env: Env) -> None:
    resp = env.client.get("/oai/schema/sohoa.xsd")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/xml")
    etree.XMLSchema(etree.fromstring(resp.content))


def test_get_record_live_deleted_and_hidden(env: Env) -> None:
    sickle = env.sickle()
    live = next(r for r in env.recs if not r.hidden and not r.deleted and r.permanent)
    record = sickle.GetRecord(identifier=live.identifier, metadataPrefix="sohoa")
    body = record.xml.find("o:metadata", NS)[0]
    SCHEMA.assertValid(body)
    assert body.find("s:validity", NS).get("permanent") == "true"
    assert body.find("s:owner", NS).get("idType") == "CCCD"
    assert record.metadata["owner"] == [live.owner_id]
    gone = next(r for r in env.recs if r.deleted and not r.hidden)
    record = sickle.GetRecord(identifier=gone.identifier, metadataPrefix="oai_dc")
    assert record.deleted and record.xml.find("o:metadata", NS) is None
    hidden = next(r for r in env.recs if r.hidden)
    with pytest.raises(IdDoesNotExist):
        sickle.GetRecord(identifier=hidden.identifier, metadataPrefix="sohoa")
    with pytest.raises(IdDoesNotExist):
        list(sickle.ListMetadataFormats(identifier=hidden.identifier))


def test_sohoa_elements_carry_the_row(env: Env) -> None:
    """Every element against the stored row, for a component, a result and a permanent one."""
    picks = [
        next(r for r in env.recs if not r.hidden and not r.deleted and r.permanent),
        next(r for r in env.recs if not r.hidden and not r.deleted and not r.permanent),
        next(r for r in env.recs[5::5] if not r.hidden and not r.deleted and not r.permanent),
    ]
    for rec in picks:
        doc = env.get(
            params={"verb": "GetRecord", "metadataPrefix": "sohoa", "identifier": rec.identifier}
        )
        body = doc.find(".//o:metadata/s:record", NS)
        with session_scope(env.world.services.sessions) as session:
            row = session.get(RepositoryRecord, rec.id)
            assert row is not None
            session.expunge(row)

        def text(tag: str, body: etree._Element = body) -> str | None:
            el = body.find(f"s:{tag}", NS)
            return None if el is None else el.text

        assert text("code") == row.code and text("kind") == row.kind
        assert text("docType") == row.doc_type and text("title") == row.title
        assert text("numberSymbol") == row.number_symbol and text("issuer") == row.issuer
        assert text("issueDate") == (row.issue_date.isoformat() if row.issue_date else None)
        validity = body.find("s:validity", NS)
        assert validity.get("permanent") == str(row.permanent).lower()
        assert validity.get("until") == (row.valid_until.isoformat() if row.valid_until else None)
        assert text("scope") == (row.scope or None)
        assert text("owner") == row.owner_id
        assert body.find("s:owner", NS).get("idType") == row.owner_id_type
        assert text("digitizer") == row.digitizer_id
        assert text("digitizedAt") == harvest.datestamp(row.digitized_at)
        assert text("dossierCode") == row.dossier_code
        assert text("procedureCode") == row.procedure_code
        assert text("fieldCode") == row.field_code and text("unitCode") == row.unit_code
        assert text("documentId") == row.document_id
        fields = {
            f.get("name"): [v.text for v in f.findall("s:value", NS)]
            for f in body.findall("s:fields/s:field", NS)
        }
        assert fields == {
            "dates": row.fields["dates"],
            "document_numbers": row.fields["document_numbers"],
            "issuing_body": [row.fields["issuing_body"]],
            "language": ["vi"],
            "nested": ['{"page": 1}'],
        }
        dc = env.sickle().GetRecord(identifier=rec.identifier, metadataPrefix="oai_dc").metadata
        assert dc["title"] == [row.title] and dc["type"] == [row.doc_type]
        assert dc["identifier"] == [rec.identifier, row.number_symbol]
        assert dc["relation"] == [row.procedure_code]
        assert dc.get("coverage") == ([row.scope] if row.scope else None)
        if row.permanent:
            assert dc["rights"] == ["hiệu lực vĩnh viễn"]
        elif row.valid_until:
            assert dc["rights"] == [f"hiệu lực đến {row.valid_until.isoformat()}"]


def test_markup_and_control_characters_are_escaped(make_settings: Callable[..., Any]) -> None:
    """Values come from OCR and from staff: ``<&>"`` stay text, illegal XML characters go."""
    nasty = 'A & B <Ban> "trích" ]]> \x00\x0c\x1b'
    with environment(make_settings, 3) as e:
        rec = e.recs[1]
        with session_scope(e.world.services.sessions) as session:
            row = session.get(RepositoryRecord, rec.id)
            assert row is not None
            row.title = row.issuer = row.scope = nasty
            row.fields = {'tên "lạ" <x>': [nasty, True, None, 3], "\x01": "dropped"}
        clean = 'A & B <Ban> "trích" ]]> '
        sohoa = e.sickle().GetRecord(identifier=rec.identifier, metadataPrefix="sohoa")
        body = sohoa.xml.find("o:metadata", NS)[0]
        SCHEMA.assertValid(body)
        assert body.find("s:title", NS).text == clean
        [field] = body.findall("s:fields/s:field", NS)
        assert field.get("name") == 'tên "lạ" <x>'
        assert [v.text for v in field] == [clean, "true", None, "3"]
        dc = e.sickle().GetRecord(identifier=rec.identifier, metadataPrefix="oai_dc").metadata
        assert dc["title"] == dc["publisher"] == dc["coverage"] == [clean]
        got = {r.header.identifier for r in e.sickle().ListRecords(metadataPrefix="sohoa")}
        assert got == published(e.recs).keys()


def test_no_personal_data_in_oai_dc(env: Env) -> None:
    """No owner ID (the digitization code starts with it, so identifiers use the record id), no
    OCR text, no other people's ID numbers, no digitizer; the full format still has no OCR text
    and no other people's IDs."""
    headers = env.world.headers("harvest")
    bodies = {}
    for prefix in ("oai_dc", "sohoa"):
        text, token = "", None
        while True:
            params = (
                {"verb": "ListRecords", "resumptionToken": token}
                if token
                else {"verb": "ListRecords", "metadataPrefix": prefix}
            )
            resp = env.client.get("/oai", params=params, headers=headers)
            text += resp.text
            token = token_of(etree.fromstring(resp.content)).text
            if not token:
                break
        bodies[prefix] = text
    for rec in env.recs:
        assert rec.third_party_id not in bodies["oai_dc"] + bodies["sohoa"]
        assert rec.owner_id not in bodies["oai_dc"]
        assert rec.code not in bodies["oai_dc"]
    for secret in ("OCR-TEXT", "Trần Văn Bình", "lan.nt", "id_numbers"):
        assert secret not in bodies["oai_dc"]
    assert "OCR-TEXT" not in bodies["sohoa"] and "id_numbers" not in bodies["sohoa"]
    published_owners = {r.owner_id for r in published(env.recs, lambda r: not r.deleted).values()}
    assert all(o in bodies["sohoa"] for o in published_owners)
    deleted = [r for r in published(env.recs).values() if r.deleted]
    assert all(r.owner_id not in bodies["sohoa"] for r in deleted)


# -- errors ---------------------------------------------------------------------------------------

LIST = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
ERRORS: list[tuple[Any, str]] = [
    ({}, "badVerb"),
    ({"verb": "Harvest"}, "badVerb"),
    ([("verb", "Identify"), ("verb", "Identify")], "badVerb"),
    ({"verb": "Identify", "set": "field"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "ListIdentifiers", "set": "field"}, "badArgument"),
    (
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("metadataPrefix", "sohoa")],
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": ""}, "badArgument"),
    ({**LIST, "identifier": "oai:sohoa:x"}, "badArgument"),
    ({**LIST, "from": "2026-11-21T00:00:00"}, "badArgument"),
    ({**LIST, "from": "2026-11-21T00:00:00.5Z"}, "badArgument"),
    ({**LIST, "from": "2026-02-30"}, "badArgument"),
    ({**LIST, "until": "21/11/2026"}, "badArgument"),
    ({**LIST, "from": "2026-11-21", "until": "2026-11-22T00:00:00Z"}, "badArgument"),
    ({**LIST, "from": "2026-11-22", "until": "2026-11-21"}, "badArgument"),
    ({**LIST, "set": "province:H99"}, "badArgument"),
    ({**LIST, "set": "field:"}, "badArgument"),
    ({**LIST, "set": "unit:a:b"}, "badArgument"),
    ({**LIST, "resumptionToken": "x"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": "{live}"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "garbage"}, "badResumptionToken"),
    ({"verb": "ListIdentifiers", "resumptionToken": "a.b"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    (
        {"verb": "GetRecord", "metadataPrefix": "marc21", "identifier": "{live}"},
        "cannotDisseminateFormat",
    ),
    (
        {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:sohoa:0"},
        "idDoesNotExist",
    ),
    ({"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "{code}"}, "idDoesNotExist"),
    (
        {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:sohoa:"},
        "idDoesNotExist",
    ),
    ({"verb": "ListMetadataFormats", "identifier": "{hidden}"}, "idDoesNotExist"),
    ({**LIST, "set": "field:G99-XX"}, "noRecordsMatch"),
    ({**LIST, "from": "2030-01-01"}, "noRecordsMatch"),
    (
        {"verb": "ListIdentifiers", "metadataPrefix": "sohoa", "until": "2026-11-19"},
        "noRecordsMatch",
    ),
]


@pytest.mark.parametrize(("params", "code"), ERRORS)
def test_error_conditions(env: Env, params: Any, code: str) -> None:
    live = next(r for r in env.recs if not r.hidden and not r.deleted)
    hidden = next(r for r in env.recs if r.hidden)
    values = {"{live}": live.identifier, "{hidden}": hidden.identifier, "{code}": live.code}
    items = params.items() if isinstance(params, dict) else params
    items = [(k, values.get(v, v)) for k, v in items]
    got, request = error(env.get(params=items))
    assert got == code
    if code in ("badVerb", "badArgument"):  # the spec: the base URL only, no attributes
        assert request == {}
    else:
        assert request == dict(items)


def test_errors_reach_sickle_as_exceptions(env: Env) -> None:
    with pytest.raises(NoRecordsMatch):
        list(env.sickle().ListRecords(metadataPrefix="oai_dc", set="unit:000.00.99.H99"))
    with pytest.raises(BadArgument):
        list(env.sickle().ListRecords(metadataPrefix="oai_dc", until="yesterday"))


def _forge(data: dict[str, Any], key: bytes) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{body}.{harvest._mac(key, body)}"


def test_tampered_and_forged_tokens_are_refused(env: Env) -> None:
    real = token_of(env.get(params={"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"})).text
    assert real
    body, mac = real.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert data["a"] > 0
    key = env.app.state.harvest.token_key
    assert harvest.decode_token(_forge(data, key), key, "ListIdentifiers").after == data["a"]
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    moved = base64.urlsafe_b64encode(json.dumps({**data, "a": 0}).encode()).decode().rstrip("=")
    bad = [
        f"{body}.{flipped}",  # the MAC altered
        f"{moved}.{mac}",  # the cursor moved, old MAC kept
        real[:-3],
        real + "x",
        f"{body}.{harvest._mac(b'another key', body)}",
        # MAC'd with the right key, but not a state this server issues:
        _forge({**data, "a": -1}, key),
        _forge({**data, "a": "5"}, key),
        _forge({**data, "a": True}, key),
        _forge({**data, "a": 2**63}, key),
        _forge({**data, "m": "marc21"}, key),
        _forge({**data, "s": "county:1"}, key),
        _forge({**data, "f": "2026-13-01"}, key),
        _forge({**data, "f": "2026-11-22", "u": "2026-11-21"}, key),
        _forge({**data, "v": 2}, key),
        _forge({**data, "x": 1}, key),
        _forge({k: v for k, v in data.items() if k != "c"}, key),
        _forge([1, 2], key),  # type: ignore[arg-type]
    ]
    for token in bad:
        doc = env.get(params={"verb": "ListIdentifiers", "resumptionToken": token})
        assert error(doc)[0] == "badResumptionToken", token
    # A token of one verb is no good for another.
    doc = env.get(params={"verb": "ListRecords", "resumptionToken": real})
    assert error(doc)[0] == "badResumptionToken"


# -- who may harvest ------------------------------------------------------------------------------


def test_who_may_harvest(env: Env) -> None:
    ident = {"verb": "Identify"}
    assert env.client.get("/oai", params=ident).status_code == 401
    anon = env.client.post("/oai", data=ident)
    assert anon.status_code == 401
    assert anon.headers["content-type"] == "application/problem+json"
    for staff in ("lan.nt", "tuphap"):
        resp = env.client.get("/oai", params=ident, headers=env.world.headers(staff))
        assert resp.status_code == 403 and resp.json()["code"] == "role_forbidden"
    for admin in (
        env.sickle("quantri"),
        Sickle(env.url, headers={"Authorization": f"Bearer {TOKEN}"}),
    ):
        got = {h.identifier for h in admin.ListIdentifiers(metadataPrefix="oai_dc")}
        assert got == published(env.recs).keys()


@pytest.mark.parametrize(
    ("auditor", "units"), [("kiemtra", {OWN, OTHER}), ("kiemtra.b", {FOREIGN})]
)
def test_an_auditor_harvests_its_province_only(env: Env, auditor: str, units: set[str]) -> None:
    got = {h.identifier for h in env.sickle(auditor).ListIdentifiers(metadataPrefix="sohoa")}
    assert got == published(env.recs, lambda r: r.unit_code in units).keys()
    sets = {s.setSpec for s in env.sickle(auditor).ListSets()}
    assert {f"unit:{u}" for u in units} <= sets and f"unit:{(set(UNITS) - units).pop()}" not in sets
    outside = next(r for r in env.recs if not r.hidden and r.unit_code not in units)
    with pytest.raises(IdDoesNotExist):
        env.sickle(auditor).GetRecord(identifier=outside.identifier, metadataPrefix="oai_dc")


# -- a harvest while the repository changes -------------------------------------------------------


def test_changes_during_a_harvest_come_back_at_the_end(make_settings: Callable[..., Any]) -> None:
    with environment(make_settings, 120) as e:
        doc = e.get(params={"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"})
        seen = [h.text for h in doc.findall(".//o:header/o:identifier", NS)]
        token = token_of(doc).text
        later = e.recs[-1].updated_at + timedelta(hours=1)
        changed = touch(e.world.services, e.recs[1], later, title="Giấy khai sinh (bản sao)")
        returned = next(r for r in e.recs if r.hidden)
        revealed = touch(e.world.services, returned, later, hidden=False)
        withdrawn = touch(e.world.services, e.recs[2], later, deleted=True)
        while token:
            doc = e.get(params={"verb": "ListIdentifiers", "resumptionToken": token})
            seen += [h.text for h in doc.findall(".//o:header/o:identifier", NS)]
            token = token_of(doc).text
        tail = seen[-3:]
        assert tail == [changed.identifier, revealed.identifier, withdrawn.identifier]
        assert set(seen) == published(e.recs).keys() | {revealed.identifier}
        header = e.sickle().GetRecord(identifier=withdrawn.identifier, metadataPrefix="oai_dc")
        assert header.deleted and header.header.datestamp == harvest.datestamp(later)


@pytest.mark.postgres
def test_sickle_harvest_and_feed_on_postgresql(
    make_settings: Callable[..., Any], pg_database: str
) -> None:
    with environment(make_settings, 160, database_url=pg_database) as e:
        expected = published(e.recs)
        for prefix in ("oai_dc", "sohoa"):
            records = list(e.sickle().ListRecords(metadataPrefix=prefix))
            assert {r.header.identifier: r.deleted for r in records} == {
                k: r.deleted for k, r in expected.items()
            }
            for r in records:
                if prefix == "sohoa" and not r.deleted:
                    SCHEMA.assertValid(r.xml.find("o:metadata", NS)[0])
        day = e.sickle().ListIdentifiers(
            metadataPrefix="oai_dc",
            set=f"unit:{OWN}",
            **{"from": "2026-11-21", "until": "2026-11-21"},
        )
        keep = lambda r: r.unit_code == OWN and r.updated_at.date() == date(2026, 11, 21)  # noqa: E731
        assert {h.identifier for h in day} == published(e.recs, keep).keys()
        feed = e.client.get(
            "/api/v1/feed", params={"limit": 1000}, headers=e.world.headers("harvest")
        )
        assert [i["identifier"] for i in feed.json()["items"]] == [
            r.identifier for r in sorted(expected.values(), key=lambda r: r.seq)
        ]
