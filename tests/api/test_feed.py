"""The JSON change feed at /api/v1/feed: every published change once, in order, behind a cursor
that never goes back; deleted records flagged and nothing more; the same visibility as OAI-PMH.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from dossiers.models import RepositoryRecord
from dossiers.records import harvest
from storage.db import session_scope
from tests.api.test_oai import Env, environment, published, touch
from tests.conftest import TOKEN
from tests.dossiers.world import FOREIGN, OTHER, OWN

N = 260
FULL = {
    "seq", "id", "identifier", "deleted", "updated_at", "code", "kind", "doc_type", "title",
    "number_symbol", "issue_date", "issuer", "valid_until", "permanent", "scope", "owner",
    "digitizer_id", "digitized_at", "dossier_code", "procedure_code", "field_code", "unit_code",
    "document_id", "fields",
}  # fmt: skip
GONE = {"seq", "id", "identifier", "deleted", "updated_at"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("feed")
    with environment(None, N, data_dir=data / "data", api_token=TOKEN, ocr_jobs=1) as e:
        yield e


def walk(env: Env, staff: str = "harvest", after: int = 0, limit: int = 50) -> list[dict]:
    """Every item after ``after``, page by page, checking the cursor as it goes."""
    items: list[dict] = []
    while True:
        resp = env.client.get(
            "/api/v1/feed",
            params={"after": after, "limit": limit},
            headers=env.world.headers(staff),
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["items"]) <= limit
        if body["items"]:
            assert body["next"] == body["items"][-1]["seq"] > after
        else:
            assert body["next"] == after and not body["more"]
        items += body["items"]
        after = body["next"]
        if not body["more"]:
            return items


def test_the_feed_gives_every_published_record_once_in_change_order(env: Env) -> None:
    items = walk(env)
    expected = sorted(published(env.recs).values(), key=lambda r: r.seq)
    assert [i["identifier"] for i in items] == [r.identifier for r in expected]
    assert [i["seq"] for i in items] == [r.seq for r in expected]
    for item, rec in zip(items, expected, strict=True):
        assert item["deleted"] == rec.deleted
        assert item["updated_at"] == harvest.datestamp(rec.updated_at)
        if rec.deleted:
            assert item.keys() == GONE
        else:
            assert item.keys() == FULL
            assert item["owner"] == {"id": rec.owner_id, "id_type": "CCCD"}
            assert item["code"] == rec.code and item["unit_code"] == rec.unit_code
    # The last cursor is a place to wait at: nothing new, same cursor.
    assert walk(env, after=items[-1]["seq"]) == []
    assert walk(env, limit=harvest.FEED_MAX) == items


def test_feed_items_carry_the_rows(env: Env) -> None:
    items = walk(env, limit=harvest.FEED_MAX)
    with session_scope(env.world.services.sessions) as session:
        for item in items:
            row = session.get(RepositoryRecord, item["id"])
            assert row is not None and row.seq == item["seq"]
            if item["deleted"]:
                continue
            assert item == {
                "seq": row.seq,
                "id": row.id,
                "identifier": harvest.ID_PREFIX + row.id,
                "deleted": False,
                "updated_at": harvest.datestamp(row.updated_at),
                "code": row.code,
                "kind": row.kind,
                "doc_type": row.doc_type,
                "title": row.title,
                "number_symbol": row.number_symbol,
                "issue_date": row.issue_date.isoformat() if row.issue_date else None,
                "issuer": row.issuer,
                "valid_until": row.valid_until.isoformat() if row.valid_until else None,
                "permanent": row.permanent,
                "scope": row.scope,
                "owner": {"id": row.owner_id, "id_type": row.owner_id_type},
                "digitizer_id": row.digitizer_id,
                "digitized_at": harvest.datestamp(row.digitized_at),
                "dossier_code": row.dossier_code,
                "procedure_code": row.procedure_code,
                "field_code": row.field_code,
                "unit_code": row.unit_code,
                "document_id": row.document_id,
                "fields": {k: v for k, v in row.fields.items() if k != "id_numbers"},
            }


def test_the_feed_carries_no_ocr_text_and_no_one_elses_id(env: Env) -> None:
    resp = env.client.get(
        "/api/v1/feed", params={"limit": 1000}, headers=env.world.headers("harvest")
    )
    text = resp.text
    assert "OCR-TEXT" not in text and "Trần Văn Bình" not in text and "id_numbers" not in text
    for rec in env.recs:
        assert rec.third_party_id not in text
        if rec.hidden or rec.deleted:  # a withdrawn record's code would name its owner
            assert rec.owner_id not in text and rec.code not in text


def test_the_feed_follows_changes(make_settings: Callable[..., Any]) -> None:
    with environment(make_settings, 60) as e:
        cursor = walk(e)[-1]["seq"]
        later = e.recs[-1].updated_at + timedelta(minutes=5)
        returned = next(r for r in e.recs if r.hidden)
        revealed = touch(e.world.services, returned, later, hidden=False)
        withdrawn = touch(e.world.services, e.recs[4], later, deleted=True)
        still_hidden = next(r for r in e.recs if r.hidden and r.id != returned.id)
        touch(e.world.services, still_hidden, later, title="Trích lục (sửa)")
        news = walk(e, after=cursor)
        assert [(i["identifier"], i["deleted"]) for i in news] == [
            (revealed.identifier, False),
            (withdrawn.identifier, True),
        ]
        assert [i["seq"] for i in news] == [revealed.seq, withdrawn.seq]
        assert news[0]["owner"]["id"] == revealed.owner_id


def test_who_reads_the_feed(env: Env) -> None:
    assert env.client.get("/api/v1/feed").status_code == 401
    for staff in ("lan.nt", "minh.tv", "tuphap"):
        resp = env.client.get("/api/v1/feed", headers=env.world.headers(staff))
        assert resp.status_code == 403
        assert resp.headers["content-type"] == "application/problem+json"
    everything = {i["identifier"] for i in walk(env, "quantri")}
    assert everything == published(env.recs).keys()
    for auditor, units in (("kiemtra", {OWN, OTHER}), ("kiemtra.b", {FOREIGN})):
        got = {i["identifier"] for i in walk(env, auditor)}
        assert got == published(env.recs, lambda r, u=units: r.unit_code in u).keys()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": harvest.FEED_MAX + 1},
        {"after": -1},
        {"after": 2**63},
        {"after": "x"},
    ],
)
def test_bad_cursors_and_limits(env: Env, params: dict[str, Any]) -> None:
    resp = env.client.get("/api/v1/feed", params=params, headers=env.world.headers("harvest"))
    assert resp.status_code == 422 and resp.json()["code"] == "invalid_request"


def test_a_cursor_past_the_end_waits_there(env: Env) -> None:
    far = max(r.seq for r in env.recs) + 1000
    resp = env.client.get(
        "/api/v1/feed", params={"after": far}, headers=env.world.headers("harvest")
    )
    assert resp.json() == {"items": [], "next": far, "more": False}
