"""Refused uploads cost a row, not a copy; their scan ids answer 410.

The probe's case: three tries of the same 20 MB of junk stored 63 MB and the scan id then
answered 404. Now nothing is stored by default, at most one copy under quarantine, and the id
answers 410 with the reason to those who may see the scan.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.app import create_app
from ingest.errors import UnsupportedMediaType
from ingest.pipeline import sweep
from ingest.refusals import expire_quarantine
from ingest.upload import accept_upload
from ingest.validate import Spooled
from storage.db import session_scope
from storage.models import Refusal, Scan, utcnow
from tests.conftest import TOKEN
from wiring.factory import Services, build


@pytest.fixture(params=["sqlite", "postgresql"])
def make_services(request: pytest.FixtureRequest, make_settings) -> Iterator:  # type: ignore[no-untyped-def]
    built: list[Services] = []

    def make(**overrides: object) -> Services:
        if request.param == "postgresql":
            overrides.setdefault("database_url", request.getfixturevalue("pg_database"))
        svc = build(make_settings(**overrides))
        built.append(svc)
        return svc

    yield make
    for svc in built:
        svc.engine.dispose()


def _junk(tmp_path: Path, size: int, seed: bytes = b"junk") -> Spooled:
    path = tmp_path / f"junk-{seed.decode()}-{size}"
    block = hashlib.sha256(seed).digest() * 2048  # 64 KB that sniff() cannot place
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)
    return Spooled(path, size, hashlib.sha256(path.read_bytes()).hexdigest())


def _refuse(services: Services, spooled: Spooled, **kw: object) -> str:
    with pytest.raises(UnsupportedMediaType) as info:
        accept_upload(services, spooled, filename="../../junk.pdf", **kw)  # type: ignore[arg-type]
    assert info.value.scan_id is not None
    return info.value.scan_id


def _stored(services: Services) -> dict[str, int]:
    return {info.key: info.size for info in services.store.list("")}


def _refusals(services: Services) -> list[Refusal]:
    with session_scope(services.sessions) as s:
        rows = list(s.scalars(select(Refusal).order_by(Refusal.created_at)))
        s.expunge_all()
        return rows


def test_three_tries_of_the_same_junk_store_nothing_by_default(
    make_services, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    services = make_services()
    junk = _junk(tmp_path, 20 * 2**20)
    ids = [_refuse(services, junk, clerk_id="lan.nt", unit_code="000.00.16.H99") for _ in range(3)]
    assert len(set(ids)) == 3
    assert _stored(services) == {}  # before: 3 × 20 MB under originals/
    rows = _refusals(services)
    assert [r.id for r in rows] == ids
    for row in rows:
        assert row.sha256 == junk.sha256 and row.size == junk.size
        assert row.reason_code == "unsupported_media_type" and "JPEG" in row.reason_message
        assert row.clerk_id == "lan.nt" and row.unit_code == "000.00.16.H99"
        assert row.quarantine_key is None and "/" not in row.filename
    with session_scope(services.sessions) as s:  # a refusal is not a scan to process or retry
        assert s.scalar(select(func.count()).select_from(Scan)) == 0


def test_quarantine_keeps_the_same_bytes_once_within_the_cap(make_services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services = make_services(quarantine_refused=True, quarantine_max_bytes=21 * 2**20)
    junk = _junk(tmp_path, 20 * 2**20)
    ids = [_refuse(services, junk) for _ in range(3)]
    stored = _stored(services)
    assert stored == {f"quarantine/{ids[0]}": junk.size}  # before: 63 MB for three tries
    with services.store.open(f"quarantine/{ids[0]}") as f:
        assert hashlib.sha256(f.read()).hexdigest() == junk.sha256
    assert {r.quarantine_key for r in _refusals(services)} == {f"quarantine/{ids[0]}"}

    other = _junk(tmp_path, 1000, b"other")
    other_id = _refuse(services, other)
    assert _stored(services)[f"quarantine/{other_id}"] == 1000

    big = _junk(tmp_path, 22 * 2**20, b"big")  # over the cap: recorded, not kept
    big_id = _refuse(services, big)
    assert f"quarantine/{big_id}" not in _stored(services)
    assert next(r for r in _refusals(services) if r.id == big_id).quarantine_key is None


def test_quarantine_expires_by_the_sweeper_and_the_record_stays(
    make_services, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    services = make_services(quarantine_refused=True, quarantine_days=7)
    junk = _junk(tmp_path, 5000)
    first = _refuse(services, junk)
    key = f"quarantine/{first}"
    assert expire_quarantine(services) == 0 and services.store.exists(key)

    # Refused again three days later: the bytes stay until seven days after the last refusal.
    with session_scope(services.sessions) as s:
        s.execute(
            update(Refusal).values(quarantine_until=utcnow() - timedelta(days=3)),
        )
    second = _refuse(services, junk)
    assert expire_quarantine(services) == 0 and services.store.exists(key)

    later = utcnow() + timedelta(days=8)
    assert expire_quarantine(services, now=later) == 1
    assert not services.store.exists(key)
    rows = _refusals(services)
    assert [r.id for r in rows] == [first, second]
    assert all(r.quarantine_key is None and r.quarantine_until is None for r in rows)

    # The periodic sweeper does the same without being asked.
    third = _refuse(services, junk)
    assert services.store.exists(f"quarantine/{third}")
    with session_scope(services.sessions) as s:
        s.execute(
            update(Refusal).values(quarantine_until=datetime(2020, 1, 1, tzinfo=utcnow().tzinfo))
        )
    sweep(services)
    assert _stored(services) == {}


def test_a_refused_scan_id_answers_410_within_its_scope(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.dossiers.world import VN, make_world

    services = build(make_settings())
    try:
        world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
        client = TestClient(create_app(services))
        own = world.headers("lan.nt")
        junk = os.urandom(1) + b"not a scan at all" * 100
        refused = client.post("/api/v1/scans", headers=own, files={"file": ("x.pdf", junk)})
        assert refused.status_code == 415, refused.text
        scan_id = refused.json()["scan_id"]

        gone = client.get(f"/api/v1/scans/{scan_id}", headers=own)
        assert gone.status_code == 410, gone.text
        assert gone.headers["content-type"].startswith("application/problem+json")
        body = gone.json()
        assert body["code"] == "scan_refused" and body["status"] == 410
        assert body["reason_code"] == "unsupported_media_type"
        assert body["reason_message"] == refused.json()["detail"]
        assert body["scan_id"] == scan_id and body["size"] == len(junk)
        assert body["sha256"] == hashlib.sha256(junk).hexdigest() and not body["quarantined"]
        assert "quarantine/" not in gone.text and "originals/" not in gone.text

        retried = client.post(f"/api/v1/scans/{scan_id}/retry", headers=own)
        assert (
            retried.status_code == 410 and retried.json()["reason_code"] == "unsupported_media_type"
        )

        same_unit = client.get(f"/api/v1/scans/{scan_id}", headers=world.headers("cong.ch"))
        assert same_unit.status_code == 410
        admin = client.get(f"/api/v1/scans/{scan_id}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert admin.status_code == 410
        for outsider in ("minh.tv", "vpdk", "harvest"):  # another unit's counter, an agency
            resp = client.get(f"/api/v1/scans/{scan_id}", headers=world.headers(outsider))
            assert resp.status_code in (403, 404), (outsider, resp.text)
            assert "unsupported_media_type" not in resp.text
        other = client.get(f"/api/v1/scans/{scan_id}", headers=world.headers("minh.tv"))
        assert other.status_code == 404 and other.json()["code"] == "scan_not_found"
        assert client.get("/api/v1/scans/" + "0" * 32, headers=own).status_code == 404
        client.close()
    finally:
        services.engine.dispose()
